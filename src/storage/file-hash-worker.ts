// The body of the hashing thread (file-hasher.ts): SHA-256 of temp files read back as their bytes land, so the download's own thread never hashes.
import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './file-hasher.ts';

/** Read from the page cache in steps this large: big enough that a read costs nothing next to the hashing. */
const readBytes = 1024 * 1024;

interface Job {
  readonly fd: number;
  readonly hash: Hash;
  position: number;
}

const port = parentPort;
if (port === null) throw new Error('file-hash-worker runs as a worker thread only');
const jobs = new Map<number, Job>();
const buffer = Buffer.allocUnsafe(readBytes);

/** Hashes the job's file up to `end`; the file descriptor is the main thread's (threads share them), open until the job ends. */
function catchUp(job: Job, end: number): void {
  while (job.position < end) {
    const got = readSync(job.fd, buffer, 0, Math.min(readBytes, end - job.position), job.position);
    if (got === 0) throw new Error(`the temporary file ends at ${job.position}, before ${end}`);
    job.hash.update(buffer.subarray(0, got));
    job.position += got;
  }
}

port.on('message', (request: HashRequest) => {
  const reply = (message: HashReply) => port.postMessage(message);
  if (request.op === 'start') {
    jobs.set(request.id, { fd: request.fd, hash: createHash('sha256'), position: 0 });
    return;
  }
  const job = jobs.get(request.id);
  if (request.op === 'cancel') {
    jobs.delete(request.id);
    reply({ id: request.id, op: 'cancelled' });
    return;
  }
  if (job === undefined) return;
  try {
    catchUp(job, request.end);
    if (request.op === 'digest') {
      jobs.delete(request.id);
      reply({ id: request.id, op: 'digest', digest: job.hash.digest('hex') });
    }
  } catch (err) {
    jobs.delete(request.id);
    reply({ id: request.id, op: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
});
