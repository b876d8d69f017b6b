output "key_ids" {
  description = "Key id per use: gke, disks, storage, bigquery, registry."
  value       = { for name, key in google_kms_crypto_key.this : name => key.id }
  # The service agents must be able to use a key before anything is encrypted with it.
  depends_on = [google_kms_crypto_key_iam_member.agent]
}
