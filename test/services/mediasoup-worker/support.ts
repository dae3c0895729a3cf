import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { resolveWorkerBin } from '../../../lib/media/workerBin';

/** The worker binary under test (lib/media/workerBin.ts's lookup), or a failure saying how to get one. */
export function requireWorkerBin(): string {
  try {
    return resolveWorkerBin();
  } catch (error) {
    throw new Error(`${(error as Error).message}. Build it with: bash scripts/mediasoup/build-worker.sh`);
  }
}

/** Fails with what to install when a command-line tool is missing. */
export function requireCommand(command: string, debianPackages: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${command} is not installed: apt-get install -y ${debianPackages}`);
  }
}

/** Fails with what to install when a GStreamer element is missing. */
export function requireGstElements(elements: string[]): void {
  requireCommand('gst-launch-1.0', 'gstreamer1.0-tools');
  const missing = elements.filter((element) => {
    try {
      execFileSync('gst-inspect-1.0', ['--exists', element], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0)
    throw new Error(
      `GStreamer elements missing: ${missing.join(', ')}: apt-get install -y ` +
        'gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad',
    );
}

export function requireFile(path: string, what: string): string {
  if (!existsSync(path)) throw new Error(`${what} not found at ${path}`);
  return path;
}

/** A worker on the binary under test; the caller owns it and closes it. */
export async function createTestWorker(): Promise<types.Worker> {
  const worker = await mediasoup.createWorker({
    workerBin: requireWorkerBin(),
    logLevel: 'warn',
    rtcMinPort: 40000,
    rtcMaxPort: 49999,
  });
  // A crash must fail the test loudly, not as a timeout somewhere else.
  worker.on('died', (error) => {
    console.error(`mediasoup-worker ${worker.pid} died: ${error.message}`);
  });
  return worker;
}

/** Polls `check` until it returns a value other than undefined/false, or fails with `what`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (lastError ? ` (last error: ${(lastError as Error).message})` : ''),
      );
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A UDP port on 127.0.0.1 that was free a moment ago, for tools that must be told which port to
 * listen on (gst udpsrc). Bound then released: a small race, acceptable on loopback in tests.
 */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Random bytes as base64, for SRTP master keys. */
export function randomKeyBase64(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64');
}

export function base64ToHex(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex');
}

/** Sum of a numeric field over a mediasoup stats array. */
export function sumStat<S extends object>(stats: S[], field: keyof S): number {
  return stats.reduce((total, entry) => total + Number(entry[field] ?? 0), 0);
}
