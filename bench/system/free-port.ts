// Free loopback ports below 32768: apt-cacher-ng 3.7.4 formats ports as signed 16-bit numbers, so every server and origin of the bench stays below.
import { createServer } from 'node:net';

/** A port below `limit` (from 20000 up, picked at random) that was free a moment ago; bounded tries. */
export async function findFreePortBelow(limit: number, from = 20_000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (limit - from));
    if (await isFree(port)) return port;
  }
  throw new Error(`no free port found between ${from} and ${limit} in 50 tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
