output "image_registry" {
  description = "Registry path of the images (the chart's image.registry)."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${var.repositories[0]}"
}
