/**
 * Request/response over the overlay: the building block of the DHT, Scribe and the application
 * framework's message contexts.
 *
 * A request is routed to a key (or sent to a node); the receiving side's handler returns a reply,
 * which travels straight back to the originating node, where it resolves the caller's promise by
 * correlation id. Messaging stays unreliable: a request without an answer rejects with
 * {@link RpcTimeoutError} after its timeout, and the caller decides whether to retry.
 */
import type { Id } from '../id/index.ts';
import type { Env, Timer } from '../env/index.ts';
import type { AppMessage, Method, NodeHandle, ResponseCode } from '../wire/index.ts';
import type { PastryNode } from './pastry-node.ts';
import type { DeliveryInfo, DepartureReason, ForwardContext, ForwardDecision, LeafSetChange, OverlayApplication } from './types.ts';

/** Default time to wait for a reply. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** A request as its handler sees it. */
export interface RpcRequest {
  kind: string;
  /** Message id of the request: with {@link RpcEndpoint.respond}, a later answer from anywhere. */
  mid: string;
  body: unknown;
  method: Method | undefined;
  /** Transaction id of the request (propagate it into anything this request causes). */
  tx: string | undefined;
  /** The node that sent it (replies go there). */
  origin: NodeHandle;
  /** The key it was routed to; undefined for a direct request. */
  key: Id | undefined;
  hops: number;
  /** The application the answer goes to, when another application sent the request. */
  replyTo: string | undefined;
}

/** A reply; `code` defaults to 200. */
export interface RpcReply {
  code?: ResponseCode;
  body?: unknown;
}

/** What a caller receives. */
export interface RpcResponse {
  code: ResponseCode;
  body: unknown;
  /** The node that answered. */
  from: NodeHandle;
}

/**
 * Handles an incoming request. Return a reply (or a promise of one) to answer, or undefined to
 * answer nothing (one-way messages). A handler that throws answers 500 with the error's message.
 */
export type RpcHandler = (request: RpcRequest) => RpcReply | undefined | Promise<RpcReply | undefined>;

/** Options of one request. */
export interface RequestOptions {
  timeoutMs?: number;
  tx?: string;
  method?: Method;
  /**
   * The overlay application that receives the request (default: this endpoint's own name). Its
   * answer still comes back to this endpoint.
   */
  app?: string;
  /** Direct requests: wait at least this long for the hop acknowledgement (large bodies). */
  ackTimeoutMs?: number;
}

