import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { signApiToken } from '../../../core/auth/ApiKeys';
import {
  AdminServiceClient,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from '../../../proto/gen/meetview/admin/v1/admin';

type Client = InstanceType<typeof AdminServiceClient>;
type Unary = Exclude<keyof Client & string, 'watchEvents' | keyof import('@grpc/grpc-js').Client>;
type Req<M extends Unary> = Parameters<Client[M]>[0];
type Res<M extends Unary> = Parameters<Parameters<Client[M]>[3]>[1];

/** How a test authenticates: a key and secret, a ready header value, or nothing. */
export type Credentials = { key: string; secret: string } | { header: string } | null;

/** A promise-returning Admin API client for tests and benchmarks. */
export class AdminTestClient {
  readonly client: Client;
  readonly #creds: Credentials;

  constructor(address: string, creds: Credentials) {
    this.client = new AdminServiceClient(address, credentials.createInsecure());
    this.#creds = creds;
  }

  async metadata(): Promise<Metadata> {
    const md = new Metadata();
    if (this.#creds && 'header' in this.#creds) md.set('authorization', this.#creds.header);
    else if (this.#creds)
      md.set('authorization', `Bearer ${await signApiToken(this.#creds.key, this.#creds.secret, 120)}`);
    return md;
  }

  async call<M extends Unary>(method: M, req: Req<M>, timeoutMs = 10_000): Promise<NonNullable<Res<M>>> {
    const md = await this.metadata();
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as unknown as (...a: unknown[]) => void;
      fn.call(
        this.client,
        req,
        md,
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res as NonNullable<Res<M>>)),
      );
    });
  }

  /** The gRPC status code of a call ('OK' when it succeeds). */
  async code<M extends Unary>(method: M, req: Req<M>): Promise<number> {
    try {
      await this.call(method, req);
      return 0;
    } catch (err) {
      return (err as ServiceError).code;
    }
  }

  /** Opens WatchEvents and records what arrives. */
  async watch(req: Partial<WatchEventsRequest> = {}): Promise<Watcher> {
    const stream = this.client.watchEvents({ afterPosition: '', room: '', ...req }, await this.metadata());
    return new Watcher(stream);
  }

  close(): void {
    this.client.close();
  }
}

export class Watcher {
  readonly events: (WatchEventsResponse & { receivedAt: number })[] = [];
  error: ServiceError | undefined;
  ended = false;
  readonly #stream: ReturnType<Client['watchEvents']>;

  constructor(stream: ReturnType<Client['watchEvents']>) {
    this.#stream = stream;
    stream.on('data', (r: WatchEventsResponse) => this.events.push({ ...r, receivedAt: Date.now() }));
    stream.on('error', (e: ServiceError) => {
      this.error = e;
    });
    stream.on('end', () => {
      this.ended = true;
    });
  }

  /** Waits until `pred` holds on the events received so far. */
  async until(
    pred: (events: Watcher['events']) => boolean,
    timeoutMs = 15_000,
    what = 'events',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      if (this.error) throw new Error(`watch failed: ${this.error.message}`);
      if (Date.now() > deadline)
        throw new Error(`no ${what} within ${timeoutMs} ms (have ${this.events.length})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  cancel(): void {
    this.#stream.cancel();
  }
}

/** Polls `fn` until it returns a truthy value. */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
