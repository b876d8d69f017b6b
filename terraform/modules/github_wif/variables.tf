variable "project_id" {
  description = "Project of the pool and the service accounts."
  type        = string
}

variable "pool_id" {
  description = "Id of the workload identity pool."
  type        = string
  default     = "github-actions"
}

variable "repository" {
  description = "The GitHub repository (owner/name) whose workflows may authenticate."
  type        = string
}

variable "environment" {
  description = "The GitHub environment whose jobs may authenticate (its protection rules guard it)."
  type        = string
}

variable "service_accounts" {
  description = "Service accounts for workflows: id => {description, project_roles}."
  type = map(object({
    description   = string
    project_roles = optional(list(string), [])
  }))

  validation {
    condition = alltrue(flatten([
      for sa in values(var.service_accounts) : [for role in sa.project_roles : !contains(["roles/owner", "roles/editor"], role)]
    ]))
    error_message = "Basic roles (owner, editor) are never granted to workflows."
  }
}
