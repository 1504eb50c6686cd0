/**
 * The root's side of every client operation: it asks the key's replica set, waits for the
 * quorum, decides, and repairs what it found stale.
 *
 * Writes to one key are serialised here (a per-key queue), so concurrent conditional writes from
 * many clients are decided one after another against the same, current version. Right after a
 * write it coordinated, the root knows the current version and skips the read round for the next
 * write; that knowledge is dropped whenever its leaf set changes (it may no longer be the root,
 * or new replicas may not hold the key yet). Replicas refuse a version they already hold from a
 * different operation, so even a stale root cannot overwrite an acknowledged write.
 *
 * Reads ask one replica for the item and the others only for its digest (key, version,
 * operation, deleted flag, checksum), as Cassandra does: the coordinator's own copy serves when
 * it is a replica and holds one, so a read of a large record moves one copy instead of three.
 * A digest newer than the copy in hand makes it fetch the newer item before answering.
 */
import { Id } from '../id/index.ts';
import type { Env, Logger } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { RpcReply } from '../overlay/index.ts';
import { KnownItems } from './known-items.ts';
import { quorumsFor } from './quorum.ts';
import type { LocalStore, ApplyMode } from './local-store.ts';
import { appliedOp, compareItems, digestOf, isItemDigest, isStoredItem, keyPosition, makeItem } from './record.ts';
import { Kind } from './protocol.ts';
import type { ScanBody, ScanReplyBody, WriteBody, WriteReplyBody } from './protocol.ts';
import { compareUtf8 } from './storage/sorted.ts';
import type { DhtOptions, DhtStats, ItemDigest, ItemSummary, StoredItem } from './types.ts';

/** How the coordinator reaches replicas (the node itself included). */
export interface ReplicaChannel {
  /** This node's handle. */
  readonly self: NodeHandle;
  /** The replica set of a ring position, as this node sees it. */
  replicaSet(position: Id): NodeHandle[];
  /** Sends a replica request to `to` (handled locally when `to` is this node). */
  ask(to: NodeHandle, kind: string, body: unknown): Promise<unknown>;
  /** Current leaf-set epoch (changes whenever the leaf set does). */
  epoch(): number;
  /**
   * Whether `h` has been a neighbour long enough to have received the records it replicates
   * (a node that just arrived may not hold them yet, so reads do not rely on it alone).
   */
  settled(h: NodeHandle): boolean;
}

interface ReadResult {
  best: StoredItem | undefined;
  answers: number;
  needed: number;
  /** The newest version the replicas reported could not be fetched whole: no answer. */
  missing?: boolean;
}

/** What one replica answered a read: a digest of its copy, and the copy when it sent it. */
interface ReadAnswer {
  h: NodeHandle;
  /** Its copy's digest; undefined when it holds none (or none intact). */
  s: ItemDigest | undefined;
  /** Its copy, when it was asked for it (checked against its checksum). */
  item?: StoredItem;
}

/** A replica's reply to a read request, checked. */
type ReadReply = Omit<ReadAnswer, 'h'>;

/** How long a replica that refused R_DIGEST (an older release) is asked with R_GET instead. */
export const DIGEST_RETRY_MS = 10 * 60_000;
/** Replicas remembered as refusing digests (the oldest is forgotten first). */
const NO_DIGEST_LIMIT = 1024;

const KNOWN_LIMIT = 100_000;
/** Bytes of item bodies the known-items cache may hold. */
const KNOWN_BYTES = 64 * 1024 * 1024;
/** Operations this root completed recently (op id → key), for retries whose answer was lost. */
const RECENT_OPS_LIMIT = 100_000;

