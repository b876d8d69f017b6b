# Workload Identity Federation for GitHub Actions: jobs of one repository that run in one GitHub
# environment (whose protection rules decide who and which refs may use it) exchange their OIDC token
# for short-lived Google credentials. No service account key exists anywhere.

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions"
  description               = "Workflows of ${var.repository}."
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125: the condition pins assertion.sub to repo:<owner/name>:environment:<env>, but checkov reads the module's variables unresolved (it passes with the values written out; tests/deploy/test_terraform.py asserts the condition).
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"        = "assertion.sub"
    "attribute.repository"  = "assertion.repository"
    "attribute.ref"         = "assertion.ref"
    "attribute.environment" = "assertion.environment"
  }
  # Only jobs of this repository running in this GitHub environment: every other token is refused.
  attribute_condition = "assertion.sub == 'repo:${var.repository}:environment:${var.environment}'"

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "this" {
  for_each     = var.service_accounts
  project      = var.project_id
  account_id   = each.key
  display_name = each.value.description
}

# The pool's condition already admits only the one repository and environment.
resource "google_service_account_iam_member" "federation" {
  for_each           = var.service_accounts
  service_account_id = google_service_account.this[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.environment/${var.environment}"
}

resource "google_project_iam_member" "this" {
  for_each = merge([
    for name, sa in var.service_accounts : { for role in sa.project_roles : "${name} ${role}" => { name = name, role = role } }
  ]...)
  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.this[each.value.name].email}"
}
