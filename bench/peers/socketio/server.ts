/**
 * The chat peer: a Socket.IO server built the way a Node developer usually would, scaled out with
 * @socket.io/redis-adapter on the region's Redis Cluster (ioredis Cluster, the adapter's classic
 * pub/sub: a PUBLISH in a Redis Cluster reaches every node's subscribers). Run two of them side by
 * side, like two edges. Clients `join` a room (ack), then `chat.send {text}` (ack {messageId, ts});
 * every member of the room, on either instance, gets `chat.message`.
 *
 * Env: PORT, REDIS_NODES=host:port,host:port…, NODE_ID (a name for logs).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Cluster } from 'ioredis';
import { Server } from 'socket.io';

const MAX_TEXT = 4000;
const port = Number(process.env.PORT);
const nodes = (process.env.REDIS_NODES ?? '').split(',').filter(Boolean);
const nodeId = process.env.NODE_ID ?? 'socketio';
if (!Number.isInteger(port) || port <= 0) throw new Error('PORT: a TCP port is required');
if (nodes.length === 0) throw new Error('REDIS_NODES: host:port,… of the Redis Cluster is required');

const startup = nodes.map((hp) => {
  const [host, p] = hp.split(':');
  return { host: host!, port: Number(p) };
});
const pub = new Cluster(startup);
const sub = pub.duplicate();
await Promise.all([
  new Promise((resolve, reject) => pub.once('ready', resolve).once('error', reject)),
  new Promise((resolve, reject) => sub.once('ready', resolve).once('error', reject)),
]);

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'] });

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

http.listen(port, '127.0.0.1', () => console.log(`[${nodeId}] socket.io listening on ${port}`));

const stop = () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
