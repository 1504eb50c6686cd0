/**
 * Coalesces a root's replica requests to one peer. Under load a root sends the same replicas a
 * stream of small requests (one R_PUT per write, one R_DIGEST or R_GET per read); each costs a
 * message, an acknowledgement and a reply on both sides. The batcher keeps at most `window`
 * messages to a peer unanswered; requests made meanwhile wait and leave together in one R_BATCH,
 * answered by one reply. An idle peer gets each request at once (after the current turn), alone,
 * as before, so batching adds no latency until the window is full, and batches grow with the load.
 *
 * A request never waits longer in total than its timeout: one that queued for so long that no
 * time is left fails as a timeout without being sent.
 *
 * A peer running a release from before batching refuses R_BATCH as an unknown request kind
 * (during a rolling upgrade). Its batch is then re-sent one request at a time, and that peer
 * gets single requests only until {@link UNBATCHED_RETRY_MS} have passed.
 */
import type { Env } from '../env/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import { RpcTimeoutError } from '../overlay/index.ts';
import { Kind } from './protocol.ts';

/** One answer inside an R_BATCH reply: the body, or an error code and message. */
export type BatchAnswer = { b: unknown } | { e: string; m: string };

/** Body of an R_BATCH request: `[kind, body]` per request, in order. */
export interface BatchBody {
  r: [string, unknown][];
}

/** Body of an R_BATCH reply: one answer per request, in the same order. */
export interface BatchReplyBody {
  r: BatchAnswer[];
}

/** Kinds that may travel in a batch (the per-operation replica requests). */
export const BATCHABLE_KINDS: ReadonlySet<string> = new Set([Kind.R_GET, Kind.R_DIGEST, Kind.R_PUT]);

/** Most requests in one batch (the replica refuses longer ones). */
export const MAX_BATCH_REQUESTS = 256;

/** How long a peer that refused R_BATCH gets single requests before batching is tried again. */
export const UNBATCHED_RETRY_MS = 10 * 60_000;

/** Tuning of the batcher. */
export interface ReplicaBatcherOptions {
  /** Messages to one peer that may be unanswered at a time (≥ 1). */
  window: number;
  /** Most requests per batch (≤ {@link MAX_BATCH_REQUESTS}). */
  maxRequests: number;
  /** Most bytes of record bodies per batch (a single larger request travels alone). */
  maxBytes: number;
  /** Timeout of each request, queueing included. */
  timeoutMs: number;
}

/** Sends one request to a peer (the RPC layer); resolves with the reply body or rejects. */
export type ReplicaSend = (to: NodeHandle, kind: string, body: unknown, timeoutMs: number) => Promise<unknown>;

interface Pending {
  kind: string;
  body: unknown;
  bytes: number;
  at: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface PeerQueue {
  to: NodeHandle;
  pending: Pending[];
  inFlight: number;
  scheduled: boolean;
}

/** An error answer of a batched request, with the replica's error code. */
export class ReplicaAnswerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ReplicaAnswerError';
  }
}

/** Counters the batcher keeps (batches sent, requests they carried). */
export interface BatchStats {
  replicaBatches: number;
  replicaBatchedRequests: number;
}

/** Whether `err` is a replica's refusal of R_BATCH as a kind it does not know (an older node). */
export function isBatchUnknownToPeer(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'InvalidArgument' && typeof e.message === 'string' && e.message.includes(`unknown request kind "${Kind.R_BATCH}"`);
}

export class ReplicaBatcher {
  private readonly peers = new Map<string, PeerQueue>();
  /** Peers that refused R_BATCH, with the time they did. */
  private readonly unbatched = new Map<string, number>();

  constructor(
    private readonly env: Env,
    private readonly send: ReplicaSend,
    private readonly options: ReplicaBatcherOptions,
    private readonly stats: BatchStats,
  ) {
    if (!Number.isInteger(options.window) || options.window < 1) throw new RangeError('batch window must be an integer ≥ 1');
    if (!Number.isInteger(options.maxRequests) || options.maxRequests < 1 || options.maxRequests > MAX_BATCH_REQUESTS) {
      throw new RangeError(`batch size must be an integer 1..${MAX_BATCH_REQUESTS}`);
    }
  }

  /** Sends `kind` / `body` to `to`, alone or in a batch; resolves with the reply body. */
  ask(to: NodeHandle, kind: string, body: unknown): Promise<unknown> {
    if (!BATCHABLE_KINDS.has(kind) || this.refusesBatches(to)) return this.send(to, kind, body, this.options.timeoutMs);
    let q = this.peers.get(to.id.hex);
    if (!q) {
      q = { to, pending: [], inFlight: 0, scheduled: false };
      this.peers.set(to.id.hex, q);
    }
    q.to = to;
    const peer = q;
    return new Promise<unknown>((resolve, reject) => {
      peer.pending.push({ kind, body, bytes: bodyBytes(kind, body), at: this.env.now(), resolve, reject });
      this.schedule(peer);
    });
  }

