/**
 * One TCP (or TLS) connection between two nodes: framing in both directions, the HELLO
 * handshake state, write batching and backpressure. Policy (which peer a connection belongs to,
 * dialling, backoff, queue limits) lives in {@link TcpTransport}; a connection reports to it
 * through a {@link ConnectionContext}.
 */
import type { Socket } from 'node:net';
import type { Env, Logger, Timer } from '../env/index.ts';
import type { Id } from '../id/index.ts';
import { FrameDecoder, MessageType, SplicedBody, WireError, decodeMessage, encodeMessage, frameHeader, FRAME_HEADER_BYTES } from '../wire/index.ts';
import type { EncodedBody, WireMessage } from '../wire/index.ts';
import type { TransportStats } from './types.ts';

/** Largest first frame (the HELLO) a connection accepts before it knows its peer. */
export const HELLO_MAX_FRAME_BYTES = 4096;

/** Stable codes of transport-level failures (logged as `code`). */
export type TransportErrorCode =
  | 'MalformedFrame'
  | 'FrameTooLarge'
  | 'MalformedMessage'
  | 'UnknownMessageType'
  | 'ProtocolMismatch'
  | 'HandshakeRequired'
  | 'HandshakeTimeout'
  | 'FrameStalled'
  | 'HandshakeRejected'
  | 'HandshakeFailed'
  | 'TlsRefused'
  | 'DialFailed'
  | 'BadAddress'
  | 'QueueFull'
  | 'EncodeFailed'
  | 'ListenFailed';

/** An error with a stable {@link TransportErrorCode}. */
export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** Lifecycle of a connection. `closing`: we decided to close; input is ignored from then on. */
export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

/** Why a connection ended, when we know better than the socket. */
export interface ConnectionFailure {
  code: TransportErrorCode;
  reason: string;
  /** Already logged (by {@link Connection.reject}); the transport need not log it again. */
  logged?: boolean;
}

/** What a connection needs from its transport. @internal */
export interface ConnectionContext {
  readonly env: Env;
  readonly log: Logger;
  readonly stats: TransportStats;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  /** An open connection whose peer sends nothing for this long in the middle of a frame is closed. */
  readonly frameStallTimeoutMs: number;
  readonly closeTimeoutMs: number;
  /** Our HELLO frame body (encoded once). */
  readonly helloBody: Buffer;
  /** A frame that arrived before the handshake completed (HELLO, HELLO_REJECT or a violation). */
  onHandshakeMessage(conn: Connection, message: WireMessage): void;
  /** A valid message on an open connection. */
  onMessage(conn: Connection, message: WireMessage): void;
  /** The connection stops being usable for sending (first call only). */
  onDetach(conn: Connection): void;
  /** The socket drained after being blocked. */
  onDrain(conn: Connection): void;
  /** The socket closed (always called exactly once). */
  onClose(conn: Connection, error: Error | undefined): void;
}

/** Copy bodies below this size into one batch buffer; write larger ones as they are. */
const COPY_LIMIT = 16 * 1024;
/** Size of one coalesced write. */
const BATCH_BYTES = 256 * 1024;
/** Stop handing data to the socket once it buffers this much; resume on 'drain'. */
const SOCKET_BUFFER_LIMIT = 1024 * 1024;
/** First byte of a TLS handshake record, for a helpful hint when TLS meets plaintext. */
const TLS_HANDSHAKE_RECORD = 0x16;

