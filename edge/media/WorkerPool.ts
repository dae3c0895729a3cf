import { cpus } from 'node:os';
import type { types } from 'mediasoup';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { resolveWorkerBin } from '../../lib/media/workerBin';
import { ROOM_MEDIA_CODECS } from './codecs';
import { MediaError } from './MediaError';
import { MediaWorker, type MediaWorkerSettings } from './MediaWorker';
import { DEFAULT_PLACEMENT_WEIGHTS, type PlacementWeights, pickWorker, type WorkerLoad } from './placement';
import { Room } from './Room';

export type WorkerPoolOptions = {
  /** Number of workers; default one per CPU core. */
  numWorkers?: number;
  /** mediasoup-worker binary; default resolveWorkerBin() (env, bundled, offline cache). */
  workerBin?: string;
  logLevel?: types.WorkerLogLevel;
  logTags?: types.WorkerLogTag[];
  /** IP to bind WebRtcServers and plain transports to; default 127.0.0.1. */
  listenIp?: string;
  /** Address announced in ICE candidates and plain transport tuples (public IP or DNS name). */
  announcedAddress?: string;
  /** Worker i's WebRtcServer listens on basePort + i, UDP and TCP. Default 40000. */
  basePort?: number;
  /** Ports for per-transport sockets (plain/pipe transports). Default 41000–49999. */
  rtcPortRange?: types.TransportPortRange;
  /** CPU sampling period for load-aware placement; 0 disables it. Default 2000 ms. */
  loadSampleIntervalMs?: number;
  placementWeights?: PlacementWeights;
  /** How many times a dead worker's replacement is attempted before giving up. Default 10. */
  replaceAttempts?: number;
};

export type WorkerInfo = { index: number; pid: number; port: number } & WorkerLoad;

export type WorkerPoolEvents = {
  /** A worker process died; its rooms are closed and reported in 'roomsorphaned' just after. */
  workerdied: [{ index: number; pid: number; error: Error }];
  /** The rooms that lived on a dead worker (already closed, reason 'workerdied'). */
  roomsorphaned: [Room[], Error];
  /** A new worker took the dead one's slot and ports. */
  workerreplaced: [{ index: number; pid: number; previousPid: number }];
  /** The slot stays empty: replacement failed replaceAttempts times. */
  workerreplacefailed: [{ index: number; error: Error }];
  close: [];
};

type Slot = { index: number; worker: MediaWorker | undefined };

/**
 * The edge's mediasoup workers: one per core, each with a WebRtcServer on a fixed port, and the rooms
 * placed on them. It owns the workers and the rooms: a dead worker is replaced in its slot (same ports)
 * and its rooms are closed and reported, never left dangling; close() closes everything.
 */
export class WorkerPool extends TypedEmitter<WorkerPoolEvents> {
  readonly #settings: Omit<MediaWorkerSettings, 'index' | 'port'> & { basePort: number };
  readonly #weights: PlacementWeights;
  readonly #replaceAttempts: number;
  readonly #slots: Slot[];
  readonly #rooms = new Map<string, Room>();
  readonly #pendingRoomIds = new Set<string>();
  #closed = false;

