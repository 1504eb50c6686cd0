/**
 * The real transport: length-prefixed msgpack frames over TCP, optionally inside mutual TLS.
 *
 * - One connection per peer is enough for both directions: an inbound connection is registered
 *   under the address the peer advertises in its HELLO, so replies reuse it. If both sides dial
 *   at once there are two connections; either is used.
 * - `send` never blocks or throws for network reasons: messages to a peer without a connection
 *   wait for the dial (one at a time per peer); dial failures drop them and put the peer in
 *   exponential backoff, during which sends are dropped at once. Every drop is counted.
 * - Per-peer queues are capped; a peer that stops reading costs at most `maxQueuedBytes`.
 * - Anything malformed from a peer is logged once with its code and closes that connection only.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Env, Logger } from '../env/index.ts';
import type { Id } from '../id/index.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  MessageType,
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  encodeForSend,
  encodeMessage,
  messageTypeName,
} from '../wire/index.ts';
import type { EncodedBody, HelloMessage, WireMessage } from '../wire/index.ts';
import { Connection, TransportError } from './connection.ts';
import type { ConnectionContext, ConnectionState, TransportErrorCode } from './connection.ts';
import { emptyStats } from './types.ts';
import type { MessageHandler, Transport, TransportStats, UnreachableHandler } from './types.ts';

export { TransportError } from './connection.ts';
export type { ConnectionState, TransportErrorCode } from './connection.ts';

/** PEM credentials for mutual TLS: this node's key and certificate, and the ring's CA. */
export interface TlsCredentials {
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
}

/** Options of {@link TcpTransport.listen}. */
export interface TcpTransportOptions {
  env: Env;
  /** Bind address. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks an ephemeral one (then {@link TcpTransport.address} reports it). Default 0. */
  port?: number;
  /** Host others use to reach us (sent in HELLO). Default `host`; set it when binding 0.0.0.0. */
  advertiseHost?: string;
  /** Largest accepted and sent frame body. Default 16 MiB. */
  maxFrameBytes?: number;
  /** This node's id, sent in HELLO. */
  nodeId?: Id;
  /** Enables mutual TLS (TLS 1.3, both sides must present a certificate signed by `ca`). */
  tls?: TlsCredentials;
  /** First dial-failure backoff (ms). Default 100. */
  backoffInitialMs?: number;
  /** Backoff ceiling (ms). Default 5000. */
  backoffMaxMs?: number;
  /**
   * Cap on bytes queued for one peer (ours plus the socket's buffer); messages beyond it are
   * dropped. One message is always taken when nothing is queued. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /** A connection must complete TCP, TLS and HELLO within this (ms). Default 5000. */
  handshakeTimeoutMs?: number;
  /** An open connection whose peer sends nothing for this long in the middle of a frame is closed (ms). Default 60000. */
  frameStallTimeoutMs?: number;
  /** Inbound connections accepted at once; more are closed at once (`TooManyConnections`). Default 4096. */
  maxInboundConnections?: number;
  /** On close, connections get this long to flush before being destroyed (ms). Default 2000. */
  closeTimeoutMs?: number;
}

/** {@link TransportStats} plus TCP-specific counters. */
export interface TcpTransportStats extends TransportStats {
  /** Outbound connection attempts. */
  dials: number;
  /** Outbound attempts that never completed the handshake. */
  dialFailures: number;
  /** Inbound connections that completed the handshake. */
  accepted: number;
}

/** A snapshot of one connection, for tests and the ops API. */
export interface ConnectionInfo {
  /** Peer address (advertised in its HELLO; the dialled address until then). */
  peer: string;
  /** Remote socket endpoint. */
  remote: string;
  direction: 'in' | 'out';
  state: ConnectionState;
  /** Peer's node id from its HELLO, as hex. */
  peerId?: string;
  /** Common name of the peer's certificate (TLS). */
  peerCn?: string;
  /** Bytes waiting to be sent on it. */
  pendingBytes: number;
}

