/**
 * LMDB storage engine for real nodes, and the node's persistent identity.
 *
 * One LMDB environment per node directory with four named databases: `items` (storage key →
 * item), `index` (storage key → the item's index entry, see types.ts), `meta` (the node id, so
 * that a node restarted on the same directory keeps its place on the ring) and `quarantine`
 * (damaged items moved aside, kept for an operator). lmdb-js batches the writes of one event turn
 * into one transaction and resolves each write's promise once that transaction is committed and
 * flushed to disk: a replica acknowledges only after that. An item and its index entry are written
 * in the same turn, so they are committed together. Reads are synchronous; writes not yet
 * committed are served from a small overlay so that a replica reads its own writes at once.
 */
import { mkdirSync } from 'node:fs';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { Id } from '../../id/index.ts';
import { DiskFullError, StorageFailedError } from '../errors.ts';
import type { StoredItem } from '../types.ts';
import { compareUtf8 } from './sorted.ts';
import { admitItem, isNoSpaceError } from './space.ts';
import type { SpaceGuard } from './space.ts';
import { indexEntryOf } from './types.ts';
import type { IndexedItem, QuarantinedItem, StorageEngine } from './types.ts';

/** An index entry as stored: version, operation id, tombstone (1) or not (0), written at. */
type StoredEntry = [number, string, number, number];

/**
 * A storage key as the index database's key: its UTF-8 bytes, compared as bytes (UTF-8 order).
 * (lmdb-js's default key encoding reads a string holding U+0001 back as an array: S3 multipart
 * keys hold one.)
 */
