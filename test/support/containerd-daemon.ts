// A containerd daemon for one test suite: its own root, state and sockets in a temp dir, no CRI, no way off the machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './command-runner.ts';
// The daemon starts with loopbackOnlyEnv: HTTP_PROXY/HTTPS_PROXY at a closed port on 127.0.0.1, NO_PROXY=127.0.0.1,localhost.
import { loopbackOnlyEnv } from './oci-registry.ts';
import { makeTempDir, removeDir } from './temp-dir.ts';

export class ContainerdDaemon {
  readonly dir: string;
  readonly socket: string;
  readonly #child: ChildProcess;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.socket = join(dir, 'containerd.sock');
    this.#child = child;
  }

  static async start(): Promise<ContainerdDaemon> {
    const dir = await makeTempDir('containerd');
    const config = join(dir, 'config.toml');
    await writeFile(
      config,
      `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${join(dir, 'containerd.sock')}"
[ttrpc]
  address = "${join(dir, 'containerd-ttrpc.sock')}"
[debug]
  address = ""
[metrics]
  address = ""
`,
    );
    const child = spawn('/usr/bin/containerd', ['--config', config], { env: { ...loopbackOnlyEnv, HOME: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    const daemon = new ContainerdDaemon(dir, child);
    // Bounded: 100 tries, 50 ms apart.
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}`);
      const version = await daemon.ctr(['version'], 5_000);
      if (version.exitCode === 0) return daemon;
      await new Promise((r) => setTimeout(r, 50));
    }
    await daemon.stop();
    throw new Error('containerd did not start within 5 s');
  }

  ctr(args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
    return runCommand('/usr/bin/ctr', ['--address', this.socket, ...args], { env: { ...loopbackOnlyEnv, HOME: this.dir }, timeoutMs });
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      await Promise.race([once(this.#child, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
      if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    }
    await removeDir(this.dir);
  }
}
