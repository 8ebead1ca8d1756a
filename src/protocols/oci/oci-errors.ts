// Errors as registry clients read them: the distribution spec's JSON body with its codes.
import type { HoardError } from '../../errors.ts';
import type { RenderedError } from '../protocol.ts';
import { basicChallenge } from './oci-client-auth.ts';
import { grammarCodeOf, type OciEndpoint } from './oci-reference.ts';

// OCI distribution spec v1.1, "Error Codes": the codes a pull-only registry can answer with.
export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  // Distribution's own, for a tag list's bad `n`.
  | 'PAGINATION_NUMBER_INVALID'
  // Not in the spec's table, which allows registries their own codes: what distribution answers for a failure of its own.
  | 'UNKNOWN';

/** The spec's body, `{"errors":[{"code","message","detail"}]}`. */
export function ociErrorBody(code: OciErrorCode, message: string, detail?: unknown): RenderedError {
  const error = detail === undefined ? { code, message } : { code, message, detail };
  return { contentType: 'application/json', body: `${JSON.stringify({ errors: [error] })}\n` };
}

/** The OCI code for a hoard error, by its code first and its status after. */
export function ociCodeFor(error: HoardError, status: number): OciErrorCode {
  switch (error.code) {
    case 'HOARD_ERR_OCI_NAME_INVALID':
      return grammarCodeOf(error);
    case 'HOARD_ERR_OCI_NAME_UNKNOWN':
      return 'NAME_UNKNOWN';
    case 'HOARD_ERR_OCI_UNSUPPORTED':
    case 'HOARD_ERR_METHOD_NOT_ALLOWED':
      return 'UNSUPPORTED';
    case 'HOARD_ERR_OCI_UNAUTHORIZED':
      return 'UNAUTHORIZED';
    case 'HOARD_ERR_UPSTREAM_RATE_LIMITED':
      return 'TOOMANYREQUESTS';
    case 'HOARD_ERR_UPSTREAM_AUTH':
      return 'DENIED';
    case 'HOARD_ERR_DIGEST_MISMATCH':
      return 'DIGEST_INVALID';
    default:
      return status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
  }
}

/** Renders a hoard error for an OCI client: the safe detail where there is one, else the message. */
export function renderOciError(error: HoardError, status: number): RenderedError {
  const code = ociCodeFor(error, status);
  const rendered = ociErrorBody(code, error.detail ?? error.message, { hoardError: error.code });
  const headers: Record<string, string> = { 'docker-distribution-api-version': 'registry/2.0' };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  // RFC 9110 15.5.2: a 401 carries the challenge the client answers.
  if (error.code === 'HOARD_ERR_OCI_UNAUTHORIZED') headers['www-authenticate'] = basicChallenge;
  return { ...rendered, headers };
}

/** Renders an upstream status the cache relays (404 above all), named for what was asked. */
export function renderOciStatus(endpoint: OciEndpoint | undefined, status: number, reason: string): RenderedError {
  if (status === 404 || status === 410) {
    const code: OciErrorCode = endpoint?.kind === 'blob' ? 'BLOB_UNKNOWN' : endpoint?.kind === 'manifest' ? 'MANIFEST_UNKNOWN' : 'NAME_UNKNOWN';
    const what = endpoint === undefined ? 'this' : endpoint.kind === 'tags' ? `repository ${endpoint.name}` : describe(endpoint);
    return ociErrorBody(code, `${what} is unknown to the upstream registry`);
  }
  const code: OciErrorCode =
    status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : status === 429 ? 'TOOMANYREQUESTS' : status === 400 ? 'MANIFEST_INVALID' : 'UNKNOWN';
  return ociErrorBody(code, reason);
}

function describe(endpoint: OciEndpoint): string {
  if (endpoint.kind === 'manifest')
    return 'tag' in endpoint ? `manifest ${endpoint.name}:${endpoint.tag}` : `manifest ${endpoint.name}@${endpoint.digest.text}`;
  if (endpoint.kind === 'blob') return `blob ${endpoint.digest.text} of ${endpoint.name}`;
  return endpoint.name;
}
