import type { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Validates untrusted input with a zod schema; on failure throws a ValidationError whose
 * message names the first bad field and whose details list every issue.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  const first = issues[0];
  const where =
    first === undefined ? '' : first.path === '' ? `: ${first.message}` : `: ${first.path}: ${first.message}`;
  throw new ValidationError(`invalid ${what}${where}`, { details: issues, cause: result.error });
}
