/**
 * Chunks on the ring: binary blobs named by their SHA-256, each stored on the replica set of its
 * ring position (the `replicas` nodes nearest to `idFor('s3chunk:<hash>')`), over the overlay
 * application `s3chunks`.
 *
 * - put: the chunk goes straight to every member of the replica set (no routing hops for the
 *   bytes); it is acknowledged once `writeQuorum` members stored it durably. Each replica checks
 *   the hash before storing. A put of a chunk already present refreshes its store time.
 * - get: this node's own copy if it has one, else the members in order of nearness; a member
 *   found without it, or this node when it belongs to the set, is repaired on the way.
 * - The replica set comes from this node's leaf set when the chunk's position lies within it,
 *   otherwise from the position's root (one small routed `locate` request).
 * - Maintenance (after leaf-set changes, and periodically): every holder asks the other members
 *   which of its chunks they lack and sends them (the nearest holder does it); chunks this node
 *   holds without belonging to their set any more are handed over, then dropped.
 */
import { createHash } from 'node:crypto';
import type { Env, Logger, Timer } from '../../../env/index.ts';
import { Id, Scope, idFor } from '../../../id/index.ts';
import type { NodeHandle } from '../../../wire/index.ts';
import { releaseFrame } from '../../../wire/index.ts';
import { RpcEndpoint } from '../../../overlay/index.ts';
import type { PastryNode, RpcReply, RpcRequest } from '../../../overlay/index.ts';
import { StorageError } from '../errors.ts';
import type { ChunkEngine } from './engine.ts';

/**
 * Attempts to resend a copy that failed after its put reached the quorum (or to send the copy of
 * a member left out of the set while suspected), and the first delay (doubling).
 */
const COPY_RETRY_ATTEMPTS = 3;
const COPY_RETRY_DELAY_MS = 1000;
/**
 * Bytes of chunks held for resending at once. A member that fails every copy (before it is
 * detected as down) must not make the writer hold seconds' worth of its uploads in memory.
 */
const COPY_RETRY_MAX_BYTES = 64 * 1024 * 1024;

/** Tunables of a {@link ChunkStore}. */
export interface ChunkStoreOptions {
  /** Copies of each chunk. Default 3. */
  replicas: number;
  /** Copies stored durably before a put is acknowledged. Default 2. */
  writeQuorum: number;
  /** Wait for one replica's answer. Default 30 s. */
  requestTimeoutMs: number;
  /** Attempts of a put whose quorum was not reached (fresh replica set each time). Default 3. */
  putAttempts: number;
  /** Delay batching leaf-set changes before re-replication. Default 500 ms. */
  maintenanceDelayMs: number;
  /** Period of the full re-replication pass. Default 10 min. */
  maintenanceIntervalMs: number;
  /** Chunk puts in flight from this node at once (bounds the bytes queued per peer). Default 4. */
  maxPutsInFlight: number;
  /** Check the SHA-256 of chunks received for storage. Default true. */
  verify: boolean;
  /**
   * Check the SHA-256 of whole chunks read (this node's copies and replicas' answers) before
   * using them; a damaged copy of this node's is quarantined and restored from a replica.
   * Default true.
   */
  verifyReads: boolean;
}

export const DEFAULT_CHUNK_STORE_OPTIONS: ChunkStoreOptions = {
  replicas: 3,
  writeQuorum: 2,
  requestTimeoutMs: 30_000,
  putAttempts: 3,
  maintenanceDelayMs: 500,
  maintenanceIntervalMs: 600_000,
  maxPutsInFlight: 4,
  verify: true,
  verifyReads: true,
};

/** Counters of a chunk store. */
export interface ChunkStats {
  puts: number;
  putBytes: number;
  gets: number;
  localGets: number;
  remoteGets: number;
  repairs: number;
  replicated: number;
  handedOff: number;
  removed: number;
  errors: number;
  /** Damaged copies found on this node (reads, scrubbing) and quarantined. */
  corrupt: number;
  /** Of those, copies restored from a replica. */
  restored: number;
  /** Damaged copies no replica could replace (no good copy answered). */
  unrestored: number;
  /** Replicas' answers that did not hash to the chunk (another copy was used). */
  corruptAnswers: number;
}

const K = {
  PUT: 'c.put',
  GET: 'c.get',
  HAS: 'c.has',
  STAT: 'c.stat',
  DEL: 'c.del',
  LOCATE: 'c.locate',
} as const;

