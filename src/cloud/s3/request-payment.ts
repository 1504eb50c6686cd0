/**
 * Requester Pays (PutBucketRequestPayment, GetBucketRequestPayment), kept in the bucket record
 * (`rp`). On a Requester Pays bucket, every request by someone other than the bucket's owner must
 * say it pays (`x-amz-request-payer: requester`), or it is `AccessDenied` — anonymous requests
 * included, as in S3; requests that say so are answered with `x-amz-request-charged: requester`.
 * Pi does not bill anyone: the setting gives S3's access behaviour, so tools and scripts written
 * for Requester Pays buckets work unchanged.
 */
import { S3Error, acknowledgesCharges, parseRequestPaymentConfiguration, requestPaymentXml } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the Requester Pays operations need of the S3 API. */
export interface RequestPaymentContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

/**
 * Checks a request to `bucket` against its Requester Pays setting: `AccessDenied` for a request
 * by anyone but the owner that does not say it pays; the charge header on one that does.
 */
export function checkRequestPayer(r: S3Request, bucket: BucketEntry): void {
  if (bucket.rp !== 'Requester' || (r.principal !== undefined && r.principal.id === bucket.owner)) return;
  if (r.principal === undefined || !acknowledgesCharges(r.headers, r.query)) throw new S3Error('AccessDenied');
  if (!r.res.headersSent) r.res.setHeader('x-amz-request-charged', 'requester');
}

/** The Requester Pays operations (`?requestPayment`). */
export class RequestPaymentApi {
  constructor(private readonly ctx: RequestPaymentContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('requestPayment')) return undefined;
    return subresourceOperation(r, 'BucketRequestPayment', {
      PUT: ['PutBucketRequestPayment', () => this.put(r)],
      GET: ['GetBucketRequestPayment', () => this.get(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketRequestPayment', true);
    const payer = parseRequestPaymentConfiguration(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.setBucketSetting(bucket, 'rp', payer === 'Requester' ? 'Requester' : undefined);
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketRequestPayment', true);
    sendXml(r, requestPaymentXml(bucket.rp ?? 'BucketOwner'));
  }
}
