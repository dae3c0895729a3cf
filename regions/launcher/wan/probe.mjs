/**
 * Network probes for the emulated WAN, run inside a site's namespace (`ip netns exec <ns> node
 * probe.mjs …`) by the tests and the benchmark:
 *
 *   udp-echo  --host H --port P                  echo every datagram back (runs until killed)
 *   tcp-echo  --host H --port P                  echo every byte back (runs until killed)
 *   udp-ping  --to H:P [--count N] [--interval-ms I] [--size B] [--wait-ms W]
 *   tcp-ping  --to H:P [--count N] [--timeout-ms T]   (T: connect timeout, exit 1 after it)
 *
 * The ping commands print one JSON line: {sent, received, rttMs: [...], lost?, outOfOrder?, connectMs?}. A datagram
 * carries its sequence number and send time, so a late echo is still matched.
 */
import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { parseArgs } from 'node:util';

// Plain JavaScript: it starts in a fraction of the time tsx takes (it runs once per probe).
const now = () => Number(process.hrtime.bigint()) / 1e6;
function target(to) {
  const m = /^([\d.]+):(\d+)$/.exec(to ?? '');
  if (!m) throw new Error(`--to must be <ipv4>:<port>, got ${JSON.stringify(to)}`);
  return { host: m[1], port: Number(m[2]) };
}
function listenArgs(values) {
  const port = Number(values.port);
  if (!values.host || !Number.isInteger(port) || port <= 0) throw new Error('--host and --port are required');
  return { host: String(values.host), port };
}
async function udpPing(o) {
  const socket = createSocket('udp4');
  const sentAt = new Map();
  const rttMs = [];
  let highest = -1;
  let outOfOrder = 0;
  socket.on('message', (msg) => {
    if (msg.length < 12) return;
    const seq = msg.readUInt32BE(0);
    if (seq < highest) outOfOrder++;
    highest = Math.max(highest, seq);
    const t = sentAt.get(seq);
    if (t === void 0) return;
    sentAt.delete(seq);
    rttMs.push(now() - t);
  });
  await new Promise((resolve) => socket.bind(0, resolve));
  const start = now();
  for (let seq = 0; seq < o.count; seq++) {
    const due = start + seq * o.intervalMs;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // A fresh buffer each time: send() is asynchronous and would read a reused one after we change it.
    const payload = Buffer.alloc(Math.max(12, o.size));
    payload.writeUInt32BE(seq, 0);
    sentAt.set(seq, now());
    socket.send(payload, o.port, o.host);
  }
  await new Promise((r) => setTimeout(r, o.waitMs));
  socket.close();
  return { sent: o.count, received: rttMs.length, rttMs, lost: [...sentAt.keys()], outOfOrder };
}
async function tcpPing(o) {
  const t0 = now();
  const socket = createConnection({ host: o.host, port: o.port, noDelay: true });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connection within ${o.timeoutMs} ms`)), o.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', reject);
  });
  const connectMs = now() - t0;
  const rttMs = [];
  let pending = null;
  socket.on('data', (data) => pending?.(data));
  for (let i = 0; i < o.count; i++) {
    const t = now();
    const echoed = new Promise((resolve) => {
      let got = 0;
      pending = (data) => {
        got += data.length;
        if (got >= 8) resolve();
      };
    });
    socket.write(Buffer.alloc(8, i));
    await echoed;
    rttMs.push(now() - t);
  }
  socket.destroy();
  return { sent: o.count, received: rttMs.length, rttMs, connectMs };
}
/** Exits once the line is written: stdout to a pipe is asynchronous, and exit() would cut it short. */
function printAndExit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      to: { type: 'string' },
      count: { type: 'string', default: '20' },
      'interval-ms': { type: 'string', default: '20' },
      size: { type: 'string', default: '64' },
      'wait-ms': { type: 'string', default: '1000' },
      'timeout-ms': { type: 'string', default: '10000' },
    },
  });
  const n = (v) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new Error(`not a number: ${v}`);
    return x;
  };
  switch (positionals[0]) {
    case 'udp-echo': {
      const { host, port } = listenArgs(values);
      const socket = createSocket('udp4');
      socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
      socket.bind(port, host, () => console.log(`udp-echo listening on ${host}:${port}`));
      return;
    }
    case 'tcp-echo': {
      const { host, port } = listenArgs(values);
      const server = createServer((c) => {
        c.setNoDelay(true);
        c.on('error', () => {});
        c.pipe(c);
      });
      server.listen(port, host, () => console.log(`tcp-echo listening on ${host}:${port}`));
      return;
    }
    case 'udp-ping': {
      const result = await udpPing({
        ...target(values.to),
        count: n(values.count),
        intervalMs: n(values['interval-ms']),
        size: n(values.size),
        waitMs: n(values['wait-ms']),
      });
      printAndExit(result);
      return;
    }
    case 'tcp-ping': {
      const result = await tcpPing({
        ...target(values.to),
        count: n(values.count),
        timeoutMs: n(values['timeout-ms']),
      });
      printAndExit(result);
      return;
    }
    default:
      throw new Error('usage: probe.mjs udp-echo|tcp-echo|udp-ping|tcp-ping \u2026');
  }
}
main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
