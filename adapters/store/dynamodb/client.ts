/**
 * Building a DynamoDB client that fails fast: bounded connect and request timeouts and few
 * retries, so an unreachable endpoint answers UnavailableError in seconds instead of hanging
 * a webhook call. Also reads the SDK's usual environment variables.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';

/** How to reach DynamoDB; everything is optional and defaults to the SDK's behaviour. */
export interface DynamoDbClientOptions {
  /** An endpoint URL such as `http://127.0.0.1:8000` (DynamoDB Local); AWS's by default. */
  endpoint?: string;
  /** AWS region; `us-east-1` by default. */
  region?: string;
  /** Static credentials; the SDK's default provider chain when absent. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Milliseconds to establish a connection; 1000 by default. */
  connectTimeoutMs?: number;
  /** Milliseconds for a whole request and its response; 3000 by default (point reads, webhook). */
  requestTimeoutMs?: number;
  /** Attempts per call including the first (the SDK's standard retry mode); 3 by default. */
  maxAttempts?: number;
}

/** Options derived from an environment, plus the store's own settings. */
export interface DynamoDbEnvSettings {
  client: DynamoDbClientOptions;
  tablePrefix: string;
  ensureSchema: boolean;
  /** Request timeout of BatchWriteItem calls, in ms, when `PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS` is set. */
  bulkTimeoutMs?: number;
}

/** The table prefix when `PORTCULLIS_DYNAMODB_TABLE_PREFIX` is not set. */
export const DEFAULT_TABLE_PREFIX = 'portcullis-';

/**
 * A client for the store. Timeouts throw (instead of the SDK's default of merely warning) and
 * retries are bounded, so a dead endpoint rejects within a few seconds.
 */
export function createDynamoDbClient(options: DynamoDbClientOptions = {}): DynamoDBClient {
  return new DynamoDBClient({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 1000,
      requestTimeout: options.requestTimeoutMs ?? 3000,
      throwOnRequestTimeout: true,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
    },
  });
}

/**
 * The document client the ports use: plain JS values in and out, `undefined` members dropped
 * (as JSON would), binary attributes as Uint8Array.
 */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

const optional = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const positiveInt = (name: string) =>
  optional.transform((s, ctx) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (Number.isInteger(n) && n > 0) return n;
    ctx.addIssue({ code: 'custom', message: `${name} must be a positive integer` });
    return z.NEVER;
  });

const EnvSchema = z.object({
  AWS_ENDPOINT_URL_DYNAMODB: optional.pipe(z.url('AWS_ENDPOINT_URL_DYNAMODB must be a URL').optional()),
  AWS_ENDPOINT_URL: optional.pipe(z.url('AWS_ENDPOINT_URL must be a URL').optional()),
  AWS_REGION: optional,
  AWS_DEFAULT_REGION: optional,
  AWS_ACCESS_KEY_ID: optional,
  AWS_SECRET_ACCESS_KEY: optional,
  AWS_SESSION_TOKEN: optional,
  PORTCULLIS_DYNAMODB_TABLE_PREFIX: z.string().optional(),
  PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: optional.pipe(
    z.enum(['true', 'false', '1', '0'], 'PORTCULLIS_DYNAMODB_ENSURE_SCHEMA must be true or false').optional(),
  ),
  PORTCULLIS_DYNAMODB_TIMEOUT_MS: positiveInt('PORTCULLIS_DYNAMODB_TIMEOUT_MS'),
  PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS: positiveInt('PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS'),
  PORTCULLIS_DYNAMODB_MAX_ATTEMPTS: positiveInt('PORTCULLIS_DYNAMODB_MAX_ATTEMPTS'),
});

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Reads the store's settings from `env` (see docs/storage/dynamodb.md for the variables).
 * Credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`[/`AWS_SESSION_TOKEN`]
 * when set; otherwise from the SDK's default chain (profile, web identity, container, IMDS),
 * except that a loopback endpoint (DynamoDB Local) gets fixed dummy credentials.
 * Throws an Error naming the offending variable.
 */
export function dynamoDbSettingsFromEnv(env: NodeJS.ProcessEnv): DynamoDbEnvSettings {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid DynamoDB configuration: ${issue?.path.join('.')}: ${issue?.message}`, {
      cause: parsed.error,
    });
  }
  const e = parsed.data;
  const endpoint = e.AWS_ENDPOINT_URL_DYNAMODB ?? e.AWS_ENDPOINT_URL;
  const client: DynamoDbClientOptions = { region: e.AWS_REGION ?? e.AWS_DEFAULT_REGION ?? 'us-east-1' };
  if (endpoint !== undefined) client.endpoint = endpoint;
  if (e.AWS_ACCESS_KEY_ID !== undefined && e.AWS_SECRET_ACCESS_KEY !== undefined) {
    client.credentials = {
      accessKeyId: e.AWS_ACCESS_KEY_ID,
      secretAccessKey: e.AWS_SECRET_ACCESS_KEY,
      ...(e.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: e.AWS_SESSION_TOKEN }),
    };
  } else if (endpoint !== undefined && LOOPBACK.has(new URL(endpoint).hostname)) {
    // DynamoDB Local accepts any credentials; without these the SDK would probe IMDS.
    client.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  }
  if (e.PORTCULLIS_DYNAMODB_TIMEOUT_MS !== undefined)
    client.requestTimeoutMs = e.PORTCULLIS_DYNAMODB_TIMEOUT_MS;
  if (e.PORTCULLIS_DYNAMODB_MAX_ATTEMPTS !== undefined)
    client.maxAttempts = e.PORTCULLIS_DYNAMODB_MAX_ATTEMPTS;
  return {
    client,
    tablePrefix: e.PORTCULLIS_DYNAMODB_TABLE_PREFIX ?? DEFAULT_TABLE_PREFIX,
    ensureSchema:
      e.PORTCULLIS_DYNAMODB_ENSURE_SCHEMA === 'true' || e.PORTCULLIS_DYNAMODB_ENSURE_SCHEMA === '1',
    ...(e.PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS === undefined
      ? {}
      : { bulkTimeoutMs: e.PORTCULLIS_DYNAMODB_BULK_TIMEOUT_MS }),
  };
}
