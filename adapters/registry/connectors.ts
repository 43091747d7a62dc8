/**
 * `createConnector`: the registry connector for a stored registry config, with its clients
 * built from each cloud's standard credential chain — the AWS SDK's default chain (IAM role,
 * environment, profile), Azure's DefaultAzureCredential (managed or workload identity, CLI),
 * Google's Application Default Credentials (service account, workload identity). The SDKs are
 * loaded only when a connector of their kind syncs, so the webhook's bundle never carries them.
 */

import { AcrSettingsSchema, EcrSettingsSchema, GarSettingsSchema } from '../../core/domain.js';
import { ValidationError } from '../../core/errors.js';
import type { ConnectorFactory, RegistryConfig, RegistryConnector, SyncContext } from '../../core/sync.js';
import { parseInput } from '../../core/validation.js';
import { createAcrConnector } from './connectors/acr.js';
import { createEcrConnector } from './connectors/ecr.js';
import { createGarConnector } from './connectors/gar.js';
import type { TokenProvider } from './connectors/http.js';
import type { RetryPolicy } from './connectors/retry.js';

/** Overrides for tests and other clouds; production passes none. */
export interface ConnectorOptions {
  retry?: RetryPolicy;
  /** Azure Resource Manager endpoint (sovereign clouds). */
  azureEndpoint?: string;
  /** Extra AWS client configuration (an endpoint for a local server, say). */
  awsClientConfig?: Record<string, unknown>;
}

const AZURE_RESOURCE_MANAGER = 'https://management.azure.com';
const GOOGLE_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** Tokens for the Resource Manager at `endpoint`: a sovereign cloud's has a scope of its own. */
async function azureToken(endpoint: string): Promise<TokenProvider> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  const credential = new DefaultAzureCredential();
  const scope = `${new URL(endpoint).origin}/.default`;
  return async () => {
    const token = await credential.getToken(scope);
    if (!token?.token) throw new Error('DefaultAzureCredential returned no token for Azure Resource Manager');
    return token.token;
  };
}

async function googleToken(): Promise<TokenProvider> {
  const { GoogleAuth } = await import('google-auth-library');
  const auth = new GoogleAuth({ scopes: [GOOGLE_SCOPE] });
  return async () => {
    const token = await auth.getAccessToken();
    if (!token) throw new Error('Google Application Default Credentials returned no access token');
    return token;
  };
}

/**
 * A connector whose clients are made on its first sync: creating it validates the settings
 * only, so a registry can be registered on a machine without that cloud's credentials.
 */
function lazy(build: () => Promise<RegistryConnector>): RegistryConnector {
  let connector: Promise<RegistryConnector> | undefined;
  return {
    async *sync(context: SyncContext) {
      connector ??= build();
      return yield* (await connector).sync(context);
    },
  };
}

/**
 * Builds the connector for a registry config, dispatching on `kind`. Throws ValidationError for
 * an unknown kind or settings that do not fit it.
 *
 * @example for await (const batch of createConnector(config).sync({ signal, now: new Date() })) ...
 */
export function createConnectorWith(options: ConnectorOptions = {}): ConnectorFactory {
  return (config: RegistryConfig): RegistryConnector => {
    const what = `settings of registry "${config.name}"`;
    switch (config.kind) {
      case 'ecr': {
        const settings = parseInput(EcrSettingsSchema, config.settings, what);
        return lazy(async () => {
          const [{ ECRClient }, { Inspector2Client }] = await Promise.all([
            import('@aws-sdk/client-ecr'),
            import('@aws-sdk/client-inspector2'),
          ]);
          // The connector retries with its own backoff; the SDK's retries would multiply it.
          const clientConfig = { region: settings.region, maxAttempts: 1, ...options.awsClientConfig };
          return createEcrConnector(config, {
            ecr: new ECRClient(clientConfig),
            ...(settings.scanning === 'enhanced' ? { inspector: new Inspector2Client(clientConfig) } : {}),
            ...(options.retry ? { retry: options.retry } : {}),
          });
        });
      }
      case 'acr': {
        parseInput(AcrSettingsSchema, config.settings, what);
        return lazy(async () =>
          createAcrConnector(config, {
            token: await azureToken(options.azureEndpoint ?? AZURE_RESOURCE_MANAGER),
            ...(options.azureEndpoint ? { endpoint: options.azureEndpoint } : {}),
            ...(options.retry ? { retry: options.retry } : {}),
          }),
        );
      }
      case 'gar': {
        parseInput(GarSettingsSchema, config.settings, what);
        return lazy(async () =>
          createGarConnector(config, {
            token: await googleToken(),
            ...(options.retry ? { retry: options.retry } : {}),
          }),
        );
      }
      default:
        throw new ValidationError(
          `unknown registry kind "${String(config.kind).slice(0, 32)}"; expected ecr, acr or gar`,
          {
            details: [{ path: 'kind', message: 'expected ecr, acr or gar' }],
          },
        );
    }
  };
}

/** The connector factory core's SyncService uses: standard credential chains, default retries. */
export const createConnector: ConnectorFactory = createConnectorWith();
