// scripts/mediasoup/build-worker.sh once a worker exists: a fast no-op that names the worker
// lib/media/workerBin.ts resolves, so setup and CI can call it unconditionally.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundledWorkerPath, cachedWorkerPath } from '../../../lib/media/workerBin';

const script = join(import.meta.dirname, '..', '..', '..', 'scripts', 'mediasoup', 'build-worker.sh');

describe('scripts/mediasoup/build-worker.sh', () => {
  it('is a sub-second no-op when the worker for this mediasoup version exists', () => {
    const bundled = bundledWorkerPath();
    const cached = cachedWorkerPath();
    const expected = existsSync(bundled) ? bundled : cached;
    if (!existsSync(expected))
      throw new Error(`no worker at ${cached}: run bash scripts/mediasoup/build-worker.sh first`);

    const started = performance.now();
    const run = spawnSync('bash', [script], { encoding: 'utf8', env: process.env });
    const elapsedMs = performance.now() - started;

    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(expected);
    expect(elapsedMs).toBeLessThan(1000);
  });

  it('rejects an unknown argument with a usage message', () => {
    const run = spawnSync('bash', [script, '--bogus'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('usage: build-worker.sh [--force]');
  });
});
