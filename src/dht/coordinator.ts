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
 */
import { Id } from '../id/index.ts';
import type { Env, Logger } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { RpcReply } from '../overlay/index.ts';
import { KnownItems } from './known-items.ts';
import type { LocalStore, ApplyMode } from './local-store.ts';
import { appliedOp, compareItems, keyPosition, makeItem } from './record.ts';
import { Kind } from './protocol.ts';
import type { ScanBody, ScanReplyBody, WriteBody, WriteReplyBody } from './protocol.ts';
import { compareUtf8 } from './storage/sorted.ts';
import type { DhtOptions, DhtStats, ItemSummary, StoredItem } from './types.ts';

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
}

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

  /** Quorum read of one key. */
  async get(key: string): Promise<StoredItem | undefined> {
    this.count('get');
    const replicas = this.channel.replicaSet(Id.parse(keyPosition(key)));
    const r = await this.readAll(key, replicas, undefined);
    if (r.answers < r.needed) throw unavailable(`read of ${key.slice(0, 8)}: ${r.answers} of ${r.needed} replicas answered`);
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
    const needed = Math.min(this.options.readQuorum, replicas.length);
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
    const needed = Math.min(this.options.writeQuorum, replicas.length);
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
        return unavailableReply(`${res.acks} of ${needed} replicas stored the retried write`);
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
      if (!res.rejected) return unavailableReply(`${res.acks} of ${needed} replicas stored the write`);
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
   * `readGraceMs` passed. Once all have answered, those holding anything but the winner are
   * repaired. `loser`: an operation that must lose ties.
   */
  private readAll(key: string, all: NodeHandle[], loser: string | undefined, everyone = false): Promise<ReadResult> {
    const needed = Math.min(this.options.readQuorum, all.length);
    const replicas = everyone ? all : this.readTargets(all, needed);
    return new Promise<ReadResult>((resolve) => {
      const answers: { h: NodeHandle; item: StoredItem | undefined }[] = [];
      let settled = 0;
      let done = false;
      let grace: { cancel(): void } | undefined;
      const epoch = this.channel.epoch();
      const seq = this.writeSeq;
      const finish = (): void => {
        if (done) return;
        done = true;
        grace?.cancel();
        const best = chooseBest(answers.map((a) => a.item), loser);
        // Every replica answered the same: the next write here needs no read round.
        const quiet = !this.queues.has(key) && (this.lastWrite.get(key) ?? 0) <= seq && this.evictedWriteSeq <= seq;
        if (quiet && settled === replicas.length && answers.length === all.length && epoch === this.channel.epoch() && answers.every((a) => sameItem(a.item, best))) {
          this.known.set(key, best ?? null, epoch);
        }
        resolve({ best, answers: answers.length, needed });
      };
      const check = (): void => {
        if (settled === replicas.length) {
          finish();
          this.repairAnswers(answers, loser);
          return;
        }
        if (!done && !grace && answers.length >= needed) grace = this.env.setTimeout(finish, this.options.readGraceMs);
      };
      for (const h of replicas) {
        if (h.id.hex === this.channel.self.id.hex) {
          answers.push({ h, item: this.store.get(key) });
          settled++;
          continue;
        }
        this.channel.ask(h, Kind.R_GET, { k: key }).then(
          (b) => {
            const item = (b as { i: StoredItem | null }).i ?? undefined;
            answers.push({ h, item });
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

  /** Pushes the winner to every replica that answered something else. */
  private repairAnswers(answers: { h: NodeHandle; item: StoredItem | undefined }[], loser: string | undefined): void {
    const best = chooseBest(answers.map((a) => a.item), loser);
    if (!best) return;
    for (const a of answers) {
      if (a.item && a.item.v === best.v && a.item.op === best.op) continue;
      if (a.item && a.item.v > best.v) continue;
      this.stats.readRepairs++;
      const mode: ApplyMode = a.item && a.item.v === best.v ? 'supersede' : 'merge';
      this.channel.ask(a.h, Kind.R_PUT, { i: best, m: mode }).catch(() => {});
    }
  }

  /**
   * Sends `item` to every replica; resolves once `needed` have stored it durably, or all have
   * answered. `rejected`: what a refusing replica holds.
   */
  private replicate(item: StoredItem, replicas: NodeHandle[], mode: ApplyMode, needed: number): Promise<{ acks: number; rejected: ItemSummary | undefined }> {
    return new Promise((resolve) => {
      let acks = 0;
      let settled = 0;
      let rejected: ItemSummary | undefined;
      let done = false;
      const check = (): void => {
        if (done) return;
        if (acks >= needed || settled === replicas.length) {
          done = true;
          resolve({ acks, rejected });
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
          () => {
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
export function chooseBest(items: (StoredItem | undefined)[], loser?: string): StoredItem | undefined {
  let best: StoredItem | undefined;
  for (const it of items) if (it && (!best || it.v > best.v)) best = it;
  if (!best) return undefined;
  const top = best.v;
  const holders = new Map<string, { item: StoredItem; n: number }>();
  for (const it of items) {
    if (!it || it.v !== top) continue;
    const h = holders.get(it.op);
    if (h) h.n++;
    else holders.set(it.op, { item: it, n: 1 });
  }
  if (holders.size === 1) return best;
  let winner: { item: StoredItem; n: number } | undefined;
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

function sameItem(a: StoredItem | undefined, b: StoredItem | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.v === b.v && a.op === b.op;
}

function ok(body: WriteReplyBody): RpcReply {
  return { code: 200, body };
}

function unavailableReply(message: string): RpcReply {
  return { code: 500, body: { error: 'Unavailable', message } };
}

function unavailable(message: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = 'Unavailable';
  return err;
}
