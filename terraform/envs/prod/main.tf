# The prod environment. Its Helm release is owned by Argo CD (deploy/argocd/prod/application.yaml):
# no GitHub workflow gets access to this cluster. GitHub Actions' release workflow only pushes the
# images and the chart to the Artifact Registry here, as grocery-release.

locals {
  env    = "prod"
  labels = { app = "grocery-pipeline", env = local.env, managed-by = "terraform" }
}

module "kms" {
  source     = "../../modules/kms"
  project_id = var.project_id
  location   = var.region
  name       = "grocery-${local.env}"
  labels     = local.labels
}

module "network" {
  source        = "../../modules/network"
  project_id    = var.project_id
  region        = var.region
  name          = "grocery-${local.env}"
  nodes_cidr    = "10.20.0.0/20"
  pods_cidr     = "10.21.0.0/16"
  services_cidr = "10.22.0.0/20"
}

module "gke" {
  source                     = "../../modules/gke"
  project_id                 = var.project_id
  region                     = var.region
  name                       = "grocery-${local.env}"
  network_id                 = module.network.network_id
  subnetwork_id              = module.network.subnetwork_id
  pods_range_name            = module.network.pods_range_name
  services_range_name        = module.network.services_range_name
  master_ipv4_cidr_block     = var.master_ipv4_cidr_block
  master_authorized_networks = var.master_authorized_networks
  secrets_kms_key_id         = module.kms.key_ids["gke"]
  disks_kms_key_id           = module.kms.key_ids["disks"]
  release_channel            = "STABLE"
  machine_type               = "e2-standard-8"
  min_nodes                  = 1
  max_nodes                  = 5
  deletion_protection        = true
  labels                     = local.labels
}

module "lake" {
  source          = "../../modules/lake"
  project_id      = var.project_id
  name            = "grocery-${local.env}-lake"
  location        = var.region
  kms_key_id      = module.kms.key_ids["storage"]
  noncurrent_days = 90
  labels          = local.labels
}

module "bigquery" {
  source     = "../../modules/bigquery"
  project_id = var.project_id
  location   = var.bigquery_location
  kms_key_id = module.kms.key_ids["bigquery"]
  labels     = local.labels
}

module "workload_identity" {
  source        = "../../modules/workload_identity"
  project_id    = var.project_id
  workload_pool = module.gke.workload_pool
  lake_bucket   = module.lake.name
  identities = {
    operator = { namespace = "grocery", service_account = "grocery-pipeline-operator" }
    pipeline = {
      namespace       = "grocery"
      service_account = "grocery-pipeline"
      bucket_roles    = ["roles/storage.objectUser"]
      datasets        = values(module.bigquery.dataset_ids)
      dataset_role    = "roles/bigquery.dataEditor"
      project_roles   = ["roles/bigquery.jobUser"]
    }
    # Spark drivers run the segment and recommend stages: they read the fact's state and export it to
    # the lake (a query and an EXPORT DATA job over staging.int_sales_export, a view of core.fct_sales
    # and staging.int_multi_line_transactions), then read and write the lake.
    spark = {
      namespace       = "grocery"
      service_account = "grocery-spark-driver"
      bucket_roles    = ["roles/storage.objectUser"]
      datasets        = [module.bigquery.dataset_ids["staging"], module.bigquery.dataset_ids["core"]]
      dataset_role    = "roles/bigquery.dataViewer"
      project_roles   = ["roles/bigquery.jobUser"]
    }
    airflow = { namespace = "airflow", service_account = "airflow-worker" }
  }
}

module "github_wif" {
  source      = "../../modules/github_wif"
  project_id  = var.project_id
  repository  = var.github_repository
  environment = "release"
  service_accounts = {
    # Pushes images and the chart; its only grant is writer on the repositories below.
    grocery-release = { description = "GitHub Actions release: push images and the chart" }
  }
}

module "artifact_registry" {
  source     = "../../modules/artifact_registry"
  project_id = var.project_id
  location   = var.region
  kms_key_id = module.kms.key_ids["registry"]
  readers    = concat(["serviceAccount:${module.gke.node_service_account}"], var.registry_readers)
  writers    = ["serviceAccount:${module.github_wif.emails["grocery-release"]}"]
  labels     = local.labels
}
