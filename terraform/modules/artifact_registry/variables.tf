variable "project_id" {
  description = "Project of the repositories."
  type        = string
}

variable "location" {
  description = "Region of the repositories."
  type        = string
}

variable "repositories" {
  description = "Repositories: images (grocery) and the chart (charts)."
  type        = list(string)
  default     = ["grocery", "charts"]
}

variable "kms_key_id" {
  description = "KMS key that encrypts the artifacts."
  type        = string
}

variable "readers" {
  description = "Members that pull (the GKE nodes of every environment)."
  type        = list(string)
  default     = []
}

variable "writers" {
  description = "Members that push (the release workflow's service account)."
  type        = list(string)
  default     = []
}

variable "labels" {
  description = "Labels of the repositories."
  type        = map(string)
  default     = {}
}
