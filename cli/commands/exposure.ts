/** `portcullis exposure`: admitted workloads that today's rules and findings would deny or audit. */
import { Command } from 'commander';
import type { ExposureReport } from '../../core/services/exposure.js';
import { action, oneOf, type Runtime } from '../command.js';
import { clip, isoSeconds, table } from '../output.js';

interface ExposureOptions {
  cluster?: string;
  namespace?: string;
  decision?: string;
}

const CVES_SHOWN = 3;

function cveCell(cves: readonly string[]): string {
  if (cves.length === 0) return '-';
  const shown = cves.slice(0, CVES_SHOWN).join(',');
  return cves.length > CVES_SHOWN ? `${shown} +${cves.length - CVES_SHOWN}` : shown;
}

/** Builds the `exposure` command. */
export function exposureCommand(runtime: Runtime): Command {
  return new Command('exposure')
    .description(
      'workloads admitted within the retention window that the current rules and findings would now deny or audit',
    )
    .option('--cluster <name>', 'only this cluster')
    .option('--namespace <ns>', 'only this namespace')
    .option(
      '--decision <decision>',
      'only those that would now be Denied, or Audited',
      oneOf(['Denied', 'Audited']),
    )
    .addHelpText(
      'after',
      `
Each workload's latest admitted version is re-evaluated with today's rules and the newest scans
of the image digests it was admitted with. Deletions are not sent to the webhook, so a listed
workload may no longer run.

Example:
  portcullis exposure --namespace payments --decision Denied`,
    )
    .action(
      action<ExposureOptions>(runtime, async (ctx, _args, o) => {
        const { data } = await ctx.client().get<ExposureReport>('/exposure', {
          query: { cluster: o.cluster, namespace: o.namespace, decision: o.decision },
        });
        if (ctx.json) return ctx.printJson(data);
        for (const note of data.notes) ctx.note(note);
        if (data.items.length === 0) {
          return ctx.note(
            `no admitted workload would be denied or audited now (${data.workloads} checked since ${isoSeconds(data.window.from)})`,
          );
        }
        ctx.print(
          table(
            ['NOW', 'ADMITTED', 'CLUSTER', 'NAMESPACE', 'WORKLOAD', 'ADMITTED AT', 'RULES', 'CVES', 'IMAGES'],
            data.items.map((w) => [
              w.decision,
              w.admittedDecision + (w.stricterThanAdmitted ? '*' : ''),
              w.cluster,
              w.namespace,
              `${w.kind}/${w.name}`,
              isoSeconds(w.admittedAt),
              w.rules.join(','),
              cveCell(w.cves),
              clip(w.images.map((i) => i.reference).join(','), 80),
            ]),
          ),
        );
        const denied = data.items.filter((w) => w.decision === 'Denied').length;
        ctx.note(
          `${denied} would be denied, ${data.items.length - denied} audited, of ${data.workloads} admitted workloads checked (* = stricter than when admitted)`,
        );
      }),
    );
}
