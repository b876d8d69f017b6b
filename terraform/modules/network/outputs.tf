output "network_id" {
  description = "The VPC."
  value       = google_compute_network.this.id
}

output "subnetwork_id" {
  description = "The nodes' subnet."
  value       = google_compute_subnetwork.nodes.id
}

output "pods_range_name" {
  description = "Secondary range name for pods."
  value       = "pods"
}

output "services_range_name" {
  description = "Secondary range name for services."
  value       = "services"
}
