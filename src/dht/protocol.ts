/**
 * The DHT's messages (kinds and bodies of its RPC requests). Client requests are routed to the
 * key's root; replica requests go straight to one replica. Bodies are plain msgpack-friendly
 * objects with short field names: they travel once per replica per operation.
 */
import type { ItemDigest, StoredItem } from './types.ts';

/** Request kinds. */
export const Kind = {
  /** client → root: quorum read. */
  GET: 'get',
  /** client → root: the root's copy, no quorum. */
  GET_ANY: 'getAny',
  /** client → root: put / conditional write / write-if-absent. */
  WRITE: 'write',
  /** client → root: a page of a sorted partition. */
  SCAN: 'scan',
  /** anyone → root (one-way): re-read a key with the replica set and repair it. */
  REPAIR: 'repair',
  /** anyone → root: take these items (strays handed back to where they belong). */
  HAND: 'hand',
  /** root → replica: one item. */
  R_GET: 'r.get',
  /**
   * root → replica: what it holds of one item (key, version, operation, deleted flag, checksum),
   * without the item: a quorum read takes the full item from one replica and digests from the
   * others (coordinator.ts).
   */
  R_DIGEST: 'r.digest',
  /** root → replica: store one item. */
  R_PUT: 'r.put',
  /** root → replica: several R_GET / R_DIGEST / R_PUT requests in one message (see replica-batcher.ts). */
  R_BATCH: 'r.batch',
  /** root → replica: a page of a partition. */
  R_SCAN: 'r.scan',
  /** any → replica: merge items (handoff, repair, anti-entropy push). */
  R_MERGE: 'r.merge',
  /** anti-entropy: digests of ranges. */
  AE_DIGEST: 'ae.dig',
  /** anti-entropy: item summaries of ranges. */
  AE_LIST: 'ae.list',
  /** anti-entropy: items by key. */
  AE_FETCH: 'ae.fetch',
  /**
   * any → leaf-set peer: when this node was last up and the write time of the newest tombstone
   * it removed (a node back from a long absence asks before using its store: stale-store.ts).
   */
  HORIZON: 'horizon',
} as const;

/** Write modes. */
export type WriteMode = 'put' | 'cas' | 'wia';

/** Body of a WRITE request. */
export interface WriteBody {
  k: string;
  m: WriteMode;
  /** Type, URI, deleted flag and JSON of the entity. */
  t: string;
  u: string | null;
  d: boolean;
  b: string;
  /** put: the version the entity was read at (the write becomes x + 1 or later); cas: the exact current version expected. */
  x: number;
  /** Operation id (the same on retries). */
  op: string;
  /** On a retry: when the first attempt was sent (the writer's clock). */
  f?: number;
}

/** Body of a successful WRITE reply. */
export interface WriteReplyBody {
  /** Whether this operation wrote (false: write-if-absent found a live record). */
  w: boolean;
  i: StoredItem;
}

/** Body of an error reply. */
export interface ErrorReplyBody {
  error: string;
  message: string;
  current?: number;
  expected?: number;
}

/** Body of a SCAN request. */
export interface ScanBody {
  /** First key to consider (inclusive unless `a`). */
  s: string;
  /** `s` itself is excluded (a continuation). */
  a: boolean;
  /** Keys must start with this (partition id + separator + sort-key prefix). */
  p: string;
  /** Page size. */
  l: number;
  /**
   * Top-level body fields to leave out of the items answered (absent: whole items). Such items
   * are partial copies for reading only; their checksum still covers the whole body, so one
   * written back anywhere would be refused as damaged.
   */
  x?: string[];
}

/** A SCAN reply: items in key order, and whether more may follow. */
export interface ScanReplyBody {
  i: StoredItem[];
  more: boolean;
}

/** Body of an R_GET reply: the replica's intact copy, or null. */
export interface GetReplyBody {
  i: StoredItem | null;
}

/** Body of an R_DIGEST reply: the digest of the replica's intact copy, or null (none, or damaged). */
export interface DigestReplyBody {
  s: ItemDigest | null;
}

/** Item summary on the wire: key, version, op, deleted. */
export type WireSummary = [string, number, string, boolean];