/** FIFO of message bodies with O(1) shift (Array#shift is O(n) on long arrays). */
class BufferQueue {
  private items: (EncodedBody | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(b: EncodedBody): void {
    this.items.push(b);
  }

  peek(i = 0): EncodedBody {
    return this.items[this.head + i]!;
  }

  shift(): EncodedBody {
    const b = this.items[this.head]!;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return b;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/** Options of a new {@link Connection}. @internal */
export interface ConnectionOptions {
  outbound: boolean;
  /** Address we dialled (outbound only). */
  dialAddr?: string;
  tls: boolean;
}

/** A connection to one peer. @internal — use {@link TcpTransport}. */
export class Connection {
  state: ConnectionState = 'handshake';
  readonly outbound: boolean;
  readonly dialAddr: string | undefined;
  readonly tls: boolean;
  /** The peer's advertised address (from its HELLO). */
  peerAddr: string | undefined;
  peerId: Id | undefined;
  /** When data last arrived, and the timer watching a frame left incomplete (`frameStallTimeoutMs`). */
  private lastDataAt = 0;
  private stallTimer: Timer | undefined;
  /** Common name of the peer's certificate (TLS only). */
  peerCn: string | undefined;
  /** TCP connected (outbound; inbound sockets are born connected). */
  connected: boolean;
  /** TLS handshake complete (or not TLS). */
  secured: boolean;
  /** First known cause of the end of this connection. */
  failure: ConnectionFailure | undefined;
  /** Remote socket endpoint `ip:port`, for logs. */
  remote: string;

  private readonly decoder: FrameDecoder;
  private readonly queue = new BufferQueue();
  /** Frame bytes (headers included) queued here and not yet handed to the socket. */
  private queued = 0;
  private blocked = false;
  private flushScheduled = false;
  private handshakeTimer: Timer | undefined;
  private closeTimer: Timer | undefined;
  private detached = false;
  private socketError: Error | undefined;
  private readonly flushFn = (): void => this.flush();

  constructor(
    readonly socket: Socket,
    private readonly ctx: ConnectionContext,
    options: ConnectionOptions,
  ) {
    this.outbound = options.outbound;
    this.dialAddr = options.dialAddr;
    this.tls = options.tls;
    this.connected = !options.outbound;
    this.secured = !options.tls || !options.outbound;
    this.remote = socketRemote(socket) ?? options.dialAddr ?? '?';
    // The first frame is the peer's HELLO, a few dozen bytes: it may not announce megabytes.
    this.decoder = new FrameDecoder(ctx.maxFrameBytes, Math.min(ctx.maxFrameBytes, HELLO_MAX_FRAME_BYTES));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => {
      this.socketError ??= err;
    });
    socket.on('close', () => this.onClose());
    this.handshakeTimer = ctx.env.setTimeout(() => this.onHandshakeTimeout(), ctx.handshakeTimeoutMs);
  }

  /** The peer as best known: advertised address, else dialled address, else socket endpoint. */
  get label(): string {
    return this.peerAddr ?? this.dialAddr ?? this.remote;
  }

  /** Bytes waiting to go out on this connection (our queue plus the socket's buffer). */
  get pendingBytes(): number {
    return this.queued + this.socket.writableLength;
  }

  /** Outbound: TCP (and TLS) is up; say HELLO. */
  onTransportReady(): void {
    this.connected = true;
    this.secured = true;
    const remote = socketRemote(this.socket);
    if (remote) this.remote = remote;
    this.socket.setKeepAlive(true, 15_000);
    if (this.outbound) this.writeFrameNow(this.ctx.helloBody);
  }

  /** Completes the handshake: replies with our HELLO if we are the accepting side. */
  open(hello: { addr: string; id?: Id }): void {
    this.peerAddr = hello.addr;
    this.peerId = hello.id;
    if (!this.outbound) this.writeFrameNow(this.ctx.helloBody);
    this.state = 'open';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = undefined;
  }

  /** Queues one encoded message body; it is written with others at the end of this turn. */
  enqueue(body: EncodedBody): void {
    this.queue.push(body);
    this.queued += FRAME_HEADER_BYTES + body.length;
    if (!this.flushScheduled && !this.blocked) {
      this.flushScheduled = true;
      this.ctx.env.defer(this.flushFn);
    }
  }

  /**
   * Refuses the peer: logs one line, counts it in `stats.rejected` and closes. With
   * `sendReject`, a HELLO_REJECT carrying `"<code>: <reason>"` is written first and the
   * connection is ended gracefully so the peer can read it.
   */
  reject(code: TransportErrorCode, reason: string, sendReject = false): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.ctx.stats.rejected++;
    this.ctx.log.warn({ code, peer: this.label, remote: this.remote, reason }, `rejected connection from ${this.label}: ${reason}`);
    this.failure = { code, reason, logged: true };
    if (sendReject) {
      this.writeFrameNow(encodeMessage({ t: MessageType.HELLO_REJECT, reason: `${code}: ${reason}`.slice(0, 1000) }));
      this.end();
    } else {
      this.destroy();
    }
  }

  /** Closes gracefully: flushes what is queued, then FIN; destroyed if the peer lingers. */
  end(): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.flush(true);
    this.markClosing();
    this.socket.end();
    this.closeTimer ??= this.ctx.env.setTimeout(() => this.socket.destroy(), this.ctx.closeTimeoutMs);
  }

