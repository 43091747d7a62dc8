# Cloud Functions (2nd gen, Node.js 22), one per functions-framework target of
# functions/gcp/index.ts. Each runs as its own service account. The webhook and the api are
# invokable by anyone (allUsers): the app authenticates every call itself (the cluster token in
# the webhook path, API keys on the admin API). The job functions are not: only the scheduler's
# account may invoke them, with the OIDC token Cloud Scheduler signs.

locals {
  function_env = merge(
    {
      PORTCULLIS_STORE              = "firestore"
      GOOGLE_CLOUD_PROJECT          = var.project_id
      PORTCULLIS_FIRESTORE_DATABASE = google_firestore_database.main.name
      PORTCULLIS_FAIL_MODE          = var.fail_mode
      PORTCULLIS_RETENTION_DAYS     = tostring(var.retention_days)
      NODE_OPTIONS                  = "--enable-source-maps"
    },
    var.firestore_prefix == "" ? {} : { PORTCULLIS_FIRESTORE_PREFIX = var.firestore_prefix },
  )
}

resource "google_cloudfunctions2_function" "webhook" {
  project     = var.project_id
  name        = "${var.name_prefix}-webhook"
  location    = var.region
  description = "Portcullis admission webhook: POST /admission/{cluster token}."
  labels      = var.labels

  build_config {
    runtime         = "nodejs22"
    entry_point     = "webhook"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.webhook.email
    available_memory      = var.function_memory
    # One vCPU lets an instance serve concurrent reviews from its warm caches.
    available_cpu                    = "1"
    max_instance_request_concurrency = 80
    min_instance_count               = var.webhook_min_instances
    max_instance_count               = var.webhook_max_instances
    timeout_seconds                  = 30
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_env
  }

  depends_on = [google_project_iam_member.datastore_user]
}

resource "google_cloudfunctions2_function" "api" {
  project     = var.project_id
  name        = "${var.name_prefix}-api"
  location    = var.region
  description = "Portcullis admin API (/api/v1) and /healthz."
  labels      = var.labels

  build_config {
    runtime         = "nodejs22"
    entry_point     = "api"
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.api.email
    available_memory                 = var.function_memory
    available_cpu                    = "1"
    max_instance_request_concurrency = 40
    min_instance_count               = 0
    max_instance_count               = var.api_max_instances
    # Large scanner reports take a while to import.
    timeout_seconds                = 300
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    environment_variables = merge(local.function_env, {
      # Webhook URLs handed out at cluster registration point at the webhook function.
      PORTCULLIS_WEBHOOK_BASE_URL = google_cloudfunctions2_function.webhook.service_config[0].uri
    })

    # Pinned to the version Terraform wrote: a new key redeploys the function, and its new
    # instances install that key on their first start.
    secret_environment_variables {
      key        = "PORTCULLIS_ADMIN_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.admin_key.secret_id
      version    = google_secret_manager_secret_version.admin_key.version
    }
  }

  depends_on = [
    google_project_iam_member.datastore_user,
    google_secret_manager_secret_iam_member.api_reads_admin_key,
    google_secret_manager_secret_version.admin_key,
  ]
}

resource "google_cloudfunctions2_function" "job" {
  for_each = local.jobs

  project     = var.project_id
  name        = "${var.name_prefix}-${each.key}"
  location    = var.region
  description = "Portcullis scheduled job ${each.key}: ${each.value.description}"
  labels      = var.labels

  build_config {
    runtime         = "nodejs22"
    entry_point     = each.value.entry_point
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.job[each.key].email
    available_memory      = "512Mi"
    # One run at a time.
    max_instance_request_concurrency = 1
    min_instance_count               = 0
    max_instance_count               = 1
    timeout_seconds                  = 540
    # Reachable only with an invoker's token (no allUsers binding below).
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    environment_variables          = local.function_env
  }

  depends_on = [google_project_iam_member.datastore_user]
}

# Public invokers: the webhook and the api only.
resource "google_cloud_run_v2_service_iam_member" "webhook_public" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.webhook.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "api_public" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.api.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The scheduler's account may invoke the job functions, and nothing else.
resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_job" {
  for_each = google_cloudfunctions2_function.job

  project  = var.project_id
  location = var.region
  name     = each.value.service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}