  /** Whether `to` refused R_BATCH recently (it gets single requests). */
  private refusesBatches(to: NodeHandle): boolean {
    if (this.unbatched.size === 0) return false;
    const since = this.unbatched.get(to.id.hex);
    if (since === undefined) return false;
    if (this.env.now() - since < UNBATCHED_RETRY_MS) return true;
    this.unbatched.delete(to.id.hex);
    return false;
  }

  /** Flushes after the current turn, so requests made in the same turn can leave together. */
  private schedule(q: PeerQueue): void {
    if (q.scheduled || q.inFlight >= this.options.window || q.pending.length === 0) return;
    q.scheduled = true;
    this.env.defer(() => {
      q.scheduled = false;
      this.flush(q);
    });
  }

  private flush(q: PeerQueue): void {
    if (this.refusesBatches(q.to) && q.pending.length > 0) {
      // Queued before the peer refused a batch: each goes alone now, not behind the window.
      const queued = q.pending.splice(0);
      if (q.inFlight === 0 && this.peers.get(q.to.id.hex) === q) this.peers.delete(q.to.id.hex);
      void this.resendAlone(q.to, queued);
      return;
    }
    while (q.inFlight < this.options.window && q.pending.length > 0) {
      const batch = this.take(q);
      if (batch.length === 0) continue;
      const remaining = Math.max(1, this.options.timeoutMs - (this.env.now() - batch[0]!.at));
      q.inFlight++;
      const done = (): void => {
        q.inFlight--;
        if (q.inFlight === 0 && q.pending.length === 0) {
          if (this.peers.get(q.to.id.hex) === q) this.peers.delete(q.to.id.hex);
        } else {
          this.schedule(q);
        }
      };
      if (batch.length === 1) {
        const only = batch[0]!;
        this.send(q.to, only.kind, only.body, remaining).then(only.resolve, only.reject).finally(done);
        continue;
      }
      this.stats.replicaBatches++;
      this.stats.replicaBatchedRequests += batch.length;
      const body: BatchBody = { r: batch.map((p) => [p.kind, p.body]) };
      this.send(q.to, Kind.R_BATCH, body, remaining)
        .then(
          (reply) => settleBatch(batch, reply),
          (err: Error) => {
            if (isBatchUnknownToPeer(err)) {
              const resent = this.resendAlone(q.to, batch);
              this.flush(q); // what queued meanwhile goes alone too
              return resent;
            }
            for (const p of batch) p.reject(err);
          },
        )
        .finally(done);
    }
  }

  /** Sends a refused batch's requests one by one, each within what is left of its timeout. */
  private resendAlone(to: NodeHandle, batch: Pending[]): Promise<void> {
    if (!this.unbatched.has(to.id.hex)) this.unbatched.set(to.id.hex, this.env.now());
    const now = this.env.now();
    const sends = batch.map((p) => {
      const left = this.options.timeoutMs - (now - p.at);
      if (left <= 0) {
        p.reject(new RpcTimeoutError(p.kind, this.options.timeoutMs));
        return undefined;
      }
      return this.send(to, p.kind, p.body, left).then(p.resolve, p.reject);
    });
    return Promise.all(sends).then(() => undefined);
  }

  /** The next batch: oldest first, within the size limits; requests out of time fail here. */
  private take(q: PeerQueue): Pending[] {
    const now = this.env.now();
    const batch: Pending[] = [];
    let bytes = 0;
    while (q.pending.length > 0 && batch.length < this.options.maxRequests) {
      const p = q.pending[0]!;
      if (now - p.at >= this.options.timeoutMs) {
        q.pending.shift();
        p.reject(new RpcTimeoutError(p.kind, this.options.timeoutMs));
        continue;
      }
      if (batch.length > 0 && bytes + p.bytes > this.options.maxBytes) break;
      q.pending.shift();
      batch.push(p);
      bytes += p.bytes;
    }
    return batch;
  }
}

function settleBatch(batch: Pending[], reply: unknown): void {
  const answers = (reply as Partial<BatchReplyBody> | null)?.r;
  if (!Array.isArray(answers) || answers.length !== batch.length) {
    const err = new ReplicaAnswerError('MalformedReply', 'the replica answered the batch with a malformed reply');
    for (const p of batch) p.reject(err);
    return;
  }
  for (let i = 0; i < batch.length; i++) {
    const a = answers[i] as Partial<{ b: unknown; e: unknown; m: unknown }> | null;
    const p = batch[i]!;
    if (a !== null && typeof a === 'object' && 'b' in a) p.resolve(a.b);
    else if (a !== null && typeof a === 'object' && typeof a.e === 'string') p.reject(new ReplicaAnswerError(a.e, typeof a.m === 'string' ? a.m : a.e));
    else p.reject(new ReplicaAnswerError('MalformedReply', 'the replica answered a batched request with a malformed answer'));
  }
}

/** Approximate encoded size of a request (record bodies dominate). */
function bodyBytes(kind: string, body: unknown): number {
  if (kind !== Kind.R_PUT) return 64;
  const item = (body as { i?: { b?: unknown } } | null)?.i;
  return 256 + (typeof item?.b === 'string' ? item.b.length : 0);
}
