import { Hono } from 'hono';
import { z } from 'zod';
import type { TokenService } from '../../../lib/auth/tokens';
import { isValidRoomName, MAX_NAME_CHARS } from '../../../proto/signaling/messages';

const Body = z.strictObject({
  room: z.string().refine(isValidRoomName, 'room: 1–64 of letters, digits, ".", "_", "-"'),
  identity: z.string().min(1).max(128),
  name: z.string().trim().min(1).max(MAX_NAME_CHARS),
  grants: z
    .strictObject({
      join: z.boolean(),
      publish: z.boolean(),
      subscribe: z.boolean(),
      chat: z.boolean(),
      files: z.boolean(),
      admin: z.boolean(),
    })
    .partial()
    .optional(),
  ttlSeconds: z.number().int().min(-3600).max(86_400).optional(),
});

/**
 * `POST /api/dev/token` — mints a participant token in the local mesh. Only mounted when the edge is
 * configured with MEETVIEW_DEV_TOKENS=1; production tokens come from the Admin API.
 */
export function devTokenRoutes(tokens: TokenService, wsUrl: (token: string) => string) {
  return new Hono().post('/api/dev/token', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: { code: 'BAD_REQUEST', message: 'body must be JSON' } }, 400);
    }
    const parsed = Body.safeParse(body);
    if (!parsed.success)
      return c.json(
        {
          error: {
            code: 'BAD_REQUEST',
            message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          },
        },
        400,
      );
    const { token, expiresAt } = await tokens.mint(parsed.data);
    return c.json({ token, url: wsUrl(token), expiresAt });
  });
}
