import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { InternalTokens } from '../lib/auth/internal';
import { TokenService } from '../lib/auth/tokens';
import { shutdownGrpcServer } from '../lib/grpc/shutdown';
import { createKafka, mirroredTopic, ROOM_EVENTS_TOPIC } from '../lib/kafka';
import { AdminServiceService } from '../proto/gen/meetview/admin/v1/admin';
import { createAdminService } from './admin/AdminService';
import type { AdminConfig } from './config';
import { Directory } from './directory/Directory';
import { EventFeed } from './directory/EventFeed';
import { qualifyDescriptors } from './reflectionDescriptors';
import { EdgeControl } from './regions/EdgeControl';
import { RegionNodes } from './regions/RegionNodes';

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
const ADMIN_SERVICE = 'meetview.admin.v1.AdminService';
/** How often the directory is checked against the regions' live nodes. */
const SWEEP_MS = 5000;
/** A node absent from its region's heartbeats this long is gone: its participants leave the directory. */
const NODE_GONE_MS = 30_000;

/**
 * The Admin API process's parts: the room-event feed from the core Kafka and the directory built from
 * it, the regions' node registries, clients of the edges' Control services, and the gRPC server (Admin,
 * reflection, health). It serves once the directory has caught up with the log; close() stops it all.
 */
export class AdminServer {
  readonly directory: Directory;
  readonly feed: EventFeed;
  readonly #nodes: RegionNodes;
  readonly #control: EdgeControl;
  readonly #server: Server;
  readonly #health: HealthImplementation;
  #port = 0;
  #sweep: NodeJS.Timeout | undefined;
  readonly #absentSince = new Map<string, number>();
  #closed = false;

  static async start(config: AdminConfig): Promise<AdminServer> {
    const server = new AdminServer(config);
    try {
      await server.#start(config);
      return server;
    } catch (err) {
      await server.close();
      throw err;
    }
  }

  private constructor(config: AdminConfig) {
    this.directory = new Directory();
    const kafka = createKafka({ brokers: config.coreKafka, clientId: config.nodeId });
    this.feed = new EventFeed(kafka, {
      topics: config.regions.map((r) => mirroredTopic(r.id, ROOM_EVENTS_TOPIC)),
      groupId: `meetview-core-directory-${config.nodeId}-${process.pid}-${Date.now()}`,
    });
    this.feed.on('record', (r) => this.directory.apply(r.envelope));
    this.feed.on('error', (err) => {
      console.error(`[core] ${err.message}`);
      this.#health.setStatus('', 'NOT_SERVING');
      this.#health.setStatus(ADMIN_SERVICE, 'NOT_SERVING');
    });
    this.#nodes = new RegionNodes(config.regions);
    this.#control = new EdgeControl(new InternalTokens(config.tokenKeys));
    this.#server = new Server();
    this.#server.addService(
      AdminServiceService,
      createAdminService({
        keys: config.keys,
        tokens: new TokenService(config.tokenKeys),
        directory: this.directory,
        feed: this.feed,
        nodes: this.#nodes,
        control: this.#control,
        regions: config.catalogue,
      }),
    );
    // Reflection lets grpcurl and other tools discover the API; it tells the schema, never data.
    const definition = loadSync(
      ['meetview/admin/v1/admin.proto', 'meetview/events/v1/events.proto', healthProtoPath],
      {
        includeDirs: [PROTO_DIR],
        keepCase: true,
        longs: String,
        enums: String,
        defaults: true,
      },
    );
    new ReflectionService(qualifyDescriptors(definition)).addToServer(this.#server);
    this.#health = new HealthImplementation({ '': 'NOT_SERVING', [ADMIN_SERVICE]: 'NOT_SERVING' });
    this.#health.addToServer(this.#server);
  }

  get port(): number {
    return this.#port;
  }

  async #start(config: AdminConfig): Promise<void> {
    // Listening first lets health checks say NOT_SERVING while the directory is rebuilt from the log.
    this.#port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(
        `${config.host}:${config.port}`,
        ServerCredentials.createInsecure(),
        (err, port) =>
          err
            ? reject(new Error(`Admin API cannot listen on ${config.host}:${config.port}: ${err.message}`))
            : resolve(port),
      ),
    );
    await this.feed.start();
    this.#sweep = setInterval(() => {
      this.#sweepGoneNodes().catch((err) => console.error(`[core] node sweep: ${(err as Error).message}`));
    }, SWEEP_MS);
    this.#sweep.unref();
    this.#health.setStatus('', 'SERVING');
    this.#health.setStatus(ADMIN_SERVICE, 'SERVING');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    await shutdownGrpcServer(this.#server);
    await this.feed.close();
    this.#control.close();
    this.#nodes.close();
  }

  // Only regions whose Redis answered are judged: an unreachable region empties nothing.
  async #sweepGoneNodes(): Promise<void> {
    const held = this.directory.nodes();
    const now = Date.now();
    for (const region of new Set(held.values())) {
      let live: Set<string>;
      try {
        live = new Set((await this.#nodes.live(region)).map((n) => n.id));
      } catch {
        continue;
      }
      for (const [node, r] of held) {
        if (r !== region) continue;
        if (live.has(node)) {
          this.#absentSince.delete(node);
          continue;
        }
        const since = this.#absentSince.get(node) ?? now;
        this.#absentSince.set(node, since);
        if (now - since >= NODE_GONE_MS) {
          const removed = this.directory.removeNode(node);
          this.#absentSince.delete(node);
          console.log(
            `[core] node ${node} (${region}) is gone: ${removed} participant(s) left the directory`,
          );
        }
      }
    }
  }
}
