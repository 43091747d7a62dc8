/** `npm start`: the local emulator. Prints a start-up banner; stops cleanly on SIGINT/SIGTERM. */
import { parseConfig } from './config.js';
import { startEmulator } from './server.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig();
  } catch (error) {
    console.error(`portcullis: ${(error as Error).message}`);
    process.exit(1);
  }
  const emulator = await startEmulator(config);
  const base = config.publicUrl ?? emulator.url;
  const key = emulator.generatedAdminKey;
  const lines = [
    '',
    `Portcullis local emulator — store: ${config.store} (${config.dataDir})`,
    `  webhook:    POST ${base}/admission/<cluster-token>`,
    `  admin API:  ${base}/api/v1   (OpenAPI: ${base}/api/v1/openapi.json)`,
    `  CA bundle:  ${emulator.caPath}`,
    key
      ? `  admin key:  ${key}\n              (shown once; also saved to ${emulator.adminKeyPath})`
      : config.adminKey
        ? '  admin key:  from PORTCULLIS_ADMIN_KEY'
        : `  admin key:  in ${emulator.adminKeyPath || 'the key printed on first start'}`,
    '',
    'Register a cluster and point its API server at the webhook:',
    `  npx portcullis clusters register my-cluster --provider other --url ${emulator.url} --output yaml | kubectl apply -f -`,
    '',
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`portcullis: ${signal} received, shutting down`);
    const force = setTimeout(() => process.exit(1), 5000);
    force.unref();
    await emulator.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error('portcullis: failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
