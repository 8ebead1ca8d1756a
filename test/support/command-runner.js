// Runs an external tool (dpkg-deb, gpg, xz, apt-get) with a time bound and captured output.
import { spawn } from 'node:child_process';
export async function runCommand(file, args, options = {}) {
    const command = [file, ...args].join(' ');
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? 60_000;
    const child = spawn(file, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: options.processGroup === true,
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    // A child that exits without reading its input would otherwise crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
        timedOut = true;
        const pid = child.pid;
        if (pid === undefined)
            return;
        try {
            // A negative pid addresses the group this child leads, and nothing else.
            process.kill(options.processGroup === true ? -pid : pid, 'SIGKILL');
        }
        catch {
            // Already gone.
        }
    }, timeoutMs);
    try {
        const [exitCode, signal] = await new Promise((resolve, reject) => {
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
    }
    finally {
        clearTimeout(timer);
    }
}
/** Like runCommand, but a non-zero exit, a signal or a timeout is an error that quotes stderr. */
export async function runChecked(file, args, options = {}) {
    const result = await runCommand(file, args, options);
    if (result.exitCode !== 0) {
        const why = result.timedOut ? `timed out after ${options.timeoutMs ?? 60_000} ms` : `exited with ${result.exitCode ?? result.signal}`;
        throw new Error(`${result.command} ${why}\n${result.stderr}${result.stdout}`);
    }
    return result;
}
