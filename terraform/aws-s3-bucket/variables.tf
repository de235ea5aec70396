variable "region" {
  description = "AWS region of the bucket. Null takes the region from AWS_REGION or the AWS profile."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "Name of the S3 bucket to create (globally unique)."
  type        = string
}

variable "prefix" {
  description = "Key prefix siesta stores under (the PREFIX of s3://BUCKET/PREFIX); the policy grants nothing outside it."
  type        = string
  default     = "siesta"

  validation {
    condition     = can(regex("^[^/]+(/[^/]+)*$", var.prefix))
    error_message = "prefix must be non-empty, without a leading or trailing slash."
  }
}

variable "versioning" {
  description = "Keep old versions of overwritten and deleted objects. siesta does not need them; when on, noncurrent versions expire after noncurrent_version_days."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "With versioning, days after which an overwritten or deleted object's old version is removed."
  type        = number
  default     = 7
}

variable "policy_name" {
  description = "Name of the IAM policy. Null derives it from the bucket name."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete a bucket that still holds objects (and so the log)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
