variable "project_id" {
  description = "Project of the bucket."
  type        = string
}

variable "name" {
  description = "Bucket name (globally unique)."
  type        = string
}

variable "location" {
  description = "Bucket location (region or multi-region)."
  type        = string
}

variable "kms_key_id" {
  description = "KMS key that encrypts the objects."
  type        = string
}

variable "raw_nearline_days" {
  description = "Days after which raw/ files move to Nearline."
  type        = number
  default     = 30
}

variable "raw_coldline_days" {
  description = "Days after which raw/ files move to Coldline."
  type        = number
  default     = 365
}

variable "noncurrent_days" {
  description = "Days a replaced (noncurrent) object version is kept."
  type        = number
  default     = 30
}

variable "access_log_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 90
}

variable "labels" {
  description = "Labels of the buckets."
  type        = map(string)
  default     = {}
}
