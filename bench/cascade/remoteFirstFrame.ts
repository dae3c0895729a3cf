/**
 * Time for a new remote subscriber to decode its first frame, against a local subscriber in the same
 * run, in Chromium. Two regions (seoul, frankfurt), one edge each, MirrorMaker 2 between them; over the
 * emulated WAN when root (each region in its own namespace, 80 ms RTT between them), else on plain
 * loopback (said loudly). A publisher page joins the room on seoul's edge; then, alternately, a fresh
 * browser context joins on seoul's edge (local: consumed from the router the publisher sends to) or on
 * frankfurt's edge (remote: frankfurt learns the track from the mirrored room events and pipes it from
 * seoul over the Cascade service when the page consumes it). Nobody else watches in frankfurt, so every
 * remote join opens the pipe afresh: the first viewer of a region, the slow case.
 *
 * Each sample is, as in bench/join/firstFrame.ts (the page steps are bench/join/joinPage.ts): the
 * prejoin prepares the session (waits for "ready"), then the Join click (a capture-phase listener marks `bench:click`) → the client's
 * `meetview:first-frame` mark for the publisher's camera (requestVideoFrameCallback on the remote
 * <video>: the first remote frame decoded), both on the page's performance clock.
 *
 *   npm run build:web && sudo npx tsx bench/cascade/remoteFirstFrame.ts [--joins 10] [--gap-ms 1000]
 *                                                                     [--json out.json]
 *
 * --joins is per kind (local and remote). Mesh port base 11000 (WAN subnet 10.110.0.0/16); the edges'
 * plain/pipe transports in 11600–11699.
 */
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { type EdgeProcess, Mesh, startEdges } from '../../regions/launcher';
import { wanOrLoopback } from '../../regions/launcher/wan/netns';
import { CHROMIUM, CHROMIUM_FLAGS, joinMeeting } from '../../test/support/browser';
import {
  identityOf,
  leaveThroughUi,
  markJoinClick,
  marksAfterClick,
  waitForFirstFrame,
  waitForPreview,
  waitForReady,
} from '../join/joinPage';
import { percentile } from '../percentile';
import { type CollectedSpan, OtlpCollector } from './OtlpCollector';

const ROOM = 'bench-remote-first-frame';
const PORT_BASE = 11000;
const JOIN_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 8_000;
/** Marks the client records, in the order a join usually passes them. */
const PHASES = ['join', 'ws-open', 'join-response', 'device-loaded', 'first-frame'] as const;
type Phase = (typeof PHASES)[number];
type Kind = 'local' | 'remote';

interface Sample {
  kind: Kind;
  index: number;
  /** Click → first remote frame, ms; null when it did not come within JOIN_TIMEOUT_MS. */
  totalMs: number | null;
  marks: Partial<Record<Phase, number>>;
  /** The prejoin showed "ready" (prepared session) before the click. */
  ready: boolean;
  loadavg1: number;
  /** The click on the epoch clock (page timeOrigin + mark), to place the edges' spans. */
  clickEpochMs?: number;
  /** The viewer's identity (the edges' spans name it). */
  identity?: string;
  /** Remote joins: the viewer edge's spans for the publisher's camera, ms after the click. */
  cascade?: {
    subscribeStart: number;
    subscribeEnd: number;
    firstKeyFrameEnd: number | null;
    error: boolean;
    /** The spans of the subscription's trace on both edges (gRPC calls and their handling), ms after the click. */
    trace: { node: string; name: string; start: number; end: number }[];
  };
  error?: string;
}

const { values: args } = parseArgs({
  options: {
    joins: { type: 'string', default: '10' },
    'gap-ms': { type: 'string', default: '1000' },
    json: { type: 'string' },
  },
});
const JOINS = Number(args.joins);
const GAP_MS = Number(args['gap-ms']);
if (!Number.isInteger(JOINS) || JOINS < 1 || JOINS > 100) throw new Error('--joins must be 1..100');
if (!Number.isFinite(GAP_MS) || GAP_MS < 0) throw new Error('--gap-ms must be ≥ 0');

/**
 * One Chromium. The edges are on the regions' own addresses (http://10.X.Y.2:port) when the WAN runs:
 * not localhost, so the origins are declared secure, or the page would have no getUserMedia.
 */
async function launch(origins: string[]): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_FLAGS, `--unsafely-treat-insecure-origin-as-secure=${origins.join(',')}`],
    ignoreDefaultArgs: ['--mute-audio'],
  });
}