/** Hashes per `has` request. */
const HAS_BATCH = 1000;
const HEX64 = /^[0-9a-f]{64}$/;

/** SHA-256 of `data` as 64 lower-case hex digits: a chunk's name. */
export function chunkHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The ring position of a chunk. */
export function chunkId(hash: string): Id {
  return idFor(`s3chunk:${hash}`, Scope.GLOBAL);
}

function asBuffer(x: unknown): Buffer | undefined {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return undefined;
}

function checkHash(h: unknown): string {
  if (typeof h !== 'string' || !HEX64.test(h)) throw new StorageError('InvalidArgument', 'a chunk hash is 64 lower-case hex digits');
  return h;
}

/** A counting semaphore (bounds concurrent work without a queue library). */
export class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** How far a {@link ChunkStore.drain} got. */
export interface DrainProgress {
  /** Chunks examined so far, of `total` held at the start. */
  chunks: number;
  total: number;
  /** Copies sent to members that lacked them, and copies (or checks) that failed. */
  sent: number;
  failed: number;
}

export class ChunkStore {
  readonly options: ChunkStoreOptions;
  readonly stats: ChunkStats = {
    puts: 0,
    putBytes: 0,
    gets: 0,
    localGets: 0,
    remoteGets: 0,
    repairs: 0,
    replicated: 0,
    handedOff: 0,
    removed: 0,
    errors: 0,
    corrupt: 0,
    restored: 0,
    unrestored: 0,
    corruptAnswers: 0,
  };
  /** Damaged chunks being quarantined and restored (one restoration per chunk at a time). */
  private readonly restoring = new Map<string, Promise<'restored' | 'unrestored' | 'not-member'>>();
  private readonly rpc: RpcEndpoint;
  private readonly log: Logger;
  private readonly outgoing: Semaphore;
  private maintenanceTimer: Timer | undefined;
  private periodic: Timer | undefined;
  private maintaining = false;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  /** Bytes of chunks held for resending failed copies ({@link retryCopies}). */
  private retryBytes = 0;

  constructor(
    private readonly env: Env,
    readonly node: PastryNode,
    readonly engine: ChunkEngine,
    options: Partial<ChunkStoreOptions> = {},
    name = 's3chunks',
  ) {
    this.options = { ...DEFAULT_CHUNK_STORE_OPTIONS, ...options };
    if (this.options.writeQuorum > this.options.replicas || this.options.writeQuorum < 1) {
      throw new StorageError('InvalidArgument', `chunk write quorum ${this.options.writeQuorum} must be 1..replicas (${this.options.replicas})`);
    }
    this.log = env.log.child({ mod: name });
    this.outgoing = new Semaphore(this.options.maxPutsInFlight);
    this.rpc = new RpcEndpoint(name, node, env, {
      onRequest: (req) => this.onRequest(req),
      onLeafSetChanged: () => this.scheduleMaintenance(),
    });
    node.register(this.rpc);
    this.periodic = env.setInterval(() => this.scheduleMaintenance(), this.options.maintenanceIntervalMs);
  }

  /**
   * Stops serving and the timers (the engine stays open: its owner closes it). Requests of peers
   * arriving afterwards are refused at once: the node may still be in their leaf sets for a
   * while (a graceful stop closes the store before the node leaves), and a peer waiting for an
   * answer that never comes would hold its put slots until its request timeout (30 s).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maintenanceTimer?.cancel();
    this.periodic?.cancel();
    this.rpc.close({ code: 500, body: { error: 'NotAvailable', message: 'the chunk store of this node is closed (the node is stopping)' } });
  }

  // ---------------------------------------------------------------------------------------------
  // Client side

  /** The replica set of a chunk, nearest first. */
  async replicaSet(hash: string): Promise<NodeHandle[]> {
    const id = chunkId(hash);
    if (this.node.leafSetMembers().length === 0) return this.node.replicaSet(id, this.options.replicas);
    if (this.node.inLeafSetRange(id)) {
      // Known here only when no node this one does not know could be among the closest (near
      // the ends of the leaf set, some of them lie beyond it): otherwise the root says.
      const set = this.node.replicaSet(id, this.options.replicas);
      if (this.node.knowsNodesAround(id, set)) return set;
    }
    const resp = await this.rpc.request(id, K.LOCATE, { h: hash }, { timeoutMs: this.options.requestTimeoutMs });
    const set = (resp.body as { s?: [string, string][] } | null)?.s;
    if (resp.code !== 200 || !Array.isArray(set)) throw new StorageError('ChunkUnavailable', `no replica set for chunk ${hash.slice(0, 12)}`);
    return set.map(([hex, addr]) => ({ id: Id.parse(hex), addr }));
  }

