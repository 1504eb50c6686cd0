/**
 * A bucket's static website configuration (PutBucketWebsite, GetBucketWebsite,
 * DeleteBucketWebsite), kept in the bucket record (`web`). The website endpoint that serves it is
 * website.ts.
 */
import { S3Error, parseWebsiteConfiguration, websiteConfigurationXml } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the bucket website operations need of the S3 API. */
export interface BucketWebsiteContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

/** The `?website` operations. */
export class BucketWebsiteApi {
  constructor(private readonly ctx: BucketWebsiteContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('website')) return undefined;
    return subresourceOperation(r, 'BucketWebsite', {
      PUT: ['PutBucketWebsite', () => this.put(r)],
      GET: ['GetBucketWebsite', () => this.get(r)],
      DELETE: ['DeleteBucketWebsite', () => this.delete(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketWebsite', true);
    const config = parseWebsiteConfiguration(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.setBucketSetting(bucket, 'web', config);
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketWebsite', true);
    if (!bucket.web) throw new S3Error('NoSuchWebsiteConfiguration', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, websiteConfigurationXml(bucket.web));
  }

  private async delete(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:DeleteBucketWebsite', true);
    if (bucket.web) await this.ctx.catalog.setBucketSetting(bucket, 'web', undefined);
    sendEmpty(r, 204);
  }
}
