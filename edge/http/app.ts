import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { UpgradeWebSocket } from 'hono/ws';
import type { TokenService } from '../../lib/auth/tokens';
import type { ConferenceManager } from '../conference/ConferenceManager';
import type { ConnectionOptions } from '../signaling/Connection';
import { devTokenRoutes } from './routes/devToken';
import { type FileRoutesDeps, fileRoutes } from './routes/files';
import { type HealthProbe, healthRoutes } from './routes/health';
import { rtcRoutes } from './routes/rtc';
import { webRoutes } from './routes/web';

export interface AppDeps {
  upgradeWebSocket: UpgradeWebSocket;
  tokens: TokenService;
  manager: ConferenceManager;
  health: HealthProbe;
  connection: ConnectionOptions;
  devTokens: boolean;
  /** The WebSocket URL of this edge for a token. */
  wsUrl: (token: string) => string;
  webDir: string | undefined;
  /** Every room's router offers the same codecs, so clients can load their device before joining. */
  routerRtpCapabilities: unknown;
  /** File sharing (POST/GET /api/files, /internal/files for other edges). */
  files?: FileRoutesDeps;
}

/** The edge's HTTP surface: small route modules composed into one app. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.use('*', secureHeaders({ crossOriginEmbedderPolicy: false, contentSecurityPolicy: undefined }));
  app.route('/', healthRoutes(deps.health));
  app.get('/api/config', (c) =>
    c.json({
      devTokens: deps.devTokens,
      ...deps.health.info(),
      routerRtpCapabilities: deps.routerRtpCapabilities,
    }),
  );
  if (deps.devTokens) app.route('/', devTokenRoutes(deps.tokens, deps.wsUrl));
  app.route('/', rtcRoutes(deps.upgradeWebSocket, deps.tokens, deps.manager, deps.connection));
  if (deps.files) app.route('/', fileRoutes(deps.files));
  app.all('/api/*', (c) => c.json({ error: { code: 'NOT_FOUND', message: `no API at ${c.req.path}` } }, 404));
  if (deps.webDir) app.route('/', webRoutes(deps.webDir));
  return app;
}
