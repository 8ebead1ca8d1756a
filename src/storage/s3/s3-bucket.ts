// One bucket under one prefix: the object names hoard uses there, and the few S3 calls it makes, with failures as HoardErrors.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { HoardError } from '../../errors.ts';
import { assertBlobDigest } from '../blob-digest.ts';

export interface S3BucketOptions {
  readonly endpoint?: string | undefined;
  readonly region: string;
  readonly bucket: string;
  /** Prepended to every object name; '' or a path ending in `/`. */
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** Absent: the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles...). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
}

/**
 * The bucket layout (all under `prefix`), versioned by its first segment so a later layout can sit beside it:
 *   v1/blobs/sha256/<ab>/<digest>      the bytes, content-addressed
 *   v1/entries/<sha256 of cache key>   the last stored index entry of a cache key, any node's (JSON)
 *   v1/refs/<digest>/<node id>         node <id> refers to this blob (empty object)
 *   v1/condemned/<digest>              nobody referred to it when a node dropped it; deleted after the grace period
 *   v1/nodes/<node id>                 the node's last announcement (JSON)
 *   v1/gc-lease                        who may delete blobs now (JSON)
 */
export class S3Bucket {
  readonly client: S3Client;
  readonly name: string;
  readonly #root: string;

  constructor(options: S3BucketOptions) {
    this.client = new S3Client({
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
      // Retries of the SDK's own (throttling, 5xx, resets): three attempts.
      maxAttempts: 3,
    });
    this.name = options.bucket;
    this.#root = `${options.prefix}v1/`;
  }

  blobKey(digest: string): string {
    assertBlobDigest(digest);
    return `${this.#root}blobs/sha256/${digest.slice(0, 2)}/${digest}`;
  }

  entryKey(keyDigest: string): string {
    return `${this.#root}entries/${keyDigest}`;
  }

  refPrefix(digest: string): string {
    assertBlobDigest(digest);
    return `${this.#root}refs/${digest}/`;
  }

  condemnedPrefix(): string {
    return `${this.#root}condemned/`;
  }

  condemnedKey(digest: string): string {
    assertBlobDigest(digest);
    return `${this.condemnedPrefix()}${digest}`;
  }

  nodeKey(nodeId: string): string {
    return `${this.#root}nodes/${nodeId}`;
  }

  leaseKey(): string {
    return `${this.#root}gc-lease`;
  }

  /** Size and last modification of an object, or undefined when it is not there. */
  async head(key: string): Promise<{ size: number; lastModified: number } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { size: out.ContentLength ?? 0, lastModified: out.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw bucketError(err, `cannot look up ${key}`);
    }
  }

  /** The object's body as a stream, bytes [start, endInclusive] when given; undefined when it is not there. */
  async get(key: string, start?: number, endInclusive?: number): Promise<Readable | undefined> {
    const range = start === undefined ? undefined : `bytes=${start}-${endInclusive ?? ''}`;
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, Range: range }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw bucketError(err, `cannot read ${key}`);
    }
    return out.Body as Readable;
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const body = await this.get(key);
    if (body === undefined) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    } catch (err) {
      throw bucketError(err, `cannot read ${key}`);
    }
  }

  async put(key: string, body: string | Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.name, Key: key, Body: body, ContentType: contentType, ContentLength: Buffer.byteLength(body) }),
      );
    } catch (err) {
      throw bucketError(err, `cannot write ${key}`);
    }
  }

  putJson(key: string, value: unknown): Promise<void> {
    return this.put(key, JSON.stringify(value), 'application/json');
  }

  /** No error when it is already gone (S3 answers 204 either way). */
  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw bucketError(err, `cannot delete ${key}`);
    }
  }

  /** Up to `max` objects under `prefix`, in key order, from after `startAfter`. One LIST request per 1,000. */
  async list(prefix: string, max: number, startAfter?: string): Promise<Array<{ key: string; size: number; lastModified: number }>> {
    const found: Array<{ key: string; size: number; lastModified: number }> = [];
    let token: string | undefined;
    // Bounded: at most ceil(max / 1000) + 1 pages.
    for (let page = 0; page <= Math.ceil(max / 1000) && found.length < max; page++) {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.name,
            Prefix: prefix,
            MaxKeys: Math.min(1000, max - found.length),
            ContinuationToken: token,
            StartAfter: token === undefined ? startAfter : undefined,
          }),
        );
      } catch (err) {
        throw bucketError(err, `cannot list ${prefix}`);
      }
      for (const item of out.Contents ?? []) {
        if (item.Key !== undefined) found.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified?.getTime() ?? 0 });
      }
      token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      if (token === undefined) break;
    }
    return found;
  }

  close(): void {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/** Every failure of the object store is the store's: HOARD_ERR_STORE_IO, with the S3 error as its cause. */
export function bucketError(err: unknown, message: string): HoardError {
  if (err instanceof HoardError) return err;
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new HoardError('HOARD_ERR_STORE_IO', `${message}: object store: ${reason}`, { cause: err });
}
