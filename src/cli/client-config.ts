// `hoard client-config <target>`: ready-to-use settings for each tool, from the installed protocols.
import { parseConfig } from '../config/config-loader.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { protocolModules } from '../protocols/installed-protocols.ts';
import type { CacheCertificate, ClientConfigRenderer, ProtocolModule } from '../protocols/protocol.ts';

/** The targets of some protocols, and who answers each: every protocol naming a target, in protocol order. */
export class ClientConfigCatalog {
  readonly #entries = new Map<string, ClientConfigRenderer[]>();

  constructor(modules: readonly Pick<ProtocolModule, 'clientConfigs'>[]) {
    for (const module of modules) {
      for (const [target, render] of Object.entries(module.clientConfigs)) this.#entries.set(target, [...(this.#entries.get(target) ?? []), render]);
    }
  }

  get targets(): readonly string[] {
    return [...this.#entries.keys()];
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * The text for `target`, a complete document in that tool's own format: from the first protocol (in routing
   * order) that has one for this URL. `certificate` is what an https URL presented, for tools that must trust it;
   * `config` gives the operator's configuration, read only by targets that list what it configures (OCI's registries).
   */
  render(target: string, proxyUrl: string, certificate?: CacheCertificate, config: () => HoardConfig = builtInConfig): string {
    const renderers = this.#entries.get(target);
    if (renderers === undefined) throw new Error(`unknown client-config target "${target}"; one of: ${this.targets.join(', ')}`);
    const url = checkProxyUrl(proxyUrl);
    let loaded: HoardConfig | undefined;
    const context = { config: () => (loaded ??= config()) };
    for (const render of renderers) {
      const text = render(url, certificate, context);
      if (text !== undefined) return text;
    }
    throw new Error(`no settings for ${target} with --url ${url}`);
  }
}

const installed = new ClientConfigCatalog(protocolModules);

export const clientConfigTargets: readonly string[] = installed.targets;

export function isClientConfigTarget(name: string): boolean {
  return installed.has(name);
}

/** Only http(s) URLs without credentials, quotes or whitespace: each lands inside quoted strings of several syntaxes. */
export function checkProxyUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--url must be a URL like http://cache:3142, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--url must be http:// or https://, got ${JSON.stringify(text)}`);
  if (url.username !== '' || /["'\s\\$`]/.test(text))
    throw new Error(`--url must not carry credentials, quotes, spaces or shell characters, got ${JSON.stringify(text)}`);
  return url.href.replace(/\/$/, '');
}

/** The text for `target`, a complete document in that tool's own format (see `ClientConfigCatalog.render`). */
export function clientConfig(target: string, proxyUrl: string, certificate?: CacheCertificate, config?: () => HoardConfig): string {
  return installed.render(target, proxyUrl, certificate, config);
}

/** No configuration file: Docker Hub is the only registry. */
function builtInConfig(): HoardConfig {
  return parseConfig({}, 'built-in defaults');
}
