/**
 * Message contexts: how applications send Pi messages and answer them.
 *
 * A context carries a transaction id. Every message sent through it carries that id, every log
 * line written through `ctx.log` carries it, and a context made from a received message keeps the
 * sender's transaction id — so one request's trail can be followed across the ring by grepping
 * one id. Message ids and correlation ids are the framework's business (the overlay's
 * {@link RpcEndpoint}); applications see methods, response codes and entities.
 *
 * Messaging is unreliable: `routeTo` and `sendDirect` reject with `Timeout`
 * ({@link RpcTimeoutError}) when no answer came in time, and the caller decides what to retry.
 */
import type { Env, Logger } from '../env/index.ts';
import type { Id } from '../id/index.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../overlay/index.ts';
import type { RpcEndpoint } from '../overlay/index.ts';
import { METHODS, RESPONSE_CODES } from '../wire/index.ts';
import type { Method, NodeHandle, ResponseCode } from '../wire/index.ts';
import { AppError } from './errors.ts';

/** Overlay application names of Pi applications are prefixed, so they never clash with core layers. */
export const APP_PREFIX = 'app:';

/** The overlay application name of the Pi application `app`. */
export function overlayName(app: string): string {
  return APP_PREFIX + app;
}

/** Message kinds on the wire: a request expects an answer, a notification does not. */
export const KIND_REQUEST = 'r';
export const KIND_NOTIFY = 'n';

/** An answer to a request. */
export interface PiResponse<T = unknown> {
  code: ResponseCode;
  entity: T;
  /** The node that answered. */
  from: NodeHandle;
}

/** Options of {@link MessageContext.routeTo} and {@link MessageContext.sendDirect}. */
export interface SendOptions {
  /** The application that receives the message (default: the sending application). */
  app?: string;
  /** How long to wait for the answer (default 10 s). */
  timeoutMs?: number;
}

/** What a context needs from its application: the endpoint it sends through, and the env. */
export interface MessagePort {
  readonly appName: string;
  readonly endpoint: RpcEndpoint;
  readonly env: Env;
}

function checkMethod(method: unknown): Method {
  if (!METHODS.includes(method as Method)) throw new AppError('InvalidArgument', `method must be one of ${METHODS.join(', ')}, got ${JSON.stringify(method)}`);
  return method as Method;
}

function checkCode(code: unknown): ResponseCode {
  if (!RESPONSE_CODES.includes(code as ResponseCode)) throw new AppError('InvalidArgument', `response code must be one of ${RESPONSE_CODES.join(', ')}, got ${JSON.stringify(code)}`);
  return code as ResponseCode;
}

/**
 * A transaction's handle on messaging: send requests (routed by id or direct to a node) and
 * one-way notifications, all carrying this context's transaction id.
 */
export class MessageContext {
  private logValue: Logger | undefined;
  private envValue: Env | undefined;

  constructor(
    protected readonly port: MessagePort,
    /** Transaction id: carried by every message sent through this context and every log line. */
    readonly tx: string,
  ) {}

  /** A logger whose every line carries this context's transaction id (and the application name). */
  get log(): Logger {
    return (this.logValue ??= this.port.env.log.child({ tx: this.tx }));
  }

  /** The application's env with {@link log} as its logger (pass it to code that logs). */
  get env(): Env {
    return (this.envValue ??= this.port.env.withLog({ tx: this.tx }));
  }

  /**
   * Routes `entity` with `method` to the node whose id is closest to `id`, to application
   * `options.app` (default: this one), and resolves with its answer. Rejects with `Timeout`
   * when none came within `options.timeoutMs`.
   */
  async routeTo<T = unknown>(id: Id, method: Method, entity: unknown, options: SendOptions = {}): Promise<PiResponse<T>> {
    checkMethod(method);
    const r = await this.port.endpoint.request(id, KIND_REQUEST, entity, this.requestOptions(method, options));
    return { code: r.code, entity: r.body as T, from: r.from };
  }

  /** Sends `entity` straight to `node` (as {@link routeTo}); fails fast if the node does not acknowledge. */
  async sendDirect<T = unknown>(node: NodeHandle, method: Method, entity: unknown, options: SendOptions = {}): Promise<PiResponse<T>> {
    checkMethod(method);
    const r = await this.port.endpoint.requestDirect(node, KIND_REQUEST, entity, this.requestOptions(method, options));
    return { code: r.code, entity: r.body as T, from: r.from };
  }

  /** Routes a one-way message (no answer, no timeout) toward `id`. */
  notify(id: Id, method: Method, entity: unknown, options: Pick<SendOptions, 'app'> = {}): void {
    checkMethod(method);
    this.port.endpoint.notify(id, KIND_NOTIFY, entity, { tx: this.tx, method, ...this.target(options.app) });
  }

  /** Sends a one-way message straight to `node`. */
  notifyDirect(node: NodeHandle, method: Method, entity: unknown, options: Pick<SendOptions, 'app'> = {}): void {
    checkMethod(method);
    this.port.endpoint.notifyDirect(node, KIND_NOTIFY, entity, { tx: this.tx, method, ...this.target(options.app) });
  }

  private requestOptions(method: Method, options: SendOptions): { tx: string; method: Method; timeoutMs: number; app?: string } {
    return { tx: this.tx, method, timeoutMs: options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, ...this.target(options.app) };
  }

  private target(app: string | undefined): { app?: string } {
    return app === undefined || app === this.port.appName ? {} : { app: overlayName(app) };
  }
}

/** What the framework knows of a received message. */
export interface ReceivedMessage {
  mid: string;
  method: Method | undefined;
  entity: unknown;
  tx: string;
  origin: NodeHandle;
  key: Id | undefined;
  hops: number;
  expectsReply: boolean;
  /** The overlay application the answer goes to (set when another application sent it). */
  replyTo: string | undefined;
}

/**
 * A received message and the means to answer it. Sending through it keeps the sender's
 * transaction id. `reply` answers once; a request left unanswered times out at the sender.
 */
export class ReceivedMessageContext extends MessageContext {
  private repliedValue = false;

  constructor(
    port: MessagePort,
    private readonly received: ReceivedMessage,
  ) {
    super(port, received.tx);
  }

  get method(): Method | undefined {
    return this.received.method;
  }

  /** The entity sent (treat as read-only). */
  get entity(): unknown {
    return this.received.entity;
  }

  /** The node that sent the message. */
  get origin(): NodeHandle {
    return this.received.origin;
  }

  /** The id the message was routed to; undefined for a direct message. */
  get key(): Id | undefined {
    return this.received.key;
  }

  get hops(): number {
    return this.received.hops;
  }

  /** Whether the sender waits for an answer (a request rather than a notification). */
  get expectsReply(): boolean {
    return this.received.expectsReply;
  }

  /** Whether {@link reply} was called. */
  get replied(): boolean {
    return this.repliedValue;
  }

  /**
   * Answers the sender with `code` and `entity`. Only the first answer counts: a second call
   * throws `InvalidArgument`. Answering a notification is harmless (nobody waits for it).
   */
  reply(code: ResponseCode, entity?: unknown): void {
    checkCode(code);
    if (this.repliedValue) throw new AppError('InvalidArgument', `message ${this.received.mid} was answered already`);
    this.repliedValue = true;
    if (!this.received.expectsReply) return;
    this.port.endpoint.respond(this.received.origin, this.received.mid, { code, body: entity }, this.tx, this.received.replyTo);
  }
}
