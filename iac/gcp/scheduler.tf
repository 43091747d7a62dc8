# One Cloud Scheduler job per job function: POST to the function's URL with an OIDC token
# signed for the scheduler's service account, whose audience is that URL. Cloud Run checks the
# token and the account's roles/run.invoker before the function runs.

resource "google_cloud_scheduler_job" "job" {
  for_each = local.jobs

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  schedule         = lookup(var.job_schedules, each.key, each.value.schedule)
  time_zone        = "Etc/UTC"
  attempt_deadline = "600s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.job[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.job[each.key].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_job]
}
