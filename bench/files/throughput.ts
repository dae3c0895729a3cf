/**
 * File sharing benchmark (issue 9): upload and download throughput through the edge against writing
 * and reading the storage backend directly in the same run; time to first byte of a cross-region
 * download, first (fetched from the file's region) and second (local); the edge's memory with 20
 * concurrent 100 MB uploads. Both backends: the filesystem and Versity S3 Gateway on loopback.
 *
 *   npx tsx bench/files/throughput.ts [--mb 256] [--rounds 5] [--concurrent 20] [--concurrent-mb 100] [--backends fs,s3]
 *
 * The throughput client is curl (one process per transfer, reading and writing the page cache), for the
 * edge and for the bare Node HTTP server alike, so the client's own cost is the same on both sides and
 * small. Each figure is the median of `--rounds` rounds, the paths interleaved within a round.
 * Writes bench/files/results/run-<time>.json and prints the figures.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3FileStore } from '../../edge/files/S3FileStore';
import { type EdgeProcess, Mesh, startEdges } from '../../regions/launcher';
import { edgeRss, regionEdgesEnv, S3_KEYS, Versity } from '../../test/services/files/support';
import { devToken } from '../../test/support/liveMesh';

const PORT_BASE = 18700;
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    concurrent: { type: 'string', default: '20' },
    'concurrent-mb': { type: 'string', default: '100' },
    backends: { type: 'string', default: 'fs,s3' },
  },
});
const SIZE = Number(values.mb) * MiB;
const ROUNDS = Number(values.rounds);
const CONCURRENT = Number(values.concurrent);
const CONCURRENT_SIZE = Number(values['concurrent-mb']) * 1000 * 1000;
const BACKENDS = values.backends!.split(',') as ('fs' | 's3')[];

/** `total` bytes of cheap, non-repeating data (a counter in each MiB), generated as it is read. */
function source(total: number): Readable {
  const block = Buffer.alloc(MiB, 0x5a);
  for (let i = 0; i < MiB; i += 4) block.writeUInt32BE((i * 2654435761) >>> 0, i);
  let produced = 0;
  let n = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (produced >= total) return void this.push(null);
      const size = Math.min(MiB, total - produced);
      const chunk = Buffer.from(block.subarray(0, size));
      chunk.writeUInt32BE(n++, 0);
      produced += size;
      this.push(chunk);
    },
  });
}

function uploadTo(
  url: string,
  token: string,
  name: string,
  total: number,
): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(new URL('/api/files', url), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'x-file-name': encodeURIComponent(name),
        'content-length': String(total),
        'content-type': 'application/octet-stream',
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        if (res.statusCode !== 201) reject(new Error(`upload ${res.statusCode}: ${JSON.stringify(body)}`));
        else resolve({ id: body.file.id, ms: performance.now() - t0 });
      });
    });
    req.on('error', reject);
    source(total).pipe(req);
  });
}

/** Downloads and discards; returns total time and time to first byte. */
function downloadFrom(
  url: string,
): Promise<{ ms: number; ttfbMs: number; bytes: number; servedFrom: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let ttfb = -1;
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          if (ttfb < 0) ttfb = performance.now() - t0;
          bytes += c.length;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`download ${res.statusCode}`));
          else
            resolve({
              ms: performance.now() - t0,
              ttfbMs: ttfb,
              bytes,
              servedFrom: String(res.headers['x-meetview-served-from']),
            });
        });
      })
      .on('error', reject);
  });
}

