import { readFile } from 'node:fs/promises';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { MediaError } from './MediaError';
import type { WorkerLoad } from './placement';

export type MediaWorkerSettings = {
  /** Slot in the pool; a replacement worker takes the same slot and the same WebRtcServer port. */
  index: number;
  workerBin: string;
  logLevel: types.WorkerLogLevel;
  logTags: types.WorkerLogTag[];
  /** IP the WebRtcServer and plain transports bind to. */
  listenIp: string;
  /** Address announced in ICE candidates (public IP or hostname) when it differs from listenIp. */
  announcedAddress?: string;
  /** The one UDP port and the one TCP port (same number) of this worker's WebRtcServer. */
  port: number;
  /** Port range of the per-transport sockets (plain and pipe transports). */
  rtcPortRange: types.TransportPortRange;
  /** How often CPU is sampled; 0 disables sampling. */
  loadSampleIntervalMs: number;
};

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux platform Node runs on). */
const CLOCK_TICKS_PER_S = 100;

export type MediaWorkerEvents = {
  /** The worker process died (crash or kill); the MediaWorker is closed. */
  died: [Error];
};

/**
 * One mediasoup worker process with its WebRtcServer, as the pool owns it: it counts what runs on it
 * (routers, producers, consumers) and samples its CPU so that placement can be load-aware.
 */
export class MediaWorker extends TypedEmitter<MediaWorkerEvents> {
  readonly index: number;
  readonly settings: MediaWorkerSettings;
  readonly worker: types.Worker;
  readonly webRtcServer: types.WebRtcServer;
  #closed = false;
  #streams = 0;
  /** Rooms being created here whose router does not exist yet (so concurrent placements see them). */
  pendingRooms = 0;
  #cpuPercent = 0;
  #lastCpuMs = 0;
  #lastSampleAt = 0;
  #sampler: NodeJS.Timeout | undefined;

  static async create(settings: MediaWorkerSettings): Promise<MediaWorker> {
    let worker: types.Worker;
    try {
      worker = await mediasoup.createWorker({
        workerBin: settings.workerBin,
        logLevel: settings.logLevel,
        logTags: settings.logTags,
        appData: { index: settings.index },
      });
    } catch (error) {
      throw new MediaError('NO_WORKER', `cannot start mediasoup-worker ${settings.workerBin}`, {
        cause: error,
      });
    }
    let webRtcServer: types.WebRtcServer;
    try {
      const common = {
        ip: settings.listenIp,
        port: settings.port,
        ...(settings.announcedAddress ? { announcedAddress: settings.announcedAddress } : {}),
      };
      webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ...common },
          { protocol: 'tcp', ...common },
        ],
      });
    } catch (error) {
      worker.close();
      throw new MediaError(
        'NO_WORKER',
        `worker ${settings.index}: cannot listen on ${settings.listenIp}:${settings.port} (udp+tcp)`,
        { cause: error },
      );
    }
    return new MediaWorker(settings, worker, webRtcServer);
  }

  private constructor(settings: MediaWorkerSettings, worker: types.Worker, webRtcServer: types.WebRtcServer) {
    super();
    this.index = settings.index;
    this.settings = settings;
    this.worker = worker;
    this.webRtcServer = webRtcServer;

    // Count streams from mediasoup's observers so that the load is right whatever created them.
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        transport.observer.on('newproducer', (producer) => {
          this.#streams++;
          producer.observer.once('close', () => this.#streams--);
        });
        transport.observer.on('newconsumer', (consumer) => {
          this.#streams++;
          consumer.observer.once('close', () => this.#streams--);
        });
      });
    });

    worker.on('died', (error) => {
      if (this.#closed) return;
      this.#stopSampling();
      this.#closed = true;
      this.safeEmit('died', error);
    });

    if (settings.loadSampleIntervalMs > 0) {
      this.#sampler = setInterval(
        () => void this.sampleLoad().catch(() => {}),
        settings.loadSampleIntervalMs,
      );
      this.#sampler.unref();
    }
  }

  get pid(): number {
    return this.worker.pid;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get died(): boolean {
    return this.worker.died;
  }

  /** Producers + consumers currently on this worker. */
  get streams(): number {
    return this.#streams;
  }

  /** Worker CPU over the last sampling period, percent of one core. */
  get cpuPercent(): number {
    return this.#cpuPercent;
  }

  load(rooms: number): WorkerLoad {
    return {
      index: this.index,
      rooms: rooms + this.pendingRooms,
      streams: this.#streams,
      cpuPercent: this.#cpuPercent,
    };
  }

  /** Samples the worker's CPU now and updates cpuPercent (returned). */
  async sampleLoad(): Promise<number> {
    const cpuMs = await this.#cpuTimeMs();
    const now = performance.now();
    if (this.#lastSampleAt > 0 && now > this.#lastSampleAt)
      this.#cpuPercent = (100 * (cpuMs - this.#lastCpuMs)) / (now - this.#lastSampleAt);
    this.#lastCpuMs = cpuMs;
    this.#lastSampleAt = now;
    return this.#cpuPercent;
  }

  /**
   * utime + stime of the worker process. On Linux from /proc/<pid>/stat, read at a known instant:
   * getResourceUsage() goes through the worker's channel, and under load its answer comes late enough
   * (seconds, measured) to turn a 2 s CPU rate into nonsense. Elsewhere getResourceUsage().
   */
  async #cpuTimeMs(): Promise<number> {
    try {
      const stat = await readFile(`/proc/${this.worker.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (Number.isFinite(ticks)) return (ticks * 1000) / CLOCK_TICKS_PER_S;
    } catch {
      // Not Linux (or no procfs): ask the worker.
    }
    const usage = await this.worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  }

  /** Closes the worker process and everything on it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopSampling();
    this.worker.close();
  }

  #stopSampling(): void {
    if (this.#sampler) clearInterval(this.#sampler);
    this.#sampler = undefined;
  }
}
