// Child processes the bench starts: output to a file, wait until a port answers, stop by PID with a bounded grace.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export interface ManagedProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  /** stdout and stderr both go here (a file, so a chatty server never blocks on a pipe the bench forgot to read). */
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every process started and not yet seen to exit, so an interrupted bench still ends what it started. */
const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of running) child.killNow();
      process.exit(130);
    });
  }
}

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  #exit: ExitInfo | undefined;

  private constructor(name: string, child: ChildProcess, logFile: string) {
    this.name = name;
    this.#child = child;
    this.logFile = logFile;
    if (child.pid === undefined) throw new Error(`${name}: spawn gave no pid`);
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        running.delete(this);
        resolve(this.#exit);
      });
    });
  }

  static start(name: string, options: ManagedProcessOptions): ManagedProcess {
    installExitHook();
    const fd = openSync(options.logFile, 'a');
    try {
      const child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', fd, fd],
      });
      const started = new ManagedProcess(name, child, options.logFile);
      running.add(started);
      return started;
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(fd);
    }
  }

  /** `start`, then `waitForPort` for each of `ports`; a process that does not come up is stopped before the error is thrown. */
  static async startListening(name: string, options: ManagedProcessOptions, ports: readonly number[]): Promise<ManagedProcess> {
    const started = ManagedProcess.start(name, options);
    try {
      for (const port of ports) await started.waitForPort(port);
    } catch (err) {
      await started.stop();
      throw err;
    }
    return started;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** PIDs of the process and its direct children (nginx workers), read from /proc while it runs. */
  pids(): number[] {
    return [this.pid, ...childPids(this.pid)];
  }

  /** Resolves once `port` on 127.0.0.1 accepts a connection; fails if the process exits or `timeoutMs` passes. */
  async waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.#exit)}):\n${this.logTail()}`);
      if (await canConnect(port)) return;
      await sleep(30);
    }
    throw new Error(`${this.name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${this.logTail()}`);
  }

  /** SIGTERM (or `signal`), then SIGKILL to it and the children it had if it has not exited within `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<ExitInfo> {
    if (this.#exit !== undefined) return this.#exit;
    const children = childPids(this.pid);
    this.#child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.killNow(children);
        resolve();
      }, graceMs);
    });
    const exit = await Promise.race([this.exited, forced.then(() => this.exited)]);
    clearTimeout(timer);
    return exit;
  }

  /** SIGKILL, to this PID and the given children (by default those /proc lists now). */
  killNow(children: readonly number[] = childPids(this.pid)): void {
    for (const pid of [this.pid, ...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  logTail(bytes = 4000): string {
    try {
      const text = readFileSync(this.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '(no log)';
    }
  }
}

/** Direct children of `pid`, from /proc/<pid>/task/<tid>/children (Linux). */
export function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
