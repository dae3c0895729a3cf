import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeNode } from '../../../edge/EdgeNode';
import { Mesh } from '../../../regions/launcher';
import { startTestEdge, testTokens } from '../../support/edgeFixture';
import { SignalingTestClient } from '../../support/SignalingTestClient';

// A remote subscription traced across both edges: frankfurt (the viewer's edge) keeps its spans in
// memory; seoul (the publisher's edge) exports over OTLP/HTTP to a collector stand-in on loopback that
// keeps what it receives, so the real export path is exercised. Port base 15000.
const PORT_BASE = 15000;
const ROOM = 'traced';
const VP8_PARAMS = {
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc: 44440001 }],
  rtcp: { cname: 'tr', reducedSize: true },
};

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

let mesh: Mesh;
let seoul: EdgeNode;
let frankfurt: EdgeNode;
let collector: Server;
const collected: { service: string; spans: OtlpSpan[] }[] = [];
const frankfurtSpans = new InMemorySpanExporter();
const clients: SignalingTestClient[] = [];

/** OTLP/JSON ids are hex; accept base64 too. */
const hex = (id: string) =>
  /^[0-9a-f]+$/i.test(id) ? id.toLowerCase() : Buffer.from(id, 'base64').toString('hex');

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: OtlpSpan[] }[];
        }[];
      };
      for (const rs of body.resourceSpans) {
        const service =
          rs.resource.attributes.find((a) => a.key === 'service.instance.id')?.value.stringValue ?? '';
        collected.push({ service, spans: rs.scopeSpans.flatMap((s) => s.spans) });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(PORT_BASE + 999, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;

  mesh = await Mesh.start({
    name: 'test-cascade-tracing',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
  });
  const block = (region: string) =>
    mesh.ports.block(mesh.catalogue.regions.find((r) => r.id === region)!.index);
  seoul = await startTestEdge(mesh.info, {
    region: 'seoul',
    index: 1,
    httpPort: block('seoul') + 50,
    rtcPort: block('seoul') + 70,
    tracing: { exporter: new OTLPTraceExporter({ url }) },
  });
  frankfurt = await startTestEdge(mesh.info, {
    region: 'frankfurt',
    index: 1,
    httpPort: block('frankfurt') + 50,
    rtcPort: block('frankfurt') + 70,
    tracing: { processor: new SimpleSpanProcessor({ exporter: frankfurtSpans }) },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await seoul?.close();
  await frankfurt?.close();
  await mesh?.stop();
  await new Promise((r) => collector?.close(r));
});

async function join(edge: EdgeNode, identity: string) {
  const { token } = await testTokens.mint({ room: ROOM, identity, name: identity });
  const r = await SignalingTestClient.joinAnywhere(`${edge.url.replace('http', 'ws')}/rtc`, token);
  clients.push(r.client);
  return r;
}

describe('tracing a remote subscription', () => {
  it('is one trace across both edges: the viewer edge’s subscription, its gRPC calls, the owner edge’s handling', async () => {
    const ana = await join(seoul, 'ana');
    const send = await ana.client.request('transport.create', { direction: 'send' });
    const { producerId } = await ana.client.request('produce', {
      transportId: send.id,
      kind: 'video',
      source: 'camera',
      rtpParameters: VP8_PARAMS,
    });
    const bo = await join(frankfurt, 'bo');
    if (!bo.join.tracks.some((t) => t.producerId === producerId))
      await bo.client.waitFor('track.published', (d) => d.track.producerId === producerId, 30_000);
    await bo.client.request('transport.create', { direction: 'recv' });
    const consumer = await bo.client.request('consume', {
      producerId,
      rtpCapabilities: bo.join.routerRtpCapabilities as Record<string, unknown>,
    });

    // The viewer's edge: the subscription, and the Cascade calls it made inside it.
    const local = frankfurtSpans.getFinishedSpans();
    const subscribe = local.find((s) => s.name === 'cascade.subscribe');
    expect(subscribe, 'cascade.subscribe on frankfurt').toBeDefined();
    expect(subscribe!.attributes).toMatchObject({
      'meetview.producer_id': producerId,
      'meetview.owner_node': 'seoul-edge-1',
    });
    const traceId = subscribe!.spanContext().traceId;
    const calls = local.filter(
      (s) => s.spanContext().traceId === traceId && s.name.startsWith('/meetview.cascade.v1.'),
    );
    const callNames = calls.map((s) => s.name);
    expect(callNames).toEqual(
      expect.arrayContaining([
        '/meetview.cascade.v1.CascadeService/OpenPipe',
        '/meetview.cascade.v1.CascadeService/PipeProducer',
      ]),
    );
    for (const c of calls) expect(parentOf(c)).toBe(subscribe!.spanContext().spanId);

    // The owner's edge: a server span per call, in the same trace, child of the caller's client span.
    // Flushed until all are in: a flush does not wait for an export its timer started just before.
    const servedNow = () =>
      collected
        .filter((c) => c.service === 'seoul-edge-1')
        .flatMap((c) => c.spans)
        .filter((s) => hex(s.traceId) === traceId);
    await expect
      .poll(
        async () => {
          await seoul.tracing.forceFlush();
          return servedNow().map((s) => s.name);
        },
        { timeout: 10_000, interval: 200 },
      )
      .toEqual(expect.arrayContaining(callNames));
    const served = servedNow();
    const ms = (t: [number, number]) => (t[0] * 1e3 + t[1] / 1e6).toFixed(1);
    console.log(
      [
        `trace ${traceId}: cascade.subscribe ${ms(subscribe!.duration)} ms on frankfurt`,
        ...calls.map((c) => `  ${c.name} ${ms(c.duration)} ms (client, frankfurt)`),
        ...served.map(
          (s) =>
            `  ${s.name} ${((Number((s as unknown as { endTimeUnixNano: string }).endTimeUnixNano) - Number((s as unknown as { startTimeUnixNano: string }).startTimeUnixNano)) / 1e6).toFixed(1)} ms (server, seoul)`,
        ),
      ].join('\n'),
    );
    const clientIds = new Set(calls.map((c) => c.spanContext().spanId));
    for (const s of served) expect(clientIds.has(hex(s.parentSpanId ?? ''))).toBe(true);

    // Then the wait for the viewer's first key frame (no media flows here: it ends when the consumer does).
    await bo.client.request('leave', {});
    await expect
      .poll(() => frankfurtSpans.getFinishedSpans().find((s) => s.name === 'cascade.firstKeyFrame'), {
        timeout: 5000,
      })
      .toBeDefined();
    const wait = frankfurtSpans.getFinishedSpans().find((s) => s.name === 'cascade.firstKeyFrame')!;
    expect(wait.spanContext().traceId).toBe(traceId);
    expect(wait.status.message).toBe('consumer closed before a key frame');
    expect(consumer.producerId).toBe(producerId);
  });

  it('records nothing for calls outside a traced operation (the Watch stream, keepalives)', () => {
    const names = frankfurtSpans.getFinishedSpans().map((s) => s.name);
    expect(names.some((n) => n.endsWith('/Watch'))).toBe(false);
  });
});

function parentOf(span: ReadableSpan): string | undefined {
  const s = span as unknown as { parentSpanContext?: { spanId: string }; parentSpanId?: string };
  return s.parentSpanContext?.spanId ?? s.parentSpanId;
}
