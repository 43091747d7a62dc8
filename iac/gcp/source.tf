# The functions' source: the esbuild bundle of functions/gcp/index.ts beside its package.json
# (scripts/build-functions.mjs, docs/deploy-gcp.md), zipped and uploaded; Cloud Build installs
# the dependencies it lists.
# Every function deploys the same archive with its own entry point.

locals {
  source_dir = coalesce(var.source_dir, "${path.module}/function-source")
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = local.source_dir
  output_path = "${path.module}/.build/function-source.zip"
  excludes    = ["node_modules", ".gitignore"]
}

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # Named by content, so a new bundle redeploys every function and an unchanged one nothing.
  name   = "function-source-${data.archive_file.source.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path

  lifecycle {
    precondition {
      condition     = fileexists("${local.source_dir}/index.js") && fileexists("${local.source_dir}/package.json")
      error_message = "The function source has no index.js: build it first with `node scripts/build-functions.mjs gcp iac/gcp/function-source` (docs/deploy-gcp.md)."
    }
  }
}
