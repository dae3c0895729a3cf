import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { InternalTokens } from '../../lib/auth/internal';
import { internalAuthClientInterceptor } from '../../lib/grpc/internalAuth';
import { ControlServiceClient } from '../../proto/gen/meetview/control/v1/control';

/** The internal subject the edges' Control service accepts. */
export const CORE_SUBJECT = 'core';

type Client = InstanceType<typeof ControlServiceClient>;
export type ControlMethod =
  | 'removeParticipant'
  | 'muteTrack'
  | 'updateGrants'
  | 'closeRoom'
  | 'drain'
  | 'sendSystemMessage'
  | 'getLoad';
// The last overload of each generated method is (request, metadata, options, callback).
type Req<M extends ControlMethod> = Parameters<Client[M]>[0];
type Res<M extends ControlMethod> = Parameters<Parameters<Client[M]>[3]>[1];

/**
 * gRPC clients for the edges' Control services, one per internal address, each call with a fresh
 * internal token (subject "core") and a deadline. Owns the clients; close() closes them.
 */
export class EdgeControl {
  readonly #tokens: InternalTokens;
  readonly #clients = new Map<string, Client>();

  constructor(tokens: InternalTokens) {
    this.#tokens = tokens;
  }

  call<M extends ControlMethod>(
    address: string,
    method: M,
    request: Req<M>,
    timeoutMs = 5000,
  ): Promise<Res<M>> {
    const client = this.#client(address);
    return new Promise((resolve, reject) => {
      const fn = client[method] as unknown as (
        req: unknown,
        md: unknown,
        opts: unknown,
        cb: (err: ServiceError | null, res: unknown) => void,
      ) => void;
      fn.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as Res<M>),
      );
    });
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }

  #client(address: string): Client {
    let c = this.#clients.get(address);
    if (!c) {
      c = new ControlServiceClient(address, credentials.createInsecure(), {
        interceptors: [internalAuthClientInterceptor(this.#tokens, CORE_SUBJECT)],
      });
      this.#clients.set(address, c);
    }
    return c;
  }
}
