// Installs the peers and the load tool from Debian when they are missing (nginx, apt-cacher-ng, wrk, curl), without starting their services.
import { existsSync } from 'node:fs';
import { runCommand } from '../../test/support/command-runner.ts';

interface Tool {
  readonly binary: string;
  readonly debianPackage: string;
}

export const requiredTools: readonly Tool[] = [
  { binary: '/usr/sbin/nginx', debianPackage: 'nginx' },
  { binary: '/usr/sbin/apt-cacher-ng', debianPackage: 'apt-cacher-ng' },
  { binary: '/usr/bin/wrk', debianPackage: 'wrk' },
  // (a) and (f) download with curl, as users do.
  { binary: '/usr/bin/curl', debianPackage: 'curl' },
  // The signed repository and the apt runs need these (present on a machine that runs the e2e tests).
  { binary: '/usr/bin/dpkg-deb', debianPackage: 'dpkg-dev' },
  { binary: '/usr/bin/gpg', debianPackage: 'gpg' },
  { binary: '/usr/bin/xz', debianPackage: 'xz-utils' },
];

/**
 * The packages' maintainer scripts would start system services (nginx on port 80, apt-cacher-ng on
 * 3142). The bench never uses them: it starts its own instances with their own configuration, so a
 * policy-rc.d that denies starts is in place during the install when the machine has none.
 */
export async function ensureTools(log: (line: string) => void): Promise<void> {
  const missing = requiredTools.filter((t) => !existsSync(t.binary));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => t.debianPackage))];
  if (process.getuid?.() !== 0)
    throw new Error(`missing ${packages.join(', ')}; install them (apt-get install ${packages.join(' ')}) or run the bench as root`);
  log(`installing from Debian: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) await runCommand('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`]);
  try {
    const update = await runCommand('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    if (update.exitCode !== 0) throw new Error(`apt-get update failed:\n${update.stderr}`);
    const install = await runCommand('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env, timeoutMs: 600_000 });
    if (install.exitCode !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed:\n${install.stderr}`);
  } finally {
    if (ownPolicy) await runCommand('rm', ['-f', policy]);
  }
  const still = requiredTools.filter((t) => !existsSync(t.binary));
  if (still.length > 0) throw new Error(`still missing after install: ${still.map((t) => t.binary).join(', ')}`);
}
