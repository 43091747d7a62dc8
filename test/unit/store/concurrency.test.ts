import { describe, expect, it } from 'vitest';
import { chunk, mapLimit } from '../../../adapters/store/common/concurrency.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('store concurrency helpers', () => {
  it('keeps input order and never has more than the limit in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (n, i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      for (let k = 0; k < n; k++) await tick();
      inFlight--;
      return `${i}:${n}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3', '5:0']);
    expect(peak).toBe(2);
  });

  it('starts nothing new after a failure, and rejects with it', async () => {
    const started: number[] = [];
    const failure = new Error('item 1 failed');
    const result = mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await tick();
      if (n === 1) throw failure;
      return n;
    });
    await expect(result).rejects.toBe(failure);
    expect(started).toEqual([0, 1, 2]);
  });

  it('splits into chunks of at most the size', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 25)).toEqual([]);
  });
});
