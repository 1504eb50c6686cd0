/**
 * A minimal HTTP/1.1 client for the benchmarks: what a load generator needs and nothing more.
 *
 * Why not `node:http`: its client copies every body piece out of the socket's read into a new
 * Buffer (two allocations per 64 KiB read), and at a few hundred MiB/s the external memory that
 * churns keeps V8 in back-to-back mark-compact collections. Measured on a 2-core VM while GETting
 * 64 MiB objects, the `node:http` client spent about a core; on a 2-core machine that core is
 * taken from the servers under test. This client reads every connection into one buffer it
 * reuses (`net` `onread`), parses the status line and the headers, and counts the body bytes
 * without keeping them.
 *
 * Scope: plain HTTP (no TLS), keep-alive connections pooled per endpoint, one request at a time
 * per connection, bodies framed by Content-Length or chunked transfer coding. A request whose
 * reused connection fails before any byte of the response arrives is retried once on a fresh
 * connection (the server may have closed an idle connection just as it was picked).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { drained } from '../src/cloud/s3/data.ts';

/** What a request produced: the status and how many body bytes arrived. */
export interface LeanResponse {
  status: number;
  bytes: number;
}

/** One request. */
export interface LeanRequest {
  method: string;
  /** Path and query, already encoded. */
  path: string;
  headers: Record<string, string>;
  /** A body in one piece, or a stream of pieces (its length must be in the headers). */
  body?: Buffer | Readable;
}

/** Bytes each connection reads into (reused for every read). */
const READ_BUFFER_BYTES = 256 * 1024;
/** A response head larger than this is refused (a bench server never sends one). */
const MAX_HEAD_BYTES = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

type Phase = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer';

/** One keep-alive connection, with the parser of the response in progress. */
class Connection {
  readonly socket: Socket;
  /** Set once the socket is closed or broken: the connection is not reused. */
  dead = false;
  private phase: Phase = 'head';
  private head = Buffer.allocUnsafe(4096);
  private headLength = 0;
  private status = 0;
  private remaining = 0;
  private bytes = 0;
  private sizeLine = '';
  private keepAlive = true;
  /** Whether any byte of the current response arrived (a failure before that may be retried). */
  answered = false;
  private pending: { resolve: (r: LeanResponse) => void; reject: (e: Error) => void; noBody: boolean } | undefined;
  private readonly ready: Promise<void>;

