variable "project_id" {
  description = "The Google Cloud project to deploy Portcullis into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the source bucket and the Cloud Scheduler jobs, e.g. europe-west1."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, service accounts, scheduler jobs, secret). Lower-case letters, digits and hyphens; at most 10 characters so that service account ids stay within 30."
  type        = string
  default     = "portcullis"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,9}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, use only a-z, 0-9 and '-', and be at most 10 characters."
  }
}

variable "firestore_database" {
  description = "Firestore database id. \"(default)\" is the project's default database; any other id creates a named database (set PORTCULLIS_FIRESTORE_DATABASE to it, which this configuration does)."
  type        = string
  default     = "(default)"
}

variable "firestore_location" {
  description = "Location of the Firestore database: a multi-region such as nam5 or eur3, or a region such as europe-west1. It cannot be changed after creation."
  type        = string
  default     = "nam5"
}

variable "firestore_prefix" {
  description = "Optional document path (e.g. \"envs/prod\") under which Portcullis keeps its collections, so that several installations can share one database. Empty for the database root."
  type        = string
  default     = ""
}

variable "deletion_protection" {
  description = "Protect the Firestore database from deletion (recommended). When false, `terraform destroy` deletes it with every admission record."
  type        = bool
  default     = true
}

variable "point_in_time_recovery" {
  description = "Enable Firestore point-in-time recovery (7 days of versions, billed as storage)."
  type        = bool
  default     = false
}

variable "source_dir" {
  description = "Directory holding the esbuild bundle of functions/gcp/index.ts and its package.json (see docs/deploy-gcp.md). Defaults to iac/gcp/function-source."
  type        = string
  default     = null
}

variable "admin_key" {
  description = "Bootstrap SecurityAdmin API key stored in Secret Manager (16-256 characters). Leave null to have one generated (read it with `terraform output -raw admin_key`). Either way it is kept in the Terraform state, so protect the state."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.admin_key == null || (length(coalesce(var.admin_key, "x")) >= 16 && length(coalesce(var.admin_key, "x")) <= 256)
    error_message = "admin_key must be 16 to 256 characters."
  }
}

variable "fail_mode" {
  description = "What the webhook answers when the store cannot answer within the deadline: error (HTTP 503, the cluster's failurePolicy decides), open (allow) or closed (deny)."
  type        = string
  default     = "error"

  validation {
    condition     = contains(["error", "open", "closed"], var.fail_mode)
    error_message = "fail_mode must be error, open or closed."
  }
}

variable "retention_days" {
  description = "Days admission records are kept (Firestore's TTL policy deletes them, and the hourly monitoring-upkeep job too)."
  type        = number
  default     = 90
}

variable "webhook_min_instances" {
  description = "Instances of the webhook kept warm. 1 or more keeps cold starts out of the API server's admission timeout; 0 costs nothing while idle."
  type        = number
  default     = 1
}

variable "webhook_max_instances" {
  description = "Upper bound on webhook instances."
  type        = number
  default     = 20
}

variable "api_max_instances" {
  description = "Upper bound on admin API instances."
  type        = number
  default     = 5
}

variable "function_memory" {
  description = "Memory of the webhook and api functions (Cloud Run units, e.g. 512Mi). With one vCPU each instance serves many requests at once."
  type        = string
  default     = "512Mi"
}

variable "registry_projects" {
  description = "Projects whose Artifact Registry images the `gar` registry connector syncs findings from: the api and findings-sync functions get roles/containeranalysis.occurrences.viewer and roles/artifactregistry.reader on each. Empty means this project only. Granting on another project needs permission to set its IAM policy."
  type        = list(string)
  default     = []
}

variable "job_schedules" {
  description = "Overrides of the scheduled jobs' cron schedules (UTC), by job name, e.g. { \"expire-exemptions\" = \"0 */2 * * *\", \"findings-sync\" = \"*/30 * * * *\" }."
  type        = map(string)
  default     = {}
}

variable "build_service_account" {
  description = "Optional service account email Cloud Build uses to build the functions (full resource name or email). Null uses the project's default build service account."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = {}
}
