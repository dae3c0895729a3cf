import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { ServiceStartError } from './ServiceStartError';
import { isPidAlive, isPortFree, meaningfulTail, sleep, tailFile, waitFor } from './system';

export interface ManagedProcessOptions {
  /** What it is, for messages: `redis seoul/2`, `kafka core/1`, `mirrormaker`, `edge seoul/0`. */
  service: string;
  command: string;
  args: readonly string[];
  /** Added to the launcher's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** Ports the process listens on: checked before it starts (unless in a netns), reported in errors. */
  ports?: readonly number[];
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the command's own). */
  netns?: string;
  /**
   * Polled until it returns true: the process is ready. A throw counts as "not yet" (its message
   * goes into the timeout error). The process exiting meanwhile fails the start at once.
   */
  ready?: (proc: ManagedProcess) => Promise<boolean> | boolean;
  readyTimeoutMs?: number;
  readyIntervalMs?: number;
  /**
   * A line in the log that means the start has failed even though the process lives on (a JVM
   * that logged a BindException may take minutes to give up): fails the start at once.
   */
  failOn?: RegExp;
  /** Said when the command cannot be found, e.g. `apt-get install redis-server`. */
  installHint?: string;
  /** How long stop() waits after SIGTERM (re-sent every second) before SIGKILL. */
  stopTimeoutMs?: number;
}

export type ManagedProcessEvents = {
  /** Exited after start() resolved without stop()/kill() asking for it: a crash. */
  died: [code: number | null, signal: NodeJS.Signals | null];
  /** Exited, for whatever reason. */
  exit: [code: number | null, signal: NodeJS.Signals | null];
};

/**
 * One child process of the mesh: spawned in its own process group (so Ctrl-C reaches only the
 * launcher, which then stops everything in order), logs to a file, ready when its probe says so,
 * and stopped with SIGTERM (repeated: Redis ignores it while busy) and then SIGKILL.
 */
export class ManagedProcess extends TypedEmitter<ManagedProcessEvents> {
  readonly service: string;
  readonly logFile: string;
  readonly ports: readonly number[];
  readonly #options: ManagedProcessOptions;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #running = false;
  #expectExit = false;
  #started = false;
  #lastExit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(options: ManagedProcessOptions) {
    super();
    this.#options = options;
    this.service = options.service;
    this.logFile = options.logFile;
    this.ports = options.ports ?? [];
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The child is running (spawned and not exited). */
  get running(): boolean {
    return this.#running;
  }

  lastLogLines(lines = 20): string[] {
    return tailFile(this.logFile, lines);
  }

  /** Spawns the process and waits for its readiness probe. Throws ServiceStartError; the process is then stopped. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`${this.service} is already running`);
    const opts = this.#options;
    signal?.throwIfAborted();
    const busy: number[] = [];
    // A namespace the launcher just made has nothing listening; 127.0.0.1 here says nothing about it.
    if (!opts.netns) for (const port of this.ports) if (!(await isPortFree(port))) busy.push(port);

    mkdirSync(dirname(this.logFile), { recursive: true });
    const fd = openSync(this.logFile, 'a');
    writeSync(
      fd,
      `\n==== ${new Date().toISOString()} ${this.service}: ${opts.netns ? `[netns ${opts.netns}] ` : ''}${opts.command} ${opts.args.join(' ')}\n`,
    );
    this.#expectExit = false;
    this.#started = false;
    this.#lastExit = null;

    const [command, args] = opts.netns
      ? ['ip', ['netns', 'exec', opts.netns, opts.command, ...opts.args]]
      : [opts.command, opts.args];
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.#child = child;

    let spawnError: Error | null = null;
    let exitedEarly = false;
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        spawnError = error;
        this.#running = false;
        resolve();
      });
      child.once('exit', (code, sig) => {
        this.#running = false;
        exitedEarly = !this.#started;
        this.#lastExit = { code, signal: sig };
        this.safeEmit('exit', code, sig);
        if (this.#started && !this.#expectExit) this.safeEmit('died', code, sig);
        resolve();
      });
    });
    this.#running = true;

    const fail = async (reason: string): Promise<never> => {
      await this.stop();
      const portNote =
        busy.length > 0
          ? ` (port ${busy.join(', ')} on 127.0.0.1 was already in use by another process)`
          : '';
      throw new ServiceStartError(
        this.service,
        this.ports,
        `${reason}${portNote}`,
        this.logFile,
        meaningfulTail(this.logFile),
      );
    };

    // Let a spawn error (ENOENT, EACCES) surface before probing.
    await new Promise((resolve) => setImmediate(resolve));
    if (spawnError) {
      const e = spawnError as NodeJS.ErrnoException;
      const hint =
        e.code === 'ENOENT'
          ? `${opts.command} not found${opts.installHint ? ` (${opts.installHint})` : ''}`
          : e.message;
      return fail(`cannot run ${opts.command}: ${hint}`);
    }

    if (opts.ready) {
      const probe = opts.ready;
      try {
        await waitFor(
          this.service,
          async () => {
            if (spawnError) throw spawnError;
            if (exitedEarly || !this.#running) return 'exited' as const;
            if (opts.failOn) {
              // Only this run's lines: the log is appended to across restarts.
              const lines = this.lastLogLines(80);
              const mark = lines.findLastIndex((l) => l.startsWith('==== '));
              const fatal = lines.slice(mark + 1).find((l) => opts.failOn!.test(l));
              if (fatal) return { fatal };
            }
            return (await probe(this)) ? ('ready' as const) : false;
          },
          { timeoutMs: opts.readyTimeoutMs ?? 60_000, intervalMs: opts.readyIntervalMs ?? 200, signal },
        ).then((state) => {
          if (state === 'exited') throw new Error(this.#exitText());
          if (typeof state === 'object') throw new Error(`its log says: ${state.fatal.trim()}`);
        });
      } catch (error) {
        if (signal?.aborted) {
          await this.stop();
          throw error;
        }
        return fail((error as Error).message);
      }
    } else if (!this.#running) {
      return fail(this.#exitText());
    }
    this.#started = true;
  }

  #exitText(): string {
    const e = this.#lastExit;
    if (!e) return 'exited during start';
    return e.signal ? `killed by ${e.signal} during start` : `exited with code ${e.code} during start`;
  }

  /** Sends a signal and treats the resulting exit as intended (tests: kill -9 a Redis master). */
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    const pid = this.#child?.pid;
    if (!this.#running || pid === undefined || !isPidAlive(pid)) return;
    this.#expectExit = true;
    process.kill(pid, sig);
  }

  /** SIGTERM, re-sent every second, then SIGKILL after stopTimeoutMs. Resolves once the process is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.pid === undefined) return;
    this.#expectExit = true;
    const pid = child.pid;
    const deadline = Date.now() + (this.#options.stopTimeoutMs ?? 10_000);
    while (this.#running && isPidAlive(pid)) {
      try {
        process.kill(pid, Date.now() < deadline ? 'SIGTERM' : 'SIGKILL');
      } catch {
        break;
      }
      const exited = await Promise.race([this.#exited.then(() => true), sleep(1000).then(() => false)]);
      if (exited) break;
    }
    await Promise.race([this.#exited, sleep(2000)]);
  }

  /** Synchronous last resort (process 'exit' handler): SIGKILL if still alive. */
  killSync(): void {
    const pid = this.#child?.pid;
    if (this.#running && pid !== undefined && isPidAlive(pid)) {
      this.#expectExit = true;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
