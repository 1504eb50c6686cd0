/**
 * Shapes shared by the DHT modules: what applications store (entities), what they read back
 * (records with headers), what replicas keep (stored items), options and counters.
 */
import type { Id } from '../id/index.ts';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * What applications write: a plain JSON object. `type`, `url` and `deleted` are read into the
 * record's headers; `version` is set by the DHT. Every other field is kept as is, including
 * fields this version of the application does not know.
 */
export interface Entity {
  type?: string;
  url?: string;
  version?: number;
  deleted?: boolean;
  [field: string]: unknown;
}

/** A record as read: headers and the JSON body (the entity, with `version` set). */
export interface DhtRecord<T extends Entity = Entity> {
  /** Ring id of the record (for a partition item: the partition's id). */
  readonly id: Id;
  /** Sort key of a partition item; undefined for a plain record. */
  readonly sortKey: string | undefined;
  readonly uri: string | undefined;
  readonly type: string;
  readonly version: number;
  readonly contentType: string;
  /** A tombstone: the record is deleted (kept so that the deletion replicates). */
  readonly deleted: boolean;
  /** When the root wrote this version (env ms). */
  readonly writtenAt: number;
  /** Size of the body as stored (JSON characters). */
  readonly bytes: number;
  readonly body: T;
}

/**
 * A record as replicas store and exchange it. Field names are short because every write carries
 * one per replica; the body stays an opaque JSON string below the client API (replicas never
 * parse it, and nothing can alias a stored body).
 */
export interface StoredItem {
  /** Storage key: the id's 40 hex digits, plus `/` and the sort key for partition items. */
  k: string;
  /** Version, from 1. */
  v: number;
  /** Id of the operation that wrote this version (idempotent retries recognise it). */
  op: string;
  /**
   * Operations that wrote the recent previous versions, oldest first, as [op id, written at]:
   * those within `opMemoryMs`, at most `opHistory` of them.
   */
  h: [string, number][];
  /**
   * When entries were dropped from `h` for want of room (not age): a retry first sent before this
   * cannot be told apart from a new write. 0 when nothing was dropped that way.
   */
  hf: number;
  /** Tombstone. */
  d: boolean;
  /** Entity type. */
  t: string;
  /** Resource URI. */
  u: string | null;
  /** Content type. */
  ct: string;
  /** Body: the entity as JSON text. */
  b: string;
  /** Written at (env ms at the root). */
  at: number;
  /**
   * CRC32 of all the fields above, set by the root (see `item-checksum.ts`); checked on arrival
   * and on every read from the storage engine. Absent on items written before checksums.
   */
  c?: number;
}

/** The part of a stored item that anti-entropy compares. */
export interface ItemSummary {
  k: string;
  v: number;
  op: string;
  d: boolean;
}

/**
 * What a digest read learns of a replica's copy: its summary and its checksum (`c`, absent for
 * items written before checksums), not its content.
 */
export interface ItemDigest extends ItemSummary {
  c?: number;
}

