import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeProcess, Mesh } from '../../regions/launcher';
import { TestBrowser } from '../support/browser';
import { devToken, startMeshWithEdges } from '../support/liveMesh';

// The chat panel of the web client against a real edge (chat through the region's Kafka and Redis).
const ARTIFACTS = 'artifacts/browser';
const ROOM = 'chat-room';
// 27000 is this file's base in the repository's port plan; the variable moves it when a benchmark sits there.
const PORT_BASE = Number(process.env.MEETVIEW_CHAT_TEST_PORT_BASE ?? 27000);
let mesh: Mesh;
let edge: EdgeProcess;
let browser: TestBrowser;
/** Dialogs (alert) opened by any page: an injected script would show up here. */
const dialogs: string[] = [];

async function openPage(): Promise<Page> {
  const { page } = await browser.page();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return page;
}

const MSG = '[data-testid="chat-message"]';
/** Joining waits longer than the meeting test does: the machine is shared and the mesh runs beside it. */
const JOIN_TIMEOUT = 90_000;

async function waitConnected(page: Page): Promise<void> {
  await page
    .locator('[data-testid="conn-state"][data-state="connected"]')
    .waitFor({ state: 'attached', timeout: JOIN_TIMEOUT });
}

/** Fills the prejoin and joins with the camera off: chat needs no video, and encoding it costs CPU. */
async function join(page: Page, name: string | null, url?: string): Promise<void> {
  if (url) await page.goto(url);
  if (name !== null) await page.getByTestId('prejoin-name').fill(name);
  const cam = page.getByTestId('prejoin-cam-toggle');
  const camOn = async () => !((await cam.getAttribute('class')) ?? '').includes('off');
  // The preview starts the camera by itself; switch it off once it is on.
  await expect.poll(camOn, { timeout: 20_000 }).toBe(true);
  await cam.click();
  await expect.poll(camOn).toBe(false);
  await page.getByTestId('prejoin-join').click();
  await waitConnected(page);
}

async function openChat(page: Page): Promise<void> {
  if (await page.getByTestId('chat-input').isVisible()) return;
  await page.getByTestId('btn-chat').click();
  await page.getByTestId('chat-input').waitFor({ state: 'visible' });
}

async function closePanel(page: Page): Promise<void> {
  if (await page.getByTestId('chat-input').isVisible()) await page.getByTestId('btn-chat').click();
  await page.getByTestId('chat-input').waitFor({ state: 'hidden' });
}

/** Types and sends with Enter; resolves once the server acknowledged it (the line is no longer pending). */
async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
  await expect.poll(() => page.locator(`${MSG}[data-state="pending"]`).count(), { timeout: 30_000 }).toBe(0);
}

async function waitForText(page: Page, text: string): Promise<void> {
  await page
    .locator(`${MSG}[data-kind="user"] .chat-text`, { hasText: text })
    .first()
    .waitFor({ state: 'attached', timeout: 30_000 });
}

/** The user messages of the page, in order: [messageId, text]. */
async function userMessages(page: Page): Promise<[string, string][]> {
  return page.$$eval(`${MSG}[data-kind="user"]`, (els) =>
    els.map((e) => [
      e.getAttribute('data-message-id') ?? '',
      e.querySelector('.chat-text')?.textContent ?? '',
    ]),
  ) as Promise<[string, string][]>;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await TestBrowser.launch();
  const started = await startMeshWithEdges(
    { name: 'test-browser-chat', portBase: PORT_BASE, regions: ['seoul'], core: false, mirrorMaker: false },
    { graceMs: 15_000 },
  );
  mesh = started.mesh;
  edge = started.edges[0]!;
});

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
});

