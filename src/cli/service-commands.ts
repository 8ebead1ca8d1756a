// Dispatch of the commands that run beside the server: stats, gc, import, warm, client-config.
import { loadConfig, type ConfigOverrides } from '../config/config-loader.ts';
import { adminTarget } from './admin-client.ts';
import type { CliArgs } from './cli-args.ts';
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
      process.stdout.write(clientConfig(operand, flag('url') ?? 'http://cache:3142', () => loadConfig(overrides).config));
      return 0;
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
