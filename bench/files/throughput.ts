/**
 * File sharing benchmark (issue 9): upload and download throughput through the edge against writing
 * and reading the storage backend directly in the same run; time to first byte of a cross-region
 * download, first (fetched from the file's region) and second (local); the edge's memory with 20
 * concurrent 100 MB uploads. Both backends: the filesystem and Versity S3 Gateway on loopback.
 *
 *   npx tsx bench/files/throughput.ts [--mb 256] [--concurrent 20] [--concurrent-mb 100] [--backends fs,s3]
 *
 * Writes bench/files/results/run-<time>.json and prints the figures.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
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
    concurrent: { type: 'string', default: '20' },
    'concurrent-mb': { type: 'string', default: '100' },
    backends: { type: 'string', default: 'fs,s3' },
  },
});
const SIZE = Number(values.mb) * MiB;
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

/**
 * The transport's ceiling for a download: a bare Node HTTP server in its own process piping the same
 * file, read by the same client code. A read straight from the page cache has no socket at all.
 */
async function plainHttpDownload(file: string, port: number): Promise<number> {
  const code = `require('http').createServer((q,s)=>{s.writeHead(200);require('fs').createReadStream(${JSON.stringify(file)},{highWaterMark:1<<20}).pipe(s)}).listen(${port},'127.0.0.1',()=>console.log('up'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((r) => child.stdout.once('data', r));
    return (await downloadFrom(`http://127.0.0.1:${port}/`)).ms;
  } finally {
    child.kill();
  }
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

        // Straight to the backend, same data, same process as the client.
        let directUpMs: number;
        let directDownMs: number;
        let plainHttpDownMs: number | undefined;
        if (backend === 'fs') {
          const dir = join(mesh.dir, 'files', 'seoul', 'bench');
          await mkdir(dir, { recursive: true });
          const file = join(dir, 'direct.bin');
          let t0 = performance.now();
          await pipeline(source(SIZE), createWriteStream(file, { highWaterMark: MiB }));
          directUpMs = performance.now() - t0;
          t0 = performance.now();
          for await (const _ of createReadStream(file, { highWaterMark: MiB })) {
            // read and discard
          }
          directDownMs = performance.now() - t0;
          plainHttpDownMs = await plainHttpDownload(file, PORT_BASE + 360);
          await rm(dir, { recursive: true, force: true });
        } else {
          const store = await S3FileStore.open({
            endpoint: versity!.endpoint,
            region: 'us-east-1',
            bucket: 'bench-seoul',
            ...S3_KEYS,
          });
          let t0 = performance.now();
          await store.putDirect('direct.bin', source(SIZE));
          directUpMs = performance.now() - t0;
          // The same client settings as the edge's store (no per-request checksums).
          const client = new S3Client({
            endpoint: versity!.endpoint,
            region: 'us-east-1',
            forcePathStyle: true,
            credentials: S3_KEYS,
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          });
          t0 = performance.now();
          const out = await client.send(
            new GetObjectCommand({ Bucket: 'bench-seoul', Key: 'bench/direct.bin' }),
          );
          for await (const _ of out.Body as Readable) {
            // read and discard
          }
          directDownMs = performance.now() - t0;
          await store.deleteDirect('direct.bin');
          client.destroy();
          await store.close();
        }

        const up = await uploadTo(seoul.url, token, 'through-edge.bin', SIZE);
        const down = await downloadFrom(`${seoul.url}/api/files/${up.id}?token=${token}`);
        const tp = {
          directUpMiBps: mibps(SIZE, directUpMs),
          edgeUpMiBps: mibps(SIZE, up.ms),
          directDownMiBps: mibps(SIZE, directDownMs),
          edgeDownMiBps: mibps(SIZE, down.ms),
          ...(plainHttpDownMs ? { plainHttpDownMiBps: mibps(SIZE, plainHttpDownMs) } : {}),
        };
        const ratios = {
          up: tp.edgeUpMiBps / tp.directUpMiBps,
          down: tp.edgeDownMiBps / tp.directDownMiBps,
          ...(tp.plainHttpDownMiBps ? { downVsPlainHttp: tp.edgeDownMiBps / tp.plainHttpDownMiBps } : {}),
        };
        console.log(
          `throughput ${SIZE / MiB} MiB: up edge ${tp.edgeUpMiBps.toFixed(0)} vs direct ${tp.directUpMiBps.toFixed(0)} MiB/s (${ratios.up.toFixed(2)}), down edge ${tp.edgeDownMiBps.toFixed(0)} vs direct ${tp.directDownMiBps.toFixed(0)} MiB/s (${ratios.down.toFixed(2)})${tp.plainHttpDownMiBps ? `, plain Node HTTP ${tp.plainHttpDownMiBps.toFixed(0)} MiB/s (edge ${ratios.downVsPlainHttp!.toFixed(2)} of it)` : ''}`,
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
        results[backend] = { throughput: tp, ratios, cross, concurrent: conc };
        for (const u of [...uploads, up, x])
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