/** Tunables of a {@link Dht}. */
export interface DhtOptions {
  /** Replica set size: the root plus its nearest neighbours. Default 4. */
  replicas: number;
  /** Replicas that must have stored a write durably before it is acknowledged. Default 3 (fewer in a smaller replica set: `quorumsFor`). */
  writeQuorum: number;
  /** Replica answers a read waits for (the root's own copy counts). Default 3 (fewer in a smaller replica set: `quorumsFor`). */
  readQuorum: number;
  /** Largest body (JSON bytes). Default 1 MiB. */
  maxRecordBytes: number;
  /** Conflict retries of `update` before it gives up. Default 10. */
  updateRetries: number;
  /** Base of the jittered exponential backoff between update attempts. Default 20 ms. */
  updateBackoffMs: number;
  /** Overall deadline of one client operation, retries included. Default 10 s. */
  operationTimeoutMs: number;
  /** Wait for one attempt's reply before retrying. Default 2 s. */
  attemptTimeoutMs: number;
  /** Wait for one replica's answer at the root. Default 1.5 s. */
  replicaTimeoutMs: number;
  /** After the read quorum answered, wait at most this long for the other replicas. Default 30 ms. */
  readGraceMs: number;
  /**
   * A leaf-set member counts as in sync for reads this long after it arrived (handoff is done by
   * then). Until then reads ask every replica. Default 3 s.
   */
  settleMs: number;
  /** Delay that batches leaf-set changes before records are handed to new holders. Default 200 ms. */
  handoffDelayMs: number;
  /** Period of the anti-entropy pass (each node syncs its root range with its replicas). Default 30 s. */
  antiEntropyIntervalMs: number;
  /** Item summaries per anti-entropy listing page (a large partition is compared page by page). Default 2000. */
  antiEntropyPageSize: number;
  /**
   * A partition of more items than this (both replicas' counts together) whose digests differ is
   * compared item by item with a given peer at most once per
   * {@link antiEntropyLargePartitionIntervalMs}. Every item of a partition shares one ring
   * position, so its digests cannot be refined below the whole partition, and writes in flight
   * make a busy partition differ at almost every pass: without the limit each pass would list
   * all of it. Default 10,000.
   */
  antiEntropyLargePartitionItems: number;
  /** See {@link antiEntropyLargePartitionItems}. Default 10 minutes. */
  antiEntropyLargePartitionIntervalMs: number;
  /** Period of housekeeping (tombstone removal, dropping records held out of place). Default 60 s. */
  housekeepingIntervalMs: number;
  /** Tombstones are removed this long after they were written. Default 7 days. */
  tombstoneGraceMs: number;
  /** Records this node holds without being in their replica set are dropped after this. Default 10 min. */
  strayGraceMs: number;
  /**
   * Stored items each housekeeping pass reads back to check their checksums (the record scrub),
   * continuing where the last pass stopped. Default 20 000 (1.2 million an hour at the default
   * period). 0 turns the scrub off (reads still check what they read).
   */
  recordScrubItems: number;
  /** Operation ids remembered per record for idempotent retries (at most). Default 64. */
  opHistory: number;
  /** How long a record remembers the operations that wrote it. Default 15 s (> operationTimeoutMs + clock skew). */
  opMemoryMs: number;
  /** Largest clock difference assumed between nodes (retries carry the writer's time). Default 2 s. */
  maxClockSkewMs: number;
  /** Content type recorded for entities. Default `application/json`. */
  contentType: string;
  /**
   * Replica messages a root keeps unanswered per peer; requests made meanwhile leave together in
   * one batch. Default 2.
   */
  replicaBatchWindow: number;
  /** Most replica requests in one batch. Default 64. */
  replicaBatchMaxRequests: number;
}

export const DEFAULT_DHT_OPTIONS: DhtOptions = {
  replicas: 4,
  writeQuorum: 3,
  readQuorum: 3,
  maxRecordBytes: 1024 * 1024,
  updateRetries: 10,
  updateBackoffMs: 20,
  operationTimeoutMs: 10_000,
  attemptTimeoutMs: 2_000,
  replicaTimeoutMs: 1_500,
  readGraceMs: 30,
  settleMs: 3_000,
  handoffDelayMs: 200,
  antiEntropyIntervalMs: 30_000,
  antiEntropyPageSize: 2_000,
  antiEntropyLargePartitionItems: 10_000,
  antiEntropyLargePartitionIntervalMs: 600_000,
  housekeepingIntervalMs: 60_000,
  tombstoneGraceMs: 7 * 24 * 3600_000,
  strayGraceMs: 600_000,
  recordScrubItems: 20_000,
  opHistory: 64,
  opMemoryMs: 15_000,
  maxClockSkewMs: 2_000,
  contentType: 'application/json',
  replicaBatchWindow: 2,
  replicaBatchMaxRequests: 64,
};

