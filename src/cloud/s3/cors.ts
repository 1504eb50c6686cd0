/**
 * S3 CORS. A bucket's rules (PutBucketCors, GetBucketCors, DeleteBucketCors: its owner's) live
 * in the bucket record; the endpoint answers preflights (`OPTIONS` on the bucket or a key,
 * unauthenticated, before any signature check) and adds the Access-Control-* headers to actual
 * requests that carry an `Origin` a rule allows — error answers included, as S3 does.
 *
 * Only requests with an `Origin` header pay anything, and they read the bucket record through
 * the catalog's cache (the one every operation reads right after), so a rule change made through
 * another node takes effect here within `s3.cacheMs`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CORS_NOT_ALLOWED,
  CORS_NOT_ENABLED,
  CORS_NO_BUCKET,
  S3Error,
  corsConfigurationXml,
  corsForbidden,
  corsResponseHeaders,
  getHeader,
  matchCorsRule,
  parseAccessControlRequestHeaders,
  parseCorsConfiguration,
} from './protocol/index.ts';
import type { BodyVerifier, HeaderMap } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml } from './replies.ts';

/** What the CORS operations need of the S3 API. */
export interface CorsContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it: its owner or whom its policy allows (`AccessDenied`). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
}

/** The CORS operations, preflights and the headers of actual requests. */
export class CorsApi {
  constructor(private readonly ctx: CorsContext) {}

  async getBucketCors(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketCORS', true);
    if (!bucket.cors?.length) throw new S3Error('NoSuchCORSConfiguration', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, corsConfigurationXml(bucket.cors));
  }

  async putBucketCors(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketCORS', true);
    const rules = parseCorsConfiguration(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.setBucketCors(bucket, rules);
    sendEmpty(r, 200);
  }

  async deleteBucketCors(r: S3Request): Promise<void> {
    // S3 checks s3:PutBucketCORS for a deletion too.
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketCORS', true);
    if (bucket.cors) await this.ctx.catalog.setBucketCors(bucket, undefined);
    sendEmpty(r, 204);
  }

  /**
   * Answers a preflight `OPTIONS` to `bucketName` / `key`: 200 with the Access-Control-* headers
   * of the first rule allowing its `Origin`, `Access-Control-Request-Method` and
   * `Access-Control-Request-Headers`. Refusals, in S3's order: no `Origin` → 400 `BadRequest`;
   * no such bucket, or a bucket without CORS rules → 403 `AccessForbidden`; no
   * `Access-Control-Request-Method` → 400 `BadRequest`; no rule allows it → 403 `AccessForbidden`.
   */
  async preflight(req: IncomingMessage, res: ServerResponse, bucketName: string | undefined, key: string | undefined): Promise<void> {
    const headers = req.headers as HeaderMap;
    const origin = getHeader(headers, 'origin');
    if (origin === undefined || origin === '') throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.');
    const requested = getHeader(headers, 'access-control-request-method');
    const method = requested === undefined || requested === '' ? undefined : requested;
    const bucket = bucketName === undefined ? undefined : await this.ctx.catalog.bucket(bucketName);
    if (bucket === undefined) throw corsForbidden(bucketName === undefined ? CORS_NOT_ENABLED : CORS_NO_BUCKET, method ?? 'OPTIONS', bucketName === undefined ? 'SERVICE' : 'BUCKET');
    if (!bucket.cors?.length) throw corsForbidden(CORS_NOT_ENABLED, method ?? 'OPTIONS', 'BUCKET');
    if (method === undefined) throw new S3Error('BadRequest', 'Insufficient information. Access-Control-Request-Method request header needed.');
    const requestedHeaders = parseAccessControlRequestHeaders(getHeader(headers, 'access-control-request-headers'));
    const match = matchCorsRule(bucket.cors, { origin, method, headers: requestedHeaders });
    if (!match) throw corsForbidden(CORS_NOT_ALLOWED, method, key === undefined ? 'BUCKET' : 'OBJECT');
    // A preflight has no body: one sent anyway is drained, and the connection closed after it.
    const length = getHeader(headers, 'content-length');
    if (getHeader(headers, 'transfer-encoding') !== undefined || (length !== undefined && length.trim() !== '0')) res.setHeader('connection', 'close');
    req.resume();
    res.writeHead(200, { ...corsResponseHeaders(match, requestedHeaders), 'content-length': '0' });
    res.end();
  }

  /**
   * The Access-Control-* headers of an actual request to `bucketName` carrying an `Origin`: those
   * of the first rule allowing the origin and the method (`Access-Control-Request-Method` when the
   * request has one, as S3 evaluates it; its headers are not checked); none when no rule does or
   * the bucket has no rules.
   */
  async actualRequestHeaders(bucketName: string, method: string, headers: HeaderMap): Promise<Record<string, string>> {
    const origin = getHeader(headers, 'origin');
    if (origin === undefined || origin === '') return {};
    const bucket = await this.ctx.catalog.bucket(bucketName);
    if (!bucket?.cors?.length) return {};
    const match = matchCorsRule(bucket.cors, { origin, method: getHeader(headers, 'access-control-request-method') || method });
    return match ? corsResponseHeaders(match) : {};
  }
}
