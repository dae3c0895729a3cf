// A real WebRTC peer (headless Chromium + mediasoup-client) against a WebRtcTransport of the
// offline-built worker. This is where a Debian-OpenSSL worker without the DTLS BIO fix crashes
// (SIGSEGV on the browser's first DTLS packet), so the handshake must complete, the worker must
// survive, and media must flow both ways.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { types } from 'mediasoup';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../support/browser';
import type { InboundVideoStats, TransportOptions } from './browserPeer';
import { Cleanup } from './Cleanup';
import { createTestWorker, requireFile, requireWorkerBin, sleep, sumStat, waitFor } from './support';

const mediaCodecs: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

async function bundlePeer(): Promise<string> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, 'browserPeer.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Serves the page and the bundle on 127.0.0.1 (a secure context, so getUserMedia works). */
async function servePage(script: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.url === '/peer.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' });
      response.end(script);
    } else if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<!doctype html><title>peer</title><script src="/peer.js"></script>');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no server address');
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

function transportOptions(transport: types.WebRtcTransport): TransportOptions {
  return {
    id: transport.id,
    iceParameters: transport.iceParameters,
    iceCandidates: transport.iceCandidates as TransportOptions['iceCandidates'],
    dtlsParameters: transport.dtlsParameters as TransportOptions['dtlsParameters'],
  };
}

describe('mediasoup-worker with a real WebRTC peer (headless Chromium)', () => {
  const cleanup = new Cleanup();
  let worker: types.Worker;
  let context: BrowserContext;
  let page: Page;
  let pageUrl: string;

  beforeAll(async () => {
    requireWorkerBin();
    requireFile(CHROMIUM, 'chromium (apt-get install -y chromium, or set CHROMIUM_PATH)');
    const script = await bundlePeer();
    const { server, url } = await servePage(script);
    cleanup.add(server, (s) => new Promise((resolve) => s.close(resolve)));
    pageUrl = url;
    worker = cleanup.add(await createTestWorker(), (w) => w.close());
    // A fresh profile per run; launchPersistentContext is how playwright takes --user-data-dir.
    const profile = await mkdtemp(join(tmpdir(), 'meetview-mediasoup-worker-test-chromium-'));
    cleanup.add(profile, (dir) => rm(dir, { recursive: true, force: true }));
    context = cleanup.add(
      await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_FLAGS,
      }),
      (c) => c.close(),
    );
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    const died = worker?.died;
    await cleanup.run();
    if (worker) expect(died, 'the worker died during the test').toBe(false);
  });

  it('completes the DTLS handshake and media flows both ways', async () => {
    const router = await worker.createRouter({ mediaCodecs });
    const listenInfos: types.TransportListenInfo[] = [{ protocol: 'udp', ip: '127.0.0.1' }];
    const sendTransport = await router.createWebRtcTransport({ listenInfos });
    const recvTransport = await router.createWebRtcTransport({ listenInfos });
    const transports = new Map([
      [sendTransport.id, sendTransport],
      [recvTransport.id, recvTransport],
    ]);
    const producers: types.Producer[] = [];

    await page.exposeFunction('signal', async (method: string, data: unknown) => {
      switch (method) {
        case 'connect': {
          const { transportId, dtlsParameters } = data as {
            transportId: string;
            dtlsParameters: types.DtlsParameters;
          };
          const transport = transports.get(transportId);
          if (!transport) throw new Error(`unknown transport ${transportId}`);
          await transport.connect({ dtlsParameters });
          return null;
        }
        case 'produce': {
          const { kind, rtpParameters } = data as {
            kind: types.MediaKind;
            rtpParameters: types.RtpParameters;
          };
          const producer = await sendTransport.produce({ kind, rtpParameters });
          producers.push(producer);
          return producer.id;
        }
        default:
          throw new Error(`unknown method ${method}`);
      }
    });
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(pageUrl);
    await page.waitForFunction(() => typeof window.peer === 'object');

    const rtpCapabilities = (await page.evaluate(
      ([caps, send, recv]) => window.peer.start(caps, send, recv),
      [
        // mediasoup's and mediasoup-client's RtpCapabilities differ only in nominal details.
        router.rtpCapabilities as never,
        transportOptions(sendTransport),
        transportOptions(recvTransport),
      ] as const,
    )) as types.RtpCapabilities;

    // The handshake: this is where the unpatched worker dies.
    await waitFor(
      'the send transport DTLS state to be connected',
      () => {
        if (worker.died) throw new Error('the worker died during the DTLS handshake');
        if (sendTransport.dtlsState === 'failed') throw new Error('DTLS failed');
        return sendTransport.dtlsState === 'connected';
      },
      20_000,
    );
    expect(sendTransport.iceState).toMatch(/connected|completed/);
    expect(producers.map((p) => p.kind).sort()).toEqual(['audio', 'video']);

    // Browser → worker: every producer's byte count grows.
    const videoProducer = producers.find((p) => p.kind === 'video')!;
    const audioProducer = producers.find((p) => p.kind === 'audio')!;
    const bytes = async (producer: types.Producer) => sumStat(await producer.getStats(), 'byteCount');
    const before = [await bytes(videoProducer), await bytes(audioProducer)];
    await waitFor(
      'producer byte counts to increase',
      async () =>
        (await bytes(videoProducer)) > before[0]! + 10_000 &&
        (await bytes(audioProducer)) > before[1]! + 1_000,
    );

    // Worker → browser: consume the video and audio back; the page must decode frames.
    const consumers: types.Consumer[] = [];
    for (const producer of [videoProducer, audioProducer]) {
      const consumer = await recvTransport.consume({
        producerId: producer.id,
        rtpCapabilities,
        paused: true,
      });
      consumers.push(consumer);
      await page.evaluate((options) => window.peer.consume(options), {
        id: consumer.id,
        producerId: producer.id,
        kind: consumer.kind,
        rtpParameters: consumer.rtpParameters as never,
      });
      await consumer.resume();
    }
    await waitFor(
      'the receive transport DTLS state to be connected',
      () => {
        if (worker.died) throw new Error('the worker died during the DTLS handshake');
        return recvTransport.dtlsState === 'connected';
      },
      20_000,
    );
    const videoConsumerId = consumers[0]!.id;
    const inbound = () =>
      page.evaluate((id) => window.peer.inboundStats(id), videoConsumerId) as Promise<InboundVideoStats>;
    const first = await waitFor(
      'the page to decode the first frames of the consumed video',
      async () => {
        const stats = await inbound();
        return stats.framesDecoded > 0 ? stats : false;
      },
      20_000,
    );
    await sleep(1500);
    const second = await inbound();
    expect(second.framesDecoded).toBeGreaterThan(first.framesDecoded + 10);
    expect(second.bytesReceived).toBeGreaterThan(first.bytesReceived);
    const audioBack = (await page.evaluate(
      (id) => window.peer.inboundStats(id),
      consumers[1]!.id,
    )) as InboundVideoStats;
    expect(audioBack.packetsReceived).toBeGreaterThan(0);

    expect(await page.evaluate(() => window.peer.connectionStates())).toEqual({
      send: 'connected',
      recv: 'connected',
    });
    // Chromium negotiated SRTP over DTLS with the worker: show which suite, for the record.
    const [transportStats] = await recvTransport.getStats();
    expect(transportStats?.dtlsState).toBe('connected');
    expect(worker.died).toBe(false);

    await page.evaluate(() => window.peer.close());
    router.close();
  });
});