  /** Closes at once, discarding anything unsent. */
  destroy(failure?: ConnectionFailure): void {
    if (this.state === 'closed') return;
    this.failure ??= failure;
    this.markClosing();
    this.socket.destroy();
  }

  /** Messages queued here and not yet handed to the socket (dropped if the connection dies). */
  get queuedMessages(): number {
    return this.queue.length;
  }

  private markClosing(): void {
    if (this.state !== 'closed') this.state = 'closing';
    this.handshakeTimer?.cancel();
    this.handshakeTimer = undefined;
    if (!this.detached) {
      this.detached = true;
      this.ctx.onDetach(this);
    }
  }

  /** Writes a handshake frame immediately (header and body, corked into one write). */
  private writeFrameNow(body: Buffer): void {
    const socket = this.socket;
    socket.cork();
    socket.write(frameHeader(body.length));
    socket.write(body);
    socket.uncork();
    this.ctx.stats.bytesOut += FRAME_HEADER_BYTES + body.length;
  }

  /**
   * Hands queued frames to the socket. Small frames are coalesced into one buffer per batch
   * (one copy, far fewer write calls); large bodies are written as they are (a spliced one piece
   * by piece), behind a 4-byte header, under cork so they still leave in one writev.
   */
  private flush(force = false): void {
    this.flushScheduled = false;
    if ((this.state !== 'open' && !force) || (this.blocked && !force) || this.queue.length === 0) return;
    const socket = this.socket;
    const stats = this.ctx.stats;
    const queue = this.queue;
    socket.cork();
    while (queue.length > 0) {
      const first = queue.peek();
      if (first instanceof SplicedBody || first.length >= COPY_LIMIT) {
        queue.shift();
        socket.write(frameHeader(first.length));
        if (first instanceof SplicedBody) for (const part of first.parts) socket.write(part);
        else socket.write(first);
        const bytes = FRAME_HEADER_BYTES + first.length;
        this.queued -= bytes;
        stats.bytesOut += bytes;
        stats.messagesOut++;
      } else {
        let size = 0;
        let n = 0;
        const available = queue.length;
        while (n < available) {
          const b = queue.peek(n);
          if (b instanceof SplicedBody || b.length >= COPY_LIMIT || (n > 0 && size + FRAME_HEADER_BYTES + b.length > BATCH_BYTES)) break;
          size += FRAME_HEADER_BYTES + b.length;
          n++;
        }
        const batch = Buffer.allocUnsafe(size);
        let offset = 0;
        for (let i = 0; i < n; i++) {
          const b = queue.shift() as Buffer; // the loop above took whole buffers only
          batch.writeUInt32BE(b.length, offset);
          offset += FRAME_HEADER_BYTES;
          offset += b.copy(batch, offset);
        }
        socket.write(batch);
        this.queued -= size;
        stats.bytesOut += size;
        stats.messagesOut += n;
      }
      if (!force && socket.writableLength >= SOCKET_BUFFER_LIMIT) {
        // The last write returned false (the buffer is above its high-water mark), so 'drain' follows.
        this.blocked = true;
        break;
      }
    }
    socket.uncork();
  }

