/**
 * `portcullis admissions list` and `tail`: the Admission Monitoring records, filtered, page by
 * page — or followed as they are recorded.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { AdmissionEvent } from '../../core/domain.js';
import { action, oneOf, positiveInt, type Runtime } from '../command.js';
import type { Context } from '../context.js';
import { CliError, ConnectionError } from '../errors.js';
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

export function rulesOf(event: AdmissionEvent): string {
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

  admissions
    .command('tail')
    .description('print the newest decisions, then follow new ones as they are recorded (Ctrl-C to stop)')
    .option('--cluster <name>', 'only this cluster')
    .option('--namespace <ns>', 'only this namespace')
    .option('--decision <decision>', 'Allowed, Audited or Denied', oneOf(DECISIONS))
    .option('--image <ref>', 'only events with this image')
    .option('--rule <name>', 'only events this rule triggered on')
    .option('-n, --lines <n>', 'how many recent events to print first (0-500, default 10)', lineCount, 10)
    .option(
      '--interval <duration>',
      'how often to ask for new events: 500ms, 2s, 1m (default 2s)',
      parseInterval,
      2000,
    )
    .addHelpText(
      'after',
      `
Each event is printed once, oldest first; with --json, one JSON object per line.

Example:
  portcullis admissions tail --decision Denied --namespace payments`,
    )
    .action(action<TailOptions>(runtime, (ctx, _args, o) => tail(ctx, o)));

  return admissions;
}

interface TailOptions {
  cluster?: string;
  namespace?: string;
  decision?: string;
  image?: string;
  rule?: string;
  lines: number;
  interval: number;
}

/** Events recorded up to this long before the newest one seen are asked for again: clocks of
 * several instances differ a little, and an event is written a moment after its time. */
const TAIL_OVERLAP_MS = 10_000;
/** At most this many pages are read per poll (a burst beyond it is printed on the next). */
const TAIL_MAX_PAGES = 20;

function lineCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 500)
    throw new InvalidArgumentError('expected a whole number from 0 to 500');
  return n;
}

/** `500ms`, `2s`, `1m` → milliseconds (at least 200 ms). */
export function parseInterval(text: string): number {
  const m = /^(\d+)\s*ms$/.exec(text.trim());
  const ms = m !== null ? Number(m[1]) : parseDuration(text);
  if (ms < 200) throw new InvalidArgumentError('the interval must be at least 200ms');
  return ms;
}

/** One line per event: time, decision, where, what, and why. */
export function tailLine(e: AdmissionEvent): string {
  const rules = rulesOf(e);
  return [
    isoSeconds(e.time),
    e.decision.padEnd(7),
    `${e.cluster}/${e.namespace}`,
    `${e.kind}/${e.name}`,
    e.operation + (e.dryRun ? '(dry-run)' : ''),
    `rules=${rules}`,
    `user=${e.user || '-'}`,
    `uid=${e.uid}`,
  ].join('  ');
}

const byTime = (a: AdmissionEvent, b: AdmissionEvent) =>
  Date.parse(a.time) - Date.parse(b.time) || a.id.localeCompare(b.id);

async function tail(ctx: Context, o: TailOptions): Promise<void> {
  const filters = {
    cluster: o.cluster,
    namespace: o.namespace,
    decision: o.decision,
    image: o.image,
    rule: o.rule,
  };
  const client = ctx.client();
  const print = (e: AdmissionEvent) =>
    ctx.json ? ctx.io.stdout(`${JSON.stringify(e)}\n`) : ctx.print(tailLine(e));
  // id -> time in ms of every event printed (or skipped) within the overlap window.
  const seen = new Map<string, number>();
  let newest = Number.NEGATIVE_INFINITY;
  const remember = (e: AdmissionEvent) => {
    const t = Date.parse(e.time);
    seen.set(e.id, t);
    if (t > newest) newest = t;
  };

  /** Events from `from` on (newest first), following pages up to a bound. */
  const fetchSince = async (from: string | undefined): Promise<AdmissionEvent[]> => {
    const items: AdmissionEvent[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { data } = await client.get<{ items: AdmissionEvent[]; nextCursor: string | null }>(
        '/admissions',
        {
          query: { ...filters, from, limit: 500, cursor },
        },
      );
      items.push(...data.items);
      cursor = data.nextCursor ?? undefined;
    } while (cursor !== undefined && ++pages < TAIL_MAX_PAGES);
    return items;
  };
  const first = await client.get<{ items: AdmissionEvent[] }>('/admissions', {
    query: { ...filters, limit: Math.max(1, o.lines) },
  });
  const recent = [...first.data.items].sort(byTime);
  for (const e of recent) remember(e);
  // Everything recorded from (newest - overlap) on is what the first poll asks for again:
  // mark it seen, so that only what comes after the recent lines is printed.
  if (Number.isFinite(newest)) {
    for (const e of await fetchSince(new Date(newest - TAIL_OVERLAP_MS).toISOString())) remember(e);
  }
  for (const e of o.lines === 0 ? [] : recent) print(e);

  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  const release = ctx.io.onInterrupt?.(stop) ?? (() => {});
  ctx.note(`following new admission events every ${o.interval / 1000} s (Ctrl-C to stop)`);
  let failing = false;
  try {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, o.interval);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stopped) break;
      const from = Number.isFinite(newest) ? new Date(newest - TAIL_OVERLAP_MS).toISOString() : undefined;
      let fresh: AdmissionEvent[];
      try {
        fresh = (await fetchSince(from)).filter((e) => !seen.has(e.id));
        if (failing) ctx.note('connection restored');
        failing = false;
      } catch (error) {
        // A server restart or a network blip must not end a tail; a refused call must.
        if (!(error instanceof ConnectionError)) throw error;
        if (!failing) ctx.warn(`${error.message}; retrying every ${o.interval / 1000} s`);
        failing = true;
        continue;
      }
      for (const e of fresh.sort(byTime)) {
        remember(e);
        print(e);
      }
      for (const [id, t] of seen) if (t < newest - 2 * TAIL_OVERLAP_MS) seen.delete(id);
    }
  } finally {
    release();
  }
}
