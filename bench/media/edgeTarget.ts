import { PlainRtpEndpoint } from '../../edge/media/PlainRtpEndpoint';
import type { Room } from '../../edge/media/Room';
import { vp8RtpParameters } from '../../edge/media/rtpParameters';
import { WorkerPool } from '../../edge/media/WorkerPool';
import type { ForwardingTarget } from './ForwardingTarget';

/** The edge's media core: a one-worker WorkerPool, a Room, PlainRtpEndpoints. */
export class EdgeTarget implements ForwardingTarget {
  readonly name = 'edge';
  readonly #pool: WorkerPool;
  #room: Room | undefined;
  #rooms = 0;

  static async create(options: {
    workerBin: string;
    basePort: number;
    rtcPortRange: { min: number; max: number };
  }) {
    const pool = await WorkerPool.create({
      numWorkers: 1,
      workerBin: options.workerBin,
      basePort: options.basePort,
      rtcPortRange: options.rtcPortRange,
      loadSampleIntervalMs: 2000,
    });
    return new EdgeTarget(pool);
  }

  private constructor(pool: WorkerPool) {
    this.#pool = pool;
  }

  get workerPid(): number {
    return this.#pool.worker(0)!.pid;
  }

  async prepare(options: { consumers: number; sinks: { ip: string; port: number }[]; ssrc: number }) {
    const room = await this.#pool.createRoom({ roomId: `bench-${this.#rooms++}` });
    this.#room = room;
    const ingress = await PlainRtpEndpoint.create(room, { peerId: 'publisher', comedia: true });
    const producer = await ingress.produce('video', vp8RtpParameters({ ssrc: options.ssrc }));
    for (let i = 0; i < options.consumers; i++) {
      const egress = await PlainRtpEndpoint.create(room, {
        peerId: `viewer-${i}`,
        remote: options.sinks[i % options.sinks.length]!,
      });
      await egress.consume(producer.id);
    }
    return ingress.local;
  }

  async cpuMs(): Promise<number> {
    const usage = await this.#pool.worker(0)!.worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  }

  teardown(): void {
    this.#room?.close();
    this.#room = undefined;
  }

  close(): void {
    this.#pool.close();
  }
}
