/** `portcullis findings import` and `portcullis images list|show`: scan results in and out. */
import { Command } from 'commander';
import type { ImageScan, SeverityCounts } from '../../core/domain.js';
import { segment } from '../client.js';
import { action, oneOf, positiveInt, type Runtime } from '../command.js';
import { age, orNone, plural, severityRank, table } from '../output.js';
import { SCAN_STATUSES } from '../vocabulary.js';

type ImageSummary = Omit<ImageScan, 'vulnerabilities'>;

interface ImportOptions {
  filename: string;
  format: string;
  image?: string;
  region?: string;
}

interface ListOptions {
  registry?: string;
  repository?: string;
  status?: string;
  limit?: number;
  all?: boolean;
}

const COUNT_COLUMNS = ['Critical', 'High', 'Medium', 'Low'] as const;

/** Builds the `findings` command group. */
export function findingsCommand(runtime: Runtime): Command {
  const findings = new Command('findings').description('vulnerability findings from scanners');
  findings
    .command('import')
    .description("import a scanner report (replaces that image digest's scan from that source)")
    .requiredOption('-f, --filename <file>', 'the report as the tool wrote it; - for stdin')
    .requiredOption(
      '--format <format>',
      'report format: native, trivy, grype, ecr, inspector2, azure-resource-graph or grafeas',
    )
    .option(
      '--image <ref>',
      'the image, REGISTRY/REPO:TAG@sha256:..., for reports that carry no repository digest',
    )
    .option('--region <region>', 'AWS region, for ECR payloads')
    .addHelpText(
      'after',
      `
Example:
  trivy image --format json ghcr.io/acme/api:1.4 > scan.json
  portcullis findings import -f scan.json --format trivy --image ghcr.io/acme/api:1.4@sha256:<digest>`,
    )
    .action(
      action<ImportOptions>(runtime, async (ctx, _args, o) => {
        const input = await ctx.readInput(o.filename);
        const { data } = await ctx
          .client()
          .post<{ images: number; vulnerabilities: number }>('/findings:import', {
            query: { format: o.format, image: o.image, region: o.region },
            body: input.data,
          });
        if (ctx.json) return ctx.printJson(data);
        ctx.print(
          `imported ${plural(data.images, 'image')} with ${plural(data.vulnerabilities, 'vulnerability', 'vulnerabilities')} from ${input.name}`,
        );
      }),
    );
  return findings;
}

function countCells(counts: SeverityCounts): string[] {
  return COUNT_COLUMNS.map((s) => String(counts[s]));
}

/** Accepts `sha256:...` or a reference pinned by digest (`repo@sha256:...`). */
function digestOf(text: string): string {
  const at = text.lastIndexOf('@');
  return at >= 0 ? text.slice(at + 1) : text;
}

/** Builds the `images` command group. */
export function imagesCommand(runtime: Runtime): Command {
  const images = new Command('images').description('scanned images');

  images
    .command('list')
    .alias('ls')
    .description('list images by their newest scan')
    .option('--registry <host>', 'only this registry host')
    .option('--repository <path>', 'only this repository (path without host)')
    .option('--status <status>', `only this scan status: ${SCAN_STATUSES.join(', ')}`, oneOf(SCAN_STATUSES))
    .option(
      '--limit <n>',
      'at most n images (1-500, default 100); with --all, the page size',
      positiveInt(500),
    )
    .option('--all', 'every page')
    .action(
      action<ListOptions>(runtime, async (ctx, _args, o) => {
        const items: ImageSummary[] = [];
        let cursor: string | undefined;
        let next: string | null = null;
        do {
          const { data } = await ctx
            .client()
            .get<{ items: ImageSummary[]; nextCursor: string | null }>('/images', {
              query: {
                registry: o.registry,
                repository: o.repository,
                status: o.status,
                limit: o.limit,
                cursor,
              },
            });
          items.push(...data.items);
          next = data.nextCursor;
          cursor = next ?? undefined;
        } while (o.all === true && next !== null);
        if (ctx.json) return ctx.printJson({ items, nextCursor: next });
        if (items.length === 0) return ctx.note('no images found');
        const now = ctx.io.now();
        ctx.print(
          table(
            ['IMAGE', 'DIGEST', 'TAGS', 'SOURCE', 'STATUS', 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'SCANNED'],
            items.map((i) => [
              `${i.registry}/${i.repository}`,
              i.digest,
              orNone(i.tags.join(',')),
              i.source,
              i.status,
              ...countCells(i.counts),
              age(i.scannedAt, now),
            ]),
          ),
        );
        if (next !== null) ctx.note('more images: pass --all, or narrow with --registry / --repository');
      }),
    );

  images
    .command('show')
    .argument('<digest>', 'image digest (sha256:...), or a reference pinned by digest')
    .description("an image's newest scan with its vulnerabilities, most severe first")
    .action(
      action(runtime, async (ctx, [ref]) => {
        const { data: scan } = await ctx.client().get<ImageScan>(`/images/${segment(digestOf(ref!))}`);
        if (ctx.json) return ctx.printJson(scan);
        const c = scan.counts;
        ctx.print(`Image:       ${scan.registry}/${scan.repository}`);
        ctx.print(`Digest:      ${scan.digest}`);
        ctx.print(`Tags:        ${orNone(scan.tags.join(', '))}`);
        ctx.print(`Source:      ${scan.source}`);
        ctx.print(`Status:      ${scan.status}${scan.statusReason ? ` (${scan.statusReason})` : ''}`);
        ctx.print(`Scanned at:  ${scan.scannedAt}`);
        ctx.print(
          `Counts:      ${c.Critical} Critical, ${c.High} High, ${c.Medium} Medium, ${c.Low} Low, ${c.Negligible} Negligible`,
        );
        ctx.print();
        const vulns = [...scan.vulnerabilities].sort(
          (a, b) =>
            severityRank(b.severity) - severityRank(a.severity) ||
            (b.cvss ?? -1) - (a.cvss ?? -1) ||
            a.id.localeCompare(b.id) ||
            (a.package ?? '').localeCompare(b.package ?? ''),
        );
        if (vulns.length === 0) return ctx.print('No vulnerabilities.');
        ctx.print(
          table(
            ['ID', 'SEVERITY', 'CVSS', 'PACKAGE', 'VERSION', 'FIXED IN', 'STATE'],
            vulns.map((v) => [
              v.id,
              v.originalSeverity !== undefined &&
              v.originalSeverity.toLowerCase() !== v.severity.toLowerCase()
                ? `${v.severity} (${v.originalSeverity})`
                : v.severity,
              v.cvss === undefined ? '-' : v.cvss.toFixed(1),
              orNone(v.package),
              orNone(v.version),
              orNone(v.fixedVersion),
              v.state ?? 'Active',
            ]),
          ),
        );
      }),
    );

  return images;
}
