output "name" {
  description = "Name of the lake bucket."
  value       = google_storage_bucket.lake.name
}

output "url" {
  description = "The lake URI for PipelineSpec.lake (gs://bucket)."
  value       = google_storage_bucket.lake.url
}
