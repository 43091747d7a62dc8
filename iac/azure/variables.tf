variable "name" {
  description = "Short name of this installation, used in every resource name (func-<name>, cosmos-<name>, kv-<name>, st<name>...). Lower-case letters and digits, 3 to 16 characters; storage, Key Vault, Cosmos DB and function app names are global, so pick something unique to you."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,15}$", var.name))
    error_message = "name must be 3 to 16 lower-case letters and digits, starting with a letter."
  }
}

variable "location" {
  description = "Azure region of every resource. It must offer the Flex Consumption plan (`az functionapp list-flexconsumption-locations`)."
  type        = string
  default     = "westeurope"
}

variable "subscription_id" {
  description = "Subscription to deploy into. Null uses ARM_SUBSCRIPTION_ID or the Azure CLI's current subscription."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "retention_days" {
  description = "Days admission events are kept: PORTCULLIS_RETENTION_DAYS and the admissions container's default TTL."
  type        = number
  default     = 90

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days between 1 and 3650."
  }
}

variable "fail_mode" {
  description = "What the webhook answers when Cosmos DB cannot within the deadline: error (HTTP 503, the cluster's failurePolicy decides), open (allow with a warning) or closed (deny)."
  type        = string
  default     = "error"

  validation {
    condition     = contains(["error", "open", "closed"], var.fail_mode)
    error_message = "fail_mode must be error, open or closed."
  }
}

variable "admin_key_secret_name" {
  description = "Name of the Key Vault secret holding the bootstrap SecurityAdmin API key (PORTCULLIS_ADMIN_KEY). You set its value after apply (docs/deploy-azure.md); Terraform never sees it."
  type        = string
  default     = "portcullis-admin-key"
}

variable "grant_deployer_secrets_officer" {
  description = "Grant whoever runs terraform apply the Key Vault Secrets Officer role on the vault, so that they can set the admin key secret. Turn off when another team manages secrets."
  type        = bool
  default     = true
}

variable "webhook_base_url" {
  description = "Base URL clusters use to reach the webhook (a custom domain or a gateway in front of the app). Null: https://<the function app's default hostname>."
  type        = string
  default     = null

  validation {
    condition     = var.webhook_base_url == null || can(regex("^https://[^?#]+$", var.webhook_base_url))
    error_message = "webhook_base_url must be an https:// URL without a query or fragment (Kubernetes calls webhooks over HTTPS only)."
  }
}

variable "maximum_instance_count" {
  description = "Most instances the Flex Consumption plan scales the function app out to (at most 1000)."
  type        = number
  default     = 40
}

variable "instance_memory_in_mb" {
  description = "Memory of each instance: 512, 2048 or 4096 MB."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 2048, 4096], var.instance_memory_in_mb)
    error_message = "instance_memory_in_mb must be 512, 2048 or 4096."
  }
}

variable "always_ready_http_instances" {
  description = "Instances kept warm for the HTTP functions (webhook and api), so that an admission never waits for a cold start. Billed while idle; 0 scales to zero."
  type        = number
  default     = 0
}

variable "cosmos_local_auth_disabled" {
  description = "Disable Cosmos DB account keys, so that only Microsoft Entra identities (the function app's managed identity) can read or write data."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace behind Application Insights keeps logs (30 to 730)."
  type        = number
  default     = 30
}

variable "registry_subscriptions" {
  description = "Subscription ids whose Azure Container Registry findings (Defender for Cloud, through Resource Graph) the `acr` registry connector syncs: the function app's identity gets Reader on each. Applying needs permission to assign roles there (Owner or User Access Administrator). Empty: assign Reader yourself where needed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.registry_subscriptions : can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", s))])
    error_message = "registry_subscriptions must be subscription ids (GUIDs)."
  }
}
