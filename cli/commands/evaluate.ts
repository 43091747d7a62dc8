/**
 * `portcullis evaluate -f manifest.yaml`: the what-if for CI pipelines. Each object of the
 * manifest is evaluated by the API as the webhook would; nothing is recorded. Exit code 0 when
 * everything would be admitted (audits are printed as warnings), 2 when anything would be
 * denied, 1 when the evaluation itself failed.
 */
import { Command } from 'commander';
import type { Decision } from '../../core/domain.js';
import { action, type Runtime } from '../command.js';
import type { Context } from '../context.js';
import { type ManifestObject, manifestObjects, parseDocuments } from '../documents.js';
import { ApiError, CliError } from '../errors.js';
import { plural } from '../output.js';

/** The exit code when any object would be denied. */
export const EXIT_DENIED = 2;

/** Kinds that always carry a pod spec: if the API cannot evaluate one, that is an error, not a skip. */
const WORKLOAD_KINDS = new Set([
  'Pod',
  'Deployment',
  'ReplicaSet',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
  'ReplicationController',
]);

interface WhatIf {
  decision: Decision;
  message: string;
  warnings: string[];
  kind: string;
  name: string;
  namespace: string;
  rulesetVersion: string;
}

interface EvaluateOptions {
  filename: string;
  cluster?: string;
  namespace?: string;
}

function label(kind: string, namespace: string | undefined, name: string): string {
  return namespace === undefined || namespace === '' ? `${kind}/${name}` : `${kind} ${namespace}/${name}`;
}

/** The object with the default namespace filled in, as `kubectl apply -n` would. */
function withNamespace(item: ManifestObject, namespace: string | undefined): Record<string, unknown> {
  if (namespace === undefined || item.namespace !== undefined) return item.object;
  const metadata = (item.object.metadata ?? {}) as Record<string, unknown>;
  return { ...item.object, metadata: { ...metadata, namespace } };
}

async function evaluateAll(ctx: Context, o: EvaluateOptions): Promise<number> {
  const input = await ctx.readInput(o.filename);
  const objects = manifestObjects(input.name, parseDocuments(input.name, input.data.toString('utf8')));
  if (objects.length === 0) throw new CliError(`${input.name}: no Kubernetes objects found`);

  const results: WhatIf[] = [];
  const skipped: { kind: string; name: string; namespace?: string; reason: string }[] = [];
  for (const item of objects) {
    const object = withNamespace(item, o.namespace);
    try {
      const { data } = await ctx.client().post<WhatIf>('/evaluate', {
        body: o.cluster === undefined ? { object } : { cluster: o.cluster, object },
      });
      results.push(data);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 400) throw error;
      // The API answers 400 for an object it does not gate (no pod template): skipped, not an
      // error. A workload kind always has one, so there a 400 means the manifest is broken.
      if (WORKLOAD_KINDS.has(item.kind)) {
        throw new CliError(`${label(item.kind, item.namespace, item.name)}: ${error.message}`);
      }
      const namespace = item.namespace ?? o.namespace;
      skipped.push({ kind: item.kind, name: item.name, namespace, reason: error.apiMessage });
      if (!ctx.json)
        ctx.note(`skipped ${label(item.kind, namespace, item.name)}: not gated (no pod template)`);
    }
  }

  const denied = results.filter((r) => r.decision === 'Denied').length;
  if (ctx.json) {
    ctx.printJson({ items: results, skipped });
  } else {
    for (const r of results) {
      ctx.print(`${label(r.kind, r.namespace, r.name)}: ${r.decision}`);
      if (r.decision === 'Denied') ctx.print(`  ${r.message}`);
      for (const w of r.warnings) ctx.print(`  warning: ${w}`);
    }
    const audited = results.filter((r) => r.decision === 'Audited').length;
    const allowed = results.length - denied - audited;
    const tail = skipped.length > 0 ? `; ${skipped.length} skipped` : '';
    ctx.print(
      `${plural(results.length, 'object')} evaluated: ${allowed} allowed, ${audited} audited, ${denied} denied${tail}`,
    );
  }
  return denied > 0 ? EXIT_DENIED : 0;
}

/** Builds the `evaluate` command. */
export function evaluateCommand(runtime: Runtime): Command {
  return new Command('evaluate')
    .description('what-if: would Portcullis admit these objects? (for CI; nothing is recorded)')
    .requiredOption(
      '-f, --filename <file>',
      'manifest: several documents and kind: List allowed; - for stdin',
    )
    .option(
      '--cluster <name>',
      'evaluate as this registered cluster would (its name matters to cluster-scoped rules)',
    )
    .option('-n, --namespace <ns>', 'namespace for objects that name none (default: default)')
    .addHelpText(
      'after',
      `
Exit codes: 0 every object would be allowed or audited (audit warnings are printed),
            2 at least one would be denied, 1 the evaluation failed (bad file, unknown cluster, ...).
Objects without a pod template (Services, ConfigMaps, ...) are skipped with a note on stderr.

Example:
  kustomize build overlays/prod | portcullis evaluate -f - --cluster prod-eks`,
    )
    .action(action<EvaluateOptions>(runtime, async (ctx, _args, o) => evaluateAll(ctx, o)));
}
