# One service account per function, each with only what it calls: the store (roles/datastore.user,
# on this database only); for the api, the admin key secret; for the api (on-demand sync) and the
# findings-sync job, read access to registry findings. Cloud Scheduler calls the job functions as
# its own account, which may invoke those functions and nothing else.

resource "google_service_account" "webhook" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-webhook"
  display_name = "Portcullis webhook function"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-api"
  display_name = "Portcullis admin API function"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "job" {
  for_each = local.jobs

  project      = var.project_id
  account_id   = trimsuffix(substr("${var.name_prefix}-${each.key}", 0, 30), "-")
  display_name = "Portcullis ${each.key} job function"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "Portcullis Cloud Scheduler invoker"
  description  = "Signs the OIDC tokens Cloud Scheduler sends to the Portcullis job functions."
  depends_on   = [google_project_service.apis]
}

locals {
  # Every function reads and writes the store.
  store_users = merge(
    {
      webhook = google_service_account.webhook.email
      api     = google_service_account.api.email
    },
    { for job, account in google_service_account.job : "job-${job}" => account.email },
  )
}

resource "google_project_iam_member" "datastore_user" {
  for_each = local.store_users

  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${each.value}"

  # Firestore's IAM conditions take the database resource name: this database, no other.
  condition {
    title       = "${var.name_prefix}-firestore-only"
    description = "Only the Portcullis Firestore database."
    expression  = "resource.name == \"${google_firestore_database.main.id}\""
  }
}

resource "google_secret_manager_secret_iam_member" "api_reads_admin_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.admin_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

# Registry findings (the `gar` connector): Artifact Analysis occurrences and Artifact Registry
# image tags, read-only, in each project of var.registry_projects, for the two functions that sync.
locals {
  registry_projects = length(var.registry_projects) > 0 ? var.registry_projects : [var.project_id]
  registry_readers = {
    api           = google_service_account.api.email
    findings-sync = google_service_account.job["findings-sync"].email
  }
  registry_read_roles = ["roles/containeranalysis.occurrences.viewer", "roles/artifactregistry.reader"]
  registry_grants = {
    for grant in setproduct(keys(local.registry_readers), local.registry_projects, local.registry_read_roles) :
    join(" ", grant) => { reader = grant[0], project = grant[1], role = grant[2] }
  }
}

resource "google_project_iam_member" "registry_reader" {
  for_each = local.registry_grants

  project = each.value.project
  role    = each.value.role
  member  = "serviceAccount:${local.registry_readers[each.value.reader]}"
}
