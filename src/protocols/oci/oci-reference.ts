// The OCI distribution spec's grammar: repository names, tags, digests, and the pull endpoints under /v2/.
import { HoardError } from '../../errors.ts';

// OCI distribution spec v1.1, "Pulling manifests": <name> MUST match this (path components joined by `/`).
const nameGrammar = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
// OCI distribution spec v1.1, "Pulling manifests": a tag is at most 128 characters.
const tagGrammar = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// OCI image spec, "Digests": algorithm ":" encoded; sha256 and sha512 are lower-case hex of fixed length.
const digestGrammar = /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const registeredDigests: Readonly<Record<string, RegExp>> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };

/**
 * Many clients bound `<registry>/<name>` to 255 characters (OCI distribution spec v1.1, "Pulling
 * manifests"); hoard bounds the name alone by the same, before any upstream request.
 */
export const maxNameLength = 255;

export interface Digest {
  readonly algorithm: 'sha256' | 'sha512';
  /** Lower-case hex. */
  readonly hex: string;
  /** `algorithm:hex`, as written in URLs and headers. */
  readonly text: string;
}

/** A pull endpoint: what the client asked of which repository. */
export type OciEndpoint =
  | { readonly kind: 'manifest'; readonly name: string; readonly tag: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly digest: Digest }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: Digest }
  | { readonly kind: 'tags'; readonly name: string };

export function isValidName(name: string): boolean {
  return name.length <= maxNameLength && nameGrammar.test(name);
}

export function isValidTag(tag: string): boolean {
  return tagGrammar.test(tag);
}

/** A digest hoard can verify (sha256, sha512), or undefined for anything else, well-formed or not. */
export function parseDigest(text: string): Digest | undefined {
  if (!digestGrammar.test(text)) return undefined;
  const colon = text.indexOf(':');
  const algorithm = text.slice(0, colon);
  const hex = text.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (!(registeredDigests[algorithm] as RegExp).test(hex)) return undefined;
  return { algorithm, hex, text };
}

/** A reference is a digest when it holds a `:` (a tag never does). */
function parseManifestReference(name: string, reference: string): OciEndpoint {
  if (reference.includes(':')) {
    const digest = parseDigest(reference);
    // OCI distribution spec v1.1, "Error Codes": a reference that is neither a tag nor a digest is MANIFEST_INVALID.
    if (digest === undefined) throw invalid(`"${reference}" is not a sha256 or sha512 digest`, 'MANIFEST_INVALID');
    return { kind: 'manifest', name, digest };
  }
  if (!isValidTag(reference)) throw invalid(`"${reference}" is not a valid tag`, 'MANIFEST_INVALID');
  return { kind: 'manifest', name, tag: reference };
}

/**
 * Splits the segments after `/v2/` (already decoded) into repository name and endpoint, as the spec
 * spells them: `<name>/manifests/<reference>`, `<name>/blobs/<digest>`, `<name>/tags/list`. The name
 * may hold slashes, so the endpoint is read from the end. Returns undefined for any other path
 * (uploads, the catalog, referrers): not a pull endpoint this mirror serves.
 */
export function parseEndpoint(
  segments: readonly string[],
): { readonly nameSegments: readonly string[]; readonly make: (name: string) => OciEndpoint } | undefined {
  const n = segments.length;
  if (n >= 3 && segments[n - 2] === 'manifests') {
    const reference = segments[n - 1] as string;
    return { nameSegments: segments.slice(0, n - 2), make: (name) => parseManifestReference(name, reference) };
  }
  if (n >= 3 && segments[n - 2] === 'blobs' && segments[n - 1] !== 'uploads') {
    const text = segments[n - 1] as string;
    return {
      nameSegments: segments.slice(0, n - 2),
      make: (name) => {
        const digest = parseDigest(text);
        // OCI distribution spec v1.1, "Error Codes": DIGEST_INVALID.
        if (digest === undefined) throw invalid(`"${text}" is not a sha256 or sha512 digest`, 'DIGEST_INVALID');
        return { kind: 'blob', name, digest };
      },
    };
  }
  if (n >= 3 && segments[n - 2] === 'tags' && segments[n - 1] === 'list') {
    return { nameSegments: segments.slice(0, n - 2), make: (name) => ({ kind: 'tags', name }) };
  }
  return undefined;
}

/** The upstream path of an endpoint, under the registry's `/v2/`. */
export function endpointPath(endpoint: OciEndpoint): string {
  switch (endpoint.kind) {
    case 'manifest':
      return `/v2/${endpoint.name}/manifests/${'tag' in endpoint ? endpoint.tag : endpoint.digest.text}`;
    case 'blob':
      return `/v2/${endpoint.name}/blobs/${endpoint.digest.text}`;
    case 'tags':
      return `/v2/${endpoint.name}/tags/list`;
  }
}

/** Reads back an upstream path made by `endpointPath` (the verifier and the policy table see paths only). */
export function endpointOfPath(path: string): OciEndpoint | undefined {
  if (!path.startsWith('/v2/')) return undefined;
  const parsed = parseEndpoint(path.slice('/v2/'.length).split('/'));
  if (parsed === undefined) return undefined;
  const name = parsed.nameSegments.join('/');
  if (!isValidName(name)) return undefined;
  try {
    return parsed.make(name);
  } catch {
    return undefined;
  }
}

/** The OCI error code a grammar refusal carries, in its message's first word, for the JSON body. */
// PAGINATION_NUMBER_INVALID is distribution's code for a bad `n` of a tag list (the spec's table allows a registry its own).
export type GrammarCode = 'NAME_INVALID' | 'MANIFEST_INVALID' | 'DIGEST_INVALID' | 'PAGINATION_NUMBER_INVALID';

export function invalid(message: string, ociCode: GrammarCode): HoardError {
  return new HoardError('HOARD_ERR_OCI_NAME_INVALID', `${ociCode}: ${message}`, { detail: message });
}

/** The OCI code of a HOARD_ERR_OCI_NAME_INVALID refusal (see `invalid`). */
export function grammarCodeOf(error: HoardError): GrammarCode {
  const code = error.message.slice(0, error.message.indexOf(':'));
  return code === 'MANIFEST_INVALID' || code === 'DIGEST_INVALID' || code === 'PAGINATION_NUMBER_INVALID' ? code : 'NAME_INVALID';
}