export class Coordinator {
  private readonly queues = new Map<string, (() => Promise<void>)[]>();
  private readonly known = new KnownItems(KNOWN_LIMIT, KNOWN_BYTES);
  /** Operations this root wrote recently: completed (on a quorum) or only attempted. */
  private readonly recentOps = new Map<string, { k: string; at: number; done: boolean }>();
  /** Writes started, numbered; the last one per key (a read that overlapped one must not prime `known`). */
  private writeSeq = 0;
  private readonly lastWrite = new Map<string, number>();
  private evictedWriteSeq = 0;
  /** Latest write time of an operation evicted from `recentOps` for want of room. */
  private recentEvictedAt = -Infinity;
  /** Replicas that refused R_DIGEST as unknown, with when: they get R_GET until DIGEST_RETRY_MS passed. */
  private readonly noDigest = new Map<string, number>();
  /** Malformed replies already logged (peer and kind), so a misbehaving peer is logged once. */
  private readonly badRepliesLogged = new Set<string>();
  /** When this root's view last changed (leaf set), and when it started. */
  private lastChange: number;
  private readonly startedAt: number;

  constructor(
    private readonly env: Env,
    private readonly store: LocalStore,
    private readonly channel: ReplicaChannel,
    private readonly options: DhtOptions,
    private readonly stats: DhtStats,
    private readonly log: Logger,
  ) {
    this.startedAt = this.lastChange = env.now();
  }

  // ---------------------------------------------------------------------------------------------
  // Client operations at the root

  /** Quorum read of one key (from `replicas`, its replica set, when the caller has it already). */
  async get(key: string, replicas: NodeHandle[] = this.channel.replicaSet(Id.parse(keyPosition(key)))): Promise<StoredItem | undefined> {
    this.count('get');
    const r = await this.readAll(key, replicas, undefined);
    if (r.answers < r.needed) throw unavailable(`read of ${key.slice(0, 8)}: ${r.answers} of ${r.needed} replicas answered`);
    if (r.missing) throw unavailable(`read of ${key.slice(0, 8)}: no replica sent the newest version`);
    return r.best;
  }

  /** A write, decided after the writes queued before it on the same key. */
  write(w: WriteBody): Promise<RpcReply> {
    this.count(`write.${w.m}`);
    return this.serial(w.k, () => this.doWrite(w));
  }

  /** Re-reads `key` with its replica set; stale copies are repaired. */
  async repair(key: string): Promise<void> {
    this.count('repair');
    const replicas = this.channel.replicaSet(Id.parse(keyPosition(key)));
    await this.readAll(key, replicas, undefined, true);
  }

  /** A page of a partition, merged from the replicas' pages. */
  async scan(body: ScanBody): Promise<ScanReplyBody> {
    this.count('scan');
    const replicas = this.channel.replicaSet(Id.parse(keyPosition(body.p)));
    const needed = quorumsFor(this.options, replicas.length).read;
    const pages = await this.gather<ScanReplyBody>(this.readTargets(replicas, needed), needed, (h) => this.channel.ask(h, Kind.R_SCAN, body) as Promise<ScanReplyBody>);
    if (pages.length < needed) throw unavailable(`scan: ${pages.length} of ${needed} replicas answered`);
    const merged = new Map<string, StoredItem>();
    // Keys past the end of a full page may exist on that replica: the merged page stops there.
    let horizon: string | undefined;
    let more = false;
    for (const { value } of pages) {
      for (const item of value.i) {
        const have = merged.get(item.k);
        if (!have || compareItems(item, have) > 0) merged.set(item.k, item);
      }
      if (value.more) {
        more = true;
        const last = value.i[value.i.length - 1];
        if (last && (horizon === undefined || compareUtf8(last.k, horizon) < 0)) horizon = last.k;
      }
    }
    let keys = [...merged.keys()].sort(compareUtf8);
    if (horizon !== undefined) keys = keys.filter((k) => compareUtf8(k, horizon) <= 0);
    if (keys.length > body.l) {
      keys = keys.slice(0, body.l);
      more = true;
    }
    return { i: keys.map((k) => merged.get(k)!), more };
  }

  /** Forgets every known version (the leaf set changed). */
  invalidate(): void {
    this.known.clear();
    this.lastChange = this.env.now();
  }

  // ---------------------------------------------------------------------------------------------

