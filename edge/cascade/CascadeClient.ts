import { type ClientReadableStream, credentials, type ServiceError, status } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { InternalTokens } from '../../lib/auth/internal';
import { TypedEmitter } from '../../lib/events/TypedEmitter';
import { internalAuthClientInterceptor } from '../../lib/grpc/internalAuth';
import { tracingClientInterceptor } from '../../lib/grpc/tracing';
import {
  type ClosePipeRequest,
  CascadeServiceClient as GrpcCascadeClient,
  type NodeRef,
  type OpenPipeRequest,
  type OpenPipeResponse,
  type PipeProducerRequest,
  type PipeProducerResponse,
  type RequestKeyFrameRequest,
  type SetPreferredLayersRequest,
  type UnpipeProducerRequest,
  type WatchResponse,
} from '../../proto/gen/meetview/cascade/v1/cascade';
import { CascadeError } from './CascadeError';

export type CascadeClientOptions = {
  /** This edge (the caller): its node id signs the calls. */
  node: string;
  tokens: InternalTokens;
  /** The edge called. */
  peer: NodeRef;
  /** No message on the Watch stream for this long and the peer is taken as gone. Default 3000 ms. */
  keepaliveDeadlineMs?: number;
  /** Deadline of each unary call. Default 5000 ms. */
  callTimeoutMs?: number;
  /** Calls made inside a traced operation get a client span, their context crossing in the metadata. */
  tracer?: Tracer;
};

export type CascadeClientEvents = {
  producerpause: [{ producerId: string }];
  producerresume: [{ producerId: string }];
  producerclose: [{ producerId: string }];
  pipeclose: [{ pipeId: string }];
  /** The peer is gone (Watch stream failed or its keepalive deadline passed); the client is closed. */
  lost: [CascadeError];
};

/**
 * The subscriber side's connection to one peer edge's Cascade service: typed unary calls (every
 * failure a CascadeError with the gRPC code) and the Watch stream with a keepalive deadline. The first
 * watch() resolves once the peer's first keepalive arrived, so no event after it is missed. A lost
 * peer closes the client; the owner makes a new one to try again.
 */
export class CascadeClient extends TypedEmitter<CascadeClientEvents> {
  readonly peer: NodeRef;
  readonly node: string;
  readonly #client: GrpcCascadeClient;
  readonly #deadlineMs: number;
  readonly #callTimeoutMs: number;
  #stream: ClientReadableStream<WatchResponse> | undefined;
  #watching: Promise<void> | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #lastKeepaliveAt = 0;
  #incarnation = '';
  #closed = false;

  constructor(options: CascadeClientOptions) {
    super();
    if (!options.peer?.address) throw new CascadeError(status.INVALID_ARGUMENT, 'peer.address is required');
    this.peer = options.peer;
    this.node = options.node;
    this.#deadlineMs = options.keepaliveDeadlineMs ?? 3000;
    this.#callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.#client = new GrpcCascadeClient(options.peer.address, credentials.createInsecure(), {
      interceptors: [
        ...(options.tracer ? [tracingClientInterceptor(options.tracer)] : []),
        internalAuthClientInterceptor(options.tokens, options.node),
      ],
      // Reconnect quickly after a peer restarts; the Watch deadline decides when it is gone.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The peer's incarnation from its keepalives ('' before the first): a new one means it restarted. */
  get incarnation(): string {
    return this.#incarnation;
  }

  /** When the last keepalive arrived (ms since epoch), 0 before the first. */
  get lastKeepaliveAt(): number {
    return this.#lastKeepaliveAt;
  }

  /** Opens the Watch stream once; resolves on the first keepalive, rejects if the peer does not answer. */
  watch(): Promise<void> {
    this.#watching ??= new Promise<void>((resolve, reject) => {
      if (this.#closed) {
        reject(new CascadeError(status.CANCELLED, `cascade client to ${this.peer.node} is closed`));
        return;
      }
      let started = false;
      const stream = this.#client.watch({ callerNode: this.node });
      this.#stream = stream;
      const fail = (error: CascadeError) => {
        if (!started) reject(error);
        this.#lose(error);
      };
      this.#armDeadline(fail);
      stream.on('data', (message: WatchResponse) => {
        this.#armDeadline(fail);
        const event = message.event;
        if (!event) return;
        switch (event.$case) {
          case 'keepalive':
            this.#lastKeepaliveAt = Date.now();
            this.#incarnation = event.value.incarnation;
            if (!started) {
              started = true;
              resolve();
            }
            break;
          case 'producerPaused':
            this.safeEmit('producerpause', { producerId: event.value.producerId });
            break;
          case 'producerResumed':
            this.safeEmit('producerresume', { producerId: event.value.producerId });
            break;
          case 'producerClosed':
            this.safeEmit('producerclose', { producerId: event.value.producerId });
            break;
          case 'pipeClosed':
            this.safeEmit('pipeclose', { pipeId: event.value.pipeId });
            break;
        }
      });
      stream.on('error', (error: ServiceError) => {
        if (this.#closed) return;
        fail(CascadeError.fromServiceError(error, 'watch', this.peer.node));
      });
      stream.on('end', () => {
        if (this.#closed) return;
        fail(new CascadeError(status.UNAVAILABLE, `watch on ${this.peer.node}: the peer ended the stream`));
      });
    });
    return this.#watching;
  }

  openPipe(request: OpenPipeRequest): Promise<OpenPipeResponse> {
    return this.#unary('openPipe', request);
  }

  async closePipe(request: ClosePipeRequest): Promise<void> {
    await this.#unary('closePipe', request);
  }

  pipeProducer(request: PipeProducerRequest): Promise<PipeProducerResponse> {
    return this.#unary('pipeProducer', request);
  }

  async unpipeProducer(request: UnpipeProducerRequest): Promise<void> {
    await this.#unary('unpipeProducer', request);
  }

  async requestKeyFrame(request: RequestKeyFrameRequest): Promise<void> {
    await this.#unary('requestKeyFrame', request);
  }

  async setPreferredLayers(request: SetPreferredLayersRequest): Promise<void> {
    await this.#unary('setPreferredLayers', request);
  }

  /** Ends the Watch stream and the channel. Calls in flight fail with CANCELLED. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#stream?.cancel();
    this.#client.close();
  }

  #armDeadline(fail: (error: CascadeError) => void): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(
      () =>
        fail(
          new CascadeError(
            status.DEADLINE_EXCEEDED,
            `no keepalive from ${this.peer.node} (${this.peer.address}) in ${this.#deadlineMs} ms`,
          ),
        ),
      this.#deadlineMs,
    );
  }

  #lose(error: CascadeError): void {
    if (this.#closed) return;
    this.close();
    this.safeEmit('lost', error);
  }

  #unary<Req, Res>(method: UnaryMethod, request: Req): Promise<Res> {
    if (this.#closed)
      return Promise.reject(
        new CascadeError(status.CANCELLED, `cascade client to ${this.peer.node} is closed`),
      );
    return new Promise<Res>((resolve, reject) => {
      const fn = this.#client[method] as unknown as (
        req: Req,
        options: { deadline: number },
        cb: (err: ServiceError | null, res: Res) => void,
      ) => void;
      fn.call(this.#client, request, { deadline: Date.now() + this.#callTimeoutMs }, (err, res) =>
        err ? reject(CascadeError.fromServiceError(err, method, this.peer.node)) : resolve(res),
      );
    });
  }
}

type UnaryMethod =
  | 'openPipe'
  | 'closePipe'
  | 'pipeProducer'
  | 'unpipeProducer'
  | 'requestKeyFrame'
  | 'setPreferredLayers';
