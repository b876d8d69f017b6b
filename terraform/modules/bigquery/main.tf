# The warehouse: one BigQuery dataset per layer, encrypted with a customer-managed key. Access is
# granted per dataset (see the workload_identity module), never to the public.

resource "google_bigquery_dataset" "layer" {
  for_each                   = toset(var.layers)
  project                    = var.project_id
  dataset_id                 = "${var.dataset_prefix}${each.value}"
  friendly_name              = "grocery ${each.value}"
  description                = "Grocery pipeline, ${each.value} layer."
  location                   = var.location
  delete_contents_on_destroy = false
  labels                     = merge(var.labels, { layer = each.value })

  default_encryption_configuration {
    kms_key_name = var.kms_key_id
  }
}