  private async doWrite(w: WriteBody): Promise<RpcReply> {
    this.noteWrite(w.k);
    const replicas = this.channel.replicaSet(Id.parse(keyPosition(w.k)));
    const needed = quorumsFor(this.options, replicas.length).write;
    let loser: string | undefined;
    for (let round = 0; round < 2; round++) {
      let cur: StoredItem | undefined;
      const recent = this.recentOps.get(w.op);
      const mine = recent !== undefined && recent.k === w.k;
      // A retry of a write this root only partly stored needs a fresh read to find it.
      const known = round === 0 && !(mine && !recent.done) ? this.knownItem(w.k) : undefined;
      if (known !== undefined) {
        cur = known ?? undefined;
        this.stats.fastWrites++;
      } else if (round === 0 && ((w.m === 'put' && w.x === 0) || w.m === 'wia') && w.f === undefined && !mine) {
        // Creating a record (a put expecting none, or a write-if-absent, which most often meets
        // none): no read round. Replicas refuse version 1 if they hold any version, and then the
        // next round reads: it reports the conflict, or finds the live record write-if-absent
        // leaves alone, or the tombstone it writes over.
        cur = undefined;
        this.stats.fastWrites++;
      } else {
        // After a refusal, every replica is read: those that took the refused write get repaired.
        const r = await this.readAll(w.k, replicas, loser, loser !== undefined);
        if (r.answers < r.needed) return unavailableReply(`${r.answers} of ${r.needed} replicas answered the read`);
        if (r.missing) return unavailableReply('no replica sent the newest version');
        cur = r.best;
      }
      if (cur && mine && recent.done) {
        // This root completed the operation; its answer was lost. (The current record is returned.)
        return ok({ w: true, i: cur });
      }
      if (cur && appliedOp(cur, w.op)) {
        // A retry of an operation that already applied (perhaps on too few replicas): finish it.
        if (cur.op !== w.op) return ok({ w: true, i: cur });
        const res = await this.replicate(cur, replicas, 'supersede', needed);
        if (res.acks >= needed) return ok({ w: true, i: cur });
        return diskFullReply(res, replicas.length, needed) ?? unavailableReply(`${res.acks} of ${needed} replicas stored the retried write`);
      }
      if (cur && w.f !== undefined && !mine && cur.hf !== 0 && cur.hf >= w.f - this.options.maxClockSkewMs && !this.coversSince(w.f)) {
        // The record forgot operations written since this write was first sent, and this root
        // cannot vouch that it never saw it: it may be one of them.
        return { code: 500, body: { error: 'OutcomeUnknown', message: 'the record no longer remembers whether this write applied' } };
      }
      const curV = cur?.v ?? 0;
      if ((w.m === 'put' && curV > w.x) || (w.m === 'cas' && curV !== w.x)) {
        return { code: 409, body: { error: 'VersionConflict', message: `a replica holds version ${curV}`, current: curV, expected: w.x } };
      }
      if (w.m === 'wia' && cur && !cur.d) return ok({ w: false, i: cur });
      const version = w.m === 'put' ? Math.max(w.x, curV) + 1 : curV + 1;
      const item = makeItem(w.k, { type: w.t, uri: w.u, deleted: w.d, json: w.b }, version, w.op, cur, { limit: this.options.opHistory, memoryMs: this.options.opMemoryMs }, this.env.now(), this.options.contentType);
      this.noteOp(w.op, w.k, false);
      const res = await this.replicate(item, replicas, 'write', needed);
      if (res.acks >= needed) {
        this.known.set(w.k, item, this.channel.epoch());
        this.noteOp(w.op, w.k, true);
        return ok({ w: true, i: item });
      }
      this.known.delete(w.k);
      if (!res.rejected) return diskFullReply(res, replicas.length, needed) ?? unavailableReply(`${res.acks} of ${needed} replicas stored the write`);
      // Our view was stale: a replica holds this version (or a later one) from another writer.
      // Re-read with the other writer preferred, which also repairs replicas that took ours.
      this.log.debug({ event: 'dht.staleRoot', key: w.k.slice(0, 8), have: res.rejected.v, tried: version }, 'write refused by a replica; re-reading');
      loser = w.op;
    }
    return unavailableReply('the replica set keeps refusing the write');
  }

