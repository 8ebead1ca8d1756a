// Peak resident memory of a server: VmHWM from /proc, summed over its process and worker processes.
import { readFileSync } from 'node:fs';

/**
 * VmHWM is the kernel's high-water mark of a process's resident set since it started, so one read at
 * the end of a run gives the peak without sampling. Pages shared between an nginx master and its
 * workers are counted in each, which overstates nginx a little rather than understating it.
 */
export function peakRssBytes(pids: readonly number[]): number | undefined {
  let total = 0;
  let found = false;
  for (const pid of pids) {
    const kib = vmHwmKib(pid);
    if (kib === undefined) continue;
    total += kib * 1024;
    found = true;
  }
  return found ? total : undefined;
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
