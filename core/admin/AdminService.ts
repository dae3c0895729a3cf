import {
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { TokenError, type TokenService } from '../../lib/auth/tokens';
import type {
  AdminServiceServer,
  Grants,
  Node,
  ParticipantInfo,
  Region,
  RoomSummary,
  WatchEventsRequest,
  WatchEventsResponse,
} from '../../proto/gen/meetview/admin/v1/admin';
import { isValidRoomName } from '../../proto/signaling/messages';
import { type ApiKeys, AuthError, type Scope } from '../auth/ApiKeys';
import type { Directory, DirectoryRoom } from '../directory/Directory';
import type { EventFeed, FeedRecord } from '../directory/EventFeed';
import { PositionError } from '../directory/Positions';
import type { EdgeControl } from '../regions/EdgeControl';
import type { NodeRecord, RegionNodes } from '../regions/RegionNodes';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MAX_TOKEN_TTL = 24 * 3600;
/** A watcher this many events behind (its socket not draining) is ended; it resumes from its position. */
const MAX_WATCH_BACKLOG = 100_000;
/** Edge load figures beyond the heartbeat are read with this budget per ListNodes. */
const LOAD_BUDGET_MS = 800;

/** An error the handler answers with a gRPC status and a message for the caller. */
export class AdminError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminDeps {
  keys: ApiKeys;
  tokens: TokenService;
  directory: Directory;
  feed: EventFeed;
  nodes: RegionNodes;
  control: EdgeControl;
  regions: Region[];
}

/** The Admin API's handlers: validation at the edge of each handler, auth, and gRPC status codes. */
export function createAdminService(deps: AdminDeps): AdminServiceServer {
  const { directory, nodes, control } = deps;

  const roomOf = (name: string): DirectoryRoom => {
    validRoom(name);
    const room = directory.room(name);
    if (!room) throw new AdminError(status.NOT_FOUND, `no room "${name}" in any region`);
    return room;
  };
  const participantNode = async (roomName: string, identity: string): Promise<NodeRecord> => {
    if (!identity) throw new AdminError(status.INVALID_ARGUMENT, 'identity is required');
    const p = roomOf(roomName).participants.get(identity);
    if (!p) throw new AdminError(status.NOT_FOUND, `no participant "${identity}" in room "${roomName}"`);
    return liveNode(p.participant.node);
  };
  const liveNode = async (id: string): Promise<NodeRecord> => {
    const n = await nodes.find(id);
    if (!n)
      throw new AdminError(status.UNAVAILABLE, `node "${id}" is not heartbeating; retry, or it is gone`);
    return n;
  };

  return {
    createToken: unary(deps, 'admin', async (req) => {
      validRoom(req.room);
      if (!req.identity) throw new AdminError(status.INVALID_ARGUMENT, 'identity is required');
      if (req.ttlSeconds > MAX_TOKEN_TTL)
        throw new AdminError(status.INVALID_ARGUMENT, `ttl_seconds is at most ${MAX_TOKEN_TTL}`);
      try {
        const { token, expiresAt } = await deps.tokens.mint({
          room: req.room,
          identity: req.identity,
          name: req.name || req.identity,
          ...(req.grants ? { grants: req.grants } : {}),
          ...(req.ttlSeconds ? { ttlSeconds: req.ttlSeconds } : {}),
        });
        return { token, expiresAtMs: expiresAt * 1000 };
      } catch (err) {
        if (err instanceof TokenError) throw new AdminError(status.INVALID_ARGUMENT, err.message);
        throw err;
      }
    }),

    listRegions: unary(deps, 'read', async () => ({ regions: deps.regions })),

    listNodes: unary(deps, 'read', async (req) => {
      if (req.region && !nodes.hasRegion(req.region))
        throw new AdminError(
          status.NOT_FOUND,
          `no region "${req.region}" with edges (have: ${nodes.regions.join(', ')})`,
        );
      const live = await nodes.live(req.region || undefined);
      const loads = await Promise.all(
        live.map((n) => control.call(n.internal, 'getLoad', {}, LOAD_BUDGET_MS).catch(() => undefined)),
      );
      return {
        nodes: live.map(
          (n, i): Node => ({
            id: n.id,
            region: n.region,
            url: n.url,
            draining: n.draining,
            lastSeenMs: n.lastSeen,
            load: {
              rooms: n.rooms,
              participants: n.participants,
              tracks: n.tracks,
              workerCpu: loads[i]?.workerCpu ?? 0,
              bitrateBps: loads[i]?.bitrateBps ?? 0,
            },
          }),
        ),
      };
    }),

    listRooms: unary(deps, 'read', async (req) => {
      const limit = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken);
      const page = directory.page(after, limit);
      return {
        rooms: page.rooms.map((r) => summary(directory, r)),
        nextPageToken: page.next === undefined ? '' : encodePageToken(page.next),
      };
    }),

    getRoom: unary(deps, 'read', async (req) => ({ room: summary(directory, roomOf(req.room)) })),

    listParticipants: unary(deps, 'read', async (req) => {
      const room = roomOf(req.room);
      const limit = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken);
      const identities = [...room.participants.keys()].sort().filter((id) => id > after);
      const slice = identities.slice(0, limit);
      return {
        participants: slice.map((id): ParticipantInfo => {
          const p = room.participants.get(id)!;
          return { participant: p.participant, tracks: [...p.tracks.values()], joinedAtMs: p.joinedAtMs };
        }),
        nextPageToken: identities.length > limit ? encodePageToken(slice.at(-1)!) : '',
      };
    }),

    removeParticipant: unary(deps, 'admin', async (req, deadline) => {
      const node = await participantNode(req.room, req.identity);
      await forward(control.call(node.internal, 'removeParticipant', req, deadline()), node);
      return {};
    }),

    muteTrack: unary(deps, 'admin', async (req, deadline) => {
      if (!req.producerId) throw new AdminError(status.INVALID_ARGUMENT, 'producer_id is required');
      const node = await participantNode(req.room, req.identity);
      await forward(control.call(node.internal, 'muteTrack', req, deadline()), node);
      return {};
    }),

    updateGrants: unary(deps, 'admin', async (req, deadline) => {
      if (!req.grants) throw new AdminError(status.INVALID_ARGUMENT, 'grants are required');
      const node = await participantNode(req.room, req.identity);
      await forward(control.call(node.internal, 'updateGrants', req, deadline()), node);
      return {};
    }),

    closeRoom: unary(deps, 'admin', async (req, deadline) => {
      validRoom(req.room);
      // The directory may lag a join by a moment: each region's home node for the room is asked too.
      const held = directory.room(req.room);
      const ids = new Set([...(held ? directory.counts(held).nodes : []), ...(await nodes.homes(req.room))]);
      if (ids.size === 0) throw new AdminError(status.NOT_FOUND, `no room "${req.room}" in any region`);
      const live = (await nodes.live()).filter((n) => ids.has(n.id));
      const results = await Promise.allSettled(
        live.map((n) => control.call(n.internal, 'closeRoom', req, deadline())),
      );
      const failed = results.filter(
        (r) => r.status === 'rejected' && (r.reason as ServiceError).code !== status.NOT_FOUND,
      );
      if (failed.length > 0)
        throw new AdminError(
          status.UNAVAILABLE,
          `room "${req.room}" closed on ${live.length - failed.length} of ${live.length} node(s); retry: ${((failed[0] as PromiseRejectedResult).reason as Error).message}`,
        );
      return {};
    }),

    drainNode: unary(deps, 'admin', async (req, deadline) => {
      if (!req.node) throw new AdminError(status.INVALID_ARGUMENT, 'node is required');
      const node = await nodes.find(req.node);
      if (!node) throw new AdminError(status.NOT_FOUND, `no live node "${req.node}"`);
      await forward(control.call(node.internal, 'drain', { draining: !req.undrain }, deadline()), node);
      return {};
    }),

    sendSystemMessage: unary(deps, 'admin', async (req, deadline) => {
      const room = roomOf(req.room);
      if (!req.text.trim()) throw new AdminError(status.INVALID_ARGUMENT, 'text is empty');
      if (req.text.length > 4000) throw new AdminError(status.INVALID_ARGUMENT, 'text is longer than 4000');
      // One edge posts it into its region's chat topic; MirrorMaker 2 carries it to the other regions.
      const node = await liveNode(directory.counts(room).nodes[0]!);
      const res = await forward(control.call(node.internal, 'sendSystemMessage', req, deadline()), node);
      return { messageId: res.messageId };
    }),

    watchEvents: (call: ServerWritableStream<WatchEventsRequest, WatchEventsResponse>) => {
      authorize(deps.keys, call.metadata, 'read', 'WatchEvents').then(
        () => watch(deps.feed, call),
        (err) => call.emit('error', toServiceError(err)),
      );
    },
  };
}

