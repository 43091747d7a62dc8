# The bootstrap SecurityAdmin API key: the api function reads it as PORTCULLIS_ADMIN_KEY and
# makes sure the key exists in the store on its first start. Rotate it by changing var.admin_key
# or `terraform apply -replace=random_password.admin_key` (docs/deploy-gcp.md); keys made
# through the API are separate.

resource "google_secret_manager_secret" "admin_key" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-admin-key"
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Used only when var.admin_key is null. No special characters: the key travels in headers.
resource "random_password" "admin_key" {
  length  = 43
  special = false
}

resource "google_secret_manager_secret_version" "admin_key" {
  secret      = google_secret_manager_secret.admin_key.id
  secret_data = coalesce(var.admin_key, "pck_${random_password.admin_key.result}")
}
