// Upstream registry auth knowledge: the WWW-Authenticate challenge grammar and bearer tokens kept per scope until they expire.
import type { Clock } from '../../clock.ts';

export type Challenge =
  | { readonly scheme: 'bearer'; readonly realm: string; readonly service: string | undefined; readonly scope: string | undefined }
  | { readonly scheme: 'basic' };

/**
 * The first challenge hoard can answer (Bearer with a realm, or Basic) in a WWW-Authenticate value.
 * RFC 9110 11.6.1: `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, auth-param values a token
 * or a quoted-string; several challenges may share one header, separated by commas.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  // scheme, then name=value pairs; a new scheme starts where a bare token is followed by a space.
  const tokenRe = /\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(\s+|\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)\s*,?|\s*,|\s*$)/y;
  let scheme: string | undefined;
  let params = new Map<string, string>();
  const found: Challenge[] = [];
  const close = () => {
    if (scheme === 'bearer') {
      const realm = params.get('realm');
      if (realm !== undefined) found.push({ scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') });
    } else if (scheme === 'basic') found.push({ scheme: 'basic' });
  };
  let guard = 0;
  while (tokenRe.lastIndex < header.length && guard++ < 64) {
    const m = tokenRe.exec(header);
    if (m === null) break;
    const word = m[1] as string;
    if (m[3] !== undefined) {
      const value = m[4] !== undefined ? m[4].replace(/\\(.)/g, '$1') : m[3];
      params.set(word.toLowerCase(), value);
    } else {
      close();
      scheme = word.toLowerCase();
      params = new Map();
    }
  }
  close();
  return found.find((c) => c.scheme === 'bearer') ?? found[0];
}

/** Bound on remembered tokens; the oldest goes first (a client walking many repositories cannot grow it). */
const maxTokens = 1024;
/** A token is dropped this long before its stated expiry, so it never expires on the way upstream. */
const marginMs = 5_000;
/** Distribution's token spec: a token without `expires_in` lives 60 seconds. */
const defaultLifetimeSeconds = 60;

export class TokenCache {
  readonly #clock: Clock;
  readonly #tokens = new Map<string, { token: string; until: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get(key: string): string | undefined {
    const entry = this.#tokens.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > this.#clock.now()) return entry.token;
    this.#tokens.delete(key);
    return undefined;
  }

  /** Keeps `token` for `expiresInSeconds` (the token service's word), less a margin. */
  set(key: string, token: string, expiresInSeconds: number | undefined): void {
    const lifetime = expiresInSeconds !== undefined && Number.isFinite(expiresInSeconds) && expiresInSeconds > 0 ? expiresInSeconds : defaultLifetimeSeconds;
    const until = this.#clock.now() + Math.max(0, lifetime * 1000 - marginMs);
    this.#tokens.delete(key);
    if (this.#tokens.size >= maxTokens) this.#tokens.delete(this.#tokens.keys().next().value as string);
    this.#tokens.set(key, { token, until });
  }

  /** Forgets a token the upstream refused (a 401 with it): the next request asks for a new one. */
  drop(key: string, token: string): void {
    if (this.#tokens.get(key)?.token === token) this.#tokens.delete(key);
  }

  get size(): number {
    return this.#tokens.size;
  }
}

/** Distribution's token spec: the answer is JSON with `token` (or OAuth2's `access_token`) and an optional `expires_in`. */
export function parseTokenAnswer(text: string): { token: string; expiresIn: number | undefined } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const token =
    typeof record.token === 'string' && record.token !== '' ? record.token : typeof record.access_token === 'string' ? record.access_token : undefined;
  if (token === undefined || token === '' || /[\r\n]/.test(token)) return undefined;
  const expiresIn = typeof record.expires_in === 'number' ? record.expires_in : undefined;
  return { token, expiresIn };
}
