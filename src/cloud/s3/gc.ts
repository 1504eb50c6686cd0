/**
 * Garbage collection of chunks, by reference records with a grace period.
 *
 * Chunks are content-addressed and may be shared (identical data, copies, completed multipart
 * uploads), so a chunk is never deleted because one object stopped using it. Instead every user
 * of a chunk holds a reference record in the chunk's partition `s3ref:<hash>` — an object version
 * (`o:<version id>`) or an upload part (`p:<upload>:<part>:<part version>`) — written after the
 * chunk is stored and *before* the index entry that uses it; replacing or deleting an object, or
 * finishing an upload, drops the references of what is gone (tombstones).
 *
 * The root of a chunk's position sweeps it periodically and deletes it on its whole replica set
 * only when all of these hold:
 * - no live reference (references whose owner is gone are dropped first: a part whose upload or
 *   part record is gone; an object version not in the index any more and older than
 *   `orphanRefMs`, which covers uploads in progress);
 * - the last reference was dropped more than `graceMs` ago (a GET that read the old index entry
 *   may still be streaming the chunk);
 * - every replica answered and last stored the chunk more than `graceMs` ago (a PUT stores the
 *   chunk before it writes its reference: a fresh store time means a reference may be on its way).
 * Each replica deletes only if its own store time is still that old, so a concurrent store of the
 * same bytes wins over the deletion.
 *
 * A node also examines the old copies it holds of chunks whose root holds none: what a collection
 * leaves behind on a member that was down meanwhile, or on a node holding the copy out of place.
 * The root never sees those, and re-replication would spread them to the set again.
 */
import type { Env, Logger, Timer } from '../../env/index.ts';
import type { Catalog } from './catalog.ts';
import { chunkId } from './chunks/store.ts';
import type { ChunkStore } from './chunks/store.ts';
import { ids, partSortKey } from './model.ts';
import type { PartEntry, RefEntry, UploadEntry } from './model.ts';
import { UPLOAD_SEPARATOR } from './model.ts';
import type { S3Options } from './options.ts';
import { sweepEvery } from './periodic.ts';
import { VersionCatalog } from './version-catalog.ts';

/** Counters of the collector. */
export interface CollectorStats {
  sweeps: number;
  examined: number;
  collected: number;
  orphanRefsDropped: number;
  errors: number;
}

export class ChunkCollector {
  readonly stats: CollectorStats = { sweeps: 0, examined: 0, collected: 0, orphanRefsDropped: 0, errors: 0 };
  private timer: Timer | undefined;
  private running = false;
  private stopped = false;
  /** Chunks found referenced, with when: not examined again for `graceMs`. */
  private readonly referenced = new Map<string, number>();
  private readonly log: Logger;
  /** Noncurrent versions, whose chunks are referenced too. */
  private readonly versions: VersionCatalog;

  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
    private readonly store: ChunkStore,
    private readonly options: S3Options['gc'],
  ) {
    this.log = env.log.child({ mod: 's3.gc' });
    this.versions = new VersionCatalog(catalog.dht);
  }

  start(): void {
    this.stopped = false;
    this.timer?.cancel();
    this.timer = sweepEvery(this.env, this.options.intervalMs, () => this.sweep());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** One pass over the chunks this node is the root of; resolves with the number collected. */
  async sweep(): Promise<number> {
    if (this.running || !this.store.node.isReady) return 0;
    this.running = true;
    this.stats.sweeps++;
    let collected = 0;
    try {
      const now = this.env.now();
      const old = now - this.options.graceMs;
      /** Old copies of chunks this node is not the root of. */
      const elsewhere: string[] = [];
      const examine = async (hash: string): Promise<void> => {
        this.stats.examined++;
        try {
          if (await this.collect(hash, now)) collected++;
        } catch (err) {
          this.stats.errors++;
          this.log.debug({ event: 's3.gcFailed', hash, err: (err as Error).message }, 'could not examine a chunk');
        }
      };
      for (const [hash, meta] of this.store.engine.entries()) {
        if (this.stopped) break;
        if (meta.t > old) continue;
        const checked = this.referenced.get(hash);
        if (checked !== undefined && checked > old) continue;
        if (!this.store.node.isRoot(chunkId(hash))) {
          elsewhere.push(hash);
          continue;
        }
        await examine(hash);
      }
      // Those whose root holds none: nobody else would examine them.
      if (!this.stopped && elsewhere.length > 0) {
        for (const hash of await this.store.rootless(elsewhere)) {
          if (this.stopped) break;
          await examine(hash);
        }
      }
      for (const [hash, at] of this.referenced) if (at <= old) this.referenced.delete(hash);
    } finally {
      this.running = false;
    }
    if (collected > 0) this.log.info({ event: 's3.gc', collected }, `collected ${collected} unreferenced chunk(s)`);
    return collected;
  }

  private async collect(hash: string, now: number): Promise<boolean> {
    const old = now - this.options.graceMs;
    const refs = await this.catalog.refsOf(hash);
    let live = 0;
    let lastDropped = refs.lastDroppedAt;
    for (const { id, ref } of refs.live) {
      if (await this.alive(id, ref, now)) {
        live++;
        continue;
      }
      await this.catalog.dropRefs([hash], id);
      this.stats.orphanRefsDropped++;
      lastDropped = now;
    }
    if (live > 0) {
      this.referenced.set(hash, now);
      return false;
    }
    if (lastDropped > old) return false;
    const copies = await this.store.statAll(hash);
    if (copies.some((c) => c.meta === undefined || (c.meta !== null && c.meta.t > old))) return false;
    let removed = await this.store.removeEverywhere(hash, old);
    // This node's own copy, when it is not in the chunk's set (a copy left out of place).
    if (!copies.some((c) => c.member.id.hex === this.store.node.id.hex) && (await this.store.engine.remove(hash, old))) removed++;
    if (removed > 0) this.stats.collected++;
    return removed > 0;
  }

  /** Whether the owner of a reference still exists. */
  private async alive(id: string, ref: RefEntry, now: number): Promise<boolean> {
    const dht = this.catalog.dht;
    if (id.startsWith('p:')) {
      const [, uploadId, n, pv] = id.split(':');
      if (!uploadId || !n || !pv || !ref.b || !ref.i || ref.k === undefined) return false;
      const part = await dht.getItem<PartEntry>(ids.parts(uploadId), partSortKey(Number(n)));
      if (!part || part.deleted || part.body.pv !== pv) return now - ref.at < this.options.orphanRefMs;
      const upload = await dht.getItem<UploadEntry>(ids.uploads({ name: ref.b, inc: ref.i }), ref.k + UPLOAD_SEPARATOR + uploadId);
      return upload !== undefined && !upload.deleted;
    }
    if (!ref.b || !ref.i || ref.k === undefined || !ref.v) return false;
    const bucket = { name: ref.b, inc: ref.i } as Parameters<Catalog['getObject']>[0];
    const entry = await this.catalog.getObject(bucket, ref.k);
    if (entry && entry.vid === ref.v) return true;
    // A noncurrent version of a versioned bucket (its versions are read only when the current one is not it).
    for await (const v of this.versions.noncurrent(bucket, ref.k)) if (v.entry.vid === ref.v) return true;
    // Not (or no longer) in the index: an upload in progress, or a version replaced or never written.
    return now - ref.at < this.options.orphanRefMs;
  }
}
