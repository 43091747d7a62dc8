/**
 * Reading YAML (or JSON) files the way kubectl does: several documents per file, lists, and
 * errors that name the file and the document. Pure: the caller reads the bytes.
 */
import { parseAllDocuments } from 'yaml';
import { CliError } from './errors.js';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every non-empty document of a YAML stream as plain data; a syntax error names its line. */
export function parseDocuments(name: string, text: string): unknown[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) {
    // An empty stream parses to an EmptyStream object.
    return [];
  }
  const out: unknown[] = [];
  docs.forEach((doc, i) => {
    const error = doc.errors[0];
    if (error !== undefined) {
      // The first line of the message says what and where: "... at line 6, column 1:".
      const what = error.message.split('\n')[0]!.replace(/:$/, '');
      const where = error.linePos === undefined && docs.length > 1 ? ` (document ${i + 1})` : '';
      throw new CliError(`${name}: invalid YAML: ${what}${where}`);
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  });
  return out;
}

export interface RuleDocument {
  name: string;
  body: JsonObject;
  /** "document 2, item 3", for messages. */
  where: string;
}

/**
 * The rules in a rules-as-code file: each document is one rule, a list of rules, or
 * `{ rules: [...] }`. Every rule must be an object with a name, and names must be unique
 * (case-insensitive, as the server compares them) — checked before anything is sent.
 */
export function rulesFromDocuments(name: string, docs: readonly unknown[]): RuleDocument[] {
  const rules: RuleDocument[] = [];
  docs.forEach((doc, d) => {
    const docWhere = docs.length > 1 ? `document ${d + 1}` : '';
    let items: unknown[];
    let label: string | undefined;
    if (Array.isArray(doc)) {
      items = doc;
      label = 'item';
    } else if (isObject(doc) && 'rules' in doc && !('name' in doc)) {
      if (!Array.isArray(doc.rules))
        throw new CliError(`${name}: ${docWhere || 'the file'}: "rules" must be a list`);
      items = doc.rules;
      label = 'rules item';
    } else items = [doc];
    items.forEach((item, i) => {
      const where = [docWhere, label === undefined ? '' : `${label} ${i + 1}`]
        .filter((s) => s !== '')
        .join(', ');
      const at = where === '' ? name : `${name}: ${where}`;
      if (!isObject(item)) throw new CliError(`${at}: expected a rule (a mapping), got ${describe(item)}`);
      const ruleName = item.name;
      if (typeof ruleName !== 'string' || ruleName.trim() === '') {
        throw new CliError(`${at}: the rule has no name; every rule needs "name:"`);
      }
      rules.push({ name: ruleName.trim(), body: item, where: at });
    });
  });
  if (rules.length === 0) throw new CliError(`${name}: no rules found`);
  const seen = new Map<string, string>();
  for (const rule of rules) {
    const key = rule.name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined)
      throw new CliError(`${rule.where}: rule "${rule.name}" is also defined at ${first}`);
    seen.set(key, rule.where);
  }
  return rules;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

export interface ManifestObject {
  object: JsonObject;
  kind: string;
  name: string;
  namespace?: string;
}

/**
 * The Kubernetes objects of a manifest: every document, with `kind: List` (and `*List`) items
 * expanded, as `kubectl apply -f` reads it. Anything that is not an object with a kind is an error.
 */
export function manifestObjects(name: string, docs: readonly unknown[]): ManifestObject[] {
  const out: ManifestObject[] = [];
  const visit = (value: unknown, where: string) => {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) visit(v, `${where}, item ${i + 1}`);
      return;
    }
    if (!isObject(value) || typeof value.kind !== 'string' || value.kind === '') {
      throw new CliError(`${name}: ${where}: not a Kubernetes object (no "kind")`);
    }
    if (value.kind.endsWith('List') && Array.isArray(value.items)) {
      for (const [i, v] of value.items.entries()) visit(v, `${where}, item ${i + 1}`);
      return;
    }
    const metadata = isObject(value.metadata) ? value.metadata : {};
    const objectName =
      typeof metadata.name === 'string'
        ? metadata.name
        : typeof metadata.generateName === 'string'
          ? `${metadata.generateName}*`
          : '<unnamed>';
    out.push({
      object: value,
      kind: value.kind,
      name: objectName,
      namespace: typeof metadata.namespace === 'string' ? metadata.namespace : undefined,
    });
  };
  for (const [i, doc] of docs.entries()) visit(doc, `document ${i + 1}`);
  return out;
}
