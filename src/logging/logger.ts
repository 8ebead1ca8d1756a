// Structured logs: JSON lines for machines, a short human line when stdout is a terminal.
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import type { RequestEvent } from '../events.ts';
import { IsoTimeCache, requestLogLine } from './request-log-line.ts';

/**
 * Bytes of log lines gathered before one write: one write per ~250 request lines instead of one each.
 * Each write is handed to a thread of libuv's pool, whose wake-up can take the core from the serving
 * thread on a busy machine: at 8 KB (one write per ~30 lines) a keep-alive profile under load showed
 * about 13 % of the serving thread's time at that hand-over; 64 KB makes those eight times rarer.
 */
const bufferBytes = 64 * 1024;
/** Longest a gathered line waits before it is written, so a quiet cache's log still reads as live. */
const flushIntervalMs = 250;

export interface Logging {
  readonly logger: Logger;
  /** Logs one finished request at `info` (the access log). */
  readonly logRequest: (e: RequestEvent) => void;
}

export function createLogging(level: string): Logging {
  if (process.stdout.isTTY) {
    const logger = pino({ level, base: null }, humanStream());
    return { logger, logRequest: (e) => logger.info(requestFields(e), 'request') };
  }
  // A synchronous write per line cost about 7 % of the throughput of small cache hits (a local wrk
  // run, docs/performance.md). Lines are gathered and written in the background instead; what is still
  // gathered when the process exits (including after a fatal error) is written synchronously then.
  // Lines are gathered here, not by sonic-boom: it measures the UTF-8 length of each string it is given
  // and of its whole pending buffer on every write (about 3 % of a small hit), and its own gathering
  // stops at 16 KB. Every line (pino's and the request lines) goes through this one string, so their
  // order is kept; sonic-boom writes what it is handed at once, in order, one write at a time.
  const destination = pino.destination({ dest: 1, sync: false });
  let gathered = '';
  const handOver = () => {
    const lines = gathered;
    gathered = '';
    destination.write(lines);
  };
  const sink = {
    write(line: string): boolean {
      gathered += line;
      if (gathered.length >= bufferBytes) handOver();
      return true;
    },
  };
  // Only when something was gathered: an idle cache makes no syscalls.
  const timer = setInterval(() => {
    if (gathered !== '') handOver();
  }, flushIntervalMs);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    try {
      if (gathered !== '') handOver();
      destination.flushSync();
    } catch {
      // stdout already gone (closed pipe): nothing left to write the lines to.
    }
  });
  const logger = pino({ level, base: null, timestamp: pino.stdTimeFunctions.isoTime }, sink);
  const time = new IsoTimeCache();
  return {
    logger,
    logRequest: (e) => {
      if (logger.isLevelEnabled('info')) sink.write(requestLogLine(e, time.now()));
    },
  };
}

function requestFields(e: RequestEvent) {
  return {
    client: e.client,
    method: e.method,
    target: e.target,
    result: e.result,
    status: e.status,
    bytes: e.bytes,
    ms: Math.round(e.durationMs),
    upstream: e.upstream,
    code: e.errorCode,
  };
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
