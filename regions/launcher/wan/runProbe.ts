import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ManagedProcess } from '../ManagedProcess';
import type { Mesh } from '../Mesh';

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const NODE = process.execPath;
export const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));

export interface PingResult {
  sent: number;
  received: number;
  rttMs: number[];
  /** UDP: sequence numbers without an echo. */
  lost?: number[];
  /** UDP: echoes that arrived after one with a higher sequence number. */
  outOfOrder?: number;
  connectMs?: number;
}

/** Starts a UDP or TCP echo server in a site's namespace, owned by the mesh (stopped with it). */
export function startEcho(
  mesh: Mesh,
  site: string,
  kind: 'udp' | 'tcp',
  port: number,
): Promise<ManagedProcess> {
  const host = mesh.hostOf(site);
  return mesh.spawn({
    service: `${kind}-echo ${site}`,
    command: NODE,
    args: [PROBE, `${kind}-echo`, '--host', host, '--port', String(port)],
    cwd: REPO,
    netns: mesh.netnsOf(site),
    ready: (proc) => proc.lastLogLines(5).some((l) => l.includes('listening on')),
    readyTimeoutMs: 20_000,
    readyIntervalMs: 100,
  });
}

/**
 * Runs a ping from inside a site's namespace (`from: null`: from the launcher's own namespace, which
 * reaches every site through the host link, without emulation).
 */
export async function ping(
  mesh: Mesh,
  from: string | null,
  kind: 'udp' | 'tcp',
  to: { host: string; port: number },
  options: { count?: number; intervalMs?: number; size?: number; waitMs?: number; timeoutMs?: number } = {},
): Promise<PingResult> {
  const args = [
    PROBE,
    `${kind}-ping`,
    '--to',
    `${to.host}:${to.port}`,
    '--count',
    String(options.count ?? 20),
    '--interval-ms',
    String(options.intervalMs ?? 20),
    '--size',
    String(options.size ?? 64),
    '--wait-ms',
    String(options.waitMs ?? 1000),
    '--timeout-ms',
    String(options.timeoutMs ?? 10_000),
  ];
  const netns = from === null ? undefined : mesh.netnsOf(from);
  const [command, argv] = netns ? ['ip', ['netns', 'exec', netns, NODE, ...args]] : [NODE, args];
  const { stdout } = await execFileAsync(command, argv, { cwd: REPO, timeout: 120_000, maxBuffer: 64 << 20 });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as PingResult;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
