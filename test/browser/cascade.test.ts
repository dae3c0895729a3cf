import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeProcess, Mesh } from '../../regions/launcher';
import { expectMediaFrom, joinMeeting, remoteStats, TestBrowser } from '../support/browser';
import { startMeshWithEdges } from '../support/liveMesh';

// Two regions (seoul, frankfurt) with one edge each, MirrorMaker 2 between them, and one Chromium page
// per region in the same room: each edge learns the other region's participants from the mirrored room
// events and pipes their tracks over the Cascade service when its page consumes them.
const ARTIFACTS = 'artifacts/browser';
const ROOM = 'cascade-room';
const PORT_BASE = 14000;
let mesh: Mesh;
let seoul: EdgeProcess;
let frankfurt: EdgeProcess;
const browsers: TestBrowser[] = [];

async function openPage(): Promise<{ page: Page; browser: TestBrowser }> {
  // One browser per page: each fake camera is its own process's.
  const browser = await TestBrowser.launch();
  browsers.push(browser);
  return { page: (await browser.page()).page, browser };
}

async function identityOf(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      (window as unknown as { __meetview: { session: { self: { identity: string } } } }).__meetview.session
        .self.identity,
  );
}

/** A process and everything it started (tsx runs the edge in a child node process). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // pgrep exits 1 when there is no child
  }
  return [pid, ...children.flatMap(processTree)];
}

/** What the page receives from `identity`, by kind and source (empty when nothing). */
async function receivedFrom(page: Page, identity: string): Promise<string[]> {
  return (await remoteStats(page)).filter((s) => s.identity === identity).map((s) => `${s.kind}/${s.source}`);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const started = await startMeshWithEdges(
    { name: 'test-cascade', portBase: PORT_BASE, regions: ['seoul', 'frankfurt'], core: false },
    { graceMs: 10_000 },
  );
  mesh = started.mesh;
  seoul = started.edges.find((e) => e.region === 'seoul')!;
  frankfurt = started.edges.find((e) => e.region === 'frankfurt')!;
});

afterAll(async () => {
  for (const b of browsers) await b.close();
  await mesh?.stop();
});

