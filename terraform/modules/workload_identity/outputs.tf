output "emails" {
  description = "Google service account e-mail per identity (the chart's gcpServiceAccount values)."
  value       = { for name, sa in google_service_account.this : name => sa.email }
}
