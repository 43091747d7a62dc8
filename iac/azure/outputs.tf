output "resource_group_name" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "The function app to publish the bundle to (docs/deploy-azure.md)."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "webhook_base_url" {
  description = "Base of every cluster's webhook URL (<base>/admission/<token>): PORTCULLIS_WEBHOOK_BASE_URL."
  value       = local.webhook_base_url
}

output "api_url" {
  description = "The admin API's origin: set PORTCULLIS_URL to it for the portcullis CLI (the API is under /api/v1)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}"
}

output "key_vault_name" {
  description = "The vault of the bootstrap admin key."
  value       = azurerm_key_vault.main.name
}

output "admin_key_secret_name" {
  description = "The secret to put the bootstrap SecurityAdmin key in."
  value       = var.admin_key_secret_name
}

output "cosmos_endpoint" {
  description = "The Cosmos DB account endpoint (COSMOS_ENDPOINT)."
  value       = azurerm_cosmosdb_account.main.endpoint
}

output "cosmos_database" {
  description = "The Cosmos DB database (PORTCULLIS_COSMOS_DATABASE)."
  value       = azurerm_cosmosdb_sql_database.main.name
}

output "application_insights_name" {
  description = "Where the functions' logs and requests go."
  value       = azurerm_application_insights.main.name
}
