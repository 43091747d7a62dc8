/**
 * The function app's entry point (package.json `main` of the deployed bundle): every Portcullis
 * function on Azure. See docs/deploy-azure.md.
 */
import './webhook.js';
import './api.js';
import './jobs.js';