  private noteOp(op: string, key: string, done: boolean): void {
    const now = this.env.now();
    const horizon = now - this.options.opMemoryMs;
    // Insertion order is time order: expire from the front.
    for (const [o, e] of this.recentOps) {
      if (e.at > horizon && this.recentOps.size < RECENT_OPS_LIMIT) break;
      this.recentOps.delete(o);
      if (e.at > horizon && e.at > this.recentEvictedAt) this.recentEvictedAt = e.at;
    }
    this.recentOps.delete(op);
    this.recentOps.set(op, { k: key, at: now, done });
  }

  /**
   * Whether this root has seen, without a gap, every write routed to it since `since` (writer's
   * clock, with a margin for skew): same leaf set and no forgotten operations since then. A write
   * first sent then and unknown here never reached it.
   */
  private coversSince(since: number): boolean {
    const t = since - this.options.maxClockSkewMs;
    return this.lastChange < t && this.startedAt < t && this.recentEvictedAt < t;
  }

  private knownItem(key: string): StoredItem | null | undefined {
    const k = this.known.get(key);
    if (!k) return undefined;
    if (k.epoch !== this.channel.epoch()) {
      this.known.delete(key);
      return undefined;
    }
    return k.item;
  }

  private noteWrite(key: string): void {
    this.lastWrite.delete(key);
    this.lastWrite.set(key, ++this.writeSeq);
    if (this.lastWrite.size > KNOWN_LIMIT) {
      const [k, seq] = this.lastWrite.entries().next().value!;
      this.lastWrite.delete(k);
      this.evictedWriteSeq = Math.max(this.evictedWriteSeq, seq);
    }
  }


  /**
   * Reads `key` from the read quorum (see {@link readTargets}; with `everyone`, from every
   * replica); resolves when all asked have answered (or failed), or the quorum has answered and
   * `readGraceMs` passed. One replica is asked for the item (this node's copy when it holds one),
   * the others for digests; if the newest version reported is not the copy in hand, it is fetched
   * from a replica that reported it. A settled replica not asked stands in for one that fails.
   * Once all have answered, those holding anything but the winner are repaired. `loser`: an
   * operation that must lose ties.
   */
  private readAll(key: string, all: NodeHandle[], loser: string | undefined, everyone = false): Promise<ReadResult> {
    const needed = quorumsFor(this.options, all.length).read;
    const targets = everyone ? all : this.readTargets(all, needed);
    const selfHex = this.channel.self.id.hex;
    const spares = all.filter((h) => h.id.hex !== selfHex && !targets.includes(h) && this.channel.settled(h));
    return new Promise<ReadResult>((resolve) => {
      const answers: ReadAnswer[] = [];
      let asked = 0;
      let settled = 0;
      let done = false;
      let grace: { cancel(): void } | undefined;
      const epoch = this.channel.epoch();
      const seq = this.writeSeq;
      // Full copies fetched after digests showed a version not in hand, by version and operation
      // (made only then: most reads fetch nothing).
      let fetched: Map<string, Promise<StoredItem | undefined>> | undefined;
      const copyOf = (best: ItemDigest): Promise<StoredItem | undefined> => {
        for (const a of answers) if (a.item && a.item.v === best.v && a.item.op === best.op) return Promise.resolve(a.item);
        const id = `${best.v}\u0000${best.op}`;
        fetched ??= new Map();
        let p = fetched.get(id);
        if (!p) {
          this.stats.readDigestMismatches++;
          const holders = answers.filter((a) => a.s && a.s.v === best.v && a.s.op === best.op).map((a) => a.h);
          p = this.fetchCopy(key, best, holders);
          fetched.set(id, p);
        }
        return p;
      };
      const conclude = (best: StoredItem | undefined, heard: ReadAnswer[], allSettled: boolean): void => {
        // Every replica answered the same: the next write here needs no read round.
        const quiet = !this.queues.has(key) && (this.lastWrite.get(key) ?? 0) <= seq && this.evictedWriteSeq <= seq;
        if (quiet && allSettled && heard.length === all.length && epoch === this.channel.epoch() && heard.every((a) => sameCopy(a.s, best))) {
          this.known.set(key, best ?? null, epoch);
        }
        resolve({ best, answers: heard.length, needed });
      };
      const finish = (): void => {
        if (done) return;
        done = true;
        grace?.cancel();
        const heard = answers.slice();
        const allSettled = settled === asked;
        const best = chooseBest(heard.map((a) => a.s), loser);
        if (!best) return conclude(undefined, heard, allSettled);
        void copyOf(best).then((item) => {
          if (item) conclude(item, heard, allSettled);
          else resolve({ best: undefined, answers: heard.length, needed, missing: true });
        });
      };
      const check = (): void => {
        if (settled === asked) {
          finish();
          this.repairAnswers(answers, loser, copyOf);
          return;
        }
        if (!done && !grace && answers.length >= needed) grace = this.env.setTimeout(finish, this.options.readGraceMs);
      };
      const ask = (h: NodeHandle, full: boolean): void => {
        asked++;
        (full ? this.readFull(h, key) : this.readDigest(h, key)).then(
          (reply) => {
            answers.push({ h, ...reply });
            settled++;
            check();
          },
          () => {
            // A spare takes its place (and its part: the full copy, if it was asked for that).
            const spare = done ? undefined : spares.shift();
            if (spare) ask(spare, full);
            settled++;
            check();
          },
        );
      };
      let haveCopy = false;
      for (const h of targets) {
        if (h.id.hex !== selfHex) continue;
        const item = this.store.get(key); // a damaged copy is quarantined here and reads as absent
        answers.push({ h, s: item && digestOf(item), item });
        haveCopy = item !== undefined;
        asked++;
        settled++;
      }
      for (const h of targets) {
        if (h.id.hex === selfHex) continue;
        ask(h, !haveCopy);
        haveCopy = true;
      }
      check();
    });
  }

