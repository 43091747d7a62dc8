/**
 * Configuration of the Cosmos DB store from the environment, and a client whose failures
 * are bounded: a request times out after a few seconds, throttling retries are capped, and
 * endpoint discovery (whose retries on an unreachable endpoint run for minutes) is off.
 */
import { CosmosClient, type CosmosClientOptions } from '@azure/cosmos';
import { z } from 'zod';

/** The default database id. */
export const DEFAULT_DATABASE = 'portcullis';

/** What a Cosmos DB client needs to connect. */
export interface CosmosClientConfig {
  /** The account endpoint, e.g. `https://<account>.documents.azure.com:443/`. */
  endpoint: string;
  /** The account key; omit it when `aadCredentials` is given. */
  key?: string;
  /** A Microsoft Entra credential (managed identity), e.g. `new DefaultAzureCredential()`. */
  aadCredentials?: CosmosClientOptions['aadCredentials'];
  /** Time to wait for one response; 5 s by default. */
  requestTimeoutMs?: number;
}

/**
 * A client that fails fast: `requestTimeout` bounds a silent peer, throttled requests are
 * retried at most 5 times within 10 s (waiting what the service's retry-after says), and
 * endpoint discovery is off so a refused connection is not retried for minutes.
 */
export function createCosmosClient(config: CosmosClientConfig): CosmosClient {
  return new CosmosClient({
    endpoint: config.endpoint,
    ...(config.key === undefined ? {} : { key: config.key }),
    ...(config.aadCredentials === undefined ? {} : { aadCredentials: config.aadCredentials }),
    connectionPolicy: {
      enableEndpointDiscovery: false,
      requestTimeout: config.requestTimeoutMs ?? 5000,
      retryOptions: { maxRetryAttemptCount: 5, maxWaitTimeInSeconds: 10 },
    },
  });
}

const EnvSchema = z.object({
  COSMOS_ENDPOINT: z.url({ protocol: /^https?$/ }),
  COSMOS_KEY: z.string().min(1).optional(),
  PORTCULLIS_COSMOS_DATABASE: z.string().min(1).max(255).default(DEFAULT_DATABASE),
  PORTCULLIS_COSMOS_CONTAINER_PREFIX: z.string().max(100).default(''),
  PORTCULLIS_COSMOS_ENSURE_SCHEMA: z.enum(['true', 'false']).default('false'),
  PORTCULLIS_COSMOS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
});

/** The store's settings read from the environment. */
export interface CosmosEnvConfig {
  client: CosmosClientConfig;
  database: string;
  prefix: string;
  ensureSchema: boolean;
}

/**
 * Reads `COSMOS_ENDPOINT`, `COSMOS_KEY`, `PORTCULLIS_COSMOS_DATABASE`,
 * `PORTCULLIS_COSMOS_CONTAINER_PREFIX`, `PORTCULLIS_COSMOS_ENSURE_SCHEMA` and
 * `PORTCULLIS_COSMOS_TIMEOUT_MS`; throws an Error naming each bad variable. Without
 * `COSMOS_KEY` a managed identity credential must be passed in (`aadCredentials`).
 */
export function parseCosmosEnv(
  env: NodeJS.ProcessEnv,
  aadCredentials?: CosmosClientOptions['aadCredentials'],
): CosmosEnvConfig {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid Cosmos DB configuration:\n${lines.join('\n')}`);
  }
  const e = result.data;
  if (e.COSMOS_KEY === undefined && aadCredentials === undefined) {
    throw new Error(
      'invalid Cosmos DB configuration:\n  COSMOS_KEY: not set, and no managed identity credential was given ' +
        '(managed identity through @azure/identity is wired by the Azure Functions entry points)',
    );
  }
  return {
    client: {
      endpoint: e.COSMOS_ENDPOINT,
      ...(e.COSMOS_KEY === undefined ? {} : { key: e.COSMOS_KEY }),
      ...(aadCredentials === undefined ? {} : { aadCredentials }),
      requestTimeoutMs: e.PORTCULLIS_COSMOS_TIMEOUT_MS,
    },
    database: e.PORTCULLIS_COSMOS_DATABASE,
    prefix: e.PORTCULLIS_COSMOS_CONTAINER_PREFIX,
    ensureSchema: e.PORTCULLIS_COSMOS_ENSURE_SCHEMA === 'true',
  };
}
