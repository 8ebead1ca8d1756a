// hoard as the bench runs it: this checkout's src/main.ts on Node 24, default configuration, an empty data dir.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../test/support/hoard-process.ts';
import { findFreePortBelow } from '../system/free-port.ts';
import { ManagedProcess } from '../system/managed-process.ts';
import { prefixPath, prefixRoute, type Peer, type PeerContext, type RunningPeer } from './peer.ts';

/** Extra node flags, e.g. `--cpu-prof --cpu-prof-dir=DIR` when profiling (HOARD_BENCH_NODE_FLAGS). */
const nodeFlags = (process.env.HOARD_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');

/** Logs go to a file, as a service's would; the log level is the default (info: one line per request). */
export const hoardPeer: Peer = {
  name: 'hoard',
  caches: true,
  async start(context: PeerContext): Promise<RunningPeer> {
    const port = await findFreePortBelow(32768);
    const dir = join(context.workDir, 'hoard');
    await mkdir(join(dir, 'data'), { recursive: true });
    const configPath = join(dir, 'hoard.yaml');
    await writeFile(configPath, `listen: 127.0.0.1:${port}\ndataDir: ${join(dir, 'data')}\n`);
    const hoard = ManagedProcess.start('hoard', {
      command: join(repoRoot, 'node_modules/.bin/node'),
      args: [...nodeFlags, 'src/main.ts', 'serve', '--config', configPath],
      cwd: repoRoot,
      logFile: join(dir, 'hoard.log'),
    });
    try {
      await hoard.waitForPort(port);
    } catch (err) {
      await hoard.stop();
      throw err;
    }
    const base = `http://127.0.0.1:${port}`;
    return {
      base,
      requestPath: prefixPath,
      aptRoute: (origin) => prefixRoute(base, origin, context.urlPrefix),
      pids: () => [hoard.pid],
      stop: async () => {
        await hoard.stop('SIGTERM', 30_000);
      },
    };
  },
};
