/**
 * LMDB storage engine for real nodes, and the node's persistent identity.
 *
 * One LMDB environment per node directory with three named databases: `items` (storage key →
 * item), `meta` (the node id, so that a node restarted on the same directory keeps its place on the
 * ring) and `quarantine` (damaged items moved aside, kept for an operator). lmdb-js batches concurrent writes into one transaction and resolves each write's promise
 * once that transaction is committed and flushed to disk: a replica acknowledges only after that.
 * Reads are synchronous; writes not yet committed are served from a small overlay so that a
 * replica reads its own writes at once.
 */
import { mkdirSync } from 'node:fs';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { Id } from '../../id/index.ts';
import type { StoredItem } from '../types.ts';
import type { QuarantinedItem, StorageEngine } from './types.ts';

/** Options of {@link LmdbStorage.open}. */
export interface LmdbStorageOptions {
  /** Maximum size of the memory map (bytes). Default 8 GiB (grows on demand up to it). */
  mapSize?: number;
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

  private constructor(
    private readonly root: RootDatabase,
    private readonly items: Database<StoredItem, string>,
    readonly meta: Database<unknown, string>,
    private readonly damaged: Database<QuarantinedItem, string>,
  ) {}

  /** Opens (creating if needed) the storage in directory `dir`. */
  static open(dir: string, options: LmdbStorageOptions = {}): LmdbStorage {
    mkdirSync(dir, { recursive: true });
    const root = open({ path: dir, compression: false, mapSize: options.mapSize ?? 8 * 1024 ** 3, overlappingSync: options.overlappingSync ?? false });
    const items = root.openDB<StoredItem, string>({ name: 'items' });
    const meta = root.openDB<unknown, string>({ name: 'meta' });
    const damaged = root.openDB<QuarantinedItem, string>({ name: 'quarantine' });
    return new LmdbStorage(root, items, meta, damaged);
  }

  get(key: string): StoredItem | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p ?? undefined;
    return this.items.get(key);
  }

  put(item: StoredItem): Promise<void> {
    this.pending.set(item.k, item);
    return this.items.put(item.k, item).then(() => this.settle(item.k, item));
  }

  remove(key: string): Promise<void> {
    this.pending.set(key, null);
    return this.items.remove(key).then(() => this.settle(key, null));
  }

  /**
   * Moves a damaged item to the `quarantine` database, in one transaction. The transaction runs
   * after writes queued before it but maybe after later ones too: a good copy written meanwhile
   * (a read repair) must survive, so the item is removed only if it is still the damaged one.
   */
  quarantine(item: StoredItem, at: number): Promise<void> {
    if (!this.pending.has(item.k)) this.pending.set(item.k, null);
    return this.root
      .transaction(() => {
        this.damaged.putSync(item.k, { ...item, qa: at });
        const cur = this.items.get(item.k);
        if (cur && cur.v === item.v && cur.op === item.op && cur.c === item.c && cur.b === item.b) this.items.removeSync(item.k);
      })
      .then(() => this.settle(item.k, null));
  }

  get quarantinedCount(): number {
    return this.damaged.getCount();
  }

  *quarantined(): Generator<QuarantinedItem> {
    for (const { value } of this.damaged.getRange({})) yield value;
  }

  async clearQuarantine(): Promise<number> {
    const n = this.damaged.getCount();
    await this.damaged.clearAsync();
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.flushed;
    await this.root.close();
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
  const storage = LmdbStorage.open(dir, options);
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
