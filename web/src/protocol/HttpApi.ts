/** The edge's small HTTP API that the client uses before the WebSocket: configuration and dev tokens. */

export interface EdgeInfo {
  devTokens: boolean;
  region: string;
  node: string;
  /** Optional: the rooms' router RTP capabilities (the same codec list for every room of the edge). */
  routerRtpCapabilities?: unknown;
}

export interface DevToken {
  token: string;
  /** The ws(s) URL of `/rtc` on the edge that should host the room. */
  url: string;
}

/** An HTTP API failure, with the server's error code when it sent one. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init: RequestInit, fallbackCode: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers: { accept: 'application/json', ...init.headers } });
  } catch (error) {
    throw new ApiError(fallbackCode, String((error as Error).message ?? error), 0);
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    throw new ApiError(
      typeof err?.code === 'string' ? err.code : fallbackCode,
      typeof err?.message === 'string' ? err.message : `HTTP ${res.status} from ${path}`,
      res.status,
    );
  }
  if (body === null) throw new ApiError(fallbackCode, `${path} did not answer JSON`, res.status);
  return body as T;
}

export function fetchEdgeInfo(): Promise<EdgeInfo> {
  return call<EdgeInfo>('/api/config', { method: 'GET' }, 'CONFIG_FAILED');
}

export async function fetchDevToken(req: {
  room: string;
  identity: string;
  name: string;
}): Promise<DevToken> {
  const res = await call<DevToken>(
    '/api/dev/token',
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) },
    'TOKEN_REQUEST_FAILED',
  );
  if (typeof res.token !== 'string' || typeof res.url !== 'string') {
    throw new ApiError('TOKEN_REQUEST_FAILED', 'the token answer lacks token or url', 200);
  }
  return res;
}
