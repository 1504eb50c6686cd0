/**
 * The static website endpoint: a request whose Host is `<bucket>.<website domain>` (the
 * `s3.websiteDomains` setting; any port) is served with S3's website semantics on the S3
 * listener, before any authentication — every request is anonymous:
 *
 * - GET and HEAD only (`MethodNotAllowed` otherwise); the query string is ignored.
 * - The bucket needs a website configuration (bucket-website.ts; `NoSuchWebsiteConfiguration`);
 *   a Requester Pays bucket refuses them all (`AccessDenied`: they are anonymous).
 * - RedirectAllRequestsTo: 301 to that host (and protocol) with the same path.
 * - A routing rule whose condition is a key prefix only redirects before the object is read; a
 *   rule with HttpErrorCodeReturnedEquals redirects a request that would get that error.
 * - `/` and keys ending in `/` read `<key><index suffix>`; a key that is not an object but whose
 *   `<key>/<suffix>` is gets a 302 to `/<key>/`.
 * - An object is served when an anonymous GetObject would be (ACLs, bucket policy, public access
 *   block: the same check), with GetObject's conditional requests and ranges; its
 *   `x-amz-website-redirect-location` is a 301 to that location instead.
 * - A 4xx serves the error document with that status when it is readable anonymously; any other
 *   failure is an HTML page (code, message, request ids), not S3's XML document.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../env/index.ts';
import { S3Error, matchRoutingRule, percentDecode, routingRedirect, uriEncode, websiteErrorHtml } from './protocol/index.ts';
import type { RedirectTarget, WebsiteErrorInfo, WebsiteProtocol } from './protocol/index.ts';
import type { S3Api } from './api.ts';
import { checkRequestPayer } from './request-payment.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';

/** What a website request needs of the endpoint that received it. */
export interface WebsiteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket: string;
  /** The request path, still percent-encoded, without the query. */
  rawPath: string;
  requestId: string;
  secure: boolean;
  /** The request's access log facts (aclRequired: an object read by a grant of its ACL); none without logging. */
  logFacts?: S3Request['logFacts'];
}

/** Where a failed website request's error is turned into a response. */
type ErrorMapper = (err: unknown) => S3Error;

export class WebsiteEndpoint {
  private readonly domains: string[];

  constructor(
    private readonly api: S3Api,
    domains: readonly string[],
    private readonly mapError: ErrorMapper,
    private readonly log: Logger,
    /** Counts an error answered (the endpoint's error counters). */
    private readonly countError: (code: string) => void = () => {},
  ) {
    this.domains = domains.map((d) => d.toLowerCase());
  }

  /** The bucket a `Host` header names on the website endpoint; undefined for any other host. */
  bucketOf(host: string | undefined): string | undefined {
    if (host === undefined || host.startsWith('[') || this.domains.length === 0) return undefined;
    const name = host.replace(/:\d*$/, '').toLowerCase();
    for (const domain of this.domains) {
      if (name.length > domain.length + 1 && name.endsWith(`.${domain}`)) return name.slice(0, -domain.length - 1);
    }
    return undefined;
  }

  /** Serves one website request; resolves with the operation's name (for metrics). Never throws. */
  async serve(w: WebsiteRequest): Promise<string> {
    const op = w.method === 'HEAD' ? 'WebsiteHead' : 'WebsiteGet';
    const r: S3Request = {
      req: w.req,
      res: w.res,
      method: w.method,
      query: new URLSearchParams(),
      headers: w.req.headers as S3Request['headers'],
      bucket: w.bucket,
      key: undefined,
      principal: undefined,
      auth: { kind: 'anonymous' },
      requestId: w.requestId,
      tx: w.requestId,
      secure: w.secure,
      ...(w.logFacts ? { logFacts: w.logFacts } : {}),
    };
    try {
      await this.respond(r, w);
    } catch (err) {
      this.fail(r, err);
    }
    return op;
  }

