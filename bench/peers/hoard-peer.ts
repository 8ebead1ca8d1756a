// hoard as the bench runs it: a checkout through bin/hoard on Node 24, default configuration, an empty data dir.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../test/support/hoard-process.ts';
import { findFreePortBelow } from '../system/free-port.ts';
import { ManagedProcess } from '../system/managed-process.ts';
import { prefixModePeer, type Peer, type PeerContext, type RunningPeer } from './peer.ts';

/** Which hoard: a name for the report, the checkout whose bin/hoard runs, and variables added to its environment. */
export interface HoardVariant {
  readonly name: string;
  readonly checkout: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Started as the service starts it, through bin/hoard (which execs Node, so the PID is hoard's own).
 * Logs go to a file, as a service's would; the log level is the default (info: one line per request).
 * HOARD_BENCH_NODE_FLAGS adds Node flags through NODE_OPTIONS, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
 */
export function hoardPeerOf(variant: HoardVariant): Peer {
  return {
    name: variant.name,
    caches: true,
    images: true,
    async start(context: PeerContext): Promise<RunningPeer> {
      const port = await findFreePortBelow(32768);
      const dir = join(context.workDir, 'hoard');
      await mkdir(join(dir, 'data'), { recursive: true });
      const configPath = join(dir, 'hoard.yaml');
      // The bench's upstream is on loopback, which deniedUpstreamNetworks denies to client-chosen hosts by default;
      // and it is reached directly, whatever proxy the machine's environment names.
      // The image stream is an image upstream of its own, on the rate-limited origin (`images` scenario).
      const limited = context.origins.find((o) => o.rateLimit !== undefined);
      const images =
        context.imageStreamPath === undefined || limited === undefined ? '' : `images:\n  bench:\n    url: ${limited.base}${context.imageStreamPath}/\n`;
      await writeFile(configPath, `listen: 127.0.0.1:${port}\ndataDir: ${join(dir, 'data')}\ndeniedUpstreamNetworks: []\nupstream:\n  proxy: none\n${images}`);
      const hoard = await ManagedProcess.startListening(
        variant.name,
        {
          command: join(variant.checkout, 'bin/hoard'),
          args: ['serve', '--config', configPath],
          cwd: variant.checkout,
          env: {
            ...process.env,
            ...variant.env,
            NODE_OPTIONS: [process.env.NODE_OPTIONS, process.env.HOARD_BENCH_NODE_FLAGS].filter((f) => f !== undefined && f !== '').join(' '),
          },
          logFile: join(dir, 'hoard.log'),
        },
        [port],
      );
      const running = prefixModePeer(
        port,
        context,
        () => [hoard.pid],
        async () => {
          await hoard.stop('SIGTERM', 30_000);
        },
      );
      return { ...running, imageRequestPath: (streamPath) => `/images/bench${streamPath}` };
    },
  };
}

/** This checkout, as `npm start` runs it. */
export const hoardPeer: Peer = hoardPeerOf({ name: 'hoard', checkout: repoRoot, env: {} });
