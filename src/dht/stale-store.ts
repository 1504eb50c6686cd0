/**
 * A node back from a long absence must not bring deleted records back.
 *
 * A deletion is a tombstone, and housekeeping removes tombstones `tombstoneGraceMs` after they
 * were written. A node that was down longer than that may still hold a record deleted meanwhile,
 * live; once the tombstone is gone from the other replicas, its copy is the newest the ring has:
 * anti-entropy would push it back and quorum reads would return it (and an S3 object whose chunks
 * were collected would come back without its data).
 *
 * So each node keeps in its store when it was last up (`aliveAt`, written at every housekeeping
 * pass) and the write time of the newest tombstone it has removed (`purgedThrough`). A node that
 * starts more than half the grace period after it was last up, with records in its store, holds
 * the store — answers no request from it, hands nothing off, runs no anti-entropy — until its
 * leaf-set peers have told it their `purgedThrough` (request `horizon`). If one of them removed a
 * tombstone written after this node was last up, a deletion this node missed is gone for good,
 * and any of its records may be such a one: the store is copied aside for an operator (LMDB: a
 * directory beside the store's) and emptied, and the ring hands the node what it should hold, as
 * to a new node. Otherwise — after a whole ring was stopped for a long time, say — it keeps its
 * records. Nodes whose absence was shorter never wait: the tombstones of what they missed are
 * still there.
 */
import type { Env, Logger, Timer } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { PastryNode } from '../overlay/index.ts';
import type { LocalStore } from './local-store.ts';
import type { DhtOptions, DhtStats } from './types.ts';

/** Store metadata key: when this node was last known up (ms since the epoch, its own clock). */
export const META_ALIVE_AT = 'aliveAt';
/** Store metadata key: the write time of the newest tombstone this node removed. */
export const META_PURGED_THROUGH = 'purgedThrough';

/** Answer to a `horizon` request. */
export interface HorizonReply {
  /** The newest write time of a tombstone the peer removed (0: none). */
  p: number;
}

/** What happened to a stale store. */
export interface StaleStoreReport {
  /** When this node was last up before this start. */
  lastAlive: number;
  /** The newest tombstone write time a peer reported removing (after `lastAlive`). */
  peerPurgedThrough: number;
  /** Items dropped from the store. */
  items: number;
  /** Where the copy of the store is, or undefined if it could not be made. */
  copy: string | undefined;
}

/** Keys removed between yields while emptying a stale store. */
const EMPTY_PAGE = 4_000;
/** Attempts at asking the peers before deciding with the answers there are. */
const ASK_ATTEMPTS = 5;
/** Time between attempts (and between checks for the node being ready). */
const RETRY_MS = 1_000;

export interface StaleStoreGuardHost {
  env: Env;
  node: PastryNode;
  store: LocalStore;
  options: DhtOptions;
  stats: DhtStats;
  log: Logger;
  /** Asks a peer for its horizon. */
  askHorizon(to: NodeHandle): Promise<unknown>;
  /** Starts the node's maintenance (once the store may be used). */
  release(): void;
  /** Told when a stale store was set aside. */
  onSetAside?: (report: StaleStoreReport) => void;
}

export class StaleStoreGuard {
  private heldValue = false;
  private readonly lastAlive: number | undefined;
  private purgedThrough: number;
  private timer: Timer | undefined;
  private closed = false;
  private attempts = 0;

  constructor(private readonly host: StaleStoreGuardHost) {
    const engine = host.store.engine;
    const alive = engine.getMeta(META_ALIVE_AT);
    const purged = engine.getMeta(META_PURGED_THROUGH);
    this.lastAlive = typeof alive === 'number' && Number.isFinite(alive) ? alive : undefined;
    this.purgedThrough = typeof purged === 'number' && Number.isFinite(purged) ? purged : 0;
  }

  /** Whether the store is held: nothing may be served from it or sent out of it. */
  get held(): boolean {
    return this.heldValue;
  }

  /** What this node answers to `horizon`. */
  horizon(): HorizonReply {
    return { p: this.purgedThrough };
  }

  /**
   * Decides whether to hold the store, then releases it at once (the usual case) or after asking
   * the peers once the node has joined.
   */
  start(): void {
    const { env, options, store } = this.host;
    const away = this.lastAlive === undefined ? 0 : env.now() - this.lastAlive;
    let hasItems = false;
    // A loop left with `break` closes the walk (on LMDB, its read transaction).
    for (const _entry of store.engine.entries('')) {
      hasItems = true;
      break;
    }
    if (this.lastAlive === undefined || away <= options.tombstoneGraceMs / 2 || !hasItems) {
      void this.release();
      return;
    }
    this.heldValue = true;
    this.host.stats.staleChecks++;
    this.host.log.warn(
      { event: 'dht.staleCheck', code: 'StaleCheck', lastAlive: new Date(this.lastAlive).toISOString(), awayMs: away },
      `this node was last up ${describeMs(away)} ago: its records are held until its peers confirm no deletion it missed has been forgotten`,
    );
    this.schedule(0);
  }

  /** Stops any check in progress (the DHT closes). */
  close(): void {
    this.closed = true;
    this.timer?.cancel();
  }

