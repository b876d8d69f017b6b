variable "project_id" {
  description = "Project of the cluster."
  type        = string
}

variable "region" {
  description = "Region of the (regional) cluster."
  type        = string
}

variable "name" {
  description = "Cluster name."
  type        = string
}

variable "network_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnetwork_id" {
  description = "Subnet of the nodes."
  type        = string
}

variable "pods_range_name" {
  description = "Secondary range of the pods."
  type        = string
}

variable "services_range_name" {
  description = "Secondary range of the services."
  type        = string
}

variable "master_ipv4_cidr_block" {
  description = "Private /28 range of the control plane (also the chart's networkPolicy.apiServerCidrs)."
  type        = string
}

variable "master_authorized_networks" {
  description = "Private ranges allowed to the control plane's private endpoint (never the whole internet)."
  type = list(object({
    cidr_block   = string
    display_name = string
  }))
  default = []

  validation {
    condition     = alltrue([for n in var.master_authorized_networks : !endswith(n.cidr_block, "/0")])
    error_message = "The control plane is never opened to the whole internet."
  }
}

variable "release_channel" {
  description = "GKE release channel."
  type        = string
  default     = "REGULAR"
}

variable "machine_type" {
  description = "Machine type of the nodes."
  type        = string
  default     = "e2-standard-4"
}

variable "min_nodes" {
  description = "Minimum nodes per zone."
  type        = number
  default     = 1
}

variable "max_nodes" {
  description = "Maximum nodes per zone."
  type        = number
  default     = 3
}

variable "secrets_kms_key_id" {
  description = "KMS key that encrypts Kubernetes Secrets in etcd."
  type        = string
}

variable "disks_kms_key_id" {
  description = "KMS key that encrypts the nodes' boot disks."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to destroy the cluster."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels of the cluster and its nodes."
  type        = map(string)
  default     = {}
}
