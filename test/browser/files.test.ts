import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeProcess, Mesh } from '../../regions/launcher';
import { TestBrowser } from '../support/browser';
import { startMeshWithEdges } from '../support/liveMesh';

// File sharing in the web client against a real edge: one page shares through the chat panel (button
// and drag-and-drop), the other sees the offers, previews the image and downloads the file.
const PORT_BASE = 18400;
const ROOM = 'files-room';
const JOIN_TIMEOUT = 90_000;
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

let mesh: Mesh;
let edge: EdgeProcess;
let browser: TestBrowser;
const dialogs: string[] = [];

async function openPage(): Promise<Page> {
  const { page } = await browser.page();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return page;
}

/** Joins with the camera off (file sharing needs no video) and opens the chat panel. */
async function joinWithChat(page: Page, name: string): Promise<void> {
  await page.goto(`${edge.url}/r/${ROOM}`);
  await page.getByTestId('prejoin-name').fill(name);
  const cam = page.getByTestId('prejoin-cam-toggle');
  const camOn = async () => !((await cam.getAttribute('class')) ?? '').includes('off');
  await expect.poll(camOn, { timeout: 20_000 }).toBe(true);
  await cam.click();
  await expect.poll(camOn).toBe(false);
  await page.getByTestId('prejoin-join').click();
  await page
    .locator('[data-testid="conn-state"][data-state="connected"]')
    .waitFor({ state: 'attached', timeout: JOIN_TIMEOUT });
  await page.getByTestId('btn-chat').click();
  await page.getByTestId('chat-input').waitFor({ state: 'visible' });
}

function offer(page: Page, name: string) {
  return page.locator('[data-testid="file-offer"]', { hasText: name });
}

beforeAll(async () => {
  browser = await TestBrowser.launch();
  const started = await startMeshWithEdges(
    { name: 'test-browser-files', portBase: PORT_BASE, regions: ['seoul'], core: false, mirrorMaker: false },
    { graceMs: 15_000 },
  );
  mesh = started.mesh;
  edge = started.edges[0]!;
});

afterAll(async () => {
  await browser?.close();
  await mesh?.stop();
});

describe('file sharing in real browsers', () => {
  let alice: Page;
  let bob: Page;

  it('one page shares a file with the button, the other downloads identical bytes', async () => {
    alice = await openPage();
    bob = await openPage();
    await joinWithChat(alice, 'Alice');
    await joinWithChat(bob, '김민준');

    const data = Buffer.concat([
      Buffer.from('회의록 — minutes\n'),
      randomBytes(300_000).map((b) => 32 + (b % 90)),
    ]);
    const sha = createHash('sha256').update(data).digest('hex');
    await alice
      .getByTestId('file-input')
      .setInputFiles({ name: '회의록.txt', mimeType: 'text/plain', buffer: data });
    // The progress row goes away once the edge has the file.
    await expect.poll(() => alice.getByTestId('file-upload').count(), { timeout: 30_000 }).toBe(0);

    const card = offer(bob, '회의록.txt');
    await card.waitFor({ state: 'visible', timeout: 30_000 });
    await expect.poll(() => card.textContent()).toContain('Alice');
    const [download] = await Promise.all([
      bob.waitForEvent('download', { timeout: 30_000 }),
      card.getByTestId('file-download').click(),
    ]);
    expect(download.suggestedFilename()).toBe('회의록.txt');
    const path = await download.path();
    const got = await readFile(path);
    expect(createHash('sha256').update(got).digest('hex')).toBe(sha);
  });

  it('an upload whose connection drops continues from where the edge is and completes', async () => {
    // The first PATCH of the upload fails as a reset connection; the client asks for the offset and resends.
    let dropped = 0;
    await alice.route('**/api/files/uploads/*', async (route) => {
      if (route.request().method() === 'PATCH' && dropped === 0) {
        dropped++;
        await route.abort('connectionreset');
      } else await route.continue();
    });
    // Printable random text could begin with "MZ", which the edge refuses as an executable.
    const data = Buffer.concat([Buffer.from('retry\n'), randomBytes(200_000).map((b) => 32 + (b % 90))]);
    await alice
      .getByTestId('file-input')
      .setInputFiles({ name: 'retry.txt', mimeType: 'text/plain', buffer: data });
    const card = offer(bob, 'retry.txt');
    await card.waitFor({ state: 'visible', timeout: 30_000 });
    expect(dropped).toBe(1);
    await expect.poll(() => alice.getByTestId('file-upload').count(), { timeout: 15_000 }).toBe(0);
    await alice.unroute('**/api/files/uploads/*');
  });

  it('a dropped image is shared and previewed; a fake image is refused with a reason', async () => {
    await alice.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dot.png', { type: 'image/png' }));
      const target = document.querySelector('.chat')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, PNG.toString('base64'));
    const card = offer(bob, 'dot.png');
    await card.waitFor({ state: 'visible', timeout: 30_000 });
    const preview = card.getByTestId('file-preview');
    await preview.waitFor({ state: 'visible', timeout: 15_000 });
    await expect.poll(() => preview.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBe(1);

    await alice.getByTestId('file-input').setInputFiles({
      name: 'cat.png',
      mimeType: 'image/png',
      buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    });
    const failed = alice.locator('[data-testid="file-upload"][data-state="failed"]');
    await failed.waitFor({ state: 'visible', timeout: 15_000 });
    expect(await failed.getAttribute('data-code')).toBe('ACTIVE_CONTENT');
    expect(await failed.textContent()).toContain('cat.png');
    // Nothing of it reached the other page, and no script ran anywhere.
    expect(await offer(bob, 'cat.png').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });
});