function indexKey(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/** `meta` key of the index format; absent in stores from before the index: it is built at open. */
const INDEX_FORMAT_KEY = 'indexFormat';
const INDEX_FORMAT = 1;
/** Index entries written per batch (awaited before the next) when building the index of an older store. */
const INDEX_BUILD_PAGE = 10_000;

function ignore(): void {}

/** Entries in an LMDB database, from its statistics (constant time). */
function entryCount(db: { getStats(): unknown }): number {
  return (db.getStats() as { entryCount: number }).entryCount;
}

function packEntry(item: StoredItem): StoredEntry {
  return [item.v, item.op, item.d ? 1 : 0, item.at];
}

function unpackEntry(k: string, e: StoredEntry): IndexedItem {
  return { k, v: e[0], op: e[1], d: e[2] === 1, at: e[3] };
}

/** LMDB's `MDB_MAP_FULL`: the map is full (lmdb-js grows the map instead; only a failed growth leaves it). */
const MDB_MAP_FULL = -30792;

/**
 * The error a failed write of lmdb-js rejects with says only "Commit failed"; the cause is in its
 * `commitError`, a promise rejected with the transaction's error (once for all the writes of the
 * transaction: every write that failed reads it, so it is not left unhandled). A full
 * disk (ENOSPC, EDQUOT, a map that could not grow) becomes `DiskFull`, anything else
 * `StorageFailed`.
 */
async function commitFailure(err: unknown): Promise<Error> {
  const commit = (err as { commitError?: unknown } | null)?.commitError;
  const cause = commit instanceof Promise ? await commit.then(() => err, (e: unknown) => e) : err;
  const message = (cause as { message?: string } | null)?.message ?? String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  if (isNoSpaceError(cause) || code === MDB_MAP_FULL) return new DiskFullError(`LMDB could not commit a write for want of space: ${message}`);
  return new StorageFailedError(`LMDB could not commit a write: ${message}`);
}

/** Options of {@link LmdbStorage.open}. */
export interface LmdbStorageOptions {
  /**
   * Initial size of the memory map (bytes). Default 8 GiB. Not a limit: lmdb-js grows the map when
   * a write needs more (LMDB itself would fail with MDB_MAP_FULL), so a node's store is bounded by
   * its disk (and the storage reserve, `space`), not by this.
   */
  mapSize?: number;
  /** The storage reserve of the directory's file system: writes it refuses fail with `DiskFull` (space.ts). */
  space?: SpaceGuard;
  /**
   * lmdb-js's overlapping sync (flush after the commit, in parallel with the next). Default false:
   * each commit is synced as part of it, which measured several times faster per commit here
   * (ext4), and a write's promise still resolves only once it is on disk either way.
   */
  overlappingSync?: boolean;
}

export class LmdbStorage implements StorageEngine {
  readonly kind = 'lmdb';
  /** Writes not yet committed: key → item, or null for a removal. */
  private readonly pending = new Map<string, StoredItem | null>();
  private closed = false;
  /** Run once the store is closed (its owner's clean-up, e.g. releasing a lock on the directory). */
  afterClose: (() => Promise<void>) | undefined;
  /** The storage reserve (space.ts), if the store has one. */
  space: SpaceGuard | undefined;

  private constructor(
    /** The store's directory. */
    readonly dir: string,
    private readonly root: RootDatabase,
    private readonly items: Database<StoredItem, string>,
    private readonly index: Database<StoredEntry, Buffer>,
    readonly meta: Database<unknown, string>,
    private readonly damaged: Database<QuarantinedItem, string>,
  ) {}

  /**
   * Opens (creating if needed) the storage in directory `dir`. A store written before the index
   * existed gets it built here, once (a walk over every item, some seconds per million).
   */
  static async open(dir: string, options: LmdbStorageOptions = {}): Promise<LmdbStorage> {
    mkdirSync(dir, { recursive: true });
    const root = open({ path: dir, compression: false, mapSize: options.mapSize ?? 8 * 1024 ** 3, overlappingSync: options.overlappingSync ?? false });
    const items = root.openDB<StoredItem, string>({ name: 'items' });
    const index = root.openDB<StoredEntry, Buffer>({ name: 'index', keyEncoding: 'binary' });
    const meta = root.openDB<unknown, string>({ name: 'meta' });
    const damaged = root.openDB<QuarantinedItem, string>({ name: 'quarantine' });
    const storage = new LmdbStorage(dir, root, items, index, meta, damaged);
    storage.space = options.space;
    if (meta.get(INDEX_FORMAT_KEY) !== INDEX_FORMAT || !storage.indexCountMatches()) await storage.buildIndex();
    return storage;
  }

  /**
   * Whether the index holds as many entries as there are items (LMDB keeps both counts: no walk).
   * They differ if something wrote the items without the index, e.g. a release from before it
   * run on this directory after this one: the index is then built again.
   */
  private indexCountMatches(): boolean {
    return entryCount(this.items) === entryCount(this.index);
  }

  /**
   * Builds the index from the items, page by page, through lmdb-js's ordinary batched writes;
   * marked done only once complete, so an interrupted build starts over. Entries such a build
   * left are overwritten, and those whose item is gone removed (no bulk clear: freeing that many
   * pages at once before heavy writes tripped an LMDB free-list assertion at a million entries).
   */
  private async buildIndex(): Promise<void> {
    const leftOver = this.index.getKeysCount({ limit: 1 }) > 0;
    let start: string | undefined;
    for (;;) {
      const writes: Promise<boolean>[] = [];
      let last: string | undefined;
      for (const { value } of this.items.getRange(start === undefined ? { limit: INDEX_BUILD_PAGE } : { start, limit: INDEX_BUILD_PAGE + 1 })) {
        if (value.k === start) continue;
        writes.push(this.index.put(indexKey(value.k), packEntry(value)));
        last = value.k;
      }
      if (last === undefined) break;
      await Promise.all(writes);
      start = last;
    }
    if (leftOver) {
      const removals: Promise<boolean>[] = [];
      for (const raw of this.index.getKeys({})) {
        if (!this.items.doesExist(raw.toString('utf8'))) removals.push(this.index.remove(raw));
      }
      await Promise.all(removals);
    }
    await this.meta.put(INDEX_FORMAT_KEY, INDEX_FORMAT);
  }

  get(key: string): StoredItem | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p ?? undefined;
    return this.items.get(key);
  }

  /** Why the storage reserve would refuse `item` now (`DiskFull`; see {@link admitItem}), or undefined. */
  refusal(item: StoredItem): Error | undefined {
    return this.admit(item, false);
  }

  private admit(item: StoredItem, count: boolean): Error | undefined {
    return this.space ? admitItem(this.space, item, this.get(item.k), count) : undefined;
  }

  /**
   * Stores `item`; resolves once committed and flushed. Refused by the storage reserve, it
   * rejects with `DiskFull` and nothing changes; a commit that fails (a full disk all the same)
   * rejects with `DiskFull` or `StorageFailed`, and the item is no longer served (reads see what
   * was committed before).
   */
  put(item: StoredItem): Promise<void> {
    const refused = this.admit(item, true);
    if (refused) return Promise.reject(refused);
    this.pending.set(item.k, item);
    // Same event turn, same transaction: the item and its entry are committed together (the
    // entry's failure is the item's, reported through the item's promise).
    this.index.put(indexKey(item.k), packEntry(item)).catch(ignore);
    return this.items.put(item.k, item).then(
      () => this.settle(item.k, item),
      (err: unknown) => this.writeFailed(item.k, item, err),
    );
  }

  /**
   * Removes `key`; resolves once committed. Refused (`DiskFull`, nothing changes) only when the
   * disk is in its last bytes, where any commit could fail (space.ts).
   */
  remove(key: string): Promise<void> {
    const refused = this.space?.admit(0, 'remove', 'dht');
    if (refused) return Promise.reject(refused);
    this.pending.set(key, null);
    this.index.remove(indexKey(key)).catch(ignore);
    return this.items.remove(key).then(
      () => this.settle(key, null),
      (err: unknown) => this.writeFailed(key, null, err),
    );
  }

  /** A write that did not commit: no longer served, the cause reported (and a full disk told to the reserve). */
  private async writeFailed(key: string, value: StoredItem | null, err: unknown): Promise<never> {
    this.settle(key, value);
    // lmdb-js starts each event turn's batch with a write of its own whose promise nobody holds:
    // when the commit fails it rejects too, unhandled. It is the store's current commit promise
    // now, in the same turn as this rejection: handled here.
    this.root.committed.then(ignore, ignore);
    const e = await commitFailure(err);
    if (e instanceof DiskFullError) this.space?.failed(e);
    throw e;
  }

  entry(key: string): IndexedItem | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p ? indexEntryOf(p) : undefined;
    const e = this.index.get(indexKey(key));
    return e ? unpackEntry(key, e) : undefined;
  }

  /** The committed entries merged with the writes not yet committed (few: those in flight). */
  *entries(start: string, end?: string): Generator<IndexedItem> {
    const inFlight: [string, StoredItem | null][] = [];
    for (const e of this.pending) {
      if (compareUtf8(e[0], start) >= 0 && (end === undefined || compareUtf8(e[0], end) < 0)) inFlight.push(e);
    }
    inFlight.sort((a, b) => compareUtf8(a[0], b[0]));
    let i = 0;
    const range = end === undefined ? { start: indexKey(start) } : { start: indexKey(start), end: indexKey(end) };
    for (const { key: raw, value } of this.index.getRange(range)) {
      const key = raw.toString('utf8');
      for (; i < inFlight.length && compareUtf8(inFlight[i]![0], key) < 0; i++) {
        const item = inFlight[i]![1];
        if (item) yield indexEntryOf(item);
      }
      if (i < inFlight.length && inFlight[i]![0] === key) {
        const item = inFlight[i++]![1];
        if (item) yield indexEntryOf(item);
        continue;
      }
      yield unpackEntry(key, value);
    }
    for (; i < inFlight.length; i++) {
      const item = inFlight[i]![1];
      if (item) yield indexEntryOf(item);
    }
  }

  /**
   * Moves a damaged item to the `quarantine` database, in one transaction. The transaction runs
   * after writes queued before it but maybe after later ones too: a good copy written meanwhile
   * (a read repair) must survive, so the item is removed only if it is still the damaged one.
   */
  quarantine(item: StoredItem, at: number): Promise<void> {
    // A move (the bytes stay the same), refused only below half the storage reserve.
    const refused = this.space?.admit(0, 'keep', 'dht');
    if (refused) return Promise.reject(refused);
    if (!this.pending.has(item.k)) this.pending.set(item.k, null);
    return this.root
      .transaction(() => {
        this.damaged.putSync(item.k, { ...item, qa: at });
        const cur = this.items.get(item.k);
        if (cur && cur.v === item.v && cur.op === item.op && cur.c === item.c && cur.b === item.b) {
          this.items.removeSync(item.k);
          this.index.removeSync(indexKey(item.k));
        }
      })
      .then(
        () => this.settle(item.k, null),
        (err: unknown) => this.writeFailed(item.k, null, err),
      );
  }

  get quarantinedCount(): number {
    return this.damaged.getCount();
  }

  *quarantined(): Generator<QuarantinedItem> {
    for (const { value } of this.damaged.getRange({})) yield value;
  }

  async clearQuarantine(): Promise<number> {
    const n = this.damaged.getCount();
    await this.damaged.clearAsync().catch(async (err: unknown) => {
      throw await commitFailure(err);
    });
    return n;
  }

  private settle(key: string, value: StoredItem | null): void {
    if (this.pending.get(key) === value) this.pending.delete(key);
  }

  *range(start: string, end?: string): Generator<StoredItem> {
    const options = end === undefined ? { start } : { start, end };
    for (const { value } of this.items.getRange(options)) yield value;
  }

  get size(): number {
    return this.items.getCount();
  }

  getMeta(key: string): unknown {
    return this.meta.get(key);
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    await this.meta.put(key, value).catch(async (err: unknown) => {
      throw await commitFailure(err);
    });
  }

  /**
   * A copy of the whole environment (every database) in the new directory `<dir>-<label>`, beside
   * this one. (No dot in the name: lmdb-js takes a path with an extension for a single file.)
   */
  async copyAside(label: string): Promise<string> {
    const path = `${this.dir}-${label}`;
    mkdirSync(path); // a new directory: an existing one (a copy already made) is an error
    await this.root.flushed;
    await this.root.backup(path, false);
    return path;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.root.flushed;
      await this.root.close();
    } finally {
      await this.afterClose?.();
    }
  }
}

/** Options of {@link openNodeStorage}. */
export interface OpenNodeStorageOptions extends LmdbStorageOptions {
  /** Makes the id of a node whose directory has none yet (first start). */
  createId: () => Id;
}

/**
 * Opens a node's data directory: its storage and its id. On first start the id comes from
 * `createId` and is stored (durably) before this resolves; afterwards the stored id is returned,
 * so a node restarted on the same directory keeps its id and its records.
 */
export async function openNodeStorage(dir: string, options: OpenNodeStorageOptions): Promise<{ nodeId: Id; storage: LmdbStorage; created: boolean }> {
  const storage = await LmdbStorage.open(dir, options);
  const stored = storage.meta.get('nodeId');
  if (typeof stored === 'string') {
    const id = Id.tryParse(stored);
    if (!id) {
      await storage.close();
      throw new Error(`data directory ${dir} holds a malformed node id "${stored.slice(0, 60)}"`);
    }
    return { nodeId: id, storage, created: false };
  }
  const nodeId = options.createId();
  await storage.meta.put('nodeId', nodeId.hex);
  return { nodeId, storage, created: true };
}