/** Per-peer state: open connections, the dial in progress and its waiting messages, backoff. */
interface Peer {
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** Open (handshaken) connections; the first is used for sending. */
  conns: Connection[];
  dialing: Connection | undefined;
  /** Message bodies waiting for the dial. */
  waiting: EncodedBody[];
  waitingBytes: number;
  failures: number;
  /** No dial before this time (env ms); sends until then are dropped. */
  retryAt: number;
  /** A queue-full warning was logged and the queue has not drained since. */
  dropWarned: boolean;
  /** Why the last dial failed (`Code: reason`), told with sends dropped during the back-off. */
  lastFailure?: string;
}

const DEFAULT_BACKOFF_INITIAL_MS = 100;
const DEFAULT_BACKOFF_MAX_MS = 5000;
const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
const DEFAULT_FRAME_STALL_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_INBOUND_CONNECTIONS = 4096;
const DROP_LOG_INTERVAL_MS = 60_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;
/** Forget idle, failed peers beyond this many entries (their backoff long expired). */
const PEER_SWEEP_THRESHOLD = 1024;
/** Remember this many bad addresses so each is reported once. */
const BAD_ADDRESS_MEMORY = 256;

/**
 * Parses `host:port` (IPv6 hosts in brackets: `[::1]:4524`). Returns undefined when malformed.
 */
export function parseAddress(addr: string): { host: string; port: number } | undefined {
  const colon = addr.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = addr.slice(0, colon);
  const portText = addr.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
    if (net.isIPv6(host)) return { host, port };
    return undefined;
  }
  if (host.includes(':') || !/^[A-Za-z0-9.-]+$/.test(host)) return undefined;
  return { host, port };
}

