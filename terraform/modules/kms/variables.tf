variable "project_id" {
  description = "Project holding the keys."
  type        = string
}

variable "location" {
  description = "Location of the key ring; the same region as the resources it encrypts."
  type        = string
}

variable "name" {
  description = "Name of the key ring."
  type        = string
}

variable "labels" {
  description = "Labels put on every key."
  type        = map(string)
  default     = {}
}
