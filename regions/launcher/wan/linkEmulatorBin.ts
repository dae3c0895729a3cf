import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../../../lib/media/workerBin';

/** The Go source of the emulator (standard library only: no module download). */
export const LINKEMU_SOURCE = fileURLToPath(new URL('./linkemu/', import.meta.url));

/** Where the binary for the current source lives: <cache>/bin/meetview-linkemu-<hash of the source>. */
export function linkEmulatorPath(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(LINKEMU_SOURCE).sort())
    if (file.endsWith('.go') || file === 'go.mod')
      hash.update(file).update(readFileSync(join(LINKEMU_SOURCE, file)));
  return join(cacheRoot(), 'bin', `meetview-linkemu-${hash.digest('hex').slice(0, 12)}`);
}

function goCommand(): string {
  if (process.env.GO) return process.env.GO;
  for (const candidate of ['/usr/local/go/bin/go', '/usr/lib/go/bin/go'])
    if (existsSync(candidate)) return candidate;
  return 'go';
}

/**
 * The emulator binary, built with Go into the cache when the source changed (a few seconds; a no-op
 * when present). Throws with what to install when Go is missing.
 */
export function ensureLinkEmulator(onProgress?: (line: string) => void): string {
  const out = linkEmulatorPath();
  if (existsSync(out)) return out;
  mkdirSync(join(out, '..'), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  onProgress?.(`wan: building the link emulator (${out})`);
  try {
    execFileSync(goCommand(), ['build', '-trimpath', '-o', tmp, '.'], {
      cwd: LINKEMU_SOURCE,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    renameSync(tmp, out);
    // Builds of older sources are dead weight (a running one keeps its open file).
    for (const f of readdirSync(join(out, '..')))
      if (/^meetview-linkemu-[0-9a-f]{12}$/.test(f) && join(out, '..', f) !== out)
        rmSync(join(out, '..', f), { force: true });
  } catch (error) {
    rmSync(tmp, { force: true });
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error(
        'building the WAN link emulator needs Go ≥ 1.21 (https://go.dev/dl, or apt-get install golang-go); ' +
          'or set GO to the go binary',
      );
    throw new Error(`building the WAN link emulator failed: ${e.stderr?.toString().trim() || e.message}`);
  }
  return out;
}