  /**
   * Stores `data` (whose SHA-256 is `hash`, computed here when omitted) on its replica set;
   * resolves with the hash once `writeQuorum` replicas hold it durably.
   *
   * `onReleased`, when given, is called once the store will never read `data` again, so that the
   * caller may reuse the buffer: only when every member stored the chunk at the first attempt (an
   * answer proves the bytes left this node's socket; after a failure a send may still be queued,
   * and copies are sent again later from `data`). Otherwise it is never called.
   */
  async put(data: Uint8Array, hash = chunkHash(data), onReleased?: () => void): Promise<string> {
    if (this.closed) throw new StorageError('NotAvailable', 'the chunk store is closed');
    this.stats.puts++;
    this.stats.putBytes += data.length;
    let lastError = '';
    let full: string | undefined;
    for (let attempt = 1; attempt <= this.options.putAttempts; attempt++) {
      const set = await this.replicaSet(hash);
      const quorum = Math.min(this.options.writeQuorum, set.length);
      // The slot is held until every member answered (the bytes are on their way to all of
      // them), while the caller goes on as soon as the quorum has the chunk.
      await this.outgoing.acquire();
      const first = attempt === 1;
      const acked = await this.storeOn(set, hash, data, quorum, (failures, short) => {
        this.outgoing.release();
        if (first && failures === 0 && !short && set.length > 0) onReleased?.();
      });
      if (acked.ok >= quorum) return hash;
      lastError = acked.error;
      // Members out of disk space: the last attempt says so (a set short of a member suspected
      // for a moment may have too few with room, and the next attempt enough).
      full = set.length - acked.full < quorum ? `${acked.full} of ${set.length} replicas refused it for want of disk space (their storage reserve is reached), ${quorum} copies are needed` : undefined;
      if (attempt < this.options.putAttempts) await this.env.sleep(this.env.random.jitter(200 * attempt, 0.5));
    }
    this.stats.errors++;
    if (full) throw new StorageError('DiskFull', `chunk ${hash.slice(0, 12)}: ${full} (${lastError})`);
    throw new StorageError('ChunkUnavailable', `chunk ${hash.slice(0, 12)}: write quorum not reached (${lastError})`);
  }

  /**
   * Sends the chunk to every member; resolves once `quorum` acknowledged or all answered, and
   * calls `allDone` with the number of members that failed once every member answered, and
   * whether the set was short (see {@link shortSet}).
   */
  private storeOn(set: NodeHandle[], hash: string, data: Uint8Array, quorum: number, allDone: (failures: number, short: boolean) => void): Promise<{ ok: number; error: string; full: number }> {
    return new Promise((resolve) => {
      let ok = 0;
      let answered = 0;
      let full = 0;
      let error = '';
      let done = false;
      const failed: NodeHandle[] = [];
      const stored = new Set<string>();
      const settle = (): void => {
        if (answered === set.length) {
          const short = this.shortSet(set);
          allDone(failed.length, short);
          // The put succeeded without some copies (a member failed, or was left out of the set
          // while suspected): send them soon rather than leave the chunk short of copies until
          // the next full maintenance pass (minutes away; a suspicion that clears changes no
          // leaf set, so nothing else would trigger one).
          if (ok >= quorum && (failed.length > 0 || short) && this.retryBytes + data.length <= COPY_RETRY_MAX_BYTES) {
            this.retryBytes += data.length;
            this.retryCopies(hash, data, stored, 1);
          }
        }
        if (done) return;
        if (ok >= quorum || answered === set.length) {
          done = true;
          resolve({ ok, error, full });
        }
      };
      for (const member of set) {
        this.storeAt(member, hash, data).then(
          () => {
            ok++;
            stored.add(member.id.hex);
            answered++;
            settle();
          },
          (err: Error) => {
            error = err.message;
            if ((err as { code?: string }).code === 'DiskFull') full++;
            failed.push(member);
            answered++;
            settle();
          },
        );
      }
      if (set.length === 0) {
        allDone(0, true);
        resolve({ ok: 0, error: 'empty replica set', full: 0 });
      }
    });
  }

