import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Runs `ip …`; the error says which command failed and what ip printed. */
export async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', args, { timeout: 15_000 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('`ip` not found: apt-get install iproute2');
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** Same, synchronously (the process 'exit' handler cannot wait). Errors are ignored. */
export function ipSync(...args: string[]): string {
  try {
    return execFileSync('ip', args, { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return '';
  }
}

/** Runs a command inside a namespace (`ip netns exec`). */
export async function inNetns(netns: string, command: string, ...args: string[]): Promise<string> {
  return ip('netns', 'exec', netns, command, ...args);
}

/** Names of the network namespaces `ip netns` knows (those under /run/netns). */
export function listNetns(): string[] {
  return ipSync('netns', 'list')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Pids of processes whose network namespace is `netns`. */
export function netnsPids(netns: string): number[] {
  return ipSync('netns', 'pids', netns)
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export type WanSupport = { ok: true } | { ok: false; reason: string };

/**
 * Whether this machine can run the emulated WAN: root, `ip netns`, /dev/net/tun. (The emulator's
 * binary is built on demand with Go; that is checked when the mesh starts.)
 */
export function wanSupport(): WanSupport {
  if (process.getuid?.() !== 0)
    return { ok: false, reason: 'not running as root (network namespaces need root)' };
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore', timeout: 5000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return {
      ok: false,
      reason:
        e.code === 'ENOENT'
          ? '`ip` not found (apt-get install iproute2)'
          : `\`ip netns\` does not work here: ${e.message}`,
    };
  }
  if (!existsSync('/dev/net/tun')) return { ok: false, reason: '/dev/net/tun is missing (no TUN support)' };
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: '/dev/net/tun is not readable and writable' };
  }
  return { ok: true };
}

/** Throws with the reason when the WAN cannot run here. */
export function assertWanSupport(): void {
  const s = wanSupport();
  if (!s.ok) throw new Error(`the emulated WAN (--wan) cannot run: ${s.reason}`);
}

/**
 * For tests and benchmarks that want the emulated WAN but can run without it: the option to pass as
 * MeshOptions.wan when this machine supports it, else undefined after saying clearly (once, on
 * `log`) that the run falls back to plain loopback, without delay, loss or partitions.
 */
export function wanOrLoopback<T extends object | true>(
  wanOption: T,
  log: (line: string) => void = console.warn,
): T | undefined {
  const s = wanSupport();
  if (s.ok) return wanOption;
  log(
    `*** emulated WAN unavailable (${s.reason}): FALLING BACK TO PLAIN LOOPBACK — no namespaces, no added delay, loss or partitions ***`,
  );
  return undefined;
}
