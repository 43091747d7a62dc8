/** Registers the webhook function: `POST /admission/{token}`, anonymous (the token is the credential). */
import azure from '@azure/functions';
import { createWebhookHandler } from './handlers.js';
import { services } from './instance.js';

azure.app.http('webhook', {
  route: 'admission/{token}',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: createWebhookHandler({ services }),
});
