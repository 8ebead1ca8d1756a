// Command-line parsing: `hoard <command> [flags]`, with the usage text.
import { parseArgs } from 'node:util';

export const usage = `Usage: hoard <command> [options]

Commands:
  serve              run the cache (default)
  config check       validate the configuration and exit
  stats [--json]     print the dashboard's numbers of the running cache
  gc [--dry-run]     remove objects no cached index refers to (dry run: list them)
  import <dir>       store the .deb files of <dir> that a cached index knows, by hash
  warm --sources <file> --packages <a,b,...> [--arch amd64] [--no-deps]
                     fetch packages (and their dependencies) through the cache
  client-config <apt|juju|conjure-up|cloud-init|lxd|maas|docker|docker-mirror|containerd|podman|k3s|glance>
                [--url http://cache:3142] [--cert <file>]
                     print settings for that tool: with an http URL, apt proxy settings (lxd, maas and
                     juju too); with --url https://cache:8443/images/<name>, an images upstream (lxd
                     remote, maas boot source, juju image metadata). An https URL's certificate (or
                     --cert's) goes into them, its fingerprint to stderr
  verify             re-hash every stored object (hoard stopped); quarantine damaged ones,
                     which are fetched again on next use; exit 1 if any were found

Options:
  --listen <host:port>   address to listen on (default 0.0.0.0:3142)
  --data-dir <dir>       where the cache is kept (default ./data)
  --config <file>        YAML config file (default $HOARD_CONFIG, else /etc/hoard/hoard.yaml if present)
  --log-level <level>    fatal|error|warn|info|debug|trace|silent
  --url <url>            the cache as clients reach it (stats, gc, import, warm, client-config)
  --cert <file>          client-config: the cache's certificate, instead of asking the https URL
  -h, --help             this text
`;

export interface CliArgs {
  command: string[];
  listen?: string | undefined;
  dataDir?: string | undefined;
  configPath?: string | undefined;
  logLevel?: string | undefined;
  /** Flags of the service commands (url, cert, dry-run, json, sources, packages, arch, no-deps). */
  flags: Record<string, string | boolean | undefined>;
  help: boolean;
  rest: string[];
}

export function parseCliArgs(argv: string[]): CliArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      listen: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      cert: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      sources: { type: 'string' },
      packages: { type: 'string' },
      arch: { type: 'string' },
      'no-deps': { type: 'boolean' },
    },
  });
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    command: positionals.length === 0 ? ['serve'] : positionals,
    listen: str(values.listen),
    dataDir: str(values['data-dir']),
    configPath: str(values.config),
    logLevel: str(values['log-level']),
    flags: {
      url: values.url,
      cert: values.cert,
      'dry-run': values['dry-run'],
      json: values.json,
      sources: values.sources,
      packages: values.packages,
      arch: values.arch,
      'no-deps': values['no-deps'],
    },
    help: values.help === true,
    rest: positionals.slice(1),
  };
}

/** Splits host:port, with IPv6 hosts in brackets. */
export function splitListen(listen: string): { host: string; port: number } {
  const m = /^(\[([^\]]+)\]|[^:]*):(\d+)$/.exec(listen);
  if (!m) throw new Error(`listen must be host:port, got ${listen}`);
  return { host: m[2] ?? (m[1] === '' ? '0.0.0.0' : (m[1] as string)), port: Number(m[3]) };
}