/** Formats `host:port`, bracketing IPv6 hosts. */
export function formatAddress(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Codes a peer's HELLO_REJECT may carry that we repeat in our own logs. */
const REJECT_CODES = new Set<string>([
  'MalformedFrame',
  'FrameTooLarge',
  'MalformedMessage',
  'UnknownMessageType',
  'ProtocolMismatch',
  'HandshakeRequired',
  'HandshakeTimeout',
  'TlsRefused',
]);

/** TLS verification error codes of OpenSSL/Node look like these. */
const TLS_ERROR_CODE = /SSL|TLS|CERT|ISSUER|SIGNATURE|CA_|_CA\b/;

function errorCode(err: Error | undefined): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Node-to-node transport over TCP with optional mutual TLS. Create with {@link TcpTransport.listen}. */
export class TcpTransport implements Transport {
  readonly stats: TcpTransportStats = { ...emptyStats(), dials: 0, dialFailures: 0, accepted: 0 };
  readonly env: Env;
  /** Bound host. */
  readonly host: string;
  /** Bound port (the real one when 0 was asked). */
  port = 0;
  private readonly advertiseHost: string;
  /** `advertiseHost:port`, computed once the port is known. */
  private advertised = '';
  private readonly log: Logger;
  private readonly maxFrameBytes: number;
  private readonly maxQueuedBytes: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly nodeId: Id | undefined;
  /** When the last TooManyConnections line was logged (at most one a minute). */
  private lastDropLogAt = -Infinity;
  private readonly tlsCredentials: TlsCredentials | undefined;
  private readonly server: net.Server;
  private readonly peers = new Map<string, Peer>();
  private readonly connections = new Set<Connection>();
  private readonly badAddresses = new Set<string>();
  /** Accepted TCP sockets whose TLS handshake has not completed (TLS only). */
  private readonly tlsPending = new Set<net.Socket>();
  private handler: MessageHandler | undefined;
  private unreachableHandler: UnreachableHandler | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly ctx: ConnectionContext;

  private constructor(options: TcpTransportOptions) {
    this.env = options.env;
    this.host = options.host ?? '127.0.0.1';
    this.advertiseHost = options.advertiseHost ?? this.host;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.backoffInitialMs = options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.backoffMaxMs = options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.nodeId = options.nodeId;
    this.tlsCredentials = options.tls;
    this.log = options.env.log.child({ mod: 'transport' });
    this.ctx = {
      env: this.env,
      log: this.log,
      stats: this.stats,
      maxFrameBytes: this.maxFrameBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      frameStallTimeoutMs: options.frameStallTimeoutMs ?? DEFAULT_FRAME_STALL_TIMEOUT_MS,
      closeTimeoutMs: options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS,
      helloBody: Buffer.alloc(0), // replaced once the port is known
      onHandshakeMessage: (conn, message) => this.onHandshakeMessage(conn, message),
      onMessage: (conn, message) => this.deliver(conn, message),
      onDetach: (conn) => this.detach(conn),
      onDrain: (conn) => this.onDrain(conn),
      onClose: (conn, error) => this.onConnectionClose(conn, error),
    };
    if (options.tls) {
      const creds = options.tls;
      // rejectUnauthorized is false on purpose, and the check is done in onTlsConnection: with
      // true, Node destroys a socket whose certificate is untrusted without any event, so the
      // refusal could not be logged. No application data is read before that check.
      this.server = tls.createServer(
        {
          key: creds.key,
          cert: creds.cert,
          ca: creds.ca,
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.3',
          handshakeTimeout: this.ctx.handshakeTimeoutMs,
        },
        (socket) => this.onTlsConnection(socket),
      );
      // A failed handshake may have destroyed the socket, and its address with it: remember the
      // address of every raw connection (the TLS socket's parent) until then.
      const remotes = new WeakMap<net.Socket, string>();
      this.server.on('connection', (raw: net.Socket) => {
        if (raw.remoteAddress) remotes.set(raw, formatAddress(raw.remoteAddress, raw.remotePort ?? 0));
        this.tlsPending.add(raw);
        raw.once('close', () => this.tlsPending.delete(raw));
      });
      this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
        this.stats.rejected++;
        const parent = parentSocket(socket);
        const remote = socket.remoteAddress
          ? formatAddress(socket.remoteAddress, socket.remotePort ?? 0)
          : ((parent && remotes.get(parent)) ?? 'unknown peer');
        let reason = err.message.trim();
        if (errorCode(err) === 'ECONNRESET') reason += ' (the peer may have refused our certificate)';
        this.log.warn({ code: 'TlsRefused', remote, reason, errCode: errorCode(err) }, `TLS handshake with ${remote} failed: ${reason}`);
      });
    } else {
      this.server = net.createServer((socket) => this.onPlainConnection(socket));
    }
    // A node talks to its leaf set and routing table (tens to a few hundred peers): thousands of
    // inbound connections are an attack or a fault, each able to hold a partial frame.
    this.server.maxConnections = options.maxInboundConnections ?? DEFAULT_MAX_INBOUND_CONNECTIONS;
    this.server.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
      this.stats.rejected++;
      const now = this.env.now();
      if (now - this.lastDropLogAt < DROP_LOG_INTERVAL_MS) return;
      this.lastDropLogAt = now;
      const remote = data?.remoteAddress ? formatAddress(data.remoteAddress, data.remotePort ?? 0) : 'unknown peer';
      this.log.warn({ code: 'TooManyConnections', remote, limit: this.server.maxConnections }, `refusing connections beyond ${this.server.maxConnections} (logged at most once a minute; counted in rejected)`);
    });
  }

  /** Starts a transport listening on `host:port`. Rejects with a {@link TransportError} `ListenFailed`. */
  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const transport = new TcpTransport(options);
    await transport.start(options.port ?? 0);
    return transport;
  }

  private start(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new TransportError('ListenFailed', `cannot listen on ${formatAddress(this.host, port)}: ${err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port }, () => {
        this.server.off('error', onError);
        // Only from here on: a failure to listen is the caller's to report (it is rejected with
        // ListenFailed above), and logging it here too made every such start log it twice.
        this.server.on('error', (err) => this.log.error({ code: 'ListenFailed', err }, `listener error: ${err.message}`));
        this.port = (this.server.address() as net.AddressInfo).port;
        this.advertised = formatAddress(this.advertiseHost, this.port);
        const hello: HelloMessage = { t: MessageType.HELLO, proto: PROTOCOL_NAME, v: PROTOCOL_VERSION, addr: this.address };
        if (this.nodeId) hello.id = this.nodeId;
        (this.ctx as { helloBody: Buffer }).helloBody = encodeMessage(hello);
        this.log.info({ addr: this.address, tls: this.tlsCredentials !== undefined }, `listening on ${this.address}`);
        resolve();
      });
    });
  }

  /** This node's advertised address, `host:port`. */
  get address(): string {
    return this.advertised;
  }

  /** True when mutual TLS is on. */
  get secure(): boolean {
    return this.tlsCredentials !== undefined;
  }

  setHandler(handler: MessageHandler): void {
    this.handler = handler;
  }

  setUnreachableHandler(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  /** Tells the unreachable handler, after the current call (a sender's state may be mid-change). */
  private tellUnreachable(addr: string, reason: string): void {
    const handler = this.unreachableHandler;
    if (handler) this.env.defer(() => handler(addr, reason));
  }

  /**
   * Sends `message` to `addr` (fire-and-forget). Dials when needed; drops (and counts) the message
   * when the peer is in backoff, its queue is full, or the message exceeds the frame limit.
   */
  send(addr: string, message: WireMessage): void {
    if (this.closed) return;
    let body: EncodedBody;
    try {
      // A chunk's megabytes are written from the caller's buffer, not copied into the frame.
      body = encodeForSend(message);
    } catch (err) {
      this.stats.dropped++;
      const type = messageTypeName(message.t);
      this.log.error({ code: 'EncodeFailed', peer: addr, type }, `cannot encode ${type} message: ${(err as Error).message}`);
      return;
    }
    if (body.length > this.maxFrameBytes) {
      this.stats.dropped++;
      this.log.error(
        { code: 'FrameTooLarge', peer: addr, type: messageTypeName(message.t), bytes: body.length, limit: this.maxFrameBytes },
        `outgoing ${messageTypeName(message.t)} message of ${body.length} bytes exceeds the frame limit of ${this.maxFrameBytes}; dropped`,
      );
      return;
    }
    const frameBytes = FRAME_HEADER_BYTES + body.length;
    let peer = this.peers.get(addr);
    const conn = peer?.conns[0];
    if (conn !== undefined) {
      const pending = conn.pendingBytes;
      // An idle connection takes any one message, even one above the cap (up to maxFrameBytes).
      if (pending > 0 && pending + frameBytes > this.maxQueuedBytes) this.dropQueueFull(peer!, pending);
      else conn.enqueue(body);
      return;
    }
    if (peer === undefined) {
      const parsed = parseAddress(addr);
      if (parsed === undefined) {
        this.stats.dropped++;
        this.reportBadAddress(addr);
        return;
      }
      if (this.peers.size >= PEER_SWEEP_THRESHOLD) this.sweepPeers();
      peer = {
        addr,
        host: parsed.host,
        port: parsed.port,
        conns: [],
        dialing: undefined,
        waiting: [],
        waitingBytes: 0,
        failures: 0,
        retryAt: 0,
        dropWarned: false,
      };
      this.peers.set(addr, peer);
    }
    if (peer.dialing === undefined && peer.retryAt > this.env.now()) {
      this.stats.dropped++; // in backoff: the dial failure was logged already
      this.tellUnreachable(addr, peer.lastFailure ?? 'DialFailed: in back-off after a failed dial');
      return;
    }
    if (peer.waitingBytes > 0 && peer.waitingBytes + frameBytes > this.maxQueuedBytes) {
      this.dropQueueFull(peer, peer.waitingBytes);
      return;
    }
    peer.waiting.push(body);
    peer.waitingBytes += frameBytes;
    if (peer.dialing === undefined) this.dial(peer);
  }

  /** Snapshot of the live connections. */
  connectionInfo(): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const c of this.connections) {
      const info: ConnectionInfo = {
        peer: c.label,
        remote: c.remote,
        direction: c.outbound ? 'out' : 'in',
        state: c.state,
        pendingBytes: c.pendingBytes,
      };
      if (c.peerId) info.peerId = c.peerId.hex;
      if (c.peerCn !== undefined) info.peerCn = c.peerCn;
      out.push(info);
    }
    return out;
  }

  /**
   * Stops listening and closes every connection: open ones are flushed and ended (destroyed
   * after `closeTimeoutMs`), others destroyed. Resolves when all sockets are closed.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      // Sockets still in their TLS handshake would keep the server open until handshakeTimeout.
      for (const raw of this.tlsPending) raw.destroy();
      this.tlsPending.clear();
      const socketsClosed = [...this.connections].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.state === 'closed') return resolve();
            c.socket.once('close', () => resolve());
            if (c.state === 'open') c.end();
            else c.destroy();
          }),
      );
      for (const peer of this.peers.values()) this.dropWaiting(peer);
      await Promise.all([serverClosed, ...socketsClosed]);
      this.peers.clear();
      this.log.info({ addr: this.address }, 'transport closed');
    })();
    return this.closing;
  }

  // ---- connections -------------------------------------------------------------------------

  private dial(peer: Peer): void {
    this.stats.dials++;
    const creds = this.tlsCredentials;
    const socket = creds
      ? tls.connect({
          host: peer.host,
          port: peer.port,
          key: creds.key,
          cert: creds.cert,
          ca: creds.ca,
          rejectUnauthorized: true,
          // Peers are addressed by IP; trust means "signed by the ring's CA", not a host name.
          checkServerIdentity: () => undefined,
          minVersion: 'TLSv1.3',
        })
      : net.connect({ host: peer.host, port: peer.port });
    const conn = new Connection(socket, this.ctx, { outbound: true, dialAddr: peer.addr, tls: creds !== undefined });
    this.connections.add(conn);
    peer.dialing = conn;
    if (creds) {
      socket.once('connect', () => {
        conn.connected = true;
      });
      socket.once('secureConnect', () => {
        conn.peerCn = peerCommonName(socket as tls.TLSSocket);
        conn.onTransportReady();
      });
    } else {
      socket.once('connect', () => conn.onTransportReady());
    }
  }

  private onPlainConnection(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.ctx, { outbound: false, tls: false });
    this.connections.add(conn);
    socket.setKeepAlive(true, 15_000);
  }

  private onTlsConnection(socket: tls.TLSSocket): void {
    const parent = parentSocket(socket);
    if (parent) this.tlsPending.delete(parent);
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.ctx, { outbound: false, tls: true });
    this.connections.add(conn);
    socket.setKeepAlive(true, 15_000);
    conn.peerCn = peerCommonName(socket);
    if (!socket.authorized) {
      // Without a certificate OpenSSL still reports an authorization error
      // (UNABLE_TO_GET_ISSUER_CERT), which would hide what is actually wrong.
      const why = !hasPeerCertificate(socket)
        ? 'no client certificate'
        : socket.authorizationError
          ? String(socket.authorizationError)
          : 'certificate not verified';
      conn.reject('TlsRefused', `peer certificate not accepted (${why}${conn.peerCn ? `, CN=${conn.peerCn}` : ''})`, true);
    }
  }

  private onHandshakeMessage(conn: Connection, message: WireMessage): void {
    if (message.t === MessageType.HELLO_REJECT) {
      // Our own rejections carry "<code>: <reason>"; trust only codes we know.
      const match = /^([A-Za-z]+): /.exec(message.reason);
      const code: TransportErrorCode = match && REJECT_CODES.has(match[1]!) ? (match[1] as TransportErrorCode) : 'HandshakeRejected';
      conn.destroy({ code, reason: `${conn.label} refused us: ${message.reason}` });
      if (!conn.outbound) {
        const fields = { code, peer: conn.label, remote: conn.remote, reason: message.reason };
        this.log.warn(fields, `${conn.label} refused the connection: ${message.reason}`);
      }
      return;
    }
    if (conn.state === 'open') {
      // A repeated HELLO is harmless; ignore it.
      return;
    }
    if (message.t !== MessageType.HELLO) {
      conn.reject('HandshakeRequired', `expected HELLO, got ${messageTypeName(message.t)}`, true);
      return;
    }
    if (message.proto !== PROTOCOL_NAME || message.v !== PROTOCOL_VERSION) {
      conn.reject('ProtocolMismatch', `expected ${PROTOCOL_NAME} v${PROTOCOL_VERSION}, got ${message.proto} v${message.v}`, true);
      return;
    }
    if (parseAddress(message.addr) === undefined) {
      conn.reject('MalformedMessage', `HELLO addr "${message.addr.slice(0, 100)}" is not host:port`, true);
      return;
    }
    if (this.closed) {
      conn.destroy();
      return;
    }
    conn.open(message);
    // An outbound connection belongs to the address we dialled (that is what senders use); an
    // inbound one to the address the peer advertises, so that our replies reuse it.
    const key = conn.outbound ? conn.dialAddr! : message.addr;
    let peer = this.peers.get(key);
    if (peer === undefined) {
      const parsed = parseAddress(key)!;
      peer = {
        addr: key,
        host: parsed.host,
        port: parsed.port,
        conns: [],
        dialing: undefined,
        waiting: [],
        waitingBytes: 0,
        failures: 0,
        retryAt: 0,
        dropWarned: false,
      };
      this.peers.set(key, peer);
    }
    if (peer.dialing === conn) peer.dialing = undefined;
    peer.conns.push(conn);
    peer.failures = 0;
    peer.retryAt = 0;
    if (!conn.outbound) this.stats.accepted++;
    if (peer.waiting.length > 0) {
      const target = peer.conns[0]!;
      for (const body of peer.waiting) target.enqueue(body);
      peer.waiting = [];
      peer.waitingBytes = 0;
      peer.dropWarned = false;
    }
    this.log.debug(
      { peer: conn.label, remote: conn.remote, direction: conn.outbound ? 'out' : 'in', peerCn: conn.peerCn },
      `connected to ${conn.label}`,
    );
  }

  private deliver(conn: Connection, message: WireMessage): void {
    this.stats.messagesIn++;
    const handler = this.handler;
    if (handler === undefined) return;
    try {
      handler(message, conn.peerAddr!);
    } catch (err) {
      this.log.error({ err, peer: conn.peerAddr, type: messageTypeName(message.t) }, `message handler threw: ${(err as Error).message}`);
    }
  }

  /** The connection can no longer send: stop routing messages to it. */
  private detach(conn: Connection): void {
    const key = conn.outbound ? conn.dialAddr : conn.peerAddr;
    if (key === undefined) return;
    const peer = this.peers.get(key);
    if (peer === undefined) return;
    const i = peer.conns.indexOf(conn);
    if (i >= 0) peer.conns.splice(i, 1);
  }

  private onDrain(conn: Connection): void {
    const key = conn.outbound ? conn.dialAddr : conn.peerAddr;
    const peer = key === undefined ? undefined : this.peers.get(key);
    if (peer) peer.dropWarned = false;
  }

  private onConnectionClose(conn: Connection, error: Error | undefined): void {
    this.connections.delete(conn);
    const lost = conn.queuedMessages;
    if (lost > 0) this.stats.dropped += lost;
    const wasOpen = conn.peerAddr !== undefined;
    if (conn.outbound && !wasOpen) {
      this.onDialFailed(conn, error);
      return;
    }
    if (wasOpen) {
      this.log.debug(
        { peer: conn.label, remote: conn.remote, cause: conn.failure?.code ?? errorCode(error), unsent: lost },
        `connection to ${conn.label} closed`,
      );
      const key = conn.outbound ? conn.dialAddr! : conn.peerAddr!;
      const peer = this.peers.get(key);
      if (peer && peer.conns.length === 0 && peer.dialing === undefined && peer.failures === 0) this.peers.delete(key);
    }
  }

  private onDialFailed(conn: Connection, error: Error | undefined): void {
    this.stats.dialFailures++;
    const peer = this.peers.get(conn.dialAddr!);
    let code: TransportErrorCode;
    let reason: string;
    const errCode = errorCode(error);
    if (conn.failure) {
      ({ code, reason } = conn.failure);
    } else if (conn.tls && errCode !== undefined && TLS_ERROR_CODE.test(errCode)) {
      code = 'TlsRefused';
      reason = `TLS refused: ${error!.message.trim()}`;
      this.stats.rejected++; // we refused the peer's certificate
    } else if (conn.tls && conn.connected) {
      code = 'TlsRefused';
      reason = conn.secured
        ? 'connection closed right after the TLS handshake (our certificate was probably refused)'
        : `connection closed during the TLS handshake${error ? ` (${error.message.trim()})` : ''}`;
    } else if (conn.connected) {
      code = 'HandshakeFailed';
      reason = `connection closed before the handshake completed${error ? ` (${error.message.trim()})` : ''}`;
    } else {
      code = 'DialFailed';
      reason = error ? error.message.trim() : 'connection closed';
    }
    if (this.closed || peer === undefined || peer.dialing !== conn) {
      this.log.debug({ code, peer: conn.dialAddr, reason }, `dial to ${conn.dialAddr} failed`);
      return;
    }
    peer.dialing = undefined;
    peer.failures++;
    peer.lastFailure = `${code}: ${reason}`;
    const delay = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(peer.failures - 1, 30));
    const backoff = Math.round(this.env.random.jitter(delay, 0.25));
    peer.retryAt = this.env.now() + backoff;
    const dropped = peer.waiting.length;
    this.dropWaiting(peer);
    const fields = { code, peer: peer.addr, reason, errCode, failures: peer.failures, backoffMs: backoff, dropped };
    const text = `cannot connect to ${peer.addr}: ${reason}; ${dropped} message(s) dropped, retry in ${backoff} ms`;
    // The first failure of an episode is a warning; repeats while the peer stays down are noise,
    // and so is a failure that Connection.reject has just logged.
    if (peer.failures === 1 && !conn.failure?.logged) this.log.warn(fields, text);
    else this.log.debug(fields, text);
    if (dropped > 0) this.tellUnreachable(peer.addr, peer.lastFailure);
    if (peer.conns.length > 0) {
      // Another connection to this peer (an inbound one) is up; no need to back off.
      peer.failures = 0;
      peer.retryAt = 0;
    }
  }

  private dropWaiting(peer: Peer): void {
    this.stats.dropped += peer.waiting.length;
    peer.waiting = [];
    peer.waitingBytes = 0;
  }

  private dropQueueFull(peer: Peer, pendingBytes: number): void {
    this.stats.dropped++;
    if (peer.dropWarned) return;
    peer.dropWarned = true;
    this.log.warn(
      { code: 'QueueFull', peer: peer.addr, pendingBytes, limit: this.maxQueuedBytes },
      `send queue to ${peer.addr} is full (${pendingBytes} bytes); dropping messages until it drains`,
    );
  }

  private reportBadAddress(addr: string): void {
    if (this.badAddresses.has(addr)) return;
    if (this.badAddresses.size >= BAD_ADDRESS_MEMORY) this.badAddresses.clear();
    this.badAddresses.add(addr);
    this.log.warn({ code: 'BadAddress', peer: addr.slice(0, 100) }, `cannot send to "${addr.slice(0, 100)}": not a host:port address`);
  }

  /** Forgets idle peers whose backoff expired long ago, so the map does not grow without bound. */
  private sweepPeers(): void {
    const cutoff = this.env.now() - this.backoffMaxMs;
    for (const [addr, peer] of this.peers) {
      if (peer.conns.length === 0 && peer.dialing === undefined && peer.waiting.length === 0 && peer.retryAt < cutoff) {
        this.peers.delete(addr);
      }
    }
  }
}

/**
 * The TCP socket under a server-side TLS socket. Node keeps it in the undocumented `_parent`;
 * used only to match TLS sockets with their raw connection (addresses in logs, cleanup on close).
 */
function parentSocket(socket: tls.TLSSocket): net.Socket | undefined {
  return (socket as unknown as { _parent?: net.Socket })._parent ?? undefined;
}

/** Whether the peer presented a certificate (Node gives an empty object when it did not). */
function hasPeerCertificate(socket: tls.TLSSocket): boolean {
  const cert = socket.getPeerCertificate() as Partial<tls.PeerCertificate> | null | undefined;
  return cert !== null && cert !== undefined && Object.keys(cert).length > 0;
}

function peerCommonName(socket: tls.TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? cn[0] : cn;
}
