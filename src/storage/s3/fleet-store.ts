// Assembles a node's store on a shared bucket: the S3 blob store, the publishing index, the collector and its lease.
import type { Logger } from 'pino';
import type { Clock } from '../../clock.ts';
import type { BlobStore } from '../blob-store.ts';
import { FsBlobStore } from '../fs-blob-store.ts';
import type { MetadataIndex } from '../metadata-index.ts';
import { BucketCollector, type SweepReport } from './bucket-collector.ts';
import { BucketLease } from './bucket-lease.ts';
import { FleetMetadataIndex } from './fleet-metadata-index.ts';
import { S3BlobStore } from './s3-blob-store.ts';
import { S3Bucket } from './s3-bucket.ts';

/** `storage.s3` of the configuration, in the units this layer takes. */
export interface FleetStoreSettings {
  readonly endpoint?: string | undefined;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  readonly forcePathStyle: boolean;
  readonly prefix: string;
  readonly localMaxSize?: number | undefined;
  readonly partSize: number;
  readonly deleteGraceSeconds: number;
  readonly sweepIntervalSeconds: number;
  readonly leaseSeconds: number;
  readonly forgetNodesAfterHours: number;
}

export interface FleetStore {
  readonly nodeId: string;
  readonly blobs: BlobStore;
  readonly index: FleetMetadataIndex;
  /** Deletes condemned blobs past their grace period, if this node gets the lease. */
  sweep(): Promise<SweepReport>;
  /** A full local disk: drops a share of the local copies (the bucket keeps them); resolves with the bytes freed. */
  relieveLocal(share?: number): Promise<number>;
  /** Stops the sweeps and lands what is still being published; the caller closes the index after. */
  close(): Promise<void>;
}

/** Time between writing the lease and reading it back: well above the write skew of one store. */
const leaseSettleMs = 500;

export async function openFleetStore(options: {
  settings: FleetStoreSettings;
  dataDir: string;
  nodeId: string;
  localIndex: MetadataIndex;
  clock: Clock;
  logger: Logger;
}): Promise<FleetStore> {
  const { settings, nodeId, clock, logger } = options;
  const bucket = new S3Bucket({
    endpoint: settings.endpoint,
    region: settings.region,
    bucket: settings.bucket,
    prefix: settings.prefix,
    forcePathStyle: settings.forcePathStyle,
    credentials:
      settings.accessKeyId !== undefined && settings.secretAccessKey !== undefined
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined,
  });
  const graceMs = settings.deleteGraceSeconds * 1000;
  const lease = new BucketLease({ bucket, nodeId, clock, ttlMs: settings.leaseSeconds * 1000, settleMs: leaseSettleMs });
  const collector = new BucketCollector({ bucket, lease, clock, graceMs, logger, forgetNodesAfterMs: settings.forgetNodesAfterHours * 3600 * 1000 });
  const blobs = new S3BlobStore({
    bucket,
    local: new FsBlobStore(options.dataDir),
    localMaxBytes: settings.localMaxSize,
    collector,
    partSize: settings.partSize,
    sweepOnDelete: graceMs === 0,
    logger,
  });
  await blobs.init();
  const index = new FleetMetadataIndex(options.localIndex, { bucket, nodeId, logger });
  // Who is out there and when each node was last seen, for operators deciding that a node is gone for good
  // (docs/fleet.md); not read by the nodes. Renewed at every sweep interval.
  const startedAt = new Date(clock.now()).toISOString();
  const announce = () =>
    bucket.putJson(bucket.nodeKey(nodeId), { id: nodeId, startedAt, lastSeen: new Date(clock.now()).toISOString() }).catch((err: unknown) => {
      logger.warn({ err }, 'cannot announce this node in the bucket');
    });
  await announce();
  const heartbeat = setInterval(() => void announce(), settings.sweepIntervalSeconds * 1000).unref();
  collector.start(settings.sweepIntervalSeconds * 1000);
  logger.info({ nodeId, bucket: settings.bucket, prefix: settings.prefix, endpoint: settings.endpoint }, 'store on a shared bucket');
  return {
    nodeId,
    blobs,
    index,
    sweep: () => collector.sweep(),
    relieveLocal: (share = 0.1) => blobs.dropLocalCopies(share),
    async close() {
      clearInterval(heartbeat);
      await collector.stop();
      await index.flush();
      bucket.close();
    },
  };
}
