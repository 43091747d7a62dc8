# A serverless Cosmos DB (NoSQL API) account: billed per request, no provisioned throughput,
# the right shape for an admission webhook's bursty traffic. Keys are off by default; the
# function app authenticates with its managed identity.
resource "azurerm_cosmosdb_account" "main" {
  name                          = "cosmos-${var.name}"
  resource_group_name           = azurerm_resource_group.main.name
  location                      = azurerm_resource_group.main.location
  offer_type                    = "Standard"
  kind                          = "GlobalDocumentDB"
  local_authentication_disabled = var.cosmos_local_auth_disabled
  minimal_tls_version           = "Tls12"
  tags                          = var.tags

  capabilities {
    name = "EnableServerless"
  }

  # Session consistency gives each instance read-your-writes, which the services rely on.
  consistency_policy {
    consistency_level = "Session"
  }

  geo_location {
    location          = azurerm_resource_group.main.location
    failover_priority = 0
  }
}

resource "azurerm_cosmosdb_sql_database" "main" {
  name                = "portcullis"
  resource_group_name = azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.main.name
}

# Cosmos DB Built-in Data Contributor (read and write items, run queries) on this database
# only: no account management, no other database.
resource "azurerm_cosmosdb_sql_role_assignment" "app_data_contributor" {
  resource_group_name = azurerm_resource_group.main.name
  account_name        = azurerm_cosmosdb_account.main.name
  role_definition_id  = "${azurerm_cosmosdb_account.main.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  scope               = "${azurerm_cosmosdb_account.main.id}/dbs/${azurerm_cosmosdb_sql_database.main.name}"
}
