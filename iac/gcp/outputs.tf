output "webhook_url" {
  description = "Base URL of the webhook function. Clusters call <webhook_url>/admission/<cluster token>; `portcullis clusters register` prints the full configuration."
  value       = google_cloudfunctions2_function.webhook.service_config[0].uri
}

output "api_url" {
  description = "Base URL of the admin API (set PORTCULLIS_URL to it for the CLI)."
  value       = google_cloudfunctions2_function.api.service_config[0].uri
}

output "admin_key_secret" {
  description = "Secret Manager secret holding the bootstrap SecurityAdmin API key."
  value       = google_secret_manager_secret.admin_key.id
}

output "admin_key" {
  description = "The bootstrap SecurityAdmin API key (generated unless var.admin_key was given)."
  value       = google_secret_manager_secret_version.admin_key.secret_data
  sensitive   = true
}

output "firestore_database" {
  description = "The Firestore database Portcullis uses."
  value       = google_firestore_database.main.name
}

output "functions" {
  description = "Function name by functions-framework target."
  value = merge(
    {
      webhook = google_cloudfunctions2_function.webhook.name
      api     = google_cloudfunctions2_function.api.name
    },
    { for job, fn in google_cloudfunctions2_function.job : local.jobs[job].entry_point => fn.name },
  )
}

output "service_accounts" {
  description = "Service account email by function, and the scheduler's."
  value = merge(
    {
      webhook   = google_service_account.webhook.email
      api       = google_service_account.api.email
      scheduler = google_service_account.scheduler.email
    },
    { for job, account in google_service_account.job : job => account.email },
  )
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job name by job."
  value       = { for job, scheduled in google_cloud_scheduler_job.job : job => scheduled.name }
}
