import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decodeCursor,
  encodeCursor,
  MAX_PAGE_SIZE,
  pageOf,
  pageSize,
  parseStored,
  toMillis,
} from '../../../adapters/store/common/records.js';
import { ValidationError } from '../../../core/errors.js';

describe('store records helpers', () => {
  it('round-trips a cursor and refuses one it did not make with ValidationError', () => {
    const Key = z.tuple([z.number(), z.string()]);
    const cursor = encodeCursor([1767225600000, 'evt-1']);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, Key)).toEqual([1767225600000, 'evt-1']);
    for (const bad of ['not-a-cursor', '', encodeCursor({ other: true })]) {
      expect(() => decodeCursor(bad, Key)).toThrow(ValidationError);
    }
    expect(() => decodeCursor('%%%', Key)).toThrow('invalid cursor');
  });

  it('reads ISO times with offsets and names the field of one that is not', () => {
    expect(toMillis('2026-01-03T01:00:00+02:00', 'scannedAt')).toBe(Date.parse('2026-01-02T23:00:00Z'));
    let error: unknown;
    try {
      toMillis('yesterday', 'scans[3].scannedAt');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toBe('scans[3].scannedAt is not an ISO time');
  });

  it('clamps page sizes to [1, MAX_PAGE_SIZE]', () => {
    expect([pageSize(0), pageSize(2.7), pageSize(5000), pageSize(Number.NaN)]).toEqual([
      1,
      2,
      MAX_PAGE_SIZE,
      MAX_PAGE_SIZE,
    ]);
  });

  it('reports a record that does not parse as corruption, saying which', () => {
    const Row = z.object({ id: z.string() });
    expect(parseStored(Row, { id: 'a', extra: 1 }, 'row in rules')).toEqual({ id: 'a' });
    expect(() => parseStored(Row, { id: 7 }, 'row in rules')).toThrow(/^invalid row in rules: /);
    expect(() => parseStored(Row, { id: 7 }, 'row in rules')).not.toThrow(ValidationError);
  });

  it('pages a read of limit + 1 rows, with a cursor only when there is more', () => {
    const rows = [
      { id: 'a', n: 1 },
      { id: 'b', n: 2 },
      { id: 'c', n: 3 },
    ];
    const more = pageOf(
      rows,
      2,
      (r) => r.n,
      (r) => [r.id],
    );
    expect(more.items).toEqual([1, 2]);
    expect(decodeCursor(more.nextCursor!, z.tuple([z.string()]))).toEqual(['b']);
    expect(
      pageOf(
        rows,
        3,
        (r) => r.n,
        (r) => [r.id],
      ),
    ).toEqual({ items: [1, 2, 3], nextCursor: null });
    expect(
      pageOf(
        [],
        3,
        (r) => r,
        (r) => r,
      ),
    ).toEqual({ items: [], nextCursor: null });
  });
});