async function newPage(browser: Browser) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 720 },
    permissions: ['camera', 'microphone'],
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[page] ${err.message}`));
  return { page, context };
}

async function oneJoin(browser: Browser, kind: Kind, url: string, index: number, publisher: string) {
  const { page, context } = await newPage(browser);
  try {
    await page.goto(url);
    await page.getByTestId('prejoin-name').fill(`${kind} viewer ${index}`);
    await waitForPreview(page, JOIN_TIMEOUT_MS);
    await markJoinClick(page);
    const ready = await waitForReady(page, READY_TIMEOUT_MS);
    const loadavg1 = loadavg()[0]!;
    await page.getByTestId('prejoin-join').click();
    const error = await waitForFirstFrame(page, publisher, JOIN_TIMEOUT_MS);
    const { click, marks } = await marksAfterClick(page, publisher, PHASES);
    const timeOrigin = (await page.evaluate(() => performance.timeOrigin)) as number;
    const identity = await identityOf(page).catch(() => undefined);
    const totalMs = error ? null : (marks['first-frame'] ?? null);
    await leaveThroughUi(page);
    const sample: Sample = { kind, index, totalMs, marks, ready, loadavg1, clickEpochMs: timeOrigin + click };
    if (identity) sample.identity = identity;
    if (error) sample.error = error;
    return sample;
  } finally {
    await context.close().catch(() => undefined);
  }
}

/**
 * A private copy of web/dist for this run's edges: other sessions rebuild web/dist while benchmarks run,
 * and an edge serving a rebuilt index.html against assets that changed under it shows a blank page.
 */
function snapshotWeb(to: string): string {
  cpSync('web/dist', to, { recursive: true });
  const index = readFileSync(join(to, 'index.html'), 'utf8');
  const assets = [...index.matchAll(/(?:src|href)="\/?(assets\/[^"]+)"/g)].map((m) => m[1]!);
  const missing = assets.filter((a) => !existsSync(join(to, a)));
  if (assets.length === 0 || missing.length > 0)
    throw new Error(
      `web/dist is being rebuilt (index.html names ${missing.join(', ') || 'no assets'}): run again`,
    );
  return to;
}

/** For each remote join, the viewer edge's cascade spans of the publisher's camera (the one video it subscribes to). */
function attachSpans(samples: Sample[], spans: CollectedSpan[]): void {
  for (const s of samples) {
    if (s.kind !== 'remote' || !s.identity || s.clickEpochMs === undefined) continue;
    const mine = spans.filter((x) => x.attributes['meetview.viewer'] === s.identity);
    const wait = mine.find((x) => x.name === 'cascade.firstKeyFrame');
    const subscribe = mine.find(
      (x) =>
        x.name === 'cascade.subscribe' &&
        (!wait || x.attributes['meetview.producer_id'] === wait.attributes['meetview.producer_id']),
    );
    if (!subscribe) continue;
    const rel = (t: number) => Math.round((t - s.clickEpochMs!) * 10) / 10;
    s.cascade = {
      subscribeStart: rel(subscribe.startMs),
      subscribeEnd: rel(subscribe.endMs),
      firstKeyFrameEnd: wait && !wait.error ? rel(wait.endMs) : null,
      error: subscribe.error || Boolean(wait?.error),
      trace: spans
        .filter((x) => x.traceId === subscribe.traceId && x !== subscribe)
        .sort((a, b) => a.startMs - b.startMs)
        .map((x) => ({ node: x.node, name: x.name, start: rel(x.startMs), end: rel(x.endMs) })),
    };
  }
}

const fmt = (n: number | undefined | null) =>
  n === undefined || n === null ? '     -' : n.toFixed(0).padStart(6);

function stats(samples: Sample[]) {
  const ok = samples
    .filter((s) => s.totalMs !== null)
    .map((s) => s.totalMs!)
    .sort((a, b) => a - b);
  const failed = samples.length - ok.length;
  if (ok.length === 0) return { joins: samples.length, failed };
  return {
    joins: samples.length,
    failed,
    p50: percentile(ok, 50),
    // A failed join is slower than any that succeeded: p99 is then unknown (above the timeout).
    p99: failed > 0 ? null : percentile(ok, 99),
    max: ok.at(-1)!,
    min: ok[0]!,
  };
}

async function main(): Promise<void> {
  if (!existsSync('web/dist/index.html'))
    throw new Error('web/dist is missing: run `npm run build:web` first (from the repository root)');
  const wan = wanOrLoopback(true);
  const mode = wan ? 'emulated WAN (80 ms RTT seoul–frankfurt)' : 'LOOPBACK (no emulated WAN)';
  let mesh: Mesh | undefined;
  let collector: OtlpCollector | undefined;
  const browsers: Browser[] = [];
  const stop = async () => {
    for (const b of browsers.splice(0)) await b.close().catch(() => undefined);
    await mesh?.stop();
    mesh = undefined;
    await collector?.close();
    collector = undefined;
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    const t0 = Date.now();
    mesh = await Mesh.start({
      name: 'bench-cascade-ff',
      portBase: PORT_BASE,
      regions: ['seoul', 'frankfurt'],
      core: false,
      ...(wan ? { wan } : {}),
    });
    // The edges' spans come here: on the launcher's end of the host link, which every site reaches.
    collector = await OtlpCollector.start(
      mesh.wan ? mesh.wan.plan.hostAddress : '127.0.0.1',
      PORT_BASE + 990,
    );
    const webDir = snapshotWeb(join(mesh.dir, 'web'));
    const edges = await startEdges(mesh, {
      env: {
        MEETVIEW_WEB_DIR: webDir,
        // Plain and pipe transports inside this benchmark's port range.
        MEETVIEW_RTC_PORT_MIN: String(PORT_BASE + 600),
        MEETVIEW_RTC_PORT_MAX: String(PORT_BASE + 699),
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      },
    });
    const seoul: EdgeProcess = edges.find((e) => e.region === 'seoul')!;
    const frankfurt: EdgeProcess = edges.find((e) => e.region === 'frankfurt')!;
    console.log(`[bench cascade first frame] ${mode}; mesh and edges up in ${Date.now() - t0} ms`);
    console.log(
      `  seoul ${seoul.url}, frankfurt ${frankfurt.url}; load ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    const urls: Record<Kind, string> = {
      local: `${seoul.url}/r/${ROOM}`,
      remote: `${frankfurt.url}/r/${ROOM}`,
    };
    const origins = [seoul.url, frankfurt.url];

    // The publisher has its own Chromium (its own fake camera); the viewers share another one, with a
    // fresh context per join (no cache, cookies or session storage from the previous one).
    const pubBrowser = await launch(origins);
    browsers.push(pubBrowser);
    const viewers = await launch(origins);
    browsers.push(viewers);
    const { page: pubPage } = await newPage(pubBrowser);
    await joinMeeting(pubPage, urls.local, 'Publisher');
    const publisher = await identityOf(pubPage);
    // Let the encoder settle, and frankfurt learn the publisher and its tracks from the mirrored events.
    await pubPage.waitForTimeout(3_000);

    // One unmeasured join of each kind warms the viewer browser and both edges' paths.
    for (const kind of ['local', 'remote'] as const) {
      const w = await oneJoin(viewers, kind, urls[kind], 0, publisher);
      console.log(
        `  warm-up ${kind}: ${w.totalMs === null ? `FAILED (${w.error})` : `${w.totalMs.toFixed(0)} ms`}`,
      );
    }

    const samples: Sample[] = [];
    console.log(`\n${JOINS} joins of each kind, alternating, gap ${GAP_MS} ms; ms after the join click:`);
    console.log(`  kind      #  ${PHASES.map((p) => p.padStart(15)).join('')}    total  load`);
    for (let i = 1; i <= JOINS; i++) {
      for (const kind of ['local', 'remote'] as const) {
        if (GAP_MS > 0) await new Promise((r) => setTimeout(r, GAP_MS));
        let s: Sample;
        try {
          s = await oneJoin(viewers, kind, urls[kind], i, publisher);
        } catch (e) {
          const error = (e as Error).message.split('\n')[0] ?? 'failed';
          s = { kind, index: i, totalMs: null, marks: {}, ready: false, loadavg1: loadavg()[0]!, error };
        }
        samples.push(s);
        const cells = PHASES.map((p) => fmt(s.marks[p]).padStart(15)).join('');
        console.log(
          `  ${kind.padEnd(6)} ${String(i).padStart(3)}  ${cells}  ${s.totalMs === null ? `FAILED: ${s.error}` : fmt(s.totalMs)}  ${s.loadavg1.toFixed(1)}${s.ready ? '' : ' (not ready)'}`,
        );
      }
    }

    // The edges export spans in batches every second: wait for the last ones.
    await new Promise((r) => setTimeout(r, 2_500));
    attachSpans(samples, collector.spans);
    const keyFrameWait = samples
      .filter((s) => s.cascade && s.cascade.firstKeyFrameEnd !== null)
      .map((s) => s.cascade!);
    if (keyFrameWait.length > 0) {
      const p50Of = (f: (c: NonNullable<Sample['cascade']>) => number) =>
        percentile(
          keyFrameWait.map(f).sort((a, b) => a - b),
          50,
        ).toFixed(0);
      console.log(
        `\nfrankfurt edge, remote joins (${keyFrameWait.length} traced; ms after the click, p50): cascade.subscribe ${p50Of((c) => c.subscribeStart)} → ${p50Of((c) => c.subscribeEnd)} (pipe from seoul + consumer), first key frame sent ${p50Of((c) => c.firstKeyFrameEnd!)}`,
      );
    } else console.log(`\nno cascade spans collected (${collector.spans.length} spans in all)`);

    const byKind = {
      local: stats(samples.filter((s) => s.kind === 'local')),
      remote: stats(samples.filter((s) => s.kind === 'remote')),
    };
    const phaseStats: Record<string, Record<string, { p50: number; p99: number; n: number }>> = {};
    console.log('\nphases (ms after the click, p50 / p99):');
    for (const kind of ['local', 'remote'] as const) {
      phaseStats[kind] = {};
      const line: string[] = [];
      for (const phase of PHASES) {
        const v = samples
          .filter((s) => s.kind === kind)
          .map((s) => s.marks[phase])
          .filter((x): x is number => x !== undefined)
          .sort((a, b) => a - b);
        if (v.length === 0) continue;
        phaseStats[kind]![phase] = { p50: percentile(v, 50), p99: percentile(v, 99), n: v.length };
        line.push(`${phase} ${fmt(percentile(v, 50)).trim()}/${fmt(percentile(v, 99)).trim()}`);
      }
      // The join response comes once the server has set up the subscriptions (for a remote track: the
      // pipe from seoul); what follows is the wait for a key frame and its decoding.
      const after = samples
        .filter((s) => s.kind === kind && s.totalMs !== null && s.marks['join-response'] !== undefined)
        .map((s) => s.totalMs! - s.marks['join-response']!)
        .sort((a, b) => a - b);
      if (after.length > 0) {
        phaseStats[kind]!['join-response→first-frame'] = {
          p50: percentile(after, 50),
          p99: percentile(after, 99),
          n: after.length,
        };
        line.push(
          `join-response→first-frame ${fmt(percentile(after, 50)).trim()}/${fmt(percentile(after, 99)).trim()}`,
        );
      }
      console.log(`  ${kind.padEnd(6)} ${line.join(', ')}`);
    }
    const ratio = (a?: number | null, b?: number | null) => (a && b ? Math.round((a / b) * 100) / 100 : null);
    const l = byKind.local as { p50?: number; p99?: number | null };
    const r = byKind.remote as { p50?: number; p99?: number | null };
    const summary = {
      local: byKind.local,
      remote: byKind.remote,
      ratio: { p50: ratio(r.p50, l.p50), p99: ratio(r.p99, l.p99) },
      differenceMs: {
        p50: r.p50 !== undefined && l.p50 !== undefined ? r.p50 - l.p50 : null,
        p99: r.p99 != null && l.p99 != null ? r.p99 - l.p99 : null,
      },
    };
    const endLoad = loadavg().map((x) => Number(x.toFixed(2)));
    console.log(`\njoin click → first remote frame decoded (${mode}); load at end ${endLoad.join(' ')}:`);
    for (const kind of ['local', 'remote'] as const) {
      const s = byKind[kind] as {
        p50?: number;
        p99?: number | null;
        max?: number;
        failed: number;
        joins: number;
      };
      console.log(
        `  ${kind.padEnd(6)} p50 ${fmt(s.p50)} ms  p99 ${s.p99 === null ? `> ${JOIN_TIMEOUT_MS}` : fmt(s.p99)} ms  max ${fmt(s.max)} ms  (${s.failed} failed of ${s.joins})`,
      );
    }
    console.log(`  remote / local: p50 ${summary.ratio.p50 ?? 'n/a'}×, p99 ${summary.ratio.p99 ?? 'n/a'}×`);
    if (args.json)
      writeFileSync(
        args.json,
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            mode,
            machine: { cpus: cpus().length, loadavgAtEnd: endLoad },
            settings: { joins: JOINS, gapMs: GAP_MS, joinTimeoutMs: JOIN_TIMEOUT_MS },
            summary,
            phases: phaseStats,
            samples,
          },
          null,
          2,
        )}\n`,
      );
    if (byKind.local.failed + byKind.remote.failed > 0) process.exitCode = 1;
  } finally {
    await stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
