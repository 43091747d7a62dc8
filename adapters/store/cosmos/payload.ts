/**
 * Large domain documents (a rule with thousands of exemptions, an event with many images)
 * against Cosmos DB's 2 MB item limit: JSON inline while it is comfortably small, gzipped
 * (base64) beyond, and a ValidationError when even that would not fit, rather than the
 * service's 413 on the write.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { z } from 'zod';
import { ValidationError } from '../../../core/errors.js';
import { parseDoc } from './support.js';

/** JSON up to this many characters is stored as it is. */
export const INLINE_JSON_CHARS = 512 * 1024;
/** Gzipped base64 beyond this would leave too little of the 2 MB item for the rest. */
export const MAX_PACKED_CHARS = 1_800_000;

/**
 * The fields that carry `value` in a document: `{ [field]: value }`, or
 * `{ [field + 'Gz']: base64 gzip of its JSON }` when large. ValidationError naming `what`
 * when it cannot fit in one item.
 */
export function pack(field: string, value: unknown, what: string): Record<string, unknown> {
  const json = JSON.stringify(value);
  if (json.length <= INLINE_JSON_CHARS) return { [field]: value };
  const packed = gzipSync(Buffer.from(json, 'utf8')).toString('base64');
  if (packed.length > MAX_PACKED_CHARS) {
    throw new ValidationError(`${what} is too large to store (${json.length} characters of JSON)`, {
      details: [{ path: field, message: 'too large' }],
    });
  }
  return { [`${field}Gz`]: packed };
}

/** The value `pack` stored in `doc`, validated by `schema`. */
export function unpack<T extends z.ZodType>(
  doc: unknown,
  field: string,
  schema: T,
  container: string,
): z.output<T> {
  const record = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const packed = record[`${field}Gz`];
  const value =
    typeof packed === 'string'
      ? (JSON.parse(gunzipSync(Buffer.from(packed, 'base64')).toString('utf8')) as unknown)
      : record[field];
  return parseDoc(schema, value, container);
}