const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd}: ${err.message} ${stderr}`)) : resolve(stdout),
    ),
  );
}

/** curl POSTs `file` (streamed from the page cache, with Content-Length); answers the body and the time. */
async function curlUpload(url: string, file: string, headers: Record<string, string>) {
  const t0 = performance.now();
  const out = await run('curl', [
    '-sS',
    '-X',
    'POST',
    '-T',
    file,
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    '-w',
    '\n%{http_code}',
    url,
  ]);
  const ms = performance.now() - t0;
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i), ms };
}

/** curl GETs `url` into /dev/null; answers the time and the bytes. */
async function curlDownload(url: string) {
  const t0 = performance.now();
  const out = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url]);
  const ms = performance.now() - t0;
  const [status, bytes] = out.trim().split(' ').map(Number);
  if (status !== 200) throw new Error(`download ${url}: ${status}`);
  return { ms, bytes: bytes! };
}

/**
 * The transport's ceiling: a bare Node HTTP server in its own process that serves `file` (GET, piped
 * with 1 MiB reads) and discards uploads (POST), driven by the same curl client as the edge.
 */
async function bareServer(file: string, port: number) {
  const code = `require('http').createServer((q,s)=>{if(q.method==='POST'){q.resume();q.on('end',()=>s.end('{}'));return}s.writeHead(200,{'content-length':require('fs').statSync(${JSON.stringify(file)}).size});require('fs').createReadStream(${JSON.stringify(file)},{highWaterMark:1<<20}).pipe(s)}).listen(${port},'127.0.0.1',()=>console.log('up'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout.once('data', r));
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill() };
}

/** Streams `src` into `dest` with 1 MiB buffers; with `hash`, SHA-256 of every byte on the way. */
async function copyFile(src: string, dest: string, hash: boolean): Promise<number> {
  const t0 = performance.now();
  const h = createHash('sha256');
  const input = createReadStream(src, { highWaterMark: MiB });
  if (hash) input.on('data', (c) => h.update(c));
  await pipeline(input, createWriteStream(dest, { highWaterMark: MiB }));
  if (hash) h.digest('hex');
  return performance.now() - t0;
}

async function readFileMs(file: string): Promise<number> {
  const t0 = performance.now();
  for await (const _ of createReadStream(file, { highWaterMark: MiB })) {
    // read and discard
  }
  return performance.now() - t0;
}

/**
 * `ROUNDS` rounds, each: straight to the backend, through the edge, through a bare Node HTTP server
 * (fs only), up then down, all on the same `SIZE` bytes read from the page cache. Figures in MiB/s.
 */
async function throughput(
  backend: 'fs' | 's3',
  edgeUrl: string,
  token: string,
  meshDir: string,
  s3Endpoint: string | undefined,
) {
  const dir = join(meshDir, 'bench-direct');
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'source.bin');
  await pipeline(source(SIZE), createWriteStream(src, { highWaterMark: MiB }));
  const store =
    backend === 's3'
      ? await S3FileStore.open({
          endpoint: s3Endpoint!,
          region: 'us-east-1',
          bucket: 'bench-seoul',
          ...S3_KEYS,
        })
      : undefined;
  // The same client settings as the edge's store (no per-request checksums).
  const s3 =
    backend === 's3'
      ? new S3Client({
          endpoint: s3Endpoint!,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: S3_KEYS,
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        })
      : undefined;
  const bare = await bareServer(src, PORT_BASE + 360);
  const rounds: Record<string, number>[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const round: Record<string, number> = {};
      if (backend === 'fs') {
        const dest = join(dir, 'direct.bin');
        round.directUp = mibps(SIZE, await copyFile(src, dest, false));
        await rm(dest);
        // The store's contract: bytes are stored under their SHA-256, so a direct writer hashes them too.
        round.directUpHashed = mibps(SIZE, await copyFile(src, dest, true));
        await rm(dest);
      } else {
        const t0 = performance.now();
        await store!.putDirect('direct.bin', createReadStream(src, { highWaterMark: MiB }));
        round.directUp = mibps(SIZE, performance.now() - t0);
      }
      const up = await curlUpload(`${edgeUrl}/api/files`, src, {
        authorization: `Bearer ${token}`,
        'x-file-name': `round-${r}.bin`,
        'content-type': 'application/octet-stream',
      });
      if (up.status !== 201) throw new Error(`upload ${up.status}: ${up.body}`);
      const id = (JSON.parse(up.body) as { file: { id: string } }).file.id;
      round.edgeUp = mibps(SIZE, up.ms);
      round.bareUp = mibps(SIZE, (await curlUpload(bare.url, src, {})).ms);

      if (backend === 'fs') round.directDown = mibps(SIZE, await readFileMs(src));
      else {
        const t0 = performance.now();
        const out = await s3!.send(new GetObjectCommand({ Bucket: 'bench-seoul', Key: 'bench/direct.bin' }));
        for await (const _ of out.Body as Readable) {
          // read and discard
        }
        round.directDown = mibps(SIZE, performance.now() - t0);
      }
      const down = await curlDownload(`${edgeUrl}/api/files/${id}?token=${token}`);
      if (down.bytes !== SIZE) throw new Error(`downloaded ${down.bytes} of ${SIZE} bytes`);
      round.edgeDown = mibps(SIZE, down.ms);
      round.bareDown = mibps(SIZE, (await curlDownload(bare.url)).ms);
      await fetch(`${edgeUrl}/api/files/${id}?token=${token}`, { method: 'DELETE' });
      rounds.push(round);
    }
  } finally {
    bare.stop();
    if (store) {
      await store.deleteDirect('direct.bin').catch(() => undefined);
      await store.close();
    }
    s3?.destroy();
    await rm(dir, { recursive: true, force: true });
  }
  const keys = Object.keys(rounds[0]!);
  const med = Object.fromEntries(keys.map((k) => [k, median(rounds.map((x) => x[k]!))])) as Record<
    string,
    number
  >;
  const m = med as {
    directUp: number;
    directUpHashed?: number;
    edgeUp: number;
    bareUp: number;
    directDown: number;
    edgeDown: number;
    bareDown: number;
  };
  const ratios = {
    // fs: against the hashing writer (the store's contract); the plain page-cache write is kept beside it.
    up: m.edgeUp / (m.directUpHashed ?? m.directUp),
    ...(m.directUpHashed !== undefined ? { upVsPlainWrite: m.edgeUp / m.directUp } : {}),
    down: m.edgeDown / m.directDown,
    upVsBareHttp: m.edgeUp / m.bareUp,
    downVsBareHttp: m.edgeDown / m.bareDown,
  };
  return {
    client: 'curl',
    loadAverage: loadavg()
      .map((x) => x.toFixed(1))
      .join(' '),
    rounds,
    median: m,
    ratios,
  };
}