describe('chat in real browsers', () => {
  let alice: Page;
  let bob: Page;

  it('two people chat both ways; each sees the other’s message and who joined', async () => {
    alice = await openPage();
    bob = await openPage();
    await join(alice, 'Alice', `${edge.url}/r/${ROOM}`);
    await join(bob, '이지은', `${edge.url}/r/${ROOM}`);
    await openChat(alice);
    await openChat(bob);

    await send(alice, 'Hello from Alice');
    await waitForText(bob, 'Hello from Alice');
    // Shift+Enter is a new line, not a send.
    await bob.getByTestId('chat-input').fill('안녕하세요');
    await bob.getByTestId('chat-input').press('Shift+Enter');
    await bob.getByTestId('chat-input').pressSequentially('second line');
    expect(await bob.locator(MSG).filter({ hasText: 'second line' }).count()).toBe(0);
    await bob.getByTestId('chat-send').click();
    await waitForText(alice, 'second line');

    const a = await userMessages(alice);
    const b = await userMessages(bob);
    expect(a).toEqual(b);
    expect(a.map(([, t]) => t)).toEqual(['Hello from Alice', '안녕하세요\nsecond line']);
    expect(a.every(([id]) => id.length > 0)).toBe(true);
    // Own messages are styled as such, the other's not.
    expect(await alice.locator(`${MSG}.own`).count()).toBe(1);
    expect(await alice.locator(`${MSG}.own .chat-text`).textContent()).toBe('Hello from Alice');
    expect(await bob.locator(`${MSG}.own .chat-text`).textContent()).toContain('second line');
    // Alice saw Bob join, as a system line in her language.
    await alice
      .locator(`${MSG}[data-kind="system"]`, { hasText: '이지은 joined' })
      .waitFor({ state: 'attached', timeout: 30_000 });
    // In Korean, the same lines read in Korean; back to English after.
    await alice.getByTestId('btn-lang').click();
    await alice
      .locator(`${MSG}[data-kind="system"]`, { hasText: '이지은 님이 참여했습니다' })
      .waitFor({ state: 'attached', timeout: 5_000 });
    expect(await alice.getByTestId('chat-input').getAttribute('placeholder')).toBe(
      '모든 참여자에게 메시지 보내기',
    );
    await alice.screenshot({ path: `${ARTIFACTS}/chat-ko.png` });
    await alice.getByTestId('btn-lang').click();
    await alice
      .locator(`${MSG}[data-kind="system"]`, { hasText: '이지은 joined' })
      .waitFor({ state: 'attached', timeout: 5_000 });
    // The time shows in the page's locale (h:mm).
    expect(await alice.locator(`${MSG}[data-kind="user"] time`).first().textContent()).toMatch(
      /\d{1,2}:\d{2}/,
    );
    await alice.screenshot({ path: `${ARTIFACTS}/chat.png` });
  });

  it('markup stays text and only http(s) links become safe anchors', async () => {
    const evil =
      '<img src=x onerror=alert(1)> <script>alert(2)</script> javascript:alert(3) see https://example.com/a?b=1.';
    await send(alice, evil);
    await waitForText(bob, 'https://example.com/a?b=1');
    for (const page of [alice, bob]) {
      const line = page.locator(`${MSG}[data-kind="user"]`).last();
      expect(await line.locator('.chat-text').textContent()).toBe(evil);
      expect(await page.locator(`${MSG} img, ${MSG} script`).count()).toBe(0);
      const anchors = line.locator('a');
      expect(await anchors.count()).toBe(1);
      expect(await anchors.getAttribute('href')).toBe('https://example.com/a?b=1');
      expect(await anchors.getAttribute('rel')).toBe('noopener noreferrer');
      expect(await anchors.getAttribute('target')).toBe('_blank');
      expect(await anchors.textContent()).toBe('https://example.com/a?b=1');
    }
    await bob.waitForTimeout(300);
    expect(dialogs).toEqual([]);
  });

  it('counts unread messages on the chat button while the chat is closed', async () => {
    await closePanel(bob);
    const badge = bob.getByTestId('chat-unread');
    expect(await badge.isVisible()).toBe(false);
    for (const text of ['one', 'two', 'three']) await send(alice, `unread ${text}`);
    await expect.poll(() => badge.textContent(), { timeout: 30_000 }).toBe('3');
    expect(await badge.isVisible()).toBe(true);
    await bob.screenshot({ path: `${ARTIFACTS}/chat-unread.png` });
    await openChat(bob);
    await expect.poll(() => badge.isVisible()).toBe(false);
    await waitForText(bob, 'unread three');
  });

  it('a page that reloads sees the history', async () => {
    const before = await userMessages(alice);
    expect(before.length).toBe(6);
    await bob.reload();
    await join(bob, '이지은');
    // History is not news: no unread badge for it.
    expect(await bob.getByTestId('chat-unread').isVisible()).toBe(false);
    await openChat(bob);
    await expect.poll(() => userMessages(bob), { timeout: 30_000 }).toEqual(before);
  });

  it('a dropped socket resumes without a gap or a repeat, and a message typed meanwhile is sent once', async () => {
    await openChat(alice);
    await openChat(bob);
    const joinsBefore = await bob.evaluate(
      () =>
        (window as unknown as { __meetview: { session: { joinCount: number } } }).__meetview.session
          .joinCount,
    );
    // Bob's signaling frames from here on: the join after the reconnect must continue the log where Bob was.
    const frames: { dir: 'sent' | 'received'; data: { method?: string; id?: number; data?: unknown } }[] = [];
    bob.on('websocket', (ws) => {
      ws.on('framesent', (f) => frames.push({ dir: 'sent', data: JSON.parse(String(f.payload)) }));
      ws.on('framereceived', (f) => frames.push({ dir: 'received', data: JSON.parse(String(f.payload)) }));
    });
    const lastBefore = await bob.evaluate(
      () =>
        (window as unknown as { __meetview: { session: { chat: { lastMessageId?: string } } } }).__meetview
          .session.chat.lastMessageId,
    );
    expect(lastBefore).toBe(await bob.locator(MSG).last().getAttribute('data-message-id'));
    // Offline keeps the reconnect from succeeding, so what follows really happens while Bob is away.
    await bob.context().setOffline(true);
    await bob.evaluate(() =>
      (
        window as unknown as { __meetview: { session: { signaling: { drop(): void } } } }
      ).__meetview.session.signaling.drop(),
    );
    await send(alice, 'while you were away');
    await bob.getByTestId('chat-input').fill('typed offline');
    await bob.getByTestId('chat-input').press('Enter');
    await bob.waitForTimeout(1000);
    expect(await bob.getByTestId('conn-state').getAttribute('data-state')).toBe('reconnecting');
    expect(await bob.locator(`${MSG}[data-state="pending"]`).count()).toBe(1);
    expect((await userMessages(bob)).some(([, t]) => t === 'while you were away')).toBe(false);

    await bob.context().setOffline(false);
    await waitConnected(bob);
    const session = await bob.evaluate(() => {
      const s = (
        window as unknown as {
          __meetview: { session: { joinCount: number; resumed: boolean; chat: { lastMessageId?: string } } };
        }
      ).__meetview.session;
      return { joinCount: s.joinCount, resumed: s.resumed };
    });
    expect(session).toEqual({ joinCount: joinsBefore + 1, resumed: true });
    await waitForText(bob, 'while you were away');
    await waitForText(alice, 'typed offline');
    const joinReq = frames.find((f) => f.dir === 'sent' && f.data.method === 'join');
    // The rejoin continues the log where Bob was (and offers its device, should the session be gone).
    expect(joinReq?.data.data).toEqual({
      chatBatches: true,
      lastMessageId: lastBefore,
      rtpCapabilities: expect.any(Object),
    });
    const joinRes = frames.find((f) => f.dir === 'received' && f.data.id === joinReq?.data.id);
    // Exactly what was said while away: nothing Bob already had.
    expect(joinRes).toBeDefined();
    const missed = (joinRes!.data as { data: { chat: { text: string; messageId: string }[] } }).data.chat;
    expect(missed.map((m) => m.text)).toEqual(['while you were away']);

    await expect.poll(() => bob.locator(`${MSG}[data-state="pending"]`).count(), { timeout: 30_000 }).toBe(0);
    await bob.waitForTimeout(500);
    const a = await userMessages(alice);
    expect(await userMessages(bob)).toEqual(a);
    expect(new Set(a.map(([id]) => id)).size).toBe(a.length);
    expect(a.filter(([, t]) => t === 'typed offline')).toHaveLength(1);
    expect(a.slice(-2).map(([, t]) => t)).toEqual(['while you were away', 'typed offline']);
  });

  it('the input tells when a message is too long, and a refused send shows the server’s reason', async () => {
    await bob.getByTestId('chat-input').fill('x'.repeat(4001));
    expect(await bob.getByTestId('chat-send').isDisabled()).toBe(true);
    expect(await bob.getByTestId('chat-counter').textContent()).toContain('1');
    expect(await bob.getByTestId('chat-counter').getAttribute('class')).toContain('over');
    await bob.getByTestId('chat-input').fill('');

    // A token without the chat grant: the server refuses with FORBIDDEN, the page says so.
    const { token } = await devToken(edge.url, {
      room: ROOM,
      identity: 'no-chat',
      name: 'Quiet',
      grants: { chat: false },
    });
    const quiet = await openPage();
    await join(quiet, null, `${edge.url}/r/${ROOM}?token=${token}`);
    await openChat(quiet);
    await quiet.getByTestId('chat-input').fill('may I speak?');
    await quiet.getByTestId('chat-input').press('Enter');
    const toast = quiet.locator('[data-testid="error"][data-code="FORBIDDEN"]');
    await toast.waitFor({ timeout: 30_000 });
    expect(await toast.textContent()).toContain('FORBIDDEN');
    // The refused text comes back into the input, and nobody else received it.
    expect(await quiet.getByTestId('chat-input').inputValue()).toBe('may I speak?');
    expect((await userMessages(alice)).some(([, t]) => t === 'may I speak?')).toBe(false);
    await quiet.screenshot({ path: `${ARTIFACTS}/chat-refused.png` });
  });
});
