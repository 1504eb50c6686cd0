/**
 * The S3 endpoint of one node: a `node:http` server that resolves each request's address
 * (path-style or virtual-hosted), authenticates it (SigV4 or SigV2, header or presigned query,
 * anonymous otherwise), hands it to {@link S3Api} and turns every failure into the S3 error document with
 * the request's id. Any node serves any request: all state is in the ring.
 */
import { STATUS_CODES, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Env, Logger, Timer } from '../../env/index.ts';
import { S3Error, authLabel, errorResponse, invalidAccessKeyId, parseRequestAuth, refuseCustomerKeyInClear, refuseKmsInClear, resolveAddress, toS3Error, verifyRequestAuth } from './protocol/index.ts';
import type { ErrorResponse, HeaderMap, RequestAuth } from './protocol/index.ts';
import type { S3Api } from './api.ts';
import type { Principal } from './catalog.ts';
import type { S3Options } from './options.ts';
import { bodyExpected, watchBodyIdle } from './body-idle.ts';
import type { TlsPair } from './endpoint-tls.ts';
import { WebsiteEndpoint } from './website.ts';
import { RequestCapture } from './access-log-capture.ts';
import type { AccessLogSink, RequestFacts } from './access-log-capture.ts';

/** A request as the operations see it. */
export interface S3Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Query parameters, decoded. */
  query: URLSearchParams;
  /** Headers as Node joins them. */
  headers: HeaderMap & Record<string, string | undefined>;
  bucket: string | undefined;
  key: string | undefined;
  /** The authenticated user; undefined for an anonymous request. */
  principal: Principal | undefined;
  /** How the request was signed (SigV4, SigV2) and what its body verification needs. */
  auth: RequestAuth;
  requestId: string;
  /** Transaction id for logs. */
  tx: string;
  /** Whether the request came over TLS. */
  secure: boolean;
  /** What the request's server access log record learns from the operation (absent: no logging). */
  logFacts?: RequestFacts;
}

/** Largest request body a refusal reads to its end before answering (larger ones: answered at once, connection closed). */
const DRAIN_LIMIT_BYTES = 1024 * 1024;
/** How long a refusal waits for the rest of such a body. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * The answer to a request the node cannot serve now: it is not part of the ring yet (joining,
 * between join attempts) or is stopping. A 503 that SDKs retry, on a connection closed after it
 * (a client behind a balancer reconnects, perhaps to another node).
 */
const NOT_SERVING_MESSAGE = 'This node is starting or stopping and is not serving requests. Please retry, or send the request to another node.';
/** Seconds a client refused because the node is not serving is asked to wait before retrying. */
const NOT_SERVING_RETRY_AFTER_S = 1;

/** Counters of the endpoint. */
export interface HttpStats {
  requests: Record<string, number>;
  errors: Record<string, number>;
  bytesIn: number;
  bytesOut: number;
  latencyMsSum: Record<string, number>;
  /** Requests whose authentication passed, by scheme (`sigv4-header`, `sigv2-presigned`, `anonymous`, …). */
  auth: Record<string, number>;
}

export class S3HttpServer {
  readonly stats: HttpStats = { requests: {}, errors: {}, bytesIn: 0, bytesOut: 0, latencyMsSum: {}, auth: {} };
  private server: Server | HttpsServer | undefined;
  private readonly sockets = new Set<Socket>();
  private counter = 0;
  private readonly log: Logger;
  private readonly idPrefix: string;
  private inFlight = 0;
  /** Responses of the requests being served (their handlers not finished). */
  private readonly open = new Set<ServerResponse>();
  /** Set by {@link close}: requests still arriving are refused, the others finish. */
  private draining = false;
  /** While draining: called whenever a request or a connection ends. */
  private onDrainProgress: (() => void) | undefined;
  /** The static website endpoint (website.ts), served on the same listener by Host. */
  private readonly website: WebsiteEndpoint;
  /** Where the server access log records of the requests go (access-log.ts); none: no records. */
  accessLog: AccessLogSink | undefined;

