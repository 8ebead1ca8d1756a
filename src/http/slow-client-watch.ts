// Cuts a response whose client takes its bytes more slowly than `server.minSendBytesPerSecond` over a window.
import type { ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../clock.ts';
import { HoardError } from '../errors.ts';
import { SendRateGuard, type SendRateLimits } from './send-rate-guard.ts';

export interface SlowClientWatch {
  /** Set once the response was cut for being too slow: the reason to log instead of the client's leaving. */
  readonly cut: HoardError | undefined;
  stop(): void;
}

const idle: SlowClientWatch = { cut: undefined, stop: () => undefined };

/**
 * Watches one response body from now until `stop`: one timer per window, no work per chunk. What the
 * client took is what the socket handed to the kernel (bytes written minus those still queued in the
 * process). A window ending with nothing queued is not held against the client: hoard had nothing to
 * send (a download still arriving from its upstream), so the window starts over.
 */
export function watchSendRate(res: ServerResponse, limits: SendRateLimits, clock: Clock = systemClock): SlowClientWatch {
  const socket = res.socket;
  if (socket === null || limits.minBytesPerSecond <= 0) return idle;
  const taken = () => socket.bytesWritten - socket.writableLength;
  const baseline = taken();
  const started = clock.now();
  const guard = new SendRateGuard(limits, clock, 0);
  let timer: NodeJS.Timeout | undefined;
  const watch = {
    cut: undefined as HoardError | undefined,
    stop: () => {
      clearTimeout(timer);
      timer = undefined;
    },
  };
  const arm = () => {
    timer = setTimeout(check, Math.max(0, guard.windowEndsAt - clock.now()));
    timer.unref();
  };
  const check = () => {
    if (res.destroyed || res.writableFinished) return;
    const sent = taken() - baseline;
    if (socket.writableLength === 0) guard.restart(sent);
    else if (guard.tooSlow(sent)) {
      watch.cut = new HoardError(
        'HOARD_ERR_CLIENT_TOO_SLOW',
        `the client took bytes more slowly than server.minSendBytesPerSecond (${limits.minBytesPerSecond}) over server.slowClientWindowSeconds ` +
          `(${limits.windowMs / 1000}): ${sent} bytes in ${((clock.now() - started) / 1000).toFixed(1)} s in all`,
      );
      // A reset, not a FIN: what the kernel still holds for this client is dropped now, not sent first.
      socket.resetAndDestroy();
      return;
    }
    arm();
  };
  arm();
  return watch;
}