/** Streams the feed to one caller: the buffered records after its position, then every new one. */
function watch(feed: EventFeed, call: ServerWritableStream<WatchEventsRequest, WatchEventsResponse>): void {
  const { room, afterPosition } = call.request;
  if (room && !isValidRoomName(room)) {
    call.emit(
      'error',
      toServiceError(new AdminError(status.INVALID_ARGUMENT, `invalid room name "${room}"`)),
    );
    return;
  }
  let backlog: FeedRecord[] = [];
  let limit = MAX_WATCH_BACKLOG;
  let waiting = false;
  let ended = false;
  const matches = (r: FeedRecord) => !room || r.envelope.room === room;
  const end = (err?: ServiceError) => {
    if (ended) return;
    ended = true;
    feed.off('record', onRecord);
    // grpc-js ends a server stream with a status through its 'error' event.
    if (err) call.emit('error', err);
  };
  const flush = () => {
    waiting = false;
    while (backlog.length > 0 && !ended && !call.cancelled) {
      const r = backlog.shift()!;
      if (!call.write({ envelope: r.envelope, position: r.position })) {
        waiting = true;
        call.once('drain', flush);
        return;
      }
    }
  };
  const onRecord = (r: FeedRecord) => {
    if (!matches(r)) return;
    backlog.push(r);
    if (backlog.length > limit) {
      end(
        toServiceError(
          new AdminError(
            status.RESOURCE_EXHAUSTED,
            'the stream fell too far behind; resume from your last position',
          ),
        ),
      );
      return;
    }
    if (!waiting) flush();
  };
  try {
    // Replay and subscription in one tick: nothing falls between them.
    backlog = afterPosition ? feed.replayAfter(afterPosition).filter(matches) : [];
    limit += backlog.length;
  } catch (err) {
    if (!(err instanceof PositionError)) throw err;
    const code = err.message.includes('older') ? status.OUT_OF_RANGE : status.INVALID_ARGUMENT;
    end(toServiceError(new AdminError(code, err.message)));
    return;
  }
  feed.on('record', onRecord);
  call.on('cancelled', () => end());
  call.on('close', () => end());
  call.on('error', () => end());
  flush();
}

