output "name" {
  description = "Cluster name."
  value       = google_container_cluster.this.name
}

output "workload_pool" {
  description = "Workload Identity pool of the cluster (PROJECT.svc.id.goog)."
  value       = google_container_cluster.this.workload_identity_config[0].workload_pool
}

output "node_service_account" {
  description = "E-mail of the nodes' service account (reads images from Artifact Registry)."
  value       = google_service_account.nodes.email
}