  /**
   * Whether `set` has fewer members than this node's leaf set could give a chunk: members were
   * left out because they are suspected (a hop acknowledgement late, as under load; they are
   * probed, and most often trusted again within a second).
   */
  private shortSet(set: readonly NodeHandle[]): boolean {
    return set.length < Math.min(this.options.replicas, this.node.leafSetMembers().length + 1);
  }

  /**
   * The replica set of a chunk counting suspected members (they are most often trusted again
   * within a second): where late copies go. A copy sent to the node that stands in for a
   * suspected member would be out of place once the suspicion clears.
   */
  private async trueReplicaSet(hash: string): Promise<NodeHandle[]> {
    const id = chunkId(hash);
    if (this.node.leafSetMembers().length > 0 && this.node.inLeafSetRange(id)) {
      const set = this.node.replicaSet(id, this.options.replicas, { withSuspects: true });
      if (this.node.knowsNodesAround(id, set)) return set;
    }
    return this.replicaSet(hash);
  }

  /**
   * Sends a chunk to the members of its replica set that do not hold it yet (`stored`: the ids of
   * those that stored it), after a delay that doubles with each attempt: members that failed, and
   * members left out of the set while suspected; after the last attempt the maintenance pass is
   * left to do it.
   */
  private retryCopies(hash: string, data: Uint8Array, stored: Set<string>, attempt: number): void {
    if (this.closed || attempt > COPY_RETRY_ATTEMPTS) {
      this.retryBytes -= data.length;
      return;
    }
    this.env.setTimeout(() => {
      void (async () => {
        if (this.closed) {
          this.retryBytes -= data.length;
          return;
        }
        const set = await this.trueReplicaSet(hash).catch(() => [] as NodeHandle[]);
        let missing = false;
        await Promise.all(
          set
            .filter((m) => !stored.has(m.id.hex))
            .map((m) =>
              this.storeAt(m, hash, data).then(
                () => {
                  stored.add(m.id.hex);
                  this.stats.repairs++;
                },
                (err: Error) => {
                  this.log.debug({ event: 's3.copyRetryFailed', hash, member: m.addr, attempt, err: err.message }, 'a chunk copy failed again');
                  missing = true;
                },
              ),
            ),
        );
        if (missing || set.length === 0) this.retryCopies(hash, data, stored, attempt + 1);
        else this.retryBytes -= data.length;
      })();
    }, COPY_RETRY_DELAY_MS * 2 ** (attempt - 1));
  }

  private storeAt(member: NodeHandle, hash: string, data: Uint8Array): Promise<void> {
    if (member.id.hex === this.node.id.hex) return this.engine.put(hash, data, this.env.now());
    return this.ask(member, K.PUT, { h: hash, d: data }, data.length).then(() => undefined);
  }

  /**
   * Reads a chunk: this node's copy, else the nearest replica that has it (repairing on the way).
   * With `verifyReads`, a copy that does not hash to its name is never returned: this node's is
   * quarantined (and restored in the background) and a replica's answer is passed over.
   */
  async get(hash: string): Promise<Buffer> {
    this.stats.gets++;
    const local = await this.engine.read(hash);
    if (local) {
      if (!this.options.verifyReads || chunkHash(local) === hash) {
        this.stats.localGets++;
        return local;
      }
      void this.damaged(hash, 'read');
    }
    return this.fetch(hash);
  }

