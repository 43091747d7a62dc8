import { ValidationError } from './errors.js';

/** One requirement of a Kubernetes label selector. */
export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: '=' | '!='; values: [string] }
  | { key: string; op: 'exists' | '!exists'; values: [] };

/** A parsed label selector: every requirement must hold (AND), as in Kubernetes. */
export type LabelSelector = LabelRequirement[];

// Label keys: optional DNS-subdomain prefix + '/' + name (63 chars, alnum at both ends).
const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$/;

function checkKey(key: string, selector: string): string {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix)))) {
    throw new ValidationError(`label selector "${selector}": invalid label key "${key}"`);
  }
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!VALUE.test(value)) {
    throw new ValidationError(`label selector "${selector}": invalid label value "${value}"`);
  }
  return value;
}

/** Splits on commas that are not inside a `(...)` value set. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1)
      throw new ValidationError(`label selector "${selector}": unbalanced parentheses`);
  }
  if (depth !== 0) throw new ValidationError(`label selector "${selector}": unbalanced parentheses`);
  parts.push(selector.slice(start));
  return parts;
}

const SET_EXPR = /^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$/;
const EQ_EXPR = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/;
const EXISTS_EXPR = /^(!?)\s*([^\s!=(),]+)$/;

/**
 * Parses a label selector in the Kubernetes string syntax, equality- and set-based:
 * `app=web,tier!=cache,env in (prod,staging),!canary,team`.
 * Throws ValidationError with a message naming the selector and the bad part.
 */
export function parseLabelSelector(selector: string): LabelSelector {
  const trimmed = selector.trim();
  if (trimmed === '') throw new ValidationError('label selector is empty');
  return splitTopLevel(trimmed).map((raw): LabelRequirement => {
    const part = raw.trim();
    if (part === '') throw new ValidationError(`label selector "${selector}": empty requirement`);
    let m = SET_EXPR.exec(part);
    if (m) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      if (values.length === 0) {
        throw new ValidationError(`label selector "${selector}": "${m[2]}" needs at least one value`);
      }
      return {
        key: checkKey(m[1]!, selector),
        op: m[2] as 'in' | 'notin',
        values: values.map((v) => checkValue(v, selector)),
      };
    }
    m = EQ_EXPR.exec(part);
    if (m) {
      return {
        key: checkKey(m[1]!, selector),
        op: m[2] === '!=' ? '!=' : '=',
        values: [checkValue(m[3]!, selector)],
      };
    }
    m = EXISTS_EXPR.exec(part);
    if (m) return { key: checkKey(m[2]!, selector), op: m[1] ? '!exists' : 'exists', values: [] };
    throw new ValidationError(`label selector "${selector}": cannot parse "${part}"`);
  });
}

/** Labels with keys and values lower-cased, the form `matchesLowered` compares. */
export type LoweredLabels = ReadonlyMap<string, string>;

/** Lower-cases a label set (the evaluator does this once per request). */
export function lowerLabels(labels: Readonly<Record<string, string>>): LoweredLabels {
  const map = new Map<string, string>();
  for (const key in labels) map.set(key.toLowerCase(), labels[key]!.toLowerCase());
  return map;
}

/** The selector with keys and values lower-cased, for case-insensitive matching. */
export function lowerSelector(selector: LabelSelector): LabelSelector {
  return selector.map(
    (r) =>
      ({ ...r, key: r.key.toLowerCase(), values: r.values.map((v) => v.toLowerCase()) }) as LabelRequirement,
  );
}

/**
 * True when the labels satisfy every requirement. Keys and values compare
 * case-insensitively, as all Portcullis matching does.
 */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  return matchesLowered(lowerSelector(selector), lowerLabels(labels));
}

/** `matchesLabelSelector` for a selector and labels already lower-cased (the evaluator's hot path). */
export function matchesLowered(selector: LabelSelector, labels: LoweredLabels): boolean {
  return selector.every((req) => {
    const value = labels.get(req.key);
    const wanted: readonly string[] = req.values;
    switch (req.op) {
      case 'exists':
        return value !== undefined;
      case '!exists':
        return value === undefined;
      case '=':
        return value === wanted[0];
      case '!=':
        return value !== wanted[0];
      case 'in':
        return value !== undefined && wanted.includes(value);
      case 'notin':
        return value === undefined || !wanted.includes(value);
      default:
        return false;
    }
  });
}
