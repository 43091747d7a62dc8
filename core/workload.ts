/**
 * Reads the Kubernetes object of an AdmissionRequest into what rules match on
 * (DESIGN.md §2 scopes, §3.2 image collection): names, labels, the owning Deployment and
 * every container image. The object is untrusted JSON — a what-if request or a CLI
 * manifest can hold any shape — so every read is guarded: an unexpected shape yields
 * null or less, never an exception.
 */

/** Where in the pod spec an image was found. */
export type ContainerType = 'container' | 'initContainer' | 'ephemeralContainer';

/** One container's image as written in the manifest (not yet normalized). */
export interface ContainerImage {
  container: string;
  type: ContainerType;
  image: string;
}

/** The parts of a workload that rule scopes and exemptions match on. */
export interface Workload {
  /** The request kind, e.g. `Deployment`. */
  kind: string;
  /** The object's name, or its generateName when the name is not yet set. */
  name: string;
  namespace: string;
  /** The object's own labels. */
  labels: Record<string, string>;
  /** The pod template's labels (a Pod's own labels). */
  podLabels: Record<string, string>;
  /** A Pod's name or generateName; for templated kinds the template's, else the object's name. */
  podName: string;
  /** The owning Deployment, when the object is one or was made by one. */
  deployment?: string;
  /** containers, initContainers and ephemeralContainers of the pod spec, in that order. */
  images: ContainerImage[];
}

type JsonObject = Record<string, unknown>;

function asObject(value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}

/** Follows a path of own properties; anything missing or not an object on the way gives undefined. */
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    const o = asObject(current);
    // Own properties only: a key such as "constructor" must not reach Object.prototype.
    if (o === undefined || !Object.hasOwn(o, key)) return undefined;
    current = o[key];
  }
  return current;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Keeps the string-valued entries; fromEntries defines "__proto__" as data, not a prototype. */
function stringMap(value: unknown): Record<string, string> {
  const o = asObject(value);
  const out: Record<string, string> = {};
  if (o === undefined) return out;
  // A plain loop: labels are read on every admission, and entries/filter/fromEntries cost more.
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (typeof v !== 'string') continue;
    // A "__proto__" label must stay a label, not become the object's prototype.
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

interface PodSource {
  /** Metadata of the pod (template), whose labels and name are the pod's. */
  podMeta: unknown;
  spec: JsonObject;
}

function findPodSource(kind: string, object: JsonObject): PodSource | null {
  switch (kind) {
    case 'Pod': {
      const spec = asObject(at(object, 'spec'));
      return spec ? { podMeta: at(object, 'metadata'), spec } : null;
    }
    case 'EphemeralContainers': {
      // Kubernetes 1.16–1.21 sent pods/ephemeralcontainers updates as this kind, the list at the top level.
      const list = at(object, 'ephemeralContainers');
      return Array.isArray(list)
        ? { podMeta: at(object, 'metadata'), spec: { ephemeralContainers: list } }
        : null;
    }
    case 'CronJob':
      return fromTemplate(at(object, 'spec', 'jobTemplate', 'spec', 'template'));
    default:
      // Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, ReplicationControllers and any
      // custom kind that embeds a pod template the same way (Argo Rollouts, OpenKruise, …).
      return fromTemplate(at(object, 'spec', 'template'));
  }
}

function fromTemplate(template: unknown): PodSource | null {
  const spec = asObject(at(template, 'spec'));
  return spec ? { podMeta: at(template, 'metadata'), spec } : null;
}

const CONTAINER_LISTS: ReadonlyArray<readonly [string, ContainerType]> = [
  ['containers', 'container'],
  ['initContainers', 'initContainer'],
  ['ephemeralContainers', 'ephemeralContainer'],
];

function collectImages(spec: JsonObject): ContainerImage[] {
  const images: ContainerImage[] = [];
  for (const [field, type] of CONTAINER_LISTS) {
    const list = at(spec, field);
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      const image = at(entry, 'image');
      // The API server rejects a container without an image; there is nothing to gate here.
      if (typeof image !== 'string') continue;
      const name = at(entry, 'name');
      images.push({ container: typeof name === 'string' ? name : '', type, image });
    }
  }
  return images;
}

