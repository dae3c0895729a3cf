import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import type { Hono } from 'hono';
import type { Cluster } from 'ioredis';
import { InternalTokens } from '../lib/auth/internal';
import { KeySet } from '../lib/auth/keys';
import { TokenService } from '../lib/auth/tokens';
import { loadCatalogue } from '../lib/catalogue';
import { CHAT_TOPIC, createKafka, REGION_TOPICS } from '../lib/kafka';
import { createRedisCluster } from '../lib/redis';
import { Tracing } from '../lib/telemetry/Tracing';
import { CascadeService } from './cascade/CascadeService';
import { PipeManager } from './cascade/PipeManager';
import { RelayDirectory } from './cascade/RelayDirectory';
import { RemoteTrackSource } from './cascade/RemoteTrackSource';
import { ChatService } from './chat/ChatService';
import { ConferenceManager } from './conference/ConferenceManager';
import type { EdgeConfig } from './config';
import { ControlServiceService, createControlService } from './control/ControlService';
import { RemoteRoomFeed } from './events/RemoteRoomFeed';
import { RoomEventLog } from './events/RoomEventLog';
import { FileSharing } from './files/FileSharing';
import { loadFilesConfig } from './files/filesConfig';
import { createApp } from './http/app';
import { InternalServer } from './internal/InternalServer';
import { ROOM_MEDIA_CODECS } from './media/codecs';
import { WorkerPool } from './media/WorkerPool';
import { NodeRegistry } from './routing/NodeRegistry';
import { RoomDirectory } from './routing/RoomDirectory';

/** A hard cap for one WebSocket frame; the signaling layer refuses frames over 64 KiB with TOO_LARGE. */
const WS_MAX_PAYLOAD = 1024 * 1024;
const CHAT_PARTITIONS = REGION_TOPICS.find((t) => t.name === CHAT_TOPIC)!.partitions;
const DEFAULT_WEB_DIR = fileURLToPath(new URL('../web/dist', import.meta.url));

/**
 * One edge process: its media workers, its conferences, its HTTP/WebSocket server and its Redis
 * connection. It owns them all; close() stops them in reverse order.
 */
export class EdgeNode {
  readonly config: EdgeConfig;
  readonly #redis: Cluster;
  readonly #pool: WorkerPool;
  readonly #chat: ChatService;
  readonly #events: RoomEventLog;
  readonly #remote: RemoteRoomFeed;
  readonly #files: FileSharing;
  readonly manager: ConferenceManager;
  /** Tokens for this edge's calls to other Meetview services, and for verifying theirs. */
  readonly internalTokens: InternalTokens;
  /** The gRPC server other edges and the core call (Cascade, Control). */
  readonly internal: InternalServer;
  /** This edge's tracer provider (remote subscriptions across edges). */
  readonly tracing: Tracing;
  /** Cascade: this edge's producers piped to other edges, and other edges' producers piped here. */
  readonly cascade: CascadeService;
  readonly pipes: PipeManager;
  /** Where a remote track is piped from: its owner, or this region's relay for it. */
  readonly tracks: RemoteTrackSource;
  readonly #server: ServerType;
  readonly url: string;
  #closed = false;

