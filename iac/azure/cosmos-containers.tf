# The Cosmos DB containers of Portcullis, one instance of one resource each, exactly as
# COSMOS_CONTAINERS in adapters/store/cosmos/containers.ts declares them
# (test/integration/azure-iac.test.ts checks that they agree). Every container is partitioned on
# a synthetic /pk and indexes only the paths its queries filter or sort on: payloads are never
# indexed, so their writes cost no index RUs. Partition keys and unique keys cannot change in
# place: changing one here replaces the container (and drops its data).

locals {
  # By container name: unique keys, default TTL (seconds; null = none), and the indexing policy.
  # admissions: one document per admission event, partitioned by cluster and UTC day; events
  # expire retention_days after their own time (each carries a `ttl`; this is the default).
  # registries: connectors with their findings-sync checkpoint and lease; sync-runs: one
  # document per findings-sync run, partitioned by registry.
  cosmos_containers = {
    "rules" = {
      unique_keys       = [["/nameKey"]]
      default_ttl       = null
      included_paths    = ["/nameKey/?"]
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "clusters" = {
      unique_keys       = [["/nameKey"]]
      default_ttl       = null
      included_paths    = ["/nameKey/?"]
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "api-keys" = {
      unique_keys    = []
      default_ttl    = null
      included_paths = ["/createdAt/?", "/keyId/?"]
      excluded_paths = ["/*", "/\"_etag\"/?"]
      composite_indexes = [
        [{ path = "/createdAt", order = "Ascending" }, { path = "/keyId", order = "Ascending" }],
      ]
    }
    "meta" = {
      unique_keys       = []
      default_ttl       = null
      included_paths    = []
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "images" = {
      unique_keys    = []
      default_ttl    = null
      included_paths = ["/registryKey/?", "/repositoryKey/?", "/digestKey/?", "/status/?"]
      excluded_paths = ["/*", "/\"_etag\"/?"]
      composite_indexes = [
        [{ path = "/registryKey", order = "Ascending" }, { path = "/repositoryKey", order = "Ascending" }, { path = "/digestKey", order = "Ascending" }],
      ]
    }
    "scans" = {
      unique_keys       = []
      default_ttl       = null
      included_paths    = []
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "tags" = {
      unique_keys       = []
      default_ttl       = null
      included_paths    = []
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "admissions" = {
      unique_keys    = []
      default_ttl    = var.retention_days * 86400
      included_paths = ["/timeMs/?", "/eventId/?", "/uid/?", "/cluster/?", "/namespace/?", "/decision/?", "/imageText/?", "/ruleKeys/[]/?", "/digestKeys/[]/?"]
      excluded_paths = ["/*", "/\"_etag\"/?"]
      composite_indexes = [
        [{ path = "/timeMs", order = "Descending" }, { path = "/eventId", order = "Descending" }],
        [{ path = "/uid", order = "Ascending" }, { path = "/timeMs", order = "Descending" }, { path = "/eventId", order = "Descending" }],
        [{ path = "/cluster", order = "Ascending" }, { path = "/timeMs", order = "Descending" }, { path = "/eventId", order = "Descending" }],
        [{ path = "/namespace", order = "Ascending" }, { path = "/timeMs", order = "Descending" }, { path = "/eventId", order = "Descending" }],
        [{ path = "/decision", order = "Ascending" }, { path = "/timeMs", order = "Descending" }, { path = "/eventId", order = "Descending" }],
      ]
    }
    "registries" = {
      unique_keys       = [["/nameKey"]]
      default_ttl       = null
      included_paths    = ["/nameKey/?"]
      excluded_paths    = ["/*", "/\"_etag\"/?"]
      composite_indexes = []
    }
    "sync-runs" = {
      unique_keys    = []
      default_ttl    = null
      included_paths = ["/runId/?", "/startedMs/?"]
      excluded_paths = ["/*", "/\"_etag\"/?"]
      composite_indexes = [
        [{ path = "/startedMs", order = "Descending" }, { path = "/runId", order = "Descending" }],
      ]
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "main" {
  for_each = local.cosmos_containers

  name                  = each.key
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2
  default_ttl           = each.value.default_ttl

  dynamic "unique_key" {
    for_each = each.value.unique_keys
    content {
      paths = unique_key.value
    }
  }

  indexing_policy {
    indexing_mode = "consistent"

    dynamic "included_path" {
      for_each = each.value.included_paths
      content {
        path = included_path.value
      }
    }

    dynamic "excluded_path" {
      for_each = each.value.excluded_paths
      content {
        path = excluded_path.value
      }
    }

    dynamic "composite_index" {
      for_each = each.value.composite_indexes
      content {
        dynamic "index" {
          for_each = composite_index.value
          content {
            path  = index.value.path
            order = index.value.order
          }
        }
      }
    }
  }
}

# The containers were one resource each before: their state moves to the instances above, so
# an existing deployment keeps its containers and data.
moved {
  from = azurerm_cosmosdb_sql_container.rules
  to   = azurerm_cosmosdb_sql_container.main["rules"]
}

moved {
  from = azurerm_cosmosdb_sql_container.clusters
  to   = azurerm_cosmosdb_sql_container.main["clusters"]
}

moved {
  from = azurerm_cosmosdb_sql_container.api_keys
  to   = azurerm_cosmosdb_sql_container.main["api-keys"]
}

moved {
  from = azurerm_cosmosdb_sql_container.meta
  to   = azurerm_cosmosdb_sql_container.main["meta"]
}

moved {
  from = azurerm_cosmosdb_sql_container.images
  to   = azurerm_cosmosdb_sql_container.main["images"]
}

moved {
  from = azurerm_cosmosdb_sql_container.scans
  to   = azurerm_cosmosdb_sql_container.main["scans"]
}

moved {
  from = azurerm_cosmosdb_sql_container.tags
  to   = azurerm_cosmosdb_sql_container.main["tags"]
}

moved {
  from = azurerm_cosmosdb_sql_container.admissions
  to   = azurerm_cosmosdb_sql_container.main["admissions"]
}

moved {
  from = azurerm_cosmosdb_sql_container.registries
  to   = azurerm_cosmosdb_sql_container.main["registries"]
}

moved {
  from = azurerm_cosmosdb_sql_container.sync_runs
  to   = azurerm_cosmosdb_sql_container.main["sync-runs"]
}
