/**
 * Bounded concurrency for the stores' bulk work: enough calls in flight to keep a connection
 * pool busy, never a burst that only earns throttling.
 */

/**
 * Runs `fn` on every item with at most `limit` in flight; results keep input order. After the
 * first failure no new item starts, and the call rejects with that failure.
 *
 * @example const heads = await mapLimit(chunk(keys, 100), 8, (batch) => readBatch(batch));
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Splits `items` into arrays of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
