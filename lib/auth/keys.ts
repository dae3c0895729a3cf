/**
 * Deployment signing keys, with key ids so keys can rotate: tokens signed with any listed key verify,
 * new tokens are signed with the first. Configured as `MEETVIEW_TOKEN_KEYS="kid1:secret1,kid2:secret2"`.
 */
export interface SigningKey {
  kid: string;
  secret: Uint8Array;
}

export class KeySet {
  readonly #keys: Map<string, SigningKey>;
  readonly #active: SigningKey;

  constructor(keys: SigningKey[]) {
    if (keys.length === 0) throw new Error('KeySet needs at least one key');
    for (const k of keys) {
      if (k.secret.length < 32) throw new Error(`signing key "${k.kid}" is shorter than 32 bytes`);
    }
    this.#keys = new Map(keys.map((k) => [k.kid, k]));
    this.#active = keys[0]!;
  }

  static parse(spec: string): KeySet {
    const keys = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry) => {
        const at = entry.indexOf(':');
        if (at <= 0) throw new Error('MEETVIEW_TOKEN_KEYS entries must look like "<kid>:<secret>"');
        return { kid: entry.slice(0, at), secret: new TextEncoder().encode(entry.slice(at + 1)) };
      });
    return new KeySet(keys);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): KeySet {
    const spec = env.MEETVIEW_TOKEN_KEYS;
    if (!spec) throw new Error('MEETVIEW_TOKEN_KEYS is not set (e.g. "k1:<32+ random bytes>")');
    return KeySet.parse(spec);
  }

  get active(): SigningKey {
    return this.#active;
  }

  get(kid: string): SigningKey | undefined {
    return this.#keys.get(kid);
  }
}
