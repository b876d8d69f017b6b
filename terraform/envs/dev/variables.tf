variable "project_id" {
  description = "The dev project."
  type        = string
}

variable "region" {
  description = "Region of everything."
  type        = string
  default     = "europe-west1"
}

variable "bigquery_location" {
  description = "BigQuery location of the datasets."
  type        = string
  default     = "EU"
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose deploy workflow upgrades dev."
  type        = string
}

variable "master_ipv4_cidr_block" {
  description = "Private /28 of the control plane."
  type        = string
  default     = "172.16.0.0/28"
}

variable "master_authorized_networks" {
  description = "Private ranges allowed to the control plane's private endpoint."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = [{ cidr_block = "10.10.0.0/20", display_name = "nodes subnet" }]
}