async function main() {
  const mesh = await Mesh.start({
    name: 'bench-files',
    portBase: PORT_BASE,
    regions: ['seoul', 'frankfurt'],
    core: false,
    onProgress: (l: string) => console.log(`[mesh] ${l}`),
  });
  let versity: Versity | undefined;
  const results: Record<string, unknown> = {
    sizeMiB: SIZE / MiB,
    concurrent: CONCURRENT,
    concurrentBytes: CONCURRENT_SIZE,
  };
  try {
    if (BACKENDS.includes('s3')) versity = await Versity.start(join(mesh.dir, 's3'), PORT_BASE + 350);
    for (const backend of BACKENDS) {
      console.log(`\n== ${backend} ==`);
      const edges: EdgeProcess[] = await startEdges(mesh, {
        edgesPerRegion: 1,
        env: {
          MEETVIEW_FILES_BACKEND: backend,
          MEETVIEW_REGION_EDGES: regionEdgesEnv(mesh, 1),
          MEETVIEW_FILES_UPLOADS_PER_MINUTE: '1000',
          ...(backend === 's3'
            ? {
                MEETVIEW_S3_ENDPOINT: versity!.endpoint,
                MEETVIEW_S3_BUCKET: 'bench-{region}',
                MEETVIEW_S3_ACCESS_KEY: S3_KEYS.accessKeyId,
                MEETVIEW_S3_SECRET_KEY: S3_KEYS.secretAccessKey,
              }
            : {}),
        },
      });
      try {
        const seoul = edges.find((e) => e.region === 'seoul')!;
        const frankfurt = edges.find((e) => e.region === 'frankfurt')!;
        const room = `bench-${backend}`;
        const { token } = await devToken(seoul.url, { room, identity: 'bench', name: 'Bench' });
        const { token: tokenB } = await devToken(frankfurt.url, {
          room,
          identity: 'bench-b',
          name: 'Bench B',
        });

        const tp = await throughput(backend, seoul.url, token, mesh.dir, versity?.endpoint);
        const { median: m, ratios } = tp;
        const f = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(0));
        console.log(
          `throughput ${SIZE / MiB} MiB, median of ${ROUNDS} (load average ${tp.loadAverage}):\n` +
            `  up:   edge ${f(m.edgeUp)} MiB/s; direct ${backend === 'fs' ? `write+SHA-256 ${f(m.directUpHashed)} (${ratios.up.toFixed(2)}), plain write ${f(m.directUp)} (${ratios.upVsPlainWrite!.toFixed(2)})` : `multipart ${f(m.directUp)} (${ratios.up.toFixed(2)})`}; bare Node HTTP discarding ${f(m.bareUp)} (edge ${ratios.upVsBareHttp.toFixed(2)} of it)\n` +
            `  down: edge ${f(m.edgeDown)} MiB/s; direct read ${f(m.directDown)} (${ratios.down.toFixed(2)}); bare Node HTTP of the same file ${f(m.bareDown)} (edge ${ratios.downVsBareHttp.toFixed(2)} of it)`,
        );

        // Cross-region: a 64 MiB file uploaded in seoul, downloaded twice in frankfurt.
        const x = await uploadTo(seoul.url, token, 'cross.bin', 64 * MiB);
        const first = await downloadFrom(`${frankfurt.url}/api/files/${x.id}?token=${tokenB}`);
        await new Promise((r) => setTimeout(r, 1000));
        const second = await downloadFrom(`${frankfurt.url}/api/files/${x.id}?token=${tokenB}`);
        const cross = {
          firstTtfbMs: first.ttfbMs,
          firstFrom: first.servedFrom,
          firstMiBps: mibps(first.bytes, first.ms),
          secondTtfbMs: second.ttfbMs,
          secondFrom: second.servedFrom,
          secondMiBps: mibps(second.bytes, second.ms),
        };
        console.log(
          `cross-region 64 MiB: first TTFB ${first.ttfbMs.toFixed(1)} ms from ${first.servedFrom} (${cross.firstMiBps.toFixed(0)} MiB/s), second TTFB ${second.ttfbMs.toFixed(1)} ms from ${second.servedFrom} (${cross.secondMiBps.toFixed(0)} MiB/s)`,
        );

        // 20 concurrent 100 MB uploads; the edge's RSS sampled every 100 ms.
        const pid = seoul.process.pid!;
        const baseline = edgeRss(pid);
        let peak = baseline;
        const timer = setInterval(() => {
          peak = Math.max(peak, edgeRss(pid));
        }, 100);
        const t0 = performance.now();
        const uploads = await Promise.all(
          Array.from({ length: CONCURRENT }, async (_, i) => {
            const { token: tk } = await devToken(seoul.url, { room, identity: `c${i}`, name: `C${i}` });
            return uploadTo(seoul.url, tk, `c${i}.bin`, CONCURRENT_SIZE);
          }),
        );
        const wall = performance.now() - t0;
        clearInterval(timer);
        peak = Math.max(peak, edgeRss(pid));
        const conc = {
          wallS: wall / 1000,
          aggregateMiBps: mibps(CONCURRENT * CONCURRENT_SIZE, wall),
          rssBaselineMiB: baseline / MiB,
          rssPeakMiB: peak / MiB,
          slowestS: Math.max(...uploads.map((u) => u.ms)) / 1000,
        };
        console.log(
          `${CONCURRENT} × ${CONCURRENT_SIZE / 1e6} MB concurrent: ${conc.wallS.toFixed(1)} s (${conc.aggregateMiBps.toFixed(0)} MiB/s aggregate); edge RSS ${conc.rssBaselineMiB.toFixed(0)} → peak ${conc.rssPeakMiB.toFixed(0)} MiB`,
        );
        results[backend] = { throughput: tp, cross, concurrent: conc };
        for (const u of [...uploads, x])
          await fetch(`${seoul.url}/api/files/${u.id}?token=${token}`, { method: 'DELETE' }).catch(
            () => undefined,
          );
      } finally {
        for (const e of edges) await e.process.stop();
      }
    }
  } finally {
    await versity?.stop();
    await mesh.stop();
  }
  const out = new URL(
    `./results/run-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
    import.meta.url,
  );
  await writeFile(out, `${JSON.stringify({ at: new Date().toISOString(), ...results }, null, 2)}\n`);
  console.log(`\nwritten ${out.pathname}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
