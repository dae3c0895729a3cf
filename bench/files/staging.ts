/**
 * The upload's receiving side in isolation (no mesh, no edge): a Node HTTP server in this process takes
 * a 256 MiB POST from curl (a file in the page cache) and stores it by SHA-256 in two ways, alternated:
 *   main-thread  the edge's path until 26 Nov 2026: hash in the guard on the event loop, a WriteStream
 *   workers      FsFileStore staging: hashed and written by worker threads, request buffers moved there
 * For each: throughput, the process's CPU time and the event loop thread's own CPU time.
 *
 *   npx tsx bench/files/staging.ts [--mb 256] [--rounds 4]
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { FsFileStore } from '../../edge/files/FsFileStore';

const PORT = 18700 + 370;
const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: { mb: { type: 'string', default: '256' }, rounds: { type: 'string', default: '4' } },
});
const SIZE = Number(values.mb) * MiB;
const ROUNDS = Number(values.rounds);
const DIR = join(import.meta.dirname, '..', '..', '.mesh', 'bench-staging');

/** CPU milliseconds of the whole process and of its main thread (/proc: user + system). */
function cpu(): { all: number; main: number } {
  const f = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const u = process.cpuUsage();
  return { all: (u.user + u.system) / 1000, main: (Number(f[11]) + Number(f[12])) * 10 };
}

/** The guard's shape: every chunk counted (and hashed when asked) before it goes on. */
function guard(body: Readable, hash?: ReturnType<typeof createHash>) {
  const source = body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
  return async function* () {
    for await (const chunk of source) {
      hash?.update(chunk);
      yield chunk;
    }
  };
}

async function main() {
  await mkdir(DIR, { recursive: true });
  const src = join(DIR, 'source.bin');
  const out = createWriteStream(src);
  for (let i = 0; i < SIZE / MiB; i++) {
    const b = Buffer.alloc(MiB, i);
    if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const store = await FsFileStore.open(join(DIR, 'store'));
  let mode: 'main-thread' | 'workers' = 'main-thread';
  const server = http.createServer(async (req, res) => {
    const c0 = cpu();
    const t0 = performance.now();
    let sha: string;
    if (mode === 'main-thread') {
      const hash = createHash('sha256');
      await pipeline(guard(req, hash), createWriteStream(join(DIR, 'old.bin'), { highWaterMark: MiB }));
      sha = hash.digest('hex');
    } else {
      const staged = await store.stage({ handOver: true });
      await pipeline(guard(req), staged.sink);
      await staged.finished();
      sha = staged.sha256!();
      await staged.abort();
    }
    const ms = performance.now() - t0;
    const c1 = cpu();
    res.end(JSON.stringify({ sha, ms, cpu: c1.all - c0.all, main: c1.main - c0.main }));
  });
  await new Promise<void>((r) => server.listen(PORT, '127.0.0.1', r));
  const expected = createHash('sha256');
  for await (const c of createReadStream(src)) expected.update(c);
  const want = expected.digest('hex');

  const results: Record<string, { MiBps: number; cpuMs: number; mainMs: number }[]> = {
    'main-thread': [],
    workers: [],
  };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const m of ['main-thread', 'workers'] as const) {
        mode = m;
        const body = await new Promise<string>((resolve, reject) =>
          execFile('curl', ['-sS', '-X', 'POST', '-T', src, `http://127.0.0.1:${PORT}/`], (err, o) =>
            err ? reject(err) : resolve(o),
          ),
        );
        const a = JSON.parse(body) as { sha: string; ms: number; cpu: number; main: number };
        if (a.sha !== want) throw new Error(`${m}: SHA-256 ${a.sha}, expected ${want}`);
        results[m]!.push({ MiBps: SIZE / MiB / (a.ms / 1000), cpuMs: a.cpu, mainMs: a.main });
      }
    }
  } finally {
    server.close();
    await store.close();
    await rm(DIR, { recursive: true, force: true });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `${SIZE / MiB} MiB per upload, ${ROUNDS} rounds, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  for (const [m, rs] of Object.entries(results))
    console.log(
      `${m.padEnd(12)} ${rs.map((x) => x.MiBps.toFixed(0)).join(' / ')} MiB/s (median ${med(rs.map((x) => x.MiBps)).toFixed(0)}); CPU ${med(rs.map((x) => x.cpuMs)).toFixed(0)} ms, event loop thread ${med(rs.map((x) => x.mainMs)).toFixed(0)} ms (medians)`,
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
