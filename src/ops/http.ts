/**
 * A small HTTP toolkit for the ops API: routing with `:param` segments, bearer-token checks,
 * JSON bodies with a size limit, and one mapping from typed errors (their stable `code`) to HTTP
 * statuses, so every failure answers `{ error: { code, message } }` and is logged once.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../env/index.ts';
import type { OpsRequest, OpsResponse } from '../node/index.ts';

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** An error with an HTTP status, for handlers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** HTTP status for an error's stable code. */
export function statusForCode(code: string | undefined): number {
  switch (code) {
    case 'InvalidId':
    case 'InvalidArgument':
    case 'InvalidRequest':
    case 'InvalidSeed':
    case 'InvalidName':
    case 'InvalidConfig':
    case 'InvalidEntity':
    case 'InvalidRecord':
    case 'RecordTooLarge':
    case 'ValidationFailed':
      return 400;
    case 'Unauthorized':
      return 401;
    case 'NotFound':
    case 'NoSuchQueue':
    case 'UnknownApplication':
    case 'NoSuchTopic':
      return 404;
    case 'VersionConflict':
    case 'UpdateRetriesExhausted':
    case 'Conflict':
    case 'DeleteConflict':
    case 'LimitExceeded':
    case 'MasterKeyMismatch':
      return 409;
    case 'NotAvailable':
    case 'Unavailable':
    case 'Closed':
    case 'NotReady':
      return 503;
    case 'Timeout':
      return 504;
    case 'DiskFull':
      return 507;
    default:
      return 500;
  }
}

/** One route of a {@link Router}. */
export interface Route {
  method: string;
  path: string;
  /** Whether the bearer token is required (default true). */
  auth?: boolean;
  description: string;
  handler(req: OpsRequest, raw: { req: IncomingMessage; res: ServerResponse }): OpsResponse | Promise<OpsResponse> | 'handled' | Promise<'handled'>;
}

interface CompiledRoute extends Route {
  segments: string[];
}

/** Matches `path` against a route pattern; returns the parameters or undefined. */
export function matchPath(segments: readonly string[], path: string): Record<string, string> | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length !== segments.length) {
    // A trailing `*rest` parameter takes everything left.
    const last = segments[segments.length - 1];
    if (!(last?.startsWith('*') && parts.length >= segments.length)) return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg.startsWith('*')) {
      params[seg.slice(1)] = parts.slice(i).map(safeDecode).join('/');
      return params;
    }
    const part = parts[i]!;
    if (seg.startsWith(':')) params[seg.slice(1)] = safeDecode(part);
    else if (seg !== part) return undefined;
  }
  return params;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'InvalidRequest', `malformed percent-encoding in path segment "${s.slice(0, 60)}"`);
  }
}

/** Routes requests by method and path. */
export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(route: Route): this {
    this.routes.push({ ...route, segments: route.path.split('/').filter((p) => p !== '') });
    return this;
  }

  /** The route for a request, or why there is none (404 / 405). */
  find(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | { status: 404 | 405; allowed?: string[] } {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchPath(route.segments, path);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { status: 405, allowed } : { status: 404 };
  }

  list(): Route[] {
    return this.routes.slice();
  }
}

/** Whether the request carries `Authorization: Bearer <token>` (constant-time comparison). */
export function hasToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Reads a JSON body (undefined when empty). Throws {@link HttpError} 413 `RequestTooLarge` (as soon
 * as `Content-Length` announces too much, or the bytes read pass the limit; the rest is left
 * unread, so the connection must be closed after the answer), 400 `InvalidRequest`, or 499
 * `ClientClosedRequest` when the client goes away before sending the whole body.
 */
export function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const tooLarge = (): HttpError => new HttpError(413, 'RequestTooLarge', `request body exceeds ${MAX_BODY_BYTES} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      // An error after this point (the client closing) is of no interest; without a listener it
      // would be thrown.
      req.off('error', onError);
      req.on('error', () => {});
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Stop reading but do not destroy the request: that would destroy the socket before the
        // 413 could be sent.
        req.pause();
        finish(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (size === 0) return finish(undefined, undefined);
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        finish(undefined, JSON.parse(text));
      } catch (err) {
        finish(new HttpError(400, 'InvalidRequest', `request body is not valid JSON: ${(err as Error).message}`));
      }
    };
    const clientClosed = (): HttpError =>
      new HttpError(499, 'ClientClosedRequest', `the client closed the connection after ${size} byte(s) of the request body${Number.isFinite(declared) ? ` (of ${declared} announced)` : ''}`);
    // Node reports a client that goes away mid-body as an "aborted" ECONNRESET error, then close.
    const onError = (): void => finish(clientClosed());
    const onClose = (): void => finish(clientClosed());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, jsonReplacer);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** JSON for ids (their hex), bigints, byte arrays (base64) and Maps. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64') };
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

/**
 * The error answer for anything a handler threw; 5xx are logged as errors, the rest as info —
 * but `507 DiskFull` at debug: the nodes out of space say so once, with their DiskFull alert.
 */
export function errorResponse(err: unknown, log: Logger, context: Record<string, unknown>): { status: number; body: unknown } {
  const e = err as { status?: number; code?: string; message?: string; stack?: string };
  const status = err instanceof HttpError ? err.status : statusForCode(e?.code);
  const code = e?.code ?? (status === 500 ? 'InternalError' : 'Error');
  const message = e?.message ?? String(err);
  if (status === 507) log.debug({ ...context, code, status }, `ops request refused: ${message}`);
  else if (status >= 500) log.error({ ...context, code, status, err: { message, stack: e?.stack } }, `ops request failed: ${message}`);
  else log.info({ ...context, code, status }, `ops request refused: ${message}`);
  return { status, body: { error: { code, message } } };
}
