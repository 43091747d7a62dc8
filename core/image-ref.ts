/**
 * Image references, normalized the way containerd and Docker do (the distribution
 * "reference" grammar plus Docker Hub's defaults), so that `nginx`,
 * `docker.io/library/nginx:latest` and `index.docker.io/library/nginx` are one image to
 * every rule, exemption and scan lookup.
 */
import { ValidationError } from './errors.js';

/** A parsed image reference; `normalized` is the form rules and monitoring show. */
export interface ImageRef {
  /** Lower-cased `host[:port]`; `docker.io` for Docker Hub under any of its names. */
  registry: string;
  /** The path without the host; `library/` prefixed for single-component Docker Hub names. */
  repository: string;
  /** `latest` when neither tag nor digest is given; kept when both are given. */
  tag?: string;
  /** `<algorithm>:<hex>`, e.g. `sha256:…`. */
  digest?: string;
  /** `registry/repository@digest` when there is a digest (it wins over a tag), else `registry/repository:tag`. */
  normalized: string;
}

const DOCKER_HUB = 'docker.io';
// index.docker.io is the legacy name runtimes rewrite; registry-1.docker.io is the API host
// people copy from pull logs. Both are Docker Hub, so scans and rules must see one name.
const DOCKER_HUB_ALIASES = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

// The grammar of github.com/distribution/reference (regexp.go), anchored.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^\w[\w.-]*$/;
const TAG_MAX = 128;
const NAME_MAX = 255;
const DIGEST = /^([a-z][a-z0-9]*(?:[-_+.][a-z][a-z0-9]*)*):([a-f0-9]+)$/;
// Runtimes accept only digests go-digest can verify, with the exact length of each hash.
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const IMAGE_ID = /^[a-f0-9]{64}$/;

function invalid(ref: string, reason: string): ValidationError {
  const shown = ref.length > 200 ? `${ref.slice(0, 200)}…` : ref;
  // JSON quoting makes whitespace and control characters visible in the message.
  return new ValidationError(`invalid image reference ${JSON.stringify(shown)}: ${reason}`);
}

/** Docker's rule: the first component names a host only if it cannot be a Docker Hub path. */
function isHost(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component.toLowerCase() === 'localhost' ||
    // A repository path is lower-case, so runtimes read an upper-case first component as a host.
    component !== component.toLowerCase()
  );
}

function checkDigest(ref: string, digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) {
    const hint = digest !== digest.toLowerCase() ? ' (runtimes accept lower case only)' : '';
    throw invalid(ref, `digest "${digest}" is not <algorithm>:<hex>${hint}`);
  }
  const expected = DIGEST_HEX_LENGTH[m[1]!];
  if (expected === undefined) throw invalid(ref, `unsupported digest algorithm "${m[1]}"`);
  if (m[2]!.length !== expected) {
    throw invalid(ref, `a ${m[1]} digest has ${expected} hex characters, not ${m[2]!.length}`);
  }
  return digest;
}

function checkTag(ref: string, tag: string): string {
  if (tag === '') throw invalid(ref, 'empty tag after ":"');
  if (tag.length > TAG_MAX) throw invalid(ref, `tag is longer than ${TAG_MAX} characters`);
  if (!TAG.test(tag)) {
    throw invalid(
      ref,
      `tag "${tag}" may use letters, digits, "_", "." and "-", and not start with "." or "-"`,
    );
  }
  return tag;
}

function checkRepository(ref: string, repository: string): void {
  for (const component of repository.split('/')) {
    if (component === '') throw invalid(ref, 'empty path component (a doubled or trailing "/")');
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) {
      throw invalid(ref, `repository "${repository}" must be lower-case`);
    }
    throw invalid(
      ref,
      `path component "${component}" may use lower-case letters, digits and single ".", "_", "__" or "-" between them`,
    );
  }
}

/**
 * Parses and normalizes an image reference as containerd and Docker do, so a rule on
 * `docker.io/library/nginx` also matches `nginx`, and a tag+digest pull is judged by its digest.
 * Throws ValidationError naming the reference and what is wrong with it.
 *
 * @example parseImageRef('nginx').normalized // 'docker.io/library/nginx:latest'
 * @example parseImageRef('myreg:5000/team/app@sha256:…') // registry 'myreg:5000', repository 'team/app'
 */
export function parseImageRef(ref: string): ImageRef {
  if (typeof ref !== 'string') throw new ValidationError('an image reference must be a string');
  if (ref === '') throw new ValidationError('image reference is empty');
  if (/\s/.test(ref)) throw invalid(ref, 'must not contain whitespace');
  if (ref.includes('://')) throw invalid(ref, 'must not include a scheme such as "https://"');
  if (IMAGE_ID.test(ref)) {
    throw invalid(ref, 'a bare 64-character hex string is an image ID, not a reference');
  }

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = checkDigest(ref, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }

  // The tag follows the last ':' after the last '/'; earlier colons belong to a host's port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = checkTag(ref, rest.slice(colon + 1));
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw invalid(ref, 'missing repository name');

  const slash = rest.indexOf('/');
  let registry = DOCKER_HUB;
  let repository = rest;
  if (slash >= 0 && isHost(rest.slice(0, slash))) {
    const host = rest.slice(0, slash);
    if (!HOST.test(host)) throw invalid(ref, `"${host}" is not a valid registry host[:port]`);
    registry = host.toLowerCase();
    repository = rest.slice(slash + 1);
  }
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB;
    // Docker Hub's official images live under library/.
    if (repository !== '' && !repository.includes('/')) repository = `library/${repository}`;
  }
  checkRepository(ref, repository);
  if (registry.length + 1 + repository.length > NAME_MAX) {
    throw invalid(ref, `the repository name is longer than ${NAME_MAX} characters`);
  }

  if (tag === undefined && digest === undefined) tag = 'latest';
  const name = `${registry}/${repository}`;
  const normalized = digest !== undefined ? `${name}@${digest}` : `${name}:${tag}`;
  const result: ImageRef = { registry, repository, normalized };
  if (tag !== undefined) result.tag = tag;
  if (digest !== undefined) result.digest = digest;
  return result;
}
