import { errors, jwtVerify, SignJWT } from 'jose';

/** What a key may do: read (lists, watch) or admin (also tokens and actions). */
export type Scope = 'read' | 'admin';

export interface ApiKey {
  key: string;
  secret: Uint8Array;
  scope: Scope;
}

/** The audience of Admin API tokens: neither a participant's nor an internal token opens the API. */
export const ADMIN_AUDIENCE = 'meetview:admin';
/** Tokens may live at most this long: a leaked one is worth little. */
export const MAX_TOKEN_TTL_SECONDS = 600;
const MIN_SECRET_BYTES = 32;

export class AuthError extends Error {
  override readonly name = 'AuthError';
}

/**
 * The API keys the Admin API accepts, from `MEETVIEW_ADMIN_KEYS="<key>:<secret>:<read|admin>,…"`.
 * A caller signs a short-lived JWT (HS256) with its secret, the key in the `kid` header, and sends it as
 * `authorization: Bearer <jwt>`; the secret itself never travels. Secrets are never logged.
 */
export class ApiKeys {
  readonly #keys: Map<string, ApiKey>;

  constructor(keys: ApiKey[]) {
    if (keys.length === 0) throw new Error('no Admin API key configured (MEETVIEW_ADMIN_KEYS)');
    this.#keys = new Map(keys.map((k) => [k.key, k]));
  }

  static parse(spec: string): ApiKeys {
    const keys = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry, i): ApiKey => {
        const first = entry.indexOf(':');
        const last = entry.lastIndexOf(':');
        if (first <= 0 || last === first)
          throw new Error(`MEETVIEW_ADMIN_KEYS entry ${i + 1} must look like "<key>:<secret>:<read|admin>"`);
        const key = entry.slice(0, first);
        const secret = new TextEncoder().encode(entry.slice(first + 1, last));
        const scope = entry.slice(last + 1);
        if (scope !== 'read' && scope !== 'admin')
          throw new Error(`MEETVIEW_ADMIN_KEYS key "${key}": scope must be read or admin, not "${scope}"`);
        if (secret.length < MIN_SECRET_BYTES)
          throw new Error(
            `MEETVIEW_ADMIN_KEYS key "${key}": the secret is shorter than ${MIN_SECRET_BYTES} bytes`,
          );
        return { key, secret, scope };
      });
    return new ApiKeys(keys);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): ApiKeys {
    const spec = env.MEETVIEW_ADMIN_KEYS;
    if (!spec) throw new Error('MEETVIEW_ADMIN_KEYS is not set (e.g. "ops:<32+ character secret>:admin")');
    return ApiKeys.parse(spec);
  }

  /** Verifies an `authorization` header value; returns the key's id and scope. */
  async verify(header: string | undefined): Promise<{ key: string; scope: Scope }> {
    if (!header)
      throw new AuthError('no credentials: send "authorization: Bearer <token signed with your API secret>"');
    if (!header.startsWith('Bearer '))
      throw new AuthError('the authorization header must be "Bearer <token>"');
    const token = header.slice(7).trim();
    let found: ApiKey | undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        (h) => {
          found = h.kid ? this.#keys.get(h.kid) : undefined;
          if (!found) throw new AuthError(`unknown API key "${h.kid ?? ''}"`);
          return found.secret;
        },
        { audience: ADMIN_AUDIENCE, algorithms: ['HS256'], requiredClaims: ['exp', 'iat'] },
      );
      if ((payload.exp ?? 0) - (payload.iat ?? 0) > MAX_TOKEN_TTL_SECONDS)
        throw new AuthError(`the token lives longer than ${MAX_TOKEN_TTL_SECONDS} s; sign a shorter one`);
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof errors.JWTExpired)
        throw new AuthError('the token has expired: sign a fresh one (check the clock if this persists)');
      if (err instanceof errors.JWSSignatureVerificationFailed)
        throw new AuthError(`the token's signature does not verify: wrong secret for key "${found?.key}"?`);
      throw new AuthError(`the token is not valid: ${(err as Error).message}`);
    }
    return { key: found!.key, scope: found!.scope };
  }
}

/** Signs the short-lived token a caller sends (used by the CLI, tests and back-ends written in TypeScript). */
export async function signApiToken(key: string, secret: string, ttlSeconds = 300): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', kid: key, typ: 'JWT' })
    .setAudience(ADMIN_AUDIENCE)
    .setSubject(key)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
