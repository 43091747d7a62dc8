# Pure values: nothing here refers to a resource, so `terraform console` can evaluate this file
# on its own (test/integration/gcp-iac.test.ts does).

locals {
  # The indexes and field overrides the Firestore store relies on, in the format of
  # `firebase deploy --only firestore:indexes`, written next to the store (docs/storage/firestore.md).
  firestore_schema = jsondecode(file("${path.module}/firestore.indexes.json"))

  # One google_firestore_index per distinct composite index, keyed by its collection and fields
  # ("events shard:ASCENDING timeMs:DESCENDING id:DESCENDING"). Identical entries would be one
  # index in Firestore, so they are declared once.
  firestore_indexes = {
    for index in distinct(local.firestore_schema.indexes) :
    join(" ", concat([index.collectionGroup], [
      for field in index.fields : "${field.fieldPath}:${try(field.order, field.arrayConfig)}"
    ])) => index
  }

  # One google_firestore_field per field override ("events.expiresAt"), TTL policies included.
  firestore_fields = {
    for field in local.firestore_schema.fieldOverrides :
    "${field.collectionGroup}.${field.fieldPath}" => field
  }

  # The scheduled jobs (functions/jobs.ts JOB_NAMES): one function, one service account and
  # one Cloud Scheduler job each. A new job is one entry here.
  jobs = {
    "expire-exemptions" = {
      entry_point = "expireExemptions"
      schedule    = "5 * * * *"
      description = "Marks security-rule exemptions whose expiry day has passed."
    }
    "monitoring-upkeep" = {
      entry_point = "monitoringUpkeep"
      schedule    = "35 * * * *"
      description = "Purges admission records past retention (alongside Firestore's TTL policy)."
    }
    "findings-sync" = {
      entry_point = "findingsSync"
      schedule    = "*/15 * * * *"
      description = "Pulls what changed in each enabled registry's scanner findings since its checkpoint."
    }
  }
}
