/**
 * S3 Object Lock: the bucket configuration (CreateBucket with `x-amz-bucket-object-lock-enabled`,
 * PutObjectLockConfiguration, GetObjectLockConfiguration), the retention and legal hold of each
 * object version (PutObjectRetention, GetObjectRetention, PutObjectLegalHold, GetObjectLegalHold;
 * the `x-amz-object-lock-*` headers of PutObject, CopyObject and CreateMultipartUpload; a bucket's
 * default retention; the same headers answered by GetObject / HeadObject) and what they protect.
 *
 * The configuration lives in the bucket record (`lock`; versioning is Enabled with it and cannot
 * be suspended, and it cannot be removed); a version's retention (`rm`, `ru`) and legal hold
 * (`lh`) live in its index entry, current or noncurrent, changed by a conditional rewrite of that
 * version. A version under an unexpired retention or a legal hold cannot be removed for good:
 * DeleteObject / DeleteObjects with its version id answer `AccessDenied`, and the lifecycle expirer
 * leaves it. A GOVERNANCE retention gives way to `x-amz-bypass-governance-retention: true` from a
 * requester with s3:BypassGovernanceRetention (the bucket owner, or whom the policy allows);
 * COMPLIANCE to nobody. Overwrites and deletes without a version id are not refused: they make a
 * new version or a delete marker and keep the protected one. Time is the env clock.
 */
import type { Env } from '../../env/index.ts';
import {
  OBJECT_LOCKED_MESSAGE,
  S3Error,
  defaultRetentionUntil,
  getHeader,
  hasLockHeaders,
  legalHoldXml,
  missingLockConfiguration,
  objectLockConfigurationXml,
  parseLegalHold,
  parseLockHeaders,
  parseObjectLockConfiguration,
  parseRetention,
  retentionChangeAllowed,
  retentionXml,
  versionRemovable,
} from './protocol/index.ts';
import type { BodyVerifier, LegalHoldStatus, Retention } from './protocol/index.ts';
import { canManage } from './access.ts';
import type { AclAllowance } from './access.ts';
import type { Catalog } from './catalog.ts';
import type { PolicySubject, PolicyTarget } from './policy.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { readCheckedBody, sendEmpty, sendXml } from './replies.ts';
import { permittedVersion, versionHeader } from './versioning-api.ts';
import type { ObjectVersion } from './versioning-api.ts';

