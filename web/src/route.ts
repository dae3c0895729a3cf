/** The room and token named by the page URL: `/` or `/r/<room>`, with an optional `?token=`. */
export interface Route {
  room: string | null;
  token: string | null;
}

export const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Pure: parses a location's path and query. */
export function parseRoute(pathname: string, search: string): Route {
  const m = /^\/r\/([^/]+)\/?$/.exec(pathname);
  let room: string | null = null;
  if (m) {
    try {
      room = decodeURIComponent(m[1]!);
    } catch {
      room = m[1]!;
    }
  }
  const token = new URLSearchParams(search).get('token');
  return { room, token: token || null };
}

export function roomPath(room: string): string {
  return `/r/${encodeURIComponent(room)}`;
}

/** What the page can show from a token before the server checks it (the server is the judge). */
export interface TokenPreview {
  room: string | null;
  name: string | null;
  identity: string | null;
  expiresAt: number | null;
}

/** Pure: reads a JWT's payload without verifying it; null when it is not a JWT. */
export function previewToken(token: string): TokenPreview | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const p = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    return {
      room: str(p.room),
      name: str(p.name),
      identity: str(p.sub),
      expiresAt: typeof p.exp === 'number' ? p.exp : null,
    };
  } catch {
    return null;
  }
}

/** A random identity for dev tokens, kept for the tab so a reload resumes the same participant. */
export function tabIdentity(storage: Pick<Storage, 'getItem' | 'setItem'> | null): string {
  const key = 'meetview.identity';
  const existing = storage?.getItem(key);
  if (existing) return existing;
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  const id = `u-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  storage?.setItem(key, id);
  return id;
}
