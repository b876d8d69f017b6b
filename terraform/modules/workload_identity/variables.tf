variable "project_id" {
  description = "Project of the service accounts and grants."
  type        = string
}

variable "workload_pool" {
  description = "The cluster's Workload Identity pool (PROJECT.svc.id.goog)."
  type        = string
}

variable "prefix" {
  description = "Prefix of the service account ids."
  type        = string
  default     = "grocery-"
}

variable "lake_bucket" {
  description = "Name of the lake bucket."
  type        = string
}

variable "identities" {
  description = "Google identity per Kubernetes ServiceAccount, with its grants."
  type = map(object({
    namespace       = string
    service_account = string
    bucket_roles    = optional(list(string), [])
    datasets        = optional(list(string), [])
    dataset_role    = optional(string)
    project_roles   = optional(list(string), [])
  }))

  validation {
    condition = alltrue(flatten([
      for id in values(var.identities) : [
        for role in concat(id.bucket_roles, id.project_roles) : !contains(["roles/owner", "roles/editor"], role)
      ]
    ]))
    error_message = "Basic roles (owner, editor) are never granted to workloads."
  }
}
