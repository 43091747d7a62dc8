/**
 * Encoding shared by the DynamoDb* ports: documents as JSON (gzipped when large), items read
 * back through zod, opaque cursors, key separators and the shard hash.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import { parseStored } from '../common/records.js';

/**
 * Joins the parts of a composite key. U+001F (unit separator) sorts below every printable
 * character, so `a SEP b` orders exactly like the tuple (a, b).
 */
export const SEP = '\u001f';

/** Documents above this many bytes of JSON are stored gzipped. */
const GZIP_ABOVE = 64 * 1024;
/** What a gzipped document may take in an item, leaving room for the other attributes. */
export const MAX_DOC_BYTES = 380 * 1024;

/** 32-bit FNV-1a of a string: a cheap, stable hash for choosing a shard. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A document attribute: `doc` (JSON text) or, when large, `docGz` (gzipped JSON). */
export type PackedDoc = { doc: string } | { docGz: Uint8Array };

/**
 * Packs a value as a document attribute. ValidationError when even gzipped it cannot fit in
 * a DynamoDB item; `what` names the record in that message.
 */
export function packDoc(value: unknown, what: string): PackedDoc {
  const json = JSON.stringify(value);
  if (Buffer.byteLength(json) <= GZIP_ABOVE) return { doc: json };
  const gz = gzipSync(json);
  if (gz.length > MAX_DOC_BYTES) {
    throw new ValidationError(`${what} is too large to store (${gz.length} bytes compressed)`);
  }
  return { docGz: new Uint8Array(gz.buffer, gz.byteOffset, gz.length) };
}

/** The zod shape of a packed document on an item. */
export const PackedDocFields = {
  doc: z.string().optional(),
  docGz: z.instanceof(Uint8Array).optional(),
};

/** Unpacks `doc`/`docGz` and validates it with `schema`; throws on a corrupt item. */
export function unpackDoc<T extends z.ZodType>(
  item: { doc?: string | undefined; docGz?: Uint8Array | undefined },
  schema: T,
  table: string,
): z.output<T> {
  let json: string;
  if (item.doc !== undefined) json = item.doc;
  else if (item.docGz !== undefined) json = gunzipSync(item.docGz).toString('utf8');
  else throw new Error(`invalid item in ${table}: no document`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new Error(`invalid item in ${table}: document is not JSON`, { cause: e });
  }
  return parseItem(schema, value, table);
}

/** Validates an item (or document) read back from `table`; a failure is corruption. */
export function parseItem<T extends z.ZodType>(schema: T, item: unknown, table: string): z.output<T> {
  return parseStored(schema, item, `item in ${table}`);
}

/** Compares strings the way DynamoDB orders sort keys: by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