  /** Notes that tombstones written up to `at` are being removed; resolves once that is durable. */
  async notePurged(at: number): Promise<void> {
    if (at <= this.purgedThrough) return;
    this.purgedThrough = at;
    await this.host.store.engine.putMeta(META_PURGED_THROUGH, at);
  }

  /** Notes that the node is up now (each housekeeping pass); nothing while the store is held. */
  async noteAlive(): Promise<void> {
    if (this.heldValue || this.closed) return;
    await this.host.store.engine.putMeta(META_ALIVE_AT, this.host.env.now());
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = this.host.env.setTimeout(() => {
      // A failure while setting the store aside (a removal refused on a full disk, say) leaves it
      // held; the check runs again, and finishes emptying it.
      this.check().catch((err: Error) => {
        this.host.log.warn({ event: 'dht.staleCheckFailed', err: err.message }, `stale-store check failed, retrying: ${err.message}`);
        this.schedule(RETRY_MS);
      });
    }, ms);
  }

  private async check(): Promise<void> {
    const { node, log } = this.host;
    if (this.closed) return;
    if (!node.isReady) {
      this.schedule(RETRY_MS);
      return;
    }
    const peers = node.leafSetMembers();
    // Alone (this node started the ring again): nobody can have forgotten a deletion it missed.
    if (peers.length === 0) {
      log.info({ event: 'dht.staleCheckDone', peers: 0 }, 'no peers to ask: the store is kept');
      await this.release();
      return;
    }
    this.attempts++;
    const answers = await Promise.all(peers.map((p) => this.host.askHorizon(p).then(readHorizon, olderRelease)));
    if (this.closed) return;
    const known = answers.filter((a): a is number => a !== undefined);
    const newest = known.length > 0 ? Math.max(...known) : 0;
    const lastAlive = this.lastAlive!;
    if (newest > lastAlive) {
      await this.setAside(newest);
      return;
    }
    if (known.length === peers.length || (known.length > 0 && this.attempts >= ASK_ATTEMPTS)) {
      log.info({ event: 'dht.staleCheckDone', peers: peers.length, answered: known.length }, `no peer forgot a deletion made since this node was last up: the store is kept`);
      await this.release();
      return;
    }
    if (this.attempts === ASK_ATTEMPTS) {
      log.warn({ event: 'dht.staleCheckWaiting', code: 'StaleCheckUnanswered', peers: peers.length }, 'no peer answered whether the store is stale; still asking (the store stays held)');
    }
    this.schedule(RETRY_MS);
  }

  /** Copies the store aside, empties it, and releases it. */
  private async setAside(peerPurgedThrough: number): Promise<void> {
    const { env, store, log, stats } = this.host;
    const stamp = new Date(env.now()).toISOString().replace(/[:.]/g, '-');
    let copy: string | undefined;
    try {
      copy = await store.engine.copyAside(`stale-${stamp}`);
    } catch (err) {
      // The ring holds the live copies; the records here may bring deletions back: emptied anyway.
      log.error({ event: 'dht.staleCopyFailed', code: 'StaleStoreCopyFailed', err: (err as Error).message }, `could not keep a copy of the stale store: ${(err as Error).message}`);
    }
    let items = 0;
    for (;;) {
      const page = store.keysAfter(undefined, EMPTY_PAGE);
      if (page.length === 0) break;
      await Promise.all(page.map((k) => store.remove(k)));
      items += page.length;
      if (this.closed) return;
      await new Promise<void>((resolve) => env.defer(resolve));
    }
    stats.staleStoresSetAside++;
    stats.staleItemsDropped += items;
    const report: StaleStoreReport = { lastAlive: this.lastAlive!, peerPurgedThrough, items, copy };
    log.warn(
      { event: 'dht.staleStoreSetAside', code: 'StaleStoreSetAside', items, copy, lastAlive: new Date(report.lastAlive).toISOString(), peerPurgedThrough: new Date(peerPurgedThrough).toISOString() },
      `a peer removed deletions made after this node was last up: its ${items} stored item(s) were set aside${copy ? ` (copy in ${copy})` : ''} and the ring hands it what it should hold`,
    );
    this.host.onSetAside?.(report);
    await this.release();
  }

  private async release(): Promise<void> {
    if (this.closed) return;
    this.heldValue = false;
    try {
      await this.noteAlive();
    } catch (err) {
      this.host.log.warn({ event: 'dht.aliveWriteFailed', err: (err as Error).message }, 'could not note the time in the store');
    }
    if (!this.closed) this.host.release();
  }
}

/** The `p` of a horizon answer (undefined if malformed). */
function readHorizon(body: unknown): number | undefined {
  const p = (body as { p?: unknown } | null)?.p;
  return typeof p === 'number' && Number.isFinite(p) ? p : undefined;
}

/**
 * A failed request: a peer of a release without `horizon` refuses it as an unknown request
 * (`InvalidArgument`), which answers 0 (it keeps no such time); any other failure is no answer.
 */
function olderRelease(err: unknown): number | undefined {
  return (err as { code?: unknown } | null)?.code === 'InvalidArgument' ? 0 : undefined;
}

function describeMs(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 48 ? `${Math.round(h / 24)} days` : h >= 1 ? `${Math.round(h)} h` : `${Math.round(ms / 60_000)} min`;
}
