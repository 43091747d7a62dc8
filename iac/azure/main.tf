# Portcullis on Azure Functions (Flex Consumption, Node.js 22): one function app with the
# webhook, the admin API and the scheduled jobs (functions/azure), its state in a serverless
# Cosmos DB account (cosmos.tf, cosmos-containers.tf), its bootstrap admin key in Key Vault,
# its logs in Application Insights. The app reaches Cosmos DB and Key Vault with its
# system-assigned managed identity; no data-plane key is stored anywhere.

data "azurerm_client_config" "current" {}

locals {
  function_app_name = "func-${var.name}"
  # Flex Consumption apps get <name>.azurewebsites.net unless created with a unique default
  # hostname (not used here); the check below fails the apply if that ever differs.
  webhook_base_url = coalesce(var.webhook_base_url, "https://${local.function_app_name}.azurewebsites.net")
  # An App Service Key Vault reference, resolved by the platform with the app's identity.
  admin_key_reference = "@Microsoft.KeyVault(VaultName=${azurerm_key_vault.main.name};SecretName=${var.admin_key_secret_name})"
}

resource "azurerm_resource_group" "main" {
  name     = "rg-${var.name}"
  location = var.location
  tags     = var.tags
}

# The host's own storage (timer schedules and locks, AzureWebJobsStorage) and the container
# Flex Consumption deploys packages from.
resource "azurerm_storage_account" "main" {
  name                            = "st${var.name}"
  resource_group_name             = azurerm_resource_group.main.name
  location                        = azurerm_resource_group.main.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  allow_nested_items_to_be_public = false
  tags                            = var.tags
}

resource "azurerm_storage_container" "deployments" {
  name                  = "deployments"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = "log-${var.name}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_application_insights" "main" {
  name                = "appi-${var.name}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "Node.JS"
  tags                = var.tags
}

resource "azurerm_service_plan" "main" {
  name                = "plan-${var.name}"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

resource "azurerm_function_app_flex_consumption" "main" {
  name                = local.function_app_name
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.main.id
  https_only          = true
  tags                = var.tags

  runtime_name           = "node"
  runtime_version        = "22"
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_in_mb

  # Deployment packages: the provider also sets AzureWebJobsStorage from this key (identity-
  # based host storage is not reliable with this resource yet).
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.main.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type = "StorageAccountConnectionString"
  storage_access_key          = azurerm_storage_account.main.primary_access_key

  identity {
    type = "SystemAssigned"
  }

  dynamic "always_ready" {
    for_each = var.always_ready_http_instances > 0 ? [1] : []
    content {
      name           = "http"
      instance_count = var.always_ready_http_instances
    }
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
  }

  app_settings = {
    PORTCULLIS_STORE            = "cosmos"
    COSMOS_ENDPOINT             = azurerm_cosmosdb_account.main.endpoint
    PORTCULLIS_COSMOS_DATABASE  = azurerm_cosmosdb_sql_database.main.name
    PORTCULLIS_WEBHOOK_BASE_URL = local.webhook_base_url
    PORTCULLIS_ADMIN_KEY        = local.admin_key_reference
    PORTCULLIS_RETENTION_DAYS   = tostring(var.retention_days)
    PORTCULLIS_FAIL_MODE        = var.fail_mode
    # The bundle is minified; stack traces in the logs point at the TypeScript sources.
    NODE_OPTIONS = "--enable-source-maps"
  }
}

check "webhook_base_url_reaches_the_app" {
  assert {
    condition     = var.webhook_base_url != null || local.webhook_base_url == "https://${azurerm_function_app_flex_consumption.main.default_hostname}"
    error_message = "The function app's hostname is ${azurerm_function_app_flex_consumption.main.default_hostname}, not the one PORTCULLIS_WEBHOOK_BASE_URL names: set webhook_base_url to https://${azurerm_function_app_flex_consumption.main.default_hostname} and apply again."
  }
}

# The bootstrap admin key lives in its own vault; the app reads it through a Key Vault
# reference (PORTCULLIS_ADMIN_KEY) and may do nothing else.
resource "azurerm_key_vault" "main" {
  name                       = "kv-${var.name}"
  resource_group_name        = azurerm_resource_group.main.name
  location                   = azurerm_resource_group.main.location
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  rbac_authorization_enabled = true
  soft_delete_retention_days = 7
  purge_protection_enabled   = false
  tags                       = var.tags
}

# Read secrets of this vault only (it holds nothing else).
resource "azurerm_role_assignment" "app_key_vault_secrets_user" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Lets the operator running terraform set the admin key secret (docs/deploy-azure.md).
resource "azurerm_role_assignment" "deployer_key_vault_secrets_officer" {
  count                = var.grant_deployer_secrets_officer ? 1 : 0
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# Registry findings (the `acr` connector): Defender for Cloud's container-registry assessments,
# read through Azure Resource Graph, which answers only with what the identity may read. The
# api (on-demand sync) and the findings-sync timer run as the app's identity: Reader on each
# subscription of var.registry_subscriptions. Subscriptions not listed here need the same
# assignment made by their owner (docs/deploy-azure.md).
resource "azurerm_role_assignment" "app_registry_reader" {
  for_each             = toset(var.registry_subscriptions)
  scope                = "/subscriptions/${each.value}"
  role_definition_name = "Reader"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}
