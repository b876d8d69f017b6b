# One Google service account per Kubernetes workload, each with only the access it needs, and the
# Workload Identity binding that lets exactly one Kubernetes ServiceAccount act as it.

locals {
  bucket_grants = merge([
    for name, id in var.identities : {
      for role in id.bucket_roles : "${name} ${role}" => { name = name, role = role }
    }
  ]...)
  dataset_grants = merge([
    for name, id in var.identities : {
      for pair in setproduct(id.datasets, [id.dataset_role]) : "${name} ${pair[0]}" => { name = name, dataset = pair[0], role = pair[1] }
    } if id.dataset_role != null
  ]...)
  project_grants = merge([
    for name, id in var.identities : {
      for role in id.project_roles : "${name} ${role}" => { name = name, role = role }
    }
  ]...)
}

resource "google_service_account" "this" {
  for_each     = var.identities
  project      = var.project_id
  account_id   = "${var.prefix}${each.key}"
  display_name = "grocery ${each.key} (Kubernetes ${each.value.namespace}/${each.value.service_account})"
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each           = var.identities
  service_account_id = google_service_account.this[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.workload_pool}[${each.value.namespace}/${each.value.service_account}]"
}

resource "google_storage_bucket_iam_member" "lake" {
  for_each = local.bucket_grants
  bucket   = var.lake_bucket
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.this[each.value.name].email}"
}

resource "google_bigquery_dataset_iam_member" "datasets" {
  for_each   = local.dataset_grants
  project    = var.project_id
  dataset_id = each.value.dataset
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.this[each.value.name].email}"
}

resource "google_project_iam_member" "project" {
  for_each = local.project_grants
  project  = var.project_id
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.this[each.value.name].email}"
}
