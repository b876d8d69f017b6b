# The dev environment. Its Helm release is owned by GitHub Actions (deploy.yml, job deploy-dev),
# which authenticates through the federation below as grocery-deploy, only from GitHub environment "dev".

locals {
  env    = "dev"
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
  nodes_cidr    = "10.10.0.0/20"
  pods_cidr     = "10.11.0.0/16"
  services_cidr = "10.12.0.0/20"
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
  machine_type               = "e2-standard-4"
  min_nodes                  = 1
  max_nodes                  = 2
  deletion_protection        = false
  labels                     = local.labels
}

module "lake" {
  source     = "../../modules/lake"
  project_id = var.project_id
  name       = "grocery-${local.env}-lake"
  location   = var.region
  kms_key_id = module.kms.key_ids["storage"]
  labels     = local.labels
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
    # The operator talks to Kubernetes and Airflow only: no Google roles.
    operator = { namespace = "grocery", service_account = "grocery-pipeline-operator" }
    # Stage pods: read and write the lake, load and query the layer datasets.
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
    # Airflow's workers launch pods through Kubernetes: no Google roles.
    airflow = { namespace = "airflow", service_account = "airflow-worker" }
  }
}

# What `helm upgrade` of the chart needs beyond roles/container.developer: RBAC objects (the
# operator's ClusterRole) and the CRD.
resource "google_project_iam_custom_role" "helm_deployer" {
  project     = var.project_id
  role_id     = "groceryHelmDeployer"
  title       = "grocery Helm deployer"
  description = "Create and bind the RBAC objects of the grocery-pipeline chart."
  permissions = [
    "container.clusterRoles.bind",
    "container.clusterRoles.create",
    "container.clusterRoles.delete",
    "container.clusterRoles.escalate",
    "container.clusterRoles.get",
    "container.clusterRoles.list",
    "container.clusterRoles.update",
    "container.clusterRoleBindings.create",
    "container.clusterRoleBindings.delete",
    "container.clusterRoleBindings.get",
    "container.clusterRoleBindings.list",
    "container.clusterRoleBindings.update",
    "container.roles.bind",
    "container.roles.create",
    "container.roles.delete",
    "container.roles.escalate",
    "container.roles.get",
    "container.roles.list",
    "container.roles.update",
    "container.roleBindings.create",
    "container.roleBindings.delete",
    "container.roleBindings.get",
    "container.roleBindings.list",
    "container.roleBindings.update",
  ]
}

module "github_wif" {
  source      = "../../modules/github_wif"
  project_id  = var.project_id
  repository  = var.github_repository
  environment = "dev"
  service_accounts = {
    grocery-deploy = {
      description = "GitHub Actions deploy-dev: helm upgrade of the dev release"
      project_roles = [
        "roles/container.developer",
        google_project_iam_custom_role.helm_deployer.name,
      ]
    }
  }
}
