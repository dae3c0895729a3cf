import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { InternalTokens } from '../../lib/auth/internal';
import { internalAuthServerInterceptor } from '../../lib/grpc/internalAuth';
import { shutdownGrpcServer } from '../../lib/grpc/shutdown';
import { tracingServerInterceptor } from '../../lib/grpc/tracing';

/**
 * The edge's internal gRPC server: the services other Meetview processes call (Cascade from other
 * edges, Control from the core). Every call must carry an internal token; see lib/grpc/internalAuth.
 * Services are added before listen(); the owner closes it.
 */
export class InternalServer {
  readonly #server: Server;
  #port: number | undefined;
  #closed = false;

  /** `tracer`: calls that carry a trace context get a server span in it (lib/grpc/tracing). */
  constructor(tokens: InternalTokens, tracer?: Tracer) {
    this.#server = new Server({
      interceptors: [
        ...(tracer ? [tracingServerInterceptor(tracer)] : []),
        internalAuthServerInterceptor(tokens),
      ],
      // Ping callers every 2 s and drop one silent for 3 s more: a frozen peer edge must not keep its
      // server streams (Cascade Watch) open until TCP gives up, minutes later.
      'grpc.keepalive_time_ms': 2000,
      'grpc.keepalive_timeout_ms': 3000,
    });
  }

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.#server.addService(definition, implementation);
  }

  async listen(host: string, port: number): Promise<number> {
    this.#port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) =>
        err
          ? reject(new Error(`internal gRPC server cannot listen on ${host}:${port}: ${err.message}`))
          : resolve(bound),
      ),
    );
    return this.#port;
  }

  get port(): number | undefined {
    return this.#port;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await shutdownGrpcServer(this.#server);
  }
}
