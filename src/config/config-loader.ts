// Builds the effective configuration from a YAML file, then environment variables, then command-line flags.
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { HoardError } from '../errors.ts';
import { configSchema, formatConfigIssues, type HoardConfig } from './config-schema.ts';

/** Where a config file is looked for when neither --config nor HOARD_CONFIG names one. */
export const defaultConfigPaths = ['/etc/hoard/hoard.yaml'];

export interface ConfigOverrides {
  configPath?: string | undefined;
  listen?: string | undefined;
  dataDir?: string | undefined;
  logLevel?: string | undefined;
}

/** Environment variables that override single keys (for containers and systemd drop-ins). */
export const envKeys: Record<string, string> = {
  HOARD_LISTEN: 'listen',
  HOARD_DATA_DIR: 'dataDir',
  HOARD_LOG_LEVEL: 'logLevel',
  HOARD_ADMIN_TOKEN: 'admin.token',
  HOARD_MAX_SIZE: 'cache.maxSize',
  HOARD_MDNS: 'mdns.enabled',
};

/** Environment values are text; these keys take a boolean, written true/false (anything else is left for the schema to refuse). */
const booleanEnvKeys = new Set(['mdns.enabled']);

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): { config: HoardConfig; source: string | undefined } {
  const path = overrides.configPath ?? env.HOARD_CONFIG ?? defaultConfigPaths.find((p) => existsSync(p));
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new HoardError('HOARD_ERR_CONFIG', `cannot read config file ${path}: ${(cause as Error).message}`, { cause });
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (cause) {
      throw new HoardError('HOARD_ERR_CONFIG', `config file ${path} is not valid YAML: ${(cause as Error).message}`, { cause });
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new HoardError('HOARD_ERR_CONFIG', `config file ${path} must hold a mapping of keys, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
    }
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  for (const [name, key] of Object.entries(envKeys)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(merged, key, booleanEnvKeys.has(key) && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : value);
  }
  if (overrides.listen !== undefined) merged.listen = overrides.listen;
  if (overrides.dataDir !== undefined) merged.dataDir = overrides.dataDir;
  if (overrides.logLevel !== undefined) merged.logLevel = overrides.logLevel;
  return { config: parseConfig(merged, path ?? 'built-in defaults'), source: path };
}

export function parseConfig(input: unknown, origin = 'config'): HoardConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new HoardError('HOARD_ERR_CONFIG', `invalid configuration (${origin}):\n${formatConfigIssues(result.error, input)}`);
  }
  return result.data;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = target;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== 'object') cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] as string] = value;
}
