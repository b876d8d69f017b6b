output "provider_name" {
  description = "Full provider name: the workflows' vars.GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "emails" {
  description = "Service account e-mail per id (the workflows' vars.GCP_*_SERVICE_ACCOUNT)."
  value       = { for id, sa in google_service_account.this : id => sa.email }
}
