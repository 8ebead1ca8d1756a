// CPU time and minor page faults of a server's processes, read from /proc: what one download costs, whatever the load.
import { readFileSync } from 'node:fs';

/**
 * On a shared machine wall-clock speeds swing by 3x between runs; the CPU a download costs the server
 * does not. Totals cover every thread of every process (user + kernel); `mainThreadSeconds` is the
 * thread whose id is the process's (Node's event loop).
 */
export interface CpuUsage {
  readonly totalSeconds: number;
  readonly kernelSeconds: number;
  readonly mainThreadSeconds: number;
  readonly minorFaults: number;
}

const clockTicksPerSecond = 100;

/** The fields after the command name of a /proc stat line (the name may hold spaces), or undefined when the process is gone. */
function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Usage so far, summed over `pids`; a process that has gone counts nothing. */
export function cpuUsage(pids: readonly number[]): CpuUsage {
  let user = 0;
  let kernel = 0;
  let main = 0;
  let faults = 0;
  for (const pid of pids) {
    // proc(5): minflt is the 10th field, utime and stime the 14th and 15th; the slice starts at the 3rd.
    const fields = statFields(`/proc/${pid}/stat`);
    if (fields === undefined) continue;
    faults += Number(fields[7]);
    user += Number(fields[11]);
    kernel += Number(fields[12]);
    const thread = statFields(`/proc/${pid}/task/${pid}/stat`);
    if (thread !== undefined) main += Number(thread[11]) + Number(thread[12]);
  }
  return {
    totalSeconds: (user + kernel) / clockTicksPerSecond,
    kernelSeconds: kernel / clockTicksPerSecond,
    mainThreadSeconds: main / clockTicksPerSecond,
    minorFaults: faults,
  };
}

/** What the processes used between `before` and `after`. */
export function cpuUsedBetween(before: CpuUsage, after: CpuUsage): CpuUsage {
  return {
    totalSeconds: after.totalSeconds - before.totalSeconds,
    kernelSeconds: after.kernelSeconds - before.kernelSeconds,
    mainThreadSeconds: after.mainThreadSeconds - before.mainThreadSeconds,
    minorFaults: after.minorFaults - before.minorFaults,
  };
}
