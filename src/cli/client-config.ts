// `hoard client-config <target>`: ready-to-use settings for each tool, from the installed protocols.
import { parseConfig } from '../config/config-loader.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { protocolModules } from '../protocols/installed-protocols.ts';
import type { ClientConfigContext } from '../protocols/protocol.ts';

/** Every target a protocol offers, in protocol order; the first protocol to name a target owns it. */
const entries = new Map<string, (url: string, context: ClientConfigContext) => string>();
for (const module of protocolModules) {
  for (const [target, render] of Object.entries(module.clientConfigs)) if (!entries.has(target)) entries.set(target, render);
}

export const clientConfigTargets: readonly string[] = [...entries.keys()];

export function isClientConfigTarget(name: string): boolean {
  return entries.has(name);
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

/**
 * The text for `target`, a complete document in that tool's own format. `config` gives the operator's
 * configuration when a target lists what it configures (OCI's registries); by default the built-in one.
 */
export function clientConfig(target: string, proxyUrl: string, config: () => HoardConfig = () => parseConfig({}, 'built-in defaults')): string {
  const render = entries.get(target);
  if (render === undefined) throw new Error(`unknown client-config target "${target}"; one of: ${clientConfigTargets.join(', ')}`);
  let loaded: HoardConfig | undefined;
  return render(checkProxyUrl(proxyUrl), { config: () => (loaded ??= config()) });
}
