/** `portcullis admissions list`: the Admission Monitoring records, filtered, page by page. */
import { Command, InvalidArgumentError } from 'commander';
import type { AdmissionEvent } from '../../core/domain.js';
import { action, oneOf, positiveInt, type Runtime } from '../command.js';
import { CliError } from '../errors.js';
import { isoSeconds, table } from '../output.js';
import { DECISIONS } from '../vocabulary.js';

interface ListOptions {
  cluster?: string;
  namespace?: string;
  decision?: string;
  image?: string;
  rule?: string;
  since?: number;
  from?: string;
  to?: string;
  limit?: number;
  all?: boolean;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30m`, `1h`, `7d`, `2w` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (m === null || Number(m[1]) === 0) {
    throw new InvalidArgumentError('expected a duration such as 30m, 1h, 7d or 2w');
  }
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Any time Date understands (`2024-05-01`, `2024-05-01T12:00:00+02:00`), as the API's ISO form. */
function parseTime(text: string): string {
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new InvalidArgumentError('expected an ISO 8601 time such as 2024-05-01T12:00:00Z');
  return new Date(t).toISOString();
}

function rulesOf(event: AdmissionEvent): string {
  const names = new Set(event.images.flatMap((i) => i.triggeredRules.map((r) => r.ruleName)));
  return names.size === 0 ? '-' : [...names].join(',');
}

/** Builds the `admissions` command group. */
export function admissionsCommand(runtime: Runtime): Command {
  const admissions = new Command('admissions').description('admission monitoring: what the webhook decided');

  admissions
    .command('list')
    .alias('ls')
    .description('list admission decisions, newest first')
    .option('--cluster <name>', 'only this cluster')
    .option('--namespace <ns>', 'only this namespace')
    .option('--decision <decision>', 'Allowed, Audited or Denied', oneOf(DECISIONS))
    .option('--image <ref>', 'only events with this image')
    .option('--rule <name>', 'only events this rule triggered on')
    .option('--since <duration>', 'only the last 30m, 1h, 7d, ...', parseDuration)
    .option('--from <time>', 'from this time (ISO 8601)', parseTime)
    .option('--to <time>', 'until this time (ISO 8601)', parseTime)
    .option(
      '--limit <n>',
      'at most n events (1-500, default 50); with --all, the page size',
      positiveInt(500),
    )
    .option('--all', 'follow every page')
    .action(
      action<ListOptions>(runtime, async (ctx, _args, o) => {
        if (o.since !== undefined && o.from !== undefined)
          throw new CliError('use --since or --from, not both');
        const from =
          o.since !== undefined ? new Date(ctx.io.now().getTime() - o.since).toISOString() : o.from;
        const items: AdmissionEvent[] = [];
        let cursor: string | undefined;
        let next: string | null = null;
        do {
          const { data } = await ctx
            .client()
            .get<{ items: AdmissionEvent[]; nextCursor: string | null }>('/admissions', {
              query: {
                cluster: o.cluster,
                namespace: o.namespace,
                decision: o.decision,
                image: o.image,
                rule: o.rule,
                from,
                to: o.to,
                limit: o.limit,
                cursor,
              },
            });
          items.push(...data.items);
          next = data.nextCursor;
          cursor = next ?? undefined;
        } while (o.all === true && next !== null);
        if (ctx.json) return ctx.printJson({ items, nextCursor: next });
        if (items.length === 0) return ctx.note('no admission events found');
        ctx.print(
          table(
            ['TIME', 'CLUSTER', 'NAMESPACE', 'KIND', 'NAME', 'OPERATION', 'DECISION', 'RULES', 'USER'],
            items.map((e) => [
              isoSeconds(e.time),
              e.cluster,
              e.namespace,
              e.kind,
              e.name,
              e.operation + (e.dryRun ? ' (dry run)' : ''),
              e.decision,
              rulesOf(e),
              e.user,
            ]),
          ),
        );
        if (next !== null) ctx.note('more events: pass --all, or narrow with --since and filters');
      }),
    );

  return admissions;
}
