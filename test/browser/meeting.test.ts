import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeProcess, Mesh } from '../../regions/launcher';
import { expectMediaFrom, joinMeeting, remoteStats, TestBrowser } from '../support/browser';
import { devToken, startMeshWithEdges } from '../support/liveMesh';

// One region with its edge running as a process (as `npm start` runs it), and real Chromium pages
// driving the web client the edge serves.
const ARTIFACTS = 'artifacts/browser';
let mesh: Mesh;
let edge: EdgeProcess;
const browsers: TestBrowser[] = [];

async function openPage(): Promise<Page> {
  const b = await TestBrowser.launch();
  browsers.push(b);
  return (await b.page()).page;
}

/** The page's MeetingSession, defined in every test page by TestBrowser; only call inside page functions. */
declare function meetview(): {
  signaling: { drop(): void; state: string };
  joinCount: number;
  resumed: boolean;
};

async function identityOf(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      (window as unknown as { __meetview: { session: { self: { identity: string } } } }).__meetview.session
        .self.identity,
  );
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const started = await startMeshWithEdges(
    { name: 'test-browser', portBase: 26000, regions: ['seoul'], core: false, mirrorMaker: false },
    { graceMs: 15_000 },
  );
  mesh = started.mesh;
  edge = started.edges[0]!;
});

afterAll(async () => {
  for (const b of browsers) await b.close();
  await mesh?.stop();
});

describe('a meeting in real browsers', () => {
  let pages: Page[] = [];
  let ids: string[] = [];

  it('three people join one room and each receives the other two videos and audio', async () => {
    pages = [await openPage(), await openPage(), await openPage()];
    const names = ['Alice Kim', '이지은', 'Carlos Díaz'];
    for (const [i, p] of pages.entries()) await joinMeeting(p, `${edge.url}/r/team`, names[i]!);
    ids = await Promise.all(pages.map(identityOf));
    for (const [i, p] of pages.entries()) {
      const others = ids.filter((_, j) => j !== i);
      await expectMediaFrom(p, others);
      expect(await p.getByTestId('participant').count()).toBe(3);
    }
    await pages[0]!.waitForTimeout(500);
    await pages[0]!.screenshot({ path: `${ARTIFACTS}/meeting-3.png` });
  });

  it('one shares a screen and the others receive it, shown large', async () => {
    const [a, b, c] = pages as [Page, Page, Page];
    await b.getByTestId('btn-screen').click();
    for (const p of [a, c]) {
      await p
        .locator(`[data-testid="tile"][data-source="screen"][data-identity="${ids[1]}"]`)
        .waitFor({ timeout: 15_000 });
      await expectMediaFrom(p, [ids[1]!], ['screen']);
      // The shared screen sits on the stage, not in the grid.
      expect(
        await p.locator('[data-testid="stage"] [data-testid="tile"][data-source="screen"]').count(),
      ).toBe(1);
    }
    await a.screenshot({ path: `${ARTIFACTS}/meeting-screen-share.png` });
    await b.getByTestId('btn-screen').click();
    await a
      .locator('[data-testid="tile"][data-source="screen"]')
      .waitFor({ state: 'detached', timeout: 10_000 });
  });

  it('one loses its WebSocket and comes back without leaving', async () => {
    const [a, b] = pages as [Page, Page];
    const joinsBefore = await b.evaluate(() => meetview().joinCount);
    await b.evaluate(() => meetview().signaling.drop());
    // Connected again once a further join has been answered (the drop itself is seen asynchronously).
    await b.waitForFunction(
      (before) => meetview().joinCount > before && meetview().signaling.state === 'connected',
      joinsBefore,
      { timeout: 30_000 },
    );
    const resumed = await b.evaluate(() => meetview().resumed);
    expect(resumed).toBe(true);
    // The others never saw a leave, and media flows both ways again.
    expect(await a.getByTestId('participant').count()).toBe(3);
    await expectMediaFrom(a, [ids[1]!]);
    await expectMediaFrom(b, [ids[0]!, ids[2]!]);
  });

  it('one leaves and the others’ grids update', async () => {
    const [a, , c] = pages as [Page, Page, Page];
    await c.getByTestId('btn-leave').click();
    for (const p of pages.slice(0, 2)) {
      await p.waitForFunction(
        () => document.querySelectorAll('[data-testid="participant"]').length === 2,
        null,
        {
          timeout: 10_000,
        },
      );
      expect(await p.locator(`[data-testid="tile"][data-identity="${ids[2]}"]`).count()).toBe(0);
    }
    expect((await remoteStats(a)).some((s) => s.identity === ids[2])).toBe(false);
  });
});

