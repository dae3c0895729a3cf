import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import type { ForwardingTarget } from '../media/ForwardingTarget';

/**
 * The peer the edge's media core is measured against: bare mediasoup, the minimal setup its docs show
 * — one worker, one router with VP8, a comedia plain transport producing, plain transports consuming
 * (paused, then resumed). Same worker binary as the edge.
 */
export class BareMediasoupTarget implements ForwardingTarget {
  readonly name = 'bare';
  readonly #worker: types.Worker;
  readonly #listenIp: string;
  readonly #portRange: types.TransportPortRange;
  #router: types.Router | undefined;

  static async create(options: {
    workerBin: string;
    rtcPortRange: types.TransportPortRange;
    listenIp?: string;
  }) {
    const worker = await mediasoup.createWorker({ workerBin: options.workerBin, logLevel: 'warn' });
    return new BareMediasoupTarget(worker, options.listenIp ?? '127.0.0.1', options.rtcPortRange);
  }

  private constructor(worker: types.Worker, listenIp: string, portRange: types.TransportPortRange) {
    this.#worker = worker;
    this.#listenIp = listenIp;
    this.#portRange = portRange;
  }

  get workerPid(): number {
    return this.#worker.pid;
  }

  async prepare(options: { consumers: number; sinks: { ip: string; port: number }[]; ssrc: number }) {
    const router = await this.#worker.createRouter({
      mediaCodecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }],
    });
    this.#router = router;
    const listenInfo = { protocol: 'udp' as const, ip: this.#listenIp, portRange: this.#portRange };
    const ingress = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });
    const producer = await ingress.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [
          {
            mimeType: 'video/VP8',
            clockRate: 90000,
            payloadType: 96,
            rtcpFeedback: [
              { type: 'nack' },
              { type: 'nack', parameter: 'pli' },
              { type: 'ccm', parameter: 'fir' },
            ],
          },
        ],
        encodings: [{ ssrc: options.ssrc }],
        rtcp: { cname: 'bare', reducedSize: true },
      },
    });
    for (let i = 0; i < options.consumers; i++) {
      const egress = await router.createPlainTransport({ listenInfo, rtcpMux: true, comedia: false });
      const sink = options.sinks[i % options.sinks.length]!;
      await egress.connect({ ip: sink.ip, port: sink.port });
      const consumer = await egress.consume({
        producerId: producer.id,
        rtpCapabilities: router.rtpCapabilities,
        paused: true,
      });
      await consumer.resume();
    }
    return { ip: ingress.tuple.localAddress ?? ingress.tuple.localIp, port: ingress.tuple.localPort };
  }

  async cpuMs(): Promise<number> {
    const usage = await this.#worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  }

  teardown(): void {
    this.#router?.close();
    this.#router = undefined;
  }

  close(): void {
    this.#worker.close();
  }
}