  constructor(
    private readonly env: Env,
    private readonly api: S3Api,
    private readonly options: S3Options,
    nodeId: string,
    /** Whether the node can serve requests now (part of the ring); while not, they are answered 503. */
    private readonly serving: () => boolean = () => true,
  ) {
    this.log = env.log.child({ mod: 's3.http' });
    this.idPrefix = nodeId.slice(0, 6).toUpperCase();
    this.website = new WebsiteEndpoint(api, options.websiteDomains, mapError, env.log.child({ mod: 's3.website' }), (code) => {
      this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
    });
  }

  /** Requests being served. */
  get active(): number {
    return this.inFlight;
  }

  /** Listens (HTTPS with `tls`, plain HTTP without); resolves with the bound address. */
  async listen(tls?: TlsPair): Promise<AddressInfo> {
    const settings = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 };
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    const server = tls ? createHttpsServer({ ...settings, cert: tls.cert, key: tls.key }, onRequest) : createServer(settings, onRequest);
    if (tls) {
      server.on('tlsClientError', (err: Error) => this.log.debug({ event: 's3.tlsClientError', err: err.message }, 'TLS handshake failed'));
    }
    // `Expect: 100-continue`: the 100 goes out when the body is first read, i.e. once the request
    // is authenticated and allowed; a refusal is the only answer (Node would send 100 at once).
    server.on('checkContinue', (req, res) => {
      const read = req._read;
      req._read = function (size: number): void {
        req._read = read;
        if (!res.headersSent) res.writeContinue();
        read.call(this, size);
      };
      void this.handle(req, res);
    });
    // S3 ignores other Expect values (Node would answer 417 Expectation Failed).
    server.on('checkExpectation', (req, res) => void this.handle(req, res));
    server.on('connection', (s: Socket) => {
      s.setNoDelay(true);
      this.sockets.add(s);
      s.on('close', () => {
        this.sockets.delete(s);
        this.onDrainProgress?.();
      });
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.bind, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** Serves `tls` to new connections from now on (a renewed certificate); HTTPS endpoints only. */
  setTls(tls: TlsPair): void {
    const server = this.server;
    if (!server || !('setSecureContext' in server)) throw new Error('the S3 endpoint does not speak HTTPS');
    server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /**
   * Stops listening and closes every connection. With `drainMs` (a graceful stop), the open
   * connections get at most that long to end cleanly: idle keep-alive connections are closed,
   * requests being served finish with `Connection: close`, and requests still arriving (a request
   * already under way on its connection) are refused with a retryable 503 and their connection
   * closed, so clients retry elsewhere instead of seeing a connection reset. What is still open
   * after `drainMs` is cut.
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.draining = true;
    // Stops accepting connections. (net.Server's close: http.Server's also destroys at once every
    // connection it deems idle, which includes one whose answer has ended but is still being
    // flushed to a slow reader: the client would get a cut body.)
    const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const closeIdle = (): void => {
      // Node's closeIdleConnections has the same flaw: wait until no answer is ended but unsent.
      for (const s of this.sockets) {
        const answer = (s as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
        if (answer && answer.writableEnded && !answer.writableFinished) return;
      }
      server.closeIdleConnections();
    };
    const drainMs = options.drainMs ?? 0;
    if (drainMs > 0 && (this.open.size > 0 || this.sockets.size > 0)) {
      for (const res of this.open) if (!res.headersSent) res.setHeader('connection', 'close');
      let timer: Timer | undefined;
      await new Promise<void>((resolve) => {
        this.onDrainProgress = () => {
          // Connections idle now (an answer that went out before the drain began, once sent).
          closeIdle();
          if (this.open.size === 0 && this.sockets.size === 0) resolve();
        };
        timer = this.env.setTimeout(resolve, drainMs);
        this.onDrainProgress();
      });
      timer?.cancel();
      this.onDrainProgress = undefined;
      if (this.open.size > 0 || this.sockets.size > 0) {
        this.log.warn({ code: 'S3DrainTimeout', requests: this.open.size, connections: this.sockets.size, drainMs }, `${this.open.size} request(s) still being served after ${drainMs} ms; closing their connections`);
      }
    }
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private nextRequestId(): string {
    return this.idPrefix + (++this.counter).toString(16).toUpperCase().padStart(10, '0');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = this.env.now();
    const requestId = this.nextRequestId();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    const headers = req.headers as S3Request['headers'];
    let resource = rawPath;
    let op = 'Unknown';
    /** The request's authentication once verified (for logs). */
    let scheme: string | undefined;
    this.inFlight++;
    this.open.add(res);
    res.once('close', () => this.onDrainProgress?.());
    // A client that goes away mid-request fails the body stream; the pipeline reading it reports that.
    req.on('error', () => {});
    res.on('error', () => {});
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('server', 'Pi');
    const stopIdleWatch = bodyExpected(req) ? watchBodyIdle(this.env, req, this.options.bodyIdleTimeoutMs, () => this.bodyTimedOut(req, res, method, requestId, () => resource)) : undefined;
    const secure = (req.socket as Partial<TLSSocket>).encrypted === true;
    // Server access logging: the record of a request that reaches a bucket (access-log-capture.ts).
    const capture = this.accessLog ? new RequestCapture(this.env, req, res, requestId, started, this.accessLog) : undefined;
    try {
      if (this.draining || !this.serving()) {
        op = 'NotServing';
        this.fail(new S3Error('ServiceUnavailable', NOT_SERVING_MESSAGE), req, res, method, requestId, resource, op, scheme, { 'retry-after': String(NOT_SERVING_RETRY_AFTER_S), connection: 'close' });
        return;
      }
      const site = this.website.bucketOf(headers['host']);
      if (site !== undefined) {
        // The website endpoint: anonymous, its own answers and HTML errors (website.ts).
        resource = `/${site}${rawPath}`;
        if (capture) Object.assign(capture.facts, { bucket: site, website: true });
        op = await this.website.serve({ req, res, method, bucket: site, rawPath, requestId, secure, ...(capture ? { logFacts: capture.facts } : {}) });
        return;
      }
      const address = resolveAddress(headers['host'], rawPath, { baseDomains: this.options.baseDomains });
      resource = address.bucket === undefined ? '/' : `/${address.bucket}${address.key === undefined ? '' : `/${address.key}`}`;
      if (capture) Object.assign(capture.facts, { bucket: address.bucket, key: address.key });
      // CORS (cors.ts): a preflight is answered unauthenticated; an actual request with an Origin
      // gets the Access-Control-* headers of the rule allowing it, on every answer.
      if (method === 'OPTIONS') {
        op = 'CorsPreflight';
        await this.api.cors.preflight(req, res, address.bucket, address.key);
        return;
      }
      if (address.bucket !== undefined && headers['origin'] !== undefined) {
        for (const [name, value] of Object.entries(await this.api.cors.actualRequestHeaders(address.bucket, method, headers))) res.setHeader(name, value);
      }
      if (!secure && !this.options.allowSseCustomerKeysOverHttp) {
        refuseCustomerKeyInClear(headers);
        refuseKmsInClear(headers);
      }
      const parsed = parseRequestAuth({ method, path: rawPath, query: rawQuery, headers: req.headersDistinct }, this.env.now(), {
        maxSkewMs: this.options.maxClockSkewMs,
        signatureV2: this.options.signatureV2,
        virtualHostedBucket: address.style === 'virtual-hosted' ? address.bucket : undefined,
      });
      let auth: S3Request['auth'] = { kind: 'anonymous' };
      let principal: Principal | undefined;
      if (parsed.kind !== 'anonymous') {
        const key = await this.api.catalog.accessKey(parsed.accessKeyId);
        if (key === undefined) throw invalidAccessKeyId(parsed.accessKeyId);
        auth = verifyRequestAuth(parsed, key.secret);
        principal = { id: key.user, name: key.name };
        if (capture) capture.facts.requester = principal.id;
      }
      scheme = authLabel(auth);
      this.stats.auth[scheme] = (this.stats.auth[scheme] ?? 0) + 1;
      const request: S3Request = {
        req,
        res,
        method,
        query: new URLSearchParams(rawQuery),
        headers,
        bucket: address.bucket,
        key: address.key,
        principal,
        auth,
        requestId,
        tx: requestId,
        secure,
        ...(capture ? { logFacts: capture.facts } : {}),
      };
      op = await this.api.dispatch(request);
    } catch (err) {
      op = (err as { op?: string } | undefined)?.op ?? op;
      if (capture) capture.facts.errorCode = mapError(err).code;
      this.fail(err, req, res, method, requestId, resource, op, scheme);
    } finally {
      stopIdleWatch?.();
      this.inFlight--;
      this.open.delete(res);
      this.onDrainProgress?.();
      this.stats.requests[op] = (this.stats.requests[op] ?? 0) + 1;
      this.stats.latencyMsSum[op] = (this.stats.latencyMsSum[op] ?? 0) + (this.env.now() - started);
    }
  }

  private fail(err: unknown, req: IncomingMessage, res: ServerResponse, method: string, requestId: string, resource: string, op: string, auth: string | undefined, headers: Record<string, string> = {}): void {
    const e = mapError(err);
    this.stats.errors[e.code] = (this.stats.errors[e.code] ?? 0) + 1;
    const level = op === 'NotServing' ? 'debug' : failureLogLevel(e);
    if (level === 'error') {
      const cause = (e.cause ?? err) as { message?: string; stack?: string; code?: string };
      this.log.error({ code: e.code, op, requestId, resource, auth, err: { message: cause?.message, code: cause?.code, stack: cause?.stack } }, `S3 ${op} failed: ${cause?.message ?? e.message}`);
    } else {
      this.log[level]({ code: e.code, op, requestId, resource, auth, status: e.status }, `S3 ${op} refused: ${e.message}`);
    }
    if (res.headersSent) {
      // The error came while the body was being sent: all we can do is cut the response short.
      res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    const response = errorResponse(e, { requestId, hostId: requestId, resource }, method);
    if (response.body !== undefined) response.headers['content-length'] = String(Buffer.byteLength(response.body));
    Object.assign(response.headers, headers);
    if (!req.readableEnded) {
      // Discard what was not read. A bodiless GET that failed keeps its connection. (A body held
      // back for 100 Continue is answered below in this same turn, before the stream first reads
      // and would send the 100.)
      req.resume();
      if (!req.complete) {
        // A body still arriving. A small one is read to its end first: answering now and closing
        // would reset the connection under a client still sending, which then sees a network
        // error instead of this answer (and retries). A large one is cut short, and so is one
        // the client holds back for a 100 Continue (reading it would ask for it).
        const declared = Number(req.headers['content-length']);
        const waiting = /100-continue/i.test(req.headers['expect'] ?? '');
        if (!waiting && Number.isFinite(declared) && declared <= DRAIN_LIMIT_BYTES) {
          this.answerAfterBody(req, res, response);
          return;
        }
        response.headers['connection'] = 'close';
      }
    }
    res.writeHead(response.status, response.headers);
    res.end(response.body);
  }

  /**
   * A request Node's HTTP parser refused (malformed, oversized headers, headers too slow): an S3
   * error document with a request id, and the connection closed. A connection that timed out
   * without sending anything is closed silently, and one the client reset is just let go.
   */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.log.debug({ event: 's3.clientError', code: err.code, err: err.message }, 'malformed HTTP request');
    if (socket.destroyed || !socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timedOut && (socket as Partial<Socket>).bytesRead === 0) {
      socket.destroy();
      return;
    }
    const s3err = timedOut
      ? new S3Error('RequestTimeout')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new S3Error('RequestHeaderSectionTooLarge')
        : new S3Error('InvalidRequest', 'The HTTP request could not be parsed.');
    const requestId = this.nextRequestId();
    this.stats.errors[s3err.code] = (this.stats.errors[s3err.code] ?? 0) + 1;
    const response = errorResponse(s3err, { requestId, hostId: requestId }, 'GET');
    const body = response.body ?? '';
    const head = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`, 'Content-Type: application/xml', `Content-Length: ${Buffer.byteLength(body)}`, `x-amz-request-id: ${requestId}`, `x-amz-id-2: ${requestId}`, 'Server: Pi', 'Connection: close'];
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  }

  /**
   * A request body stalled (body-idle.ts): `400 RequestTimeout`, as S3 answers, and the connection
   * closed; the request's own reading of the body then fails with that error.
   */
  private bodyTimedOut(req: IncomingMessage, res: ServerResponse, method: string, requestId: string, resource: () => string): void {
    const err = new S3Error('RequestTimeout');
    this.log.info({ code: err.code, requestId, resource: resource(), idleMs: this.options.bodyIdleTimeoutMs }, 'request body stalled; closing the connection');
    if (res.headersSent || res.destroyed) {
      req.destroy(err);
      return;
    }
    const response = errorResponse(err, { requestId, hostId: requestId, resource: resource() }, method);
    if (response.body !== undefined) response.headers['content-length'] = String(Buffer.byteLength(response.body));
    response.headers['connection'] = 'close';
    res.writeHead(response.status, response.headers);
    res.end(response.body, () => req.destroy(err));
  }

  /** Sends `response` once the rest of the request body has been read (or, after {@link DRAIN_TIMEOUT_MS}, closing the connection). */
  private answerAfterBody(req: IncomingMessage, res: ServerResponse, response: ErrorResponse): void {
    let answered = false;
    const answer = (bodyRead: boolean): void => {
      if (answered) return;
      answered = true;
      timer.cancel();
      if (res.destroyed) return;
      if (!bodyRead) response.headers['connection'] = 'close';
      res.writeHead(response.status, response.headers);
      res.end(response.body);
    };
    const timer = this.env.setTimeout(() => answer(false), DRAIN_TIMEOUT_MS);
    req.once('end', () => answer(true));
    req.once('error', () => answer(false));
    req.once('close', () => answer(req.complete));
  }
}

/**
 * The level a failed request is logged at: `error` for the server's own faults (5xx: an internal
 * error, the ring unavailable), `info` for `501 NotImplemented` — a 5xx by S3's table, but the
 * client asking for something this endpoint does not do (SigV4a, an unsupported feature), so
 * client input never reads as a server fault while operators still see what clients ask for —
 * and `debug` for the other refusals (4xx) and for `507 XMinioStorageFull` (the full nodes log
 * it once, with their `DiskFull` alert; the answers are counted in `pi_s3_errors_total`).
 */
export function failureLogLevel(e: S3Error): 'error' | 'info' | 'debug' {
  if (e.code === 'NotImplemented') return 'info';
  // Out of disk space: the nodes that are full say so once (their DiskFull alert), not per request.
  if (e.code === 'XMinioStorageFull') return 'debug';
  return e.status >= 500 ? 'error' : 'debug';
}

/** Maps storage and DHT errors to S3 errors (a retryable 503 for unavailability). */
export function mapError(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  const code = (err as { code?: string })?.code;
  switch (code) {
    case 'Timeout':
    case 'Unavailable':
    case 'ChunkUnavailable':
    case 'ChunkCorrupt': // a damaged copy here was quarantined: a retry reads a replica's
    case 'OutcomeUnknown':
    case 'NotAvailable':
    case 'Closed':
    case 'NotReady': // the overlay: this node is not (or no longer) part of the ring
      return new S3Error('ServiceUnavailable', undefined, { cause: err });
    case 'UpdateRetriesExhausted':
    case 'VersionConflict':
      return new S3Error('OperationAborted', undefined, { cause: err });
    case 'DiskFull':
      // The replicas that would store the data are out of space (see docs/s3.md: 507, as MinIO).
      return new S3Error('XMinioStorageFull', undefined, { cause: err });
    case 'ERR_STREAM_PREMATURE_CLOSE':
    case 'ECONNRESET':
      return new S3Error('IncompleteBody', 'The request body terminated unexpectedly', { cause: err });
    default:
      return toS3Error(err);
  }
}
