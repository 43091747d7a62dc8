/**
 * Runs the local emulator as a real process (as `npm start` does) on a fresh data dir and
 * talks to it over HTTPS, trusting the CA it generated.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  json: any;
}

export interface EmulatorProcess {
  url: string;
  dataDir: string;
  adminKey: string;
  output: () => string;
  http(
    method: string,
    path: string,
    options?: {
      body?: unknown;
      raw?: string | Buffer;
      key?: string | null;
      headers?: Record<string, string>;
    },
  ): Promise<HttpResult>;
  stop(): Promise<number | null>;
}

/** Starts `local-emulator/main.ts` with the given extra environment; resolves once it serves. */
export async function startEmulatorProcess(env: Record<string, string> = {}): Promise<EmulatorProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
  const adminKey = `pck_e2e_${'k'.repeat(40)}`;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'local-emulator/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_PORT: '0',
      PORTCULLIS_HOST: '127.0.0.1',
      PORTCULLIS_ADMIN_KEY: adminKey,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`emulator did not start in 30 s:\n${output}`)), 30_000);
    const check = () => {
      const m = /admin API:\s+(https:\/\/[^/\s]+)\/api\/v1/.exec(output);
      if (m) {
        clearTimeout(timer);
        ok(m[1]!);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`emulator exited with ${code}:\n${output}`));
    });
  });
  const ca = readFileSync(join(dataDir, 'tls', 'ca.pem'));

  const http: EmulatorProcess['http'] = (method, path, options = {}) =>
    new Promise((ok, fail) => {
      const body =
        options.raw !== undefined
          ? options.raw
          : options.body === undefined
            ? undefined
            : JSON.stringify(options.body);
      const key = options.key === undefined ? adminKey : options.key;
      const req = request(
        new URL(path, url),
        {
          method,
          ca,
          // A fresh connection per request: the server may close one after an early error
          // answer (a 413 before the body is read), and a pooled socket would then hang up.
          agent: false,
          headers: {
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
            ...options.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown;
            try {
              json = text === '' ? undefined : JSON.parse(text);
            } catch {
              json = undefined;
            }
            ok({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        },
      );
      req.on('error', fail);
      if (body !== undefined) req.write(body);
      req.end();
    });

  return {
    url,
    dataDir,
    adminKey,
    output: () => output,
    http,
    stop: () =>
      new Promise((ok) => {
        if (child.exitCode !== null) {
          rmSync(dataDir, { recursive: true, force: true });
          ok(child.exitCode);
          return;
        }
        child.once('exit', (code) => {
          rmSync(dataDir, { recursive: true, force: true });
          ok(code);
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Wraps an object as the API server does for a webhook call. */
export function admissionReview(
  object: unknown,
  options: {
    uid: string;
    namespace: string;
    operation?: 'CREATE' | 'UPDATE' | 'DELETE';
    dryRun?: boolean;
    oldObject?: unknown;
  },
) {
  const o = object as { kind: string; apiVersion: string; metadata: { name?: string } };
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const resource = `${o.kind.toLowerCase()}s`;
  const operation = options.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid,
      kind: { group, version, kind: o.kind },
      resource: { group, version, resource },
      requestKind: { group, version, kind: o.kind },
      requestResource: { group, version, resource },
      name: o.metadata.name,
      namespace: options.namespace,
      operation,
      userInfo: { username: 'dev@example.com', groups: ['system:authenticated'] },
      object: operation === 'DELETE' ? null : object,
      oldObject: operation === 'CREATE' ? null : (options.oldObject ?? object),
      dryRun: options.dryRun ?? false,
      options: {
        apiVersion: 'meta.k8s.io/v1',
        kind: operation === 'DELETE' ? 'DeleteOptions' : 'CreateOptions',
      },
    },
  };
}

export function fixture(path: string): unknown {
  return JSON.parse(readFileSync(join(ROOT, 'test/fixtures', path), 'utf8'));
}
