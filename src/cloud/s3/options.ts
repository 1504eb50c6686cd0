/**
 * Settings of the S3 application (the node's `s3.*` configuration), with their defaults.
 */
import { DEFAULT_SCRUB_OPTIONS } from './chunks/scrub.ts';
import type { ScrubOptions } from './chunks/scrub.ts';

/** Tunables of the S3 application. */
export interface S3Options {
  /** Address the S3 HTTP server binds to. */
  bind: string;
  /** Its port (0 picks a free one). */
  port: number;
  /** Host names of the endpoint: `<bucket>.<domain>` is virtual-hosted style. */
  baseDomains: string[];
  /** Host names of the static website endpoint: `<bucket>.<domain>` is served as a website (website.ts). */
  websiteDomains: string[];
  /** Region reported for buckets (GetBucketLocation, x-amz-bucket-region). */
  region: string;
  /** Largest object (single PUT: at most this; multipart: the completed object). */
  maxObjectBytes: number;
  /** Size of the chunks object data is split into. */
  chunkSize: number;
  /** Objects up to this size are kept inline in their index entry (no chunks). */
  inlineMaxBytes: number;
  /** Chunk puts of one upload in flight at once. */
  putConcurrency: number;
  /** Copies of each chunk. */
  replicas: number;
  /** Copies stored before a chunk put is acknowledged. */
  writeQuorum: number;
  /** Smallest part of a multipart upload (all but the last). */
  minPartBytes: number;
  /** How long access keys and bucket records are cached on a node. */
  cacheMs: number;
  /** Largest accepted difference between a request's signing time and the node's clock. */
  maxClockSkewMs: number;
  /**
   * A request body from which nothing arrives this long, while the node is ready to read it, is
   * answered `400 RequestTimeout` and its connection closed (as S3 does): an upload that stalls
   * must not hold its connection and request for ever.
   */
  bodyIdleTimeoutMs: number;
  /**
   * On a graceful stop, how long requests being served may take to finish (their answers close
   * their connections; requests still arriving are refused with a retryable 503); then what is
   * left is cut.
   */
  drainTimeoutMs: number;
  /**
   * Accept AWS Signature Version 2 (`Authorization: AWS …`, presigned `AWSAccessKeyId` /
   * `Expires` / `Signature` URLs, POST forms with `AWSAccessKeyId` / `signature`); when false
   * they are refused with `InvalidRequest`, as S3 refuses them in regions without SigV2.
   */
  signatureV2: boolean;
  /**
   * Period of the lifecycle expirer's sweep (each node sweeps the buckets whose record it is the
   * DHT root of); 0 turns the background sweep off.
   */
  lifecycleSweepMs: number;
  /**
   * Period of the replication sweep (each node runs the replication tasks left over in the
   * buckets whose record it is the DHT root of, once older than this); 0 turns it off.
   */
  replicationSweepMs: number;
  /** How long bucket event notifications stay in their topic's journal (event-journal.ts). */
  eventRetentionMs: number;
  /**
   * Index shards of a new bucket (index-shards.ts): its object index is split over this many DHT
   * partitions, each with its own root, so its writes are not bounded by one replica set. Fixed
   * at creation; a listing reads every shard. 0: chosen from the ring's size at creation
   * (autoIndexShards in index-shards.ts).
   */
  indexShards: number;
  /**
   * File holding the SSE-S3 master key (32 bytes, 64 hex digits or base64), the same on every
   * node; without it SSE-S3 and bucket default encryption are refused.
   */
  sseMasterKeyFile?: string;
  /** Files of master keys rotated out: they only unwrap the data keys they wrapped. */
  ssePreviousKeyFiles: string[];
  /**
   * Certificate chain and private key files (PEM) of the endpoint: with them it speaks HTTPS
   * only, and reloads them when they change; without them, plain HTTP.
   */
  tls?: { certFile: string; keyFile: string };
  /**
   * Accept SSE-C keys over plain HTTP. S3 refuses them (a key sent in clear text is exposed);
   * only for an endpoint behind a proxy that terminates TLS.
   */
  allowSseCustomerKeysOverHttp: boolean;
  /** SSE-KMS (kms.ts). */
  kms: {
    /**
     * Create a KMS key named by a bare name (`testkey-1`, not a key id, ARN or `alias/…`) on first
     * use, with that alias. For test rings (conformance suites configure such a key id);
     * production leaves it off, so that a mistyped key id is an error, not a new key.
     */
    autoCreateKeys: boolean;
  };
  /**
   * Check whole chunks read against their hash (this node's copies as they stream, replicas'
   * answers): a damaged copy never completes a response and is replaced from a replica.
   */
  verifyReads: boolean;
  /** The background re-read of this node's chunks that finds damaged copies (chunks/scrub.ts). */
  scrub: ScrubOptions;
  /** Server access logging (access-log.ts): how each node buffers and delivers log records. */
  accessLog: AccessLogOptions;
  /** Garbage collection of unreferenced chunks. */
  gc: {
    enabled: boolean;
    /** Period of the sweep over this node's chunks. */
    intervalMs: number;
    /** A chunk is collected only this long after it was last stored and last unreferenced. */
    graceMs: number;
    /** References of object versions never written are dropped after this long. */
    orphanRefMs: number;
  };
}

/** How a node buffers server access log records and delivers them as log objects. */
export interface AccessLogOptions {
  /** Buffered records of every bucket are written this often. */
  flushIntervalMs: number;
  /** A bucket's buffer is written as soon as it holds this many bytes. */
  maxBufferBytes: number;
}

export const DEFAULT_S3_OPTIONS: S3Options = {
  bind: '0.0.0.0',
  port: 9090,
  baseDomains: ['localhost', 's3.localhost'],
  websiteDomains: ['s3-website.localhost'],
  region: 'us-east-1',
  maxObjectBytes: 5 * 1024 ** 4,
  chunkSize: 4 * 1024 * 1024,
  inlineMaxBytes: 64 * 1024,
  putConcurrency: 4,
  replicas: 3,
  writeQuorum: 2,
  minPartBytes: 5 * 1024 * 1024,
  cacheMs: 2000,
  maxClockSkewMs: 15 * 60 * 1000,
  bodyIdleTimeoutMs: 20_000,
  drainTimeoutMs: 5000,
  signatureV2: true,
  lifecycleSweepMs: 60 * 60 * 1000,
  replicationSweepMs: 60 * 1000,
  eventRetentionMs: 24 * 60 * 60 * 1000,
  indexShards: 0,
  ssePreviousKeyFiles: [],
  allowSseCustomerKeysOverHttp: false,
  kms: { autoCreateKeys: false },
  verifyReads: true,
  scrub: DEFAULT_SCRUB_OPTIONS,
  gc: { enabled: true, intervalMs: 10 * 60 * 1000, graceMs: 60 * 60 * 1000, orphanRefMs: 24 * 3600 * 1000 },
  accessLog: { flushIntervalMs: 5 * 60 * 1000, maxBufferBytes: 1024 * 1024 },
};
