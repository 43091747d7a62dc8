/**
 * Where the CLI finds its server and credentials: a flag wins over the environment, the
 * environment over the local emulator's data directory (so `npm start` then `portcullis ...`
 * on the same machine needs no setup at all).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** The options every command accepts (defined on the root command). */
export interface GlobalOptions {
  url?: string;
  apiKey?: string;
  caFile?: string;
  insecure?: boolean;
  json?: boolean;
}

export interface Connection {
  url: URL;
  /** Absent when none was given and the data directory has none. */
  apiKey?: string;
  /** PEM of an extra CA to trust (the emulator's own), and where it came from. */
  ca?: { pem: string; path: string };
  insecure: boolean;
  /** The data directory looked in, for messages. */
  dataDir: string;
}

export const DEFAULT_URL = 'https://localhost:8443';

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(error);
    throw new CliError(`cannot read ${what} ${path}: ${why}`);
  }
}

/**
 * Resolves the connection from flags, then `PORTCULLIS_URL` / `PORTCULLIS_API_KEY` /
 * `PORTCULLIS_CA_FILE`, then `$PORTCULLIS_DATA_DIR/admin-key` and `$PORTCULLIS_DATA_DIR/tls/ca.pem`
 * (data directory `./.portcullis` by default, as the emulator's).
 *
 * @example resolveConnection({ url: 'https://portcullis.example.com' }, process.env, process.cwd())
 */
export function resolveConnection(options: GlobalOptions, env: NodeJS.ProcessEnv, cwd: string): Connection {
  const rawUrl = nonEmpty(options.url) ?? nonEmpty(env.PORTCULLIS_URL) ?? DEFAULT_URL;
  const source = nonEmpty(options.url) !== undefined ? '--url' : 'PORTCULLIS_URL';
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new CliError(`invalid server URL "${rawUrl}" (from ${source}); expected e.g. ${DEFAULT_URL}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(`invalid server URL "${rawUrl}" (from ${source}); use https:// or http://`);
  }

  const dataDir = resolve(cwd, nonEmpty(env.PORTCULLIS_DATA_DIR) ?? '.portcullis');
  const keyPath = join(dataDir, 'admin-key');
  const apiKey =
    nonEmpty(options.apiKey) ??
    nonEmpty(env.PORTCULLIS_API_KEY) ??
    (existsSync(keyPath) ? nonEmpty(readText(keyPath, 'API key file')) : undefined);

  let ca: Connection['ca'];
  const explicitCa = nonEmpty(options.caFile) ?? nonEmpty(env.PORTCULLIS_CA_FILE);
  if (explicitCa !== undefined) {
    const path = resolve(cwd, explicitCa);
    ca = { pem: readText(path, 'CA file'), path };
  } else {
    const path = join(dataDir, 'tls', 'ca.pem');
    if (existsSync(path)) ca = { pem: readText(path, 'CA file'), path };
  }
  if (ca !== undefined && !ca.pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CliError(`CA file ${ca.path} holds no PEM certificate`);
  }

  return { url, apiKey, ca, insecure: options.insecure === true, dataDir };
}
