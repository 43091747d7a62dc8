/**
 * `portcullis registries ...`: the registry connectors whose scanners' findings Portcullis
 * syncs (ECR/Inspector, ACR/Defender, GAR/Artifact Analysis), their on-demand sync with a
 * progress bar, and the record of their runs.
 */
import { Command, Option } from 'commander';
import type { SyncRun } from '../../core/domain.js';
import { REGISTRY_KINDS, type RegistryConfig, type RegistryKind } from '../../core/sync.js';
import { segment } from '../client.js';
import { action, oneOf, positiveInt, type Runtime } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ConnectionError } from '../errors.js';
import { age, clip, isoSeconds, orNone, plural, table } from '../output.js';
import { formatDuration, ProgressReporter } from './sync-progress.js';

interface AddOptions {
  kind: RegistryKind;
  region?: string;
  registryId?: string;
  repository: string[];
  scanning?: string;
  subscription: string[];
  registry: string[];
  project: string[];
  location: string[];
  disabled?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Which `add` options belong to which kind, for a clear error when they are mixed. */
const KIND_OPTIONS: Record<RegistryKind, (keyof AddOptions)[]> = {
  ecr: ['region', 'registryId', 'repository', 'scanning'],
  acr: ['subscription', 'registry'],
  gar: ['project', 'location', 'repository'],
};
const FLAG: Partial<Record<keyof AddOptions, string>> = {
  region: '--region',
  registryId: '--registry-id',
  repository: '--repository',
  scanning: '--scanning',
  subscription: '--subscription',
  registry: '--registry',
  project: '--project',
  location: '--location',
};

/** The API body of `registries add` from its options; CliError for options of another kind. */
export function registryBody(name: string, o: AddOptions): Record<string, unknown> {
  for (const [key, flag] of Object.entries(FLAG) as [keyof AddOptions, string][]) {
    const value = o[key];
    const given = Array.isArray(value) ? value.length > 0 : value !== undefined;
    if (given && !KIND_OPTIONS[o.kind].includes(key)) {
      const kinds = REGISTRY_KINDS.filter((k) => KIND_OPTIONS[k].includes(key)).join(' or ');
      throw new CliError(`${flag} applies to --kind ${kinds}, not ${o.kind}`);
    }
  }
  const list = (values: string[]) => (values.length > 0 ? values : undefined);
  const settings: Record<string, unknown> =
    o.kind === 'ecr'
      ? {
          region: o.region,
          registryId: o.registryId,
          repositories: list(o.repository),
          scanning: o.scanning,
        }
      : o.kind === 'acr'
        ? { subscriptions: o.subscription, registries: list(o.registry) }
        : { projects: o.project, locations: list(o.location), repositories: list(o.repository) };
  if (o.kind === 'ecr' && o.region === undefined)
    throw new CliError('--kind ecr needs --region (e.g. us-east-1)');
  if (o.kind === 'acr' && o.subscription.length === 0) {
    throw new CliError('--kind acr needs at least one --subscription (a subscription id)');
  }
  if (o.kind === 'gar' && o.project.length === 0)
    throw new CliError('--kind gar needs at least one --project');
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  return { name, kind: o.kind, settings: defined, ...(o.disabled === true ? { enabled: false } : {}) };
}

/** Where a registry syncs from, in a few words: `us-east-1 enhanced`, `2 subscriptions`. */
export function scopeOf(r: RegistryConfig): string {
  const s = r.settings as Record<string, unknown>;
  const arr = (key: string) => (Array.isArray(s[key]) ? (s[key] as string[]) : []);
  const some = (values: string[], one: string) =>
    values.length === 1 ? values[0]! : values.length > 1 ? plural(values.length, one) : '';
  const parts =
    r.kind === 'ecr'
      ? [
          String(s.region ?? ''),
          String(s.scanning ?? ''),
          String(s.registryId ?? ''),
          some(arr('repositories'), 'prefix'),
        ]
      : r.kind === 'acr'
        ? [some(arr('subscriptions'), 'subscription'), some(arr('registries'), 'registry')]
        : [
            some(arr('projects'), 'project'),
            some(arr('locations'), 'location'),
            some(arr('repositories'), 'repository'),
          ];
  return parts.filter((p) => p !== '').join(' ');
}

async function runsOf(ctx: Context, ref: string, limit: number): Promise<SyncRun[]> {
  const path = `/registries/${segment(ref)}/runs`;
  return (await ctx.client().get<{ items: SyncRun[] }>(path, { query: { limit } })).data.items;
}

function duration(run: SyncRun): string {
  if (run.finishedAt === undefined) return '-';
  return formatDuration(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
}

/** Builds the `registries` command group. */
export function registriesCommand(runtime: Runtime): Command {
  const registries = new Command('registries').description(
    'registry connectors: the scanners whose findings Portcullis syncs, and their sync runs',
  );

  registries
    .command('add')
    .argument('<name>', 'a name for the connector (a DNS label: lower-case letters, digits, "-")')
    .description('add a registry connector; the scheduled findings sync picks it up')
    .addOption(
      new Option(
        '--kind <kind>',
        'ecr (Amazon ECR / Inspector), acr (Azure / Defender), gar (Google Artifact Registry)',
      )
        .argParser(oneOf(REGISTRY_KINDS))
        .makeOptionMandatory(),
    )
    .option('--region <region>', 'ecr: the AWS region, e.g. us-east-1')
    .option('--registry-id <account>', 'ecr: the registry’s 12-digit AWS account (default: the caller’s)')
    .option(
      '--repository <name>',
      'ecr: a repository name prefix; gar: a repository id (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option(
        '--scanning <mode>',
        'ecr: basic (ECR scan findings) or enhanced (Amazon Inspector)',
      ).choices(['basic', 'enhanced']),
    )
    .option('--subscription <id>', 'acr: an Azure subscription id (repeatable, at least one)', collect, [])
    .option(
      '--registry <login-server>',
      'acr: only this registry, e.g. myreg.azurecr.io (repeatable)',
      collect,
      [],
    )
    .option('--project <id>', 'gar: a Google Cloud project id (repeatable, at least one)', collect, [])
    .option(
      '--location <location>',
      'gar: only this location, e.g. us or europe-west1 (repeatable)',
      collect,
      [],
    )
    .option('--disabled', 'add it without scheduling its sync')
    .addHelpText(
      'after',
      `
Examples:
  portcullis registries add prod-ecr --kind ecr --region us-east-1 --scanning enhanced
  portcullis registries add prod-acr --kind acr --subscription 00000000-0000-0000-0000-000000000000
  portcullis registries add prod-gar --kind gar --project my-project --location europe-west1`,
    )
    .action(
      action<AddOptions>(runtime, async (ctx, [name], o) => {
        const body = registryBody(name!, o);
        const { data } = await ctx.client().post<RegistryConfig>('/registries', { body });
        if (ctx.json) return ctx.printJson(data);
        ctx.print(`registry/${data.name} added (${data.kind}: ${scopeOf(data)}; id ${data.id})`);
        if (data.enabled) ctx.note(`run "portcullis registries sync ${data.name}" to sync it now`);
      }),
    );

  registries
    .command('list')
    .alias('ls')
    .description('list registry connectors with their last sync')
    .action(
      action(runtime, async (ctx) => {
        const { items } = (await ctx.client().get<{ items: RegistryConfig[] }>('/registries')).data;
        if (ctx.json) return ctx.printJson({ items });
        if (items.length === 0) return ctx.note('no registries; see "portcullis registries add --help"');
        const runs = (await ctx.client().get<{ items: SyncRun[] }>('/syncruns', { query: { limit: 500 } }))
          .data.items;
        const last = new Map<string, SyncRun>();
        for (const run of runs) if (!last.has(run.registryId)) last.set(run.registryId, run);
        const now = ctx.io.now();
        ctx.print(
          table(
            ['NAME', 'KIND', 'ENABLED', 'SCOPE', 'LAST SYNC', 'STATUS', 'IMAGES', 'AGE'],
            items.map((r) => {
              const run = last.get(r.id);
              return [
                r.name,
                r.kind,
                r.enabled ? 'yes' : 'no',
                orNone(scopeOf(r)),
                run === undefined ? '<never>' : age(run.startedAt, now),
                run?.status ?? '-',
                run === undefined ? '-' : String(run.images),
                age(r.createdAt, now),
              ];
            }),
          ),
        );
      }),
    );

  registries
    .command('remove')
    .alias('rm')
    .argument('<registry>', 'registry name or id')
    .description('remove a registry connector with its checkpoint and runs (the synced scans stay)')
    .action(
      action(runtime, async (ctx, [ref]) => {
        await ctx.client().delete(`/registries/${segment(ref!)}`);
        if (ctx.json) return ctx.printJson({ removed: ref });
        ctx.print(`registry/${ref} removed`);
      }),
    );

  for (const verb of ['enable', 'disable'] as const) {
    registries
      .command(verb)
      .argument('<registry>', 'registry name or id')
      .description(`${verb} the scheduled sync of a registry (a manual sync works either way)`)
      .action(
        action(runtime, async (ctx, [ref]) => {
          const { data } = await ctx.client().post<RegistryConfig>(`/registries/${segment(ref!)}:${verb}`);
          if (ctx.json) return ctx.printJson(data);
          ctx.print(`registry/${data.name} ${verb}d`);
        }),
      );
  }

  registries
    .command('sync')
    .argument('<registry>', 'registry name or id')
    .description('sync a registry now, following the run to its end (exit 1 when it fails)')
    .option('--interval <ms>', 'how often to check the run, in milliseconds', positiveInt(60_000), 1000)
    .action(action<{ interval: number }>(runtime, (ctx, [ref], o) => syncNow(ctx, ref!, o.interval)));

  registries
    .command('runs')
    .argument('<registry>', 'registry name or id')
    .description('the sync runs of a registry, newest first')
    .option('--limit <n>', 'how many runs', positiveInt(500), 20)
    .action(
      action<{ limit: number }>(runtime, async (ctx, [ref], o) => {
        const items = await runsOf(ctx, ref!, o.limit);
        if (ctx.json) return ctx.printJson({ items });
        if (items.length === 0) return ctx.note(`registry ${ref} has not been synced yet`);
        ctx.print(
          table(
            ['STARTED', 'TRIGGER', 'STATUS', 'IMAGES', 'VULNERABILITIES', 'DURATION', 'ERRORS', 'ID'],
            items.map((r) => [
              isoSeconds(r.startedAt),
              r.trigger,
              r.status,
              String(r.images),
              String(r.vulnerabilities),
              duration(r),
              r.errors.length === 0 ? '-' : clip(r.errors[0]!, 60),
              r.id,
            ]),
          ),
        );
      }),
    );

  return registries;
}

/** Starts a run and follows it: a bar on a terminal, plain lines otherwise; the exit code says how it ended. */
async function syncNow(ctx: Context, ref: string, intervalMs: number): Promise<number> {
  const client = ctx.client();
  const started = await client.post<SyncRun>(`/registries/${segment(ref)}:sync`);
  let run = started.data;
  const progress = new ProgressReporter(ctx, run.registryName);
  let stopped = false;
  let wake: (() => void) | undefined;
  const release =
    ctx.io.onInterrupt?.(() => {
      stopped = true;
      wake?.();
    }) ?? (() => {});
  try {
    while (run.status === 'running' && !stopped) {
      progress.update(run);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) break;
      try {
        run = (await client.get<SyncRun>(`/syncruns/${segment(run.id)}`)).data;
      } catch (error) {
        // A blip while following must not abandon the run's outcome; a refused call must.
        if (!(error instanceof ConnectionError)) throw error;
      }
    }
  } finally {
    release();
    progress.done();
  }
  if (run.status === 'running') {
    ctx.note(
      `stopped following; the run goes on on the server: "portcullis registries runs ${run.registryName}" (run ${run.id})`,
    );
    return 130;
  }
  if (ctx.json) ctx.printJson(run);
  const counts = `${plural(run.images, 'image')}, ${plural(run.vulnerabilities, 'vulnerability', 'vulnerabilities')}`;
  if (run.status === 'succeeded') {
    if (!ctx.json)
      ctx.print(`registry/${run.registryName} synced: ${counts} in ${duration(run)} (run ${run.id})`);
    for (const e of run.errors) ctx.warn(e);
    return 0;
  }
  ctx.io.stderr(`portcullis: sync of ${run.registryName} failed after ${counts} (run ${run.id}):\n`);
  for (const e of run.errors) ctx.io.stderr(`  ${e}\n`);
  if (run.checkpointAfter !== undefined && run.checkpointAfter !== run.checkpointBefore) {
    ctx.io.stderr('  the next sync resumes where this one stopped\n');
  }
  return 1;
}