  /** A replica's full copy of `key` (R_GET), checked: a malformed or damaged reply rejects. */
  private readFull(h: NodeHandle, key: string): Promise<ReadReply> {
    this.stats.readFullCopies++;
    return this.channel.ask(h, Kind.R_GET, { k: key }).then((b) => {
      const i = typeof b === 'object' && b !== null ? (b as { i?: unknown }).i : undefined;
      if (i === null) return { s: undefined };
      if (!isStoredItem(i) || i.k !== key) throw this.malformedReply(h, Kind.R_GET);
      // Damaged in transit or by the peer: reported like a refused arrival, never answered.
      if (!this.store.intactArrival(i)) throw replyError('RecordCorrupt', 'the replica sent a copy that does not match its checksum');
      return { s: digestOf(i), item: i };
    });
  }

  /**
   * A replica's digest of `key` (R_DIGEST), checked: a malformed reply rejects. A replica that
   * does not know R_DIGEST (an older release) is asked with R_GET, now and for a while.
   */
  private readDigest(h: NodeHandle, key: string): Promise<ReadReply> {
    if (this.refusesDigests(h)) return this.readFull(h, key);
    this.stats.readDigests++;
    return this.channel.ask(h, Kind.R_DIGEST, { k: key }).then(
      (b) => {
        const d = typeof b === 'object' && b !== null ? (b as { s?: unknown }).s : undefined;
        if (d === null) return { s: undefined };
        if (!isItemDigest(d) || d.k !== key) throw this.malformedReply(h, Kind.R_DIGEST);
        return { s: { k: d.k, v: d.v, op: d.op, d: d.d, c: d.c } };
      },
      (err: unknown) => {
        // We send a well-formed key: InvalidArgument means the kind is unknown there (alone, or
        // as a batch entry of a release whose batches take only r.get and r.put).
        if ((err as { code?: unknown } | null)?.code !== 'InvalidArgument') throw err;
        this.stats.readDigestFallbacks++;
        this.noDigest.delete(h.id.hex);
        this.noDigest.set(h.id.hex, this.env.now());
        if (this.noDigest.size > NO_DIGEST_LIMIT) this.noDigest.delete(this.noDigest.keys().next().value!);
        return this.readFull(h, key);
      },
    );
  }

  /** Whether `h` refused R_DIGEST less than {@link DIGEST_RETRY_MS} ago. */
  private refusesDigests(h: NodeHandle): boolean {
    if (this.noDigest.size === 0) return false;
    const since = this.noDigest.get(h.id.hex);
    if (since === undefined) return false;
    if (this.env.now() - since < DIGEST_RETRY_MS) return true;
    this.noDigest.delete(h.id.hex);
    return false;
  }

