output "dataset_ids" {
  description = "Dataset id per layer."
  value       = { for layer, ds in google_bigquery_dataset.layer : layer => ds.dataset_id }
}
