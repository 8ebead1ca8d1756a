// The rules a redirect hop must pass before it is followed: the first request's host and path rules, applied to the target.
import { HoardError } from '../errors.ts';
import type { RedirectGuard } from './fetcher.ts';

export interface RedirectRules {
  /** The hosts a hop may lead to (`allowedHosts` for client-chosen origins, bracketed IPv6); absent: any host. */
  hostAllowed?: ((host: string) => boolean) | undefined;
  /** Whether the target's decoded path is a file the protocol serves (its path table), as the first request's was. */
  pathAllowed: (path: string) => boolean;
  /**
   * Whether the Location's query string is sent. A hop that passed the host, network and path rules may
   * need it (signed download URLs of a CDN); false drops it.
   */
  keepQuery: boolean;
}

/**
 * A RedirectGuard for the rules. Denied networks are not checked here but where the hop connects (the
 * fetcher's DestinationGuard), on the address actually used; https to http is refused by the fetcher.
 */
export function redirectGuard(rules: RedirectRules): RedirectGuard {
  return (next, from) => {
    const refuse = (why: string) =>
      new HoardError('HOARD_ERR_REDIRECT_REFUSED', `upstream ${from.href} redirected to ${next.origin}${next.pathname}: ${why}`, {
        detail: `upstream redirect refused: ${why}`,
      });
    if (rules.hostAllowed !== undefined && !rules.hostAllowed(next.hostname)) throw refuse(`host ${next.hostname} is not in allowedHosts`);
    let path: string;
    try {
      path = decodeURIComponent(next.pathname);
    } catch {
      throw refuse('malformed percent-encoding in the path');
    }
    // The URL parser has already resolved dot segments; what remains is refused as the request edge refuses it.
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f\\]/.test(path) || path.split('/').includes('..')) throw refuse('the path has control characters, backslashes or dot-dot segments');
    if (!rules.pathAllowed(path.replace(/\/{2,}/g, '/'))) throw refuse('the path is not a file of a repository');
    if (rules.keepQuery || next.search === '') return next;
    const reduced = new URL(next.href);
    reduced.search = '';
    return reduced;
  };
}
