output "cluster_name" {
  description = "GKE cluster (the workflows' vars.GKE_CLUSTER)."
  value       = module.gke.name
}

output "lake_url" {
  description = "The lake (PipelineSpec lake)."
  value       = module.lake.url
}

output "workload_service_accounts" {
  description = "Google service accounts for the chart's gcpServiceAccount values."
  value       = module.workload_identity.emails
}

output "github_workload_identity_provider" {
  description = "The workflows' vars.GCP_WORKLOAD_IDENTITY_PROVIDER."
  value       = module.github_wif.provider_name
}

output "github_service_accounts" {
  description = "Service accounts the workflows impersonate."
  value       = module.github_wif.emails
}

output "image_registry" {
  description = "The chart's image.registry."
  value       = module.artifact_registry.image_registry
}
