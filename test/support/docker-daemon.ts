// A dockerd for one test suite: vfs storage, its own data and exec roots and socket, no iptables, no bridge, no way off the machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './command-runner.ts';
// The daemon starts with loopbackOnlyEnv: HTTP_PROXY/HTTPS_PROXY at a closed port on 127.0.0.1, NO_PROXY=127.0.0.1,localhost.
import { loopbackOnlyEnv } from './oci-registry.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export class DockerDaemon {
  readonly dir: string;
  readonly socket: string;
  readonly #child: ChildProcess;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.socket = `unix://${join(dir, 'docker.sock')}`;
    this.#child = child;
  }

  /** Started with `registry-mirrors: [mirror]`. */
  static async start(mirror: string): Promise<DockerDaemon> {
    const dir = await makeTempDir('dockerd');
    const config = join(dir, 'daemon.json');
    await writeFile(
      config,
      JSON.stringify({
        'storage-driver': 'vfs',
        iptables: false,
        'ip-forward': false,
        'ip-masq': false,
        bridge: 'none',
        'data-root': join(dir, 'data'),
        'exec-root': join(dir, 'exec'),
        pidfile: join(dir, 'docker.pid'),
        hosts: [`unix://${join(dir, 'docker.sock')}`],
        'registry-mirrors': [mirror],
        'log-level': 'warn',
      }),
    );
    const child = spawn('/usr/sbin/dockerd', ['--config-file', config], { env: { ...loopbackOnlyEnv, HOME: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    const daemon = new DockerDaemon(dir, child);
    // Bounded: 200 tries, 100 ms apart.
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}`);
      if ((await daemon.docker(['version'], 5_000)).exitCode === 0) return daemon;
      await new Promise((r) => setTimeout(r, 100));
    }
    await daemon.stop();
    throw new Error('dockerd did not start within 20 s');
  }

  docker(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return runCommand('/usr/bin/docker', ['-H', this.socket, ...args], {
      env: { ...loopbackOnlyEnv, HOME: this.dir, DOCKER_CONFIG: join(this.dir, 'client') },
      timeoutMs,
    });
  }

  /** SIGTERM, so that dockerd stops the containerd it started; SIGKILL only if it does not exit in 15 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      await Promise.race([once(this.#child, 'exit'), new Promise((r) => setTimeout(r, 15_000))]);
      if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    }
    await removeDir(this.dir);
  }
}