  /**
   * The full copy of `best` from the first of `holders` (replicas whose digest named it) that
   * sends it; a newer copy (written since) is taken too. Undefined when none does.
   */
  private async fetchCopy(key: string, best: ItemDigest, holders: NodeHandle[]): Promise<StoredItem | undefined> {
    for (const h of holders) {
      let item: StoredItem | undefined;
      try {
        item = h.id.hex === this.channel.self.id.hex ? this.store.get(key) : (await this.readFull(h, key)).item;
      } catch {
        continue;
      }
      if (item && (item.v > best.v || (item.v === best.v && item.op === best.op))) return item;
    }
    return undefined;
  }

  /** Counts and logs (once per peer and kind) a malformed replica reply; the error to reject with. */
  private malformedReply(h: NodeHandle, kind: string): Error {
    this.stats.replicaRepliesMalformed++;
    const tag = `${h.id.hex}:${kind}`;
    if (!this.badRepliesLogged.has(tag) && this.badRepliesLogged.size < 10_000) {
      this.badRepliesLogged.add(tag);
      this.log.warn({ code: 'MalformedReply', kind, peer: h.addr }, 'ignoring a malformed replica reply to a read');
    }
    return replyError('MalformedReply', `malformed ${kind} reply`);
  }

  /**
   * The replicas a read asks: the read quorum (this node first if it is a replica), taken from
   * settled replicas, closest first. When too few are settled, every replica is asked.
   */
  private readTargets(replicas: NodeHandle[], needed: number): NodeHandle[] {
    if (replicas.length <= needed) return replicas;
    const self = this.channel.self.id.hex;
    const out: NodeHandle[] = [];
    for (const h of replicas) if (h.id.hex === self) out.push(h);
    for (const h of replicas) {
      if (out.length >= needed) break;
      if (h.id.hex !== self && this.channel.settled(h)) out.push(h);
    }
    return out.length >= needed ? out : replicas;
  }

  /**
   * Pushes the winner to every replica that answered something else (its full copy comes from
   * `copyOf`: in hand, or fetched from a replica that holds it).
   */
  private repairAnswers(answers: ReadAnswer[], loser: string | undefined, copyOf: (best: ItemDigest) => Promise<StoredItem | undefined>): void {
    const best = chooseBest(answers.map((a) => a.s), loser);
    if (!best) return;
    const stale = answers.filter((a) => !(a.s && (a.s.v > best.v || (a.s.v === best.v && a.s.op === best.op))));
    if (stale.length === 0) return;
    void copyOf(best).then((item) => {
      if (!item) return;
      for (const a of stale) {
        this.stats.readRepairs++;
        const mode: ApplyMode = a.s && a.s.v === item.v ? 'supersede' : 'merge';
        this.channel.ask(a.h, Kind.R_PUT, { i: item, m: mode }).catch(() => {});
      }
    });
  }

  /**
   * Sends `item` to every replica; resolves once `needed` have stored it durably, or all have
   * answered. `rejected`: what a refusing replica holds.
   */
  private replicate(item: StoredItem, replicas: NodeHandle[], mode: ApplyMode, needed: number): Promise<{ acks: number; rejected: ItemSummary | undefined; full: number }> {
    return new Promise((resolve) => {
      let acks = 0;
      let settled = 0;
      let full = 0;
      let rejected: ItemSummary | undefined;
      let done = false;
      const check = (): void => {
        if (done) return;
        if (acks >= needed || settled === replicas.length) {
          done = true;
          resolve({ acks, rejected, full });
        }
      };
      for (const h of replicas) {
        this.channel.ask(h, Kind.R_PUT, { i: item, m: mode }).then(
          (b) => {
            const r = b as { ok: boolean; have?: ItemSummary };
            if (r.ok) acks++;
            else if (r.have && (!rejected || compareItems(r.have, rejected) > 0)) rejected = r.have;
            settled++;
            check();
          },
          (err: unknown) => {
            if ((err as { code?: string } | null)?.code === 'DiskFull') full++;
            settled++;
            check();
          },
        );
      }
      check();
    });
  }

