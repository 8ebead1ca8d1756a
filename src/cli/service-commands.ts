// Dispatch of the commands that run beside the server: stats, gc, import, warm, client-config.
import { loadConfig, type ConfigOverrides } from '../config/config-loader.ts';
import type { HoardConfig } from '../config/config-schema.ts';
import { adminTarget } from './admin-client.ts';
import type { CliArgs } from './cli-args.ts';
import { certificateFromFile, certificateNamesHost, presentedCertificate } from './cache-certificate.ts';
import { clientConfig, clientConfigTargets, isClientConfigTarget } from './client-config.ts';
import { gcCommand } from './gc-command.ts';
import { importCommand } from './import-command.ts';
import { progressReporter } from './progress-reporter.ts';
import { statsCommand } from './stats-command.ts';
import { warmCommand } from './warm-command.ts';

/** Exit code of the command, or undefined when `args` names none of these. */
export async function runServiceCommand(args: CliArgs, overrides: ConfigOverrides): Promise<number | undefined> {
  const [command, operand] = args.command;
  const flag = (name: string) => (typeof args.flags[name] === 'string' ? args.flags[name] : undefined);
  switch (command) {
    case 'client-config': {
      if (operand === undefined || !isClientConfigTarget(operand)) {
        process.stderr.write(`hoard client-config: name one of ${clientConfigTargets.join(', ')}\n`);
        return 2;
      }
      // The configuration is read only by targets that list configured registries (containerd, podman, k3s).
      return clientConfigCommand(operand, flag('url') ?? 'http://cache:3142', flag('cert'), () => loadConfig(overrides).config);
    }
    case 'stats':
      return statsCommand(adminTarget(loadConfig(overrides).config, flag('url')), { json: args.flags.json === true });
    case 'gc':
      return gcCommand(adminTarget(loadConfig(overrides).config, flag('url')), { dryRun: args.flags['dry-run'] === true });
    case 'import': {
      if (operand === undefined) {
        process.stderr.write('hoard import: name the directory holding the .deb files\n');
        return 2;
      }
      return importCommand(adminTarget(loadConfig(overrides).config, flag('url')), operand, progressReporter());
    }
    case 'warm': {
      const sources = flag('sources');
      const packages = (flag('packages') ?? '').split(/[\s,]+/).filter(Boolean);
      if (sources === undefined || packages.length === 0) {
        process.stderr.write('hoard warm: needs --sources <sources file> and --packages <name,name,...>\n');
        return 2;
      }
      const cacheUrl = flag('url') ?? adminTarget(loadConfig(overrides).config, undefined).base.replace(/\/[^/]*$/, '');
      return warmCommand(
        { cacheUrl, sourcesFile: sources, packages, arch: flag('arch') ?? 'amd64', withDependencies: args.flags['no-deps'] !== true },
        progressReporter(),
      );
    }
    default:
      return undefined;
  }
}

/**
 * Prints the settings for `target`. For an https URL the certificate the cache presents (or `--cert`'s) goes into
 * them for the tools that must trust it, and its fingerprint to stderr, for the operator to compare with the one
 * the cache host shows: asking the URL itself trusts whoever answers it.
 */
async function clientConfigCommand(target: string, url: string, certFile: string | undefined, config: () => HoardConfig): Promise<number> {
  const say = (message: string) => process.stderr.write(`hoard client-config: ${message}\n`);
  try {
    const certificate =
      certFile !== undefined ? certificateFromFile(certFile) : url.startsWith('https:') ? await presentedCertificate(url, (why) => say(why)) : undefined;
    if (certificate !== undefined) {
      const from = certFile ?? new URL(url).host;
      say(
        `${from} presents the certificate with SHA-256 fingerprint\n  ${certificate.fingerprint256}\n` +
          'compare it with https.fingerprint256 in /_hoard/health (or the "https listener up" log line) on the cache host before trusting it',
      );
      if (!certificateNamesHost(certificate, url)) {
        say(
          `the certificate is not valid for ${new URL(url).hostname}: clients that check names (apt, curl, MAAS) will refuse it; ` +
            'add that name to https.names and remove <dataDir>/tls/hoard.* for a new one, or use a name it has',
        );
      }
    }
    process.stdout.write(clientConfig(target, url, certificate, config));
    return 0;
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    return 2;
  }
}
