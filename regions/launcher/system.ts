import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { createServer } from 'node:net';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True when a process with this pid exists (signal 0 probes without killing). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped) is not alive for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The command line of a live process, or null. Used to recognise our own processes before killing a stale pid. */
export function pidCommandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

/** True if nothing listens on 127.0.0.1:port (we try to bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The last `lines` lines of a file (reads at most the last 64 KiB); empty if it does not exist. */
export function tailFile(file: string, lines = 20): string[] {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    fd = openSync(file, 'r');
    readSync(fd, buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .slice(-lines);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * Polls `check` until it returns a value other than undefined/false, the timeout passes or the
 * signal aborts. The last error thrown by `check` goes into the timeout message.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs, intervalMs = 200, signal }: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline)
      throw new TimeoutError(
        `${what}: not ready after ${timeoutMs} ms${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    await sleep(intervalMs);
  }
}

/**
 * Pids of processes that belong to a mesh directory: their working directory is inside it or their
 * command line names it (redis-server rewrites its command line, so the cwd is what identifies it).
 * Used to clean up after a launcher that was killed without stopping its children.
 */
export function processesUnder(dir: string): number[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone or not ours to read
    }
    const cmd = pidCommandLine(pid) ?? '';
    if (`${cwd}/`.startsWith(prefix) || cmd.includes(prefix)) if (isPidAlive(pid)) pids.push(pid);
  }
  return pids;
}

/** SIGKILLs every live process under a mesh directory; returns how many there were. */
export async function killProcessesUnder(dir: string): Promise<number> {
  const pids = processesUnder(dir);
  for (const pid of pids) {
    try {
      if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(isPidAlive) && Date.now() < deadline) await sleep(50);
  return pids.length;
}

/** The last lines of a log without Java stack frames (`at …`, `... 6 more`): what an error message shows. */
export function meaningfulTail(file: string, lines = 15): string[] {
  return tailFile(file, 400)
    .filter((l) => !/^\s+(at |\.\.\. \d+ more)/.test(l))
    .slice(-lines);
}
