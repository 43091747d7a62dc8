/** `portcullis exemptions ...`: grant, list and withdraw a rule's exemptions. */
import { Command } from 'commander';
import type { Exemption, Rule } from '../../core/domain.js';
import { segment } from '../client.js';
import { action, oneOf, type Runtime } from '../command.js';
import { clip, orNone, table } from '../output.js';
import { EXEMPTION_MATCHES, EXEMPTION_TYPES } from '../vocabulary.js';

interface AddOptions {
  type: string;
  value: string;
  reason: string;
  match?: string;
  expires?: string;
  ticket?: string;
}

/** "active", "expired" or "expires 2027-01-31": as evaluation sees it today (UTC). */
function status(e: Exemption, now: Date): string {
  if (e.expiresOn === undefined) return e.expired === true ? 'expired' : 'active';
  const ends = Date.parse(`${e.expiresOn}T00:00:00Z`) + 86_400_000;
  return now.getTime() < ends ? 'active' : 'expired';
}

/** Builds the `exemptions` command group. */
export function exemptionsCommand(runtime: Runtime): Command {
  const exemptions = new Command('exemptions').description("a rule's exemptions: list, add, remove");

  exemptions
    .command('list')
    .alias('ls')
    .argument('<rule>', 'rule name (or id)')
    .description("list a rule's exemptions, expired ones included")
    .action(
      action(runtime, async (ctx, [ruleName]) => {
        const { data: rule } = await ctx.client().get<Rule>(`/rules/${segment(ruleName!)}`);
        if (ctx.json) return ctx.printJson({ items: rule.exemptions });
        if (rule.exemptions.length === 0) return ctx.note(`rule/${rule.name} has no exemptions`);
        const now = ctx.io.now();
        ctx.print(
          table(
            ['ID', 'TYPE', 'MATCH', 'VALUE', 'EXPIRES', 'STATUS', 'TICKET', 'CREATED BY', 'REASON'],
            rule.exemptions.map((e) => [
              e.id,
              e.type,
              e.match,
              e.value,
              orNone(e.expiresOn),
              status(e, now),
              orNone(e.ticket),
              e.createdBy,
              clip(e.reason, 60),
            ]),
          ),
        );
      }),
    );

  exemptions
    .command('add')
    .argument('<rule>', 'rule name (or id)')
    .description('exempt a CVE, image digest, namespace, deployment, pod, registry or repository from a rule')
    .requiredOption(
      '--type <type>',
      `what is exempted: ${EXEMPTION_TYPES.join(', ')}`,
      oneOf(EXEMPTION_TYPES),
    )
    .requiredOption('--value <value>', 'the CVE id, digest, name, host or path')
    .requiredOption('--reason <reason>', 'why (kept on the record)')
    .option(
      '--match <match>',
      `how --value matches: ${EXEMPTION_MATCHES.join(', ')} (default Equals)`,
      oneOf(EXEMPTION_MATCHES),
    )
    .option('--expires <date>', 'last day it holds, YYYY-MM-DD (through the end of that day, UTC)')
    .option('--ticket <ticket>', 'change or risk-acceptance ticket')
    .addHelpText(
      'after',
      `
Example:
  portcullis exemptions add deny-critical-payments --type CVE --value CVE-2019-3462 \\
    --reason "no upstream fix; not reachable" --expires 2027-01-31 --ticket SEC-42`,
    )
    .action(
      action<AddOptions>(runtime, async (ctx, [ruleName], o) => {
        const body = {
          type: o.type,
          value: o.value,
          reason: o.reason,
          ...(o.match !== undefined ? { match: o.match } : {}),
          ...(o.expires !== undefined ? { expiresOn: o.expires } : {}),
          ...(o.ticket !== undefined ? { ticket: o.ticket } : {}),
        };
        const { data: rule } = await ctx
          .client()
          .post<Rule>(`/rules/${segment(ruleName!)}/exemptions`, { body });
        if (ctx.json) return ctx.printJson(rule);
        const added = rule.exemptions.at(-1);
        ctx.print(`exemption/${added?.id ?? '?'} added to rule/${rule.name} (${o.type} ${o.value})`);
      }),
    );

  exemptions
    .command('remove')
    .alias('rm')
    .argument('<rule>', 'rule name (or id)')
    .argument('<exemption-id>', 'the exemption id (see `exemptions list`)')
    .description('withdraw an exemption')
    .action(
      action(runtime, async (ctx, [ruleName, id]) => {
        const { data: rule } = await ctx
          .client()
          .delete<Rule>(`/rules/${segment(ruleName!)}/exemptions/${segment(id!)}`);
        if (ctx.json) return ctx.printJson(rule);
        ctx.print(`exemption/${id} removed from rule/${rule.name}`);
      }),
    );

  return exemptions;
}