/** Thrown when no reply arrived in time. */
export class RpcTimeoutError extends Error {
  readonly code = 'Timeout';
  constructor(
    readonly kind: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to ${kind} within ${timeoutMs} ms`);
    this.name = 'RpcTimeoutError';
  }
}

/** Thrown for requests made while the endpoint is closed. */
export class RpcClosedError extends Error {
  readonly code = 'Closed';
  constructor(kind: string) {
    super(`cannot send ${kind}: the endpoint is closed`);
    this.name = 'RpcClosedError';
  }
}

/** Hooks an {@link RpcEndpoint} passes through from the overlay. */
export interface RpcEndpointHooks {
  onRequest: RpcHandler;
  onForward?: (ctx: ForwardContext) => ForwardDecision | void;
  onLeafSetChanged?: (change: LeafSetChange) => void;
  onNodeArrived?: (node: NodeHandle) => void;
  onNodeDeparted?: (node: NodeHandle, reason: DepartureReason) => void;
  onReady?: () => void;
}

interface Pending {
  resolve: (r: RpcResponse) => void;
  reject: (e: Error) => void;
  timer: Timer;
  kind: string;
}

/**
 * An overlay application that speaks request/response. Create one per layer (e.g. `dht`,
 * `scribe`) and register it on the node: `node.register(endpoint)`.
 */
export class RpcEndpoint implements OverlayApplication {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  /** Distinguishes this incarnation's message ids from a previous run of the same node. */
  private readonly prefix: string;
  private closed = false;
  /** After {@link close}: the answer requests still arriving get (none: they get no answer). */
  private refusal: RpcReply | undefined;
  private readonly log;

  constructor(
    readonly name: string,
    readonly node: PastryNode,
    private readonly env: Env,
    private readonly hooks: RpcEndpointHooks,
  ) {
    this.prefix = `${node.id.short()}.${env.random.hex(3)}.`;
    this.log = env.log.child({ app: name });
  }

  /** A fresh message id (also usable as a transaction id). */
  nextId(): string {
    return this.prefix + (++this.counter).toString(36);
  }

  /** Routes a request to the root of `key`; resolves with its reply. */
  request(key: Id, kind: string, body: unknown, options: RequestOptions = {}): Promise<RpcResponse> {
    return this.send(kind, body, options, (msg) => this.node.route(key, msg));
  }

  /** Sends a request straight to `to`; resolves with its reply. Fails fast if `to` is unreachable. */
  requestDirect(to: NodeHandle, kind: string, body: unknown, options: RequestOptions = {}): Promise<RpcResponse> {
    return this.send(kind, body, options, (msg) => this.node.send(to, msg, { onFailure: () => this.fail(msg.mid, `${to.addr} did not acknowledge`), ...(options.ackTimeoutMs !== undefined ? { ackTimeoutMs: options.ackTimeoutMs } : {}) }));
  }

  /** Routes a one-way message to the root of `key`. */
  notify(key: Id, kind: string, body: unknown, options: Omit<RequestOptions, 'timeoutMs'> = {}): void {
    if (this.closed) return;
    this.node.route(key, this.message(kind, body, options));
  }

  /** Sends a one-way message straight to `to`. */
  notifyDirect(to: NodeHandle, kind: string, body: unknown, options: Omit<RequestOptions, 'timeoutMs'> & { onFailure?: () => void } = {}): void {
    if (this.closed) return;
    this.node.send(to, this.message(kind, body, options), { onFailure: options.onFailure });
  }

  /**
   * Answers request `corr` (its {@link RpcRequest.mid}) of the node `to` later or from another
   * node: e.g. a request handed along a chain of nodes whose last one answers. The caller's
   * promise resolves with the first answer; later ones are ignored.
   */
  respond(to: NodeHandle, corr: string, reply: RpcReply, tx?: string, replyTo?: string): void {
    if (this.closed) return;
    this.reply({ app: this.name, mid: corr, tx, replyTo }, to, reply);
  }

  /**
   * Rejects every pending request and stops answering. With `refusal`, requests arriving
   * afterwards get it as their answer, and those being handled still get theirs (keep the
   * endpoint registered): a peer's request then fails or completes at once instead of waiting
   * for its timeout, e.g. while the node is stopping but still in its peers' leaf sets.
   */
  close(refusal?: RpcReply): void {
    this.closed = true;
    this.refusal = refusal;
    for (const [mid, p] of this.pending) {
      p.timer.cancel();
      this.pending.delete(mid);
      p.reject(new RpcClosedError(p.kind));
    }
  }

  /** Requests awaiting a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  private message(kind: string, body: unknown, options: Omit<RequestOptions, 'timeoutMs'>): AppMessage {
    const msg: AppMessage = { app: this.name, mid: this.nextId(), kind, body };
    if (options.tx !== undefined) msg.tx = options.tx;
    if (options.method !== undefined) msg.method = options.method;
    if (options.app !== undefined && options.app !== this.name) {
      msg.app = options.app;
      msg.replyTo = this.name;
    }
    return msg;
  }

  private send(kind: string, body: unknown, options: RequestOptions, transmit: (msg: AppMessage) => void): Promise<RpcResponse> {
    if (this.closed) return Promise.reject(new RpcClosedError(kind));
    return new Promise<RpcResponse>((resolve, reject) => {
      const msg = this.message(kind, body, options);
      const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
      const timer = this.env.setTimeout(() => this.fail(msg.mid, undefined, timeoutMs), timeoutMs);
      this.pending.set(msg.mid, { resolve, reject, timer, kind });
      try {
        transmit(msg);
      } catch (err) {
        timer.cancel();
        this.pending.delete(msg.mid);
        reject(err as Error);
      }
    });
  }

  private fail(mid: string, reason: string | undefined, timeoutMs?: number): void {
    const p = this.pending.get(mid);
    if (!p) return;
    this.pending.delete(mid);
    p.timer.cancel();
    const err = new RpcTimeoutError(p.kind, timeoutMs ?? 0);
    if (reason) err.message = `no reply to ${p.kind}: ${reason}`;
    p.reject(err);
  }

  // OverlayApplication -------------------------------------------------------------------------

  deliver(msg: AppMessage, info: DeliveryInfo): void {
    if (msg.corr !== undefined) {
      const p = this.pending.get(msg.corr);
      if (!p) return; // late reply after a timeout
      this.pending.delete(msg.corr);
      p.timer.cancel();
      p.resolve({ code: msg.code ?? 200, body: msg.body, from: info.from });
      return;
    }
    if (this.closed) {
      if (this.refusal) this.reply(msg, info.origin, this.refusal, true);
      return;
    }
    const request: RpcRequest = {
      kind: msg.kind ?? '',
      mid: msg.mid,
      body: msg.body,
      method: msg.method,
      tx: msg.tx,
      origin: info.origin,
      key: info.key,
      hops: info.hops,
      replyTo: msg.replyTo,
    };
    let result: RpcReply | undefined | Promise<RpcReply | undefined>;
    try {
      result = this.hooks.onRequest(request);
    } catch (err) {
      result = this.errorReply(request, err);
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => this.reply(msg, info.origin, reply),
        (err: unknown) => this.reply(msg, info.origin, this.errorReply(request, err)),
      );
    } else {
      this.reply(msg, info.origin, result);
    }
  }

  private errorReply(request: RpcRequest, err: unknown): RpcReply {
    const e = err as { message?: string; code?: string };
    this.log.error({ code: 'HandlerError', kind: request.kind, tx: request.tx, err: { message: e?.message, code: e?.code } }, 'request handler failed');
    return { code: 500, body: { error: e?.code ?? 'InternalError', message: e?.message ?? String(err) } };
  }

  private reply(request: AppMessage, to: NodeHandle, reply: RpcReply | undefined, evenClosed = false): void {
    // Closed with a refusal (still registered), the answers of requests being handled when it
    // closed still go out: dropping them would leave their senders waiting for their timeout.
    if (reply === undefined || (this.closed && !evenClosed && !this.refusal)) return;
    if (!this.node.isReady && this.node.state !== 'joining') return;
    // The answer goes to the application that asked (replyTo), which correlates it.
    const msg: AppMessage = { app: request.replyTo ?? this.name, mid: this.nextId(), corr: request.mid, code: reply.code ?? 200, body: reply.body };
    if (request.tx !== undefined) msg.tx = request.tx;
    // No hop acknowledgement: a lost reply is the requester's timeout to handle.
    this.node.send(to, msg, { ack: false });
  }

  forward(ctx: ForwardContext): ForwardDecision | void {
    return this.hooks.onForward?.(ctx);
  }

  leafSetChanged(change: LeafSetChange): void {
    this.hooks.onLeafSetChanged?.(change);
  }

  nodeArrived(node: NodeHandle): void {
    this.hooks.onNodeArrived?.(node);
  }

  nodeDeparted(node: NodeHandle, reason: DepartureReason): void {
    this.hooks.onNodeDeparted?.(node, reason);
  }

  ready(): void {
    this.hooks.onReady?.();
  }
}
