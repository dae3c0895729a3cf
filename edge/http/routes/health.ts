import { Hono } from 'hono';

export interface HealthProbe {
  /** Ready to take participants: Redis answers, workers are up, the heartbeat is written. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
  info(): { node: string; region: string };
}

/** `GET /healthz` (the process is alive) and `GET /readyz` (it can serve a meeting now). */
export function healthRoutes(probe: HealthProbe) {
  return new Hono()
    .get('/healthz', (c) => c.json({ ok: true, ...probe.info() }))
    .get('/readyz', async (c) => {
      const r = await probe.ready();
      return c.json({ ...r, ...probe.info() }, r.ok ? 200 : 503);
    });
}
