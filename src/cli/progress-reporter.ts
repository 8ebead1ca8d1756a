// Progress of long-running commands: a redrawn bar on a terminal, plain lines (at most one per second or per 10%) otherwise.

export interface ProgressReporter {
  update(done: number, total: number, label: string): void;
  done(summary: string): void;
}

export function progressReporter(stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressReporter {
  if (stream.isTTY) {
    return {
      update(done, total, label) {
        const width = Math.max(10, Math.min(40, (stream.columns || 80) - 50));
        const share = total > 0 ? done / total : 0;
        const filled = Math.round(share * width);
        const tail = label.length > 30 ? `…${label.slice(-29)}` : label;
        stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${tail}\x1b[K`);
      },
      done(summary) {
        stream.write(`\r\x1b[K${summary}\n`);
      },
    };
  }
  let lastAt = 0;
  let lastTenth = -1;
  return {
    update(done, total, label) {
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 0;
      if (done !== total && now() - lastAt < 1000 && tenth === lastTenth) return;
      lastAt = now();
      lastTenth = tenth;
      stream.write(`progress ${done}/${total} ${label}\n`);
    },
    done(summary) {
      stream.write(`${summary}\n`);
    },
  };
}
