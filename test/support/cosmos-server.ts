/**
 * Starts the local Cosmos DB server of TOOLING.md (`@vercel/cosmosdb-server`, plain HTTP)
 * as a separate process on a free port, so tests talk to a real network peer. A missing
 * server package is an error, never a skip.
 *
 * @example
 * const server = await startCosmosServer();
 * const client = createCosmosClient({ endpoint: server.endpoint, key: server.env.COSMOS_KEY });
 * await server.stop();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';

/** A running server: its endpoint, how to stop it, and the environment that points at it. */
export interface CosmosServer {
  endpoint: string;
  stop(): Promise<void>;
  /** `COSMOS_ENDPOINT`, `COSMOS_KEY` and `PORTCULLIS_COSMOS_ENSURE_SCHEMA=true`. */
  env: Record<string, string>;
}

/** The local server accepts any key; this is the well-known key of Microsoft's emulator. */
export const EMULATOR_KEY =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIM/Jw==';

const START_TIMEOUT_MS = 15_000;

function resolveServer(): string {
  try {
    return createRequire(import.meta.url).resolve('@vercel/cosmosdb-server');
  } catch (e) {
    throw new Error(
      'the local Cosmos DB server (@vercel/cosmosdb-server) is not installed; run `npm ci` (see TOOLING.md)',
      { cause: e },
    );
  }
}

// Keep-alive so that thousands of requests reuse connections instead of one socket each.
const SCRIPT = `
const { createHttpServer } = require(process.argv[1]);
const server = createHttpServer({ keepAlive: true });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

function waitForPort(child: ChildProcess, output: () => string): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`the Cosmos DB server did not start within ${START_TIMEOUT_MS} ms:\n${output()}`)),
      START_TIMEOUT_MS,
    );
    const onData = () => {
      const match = /listening (\d+)/.exec(output());
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start the Cosmos DB server: ${e.message}`, { cause: e }));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the Cosmos DB server exited (${signal ?? code}) before listening:\n${output()}`));
    });
  });
}

/** Waits until the server answers its root (database account) resource. */
async function waitUntilAnswering(endpoint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`the Cosmos DB server at ${endpoint} does not answer`, { cause: e });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a fresh, empty server; stop it with `stop()` (kills its process group). */
export async function startCosmosServer(): Promise<CosmosServer> {
  const entry = resolveServer();
  const child = spawn(process.execPath, ['-e', SCRIPT, entry], {
    // Its own process group, so stop() can signal the whole tree.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => {
    output += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    // The server logs requests it failed on; keep the tail for error messages.
    output = (output + b.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const stop = async () => {
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const port = await waitForPort(child, () => output);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(endpoint);
    return {
      endpoint,
      stop,
      env: {
        COSMOS_ENDPOINT: endpoint,
        COSMOS_KEY: EMULATOR_KEY,
        PORTCULLIS_COSMOS_ENSURE_SCHEMA: 'true',
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
