import { Hono } from 'hono';
import type { UpgradeWebSocket } from 'hono/ws';
import { TokenError, type TokenService } from '../../../lib/auth/tokens';
import { CloseCode, ErrorCode } from '../../../proto/signaling/errors';
import type { ConferenceManager } from '../../conference/ConferenceManager';
import { Connection, type ConnectionOptions } from '../../signaling/Connection';
import { CorkedSocket } from '../../signaling/CorkedSocket';

/**
 * `GET /rtc?token=<JWT>[&room=<room>]` — the signaling WebSocket. The token is checked before anything
 * else; a refused socket is told why (`session.refused`) and closed with 4401, so browsers, which cannot
 * read an HTTP error on a WebSocket upgrade, see the reason too.
 */
export function rtcRoutes(
  upgradeWebSocket: UpgradeWebSocket,
  tokens: TokenService,
  manager: ConferenceManager,
  opts: ConnectionOptions,
) {
  return new Hono().get(
    '/rtc',
    upgradeWebSocket(async (c) => {
      const token = c.req.query('token');
      const room = c.req.query('room');
      let refusal: { code: string; message: string } | undefined;
      try {
        const claims = await tokens.verify(token);
        if (room !== undefined && room !== claims.room)
          refusal = {
            code: ErrorCode.WrongRoom,
            message: `this token is for room "${claims.room}", not "${room}"`,
          };
        else if (!claims.grants.join)
          refusal = { code: ErrorCode.Forbidden, message: 'your token has no "join" grant' };
        else return connectionEvents(claims, manager, opts);
      } catch (err) {
        refusal =
          err instanceof TokenError
            ? { code: err.code, message: err.message }
            : { code: ErrorCode.Internal, message: 'token check failed' };
      }
      return {
        onOpen(_evt, ws) {
          ws.send(JSON.stringify({ method: 'session.refused', data: refusal }));
          ws.close(CloseCode.Refused, refusal?.code ?? 'refused');
        },
      };
    }),
  );
}

function connectionEvents(
  claims: Awaited<ReturnType<TokenService['verify']>>,
  manager: ConferenceManager,
  opts: ConnectionOptions,
) {
  let connection: Connection | undefined;
  return {
    onOpen(
      _evt: Event,
      ws: { send(s: string): void; close(code?: number, reason?: string): void; raw?: unknown },
    ) {
      connection = new Connection(new CorkedSocket(ws), claims, manager, opts);
    },
    onMessage(evt: MessageEvent) {
      const data = evt.data as string | ArrayBuffer;
      const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      void connection?.onMessage(data, size);
    },
    onClose() {
      connection?.onClose();
    },
    onError() {
      connection?.onClose();
    },
  };
}