  static async start(config: EdgeConfig, keys: KeySet = KeySet.fromEnv()): Promise<EdgeNode> {
    const redis = createRedisCluster(config.redisNodes);
    const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: config.nodeId });
    let pool: WorkerPool | undefined;
    let chat: ChatService | undefined;
    let events: RoomEventLog | undefined;
    let remote: RemoteRoomFeed | undefined;
    let files: FileSharing | undefined;
    const internalTokens = new InternalTokens(keys);
    const tracing = new Tracing({
      service: 'meetview-edge',
      node: config.nodeId,
      region: config.region,
      ...config.tracing,
    });
    const internal = new InternalServer(internalTokens, tracing.tracer);
    try {
      await redis.ping();
      const internalPort = await internal.listen(config.internal.host, config.internal.port);
      pool = await WorkerPool.create({
        ...(config.workers ? { numWorkers: config.workers } : {}),
        listenIp: config.rtc.listenIp,
        ...(config.rtc.announcedAddress ? { announcedAddress: config.rtc.announcedAddress } : {}),
        basePort: config.rtc.basePort,
        rtcPortRange: config.rtc.portRange,
      });
      const routerRtpCapabilities = await probeRouterCapabilities(pool);
      const internalAddress = `${config.internal.host}:${internalPort}`;
      events = new RoomEventLog(kafka, config.region, config.nodeId, internalAddress);
      await events.connect();
      // Other regions' participants and tracks, from their mirrored room events (cascade).
      remote = new RemoteRoomFeed(kafka, {
        region: config.region,
        node: config.nodeId,
        sources: loadCatalogue().regions.map((r) => r.id),
        // Edges of one region share rooms only with placement 'local'; then they read each other's events.
        ownRegion: config.placement === 'local',
      });
      await remote.start();
      // The chat consumer delivers to conferences, which exist once the node is built; it joins its group
      // before the node listens, so no message sent to a room here is missed.
      let manager: ConferenceManager | undefined;
      chat = new ChatService(kafka, redis, {
        region: config.region,
        node: config.nodeId,
        partitions: CHAT_PARTITIONS,
        hosts: (room) => manager?.get(room) !== undefined,
        deliver: (room, message) => manager?.get(room)?.deliverChat(message),
      });
      await chat.start();
      const chatService = chat;
      files = await FileSharing.start({
        config: config.files ?? loadFilesConfig({ MEETVIEW_REGION: config.region }),
        region: config.region,
        node: config.nodeId,
        redis,
        kafka,
        internalTokens,
        postOffer: (room, about, text, meta) =>
          chatService.system(room, about, text, {
            id: meta.id,
            name: meta.name,
            size: meta.size,
            type: meta.type,
            sha256: meta.sha256,
          }),
      });
      const fileSharing = files;
      const eventLog = events;
      const remoteFeed = remote;
      return await new Promise<EdgeNode>((resolve, reject) => {
        const node = new EdgeNode(
          config,
          keys,
          redis,
          pool!,
          chatService,
          eventLog,
          remoteFeed,
          routerRtpCapabilities,
          fileSharing,
          { tokens: internalTokens, server: internal, address: internalAddress },
          tracing,
          resolve,
        );
        manager = node.manager;
        node.#server.once('error', reject);
      });
    } catch (err) {
      await files?.close();
      await chat?.close();
      await remote?.close();
      await events?.close();
      await internal.close();
      await tracing.shutdown();
      pool?.close();
      redis.disconnect();
      throw err;
    }
  }

  private constructor(
    config: EdgeConfig,
    keys: KeySet,
    redis: Cluster,
    pool: WorkerPool,
    chat: ChatService,
    events: RoomEventLog,
    remote: RemoteRoomFeed,
    routerRtpCapabilities: unknown,
    files: FileSharing,
    internal: { tokens: InternalTokens; server: InternalServer; address: string },
    tracing: Tracing,
    onListening: (node: EdgeNode) => void,
  ) {
    this.config = config;
    this.#redis = redis;
    this.#pool = pool;
    this.#chat = chat;
    this.#events = events;
    this.#remote = remote;
    this.#files = files;
    this.internalTokens = internal.tokens;
    this.internal = internal.server;
    this.tracing = tracing;
    const tokens = new TokenService(keys);
    const directory = new RoomDirectory(redis);
    const registry = new NodeRegistry(redis, config.region);
    this.url = config.publicUrl ?? `http://${config.http.host}:${config.http.port}`;
    const self = { node: config.nodeId, region: config.region };
    this.pipes = new PipeManager({ ...self, tokens: internal.tokens, tracer: tracing.tracer });
    this.tracks = new RemoteTrackSource({
      ...self,
      pipes: this.pipes,
      relays: new RelayDirectory(redis, config.region),
      locate: async (id) => {
        const rec = await registry.get(id);
        return rec?.internal ? { node: rec.id, region: rec.region, address: rec.internal } : undefined;
      },
    });
    this.manager = new ConferenceManager(pool, directory, registry, {
      region: config.region,
      node: config.nodeId,
      graceMs: config.graceMs,
      url: this.url,
      internal: internal.address,
      heartbeatMs: 1000,
      placement: config.placement,
      chat,
      events,
      chatRate: config.chatRate ?? { perSecond: 5, burst: 20 },
      cascade: { remote: (room) => remote.state.room(room), pipes: this.pipes, tracks: this.tracks },
      watchPeer: (peer) => this.pipes.watch(peer),
      tracer: tracing.tracer,
    });
    remote.on('changed', (room) => this.manager.remoteChanged(room));
    // A lost peer edge is tried again every few seconds. If the same incarnation answers (a partition
    // healed), it still has its producers and its tracks are shown again; a restarted edge's old ones are
    // not (its participants come back through the room events when they rejoin).
    const reaching = new Set<string>();
    this.pipes.on('peerlost', ({ peer, incarnation }) => {
      this.manager.peerLost(peer.node);
      if (reaching.has(peer.node)) return;
      reaching.add(peer.node);
      this.pipes.reachPeer(peer).then(
        (now) => {
          reaching.delete(peer.node);
          // Unknown incarnation: the edge was never reached from here (a watch that failed at once), so
          // whether it restarted cannot be told; it is shown again rather than hidden for good.
          if (!incarnation || now === incarnation) this.manager.peerBack(peer.node);
        },
        () => reaching.delete(peer.node),
      );
    });
    // The core's actions (remove, mute, close, drain, …) arrive on the internal server.
    this.internal.addService(ControlServiceService, createControlService({ manager: this.manager, pool }));
    this.cascade = new CascadeService({ ...self, rooms: (id) => pool.getRoom(id), relay: this.pipes });
    this.internal.addService(this.cascade.definition, this.cascade.implementation());
    // createNodeWebSocket reads init.app only when an upgrade arrives; it is set once the app is composed.
    const wsInit = { app: undefined as unknown as Hono };
    const ws = createNodeWebSocket(wsInit);
    (ws.wss.options as { maxPayload: number }).maxPayload = WS_MAX_PAYLOAD;
    const toWs = (base: string) => base.replace(/^http/, 'ws');
    const app = createApp({
      upgradeWebSocket: ws.upgradeWebSocket,
      tokens,
      manager: this.manager,
      devTokens: config.devTokens,
      wsUrl: (token) => `${toWs(this.url)}/rtc?token=${encodeURIComponent(token)}`,
      connection: {
        rate: config.signalingRate ?? { perSecond: 50, burst: 100 },
        redirectUrl: (nodeUrl) => `${toWs(nodeUrl)}/rtc`,
      },
      health: {
        info: () => ({ node: config.nodeId, region: config.region }),
        ready: () => this.#ready(),
      },
      webDir: config.webDir ?? DEFAULT_WEB_DIR,
      routerRtpCapabilities,
      files: { service: files.service, tokens, internalTokens: internal.tokens },
    });
    wsInit.app = app;
    this.#server = serve({ fetch: app.fetch, hostname: config.http.host, port: config.http.port }, () => {
      this.manager
        .start()
        .then(() => onListening(this))
        .catch((err) => this.#server.emit('error', err));
    });
    ws.injectWebSocket(this.#server);
    pool.on('roomsorphaned', (rooms) =>
      console.error(
        `[edge ${config.nodeId}] a worker died; ${rooms.length} room(s) closed, clients reconnect`,
      ),
    );
  }

  /** The port the HTTP server listens on (useful with port 0). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get pool(): WorkerPool {
    return this.#pool;
  }

  async #ready(): Promise<{ ok: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    try {
      await this.#redis.ping();
      checks.redis = 'ok';
    } catch (err) {
      checks.redis = (err as Error).message;
    }
    checks.workers = this.#pool.workers().length > 0 ? 'ok' : 'no live worker';
    return { ok: Object.values(checks).every((v) => v === 'ok') && !this.#closed, checks };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.manager.close();
    await this.tracks.close();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      (this.#server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    this.pipes.close();
    this.cascade.close();
    await this.internal.close();
    await this.#files.close();
    await this.#chat.close();
    await this.#remote.close();
    await this.#events.close();
    this.#pool.close();
    this.#redis.disconnect();
    await this.tracing.shutdown();
  }
}

/** The RTP capabilities every room's router has (same codecs everywhere), read from a throwaway router. */
async function probeRouterCapabilities(pool: WorkerPool): Promise<unknown> {
  const worker = pool.worker(0);
  if (!worker) throw new Error('no live mediasoup worker');
  const router = await worker.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
  try {
    return router.rtpCapabilities;
  } finally {
    router.close();
  }
}
