import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags measured to work for WebRTC through mediasoup on loopback (ENVIRONMENT.md); headless is set by playwright. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * One Chromium process (playwright gives each launch a fresh temporary profile). Tests that need
 * different pictures per page use one browser each (the fake camera is per process).
 */
export class TestBrowser {
  private constructor(readonly browser: Browser) {}

  static async launch(): Promise<TestBrowser> {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `no Chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (or set CHROMIUM_PATH)`,
      );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      ignoreDefaultArgs: ['--mute-audio'],
    });
    return new TestBrowser(browser);
  }

  async page(): Promise<{ page: Page; context: BrowserContext }> {
    const context = await this.browser.newContext({
      viewport: { width: 1280, height: 720 },
      permissions: ['camera', 'microphone'],
    });
    const page = await context.newPage();
    // `meetview()` in page functions: the client's MeetingSession (web/src/main.ts exposes it for tests).
    await page.addInitScript(() => {
      const w = window as unknown as { meetview: () => unknown; __meetview?: { session: unknown } };
      w.meetview = () => w.__meetview?.session;
    });
    page.on('pageerror', (err) => console.error(`[page] ${err.message}`));
    return { page, context };
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
  }
}

/** Fills the prejoin screen and joins; resolves when the meeting view shows the connected state. */
export async function joinMeeting(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId('prejoin-name').fill(name);
  await page.getByTestId('prejoin-join').click();
  await page
    .locator('[data-testid="conn-state"][data-state="connected"]')
    .waitFor({ state: 'attached', timeout: 30_000 });
}

export interface RemoteStats {
  identity: string;
  kind: string;
  source: string;
  framesDecoded: number;
  packetsReceived: number;
  totalSamplesReceived: number;
}

/** Receive statistics of every consumer in the page (from the client's MeetingSession). */
export async function remoteStats(page: Page): Promise<RemoteStats[]> {
  return page.evaluate(async () => {
    const s = (window as unknown as { __meetview?: { session?: { stats(): Promise<unknown[]> } | null } })
      .__meetview?.session;
    return ((await s?.stats()) ?? []) as RemoteStats[];
  });
}

/**
 * Waits until the page receives, from every listed identity, video whose decoded frames advance and
 * audio whose samples advance between two readings.
 */
export async function expectMediaFrom(
  page: Page,
  identities: string[],
  sources = ['camera'],
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const a = await remoteStats(page);
    await page.waitForTimeout(700);
    const b = await remoteStats(page);
    const advancing = (identity: string, kind: string, source: string) => {
      const key = (x: RemoteStats) => x.identity === identity && x.kind === kind && x.source === source;
      const x = a.find(key);
      const y = b.find(key);
      if (!x || !y) return false;
      return kind === 'video'
        ? y.framesDecoded > x.framesDecoded && y.framesDecoded > 0
        : y.totalSamplesReceived > x.totalSamplesReceived;
    };
    const missing: string[] = [];
    for (const id of identities) {
      for (const source of sources)
        if (!advancing(id, 'video', source)) missing.push(`${id}/${source} video`);
      if (sources.includes('camera') && !advancing(id, 'audio', 'microphone')) missing.push(`${id} audio`);
    }
    if (missing.length === 0) return;
    last = `not advancing: ${missing.join(', ')}; stats ${JSON.stringify(b)}`;
  }
  throw new Error(`media did not flow within ${timeoutMs} ms — ${last}`);
}