/** Counters of one DHT node (exported as metrics by the ops layer). */
export interface DhtStats {
  /** Client operations started on this node, by kind. */
  ops: Record<string, number>;
  /** Client operations that failed, by error code. */
  errors: Record<string, number>;
  /** Client retries after a timeout or unavailable replica set. */
  retries: number;
  /** Version conflicts met by `update` (each causes a re-read). */
  updateConflicts: number;
  /** Sum (ms) and count of client operation latencies, by kind. */
  latencyMsSum: Record<string, number>;
  /** Operations coordinated here as root, by kind. */
  coordinated: Record<string, number>;
  /** Writes the root served without a read round (it knew the current version). */
  fastWrites: number;
  /** Replica batches this root sent, and the requests they carried (their ratio is the mean batch). */
  replicaBatches: number;
  replicaBatchedRequests: number;
  /** Stale or missing copies repaired after reads. */
  readRepairs: number;
  /** Digests (R_DIGEST) and full copies (R_GET) this node's quorum reads asked other replicas for. */
  readDigests: number;
  readFullCopies: number;
  /**
   * Quorum reads whose full copy in hand was not the newest the digests showed (a replica held a
   * newer version, or the full copy's replica did not answer): the winner was fetched.
   */
  readDigestMismatches: number;
  /** Digest requests a replica refused as unknown (an older release): asked again with R_GET. */
  readDigestFallbacks: number;
  /** Replica replies to reads ignored as malformed (wrong shape or key), counted as no answer. */
  replicaRepliesMalformed: number;
  /** Items applied on this replica (writes, repairs, handoffs). */
  itemsStored: number;
  /** Items sent to new holders after leaf-set changes or before leaving. */
  itemsHandedOff: number;
  /** Storage keys looked at by hand-offs (after leaf-set changes: only those near a changed node). */
  handoffKeysExamined: number;
  /** Anti-entropy exchanges run, and items they transferred. */
  antiEntropyRounds: number;
  antiEntropyItems: number;
  /** Anti-entropy messages sent (digests, listings, transfers). */
  antiEntropyMessages: number;
  /** Differing large partitions whose item-by-item comparison was put off (see `antiEntropyLargePartitionItems`). */
  antiEntropyPartitionsDeferred: number;
  /** Tombstones removed after their grace period. */
  tombstonesRemoved: number;
  /** Records dropped because this node no longer belongs to their replica set. */
  straysDropped: number;
  /** Stored items found damaged (checksum mismatch) and quarantined; anti-entropy restores them. */
  recordsCorrupt: number;
  /** Items refused on arrival because they did not match their checksum. */
  recordsRefusedCorrupt: number;
  /** Records quarantined here for which no good copy was found on the ring (every copy damaged). */
  recordsUnrestored: number;
  /** Stored items the record scrub read back, and its completed passes over the whole store. */
  recordsScrubbed: number;
  recordScrubPasses: number;
  /** Items written before checksums existed that this node sealed (on arrival or by the scrub). */
  recordsSealed: number;
  /**
   * Starts after a long absence at which this node checked with its peers whether its store had
   * gone stale (see stale-store.ts), stores found stale and set aside, and the items they held.
   */
  staleChecks: number;
  staleStoresSetAside: number;
  staleItemsDropped: number;
}

export function emptyDhtStats(): DhtStats {
  return {
    ops: {},
    errors: {},
    retries: 0,
    updateConflicts: 0,
    latencyMsSum: {},
    coordinated: {},
    fastWrites: 0,
    replicaBatches: 0,
    replicaBatchedRequests: 0,
    readRepairs: 0,
    readDigests: 0,
    readFullCopies: 0,
    readDigestMismatches: 0,
    readDigestFallbacks: 0,
    replicaRepliesMalformed: 0,
    itemsStored: 0,
    itemsHandedOff: 0,
    handoffKeysExamined: 0,
    antiEntropyRounds: 0,
    antiEntropyItems: 0,
    antiEntropyMessages: 0,
    antiEntropyPartitionsDeferred: 0,
    tombstonesRemoved: 0,
    recordsCorrupt: 0,
    recordsRefusedCorrupt: 0,
    recordsUnrestored: 0,
    recordsScrubbed: 0,
    recordScrubPasses: 0,
    recordsSealed: 0,
    straysDropped: 0,
    staleChecks: 0,
    staleStoresSetAside: 0,
    staleItemsDropped: 0,
  };
}
