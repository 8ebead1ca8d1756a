// Builds the effective configuration from a YAML file, then environment variables, then command-line flags.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as YamlModule from 'yaml';
import { HoardError } from '../errors.ts';
import { aptLegacyRootKeys } from '../protocols/apt/apt-config.ts';
import { configSchema, formatConfigIssues, type HoardConfig } from './config-schema.ts';

// The YAML parser (72 modules) is loaded only when there is a file to read; loadConfig stays synchronous.
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof YamlModule).parse(text);

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
  HOARD_THREADS: 'server.threads',
};

/** Environment values are text; these keys take a boolean, written true/false (anything else is left for the schema to refuse). */
const booleanEnvKeys = new Set(['mdns.enabled']);

export interface LoadedConfig {
  config: HoardConfig;
  source: string | undefined;
  /** Accepted, but worth changing: keys in their old place. One line each, saying what to do. */
  warnings: string[];
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
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
  const warnings: string[] = [];
  return { config: parseConfig(merged, path ?? 'built-in defaults', warnings), source: path, warnings };
}

export function parseConfig(input: unknown, origin = 'config', warnings: string[] = []): HoardConfig {
  const result = configSchema.safeParse(moveLegacyKeys(input, origin, warnings));
  if (!result.success) {
    throw new HoardError('HOARD_ERR_CONFIG', `invalid configuration (${origin}):\n${formatConfigIssues(result.error, input)}`);
  }
  return result.data;
}

/**
 * The apt-only keys that sat at the root before the protocol sections (`backends`, `httpsUpgrade`,
 * `strict`, `keyrings`) are read into `apt:`, so an existing config file keeps working; the same key
 * in both places is refused, since which one was meant cannot be known.
 */
function moveLegacyKeys(input: unknown, origin: string, warnings: string[]): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const root = input as Record<string, unknown>;
  const legacy = aptLegacyRootKeys.filter((key) => key in root);
  if (legacy.length === 0) return input;
  const apt = root.apt;
  if (apt !== undefined && (apt === null || typeof apt !== 'object' || Array.isArray(apt))) return input;
  const section: Record<string, unknown> = { ...(apt as Record<string, unknown> | undefined) };
  const moved: Record<string, unknown> = { ...root, apt: section };
  for (const key of legacy) {
    if (key in section) {
      throw new HoardError('HOARD_ERR_CONFIG', `invalid configuration (${origin}):\n${key}: set both at the root and as apt.${key}; keep only apt.${key}`);
    }
    section[key] = root[key];
    delete moved[key];
    warnings.push(`${key}: now read from apt.${key}; move it under "apt:" (the root key still works for now)`);
  }
  return moved;
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
