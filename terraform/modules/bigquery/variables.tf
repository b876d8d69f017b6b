variable "project_id" {
  description = "Project of the datasets (PipelineSpec warehouse.project)."
  type        = string
}

variable "location" {
  description = "BigQuery location (PipelineSpec warehouse.location)."
  type        = string
}

variable "layers" {
  description = "One dataset per layer."
  type        = list(string)
  default     = ["raw", "quarantine", "staging", "core", "marts", "analytics"]
}

variable "dataset_prefix" {
  description = "Prefix of the dataset names (PipelineSpec warehouse.datasetPrefix)."
  type        = string
  default     = ""
}

variable "kms_key_id" {
  description = "KMS key that encrypts the tables."
  type        = string
}

variable "labels" {
  description = "Labels of the datasets."
  type        = map(string)
  default     = {}
}