  private onDrain(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.flush();
    if (!this.blocked) this.ctx.onDrain(this);
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.ctx.stats.bytesIn += chunk.length;
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      this.rejectWireError(err, chunk);
      return;
    }
    // A frame left incomplete is buffered (up to the frame limit): a peer must not stop halfway.
    // One timer per stall period, not per chunk (sockets are never paused: data keeps coming).
    this.lastDataAt = this.ctx.env.now();
    if (this.decoder.pendingBytes > 0 && this.stallTimer === undefined) this.armStallTimer(this.ctx.frameStallTimeoutMs);
    for (let i = 0; i < bodies.length; i++) {
      let message: WireMessage;
      try {
        message = decodeMessage(bodies[i]!);
      } catch (err) {
        this.rejectWireError(err);
        return;
      }
      if (this.state === 'open') {
        if (message.t === MessageType.HELLO || message.t === MessageType.HELLO_REJECT) this.ctx.onHandshakeMessage(this, message);
        else this.ctx.onMessage(this, message);
      } else if (this.state === 'handshake') {
        this.ctx.onHandshakeMessage(this, message);
      }
      // A handler may have closed us (a rejected handshake, the transport closing).
      if (this.state !== 'open' && this.state !== 'handshake') return;
    }
  }

  private rejectWireError(err: unknown, chunk?: Buffer): void {
    if (err instanceof WireError) {
      let reason = err.message;
      if (chunk && this.state === 'handshake' && this.decoder.pendingBytes === chunk.length && chunk[0] === TLS_HANDSHAKE_RECORD) {
        reason += ' (looks like a TLS handshake: the peer uses TLS and this node does not)';
      }
      this.reject(err.code, reason);
    } else {
      this.reject('MalformedFrame', `cannot decode frame (${(err as Error).message})`);
    }
  }

  private onEnd(): void {
    this.checkTruncated();
  }

  private checkTruncated(): void {
    if ((this.state === 'open' || this.state === 'handshake') && this.decoder.pendingBytes > 0) {
      this.reject('MalformedFrame', `connection closed in the middle of a frame (${this.decoder.pendingBytes} bytes pending)`);
    }
  }

  private armStallTimer(ms: number): void {
    this.stallTimer = this.ctx.env.setTimeout(() => {
      this.stallTimer = undefined;
      if (this.state !== 'open' || this.decoder.pendingBytes === 0) return;
      const idle = this.ctx.env.now() - this.lastDataAt;
      if (idle < this.ctx.frameStallTimeoutMs) {
        this.armStallTimer(this.ctx.frameStallTimeoutMs - idle);
        return;
      }
      this.reject('FrameStalled', `nothing received for ${this.ctx.frameStallTimeoutMs} ms in the middle of a frame (${this.decoder.pendingBytes} bytes held)`);
    }, ms);
  }

  private onHandshakeTimeout(): void {
    this.handshakeTimer = undefined;
    if (this.state !== 'handshake') return;
    const reason = `no handshake within ${this.ctx.handshakeTimeoutMs} ms`;
    if (this.outbound) this.destroy({ code: 'HandshakeTimeout', reason });
    else this.reject('HandshakeTimeout', reason);
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.checkTruncated();
    this.markClosing();
    this.state = 'closed';
    this.handshakeTimer?.cancel();
    this.stallTimer?.cancel();
    this.closeTimer?.cancel();
    this.handshakeTimer = undefined;
    this.closeTimer = undefined;
    this.ctx.onClose(this, this.socketError);
    this.queue.clear();
    this.queued = 0;
  }
}

function socketRemote(socket: Socket): string | undefined {
  const host = socket.remoteAddress;
  const port = socket.remotePort;
  if (host === undefined || port === undefined) return undefined;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
