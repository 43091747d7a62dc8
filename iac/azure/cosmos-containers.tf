# The Cosmos DB containers of Portcullis, one resource each, exactly as COSMOS_CONTAINERS in
# adapters/store/cosmos/containers.ts declares them (test/integration/azure-iac.test.ts checks
# that they agree). Every container is partitioned on a synthetic /pk and indexes only the
# paths its queries filter or sort on: payloads are never indexed, so their writes cost no
# index RUs. Partition keys and unique keys cannot change in place: changing one here replaces
# the container (and drops its data).

resource "azurerm_cosmosdb_sql_container" "rules" {
  name                  = "rules"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  unique_key {
    paths = ["/nameKey"]
  }

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/nameKey/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "clusters" {
  name                  = "clusters"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  unique_key {
    paths = ["/nameKey"]
  }

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/nameKey/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "api_keys" {
  name                  = "api-keys"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/createdAt/?"
    }

    included_path {
      path = "/keyId/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }

    composite_index {
      index {
        path  = "/createdAt"
        order = "Ascending"
      }
      index {
        path  = "/keyId"
        order = "Ascending"
      }
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "meta" {
  name                  = "meta"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "images" {
  name                  = "images"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/registryKey/?"
    }

    included_path {
      path = "/repositoryKey/?"
    }

    included_path {
      path = "/digestKey/?"
    }

    included_path {
      path = "/status/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }

    composite_index {
      index {
        path  = "/registryKey"
        order = "Ascending"
      }
      index {
        path  = "/repositoryKey"
        order = "Ascending"
      }
      index {
        path  = "/digestKey"
        order = "Ascending"
      }
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "scans" {
  name                  = "scans"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

resource "azurerm_cosmosdb_sql_container" "tags" {
  name                  = "tags"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

# One document per admission event, partitioned by cluster and UTC day. Events expire
# retention_days after their own time (each carries a `ttl`; this is the container default).
resource "azurerm_cosmosdb_sql_container" "admissions" {
  name                  = "admissions"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2
  default_ttl           = var.retention_days * 86400

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/timeMs/?"
    }

    included_path {
      path = "/eventId/?"
    }

    included_path {
      path = "/uid/?"
    }

    included_path {
      path = "/cluster/?"
    }

    included_path {
      path = "/namespace/?"
    }

    included_path {
      path = "/decision/?"
    }

    included_path {
      path = "/imageText/?"
    }

    included_path {
      path = "/ruleKeys/[]/?"
    }

    included_path {
      path = "/digestKeys/[]/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }

    composite_index {
      index {
        path  = "/timeMs"
        order = "Descending"
      }
      index {
        path  = "/eventId"
        order = "Descending"
      }
    }

    composite_index {
      index {
        path  = "/uid"
        order = "Ascending"
      }
      index {
        path  = "/timeMs"
        order = "Descending"
      }
      index {
        path  = "/eventId"
        order = "Descending"
      }
    }

    composite_index {
      index {
        path  = "/cluster"
        order = "Ascending"
      }
      index {
        path  = "/timeMs"
        order = "Descending"
      }
      index {
        path  = "/eventId"
        order = "Descending"
      }
    }

    composite_index {
      index {
        path  = "/namespace"
        order = "Ascending"
      }
      index {
        path  = "/timeMs"
        order = "Descending"
      }
      index {
        path  = "/eventId"
        order = "Descending"
      }
    }

    composite_index {
      index {
        path  = "/decision"
        order = "Ascending"
      }
      index {
        path  = "/timeMs"
        order = "Descending"
      }
      index {
        path  = "/eventId"
        order = "Descending"
      }
    }
  }
}

# Registry connectors with their findings-sync checkpoint and lease.
resource "azurerm_cosmosdb_sql_container" "registries" {
  name                  = "registries"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  unique_key {
    paths = ["/nameKey"]
  }

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/nameKey/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }
  }
}

# One document per findings-sync run, partitioned by registry.
resource "azurerm_cosmosdb_sql_container" "sync_runs" {
  name                  = "sync-runs"
  resource_group_name   = azurerm_resource_group.main.name
  account_name          = azurerm_cosmosdb_account.main.name
  database_name         = azurerm_cosmosdb_sql_database.main.name
  partition_key_paths   = ["/pk"]
  partition_key_kind    = "Hash"
  partition_key_version = 2

  indexing_policy {
    indexing_mode = "consistent"

    included_path {
      path = "/runId/?"
    }

    included_path {
      path = "/startedMs/?"
    }

    excluded_path {
      path = "/*"
    }

    excluded_path {
      path = "/\"_etag\"/?"
    }

    composite_index {
      index {
        path  = "/startedMs"
        order = "Descending"
      }
      index {
        path  = "/runId"
        order = "Descending"
      }
    }
  }
}
