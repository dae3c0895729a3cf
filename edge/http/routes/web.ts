import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';

/**
 * The web client's built files (web/dist). Meeting URLs (/r/<room>) and anything else that is not a
 * file get index.html, so the client's router takes over.
 */
export function webRoutes(webDir: string) {
  const app = new Hono();
  const index = join(webDir, 'index.html');
  if (!existsSync(index)) {
    return app.get('/', (c) =>
      c.text(`The web client is not built: run \`npm run build:web\` (looked for ${index}).\n`, 503),
    );
  }
  const html = readFileSync(index, 'utf8');
  app.use('/assets/*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
  });
  app.use('/*', serveStatic({ root: webDir }));
  app.get('*', (c) => c.html(html));
  return app;
}