/** What the Object Lock operations need of the S3 API. */
export interface ObjectLockContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket (`NoSuchBucket`). */
  bucketOf(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The request's bucket if the requester may do `action` on it (`AccessDenied`). */
  bucketFor(r: S3Request, action: string, fresh?: boolean): Promise<BucketEntry>;
  /** Throws `AccessDenied` unless the requester may do `action`. */
  mustPermit(r: S3Request, bucket: BucketEntry, action: string, aclAllows: (b: BucketEntry) => AclAllowance, target?: PolicyTarget): Promise<void>;
  /** Whether the bucket policy (else `aclAllows`) lets `r` do `action`. */
  permits(bucket: BucketEntry, r: PolicySubject, action: string, aclAllows: AclAllowance, target?: PolicyTarget): boolean;
  verifier(r: S3Request): BodyVerifier;
  /** The version a request names (`?versionId=`, else the current one); undefined when none. */
  objectVersion(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectVersion | undefined>;
  /** Rewrites a version's entry while it is still that version. */
  rewriteVersion(bucket: BucketEntry, key: string, found: ObjectVersion, change: (entry: ObjectEntry) => ObjectEntry): Promise<void>;
}

/** The Object Lock fields of a version's entry (or an upload's). */
export type LockFields = Pick<ObjectEntry, 'rm' | 'ru' | 'lh'>;

/** The retention of an entry, if it has one. */
export function retentionOf(e: LockFields): Retention | undefined {
  return e.rm !== undefined && e.ru !== undefined ? { mode: e.rm, until: e.ru } : undefined;
}

/** `entry` with its retention replaced by `retention` (none: removed). */
function withRetention(entry: ObjectEntry, retention: Retention | undefined): ObjectEntry {
  const out = { ...entry };
  if (retention) {
    out.rm = retention.mode;
    out.ru = retention.until;
  } else {
    delete out.rm;
    delete out.ru;
  }
  return out;
}

function objectLocked(): S3Error {
  return new S3Error('AccessDenied', OBJECT_LOCKED_MESSAGE);
}

/** Whether a request asks to bypass governance retention. */
function asksBypass(r: PolicySubject): boolean {
  return getHeader(r.headers, 'x-amz-bypass-governance-retention')?.trim().toLowerCase() === 'true';
}

export class ObjectLockApi {
  constructor(private readonly ctx: ObjectLockContext) {}

  // ---------------------------------------------------------------------------------------------
  // Bucket configuration

  async putObjectLockConfiguration(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:PutBucketObjectLockConfiguration', true);
    const config = parseObjectLockConfiguration(await readCheckedBody(r, this.ctx.verifier(r)));
    await this.ctx.catalog.setBucketObjectLock(bucket, config);
    sendEmpty(r, 200);
  }

  async getObjectLockConfiguration(r: S3Request): Promise<void> {
    const bucket = await this.ctx.bucketFor(r, 's3:GetBucketObjectLockConfiguration', true);
    if (!bucket.lock) throw new S3Error('ObjectLockConfigurationNotFoundError', undefined, { fields: { BucketName: bucket.name } });
    sendXml(r, objectLockConfigurationXml(bucket.lock));
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  /**
   * The Object Lock fields of a new version written by `r` at `now`: its `x-amz-object-lock-*`
   * headers (refused on a bucket without Object Lock; the requester needs s3:PutObjectRetention /
   * s3:PutObjectLegalHold), else the bucket's default retention. `explicitOnly`: the headers'
   * alone (CreateMultipartUpload: the default applies on completion). Resolves with the bucket
   * too (re-read when a cached record did not show Object Lock yet).
   */
  async writeFields(r: S3Request, bucket: BucketEntry, now: number, options: { explicitOnly?: boolean } = {}): Promise<{ bucket: BucketEntry; fields: LockFields }> {
    const fields: LockFields = {};
    if (hasLockHeaders(r.headers)) {
      if (!bucket.lock) bucket = await this.ctx.bucketOf(r, true);
      if (!bucket.lock) throw missingLockConfiguration(true);
      const asked = parseLockHeaders(r.headers, now);
      const mayLock = (b: BucketEntry): boolean => r.principal !== undefined && b.inc === bucket.inc;
      if (asked.retention) {
        await this.ctx.mustPermit(r, bucket, 's3:PutObjectRetention', mayLock);
        fields.rm = asked.retention.mode;
        fields.ru = asked.retention.until;
      }
      if (asked.legalHold) {
        await this.ctx.mustPermit(r, bucket, 's3:PutObjectLegalHold', mayLock);
        fields.lh = asked.legalHold;
      }
    }
    if (!options.explicitOnly && fields.rm === undefined) Object.assign(fields, this.defaultFields(bucket, now));
    return { bucket, fields };
  }

  /** The bucket's default retention for a version written at `now` (none without a rule). */
  defaultFields(bucket: BucketEntry, now: number): LockFields {
    const rule = bucket.lock?.rule;
    return rule ? { rm: rule.mode, ru: defaultRetentionUntil(rule, now) } : {};
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /**
   * `x-amz-object-lock-mode`, `…-retain-until-date` and `…-legal-hold` of GetObject / HeadObject,
   * for a requester who may read them (s3:GetObjectRetention, s3:GetObjectLegalHold), as S3 does.
   */
  headers(r: S3Request, bucket: BucketEntry, entry: ObjectEntry): Record<string, string> {
    const out: Record<string, string> = {};
    if (entry.rm === undefined && entry.lh === undefined) return out;
    const owner = canManage(bucket, entry, r.principal);
    const retention = retentionOf(entry);
    if (retention && this.ctx.permits(bucket, r, 's3:GetObjectRetention', owner, { tags: entry.tags })) {
      out['x-amz-object-lock-mode'] = retention.mode;
      out['x-amz-object-lock-retain-until-date'] = new Date(retention.until).toISOString();
    }
    if (entry.lh !== undefined && this.ctx.permits(bucket, r, 's3:GetObjectLegalHold', owner, { tags: entry.tags })) out['x-amz-object-lock-legal-hold'] = entry.lh;
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Deletes

  /**
   * The guard of a removal for good requested by `r` (DeleteObject / DeleteObjects with a version
   * id): `AccessDenied` for a version under a legal hold or an unexpired retention, unless it is
   * a GOVERNANCE one and `r` bypasses it with the permission to.
   */
  deleteGuard(r: PolicySubject, bucket: BucketEntry, key: string): (version: ObjectEntry) => void {
    return (version) => {
      const now = this.ctx.env.now();
      const lock = { retention: retentionOf(version), legalHold: version.lh };
      if (versionRemovable(lock, now, false)) return;
      if (versionRemovable(lock, now, true) && this.bypasses(r, bucket, key)) return;
      throw objectLocked();
    };
  }

  /** Whether `r` asks to bypass governance retention and may (s3:BypassGovernanceRetention; the bucket owner by default). */
  private bypasses(r: PolicySubject, bucket: BucketEntry, key: string): boolean {
    return asksBypass(r) && this.ctx.permits(bucket, r, 's3:BypassGovernanceRetention', r.principal?.id === bucket.owner, { key });
  }

  // ---------------------------------------------------------------------------------------------
  // Retention and legal hold of a version

  async getObjectRetention(r: S3Request): Promise<void> {
    const { bucket, found } = await this.lockableObject(r, 's3:GetObjectRetention');
    const retention = retentionOf(found.entry);
    if (!retention) throw new S3Error('NoSuchObjectLockConfiguration');
    sendXml(r, retentionXml(retention), 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async putObjectRetention(r: S3Request): Promise<void> {
    const now = this.ctx.env.now();
    let retention: Retention | undefined;
    // The document is read before the permission check: its mode and date are condition keys.
    const { bucket, found } = await this.lockableObject(r, 's3:PutObjectRetention', async () => {
      retention = parseRetention(await readCheckedBody(r, this.ctx.verifier(r)), now);
      return retention ? { mode: retention.mode, until: retention.until } : {};
    });
    const key = r.key!;
    await this.ctx.rewriteVersion(bucket, key, found, (e) => {
      // Judged on the entry as stored, inside the conditional write.
      const current = retentionOf(e);
      if (!retentionChangeAllowed(current, retention, now, false) && !(retentionChangeAllowed(current, retention, now, true) && this.bypasses(r, bucket, key))) throw objectLocked();
      return withRetention(e, retention);
    });
    sendEmpty(r, 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async getObjectLegalHold(r: S3Request): Promise<void> {
    const { bucket, found } = await this.lockableObject(r, 's3:GetObjectLegalHold');
    if (found.entry.lh === undefined) throw new S3Error('NoSuchObjectLockConfiguration');
    sendXml(r, legalHoldXml(found.entry.lh), 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  async putObjectLegalHold(r: S3Request): Promise<void> {
    let status: LegalHoldStatus = 'OFF';
    const { bucket, found } = await this.lockableObject(r, 's3:PutObjectLegalHold', async () => {
      status = parseLegalHold(await readCheckedBody(r, this.ctx.verifier(r)));
      return { legalHold: status };
    });
    await this.ctx.rewriteVersion(bucket, r.key!, found, (e) => ({ ...e, lh: status }));
    sendEmpty(r, 200, versionHeader(bucket, found.entry, r.query.has('versionId')));
  }

  /**
   * The request's bucket, which must have Object Lock (`InvalidRequest`), and object (the version
   * it names, else the current one), on which the requester may do `action`. A missing key is
   * `NoSuchKey` to those who may list the bucket, `AccessDenied` to others. `asked` reads what a
   * PUT asks for (its document) before the permission check, for the `s3:object-lock-*` keys.
   */
  private async lockableObject(r: S3Request, action: string, asked?: () => Promise<NonNullable<PolicyTarget['lock']>>): Promise<{ bucket: BucketEntry; found: ObjectVersion }> {
    let bucket = await this.ctx.bucketOf(r);
    if (!bucket.lock) bucket = await this.ctx.bucketOf(r, true);
    if (!bucket.lock) throw missingLockConfiguration();
    const found = await permittedVersion(this.ctx, r, bucket, action, asked ? async () => ({ lock: await asked() }) : undefined);
    return { bucket, found };
  }
}