describe('the prejoin connects ahead of the click', () => {
  it('says when it is ready, and the join receives on the connection it made', async () => {
    const [host, guest] = [await openPage(), await openPage()];
    await joinMeeting(host, `${edge.url}/r/warm`, 'Host');
    await guest.goto(`${edge.url}/r/warm`);
    await guest.getByTestId('prejoin-name').fill('Guest');
    await guest.getByTestId('prejoin-ready').waitFor({ state: 'visible', timeout: 15_000 });
    // Nobody in the room sees a prejoin.
    expect(await host.getByTestId('participant').count()).toBe(1);
    await guest.getByTestId('prejoin-join').click();
    await expectMediaFrom(guest, [await identityOf(host)]);
    const { adopted, consumers, marks } = await guest.evaluate(() => {
      const { session } = (
        window as unknown as {
          __meetview: { session: { joinedPrepared: boolean; preparedConsumersUsed: number } };
        }
      ).__meetview;
      return {
        adopted: session.joinedPrepared,
        consumers: session.preparedConsumersUsed,
        marks: performance.getEntriesByName('meetview:prepared').length,
      };
    });
    expect(marks).toBe(1);
    expect(adopted, 'the join used the prepared receive transport').toBe(true);
    expect(consumers, "the host's camera and microphone were negotiated before the click").toBe(2);
    await host.waitForFunction(() => document.querySelectorAll('[data-testid="participant"]').length === 2);
  });
});

describe('refused sessions say why, in the page', () => {
  const cases: [string, () => Promise<string>, string][] = [
    [
      'an expired token',
      async () =>
        (await devToken(edge.url, { room: 'team', identity: 'x1', name: 'X', ttlSeconds: -60 })).token,
      'TOKEN_EXPIRED',
    ],
    [
      'a token of another room',
      async () => (await devToken(edge.url, { room: 'elsewhere', identity: 'x2', name: 'Y' })).token,
      'WRONG_ROOM',
    ],
    ['a forged token', async () => 'eyJhbGciOiJIUzI1NiJ9.e30.forged', 'INVALID_TOKEN'],
  ];
  let page: Page;
  beforeAll(async () => {
    page = await openPage();
  });
  for (const [what, token, code] of cases) {
    it(`refuses ${what} with ${code}`, async () => {
      await page.goto(`${edge.url}/r/team?token=${await token()}`);
      await page.getByTestId('prejoin-join').click();
      const box = page.getByTestId('error').first();
      expect(await box.getAttribute('data-code', { timeout: 15_000 })).toBe(code);
      expect((await box.textContent())?.length ?? 0).toBeGreaterThan(10);
    });
  }

  it('joins a viewer without the publish grant, tells them, and still shows the others', async () => {
    const host = await openPage();
    await joinMeeting(host, `${edge.url}/r/webinar`, 'Host');
    const hostId = await identityOf(host);
    const { token } = await devToken(edge.url, {
      room: 'webinar',
      identity: 'viewer-1',
      name: 'Viewer',
      grants: { publish: false },
    });
    await page.goto(`${edge.url}/r/webinar?token=${token}`);
    await page.getByTestId('prejoin-join').click();
    expect(await page.getByTestId('error').first().getAttribute('data-code', { timeout: 15_000 })).toBe(
      'FORBIDDEN',
    );
    await expectMediaFrom(page, [hostId]);
    await page.screenshot({ path: `${ARTIFACTS}/viewer.png` });
  });
});