/** The name of the owner of that kind, preferring the controlling one as Kubernetes does. */
function ownerName(metadata: unknown, kind: string): string | undefined {
  const refs = at(metadata, 'ownerReferences');
  if (!Array.isArray(refs)) return undefined;
  const matching = refs.filter((r) => at(r, 'kind') === kind && text(at(r, 'name')) !== undefined);
  const owner = matching.find((r) => at(r, 'controller') === true) ?? matching[0];
  return owner === undefined ? undefined : text(at(owner, 'name'));
}

/** `web-5d8f7c9b6d` with hash `5d8f7c9b6d` -> `web`: how a Deployment names its ReplicaSets. */
function withoutHash(name: string | undefined, hash: string | undefined): string | undefined {
  if (name === undefined || hash === undefined) return undefined;
  const suffix = `-${hash}`;
  return name.length > suffix.length && name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
}

function owningDeployment(
  kind: string,
  name: string,
  metadata: unknown,
  labels: Record<string, string>,
): string | undefined {
  // The Deployment controller stamps pod-template-hash on its ReplicaSets and their pods.
  const hash = text(labels['pod-template-hash']);
  switch (kind) {
    case 'Deployment':
      return text(name);
    case 'ReplicaSet':
      // An orphaned ReplicaSet (`--cascade=orphan`) has lost its ownerReference but keeps its name.
      return ownerName(metadata, 'Deployment') ?? withoutHash(text(name), hash);
    case 'Pod': {
      const fromOwner = withoutHash(ownerName(metadata, 'ReplicaSet'), hash);
      if (fromOwner !== undefined) return fromOwner;
      // generateName is `<replicaset>-`, so `web-5d8f7c9b6d-` names Deployment `web`.
      const generateName = text(at(metadata, 'generateName'));
      return generateName?.endsWith('-') ? withoutHash(generateName.slice(0, -1), hash) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Reads an AdmissionRequest's object (or a manifest for the what-if evaluator) into a
 * Workload, or null when it carries no pod spec and so nothing to gate. Total over any
 * JSON: hostile or malformed shapes give null or a best-effort Workload, never a throw.
 *
 * @example
 * workloadFromObject(request.object, { kind: request.kind.kind, name: request.name, namespace: request.namespace })
 */
export function workloadFromObject(
  object: unknown,
  request: { kind: string; name?: string; namespace?: string },
): Workload | null {
  const o = asObject(object);
  if (o === undefined) return null;
  const kind = text(at(request, 'kind')) ?? text(at(o, 'kind')) ?? '';
  const source = findPodSource(kind, o);
  if (source === null) return null;

  const metadata = at(o, 'metadata');
  // request.name is empty for generateName creates; the API server has checked that the
  // object's name and namespace agree with the request's when both are set.
  const name =
    text(at(metadata, 'name')) ?? text(at(request, 'name')) ?? text(at(metadata, 'generateName')) ?? '';
  const namespace = text(at(request, 'namespace')) ?? text(at(metadata, 'namespace')) ?? '';
  const labels = stringMap(at(metadata, 'labels'));
  const isPod = kind === 'Pod' || kind === 'EphemeralContainers';
  const podLabels = isPod ? labels : stringMap(at(source.podMeta, 'labels'));
  const podName = isPod
    ? name
    : (text(at(source.podMeta, 'name')) ?? text(at(source.podMeta, 'generateName')) ?? name);

  const workload: Workload = {
    kind,
    name,
    namespace,
    labels,
    podLabels,
    podName,
    images: collectImages(source.spec),
  };
  const deployment = owningDeployment(kind === 'EphemeralContainers' ? 'Pod' : kind, name, metadata, {
    ...podLabels,
    ...labels,
  });
  if (deployment !== undefined) workload.deployment = deployment;
  return workload;
}

/** The key that identifies a container across an UPDATE: `${type}/${container}`. */
export function imageKey(image: ContainerImage): string {
  return `${image.type}/${image.container}`;
}

/**
 * The keys (see imageKey) of the images an UPDATE adds or changes against the old object —
 * all of them on CREATE (old null). Only these are gated, so an unrelated edit or a
 * `kubectl debug` session is not blocked by an image that is already running (DESIGN.md §3.2).
 */
export function changedImages(workload: Workload, old: Workload | null): Set<string> {
  const before = new Map<string, string>();
  for (const image of old?.images ?? []) before.set(imageKey(image), image.image);
  const changed = new Set<string>();
  for (const image of workload.images) {
    const key = imageKey(image);
    if (before.get(key) !== image.image) changed.add(key);
  }
  return changed;
}