  /** Asks every replica; resolves when all answered, or `needed` did and the grace passed. */
  private gather<T>(replicas: NodeHandle[], needed: number, ask: (h: NodeHandle) => Promise<T>): Promise<{ h: NodeHandle; value: T }[]> {
    return new Promise((resolve) => {
      const out: { h: NodeHandle; value: T }[] = [];
      let settled = 0;
      let done = false;
      let grace: { cancel(): void } | undefined;
      const finish = (): void => {
        if (done) return;
        done = true;
        grace?.cancel();
        resolve(out.slice());
      };
      const check = (): void => {
        if (settled === replicas.length) finish();
        else if (!done && !grace && out.length >= needed) grace = this.env.setTimeout(finish, this.options.readGraceMs);
      };
      for (const h of replicas) {
        ask(h).then(
          (value) => {
            out.push({ h, value });
            settled++;
            check();
          },
          () => {
            settled++;
            check();
          },
        );
      }
      check();
    });
  }

  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task = (): Promise<void> => fn().then(resolve, reject);
      const q = this.queues.get(key);
      if (q) {
        q.push(task);
        return;
      }
      const fresh = [task];
      this.queues.set(key, fresh);
      void this.drain(key, fresh);
    });
  }

  private async drain(key: string, q: (() => Promise<void>)[]): Promise<void> {
    while (q.length > 0) {
      await q[0]!();
      q.shift();
    }
    this.queues.delete(key);
  }

  private count(kind: string): void {
    this.stats.coordinated[kind] = (this.stats.coordinated[kind] ?? 0) + 1;
  }
}

/**
 * The winner among replica answers: the highest version; between different writes of the same
 * version, the one more replicas hold (an acknowledged write is on a quorum, a partial one is
 * not), then a fixed order of operation ids. `loser` loses every tie.
 */
export function chooseBest<T extends ItemSummary>(items: (T | undefined)[], loser?: string): T | undefined {
  let best: T | undefined;
  for (const it of items) if (it && (!best || it.v > best.v)) best = it;
  if (!best) return undefined;
  const top = best.v;
  const holders = new Map<string, { item: T; n: number }>();
  for (const it of items) {
    if (!it || it.v !== top) continue;
    const h = holders.get(it.op);
    if (h) h.n++;
    else holders.set(it.op, { item: it, n: 1 });
  }
  if (holders.size === 1) return best;
  let winner: { item: T; n: number } | undefined;
  for (const h of holders.values()) {
    if (!winner) {
      winner = h;
      continue;
    }
    const aLoses = h.item.op === loser;
    const bLoses = winner.item.op === loser;
    if (aLoses !== bLoses) {
      if (bLoses) winner = h;
      continue;
    }
    if (h.n > winner.n || (h.n === winner.n && compareItems(h.item, winner.item) > 0)) winner = h;
  }
  return winner!.item;
}

/** Whether a replica's digest names `item` (or both are absent); checksums must agree when both have one. */
function sameCopy(d: ItemDigest | undefined, item: StoredItem | undefined): boolean {
  if (d === undefined || item === undefined) return d === item;
  return d.v === item.v && d.op === item.op && (d.c === undefined || item.c === undefined || d.c === item.c);
}

function replyError(code: string, message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  return err;
}

function ok(body: WriteReplyBody): RpcReply {
  return { code: 200, body };
}

/**
 * `DiskFull` when replicas out of disk space (their storage reserve reached) refused the write and
 * too few are left for the quorum: the client fails at once instead of retrying until its
 * deadline. (Like any write not acknowledged, the copies some replicas stored may still surface.)
 */
function diskFullReply(res: { acks: number; full: number }, size: number, needed: number): RpcReply | undefined {
  if (res.full === 0 || size - res.full >= needed) return undefined;
  return { code: 500, body: { error: 'DiskFull', message: `${res.full} of ${size} replicas refused the write for want of disk space (their storage reserve is reached); ${res.acks} stored it, ${needed} are needed` } };
}

function unavailableReply(message: string): RpcReply {
  return { code: 500, body: { error: 'Unavailable', message } };
}

function unavailable(message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = 'Unavailable';
  return err;
}
