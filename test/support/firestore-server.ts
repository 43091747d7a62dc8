/**
 * Starts Google's Cloud Firestore emulator (the real server, from the Google Cloud CLI) for
 * tests: java started directly on a free port — not through gcloud, which leaves an orphan
 * java behind — and stopped by killing its process group. A missing jar or java is an error
 * that says what to install, never a skipped test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Where the Google Cloud CLI installs the emulator; FIRESTORE_EMULATOR_JAR overrides it. */
export const DEFAULT_FIRESTORE_EMULATOR_JAR =
  '/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar';

const MAIN_CLASS = 'com.google.cloud.datastore.emulator.firestore.CloudFirestore';
const START_TIMEOUT_MS = 60_000;

/** A running emulator. */
export interface FirestoreServer {
  /** `host:port`, what FIRESTORE_EMULATOR_HOST takes. */
  endpoint: string;
  /** Stops the emulator and waits for its process to exit. */
  stop(): Promise<void>;
  /** The variables that point a Firestore client (or `openFirestoreStoreFromEnv`) at it. */
  env: Record<string, string>;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

/**
 * Starts the emulator and resolves once it answers HTTP. Rejects, with the emulator's own
 * output, when it cannot start.
 *
 * @example
 * const server = await startFirestoreServer();
 * const db = new Firestore({ projectId: server.env.GOOGLE_CLOUD_PROJECT, host: server.endpoint, ssl: false });
 * await server.stop();
 */
export async function startFirestoreServer(
  options: { projectId?: string; jar?: string } = {},
): Promise<FirestoreServer> {
  const jar = options.jar ?? process.env.FIRESTORE_EMULATOR_JAR ?? DEFAULT_FIRESTORE_EMULATOR_JAR;
  if (!existsSync(jar)) {
    throw new Error(
      `the Firestore emulator is not installed: ${jar} is missing ` +
        '(install the Google Cloud CLI component cloud-firestore-emulator, or set FIRESTORE_EMULATOR_JAR)',
    );
  }
  const projectId = options.projectId ?? 'demo-portcullis';
  const port = await freePort();
  const endpoint = `127.0.0.1:${port}`;
  const child = spawn(
    'java',
    ['-cp', jar, MAIN_CLASS, 'start', '--host=127.0.0.1', `--port=${port}`, `--project_id=${projectId}`],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new Error('cannot start the Firestore emulator: java is not installed (it needs Java 11+)')
          : e,
      ),
    );
    child.once('exit', (code, signal) =>
      reject(new Error(`the Firestore emulator exited (${signal ?? code}) before it answered:\n${output}`)),
    );
  });
  exited.catch(() => undefined);
  try {
    await Promise.race([waitUntilUp(endpoint), exited]);
  } catch (e) {
    await kill(child);
    throw e;
  }
  return {
    endpoint,
    env: {
      FIRESTORE_EMULATOR_HOST: endpoint,
      GOOGLE_CLOUD_PROJECT: projectId,
      METADATA_SERVER_DETECTION: 'none',
    },
    stop: () => kill(child),
  };
}

/** Deletes every document in the emulator's database (its own reset endpoint). */
export async function resetFirestore(endpoint: string, projectId = 'demo-portcullis'): Promise<void> {
  const response = await fetch(
    `http://${endpoint}/emulator/v1/projects/${projectId}/databases/(default)/documents`,
    { method: 'DELETE' },
  );
  if (!response.ok) throw new Error(`resetting the Firestore emulator failed: HTTP ${response.status}`);
}

async function waitUntilUp(endpoint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the Firestore emulator did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms`);
}

/** SIGTERM to the process group, SIGKILL if it is still there after 5 s; resolves on exit. */
async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
