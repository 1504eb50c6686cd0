/**
 * A bucket's server access logging configuration (PutBucketLogging, GetBucketLogging), kept in
 * the bucket record (`log`); the bucket owner's only, as in S3. What S3 checks of the target
 * bucket is checked here: it must exist (`InvalidTargetBucketForLogging`, "The target bucket for
 * logging does not exist"), be owned by the same owner (same message S3 answers: "The owner for
 * the bucket to be logged and the target bucket must be the same."), be in the same region
 * (`CrossLocationLoggingProhibitted`), not have Object Lock nor be Requester Pays (S3 refuses such
 * targets; the messages are ours), and TargetGrants are refused for a target whose ACLs are disabled
 * (`AccessControlListNotSupported`). Grantees are resolved as ACL grants are (acl.ts).
 *
 * Whether the log delivery may write into the target is decided at delivery (access-log.ts), as
 * S3 does: a target bucket may log into itself; the delivery's own writes are never logged.
 */
import { S3Error } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import { bucketLoggingStatusXml, parseBucketLoggingStatus } from './protocol/bucket-logging.ts';
import type { LogPermission, LoggingConfiguration } from './protocol/bucket-logging.ts';
import { aclsDisabled, grantOf } from './access.ts';
import { resolveGrants } from './acl.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, StoredGrant } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What the bucket logging operations need of the S3 API. */
export interface BucketLoggingContext {
  readonly catalog: Catalog;
  /** The request's bucket, which the requester must own (`AccessDenied`). */
  ownBucket(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  verifier(r: S3Request): BodyVerifier;
}

function invalidTarget(message: string, target: string): S3Error {
  return new S3Error('InvalidTargetBucketForLogging', message, { fields: { TargetBucket: target } });
}

/** The `?logging` operations. */
export class BucketLoggingApi {
  constructor(private readonly ctx: BucketLoggingContext) {}

  operation(r: S3Request): Operation | undefined {
    if (!r.query.has('logging')) return undefined;
    return subresourceOperation(r, 'BucketLogging', {
      PUT: ['PutBucketLogging', () => this.put(r)],
      GET: ['GetBucketLogging', () => this.get(r)],
    });
  }

  private async put(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    const config = parseBucketLoggingStatus(await readCheckedBody(r, this.ctx.verifier(r)));
    if (!config) {
      if (bucket.log) await this.ctx.catalog.setBucketSetting(bucket, 'log', undefined);
      sendEmpty(r, 200);
      return;
    }
    const name = config.targetBucket;
    const target = name === bucket.name ? bucket : await this.ctx.catalog.bucket(name, true);
    if (!target) throw invalidTarget('The target bucket for logging does not exist', name);
    if (target.owner !== bucket.owner) throw invalidTarget('The owner for the bucket to be logged and the target bucket must be the same.', name);
    if (target.region !== bucket.region) throw new S3Error('CrossLocationLoggingProhibitted', undefined, { fields: { SourceBucketLocation: bucket.region, TargetBucketLocation: target.region } });
    if (target.lock) throw invalidTarget('The target bucket for logging has Object Lock enabled, and cannot receive server access logs.', name);
    if (target.rp === 'Requester') throw invalidTarget('The target bucket for logging is a Requester Pays bucket, and cannot receive server access logs.', name);
    const stored: LoggingConfiguration<StoredGrant> = { targetBucket: name, targetPrefix: config.targetPrefix };
    if (config.targetGrants) {
      if (aclsDisabled(target) && config.targetGrants.length > 0) throw new S3Error('AccessControlListNotSupported', 'The target bucket for logging does not allow ACLs: TargetGrants cannot be used.');
      stored.targetGrants = await resolveGrants(this.ctx.catalog, config.targetGrants);
    }
    if (config.keyFormat) stored.keyFormat = config.keyFormat;
    await this.ctx.catalog.setBucketSetting(bucket, 'log', stored);
    sendEmpty(r, 200);
  }

  private async get(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    const log = bucket.log;
    const grants = log?.targetGrants?.map((g) => ({ grantee: grantOf(g).grantee, permission: g.p as LogPermission }));
    sendXml(r, bucketLoggingStatusXml(log && { ...log, targetGrants: grants }));
  }
}
