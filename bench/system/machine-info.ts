// What machine a run happened on: cores, CPU model, memory, kernel, tool versions; printed with every table.
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { runCommand } from '../../test/support/command-runner.ts';

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  readonly nginx: string;
  readonly aptCacherNg: string;
  readonly wrk: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  const version = async (pkg: string) => (await runCommand('dpkg-query', ['-W', '-f=${Version}', pkg])).stdout.trim() || '?';
  return {
    cores: cpus().length,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? '?',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? '?',
    node: process.version,
    nginx: await version('nginx'),
    aptCacherNg: await version('apt-cacher-ng'),
    wrk: await version('wrk'),
  };
}