  private async respond(r: S3Request, w: WebsiteRequest): Promise<void> {
    if (r.method !== 'GET' && r.method !== 'HEAD') throw new S3Error('MethodNotAllowed', undefined, { fields: { Method: r.method, ResourceType: 'OBJECT' } });
    // A bucket or configuration missing from a cached record is looked up again, so a
    // configuration set through another node counts at once.
    let bucket = await this.api.catalog.bucket(w.bucket);
    if (!bucket?.web) bucket = await this.api.catalog.bucket(w.bucket, true);
    if (!bucket) throw new S3Error('NoSuchBucket', undefined, { fields: { BucketName: w.bucket } });
    // Website requests are anonymous, which a Requester Pays bucket refuses (AccessDenied).
    checkRequestPayer(r, bucket);
    const config = bucket.web;
    if (!config) throw new S3Error('NoSuchWebsiteConfiguration', undefined, { fields: { BucketName: w.bucket } });
    const protocol: WebsiteProtocol = w.secure ? 'https' : 'http';
    if (config.redirectAll) {
      this.redirect(r, { status: 301, location: `${config.redirectAll.protocol ?? protocol}://${config.redirectAll.hostName}${w.rawPath}` });
      return;
    }
    const decoded = percentDecode(w.rawPath);
    if (decoded === undefined || !decoded.startsWith('/')) throw new S3Error('InvalidURI');
    const key = decoded.slice(1);
    const host = r.headers['host'] ?? '';
    const byPrefix = matchRoutingRule(config.routingRules, key);
    if (byPrefix) {
      this.redirect(r, routingRedirect(byPrefix, key, { host, protocol }));
      return;
    }
    const suffix = config.indexSuffix ?? 'index.html';
    const objectKey = key === '' || key.endsWith('/') ? key + suffix : key;
    let entry: ObjectEntry;
    try {
      entry = await this.api.websiteObject(r, bucket, objectKey);
    } catch (err) {
      const e = this.mapError(err);
      if (e.status < 400) throw e;
      // A "folder" without its trailing slash: its index document, if it has one, by redirect.
      if ((e.status === 404 || e.status === 403) && objectKey === key && (await this.readable(r, bucket, `${key}/${suffix}`))) {
        this.redirect(r, { status: 302, location: `/${uriEncode(key, false)}/` });
        return;
      }
      const byError = matchRoutingRule(config.routingRules, key, e.status);
      if (byError) {
        this.redirect(r, routingRedirect(byError, key, { host, protocol }));
        return;
      }
      if (e.status >= 500 || config.errorKey === undefined) throw e;
      await this.errorDocument(r, bucket, config.errorKey, e);
      return;
    }
    const location = entry.hd?.['x-amz-website-redirect-location'];
    if (location !== undefined) {
      this.redirect(r, { status: 301, location });
      return;
    }
    await this.api.sendWebsiteObject(r, bucket, objectKey, entry, r.method === 'HEAD');
  }

  /** Whether `key` is an object an anonymous GetObject may read. */
  private async readable(r: S3Request, bucket: BucketEntry, key: string): Promise<boolean> {
    try {
      await this.api.websiteObject(r, bucket, key);
      return true;
    } catch {
      return false;
    }
  }

  /** Answers `error` with the bucket's error document (and its status), or the HTML page saying why it could not be. */
  private async errorDocument(r: S3Request, bucket: BucketEntry, errorKey: string, error: S3Error): Promise<void> {
    let entry: ObjectEntry;
    try {
      entry = await this.api.websiteObject(r, bucket, errorKey);
    } catch (err) {
      const docError = this.mapError(err);
      if (docError.status >= 500) throw docError;
      this.sendHtml(r, error, info(docError));
      return;
    }
    await this.api.sendWebsiteObject(r, bucket, errorKey, entry, r.method === 'HEAD', error.status);
  }

  private redirect(r: S3Request, target: RedirectTarget): void {
    discardBody(r);
    r.res.writeHead(target.status, { location: target.location, 'content-length': '0' });
    r.res.end();
  }

  private fail(r: S3Request, err: unknown): void {
    const e = this.mapError(err);
    this.countError(e.code);
    if (e.status >= 500) {
      const cause = (e.cause ?? err) as { message?: string; stack?: string };
      this.log.error({ code: e.code, requestId: r.requestId, bucket: r.bucket, err: { message: cause?.message, stack: cause?.stack } }, `S3 website request failed: ${cause?.message ?? e.message}`);
    } else {
      this.log.debug({ code: e.code, requestId: r.requestId, bucket: r.bucket, status: e.status }, `S3 website request refused: ${e.message}`);
    }
    if (r.res.headersSent) {
      r.res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    if (e.status < 400) {
      // 304 Not Modified (a conditional GET): the status and its headers alone.
      discardBody(r);
      r.res.writeHead(e.status, { ...e.headers, 'content-length': '0' });
      r.res.end();
      return;
    }
    this.sendHtml(r, e);
  }

  private sendHtml(r: S3Request, error: S3Error, docError?: WebsiteErrorInfo): void {
    discardBody(r);
    const html = websiteErrorHtml(error.status, info(error), { requestId: r.requestId, hostId: r.requestId }, docError);
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(html)) };
    if (error.code === 'MethodNotAllowed') headers['allow'] = 'GET, HEAD';
    r.res.writeHead(error.status, headers);
    r.res.end(r.method === 'HEAD' ? undefined : html);
  }
}

/** The code, message and details of an error, for the HTML page. */
function info(e: S3Error): WebsiteErrorInfo {
  return { code: e.code, message: e.message, fields: e.fields };
}

/** Drops what remains of a request body (a website request has none to read). */
function discardBody(r: S3Request): void {
  if (r.req.readableEnded) return;
  if (!r.req.complete) r.res.setHeader('connection', 'close');
  r.req.resume();
}
