// Runs an external tool (dpkg-deb, gpg, xz, apt-get) with a time bound and captured output.
import { spawn } from 'node:child_process';

export interface CommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string | Uint8Array;
  /** Default 60 s. On expiry the child (or its process group) gets SIGKILL. */
  readonly timeoutMs?: number;
  /**
   * Starts the child in its own process group so that a timeout also ends the helpers it spawned
   * (apt-get forks one process per download method, which would otherwise outlive it).
   */
  readonly processGroup?: boolean;
}

export interface CommandResult {
  /** The command line, for error messages. */
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

export async function runCommand(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const command = [file, ...args].join(' ');
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.processGroup === true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  // A child that exits without reading its input would otherwise crash us with EPIPE.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    const pid = child.pid;
    if (pid === undefined) return;
    try {
      // A negative pid addresses the group this child leads, and nothing else.
      process.kill(options.processGroup === true ? -pid : pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, timeoutMs);

  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve([code, sig]));
    });
    const stdoutBytes = Buffer.concat(out);
    return {
      command,
      exitCode,
      signal,
      stdout: stdoutBytes.toString('utf8'),
      stdoutBytes,
      stderr: Buffer.concat(err).toString('utf8'),
      timedOut,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Like runCommand, but a non-zero exit, a signal or a timeout is an error that quotes stderr. */
export async function runChecked(file: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(file, args, options);
  if (result.exitCode !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? 60_000} ms` : `exited with ${result.exitCode ?? result.signal}`;
    throw new Error(`${result.command} ${why}\n${result.stderr}${result.stdout}`);
  }
  return result;
}
