import { createConnection } from 'node:net';
import { TypedEmitter } from '../../../lib/events/TypedEmitter';
import { ManagedProcess } from '../ManagedProcess';

/** One direction's settings as the emulator reports them. */
export interface LinkDirectionConfig {
  delayMs: number;
  jitterMs: number;
  loss: number;
  down: boolean;
  rateKbps: number;
}

/** Counters of one direction of one link, since the emulator started. */
export interface LinkDirectionStats {
  from: string;
  to: string;
  config: LinkDirectionConfig;
  /** Packets and bytes that entered the link (before any drop). */
  packets: number;
  bytes: number;
  delivered: number;
  lossDrops: number;
  /** Dropped because the link was down (a partition), including packets in flight when it went down. */
  downDrops: number;
  queueDrops: number;
  queued: number;
}

export interface LinkEmulatorOptions {
  binary: string;
  netns: string;
  /** JSON from WanPlan.emulatorConfig(). */
  config: string;
  controlSocket: string;
  logFile: string;
  cwd: string;
  /** Go scheduler threads (default 1: the read loop and the delivery goroutines hand packets over without waking other threads). */
  maxProcs?: number;
}

export type LinkEmulatorEvents = {
  died: [proc: ManagedProcess, code: number | null, signal: NodeJS.Signals | null];
};

/**
 * The user-space link emulator (linkemu/main.go) running in the wan namespace, and its control
 * channel: JSON lines over a Unix socket (a path in the mesh directory, reachable from any namespace).
 */
export class LinkEmulator extends TypedEmitter<LinkEmulatorEvents> {
  readonly process: ManagedProcess;
  readonly controlSocket: string;

  constructor(o: LinkEmulatorOptions) {
    super();
    this.controlSocket = o.controlSocket;
    this.process = new ManagedProcess({
      service: 'wan link emulator',
      command: o.binary,
      args: ['-tun', 'tun0', '-control', o.controlSocket, '-config', o.config],
      netns: o.netns,
      env: { GOMAXPROCS: String(o.maxProcs ?? 1) },
      cwd: o.cwd,
      logFile: o.logFile,
      ready: async () => (await this.request({ op: 'ping' })).ok === true,
      readyTimeoutMs: 10_000,
      readyIntervalMs: 50,
      stopTimeoutMs: 3000,
    });
    this.process.on('died', (code, sig) => this.safeEmit('died', this.process, code, sig));
  }

  start(signal?: AbortSignal): Promise<void> {
    return this.process.start(signal);
  }

  /** One request, one JSON line back. */
  request(body: Record<string, unknown>, timeoutMs = 3000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.controlSocket);
      let buffer = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`link emulator: no answer to ${JSON.stringify(body)} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        const nl = buffer.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        socket.end();
        try {
          const answer = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
          if (answer.ok === false) reject(new Error(`link emulator: ${String(answer.error)}`));
          else resolve(answer);
        } catch (error) {
          reject(error);
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Changes the given fields of the link between a and b (both directions unless `dir`). */
  async set(
    a: string,
    b: string,
    fields: Partial<LinkDirectionConfig>,
    dir: 'both' | 'ab' | 'ba' = 'both',
  ): Promise<void> {
    await this.request({ op: 'set', a, b, dir, ...fields, fields: Object.keys(fields) });
  }

  async stats(): Promise<LinkDirectionStats[]> {
    const answer = await this.request({ op: 'stats' });
    return (answer.links as LinkDirectionStats[]).sort(
      (x, y) => x.from.localeCompare(y.from) || x.to.localeCompare(y.to),
    );
  }

  close(): Promise<void> {
    return this.process.stop();
  }

  killSync(): void {
    this.process.killSync();
  }
}
