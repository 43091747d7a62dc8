/**
 * What the ECR and Inspector connectors share: the clients they run with, AWS error
 * classification for retries (throttling, server faults and network failures are retried),
 * and the repository listing a run walks in name order.
 */
import { DescribeRepositoriesCommand, type ECRClient } from '@aws-sdk/client-ecr';
import type { Inspector2Client } from '@aws-sdk/client-inspector2';
import type { EcrSettings } from '../../../core/domain.js';
import {
  type Failure,
  isTransientNetworkError,
  RegistryApiError,
  type RetryPolicy,
  withRetry,
} from './retry.js';

const THROTTLING = new Set([
  'ThrottlingException',
  'ThrottledException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

const SERVER = new Set([
  'InternalServerException',
  'InternalServerError',
  'InternalFailure',
  'ServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
  $response?: { headers?: Record<string, string | undefined> };
}

/** Classifies an AWS SDK v3 error for withRetry. */
export function classifyAwsError(error: unknown): Failure {
  const e = (typeof error === 'object' && error !== null ? error : {}) as AwsError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const reason = `${name}: ${e.message ?? String(error)}`.slice(0, 500);
  const retryAfter = Number(e.$response?.headers?.['retry-after']);
  const base: Failure = {
    retryable: false,
    reason,
    ...(status === undefined ? {} : { status }),
    ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
  };
  if (
    THROTTLING.has(name) ||
    SERVER.has(name) ||
    e.$retryable !== undefined ||
    status === 429 ||
    status === 500 ||
    status === 502 ||
    status === 503 ||
    status === 504 ||
    isTransientNetworkError(error)
  ) {
    return { ...base, retryable: true };
  }
  return base;
}

/** True when an error is the named AWS exception (by name: modeled exceptions may come from another SDK copy). */
export function isAwsError(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** The clients and tuning an ECR connector runs with; tests inject mocked clients. */
export interface EcrConnectorDeps {
  ecr: ECRClient;
  /** Needed for enhanced scanning. */
  inspector?: Inspector2Client;
  retry?: RetryPolicy;
  /** Images per listing page, and so at most per batch (DescribeImages allows 1000). */
  pageSize?: number;
}

/** An ECR repository to sync, with the account that owns it. */
export interface EcrRepository {
  name: string;
  registryId: string;
}

/** Calls an AWS API with the connector's retries and the run's abort signal. */
export type AwsCall = <T>(what: string, call: (abortSignal: AbortSignal) => Promise<T>) => Promise<T>;

export function awsCaller(signal: AbortSignal, policy: RetryPolicy): AwsCall {
  return (what, call) => withRetry(what, () => call(signal), classifyAwsError, { signal, policy });
}

/**
 * One page of a listing that a run resumes from a saved page token. AWS page tokens expire;
 * when the API refuses a saved one (`expiredTokenError`, e.g. ECR's InvalidParameterException,
 * Inspector's ValidationException), the listing starts over from its first page: seeing a page
 * twice costs an idempotent write, skipping one would lose findings.
 *
 * @example const page = await resumablePage(aws, 'ECR DescribeImages (app)', token,
 *   'InvalidParameterException', (nextToken, abortSignal) => ecr.send(cmd(nextToken), { abortSignal }))
 */
export async function resumablePage<T>(
  aws: AwsCall,
  what: string,
  token: string | undefined,
  expiredTokenError: string,
  send: (nextToken: string | undefined, abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  try {
    return await aws(what, (abortSignal) => send(token, abortSignal));
  } catch (e) {
    const expired =
      token !== undefined && e instanceof RegistryApiError && isAwsError(e.cause, expiredTokenError);
    if (!expired) throw e;
  }
  return aws(what, (abortSignal) => send(undefined, abortSignal));
}

/** The repositories to sync, in name order (the order a resumed run relies on). */
export async function listRepositories(
  ecr: ECRClient,
  settings: EcrSettings,
  aws: AwsCall,
): Promise<EcrRepository[]> {
  const out: EcrRepository[] = [];
  let nextToken: string | undefined;
  do {
    const page = await aws('ECR DescribeRepositories', (abortSignal) =>
      ecr.send(
        new DescribeRepositoriesCommand({ registryId: settings.registryId, maxResults: 1000, nextToken }),
        {
          abortSignal,
        },
      ),
    );
    for (const r of page.repositories ?? []) {
      const name = r.repositoryName;
      const registryId = r.registryId ?? settings.registryId;
      if (!name || !registryId) continue;
      if (settings.repositories && !settings.repositories.some((prefix) => name.startsWith(prefix))) continue;
      out.push({ name, registryId });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
