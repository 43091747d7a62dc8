# Copy to terraform.tfvars (ignored by git) and adjust.
project_id         = "my-project"
region             = "europe-west1"
firestore_location = "eur3"
# admin_key        = "pck_..."   # null: one is generated; read it with `terraform output -raw admin_key`
# webhook_min_instances = 1
# fail_mode             = "error"
