/** `portcullis clusters ...`: register a cluster (token + webhook configuration), list, revoke, rotate. */
import { Command, Option } from 'commander';
import type { Cluster } from '../../core/domain.js';
import { segment } from '../client.js';
import { action, oneOf, positiveInt, type Runtime } from '../command.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { age, orNone, table } from '../output.js';
import { FAILURE_POLICIES, PROVIDERS } from '../vocabulary.js';

interface Registration extends Cluster {
  token: string;
  webhookUrl: string;
  webhookConfiguration: string;
}

type OutputFormat = 'table' | 'yaml' | 'json';

const outputOption = () =>
  new Option(
    '-o, --output <format>',
    'table: everything, readable; yaml: only the ValidatingWebhookConfiguration (pipe to kubectl apply -f -); json: the API answer',
  )
    .choices(['table', 'yaml', 'json'])
    .default('table');

/** A cluster by id or name (the API addresses clusters by id). */
async function findCluster(ctx: Context, ref: string): Promise<Cluster> {
  const { items } = (await ctx.client().get<{ items: Cluster[] }>('/clusters')).data;
  const found =
    items.find((c) => c.id === ref) ?? items.find((c) => c.name.toLowerCase() === ref.toLowerCase());
  if (found === undefined) {
    throw new CliError(
      `cluster "${ref}" not found (neither a name nor an id); see "portcullis clusters list"`,
    );
  }
  return found;
}

function printRegistration(ctx: Context, reg: Registration, format: OutputFormat, verb: string): void {
  if (ctx.json || format === 'json') {
    ctx.printJson(reg);
    return;
  }
  if (format === 'yaml') {
    ctx.io.stdout(
      reg.webhookConfiguration.endsWith('\n') ? reg.webhookConfiguration : `${reg.webhookConfiguration}\n`,
    );
    ctx.warn(
      `cluster/${reg.name} ${verb}: its webhook token is in this configuration's URL and is shown only once`,
    );
    return;
  }
  ctx.print(`cluster/${reg.name} ${verb} (id ${reg.id})`);
  ctx.print();
  ctx.print('WARNING: the webhook token is shown only this once. Store it now (a secret manager);');
  ctx.print('Portcullis keeps only its hash. If it is lost, run "portcullis clusters rotate".');
  ctx.print();
  ctx.print(`Token:        ${reg.token}`);
  ctx.print(`Webhook URL:  ${reg.webhookUrl}`);
  ctx.print();
  ctx.io.stdout(
    reg.webhookConfiguration.endsWith('\n') ? reg.webhookConfiguration : `${reg.webhookConfiguration}\n`,
  );
}

/** Builds the `clusters` command group. */
export function clustersCommand(runtime: Runtime): Command {
  const clusters = new Command('clusters').description('registered clusters and their webhook tokens');

  clusters
    .command('register')
    .argument('<name>', 'cluster name (a DNS label: lower-case letters, digits, "-")')
    .description(
      'register a cluster: prints its webhook token (once), webhook URL and ValidatingWebhookConfiguration',
    )
    .addOption(
      new Option('--provider <provider>', 'where it runs').argParser(oneOf(PROVIDERS)).default('other'),
    )
    .option('--account <account>', 'Azure subscription, AWS account or GCP project id')
    .addOption(
      new Option('--failure-policy <policy>', 'what the API server does when Portcullis cannot answer')
        .argParser(oneOf(FAILURE_POLICIES))
        .default('Fail'),
    )
    .option('--timeout <seconds>', 'webhook timeout, 1-30 seconds (default 5)', positiveInt(30))
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Example:
  portcullis clusters register prod-eks --provider aws --account 123456789012 --output yaml | kubectl apply -f -`,
    )
    .action(
      action<{
        provider: string;
        account?: string;
        failurePolicy: string;
        timeout?: number;
        output: OutputFormat;
      }>(runtime, async (ctx, [name], o) => {
        const body = {
          name,
          provider: o.provider,
          failurePolicy: o.failurePolicy,
          ...(o.account !== undefined ? { account: o.account } : {}),
          ...(o.timeout !== undefined ? { timeoutSeconds: o.timeout } : {}),
        };
        const { data } = await ctx.client().post<Registration>('/clusters', { body });
        printRegistration(ctx, data, o.output, 'registered');
      }),
    );

  clusters
    .command('list')
    .alias('ls')
    .description('list registered clusters')
    .action(
      action(runtime, async (ctx) => {
        const { items } = (await ctx.client().get<{ items: Cluster[] }>('/clusters')).data;
        if (ctx.json) return ctx.printJson({ items });
        if (items.length === 0)
          return ctx.note('no clusters registered; see "portcullis clusters register --help"');
        const now = ctx.io.now();
        ctx.print(
          table(
            ['NAME', 'ID', 'PROVIDER', 'ACCOUNT', 'FAILURE POLICY', 'TIMEOUT', 'TOKEN AGE', 'AGE'],
            items.map((c) => [
              c.name,
              c.id,
              c.provider,
              orNone(c.account),
              c.failurePolicy,
              `${c.timeoutSeconds}s`,
              age(c.tokenRotatedAt, now),
              age(c.createdAt, now),
            ]),
          ),
        );
      }),
    );

  clusters
    .command('revoke')
    .argument('<cluster>', 'cluster name or id')
    .description('revoke a cluster: its webhook token stops working at once')
    .action(
      action(runtime, async (ctx, [ref]) => {
        const cluster = await findCluster(ctx, ref!);
        await ctx.client().delete(`/clusters/${segment(cluster.id)}`);
        if (ctx.json) return ctx.printJson({ revoked: cluster.name, id: cluster.id });
        ctx.print(`cluster/${cluster.name} revoked`);
        if (cluster.failurePolicy === 'Fail') {
          ctx.warn(
            `its webhook now answers 401 and failurePolicy is Fail: remove it from the cluster (kubectl delete validatingwebhookconfiguration portcullis) or deployments there will be refused`,
          );
        }
      }),
    );

  clusters
    .command('rotate')
    .argument('<cluster>', 'cluster name or id')
    .description('issue a new webhook token; the old one stops working at once')
    .addOption(outputOption())
    .action(
      action<{ output: OutputFormat }>(runtime, async (ctx, [ref], o) => {
        const cluster = await findCluster(ctx, ref!);
        const { data } = await ctx
          .client()
          .post<Registration>(`/clusters/${segment(cluster.id)}:rotate-token`);
        printRegistration(ctx, data, o.output, 'token rotated');
        if (!ctx.json && o.output === 'table') {
          ctx.warn('the old token no longer works: apply the new configuration to the cluster now');
        }
      }),
    );

  return clusters;
}
