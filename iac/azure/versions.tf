terraform {
  # check blocks (main.tf) need 1.5.
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.42 brings azurerm_key_vault's rbac_authorization_enabled.
      version = "~> 4.42"
    }
  }
}

provider "azurerm" {
  # Null: taken from ARM_SUBSCRIPTION_ID, or from `az account show` when logged in with the CLI.
  subscription_id = var.subscription_id
  features {}
}