  static async create(options: WorkerPoolOptions = {}): Promise<WorkerPool> {
    const numWorkers = options.numWorkers ?? cpus().length;
    if (!Number.isInteger(numWorkers) || numWorkers < 1)
      throw new MediaError('BAD_PARAMETERS', `numWorkers must be a positive integer, got ${numWorkers}`);
    const pool = new WorkerPool(options, numWorkers);
    try {
      await Promise.all(pool.#slots.map((slot) => pool.#startWorker(slot)));
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  private constructor(options: WorkerPoolOptions, numWorkers: number) {
    super();
    const basePort = options.basePort ?? 40000;
    if (!Number.isInteger(basePort) || basePort < 1 || basePort + numWorkers > 65535)
      throw new MediaError('BAD_PARAMETERS', `basePort ${basePort} leaves no room for ${numWorkers} workers`);
    this.#settings = {
      workerBin: options.workerBin ?? resolveWorkerBin(),
      logLevel: options.logLevel ?? 'warn',
      logTags: options.logTags ?? [],
      listenIp: options.listenIp ?? '127.0.0.1',
      ...(options.announcedAddress ? { announcedAddress: options.announcedAddress } : {}),
      basePort,
      rtcPortRange: options.rtcPortRange ?? { min: 41000, max: 49999 },
      loadSampleIntervalMs: options.loadSampleIntervalMs ?? 2000,
    };
    this.#weights = options.placementWeights ?? DEFAULT_PLACEMENT_WEIGHTS;
    this.#replaceAttempts = options.replaceAttempts ?? 10;
    this.#slots = Array.from({ length: numWorkers }, (_, index) => ({ index, worker: undefined }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Live workers with their load (a slot being replaced is absent). */
  workers(): WorkerInfo[] {
    const infos: WorkerInfo[] = [];
    for (const { worker } of this.#slots) {
      if (!worker || worker.closed) continue;
      infos.push({ ...this.#load(worker), pid: worker.pid, port: this.#settings.basePort + worker.index });
    }
    return infos;
  }

  /** The MediaWorker in a slot, for diagnostics and tests (dump(), getResourceUsage(), pid). */
  worker(index: number): MediaWorker | undefined {
    const worker = this.#slots[index]?.worker;
    return worker && !worker.closed ? worker : undefined;
  }

  rooms(): Room[] {
    return [...this.#rooms.values()];
  }

  getRoom(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  /** Samples every worker's CPU now (placement otherwise uses the periodic samples). */
  async sampleLoad(): Promise<void> {
    await Promise.allSettled(this.#liveWorkers().map((w) => w.sampleLoad()));
  }

  /**
   * Creates a room (one router) on the least loaded worker. The caller owns the room: it listens to
   * room.on('close') / room.on('workerdied') and closes it when the conference ends.
   */
  async createRoom(options: { roomId: string; appData?: types.AppData }): Promise<Room> {
    if (this.#closed) throw new MediaError('POOL_CLOSED', 'the worker pool is closed');
    const roomId = options?.roomId;
    if (typeof roomId !== 'string' || roomId.length === 0)
      throw new MediaError('BAD_PARAMETERS', 'roomId must be a non-empty string');
    if (this.#rooms.has(roomId) || this.#pendingRoomIds.has(roomId))
      throw new MediaError('ROOM_EXISTS', `room ${roomId} already exists on this edge`);
    const live = this.#liveWorkers();
    const chosen = pickWorker(
      live.map((w) => this.#load(w)),
      this.#weights,
    );
    const worker = live.find((w) => w.index === chosen?.index);
    if (!worker) throw new MediaError('NO_WORKER', 'no live mediasoup worker to place the room on');

    this.#pendingRoomIds.add(roomId);
    worker.pendingRooms++;
    let router: types.Router | undefined;
    try {
      router = await worker.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS, appData: { roomId } });
      const audioLevelObserver = await router.createAudioLevelObserver({
        maxEntries: 10,
        threshold: -70,
        interval: 800,
      });
      const activeSpeakerObserver = await router.createActiveSpeakerObserver({ interval: 300 });
      if (this.#closed || worker.closed)
        throw new MediaError('WORKER_DIED', 'worker closed while creating the room');
      const room = new Room({
        id: roomId,
        appData: options.appData ?? {},
        mediaWorker: worker,
        router,
        audioLevelObserver,
        activeSpeakerObserver,
        onClose: (r) => {
          if (this.#rooms.get(r.id) === r) this.#rooms.delete(r.id);
        },
      });
      this.#rooms.set(roomId, room);
      return room;
    } catch (error) {
      router?.close();
      if (worker.closed)
        throw new MediaError('WORKER_DIED', `worker died while creating room ${roomId}`, { cause: error });
      throw MediaError.from(error, 'INTERNAL', `createRoom ${roomId}`);
    } finally {
      this.#pendingRoomIds.delete(roomId);
      worker.pendingRooms--;
    }
  }

  /** Closes every room and every worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of [...this.#rooms.values()]) room.poolClosed();
    this.#rooms.clear();
    for (const slot of this.#slots) {
      slot.worker?.close();
      slot.worker = undefined;
    }
    this.safeEmit('close');
  }

  #liveWorkers(): MediaWorker[] {
    return this.#slots.flatMap(({ worker }) => (worker && !worker.closed ? [worker] : []));
  }

  #load(worker: MediaWorker): WorkerLoad {
    let rooms = 0;
    for (const room of this.#rooms.values()) if (room.workerIndex === worker.index && !room.closed) rooms++;
    return worker.load(rooms);
  }

  async #startWorker(slot: Slot): Promise<MediaWorker> {
    const worker = await MediaWorker.create({
      ...this.#settings,
      index: slot.index,
      port: this.#settings.basePort + slot.index,
    });
    if (this.#closed) {
      worker.close();
      throw new MediaError('POOL_CLOSED', 'the worker pool closed while a worker started');
    }
    slot.worker = worker;
    worker.on('died', (error) => this.#onWorkerDied(slot, worker, error));
    return worker;
  }

  #onWorkerDied(slot: Slot, worker: MediaWorker, error: Error): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    if (this.#closed) return;
    const orphans = [...this.#rooms.values()].filter((room) => room.workerIndex === slot.index);
    for (const room of orphans) room.workerDied(error);
    this.safeEmit('workerdied', { index: slot.index, pid: worker.pid, error });
    this.safeEmit('roomsorphaned', orphans, error);
    void this.#replace(slot, worker.pid);
  }

  async #replace(slot: Slot, previousPid: number): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#replaceAttempts; attempt++) {
      if (this.#closed) return;
      try {
        const worker = await this.#startWorker(slot);
        this.safeEmit('workerreplaced', { index: slot.index, pid: worker.pid, previousPid });
        return;
      } catch (error) {
        lastError = error;
        if (this.#closed) return;
        // The dead process's sockets may take a moment to be released by the kernel.
        await new Promise((resolve) => setTimeout(resolve, Math.min(200 * attempt, 2000)));
      }
    }
    this.safeEmit('workerreplacefailed', {
      index: slot.index,
      error: lastError instanceof Error ? lastError : new Error(String(lastError)),
    });
  }
}
