// Structured logs: JSON lines for machines, a short human line when stdout is a terminal.
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

export function createLogger(level: string): Logger {
  if (process.stdout.isTTY) return pino({ level, base: null }, humanStream());
  return pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime });
}

const levelNames: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Renders pino's JSON as `HH:MM:SS LEVEL msg key=value ...` for people watching a terminal. */
function humanStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        try {
          const { level, time, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const when = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 19);
          const fields = Object.entries(rest)
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          process.stdout.write(`${when} ${levelNames[level as number] ?? String(level)} ${typeof msg === 'string' ? msg : ''} ${fields}\n`);
        } catch {
          process.stdout.write(`${line}\n`);
        }
      }
      callback();
    },
  });
}
