/**
 * The chat peer: a Socket.IO server built the way a Node developer usually would, scaled out with
 * @socket.io/redis-adapter on the region's Redis Cluster (ioredis Cluster). Run two of them side by
 * side, like two edges. Clients `join` a room (ack), then `chat.send {text}` (ack {messageId, ts});
 * every member of the room, on either instance, gets `chat.message`.
 *
 * The adapter, ADAPTER=sharded (default) or classic:
 * - sharded: Redis 7 sharded pub/sub, a channel per room (SPUBLISH/SSUBSCRIBE on the shard that owns
 *   it), what Socket.IO recommends for a Redis Cluster;
 * - classic: PUBLISH/SUBSCRIBE, which a Redis Cluster forwards to every node over its cluster bus.
 *   On this Redis (7.0), of two back-to-back PUBLISHes to a subscriber on another node the second
 *   often waits up to ~40 ms (measured with ioredis: p99 42 ms; on the subscriber's own node 0.6 ms;
 *   the shape of Nagle's algorithm meeting a delayed ACK). The fan-out benchmark with
 *   `--peer-adapter classic` shows it as a p99 floor of ~40 ms: it measures the bus, not Socket.IO.
 *
 * Env: PORT, REDIS_NODES=host:port,host:port…, NODE_ID (a name for logs), ADAPTER.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Cluster } from 'ioredis';
import { Server } from 'socket.io';

const MAX_TEXT = 4000;
const port = Number(process.env.PORT);
const nodes = (process.env.REDIS_NODES ?? '').split(',').filter(Boolean);
const nodeId = process.env.NODE_ID ?? 'socketio';
const adapterKind = process.env.ADAPTER ?? 'sharded';
if (!Number.isInteger(port) || port <= 0) throw new Error('PORT: a TCP port is required');
if (nodes.length === 0) throw new Error('REDIS_NODES: host:port,… of the Redis Cluster is required');
if (adapterKind !== 'sharded' && adapterKind !== 'classic') throw new Error('ADAPTER: sharded or classic');

const startup = nodes.map((hp) => {
  const [host, p] = hp.split(':');
  return { host: host!, port: Number(p) };
});
const pub = new Cluster(startup);
// A sharded subscriber keeps a connection to every master, and subscribes on the one owning the channel.
const sub = adapterKind === 'sharded' ? new Cluster(startup, { shardedSubscribers: true }) : pub.duplicate();
await Promise.all([
  new Promise((resolve, reject) => pub.once('ready', resolve).once('error', reject)),
  new Promise((resolve, reject) => sub.once('ready', resolve).once('error', reject)),
]);

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const adapter = adapterKind === 'sharded' ? createShardedAdapter(pub, sub) : createAdapter(pub, sub);
const io = new Server(http, { adapter, transports: ['websocket'] });

io.on('connection', (socket) => {
  const identity = String(socket.handshake.auth?.identity ?? socket.id);
  socket.on('join', (room: unknown, ack: unknown) => {
    if (typeof ack !== 'function') return;
    if (typeof room !== 'string' || room.length === 0 || room.length > 128)
      return ack({ ok: false, error: 'room: a string of 1..128 characters' });
    socket.data.room = room;
    void socket.join(room);
    ack({ ok: true });
  });
  socket.on('chat.send', (data: unknown, ack: unknown) => {
    if (typeof ack !== 'function') return;
    const room = socket.data.room as string | undefined;
    const text = (data as { text?: unknown })?.text;
    if (!room) return ack({ ok: false, error: 'join first' });
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT)
      return ack({ ok: false, error: `text: 1..${MAX_TEXT} characters` });
    const messageId = randomUUID();
    const ts = Date.now();
    io.to(room).emit('chat.message', { messageId, room, from: { identity, name: identity }, text, ts });
    ack({ ok: true, messageId, ts });
  });
});

http.listen(port, '127.0.0.1', () =>
  console.log(`[${nodeId}] socket.io listening on ${port} (${adapterKind} Redis adapter)`),
);

const stop = () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
