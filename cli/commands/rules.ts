/** `portcullis rules ...`: list, get, apply (rules as code), enable, disable, delete. */
import { Command } from 'commander';
import { stringify } from 'yaml';
import type { Rule } from '../../core/domain.js';
import { segment } from '../client.js';
import { action, type Runtime } from '../command.js';
import type { Context } from '../context.js';
import { parseDocuments, type RuleDocument, rulesFromDocuments } from '../documents.js';
import { ApiError } from '../errors.js';
import { age, clip, table } from '../output.js';

type ApplyResult = 'created' | 'configured' | 'unchanged';

function conditionsText(rule: Rule): string {
  const c = rule.conditions;
  const parts: string[] = [...c.severities];
  if (c.cves.length > 0) parts.push(c.cves.length <= 2 ? c.cves.join(',') : `${c.cves.length} CVEs`);
  if (c.minCvss !== undefined) parts.push(`cvss>=${c.minCvss}`);
  if (c.fixAvailableOnly === true) parts.push('fixable');
  if (rule.applyToUnscannedImages) parts.push('unscanned');
  return parts.join(',');
}

function scopeText(rule: Rule): string {
  const parts: string[] = [];
  const cloud = rule.scope.cloud;
  if (cloud !== undefined) {
    parts.push(
      cloud.accounts.length === 0 ? cloud.provider : `${cloud.provider}:${cloud.accounts.join('|')}`,
    );
  }
  for (const r of rule.scope.resources) {
    const op = { Equals: '=', NotEquals: '!=', StartsWith: '^=', EndsWith: '$=', Contains: '*=' }[r.match];
    parts.push(`${r.type}${op}${r.value}`);
  }
  return parts.length === 0 ? '*' : clip(parts.join(','), 60);
}

function actionText(rule: Rule): string {
  return rule.enforceFrom !== undefined ? `${rule.action} (from ${rule.enforceFrom})` : rule.action;
}

async function getRule(ctx: Context, name: string): Promise<Rule> {
  return (await ctx.client().get<Rule>(`/rules/${segment(name)}`)).data;
}

/** GET by name → POST when absent, else PUT with If-Match; "unchanged" when the version stays. */
async function applyOne(ctx: Context, doc: RuleDocument): Promise<{ result: ApplyResult; rule: Rule }> {
  const client = ctx.client();
  let current: Rule | undefined;
  try {
    current = await getRule(ctx, doc.name);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  if (current === undefined) {
    const created = await client.post<Rule>('/rules', { body: doc.body });
    return { result: 'created', rule: created.data };
  }
  // Exemptions are often granted one by one (`exemptions add`); a file that does not list
  // any leaves them alone, while a file that has `exemptions:` owns them.
  const body = 'exemptions' in doc.body ? doc.body : { ...doc.body, exemptions: current.exemptions };
  const updated = await client.put<Rule>(`/rules/${segment(current.id)}`, {
    body,
    headers: { 'if-match': `"${current.version}"` },
  });
  return {
    result: updated.data.version === current.version ? 'unchanged' : 'configured',
    rule: updated.data,
  };
}

/** Builds the `rules` command group. */
export function rulesCommand(runtime: Runtime): Command {
  const rules = new Command('rules').description(
    'security rules: list, show, apply as code, switch on and off',
  );

  rules
    .command('list')
    .alias('ls')
    .description('list every rule')
    .action(
      action(runtime, async (ctx) => {
        const { items } = (await ctx.client().get<{ items: Rule[] }>('/rules')).data;
        if (ctx.json) return ctx.printJson({ items });
        if (items.length === 0) return ctx.note('no rules found');
        const now = ctx.io.now();
        ctx.print(
          table(
            ['NAME', 'ENABLED', 'ACTION', 'CONDITIONS', 'SCOPE', 'EXEMPTIONS', 'VERSION', 'AGE'],
            items.map((r) => [
              r.name,
              String(r.enabled),
              actionText(r),
              conditionsText(r),
              scopeText(r),
              String(r.exemptions.length),
              r.version,
              age(r.createdAt, now),
            ]),
          ),
        );
      }),
    );

  rules
    .command('get')
    .argument('<name>', 'rule name (or id)')
    .description('show one rule as YAML (ready to edit and `rules apply`), or as JSON with --json')
    .action(
      action(runtime, async (ctx, [name]) => {
        const rule = await getRule(ctx, name!);
        if (ctx.json) return ctx.printJson(rule);
        ctx.io.stdout(stringify(rule));
      }),
    );

  rules
    .command('apply')
    .description('create or update rules from a YAML file (rules as code)')
    .requiredOption(
      '-f, --filename <file>',
      'YAML file: one rule, a list, {rules: [...]}, or several documents; - for stdin',
    )
    .addHelpText(
      'after',
      `
Each rule is looked up by name: created when absent, otherwise replaced (with If-Match on the
version read, so a concurrent edit fails instead of being overwritten). A rule whose file
content matches the server is left untouched. A rule without an "exemptions" key keeps the
exemptions it has on the server.

Example:
  portcullis rules apply -f rules/production.yaml
  rule/default-audit-high-critical unchanged
  rule/deny-critical-payments configured`,
    )
    .action(
      action<{ filename: string }>(runtime, async (ctx, _args, options) => {
        const input = await ctx.readInput(options.filename);
        const docs = rulesFromDocuments(input.name, parseDocuments(input.name, input.data.toString('utf8')));
        const results: { name: string; result: ApplyResult; rule: Rule }[] = [];
        for (const doc of docs) {
          const { result, rule } = await applyOne(ctx, doc);
          results.push({ name: rule.name, result, rule });
          if (!ctx.json) ctx.print(`rule/${rule.name} ${result}`);
        }
        if (ctx.json) ctx.printJson({ items: results });
      }),
    );

  for (const verb of ['enable', 'disable'] as const) {
    rules
      .command(verb)
      .argument('<name>', 'rule name (or id)')
      .description(
        verb === 'enable' ? 'switch a rule on' : 'switch a rule off (it stays, and can be enabled again)',
      )
      .action(
        action(runtime, async (ctx, [name]) => {
          const { data } = await ctx.client().post<Rule>(`/rules/${segment(name!)}:${verb}`);
          if (ctx.json) return ctx.printJson(data);
          ctx.print(`rule/${data.name} ${verb}d`);
        }),
      );
  }

  rules
    .command('delete')
    .alias('rm')
    .argument('<name>', 'rule name (or id)')
    .description('delete a rule and its exemptions')
    .action(
      action(runtime, async (ctx, [name]) => {
        const rule = await getRule(ctx, name!);
        await ctx
          .client()
          .delete(`/rules/${segment(rule.id)}`, { headers: { 'if-match': `"${rule.version}"` } });
        if (ctx.json) return ctx.printJson({ deleted: rule.name, id: rule.id });
        ctx.print(`rule/${rule.name} deleted`);
      }),
    );

  return rules;
}
