import {
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InternalServer } from '../../edge/internal/InternalServer';
import { InternalTokens } from '../auth/internal';
import { KeySet } from '../auth/keys';
import { CALLER_HEADER, internalAuthClientInterceptor } from './internalAuth';

// A one-method service with string payloads is enough to exercise the interceptors on a real server.
const text = { serialize: (s: string) => Buffer.from(s), deserialize: (b: Buffer) => b.toString() };
const definition = {
  whoAmI: {
    path: '/test.Echo/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: text.serialize,
    requestDeserialize: text.deserialize,
    responseSerialize: text.serialize,
    responseDeserialize: text.deserialize,
  },
} satisfies ServiceDefinition;
const EchoClient = makeGenericClientConstructor(definition, 'Echo');

const tokens = new InternalTokens(KeySet.parse(`k1:${'a'.repeat(40)}`));
const server = new InternalServer(tokens);
let target = '';

function call(client: Client, metadata = new Metadata()): Promise<string> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, (...args: unknown[]) => void>).whoAmI!(
      'hi',
      metadata,
      (err: ServiceError | null, res: string) => (err ? reject(err) : resolve(res)),
    ),
  );
}

beforeAll(async () => {
  server.addService(definition, {
    whoAmI: (c: { metadata: Metadata }, cb: (e: null, r: string) => void) =>
      cb(null, String(c.metadata.get(CALLER_HEADER)[0])),
  });
  target = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
});
afterAll(() => server.close());

describe('internal gRPC auth', () => {
  it('lets a caller with an internal token through and tells the handler who it is', async () => {
    const client = new EchoClient(target, credentials.createInsecure(), {
      interceptors: [internalAuthClientInterceptor(tokens, 'seoul-edge-1')],
    });
    expect(await call(client)).toBe('seoul-edge-1');
    client.close();
  });

  it('refuses no token, a forged token and a spoofed caller header with UNAUTHENTICATED', async () => {
    const bare = new EchoClient(target, credentials.createInsecure());
    await expect(call(bare)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    const forged = new Metadata();
    forged.set(
      'authorization',
      `Bearer ${await new InternalTokens(KeySet.parse(`k1:${'b'.repeat(40)}`)).mint('x')}`,
    );
    forged.set(CALLER_HEADER, 'core');
    await expect(call(bare, forged)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    bare.close();
  });
});
