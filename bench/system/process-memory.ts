// Peak resident memory of a server: VmHWM from /proc, summed over its processes, sampled through a whole run.
import { readFileSync } from 'node:fs';
import { childPids } from './managed-process.ts';

/** `pids` and all their descendants, from /proc (Linux); bounded, so a cycle of reused PIDs cannot loop. */
export function processTree(pids: readonly number[]): number[] {
  const seen = new Set<number>();
  const queue = [...pids];
  while (queue.length > 0 && seen.size < 10_000) {
    const pid = queue.shift() as number;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...childPids(pid));
  }
  return [...seen];
}

/**
 * The peak of a server's whole process tree through a run. VmHWM is the kernel's high-water mark of a
 * process's resident set since it started, so sampling has to see every process, not every peak: every
 * `intervalMs` this finds the tree's processes (a server may start and end helpers at any time) and
 * keeps each one's VmHWM; `stop` reads them a last time and answers the sum of every process's peak,
 * those that exited meanwhile included.
 * Pages shared between processes (an nginx master and its workers, a server and the processes it
 * forks) are counted in each, which overstates a little rather than understating.
 */
export class PeakMemorySampler {
  readonly #roots: () => readonly number[];
  readonly #peaks = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;
  #stopped = false;

  constructor(roots: () => readonly number[], intervalMs = 250) {
    this.#roots = roots;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  sample(): void {
    for (const pid of processTree(this.#roots())) {
      const kib = vmHwmKib(pid);
      if (kib !== undefined) this.#peaks.set(pid, Math.max(kib * 1024, this.#peaks.get(pid) ?? 0));
    }
  }

  /** Call while the server still runs, so its last figures are read; later calls answer the same. */
  stop(): number | undefined {
    if (this.#stopped) return this.#total();
    this.#stopped = true;
    this.sample();
    clearInterval(this.#timer);
    return this.#total();
  }

  #total(): number | undefined {
    if (this.#peaks.size === 0) return undefined;
    let total = 0;
    for (const bytes of this.#peaks.values()) total += bytes;
    return total;
  }
}

function vmHwmKib(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
