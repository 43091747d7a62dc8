/**
 * Which image a scanner report describes. Reports name images loosely (a tarball path, a tag,
 * Docker's `<none>@<none>`), and an image's scan is keyed by its repository digest: the
 * config digest (`ImageID`, `ArtifactID`, `imageID`) is not one and is never used.
 */
import { ValidationError } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';

/** A parsed reference: `tag` only when the text spelled one out (no implied `latest`). */
export interface ReportRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Registry, repository and digest of one scanned image, with its tags in that repository. */
export interface ImageIdentity {
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
}

/** The references a report carries, in the order the converter trusts them. */
export interface ReportRefs {
  /** References with a digest (`RepoDigests`, `repoDigests`, a digest-pinned input). */
  digestRefs: readonly unknown[];
  /** Tagged references (`RepoTags`, `tags`). */
  tagRefs: readonly unknown[];
  /** What the user asked the scanner to scan, to choose among several repositories. */
  scanned?: unknown;
}

const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** Archive paths and relative or absolute file names: what a scanner read, not a registry image. */
const FILE_LIKE = /^[./~]|\.(?:tar|tgz|tar\.gz|tar\.zst|oci|sif)$/i;

export const MISSING_DIGEST_HINT = 'image=REGISTRY/REPO:TAG@sha256:...';

/** True when the last path component of `text` (before any digest) spells out a tag. */
function hasExplicitTag(text: string): boolean {
  const name = text.split('@')[0] ?? '';
  return name.slice(name.lastIndexOf('/') + 1).includes(':');
}

function toReportRef(text: string): ReportRef {
  const parsed = parseImageRef(text);
  let { registry, repository } = parsed;
  // Grype writes `index.docker.io/library/alpine@...`; Docker Hub has one name in the domain.
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) {
    registry = 'docker.io';
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  const ref: ReportRef = { registry, repository };
  if (parsed.tag !== undefined && hasExplicitTag(text)) ref.tag = parsed.tag;
  if (parsed.digest !== undefined) ref.digest = parsed.digest;
  return ref;
}

/**
 * Parses a reference found inside a report, or undefined when it is not one (a file path
 * that does not parse, Docker's `<none>:<none>`, a non-string).
 */
export function refFromReport(raw: unknown): ReportRef | undefined {
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (text === '' || text.length > 1024 || text.includes('<none>') || FILE_LIKE.test(text)) return undefined;
  try {
    return toReportRef(text);
  } catch (e) {
    if (e instanceof ValidationError) return undefined;
    throw e;
  }
}

/** Parses the caller's `image` option; its mistakes are the caller's, so they are reported. */
export function refFromOption(image: string): ReportRef {
  try {
    return toReportRef(image.trim());
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    throw new ValidationError(`image "${image.slice(0, 256)}" is not an image reference: ${e.message}`, {
      details: [{ path: 'image', message: e.message }],
      cause: e,
    });
  }
}

function sameRepository(a: ReportRef): (b: ReportRef | undefined) => boolean {
  const key = `${a.registry}/${a.repository}`.toLowerCase();
  return (b) => b !== undefined && `${b.registry}/${b.repository}`.toLowerCase() === key;
}

function missingDigest(source: string, named: ReportRef | undefined): ValidationError {
  const example = named
    ? ` (e.g. image=${named.registry}/${named.repository}${named.tag ? `:${named.tag}` : ''}@sha256:<digest>)`
    : '';
  return new ValidationError(
    `the ${source} report carries no repository digest for its image; pass ${MISSING_DIGEST_HINT} ` +
      `to say which image it describes${example}`,
    { details: [{ path: 'image', message: `required: a reference with a digest, ${MISSING_DIGEST_HINT}` }] },
  );
}

/**
 * Decides the identity of a report's image. The report's repository digests name it (the one
 * in the repository that was scanned first); tags come only from that same repository. The
 * `image` option wins: with a digest it is the whole identity, tag-only it names the repository
 * and the report supplies the digest. Throws ValidationError asking for
 * `image=REGISTRY/REPO:TAG@sha256:...` when no digest can be found.
 */
export function resolveIdentity(source: string, refs: ReportRefs, image?: string): ImageIdentity {
  const digested = refs.digestRefs.map(refFromReport).filter((r): r is ReportRef => r?.digest !== undefined);
  const tagged = [...refs.tagRefs, ...refs.digestRefs]
    .map(refFromReport)
    .filter((r): r is ReportRef => r?.tag !== undefined);
  const override = image?.trim() ? refFromOption(image) : undefined;

  let base: ReportRef;
  let digest: string;
  if (override?.digest !== undefined) {
    base = override;
    digest = override.digest;
  } else {
    const wanted = override ?? refFromReport(refs.scanned);
    const chosen = (wanted && digested.find(sameRepository(wanted))) || digested[0];
    if (chosen?.digest === undefined) throw missingDigest(source, override ?? tagged[0] ?? wanted);
    base = override ?? chosen;
    digest = chosen.digest;
  }
  const inRepository = sameRepository(base);
  const tags = [override?.tag, ...tagged.filter(inRepository).map((r) => r.tag)].filter(
    (t): t is string => t !== undefined,
  );
  return { registry: base.registry, repository: base.repository, digest, tags: [...new Set(tags)] };
}
