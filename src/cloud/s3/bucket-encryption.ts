/**
 * A bucket's default encryption (PutBucketEncryption, GetBucketEncryption,
 * DeleteBucketEncryption), kept in the bucket record (`enc`): with it, a write that asks for no
 * encryption is stored with SSE-S3 or SSE-KMS (with the KMSMasterKeyID given, else `aws/s3`), as
 * S3 does. SSE-C cannot be the default (nor in S3), DSSE-KMS is not offered, and either kind
 * needs a ring whose nodes have a master key. The KMS key is kept as given and resolved at each
 * write (an unknown or disabled key fails the writes, as in S3).
 */
import { S3Error, bucketEncryptionXml, parseBucketEncryption } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { MasterKeys } from './encryption.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the bucket encryption operations need of the S3 API. */
export interface BucketEncryptionContext {
  readonly catalog: Catalog;
  /** The request's bucket if the requester may do `action` on it (its owner, or the policy's). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
  /** This node's SSE-S3 master key, if configured. */
  readonly master: MasterKeys | undefined;
}

/** The `?encryption` operations. */
export class BucketEncryptionApi {
  constructor(private readonly ctx: BucketEncryptionContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('encryption')) return undefined;
    return subresourceOperation(r, 'BucketEncryption', {
      PUT: ['PutBucketEncryption', () => this.put(r)],
      GET: ['GetBucketEncryption', () => this.get(r)],
      DELETE: ['DeleteBucketEncryption', () => this.delete(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutEncryptionConfiguration', true);
    const config = parseBucketEncryption(await readCheckedBody(r, this.ctx.verifier(r)));
    if (!this.ctx.master) throw noMasterKey();
    await this.ctx.catalog.setBucketSetting(bucket, 'enc', { a: config.algorithm, ...(config.kmsKeyId !== undefined ? { k: config.kmsKeyId } : {}), ...(config.bucketKey ? { bk: true as const } : {}) });
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetEncryptionConfiguration', true);
    if (!bucket.enc) throw new S3Error('ServerSideEncryptionConfigurationNotFoundError', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, bucketEncryptionXml({ algorithm: bucket.enc.a, ...(bucket.enc.k !== undefined ? { kmsKeyId: bucket.enc.k } : {}), ...(bucket.enc.bk ? { bucketKey: true } : {}) }));
  }

  private async delete(r: S3Request): Promise<void> {
    // S3 checks s3:PutEncryptionConfiguration for a deletion too.
    const bucket = await this.ctx.bucketFor(r, 's3:PutEncryptionConfiguration', true);
    if (bucket.enc) await this.ctx.catalog.setBucketSetting(bucket, 'enc', undefined);
    sendEmpty(r, 204);
  }
}

/** SSE-S3 asked for on a node without a master key. */
export function noMasterKey(): S3Error {
  return new S3Error('NotImplemented', 'SSE-S3 and SSE-KMS need a master key on every node (the s3.sseMasterKeyFile setting); this node has none.');
}
