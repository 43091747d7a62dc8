/**
 * The `portcullis` command tree and its one error path: every failure ends as a single line
 * `portcullis: <message>` on stderr and exit code 1 (evaluate's "denied" is 2).
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { action, type Runtime } from './command.js';
import { admissionsCommand } from './commands/admissions.js';
import { clustersCommand } from './commands/clusters.js';
import { evaluateCommand } from './commands/evaluate.js';
import { exemptionsCommand } from './commands/exemptions.js';
import { exposureCommand } from './commands/exposure.js';
import { findingsCommand, imagesCommand } from './commands/images.js';
import { registriesCommand } from './commands/registries.js';
import { rulesCommand } from './commands/rules.js';
import { DEFAULT_URL } from './config.js';
import type { Io } from './context.js';
import { CliError } from './errors.js';

const CONNECTION_HELP = `
Connection (flags win over the environment):
  --url          PORTCULLIS_URL       server base URL (default ${DEFAULT_URL})
  --api-key      PORTCULLIS_API_KEY   API key (default: $PORTCULLIS_DATA_DIR/admin-key, the local emulator's)
  --ca-file      PORTCULLIS_CA_FILE   extra CA to trust (default: $PORTCULLIS_DATA_DIR/tls/ca.pem)
                 PORTCULLIS_DATA_DIR  the local emulator's data directory (default ./.portcullis)

Examples:
  portcullis rules apply -f rules.yaml
  portcullis clusters register prod-eks --provider aws --account 123456789012 --output yaml | kubectl apply -f -
  portcullis findings import -f trivy.json --format trivy --image ghcr.io/acme/api:1.4@sha256:<digest>
  portcullis registries add prod-ecr --kind ecr --region us-east-1 --scanning enhanced
  portcullis registries sync prod-ecr
  portcullis evaluate -f deploy.yaml --cluster prod-eks
  portcullis admissions list --decision Denied --since 1h`;

/** Builds the command tree writing to `runtime.io`. */
export function buildProgram(runtime: Runtime): Command {
  const program = new Command('portcullis')
    .description(
      'Portcullis admin CLI: rules as code, clusters, scan findings, registry sync, admission monitoring, what-if',
    )
    .version(packageJson.version, '-v, --version', 'print the version')
    .option('--url <url>', `server base URL [env PORTCULLIS_URL] (default ${DEFAULT_URL})`)
    .option('--api-key <key>', "API key [env PORTCULLIS_API_KEY] (default: the local emulator's admin key)")
    .option('--ca-file <file>', 'CA certificate (PEM) to trust [env PORTCULLIS_CA_FILE]')
    .option('--insecure', 'skip TLS certificate verification (not for production)')
    .option('--json', "print the API's JSON instead of tables")
    .addHelpText('after', CONNECTION_HELP);

  program.addCommand(rulesCommand(runtime));
  program.addCommand(exemptionsCommand(runtime));
  program.addCommand(clustersCommand(runtime));
  program.addCommand(findingsCommand(runtime));
  program.addCommand(imagesCommand(runtime));
  program.addCommand(registriesCommand(runtime));
  program.addCommand(admissionsCommand(runtime));
  program.addCommand(exposureCommand(runtime));
  program.addCommand(evaluateCommand(runtime));
  program
    .command('version')
    .description('print the version')
    .action(action(runtime, async (ctx) => ctx.print(packageJson.version)));

  configure(program, runtime.io);
  return program;
}

/** Same output, error and help settings on every command (addCommand does not inherit them). */
function configure(command: Command, io: Io): void {
  command
    .exitOverride()
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => write(`portcullis: ${text.replace(/^error: /, '')}`),
    });
  for (const sub of command.commands) configure(sub, io);
}

/**
 * Runs the CLI with `argv` (without node and the script) and resolves with the exit code.
 *
 * @example process.exitCode = await run(process.argv.slice(2), nodeIo())
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const runtime: Runtime = { io, exitCode: 0 };
  const program = buildProgram(runtime);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return runtime.exitCode;
  } catch (error) {
    // Commander has already printed its usage errors, help and version.
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliError) {
      io.stderr(`portcullis: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(
      `portcullis: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