  /** A chunk from the other members of its set (or the wider neighbourhood), repairing on the way. */
  private async fetch(hash: string): Promise<Buffer> {
    const set = await this.replicaSet(hash);
    const lacking: NodeHandle[] = [];
    let selfInSet = false;
    let lastError = '';
    for (const member of set) {
      if (member.id.hex === this.node.id.hex) {
        selfInSet = true;
        continue;
      }
      try {
        const body = (await this.ask(member, K.GET, { h: hash })) as { d?: unknown };
        const data = asBuffer(body?.d);
        if (!data) {
          lacking.push(member);
          continue;
        }
        if (this.options.verifyReads && chunkHash(data) !== hash) {
          this.corruptAnswer(hash, member);
          continue;
        }
        this.stats.remoteGets++;
        if (selfInSet || set.some((m) => m.id.hex === this.node.id.hex)) lacking.push(this.node.handle);
        if (lacking.length > 0) this.repair(hash, data, lacking);
        return data;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    // Not in the set: ask the wider neighbourhood (a copy may not have moved yet).
    for (const member of this.node.leafSetMembers()) {
      if (set.some((m) => m.id.hex === member.id.hex)) continue;
      try {
        const body = (await this.ask(member, K.GET, { h: hash })) as { d?: unknown };
        const data = asBuffer(body?.d);
        if (data && this.options.verifyReads && chunkHash(data) !== hash) {
          this.corruptAnswer(hash, member);
          continue;
        }
        if (data) {
          this.repair(hash, data, set);
          return data;
        }
      } catch {
        // next
      }
    }
    this.stats.errors++;
    throw new StorageError('ChunkUnavailable', `no replica of chunk ${hash.slice(0, 12)} answered with it${lastError ? ` (${lastError})` : ''}`);
  }

  /**
   * This node's copy of `hash` was found damaged (`how`: by a read, by the scrubber): it is
   * quarantined (engine.ts) and, when this node belongs to the chunk's replica set, restored from
   * a replica's verified copy. Logged once per damage; concurrent reports share one restoration.
   * Resolves with the outcome (never rejects: failures are logged and counted).
   */
  damaged(hash: string, how: string): Promise<'restored' | 'unrestored' | 'not-member'> {
    const busy = this.restoring.get(hash);
    if (busy) return busy;
    const work = (async (): Promise<'restored' | 'unrestored' | 'not-member'> => {
      let kept: string | undefined;
      try {
        kept = await this.engine.quarantine(hash, this.env.now());
      } catch (err) {
        this.log.error({ code: 'ChunkQuarantineFailed', hash, err: (err as Error).message }, `could not quarantine damaged chunk ${hash.slice(0, 12)}`);
        return 'unrestored';
      }
      if (kept === undefined) return 'not-member';
      this.stats.corrupt++;
      this.log.error(
        { code: 'ChunkCorrupt', hash, how, quarantined: kept || null },
        `chunk ${hash.slice(0, 12)} on this node does not hash to its name (found by ${how}); ${kept ? `moved to ${kept}` : 'dropped'}, restoring it from a replica`,
      );
      try {
        const set = await this.replicaSet(hash);
        if (!set.some((m) => m.id.hex === this.node.id.hex)) return 'not-member';
        const data = await this.fetch(hash);
        await this.engine.put(hash, data, this.env.now());
        this.stats.restored++;
        this.log.info({ event: 's3.chunkRestored', hash }, `chunk ${hash.slice(0, 12)} restored from a replica`);
        return 'restored';
      } catch (err) {
        this.stats.unrestored++;
        this.log.error({ code: 'ChunkUnrestored', hash, err: (err as Error).message }, `chunk ${hash.slice(0, 12)} could not be restored: no replica answered with a good copy`);
        return 'unrestored';
      }
    })().finally(() => this.restoring.delete(hash));
    this.restoring.set(hash, work);
    return work;
  }

  private corruptAnswer(hash: string, member: NodeHandle): void {
    this.stats.corruptAnswers++;
    this.log.warn({ code: 'ChunkCorruptAnswer', hash, member: member.addr }, `${member.addr} answered chunk ${hash.slice(0, 12)} with bytes of another hash; trying another copy`);
  }

  /** Stores a copy on members found without it (best effort, checked against the hash). */
  private repair(hash: string, data: Buffer, to: NodeHandle[]): void {
    if (chunkHash(data) !== hash) {
      this.log.error({ code: 'ChunkCorrupt', hash }, `a replica served chunk ${hash.slice(0, 12)} with other content; not repairing from it`);
      return;
    }
    for (const member of to) {
      this.stats.repairs++;
      this.storeAt(member, hash, data).catch((err: Error) => this.log.debug({ event: 's3.repairFailed', hash, err: err.message }, 'chunk repair failed'));
    }
  }

  /** Size and store time of a chunk on each member of its set (undefined: no answer). */
  async statAll(hash: string): Promise<{ member: NodeHandle; meta: { n: number; t: number } | null | undefined }[]> {
    const set = await this.replicaSet(hash);
    return Promise.all(
      set.map(async (member) => {
        if (member.id.hex === this.node.id.hex) return { member, meta: this.engine.stat(hash) ?? null };
        try {
          const body = (await this.ask(member, K.STAT, { h: hash })) as { m?: { n: number; t: number } | null };
          return { member, meta: body?.m ?? null };
        } catch {
          return { member, meta: undefined };
        }
      }),
    );
  }

  /**
   * Of `hashes` (chunks this node holds), those whose root holds no copy, asking each root once
   * per batch; chunks whose root did not answer are left out.
   */
  async rootless(hashes: readonly string[]): Promise<string[]> {
    const byRoot = new Map<string, { root: NodeHandle; hashes: string[] }>();
    for (const hash of hashes) {
      const root = (await this.replicaSet(hash).catch(() => [] as NodeHandle[]))[0];
      if (!root || root.id.hex === this.node.id.hex) continue;
      let e = byRoot.get(root.id.hex);
      if (!e) byRoot.set(root.id.hex, (e = { root, hashes: [] }));
      e.hashes.push(hash);
    }
    const out: string[] = [];
    for (const { root, hashes: batch } of byRoot.values()) {
      for (let i = 0; i < batch.length; i += HAS_BATCH) {
        const body = (await this.ask(root, K.HAS, { hs: batch.slice(i, i + HAS_BATCH) }).catch(() => undefined)) as { m?: string[] } | undefined;
        for (const h of body?.m ?? []) out.push(h);
      }
    }
    return out;
  }

  /** Removes a chunk from its whole set where it was last stored at or before `before`. */
  async removeEverywhere(hash: string, before: number): Promise<number> {
    const set = await this.replicaSet(hash);
    const results = await Promise.all(
      set.map(async (member) => {
        if (member.id.hex === this.node.id.hex) return this.engine.remove(hash, before);
        try {
          const body = (await this.ask(member, K.DEL, { h: hash, b: before })) as { r?: boolean };
          return body?.r === true;
        } catch {
          return false;
        }
      }),
    );
    const n = results.filter(Boolean).length;
    this.stats.removed += n;
    return n;
  }

  private async ask(to: NodeHandle, kind: string, body: unknown, bytes = 0): Promise<unknown> {
    // Megabytes take longer to arrive than a round trip: give their hop acknowledgement time.
    const ackTimeoutMs = bytes > 64 * 1024 ? 2000 + bytes / 2000 : undefined;
    const resp = await this.rpc.requestDirect(to, kind, body, { timeoutMs: this.options.requestTimeoutMs, ...(ackTimeoutMs ? { ackTimeoutMs } : {}) });
    if (resp.code !== 200) {
      const b = resp.body as { error?: string; message?: string } | null;
      const code = b?.error === 'ChunkCorrupt' || b?.error === 'DiskFull' ? b.error : 'ChunkUnavailable';
      throw new StorageError(code, `${to.addr} answered ${resp.code}: ${b?.message ?? ''}`);
    }
    return resp.body;
  }

  // ---------------------------------------------------------------------------------------------
  // Server side

  private onRequest(req: RpcRequest): RpcReply | Promise<RpcReply> {
    const b = (req.body ?? {}) as Record<string, unknown>;
    try {
      switch (req.kind) {
        case K.PUT: {
          const hash = checkHash(b.h);
          const data = asBuffer(b.d);
          if (!data) throw new StorageError('InvalidArgument', 'c.put needs the chunk bytes');
          if (this.options.verify && !this.engine.stat(hash) && chunkHash(data) !== hash) {
            throw new StorageError('ChunkCorrupt', `chunk bytes do not hash to ${hash.slice(0, 12)}`);
          }
          return this.engine.put(hash, data, this.env.now()).then(
            () => {
              // On disk: the frame the bytes arrived in can take the next one (frame-pool.ts).
              releaseFrame(data);
              return { body: { ok: true } };
            },
            (err: unknown) => {
              // Out of space: the writer counts it; the node's DiskFull alert tells the operator (once).
              if ((err as { code?: string } | null)?.code !== 'DiskFull') throw err;
              return { code: 500, body: { error: 'DiskFull', message: (err as Error).message } };
            },
          );
        }
        case K.GET: {
          const hash = checkHash(b.h);
          return this.engine.read(hash).then((d) => ({ body: { d: d ?? null } }));
        }
        case K.HAS: {
          if (!Array.isArray(b.hs) || b.hs.length > HAS_BATCH) throw new StorageError('InvalidArgument', `c.has needs at most ${HAS_BATCH} hashes`);
          const missing: string[] = [];
          for (const h of b.hs) if (typeof h === 'string' && !this.engine.stat(h)) missing.push(h);
          return { body: { m: missing } };
        }
        case K.STAT:
          return { body: { m: this.engine.stat(checkHash(b.h)) ?? null } };
        case K.DEL: {
          const hash = checkHash(b.h);
          if (typeof b.b !== 'number') throw new StorageError('InvalidArgument', 'c.del needs a time');
          return this.engine.remove(hash, b.b).then((r) => {
            if (r) this.stats.removed++;
            return { body: { r } };
          });
        }
        case K.LOCATE: {
          const hash = checkHash(b.h);
          const set = this.node.replicaSet(chunkId(hash), this.options.replicas);
          return { body: { s: set.map((h) => [h.id.hex, h.addr]) } };
        }
        default:
          throw new StorageError('InvalidArgument', `unknown chunk request "${req.kind.slice(0, 40)}"`);
      }
    } catch (err) {
      const e = err as StorageError;
      if (e.code !== 'InvalidArgument' && e.code !== 'ChunkCorrupt') throw err;
      this.log.warn({ code: e.code, kind: req.kind, origin: req.origin.addr, reason: e.message }, 'refusing a chunk request');
      return { code: 403, body: { error: e.code, message: e.message } };
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Maintenance

  private scheduleMaintenance(): void {
    if (this.closed) return;
    if (this.maintaining) {
      this.again = true;
      return;
    }
    this.maintenanceTimer?.cancel();
    this.maintenanceTimer = this.env.setTimeout(() => {
      this.maintenanceTimer = undefined;
      void this.maintain();
    }, this.options.maintenanceDelayMs);
  }

  /**
   * One re-replication pass over this node's chunks: each member of a chunk's set that lacks it
   * gets it from the nearest holder; chunks held out of place go to their set and are dropped
   * once it holds them. Resolves when done (tests call it directly).
   */
  async maintain(): Promise<void> {
    // One pass at a time: a call during a pass runs another one after it.
    while (this.running) await this.running;
    if (this.closed || !this.node.isReady) return;
    this.running = this.pass();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async pass(): Promise<void> {
    this.maintaining = true;
    try {
      const self = this.node.handle;
      /** Per peer: the chunks to check there, and whether this node is the pusher. */
      const ask = new Map<string, { to: NodeHandle; hashes: string[] }>();
      const strays: string[] = [];
      for (const [hash] of this.engine.entries()) {
        if (this.closed) return;
        const id = chunkId(hash);
        if (!this.node.inLeafSetRange(id) && this.node.leafSetMembers().length > 0) {
          strays.push(hash);
          continue;
        }
        const set = this.node.replicaSet(id, this.options.replicas);
        // Whether this node belongs in the set counts suspected members: a node that stands in
        // for one only while the suspicion lasts would keep its copy until the next full pass.
        const mine = this.node.replicaSet(id, this.options.replicas, { withSuspects: true }).some((m) => m.id.hex === self.id.hex);
        if (!mine) strays.push(hash);
        for (const m of set) {
          if (m.id.hex === self.id.hex) continue;
          let e = ask.get(m.id.hex);
          if (!e) ask.set(m.id.hex, (e = { to: m, hashes: [] }));
          e.hashes.push(hash);
        }
      }
      const missingBy = new Map<string, Set<string>>();
      await Promise.all(
        [...ask.values()].map(async ({ to, hashes }) => {
          const missing = new Set<string>();
          for (let i = 0; i < hashes.length; i += HAS_BATCH) {
            try {
              const body = (await this.ask(to, K.HAS, { hs: hashes.slice(i, i + HAS_BATCH) })) as { m?: string[] };
              for (const h of body?.m ?? []) missing.add(h);
            } catch {
              // unreachable now: next pass
            }
          }
          missingBy.set(to.id.hex, missing);
        }),
      );
      // Push what members lack, when no nearer member than this node holds it.
      for (const { to } of ask.values()) {
        const missing = missingBy.get(to.id.hex);
        if (!missing || missing.size === 0) continue;
        for (const hash of missing) {
          if (this.closed) return;
          const set = this.node.replicaSet(chunkId(hash), this.options.replicas);
          // The pass may outlive the membership it started with (pushes of megabytes take a
          // while): a node that left the set meanwhile (one it replaced came back) would get a
          // copy out of place that its own pass, run already, never hands back. (Members only
          // suspected still count: a suspicion mostly clears within a second.)
          if (!this.node.replicaSet(chunkId(hash), this.options.replicas, { withSuspects: true }).some((m) => m.id.hex === to.id.hex)) continue;
          const nearerHolder = set.find((m) => m.id.hex !== self.id.hex && m.id.hex !== to.id.hex && !(missingBy.get(m.id.hex)?.has(hash) ?? true));
          const selfIndex = set.findIndex((m) => m.id.hex === self.id.hex);
          const nearerIndex = nearerHolder ? set.indexOf(nearerHolder) : -1;
          if (selfIndex >= 0 && nearerIndex >= 0 && nearerIndex < selfIndex) continue;
          const data = await this.engine.read(hash);
          if (!data) continue;
          await this.outgoing.acquire();
          try {
            await this.storeAt(to, hash, data);
            this.stats.replicated++;
          } catch (err) {
            // A member refusing the copy as damaged (it checks the hash): this node's copy is.
            if ((err as StorageError).code === 'ChunkCorrupt') void this.damaged(hash, 'replication');
            // otherwise: next pass
          } finally {
            this.outgoing.release();
          }
        }
      }
      for (const hash of strays) await this.handOff(hash);
    } finally {
      this.maintaining = false;
      if (this.again) {
        this.again = false;
        this.scheduleMaintenance();
      }
    }
  }

  /**
   * Before this node leaves for good (`pi decommission`): every chunk it holds is copied to the
   * members its set will have without this node that lack it, so that no chunk is left with a
   * copy fewer while the ring re-replicates. Resolves with the chunks examined and the copies
   * sent; `onProgress` is told after each batch. Copies that fail are counted, not retried (the
   * ring's own re-replication passes still follow the departure).
   */
  async drain(onProgress?: (p: DrainProgress) => void): Promise<DrainProgress> {
    const self = this.node.handle;
    const progress: DrainProgress = { chunks: 0, total: this.engine.count, sent: 0, failed: 0 };
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      const byMember = new Map<string, { to: NodeHandle; hashes: string[] }>();
      for (const hash of batch) {
        // The set without this node: its `replicas` nearest others (one more asked, self dropped).
        const after = this.node.replicaSet(chunkId(hash), this.options.replicas + 1).filter((m) => m.id.hex !== self.id.hex).slice(0, this.options.replicas);
        for (const m of after) {
          let e = byMember.get(m.id.hex);
          if (!e) byMember.set(m.id.hex, (e = { to: m, hashes: [] }));
          e.hashes.push(hash);
        }
      }
      for (const { to, hashes } of byMember.values()) {
        let missing: string[];
        try {
          missing = ((await this.ask(to, K.HAS, { hs: hashes })) as { m?: string[] })?.m ?? [];
        } catch {
          progress.failed += hashes.length;
          continue;
        }
        for (const hash of missing) {
          const data = await this.engine.read(hash);
          if (!data) continue;
          await this.outgoing.acquire();
          try {
            await this.storeAt(to, hash, data);
            progress.sent++;
            this.stats.replicated++;
          } catch {
            progress.failed++;
          } finally {
            this.outgoing.release();
          }
        }
      }
      progress.chunks += batch.length;
      batch = [];
      onProgress?.({ ...progress });
    };
    for (const [hash] of this.engine.entries()) {
      if (this.closed) break;
      batch.push(hash);
      if (batch.length >= HAS_BATCH) await flush();
    }
    if (batch.length > 0 && !this.closed) await flush();
    return progress;
  }

  /** A chunk held out of place: make sure its set has it, then drop the local copy. */
  private async handOff(hash: string): Promise<void> {
    try {
      const set = await this.trueReplicaSet(hash);
      if (set.some((m) => m.id.hex === this.node.id.hex)) return;
      const meta = this.engine.stat(hash);
      const data = await this.engine.read(hash);
      if (!data || !meta) return;
      let held = 0;
      for (const member of set) {
        const body = (await this.ask(member, K.HAS, { hs: [hash] }).catch(() => undefined)) as { m?: string[] } | undefined;
        if (!body) continue;
        if ((body.m ?? []).length > 0) await this.storeAt(member, hash, data);
        held++;
      }
      if (held >= Math.min(this.options.writeQuorum, set.length) && (await this.engine.remove(hash, Number.MAX_SAFE_INTEGER))) this.stats.handedOff++;
    } catch (err) {
      if ((err as StorageError).code === 'ChunkCorrupt') void this.damaged(hash, 'hand-off');
      else this.log.debug({ event: 's3.handOffFailed', hash, err: (err as Error).message }, 'chunk hand-off failed');
    }
  }
}
