/** The progress `registries sync` draws: a bar on a terminal, plain lines in a log. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { SyncRun } from '../../core/domain.js';
import { Context } from '../context.js';
import { formatDuration, ProgressReporter, progressBar } from './sync-progress.js';

function context(tty: boolean) {
  let err = '';
  let now = Date.parse('2026-03-01T12:00:00Z');
  const ctx = new Context(
    {
      stdout: () => {},
      stderr: (t) => {
        err += t;
      },
      stdin: new PassThrough(),
      env: {},
      cwd: '/',
      now: () => new Date(now),
      stderrIsTTY: tty,
      columns: 100,
    },
    {},
  );
  const tick = (ms: number) => {
    now += ms;
  };
  return { ctx, err: () => err, tick };
}

const run = (images: number, totalImages?: number): SyncRun => ({
  id: 'r1',
  registryId: 'g1',
  registryName: 'prod-ecr',
  trigger: 'manual',
  status: 'running',
  startedAt: '2026-03-01T12:00:00Z',
  images,
  vulnerabilities: images * 10,
  errors: [],
  ...(totalImages === undefined ? {} : { totalImages }),
});

describe('sync progress', () => {
  it('redraws one bar in place on a terminal and clears it at the end', () => {
    const { ctx, err, tick } = context(true);
    const progress = new ProgressReporter(ctx, 'prod-ecr');
    progress.update(run(0, 200));
    tick(12_000);
    progress.update(run(50, 200));
    progress.done();
    expect(err()).toBe(
      '\rsyncing prod-ecr [------------------------]   0% 0/200 images, 0 vulnerabilities, 0s\u001b[K' +
        '\rsyncing prod-ecr [######------------------]  25% 50/200 images, 500 vulnerabilities, 12s\u001b[K' +
        '\r\u001b[K',
    );
  });

  it('writes a plain line only when the counts move when stderr is not a terminal', () => {
    const { ctx, err, tick } = context(false);
    const progress = new ProgressReporter(ctx, 'prod-ecr');
    progress.update(run(0));
    tick(1000);
    progress.update(run(0));
    progress.update(run(3));
    progress.done();
    expect(err()).toBe(
      'portcullis: syncing prod-ecr: 0 images, 0 vulnerabilities\n' +
        'portcullis: syncing prod-ecr: 3 images, 30 vulnerabilities\n',
    );
  });

  it('formats bars and durations', () => {
    expect(progressBar(1, 1, 4)).toBe('[####] 100%');
    expect(progressBar(5, 0, 4)).toBe('[----]   0%');
    expect([formatDuration(900), formatDuration(65_000), formatDuration(3_725_000)]).toEqual([
      '1s',
      '1m05s',
      '1h02m',
    ]);
  });
});
