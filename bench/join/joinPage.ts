/**
 * The steps of one measured join on the web client's prejoin page, shared by the join benchmarks
 * (`bench/join/firstFrame.ts`, `bench/cascade/remoteFirstFrame.ts`): wait for the camera preview, mark the
 * Join click on the page's clock, wait for the prepared session, click, wait for the first decoded frame
 * of the publisher's camera, read the client's marks relative to the click, leave through the UI.
 */
import type { Page } from 'playwright-core';

/**
 * Waits for the camera preview: the client holds the join until its first capture, which is the device's
 * cost, not the service's.
 */
export async function waitForPreview(page: Page, timeoutMs: number): Promise<void> {
  await page.waitForFunction(
    () => {
      const v = document.querySelector<HTMLVideoElement>('.prejoin video');
      return v !== null && v.readyState >= 2;
    },
    undefined,
    { timeout: timeoutMs },
  );
}

/** Marks `bench:click` on the page's performance clock when Join is clicked (capture phase, first). */
export async function markJoinClick(page: Page): Promise<void> {
  await page.evaluate(() => {
    document.addEventListener(
      'click',
      (e) => {
        if ((e.target as Element | null)?.closest('[data-testid="prejoin-join"]'))
          performance.mark('bench:click');
      },
      { capture: true, once: true },
    );
  });
}

/**
 * Waits, as a person would, until the prejoin says the session is prepared (token, socket, transports,
 * ICE and DTLS). Whether it said so within the time.
 */
export function waitForReady(page: Page, timeoutMs: number): Promise<boolean> {
  return page
    .getByTestId('prejoin-ready')
    .waitFor({ state: 'visible', timeout: timeoutMs })
    .then(() => true)
    .catch(() => false);
}

/**
 * Waits for the client's `meetview:first-frame` mark of `publisher`'s camera (requestVideoFrameCallback
 * on the remote <video>). Resolves with an error text when it did not come in time.
 */
export async function waitForFirstFrame(
  page: Page,
  publisher: string,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    await page.waitForFunction(
      (who) =>
        performance.getEntriesByName('meetview:first-frame').some((m) => {
          const d = (m as PerformanceMark).detail as { identity?: string; source?: string } | null;
          return d?.identity === who && d.source === 'camera';
        }),
      publisher,
      { timeout: timeoutMs, polling: 20 },
    );
    return undefined;
  } catch (e) {
    return `no first frame within ${timeoutMs} ms: ${(e as Error).message.split('\n')[0]}`;
  }
}

/**
 * The click's time and each named mark's time after the click, ms (absent: not recorded). For
 * `meetview:first-frame` the mark of `publisher`'s camera; for `meetview:<phase>` and `bench:<phase>`
 * the first one (a client mark wins over a benchmark one of the same phase).
 */
export async function marksAfterClick<P extends string>(
  page: Page,
  publisher: string,
  phases: readonly P[],
): Promise<{ click: number; marks: Partial<Record<P, number>> }> {
  // No named helpers inside evaluate(): tsx's keepNames would wrap them in __name(), absent in the page.
  const raw = await page.evaluate(
    ({ who, names }) =>
      Object.fromEntries(
        names.map((name) => [
          name,
          performance.getEntriesByName(name).find((m) => {
            if (name !== 'meetview:first-frame') return true;
            const d = (m as PerformanceMark).detail as { identity?: string; source?: string } | null;
            return d?.identity === who && d.source === 'camera';
          })?.startTime ?? null,
        ]),
      ) as Record<string, number | null>,
    {
      who: publisher,
      names: ['bench:click', ...phases.flatMap((p) => [`meetview:${p}`, `bench:${p}`])],
    },
  );
  const click = raw['bench:click'] ?? null;
  if (click === null) throw new Error('the join click was not seen by the page');
  const marks: Partial<Record<P, number>> = {};
  for (const phase of phases) {
    const t = raw[`meetview:${phase}`] ?? raw[`bench:${phase}`] ?? null;
    if (t !== null) marks[phase] = t - click;
  }
  return { click, marks };
}

/**
 * Leaves through the UI, as a user would: closing the context alone would hold the participant for the
 * server's resume grace period.
 */
export async function leaveThroughUi(page: Page): Promise<void> {
  await page
    .getByTestId('btn-leave')
    .click({ timeout: 2_000 })
    .catch(() => undefined);
  await page
    .getByTestId('ended')
    .waitFor({ timeout: 3_000 })
    .catch(() => undefined);
}

/** The page's own participant identity (the client's debug handle). */
export function identityOf(page: Page): Promise<string> {
  return page.evaluate(
    () =>
      (window as unknown as { __meetview: { session: { self: { identity: string } } } }).__meetview.session
        .self.identity,
  );
}
