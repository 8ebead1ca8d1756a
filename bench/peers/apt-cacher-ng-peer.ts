// apt-cacher-ng as a foreground process of the bench's own: its own config dir, cache dir, log dir, socket and port.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findFreePortBelow } from '../system/free-port.ts';
import { ManagedProcess } from '../system/managed-process.ts';
import { prefixModePeer, type Peer, type PeerContext, type RunningPeer } from './peer.ts';

export const aptCacherNgBinary = '/usr/sbin/apt-cacher-ng';

/**
 * The configuration directory holds only this acng.conf, so none of the machine's /etc/apt-cacher-ng
 * (remap lists, backends) is read. `AllowUserPorts: 0` lets clients name the origins' non-80 ports;
 * apt-cacher-ng refuses any port but 80 otherwise. Everything else is the shipped default.
 */
export const aptCacherNgPeer: Peer = {
  name: 'apt-cacher-ng',
  caches: true,
  images: false,
  async start(context: PeerContext): Promise<RunningPeer> {
    // apt-cacher-ng 3.7.4 formats its port as a signed 16-bit number: above 32767 it cannot bind.
    const port = await findFreePortBelow(32768);
    const dir = join(context.workDir, 'apt-cacher-ng');
    const confDir = join(dir, 'conf');
    for (const sub of ['conf', 'cache', 'log']) await mkdir(join(dir, sub), { recursive: true });
    const conf = [
      `CacheDir: ${join(dir, 'cache')}`,
      `LogDir: ${join(dir, 'log')}`,
      `Port: ${port}`,
      'BindAddress: 127.0.0.1',
      'ForeGround: 1',
      `SocketPath: ${join(dir, 'socket')}`,
      `PidFile: ${join(dir, 'pid')}`,
      'AllowUserPorts: 0',
      'ReportPage: acng-report.html',
      'ExThreshold: 4',
      '',
    ].join('\n');
    await writeFile(join(confDir, 'acng.conf'), conf);
    const acng = await ManagedProcess.startListening('apt-cacher-ng', { command: aptCacherNgBinary, args: ['-c', confDir], logFile: join(dir, 'stdout.log') }, [
      port,
    ]);
    return prefixModePeer(
      port,
      context,
      () => acng.pids(),
      async () => {
        await acng.stop('SIGTERM', 5000);
      },
    );
  },
};
