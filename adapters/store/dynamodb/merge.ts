/**
 * Merging sorted streams: a listing spread over several partitions (shards) is read as one
 * ordered stream, each partition paged lazily so that a short page reads little.
 */

/**
 * Merges async sources that are each sorted by `compare` into one sorted stream. The first
 * page of every source is requested at once; later pages only when the merge reaches them.
 *
 * @example
 * for await (const item of mergeSorted(shards.map(queryShard), byKey)) { ... }
 */
export async function* mergeSorted<T>(
  sources: readonly AsyncIterable<T>[],
  compare: (a: T, b: T) => number,
): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  try {
    const heads = await Promise.all(iterators.map((it) => it.next()));
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]!;
        if (head.done) continue;
        const current = best < 0 ? undefined : heads[best]!;
        if (current === undefined || current.done || compare(head.value, current.value) < 0) best = i;
      }
      if (best < 0) return;
      const winner = heads[best]!;
      if (winner.done) return;
      yield winner.value;
      heads[best] = await iterators[best]!.next();
    }
  } finally {
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}

/** Groups consecutive items that share `keyOf` into arrays. */
export async function* groupConsecutive<T>(
  items: AsyncIterable<T>,
  keyOf: (item: T) => string,
): AsyncGenerator<T[]> {
  let group: T[] = [];
  let key: string | undefined;
  for await (const item of items) {
    const k = keyOf(item);
    if (key !== undefined && k !== key) {
      yield group;
      group = [];
    }
    key = k;
    group.push(item);
  }
  if (group.length > 0) yield group;
}
