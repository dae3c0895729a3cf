import { type DevToken, fetchDevToken } from './HttpApi';

export interface DevTokenRequest {
  room: string;
  identity: string;
  name: string;
}

/** A prefetched token is used only this soon after it was asked for (it lives hours; the name may change). */
const FRESH_MS = 60_000;

/**
 * Fetches the local mesh's dev token while the person is still on the prejoin screen, so pressing
 * Join does not wait for it. One token at a time, for the latest room and name; a failed prefetch is
 * forgotten and Join asks again (and shows that error).
 */
export class DevTokenCache {
  #entry: { key: string; at: number; token: Promise<DevToken> } | null = null;
  readonly #fetch: (req: DevTokenRequest) => Promise<DevToken>;

  constructor(fetch: (req: DevTokenRequest) => Promise<DevToken> = fetchDevToken) {
    this.#fetch = fetch;
  }

  /** Fetches the token for this request unless a fresh one is held; returns it (undefined: incomplete request). */
  prefetch(req: DevTokenRequest): Promise<DevToken> | undefined {
    if (!req.room || !req.name) return undefined;
    const fresh = this.#fresh(keyOf(req));
    if (fresh) return fresh.token;
    const entry = { key: keyOf(req), at: Date.now(), token: this.#fetch(req) };
    entry.token.catch(() => {
      if (this.#entry === entry) this.#entry = null;
    });
    this.#entry = entry;
    return entry.token;
  }

  /** The prefetched token for exactly this request if it is fresh, else a new one. */
  take(req: DevTokenRequest): Promise<DevToken> {
    const fresh = this.#fresh(keyOf(req));
    this.#entry = null;
    return fresh ? fresh.token : this.#fetch(req);
  }

  #fresh(key: string) {
    const e = this.#entry;
    return e && e.key === key && Date.now() - e.at < FRESH_MS ? e : null;
  }
}

function keyOf(req: DevTokenRequest): string {
  return JSON.stringify([req.room, req.identity, req.name]);
}