  constructor(host: string, port: number) {
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    this.socket = connect({ host, port, noDelay: true, onread: { buffer, callback: (n: number, buf: Uint8Array) => this.onBytes(buf as Buffer, n) } });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.ready.catch(() => {});
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /** Sends one request; resolves once its response has arrived whole. */
  async request(req: LeanRequest, head: string): Promise<LeanResponse> {
    await this.ready;
    this.phase = 'head';
    this.headLength = 0;
    this.bytes = 0;
    this.answered = false;
    const result = new Promise<LeanResponse>((resolve, reject) => {
      this.pending = { resolve, reject, noBody: req.method === 'HEAD' };
    });
    const socket = this.socket;
    if (req.body === undefined) socket.write(head);
    else if (Buffer.isBuffer(req.body)) {
      socket.cork();
      socket.write(head);
      socket.write(req.body);
      socket.uncork();
    } else {
      socket.write(head);
      for await (const piece of req.body) {
        if (this.dead) break;
        if (!socket.write(piece as Buffer)) await drained(socket);
      }
    }
    return result;
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.dead = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
  }

  private done(): void {
    const p = this.pending;
    this.pending = undefined;
    if (!this.keepAlive) this.close();
    p?.resolve({ status: this.status, bytes: this.bytes });
  }

  /** Called with each read; `buf` is reused by the next read, so nothing here keeps it. */
  private onBytes(buf: Buffer, n: number): boolean {
    try {
      this.consume(buf, 0, n);
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
    }
    return true;
  }

  private consume(buf: Buffer, from: number, to: number): void {
    let at = from;
    if (at < to) this.answered = true;
    while (at < to) {
      if (this.pending === undefined) throw new Error('bytes arrived with no request in flight');
      switch (this.phase) {
        case 'head': {
          const take = Math.min(to - at, MAX_HEAD_BYTES - this.headLength);
          if (take <= 0) throw new Error('response head too large');
          if (this.headLength + take > this.head.length) {
            const grown = Buffer.allocUnsafe(Math.min(MAX_HEAD_BYTES, Math.max(this.head.length * 2, this.headLength + take)));
            this.head.copy(grown, 0, 0, this.headLength);
            this.head = grown;
          }
          buf.copy(this.head, this.headLength, at, at + take);
          const searchFrom = Math.max(0, this.headLength - 3);
          this.headLength += take;
          const end = this.head.subarray(0, this.headLength).indexOf(CRLFCRLF, searchFrom);
          if (end < 0) {
            at += take;
            break;
          }
          // Bytes past the head were copied along: step back to the body's first byte.
          at += take - (this.headLength - (end + 4));
          this.parseHead(this.head.toString('latin1', 0, end));
          if ((this.phase as Phase) === 'body' && this.remaining === 0) this.done();
          break;
        }
        case 'body': {
          at += this.take(to - at, true);
          if (this.remaining === 0) {
            if (at < to) throw new Error('bytes after the end of the response');
            this.done();
          }
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const nl = buf.indexOf(10, at);
          const stop = nl < 0 || nl >= to ? to : nl + 1;
          this.sizeLine += buf.toString('latin1', at, stop);
          at = stop;
          if (!this.sizeLine.endsWith('\n')) break;
          const line = this.sizeLine.trim();
          this.sizeLine = '';
          if (this.phase === 'trailer') {
            if (line === '') this.done();
            break;
          }
          const size = parseInt(line.split(';')[0]!, 16);
          if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size line: ${line.slice(0, 40)}`);
          if (size === 0) this.phase = 'trailer';
          else {
            this.remaining = size;
            this.phase = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          at += this.take(to - at, true);
          if (this.remaining === 0) {
            this.phase = 'chunk-end';
            this.remaining = 2;
          }
          break;
        }
        case 'chunk-end': {
          at += this.take(to - at, false);
          if (this.remaining === 0) this.phase = 'chunk-size';
          break;
        }
      }
    }
  }

  /** Takes up to `available` bytes of the `remaining` ones (body bytes are `counted`); returns how many. */
  private take(available: number, counted: boolean): number {
    const n = Math.min(available, this.remaining);
    if (counted) this.bytes += n;
    this.remaining -= n;
    return n;
  }

  private parseHead(head: string): void {
    const lines = head.split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (!statusLine) throw new Error(`not an HTTP response: ${lines[0]!.slice(0, 60)}`);
    this.status = Number(statusLine[1]);
    let length: number | undefined;
    let chunked = false;
    this.keepAlive = lines[0]!.startsWith('HTTP/1.1');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
      else if (name === 'connection') this.keepAlive = value.toLowerCase() !== 'close';
    }
    const noBody = this.pending!.noBody || this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200);
    if (noBody) {
      this.phase = 'body';
      this.remaining = 0;
    } else if (chunked) {
      this.phase = 'chunk-size';
      this.sizeLine = '';
    } else if (length !== undefined && Number.isSafeInteger(length) && length >= 0) {
      this.phase = 'body';
      this.remaining = length;
    } else throw new Error('a response with neither Content-Length nor chunked coding (not supported here)');
  }
}

/** Keep-alive connections to HTTP endpoints, one request per connection at a time. */
export class LeanHttpClient {
  private readonly idle = new Map<string, Connection[]>();
  private readonly all = new Set<Connection>();

  /** Sends `req` to `host:port`. Rejects on a broken connection or a malformed response. */
  async send(host: string, port: number, req: LeanRequest): Promise<LeanResponse> {
    const endpoint = `${host}:${port}`;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(req.headers)) head += `${name}: ${value}\r\n`;
    head += '\r\n';
    for (let attempt = 0; ; attempt++) {
      const reused = this.takeIdle(endpoint);
      const conn = reused ?? this.open(host, port);
      try {
        const res = await conn.request(req, head);
        if (!conn.dead) this.release(endpoint, conn);
        return res;
      } catch (err) {
        conn.close();
        this.all.delete(conn);
        // Only a reused connection the server dropped before answering, with a body we can send again.
        const resendable = req.body === undefined || Buffer.isBuffer(req.body);
        if (!reused || conn.answered || !resendable || attempt > 0) throw err;
      }
    }
  }

  /** Closes every connection. */
  close(): void {
    for (const c of this.all) c.close();
    this.all.clear();
    this.idle.clear();
  }

  private open(host: string, port: number): Connection {
    const c = new Connection(host, port);
    this.all.add(c);
    c.socket.on('close', () => this.all.delete(c));
    return c;
  }

  /** An idle connection to `endpoint` still open, if any (the server may have closed some). */
  private takeIdle(endpoint: string): Connection | undefined {
    const list = this.idle.get(endpoint);
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (!c.dead) return c;
    }
    return undefined;
  }

  private release(endpoint: string, conn: Connection): void {
    let list = this.idle.get(endpoint);
    if (!list) this.idle.set(endpoint, (list = []));
    list.push(conn);
  }
}
