# Customer-managed encryption keys: one key ring per environment, one key per service, rotated every
# 90 days. Each Google service agent may use only its own key.

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

data "google_bigquery_default_service_account" "bq" {
  project = var.project_id
}

resource "google_kms_key_ring" "this" {
  name     = var.name
  project  = var.project_id
  location = var.location
}

locals {
  number = data.google_project.this.number
  # The service agent that encrypts with each key.
  agents = {
    gke      = "serviceAccount:service-${local.number}@container-engine-robot.iam.gserviceaccount.com"
    disks    = "serviceAccount:service-${local.number}@compute-system.iam.gserviceaccount.com"
    storage  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    bigquery = "serviceAccount:${data.google_bigquery_default_service_account.bq.email}"
    registry = "serviceAccount:service-${local.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
  }
}

resource "google_kms_crypto_key" "this" {
  for_each        = local.agents
  name            = each.key
  key_ring        = google_kms_key_ring.this.id
  rotation_period = "7776000s"
  purpose         = "ENCRYPT_DECRYPT"
  labels          = var.labels

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "agent" {
  for_each      = local.agents
  crypto_key_id = google_kms_crypto_key.this[each.key].id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
