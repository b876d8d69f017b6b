variable "project_id" {
  description = "Project of the network."
  type        = string
}

variable "region" {
  description = "Region of the subnet."
  type        = string
}

variable "name" {
  description = "Name of the VPC (and prefix of its parts)."
  type        = string
}

variable "nodes_cidr" {
  description = "Primary range of the subnet (nodes)."
  type        = string
}

variable "pods_cidr" {
  description = "Secondary range for pods."
  type        = string
}

variable "services_cidr" {
  description = "Secondary range for services."
  type        = string
}