describe('one meeting across two regions', () => {
  let inSeoul: Page;
  let inFrankfurt: Page;
  let seoulBrowser: TestBrowser;
  let seoulId: string;
  let frankfurtId: string;

  it('a page in each region joins the same room and each plays the other’s video and audio', async () => {
    ({ page: inSeoul, browser: seoulBrowser } = await openPage());
    ({ page: inFrankfurt } = await openPage());
    await joinMeeting(inSeoul, `${seoul.url}/r/${ROOM}`, 'Min-jun Seo');
    await joinMeeting(inFrankfurt, `${frankfurt.url}/r/${ROOM}`, 'Lena Fischer');
    seoulId = await identityOf(inSeoul);
    frankfurtId = await identityOf(inFrankfurt);
    // Each page is on its own region's edge: nothing here is redirected across regions.
    expect(await inSeoul.evaluate(() => location.host)).toBe(new URL(seoul.url).host);
    expect(await inFrankfurt.evaluate(() => location.host)).toBe(new URL(frankfurt.url).host);

    await expectMediaFrom(inFrankfurt, [seoulId], ['camera'], 60_000);
    await expectMediaFrom(inSeoul, [frankfurtId], ['camera'], 60_000);
    for (const page of [inSeoul, inFrankfurt]) {
      await expect.poll(() => page.getByTestId('participant').count(), { timeout: 15_000 }).toBe(2);
    }
    // The remote participant shows with its region (the same participant info as a local one).
    const seoulSeenInFrankfurt = await inFrankfurt.evaluate(
      (id) =>
        (
          window as unknown as {
            __meetview: { session: { participants: { identity: string; region: string }[] } };
          }
        ).__meetview.session.participants.find((p) => p.identity === id)?.region,
      seoulId,
    );
    expect(seoulSeenInFrankfurt).toBe('seoul');
    await inFrankfurt.waitForTimeout(500);
    await inFrankfurt.screenshot({ path: `${ARTIFACTS}/cascade-frankfurt.png` });
    await inSeoul.screenshot({ path: `${ARTIFACTS}/cascade-seoul.png` });
  });

  it('chat goes both ways across the regions', async () => {
    for (const page of [inSeoul, inFrankfurt]) {
      await page.getByTestId('btn-chat').click();
      await page.getByTestId('chat-input').waitFor({ state: 'visible' });
    }
    const say = async (page: Page, text: string) => {
      await page.getByTestId('chat-input').fill(text);
      await page.getByTestId('chat-input').press('Enter');
    };
    const shown = (page: Page, text: string) =>
      page
        .locator('[data-testid="chat-message"][data-kind="user"] .chat-text', { hasText: text })
        .first()
        .waitFor({ state: 'attached', timeout: 30_000 });
    await say(inSeoul, '서울에서 안녕하세요');
    await shown(inFrankfurt, '서울에서 안녕하세요');
    await say(inFrankfurt, 'Grüße aus Frankfurt');
    await shown(inSeoul, 'Grüße aus Frankfurt');
    for (const page of [inSeoul, inFrankfurt]) await page.getByTestId('btn-chat').click();
  });

  it('the publisher in seoul closes its camera: its video disappears in frankfurt', async () => {
    await inSeoul.getByTestId('btn-cam').click();
    const tile = inFrankfurt.locator(
      `[data-testid="tile"][data-source="camera"][data-identity="${seoulId}"]`,
    );
    await expect
      .poll(async () => (await receivedFrom(inFrankfurt, seoulId)).includes('video/camera'), {
        timeout: 15_000,
      })
      .toBe(false);
    // The tile falls back to the avatar: no video element playing a frozen picture.
    await expect
      .poll(async () => (await tile.getAttribute('class'))?.includes('video-off'), { timeout: 10_000 })
      .toBe(true);
    // Audio still comes from seoul, and seoul still receives frankfurt.
    await expectMediaFrom(inFrankfurt, [seoulId], [], 20_000);
    expect(await receivedFrom(inFrankfurt, seoulId)).toEqual(['audio/microphone']);
    await expectMediaFrom(inSeoul, [frankfurtId], ['camera'], 20_000);
    await inFrankfurt.screenshot({ path: `${ARTIFACTS}/cascade-camera-closed.png` });
  });

  it('seoul’s edge is killed: frankfurt sees seoul’s tracks end, and its own meeting goes on', async () => {
    // kill -9 of the edge itself: no leave, no room close, no pipe close reaches frankfurt; only the
    // cascade's loss detection (the Watch stream fails, or misses its 3 s keepalive deadline) can.
    const tree = processTree(seoul.process.pid!);
    expect(tree.length).toBeGreaterThan(1);
    for (const pid of tree.slice(1).reverse()) process.kill(pid, 'SIGKILL');
    seoul.process.kill('SIGKILL');
    const killedAt = Date.now();
    await expect.poll(() => receivedFrom(inFrankfurt, seoulId), { timeout: 15_000 }).toEqual([]);
    const withdrawnMs = Date.now() - killedAt;
    // Nor is seoul's participant left behind as a ghost in the list.
    await expect.poll(() => inFrankfurt.getByTestId('participant').count(), { timeout: 5000 }).toBe(1);
    console.log(`seoul's tracks withdrawn in frankfurt ${withdrawnMs} ms after its edge was killed`);
    await seoulBrowser.close();
    expect(await inFrankfurt.locator('[data-testid="conn-state"][data-state="connected"]').count()).toBe(1);
    // A second participant in frankfurt joins and the two meet as before.
    const { page: second } = await openPage();
    await joinMeeting(second, `${frankfurt.url}/r/${ROOM}`, 'Jonas Weber');
    const secondId = await identityOf(second);
    await expectMediaFrom(inFrankfurt, [secondId], ['camera'], 60_000);
    await expectMediaFrom(second, [frankfurtId], ['camera'], 60_000);
    expect(await receivedFrom(second, seoulId)).toEqual([]);
    await second.screenshot({ path: `${ARTIFACTS}/cascade-after-seoul-lost.png` });

    // Everyone in frankfurt leaves, so the room closes there; whoever opens it again must not see seoul's
    // participant either (no leave was ever written for it: only the loss, remembered by the edge, hides it).
    // Shown, the ghost's tracks would be consumed and their piping from the dead edge would fail (and only
    // then be hidden): frankfurt's edge logs each such attempt.
    const pipingFromSeoul = () =>
      readFileSync(join(mesh.logDir, 'edge-frankfurt-1.log'), 'utf8')
        .split('\n')
        .filter((line) => line.includes('from seoul-edge-1:')).length;
    await inFrankfurt.getByTestId('btn-leave').click();
    await second.getByTestId('btn-leave').click();
    await new Promise((r) => setTimeout(r, 1000));
    const attemptsBefore = pipingFromSeoul();
    await joinMeeting(second, `${frankfurt.url}/r/${ROOM}`, 'Jonas Weber');
    await second.waitForTimeout(1500);
    expect(await second.getByTestId('participant').count()).toBe(1);
    expect(await receivedFrom(second, seoulId)).toEqual([]);
    expect(pipingFromSeoul()).toBe(attemptsBefore);
  });
});
