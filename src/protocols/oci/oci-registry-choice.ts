// Which configured registry a /v2/ request is for: containerd's ?ns=, a leading registry segment, else the default.
import { HoardError } from '../../errors.ts';
import { decodeSegment } from '../target-grammar.ts';
import { dockerHubName } from './oci-config.ts';
import { invalid, isValidName, parseEndpoint, type OciEndpoint } from './oci-reference.ts';

export interface RegistryChoiceRules {
  /** Registry names served (the configured ones, and docker.io). */
  readonly registries: ReadonlySet<string>;
  /** Serves names the other rules leave; '' for none. */
  readonly defaultRegistry: string;
}

export interface ChosenRegistry {
  readonly registry: string;
  readonly endpoint: OciEndpoint;
  /** Which rule chose it, for logs: `ns`, `segment`, `default`, or `absolute` (a registry's own URL, as a child hoard asks). */
  readonly rule: 'ns' | 'segment' | 'default' | 'absolute';
}

export function nameUnknown(message: string): HoardError {
  return new HoardError('HOARD_ERR_OCI_NAME_UNKNOWN', message, { detail: message });
}

/**
 * The registry and endpoint of `/v2/<...>` (`rest` is what follows `/v2/`, still percent-encoded; `query`
 * the raw query). Throws NAME_INVALID / MANIFEST_INVALID / DIGEST_INVALID for bad grammar, NAME_UNKNOWN
 * when no rule accepts the name or the path is not a pull endpoint: both before any upstream request.
 */
export function chooseRegistry(rest: string, query: string, rules: RegistryChoiceRules, named?: string): ChosenRegistry {
  const segments = rest.split('/').map(decodeSegment);
  const parsed = parseEndpoint(segments);
  if (parsed === undefined) throw nameUnknown(`/v2/${rest} is not a pull endpoint (manifests, blobs, tags/list) this read-only mirror serves`);
  let names = parsed.nameSegments;
  if (names.length === 0 || names.some((s) => s === '')) throw invalid(`"${names.join('/')}" is not a repository name`, 'NAME_INVALID');

  let registry: string | undefined;
  let rule: ChosenRegistry['rule'];
  // containerd's hosts.toml mirrors send the registry the image was named with as `?ns=<registry>`.
  const ns = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).get('ns');
  if (named !== undefined) {
    // The target was the registry's own URL in absolute-form: the registry is the one configured at that URL.
    registry = named;
    rule = 'absolute';
  } else if (ns !== null) {
    if (!rules.registries.has(ns)) throw nameUnknown(`registry "${ns}" (the ns parameter) is not mirrored here`);
    registry = ns;
    rule = 'ns';
  } else if (names.length > 1 && rules.registries.has(names[0] ?? '')) {
    // A registries.conf mirror location with a path (`cache:3142/images.example`) puts the registry first.
    registry = names[0] ?? '';
    names = names.slice(1);
    rule = 'segment';
  } else {
    if (rules.defaultRegistry === '') throw nameUnknown(`no registry is named in /v2/${rest} and there is no default registry`);
    registry = rules.defaultRegistry;
    rule = 'default';
  }
  // Docker writes official images without their namespace (`debian` is `library/debian` on Docker Hub).
  if (registry === dockerHubName && names.length === 1) names = ['library', ...names];
  const name = names.join('/');
  if (!isValidName(name))
    throw invalid(`"${name}" is not a valid repository name (lower-case components separated by /, at most 255 characters)`, 'NAME_INVALID');
  return { registry, endpoint: parsed.make(name), rule };
}
