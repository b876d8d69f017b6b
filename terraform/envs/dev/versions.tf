terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14, < 8.0"
    }
  }

  # Remote state in GCS (versioned bucket, created once by hand: see terraform/README.md).
  backend "gcs" {
    bucket = "grocery-dev-tfstate"
    prefix = "terraform/dev"
  }
}

# Credentials come from the environment (gcloud auth application-default login, or Workload Identity
# Federation in CI); no credentials file is ever named here.
provider "google" {
  project = var.project_id
  region  = var.region
}