type Deadline = () => number;

/** Wraps a unary handler: authorization for its scope, the caller's deadline, errors as gRPC statuses. */
function unary<Req, Res>(deps: AdminDeps, scope: Scope, fn: (req: Req, deadline: Deadline) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const method = call.getPath().split('/').pop() ?? '';
    const callDeadline = call.getDeadline();
    // Calls forwarded to an edge get what remains of the caller's deadline (at most 5 s).
    const deadline = () => {
      const at = callDeadline instanceof Date ? callDeadline.getTime() : Number(callDeadline);
      const left = Number.isFinite(at) && at > 0 ? at - Date.now() : 5000;
      return Math.max(1, Math.min(5000, left));
    };
    authorize(deps.keys, call.metadata, scope, method)
      .then(() => fn(call.request, deadline))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err)),
      );
  };
}

async function authorize(keys: ApiKeys, metadata: Metadata, scope: Scope, method: string): Promise<void> {
  const raw = metadata.get('authorization')[0];
  const who = await keys.verify(typeof raw === 'string' ? raw : undefined);
  if (scope === 'admin' && who.scope !== 'admin')
    throw new AdminError(
      status.PERMISSION_DENIED,
      `API key "${who.key}" has the read scope; ${method} needs an admin key`,
    );
}

/** An edge's refusal keeps its code (NOT_FOUND stays NOT_FOUND); its message names the node. */
async function forward<T>(p: Promise<T>, node: NodeRecord): Promise<T> {
  try {
    return await p;
  } catch (err) {
    const e = err as ServiceError;
    if (typeof e.code === 'number')
      throw new AdminError(
        e.code === status.DEADLINE_EXCEEDED ? status.DEADLINE_EXCEEDED : e.code,
        `${node.id}: ${e.details || e.message}`,
      );
    throw err;
  }
}

function toServiceError(err: unknown): ServiceError {
  const e = err as Error;
  let code: status = status.INTERNAL;
  if (err instanceof AdminError) code = err.code;
  else if (err instanceof AuthError) code = status.UNAUTHENTICATED;
  else console.error('[core] admin call failed:', e);
  return Object.assign(new Error(e.message), { code, details: e.message, metadata: new Metadata() });
}

function summary(directory: Directory, room: DirectoryRoom): RoomSummary {
  const c = directory.counts(room);
  return {
    name: c.name,
    participants: c.participants,
    tracks: c.tracks,
    regions: c.regions,
    nodes: c.nodes,
    createdAtMs: c.createdAtMs,
  };
}

function validRoom(name: string): void {
  if (!name) throw new AdminError(status.INVALID_ARGUMENT, 'room is required');
  if (!isValidRoomName(name)) throw new AdminError(status.INVALID_ARGUMENT, `invalid room name "${name}"`);
}

function pageSize(n: number): number {
  if (n > MAX_PAGE) throw new AdminError(status.INVALID_ARGUMENT, `page_size is at most ${MAX_PAGE}`);
  return n === 0 ? DEFAULT_PAGE : n;
}

function encodePageToken(after: string): string {
  return Buffer.from(`after:${after}`, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  if (!token) return '';
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith('after:'))
    throw new AdminError(status.INVALID_ARGUMENT, 'page_token is not one this server gave out');
  return text.slice(6);
}

export type { Grants };
