// Who may pull from registries hoard reaches with credentials: clients authenticating to hoard with basic auth as one of oci.users.
import { createHash, timingSafeEqual } from 'node:crypto';
import { HoardError } from '../../errors.ts';

/** RFC 7617: the challenge a client answers with `Authorization: Basic`. */
export const basicChallenge = 'Basic realm="hoard registry mirror", charset="UTF-8"';

export class ClientAuth {
  readonly #users: ReadonlyMap<string, Buffer>;

  constructor(users: Readonly<Record<string, { readonly password: string }>>) {
    this.#users = new Map(Object.entries(users).map(([name, user]) => [name, digest(user.password)]));
  }

  /** True when the header carries the basic credentials of a configured user. */
  accepts(header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    // RFC 7617 2: "Basic" SP base64(user-id ":" password); the scheme is case-insensitive.
    const m = /^basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
    if (m === null) return false;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return false;
    const expected = this.#users.get(decoded.slice(0, colon));
    // Compared as fixed-length digests in constant time: the answer's timing says nothing of the password.
    const given = digest(decoded.slice(colon + 1));
    return expected !== undefined && timingSafeEqual(expected, given);
  }
}

function digest(password: string): Buffer {
  return createHash('sha256').update(password, 'utf8').digest();
}

export function unauthorized(message: string): HoardError {
  return new HoardError('HOARD_ERR_OCI_UNAUTHORIZED', message, {
    detail: 'authenticate to this mirror (basic auth as one of its configured users) to pull from this registry',
  });
}
