# Artifact Registry: the project's images and the Helm chart (an OCI artifact), with immutable tags,
# encrypted with a customer-managed key, and a cleanup policy for untagged images.

resource "google_artifact_registry_repository" "this" {
  for_each      = toset(var.repositories)
  project       = var.project_id
  location      = var.location
  repository_id = each.value
  description   = "grocery-pipeline ${each.value}"
  format        = "DOCKER"
  kms_key_name  = var.kms_key_id
  labels        = var.labels

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "readers" {
  for_each = {
    for pair in setproduct(var.repositories, var.readers) : "${pair[0]} ${pair[1]}" => { repo = pair[0], member = pair[1] }
  }
  project    = var.project_id
  location   = var.location
  repository = google_artifact_registry_repository.this[each.value.repo].repository_id
  role       = "roles/artifactregistry.reader"
  member     = each.value.member
}

resource "google_artifact_registry_repository_iam_member" "writers" {
  for_each = {
    for pair in setproduct(var.repositories, var.writers) : "${pair[0]} ${pair[1]}" => { repo = pair[0], member = pair[1] }
  }
  project    = var.project_id
  location   = var.location
  repository = google_artifact_registry_repository.this[each.value.repo].repository_id
  role       = "roles/artifactregistry.writer"
  member     = each.value.member
}
