/**
 * S3 bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and
 * GetBucketPolicyStatus (the bucket owner's only, whatever the policy says: an owner is never
 * locked out of its policy), and {@link BucketPolicies.permits}, which every operation's
 * permission check goes through.
 *
 * The document is kept as given in the bucket record (`policy`), so it travels with the record
 * every operation reads anyway: checking it costs no DHT read, and a bucket without one costs a
 * field check. Each node compiles a document once (protocol/policy.ts) and keeps the compiled
 * form by its text.
 *
 * Decision (IAM's logic for a requester in the bucket owner's account): an explicit Deny of the
 * policy refuses; otherwise an Allow of the policy or what the ACL and ownership allow
 * (access.ts) permits. A permit that only a grant of the ACL gave is noted in the request's
 * access log facts (aclRequired): no policy Allow, no ownership.
 */
import type { TLSSocket } from 'node:tls';
import type { Env } from '../../env/index.ts';
import { S3Error, getHeader, parseRetainUntilDate, parseTaggingHeader, signatureVersionOf } from './protocol/index.ts';
import type { BodyVerifier, Tag } from './protocol/index.ts';
import { DENY_ALL_POLICY, OBJECT_ACTIONS, decodePolicyDocument, evaluatePolicy, isPublicPolicy, parseBucketPolicy, policyStatusXml } from './protocol/policy.ts';
import type { CompiledPolicy } from './protocol/policy.ts';
import { normalizeIp } from './protocol/policy-match.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import { BY_GRANT } from './access.ts';
import type { AclAllowance, AclUse } from './access.ts';
import type { BucketEntry } from './model.ts';
import { readSmallBody, sendEmpty, sendXml, subresourceOperation } from './replies.ts';
import type { Operation } from './replies.ts';

/** What a permission check knows beyond the request itself. */
export interface PolicyTarget {
  /** The object's key (object actions; default: the request's key). */
  key?: string | undefined;
  /** The object's tags (`s3:ExistingObjectTag/<key>`). */
  tags?: readonly Tag[] | undefined;
  /** The ACL asked for (`s3:x-amz-acl`) when it is not in the headers (POST forms). */
  acl?: string | undefined;
  /**
   * The Object Lock asked for when it is not in the `x-amz-object-lock-*` headers (the documents
   * of PutObjectRetention / PutObjectLegalHold): `s3:object-lock-*` condition keys.
   */
  lock?: { mode?: string; until?: number; legalHold?: string } | undefined;
  /**
   * A POST form upload, which is authenticated by its policy's signature rather than the
   * request's: `s3:authType` is `POST`, `s3:signatureversion` the form's (undefined without one).
   */
  form?: { signatureVersion: string | undefined } | undefined;
  /**
   * Where a permit that needed an ACL grant is noted (default: the request's log facts); a
   * copy's source read notes it in its own record's facts.
   */
  aclUse?: AclUse | undefined;
  /** The If-Match of a conditional delete when it is not the request's header (a DeleteObjects entry's `ETag`): `s3:if-match`. */
  ifMatch?: string | undefined;
}

/** The part of a request a policy looks at (PostObject checks the form's signer, not the request's). */
export type PolicySubject = Pick<S3Request, 'req' | 'headers' | 'query' | 'principal' | 'key' | 'auth' | 'logFacts'>;

/** What the policy operations need of the S3 API. */
export interface PolicyContext {
  readonly env: Env;
  readonly catalog: Catalog;
  /** The request's bucket, which the requester must own (`AccessDenied`). */
  ownBucket(r: S3Request, fresh?: boolean): Promise<BucketEntry>;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
}

/** Compiled policies by document (bounded: cleared when full). */
const compiledPolicies = new Map<string, CompiledPolicy>();
const MAX_COMPILED = 1000;

/** The compiled form of a stored policy document. */
export function compiledPolicy(text: string): CompiledPolicy {
  let policy = compiledPolicies.get(text);
  if (policy === undefined) {
    try {
      policy = parseBucketPolicy(text);
    } catch {
      // A stored document that no longer parses refuses everything (fails closed).
      policy = DENY_ALL_POLICY;
    }
    if (compiledPolicies.size >= MAX_COMPILED) compiledPolicies.clear();
    compiledPolicies.set(text, policy);
  }
  return policy;
}

/** The bucket policy operations and checks. */
export class BucketPolicies {
  constructor(private readonly ctx: PolicyContext) {}

  /** The policy operation a bucket request is, if any (`?policy`, `?policyStatus`; other methods: `MethodNotAllowed`). */
  operation(r: S3Request): Operation | undefined {
    if (r.query.has('policyStatus')) return subresourceOperation(r, 'BucketPolicy', { GET: ['GetBucketPolicyStatus', () => this.getBucketPolicyStatus(r)] });
    if (!r.query.has('policy')) return undefined;
    return subresourceOperation(r, 'BucketPolicy', {
      PUT: ['PutBucketPolicy', () => this.putBucketPolicy(r)],
      GET: ['GetBucketPolicy', () => this.getBucketPolicy(r)],
      DELETE: ['DeleteBucketPolicy', () => this.deleteBucketPolicy(r)],
    });
  }

  /**
   * Whether `r` may do `action` on `bucket` (the object `target.key`, or the request's key, for
   * object actions): false if the bucket's policy denies it, true if the policy allows it, else
   * `aclAllows` (what the ACL and ownership say). Without a policy: `aclAllows`, nothing else.
   * A permit that rests on a grant alone is noted in `target.aclUse` or the request's log facts.
   */
  permits(bucket: BucketEntry, r: PolicySubject, action: string, aclAllows: AclAllowance, target: PolicyTarget = {}): boolean {
    const text = bucket.policy;
    if (text === undefined) return this.byAcl(r, aclAllows, target);
    const key = OBJECT_ACTIONS.has(action) ? (target.key ?? r.key) : undefined;
    const policy = compiledPolicy(text);
    const decision = evaluatePolicy(policy, {
      action,
      resource: key === undefined ? `arn:aws:s3:::${bucket.name}` : `arn:aws:s3:::${bucket.name}/${key}`,
      principal: r.principal,
      value: (name) => this.contextValue(r, target, name),
    });
    if (decision === 'Deny') return false;
    // RestrictPublicBuckets (public-access.ts): a public policy's Allows do not reach anonymous requests.
    if (decision === 'Allow' && r.principal === undefined && bucket.pab?.restrictBuckets && isPublicPolicy(policy)) return this.byAcl(r, aclAllows, target);
    return decision === 'Allow' || this.byAcl(r, aclAllows, target);
  }

  /** What the ACL side allows, noting an allowance by grant (aclRequired) where the request's facts go. */
  private byAcl(r: PolicySubject, aclAllows: AclAllowance, target: PolicyTarget): boolean {
    if (aclAllows !== BY_GRANT) return aclAllows;
    const use = target.aclUse ?? r.logFacts;
    if (use) use.aclRequired = true;
    return true;
  }

  /** The value of condition key `name` (normalized) for a request; undefined when it has none. */
  private contextValue(r: PolicySubject, target: PolicyTarget, name: string): string | undefined {
    switch (name) {
      case 'aws:securetransport':
        return (r.req.socket as Partial<TLSSocket>).encrypted === true ? 'true' : 'false';
      case 'aws:sourceip':
        return normalizeIp(r.req.socket.remoteAddress);
      case 'aws:useragent':
        return getHeader(r.headers, 'user-agent');
      case 'aws:referer':
        return getHeader(r.headers, 'referer');
      case 'aws:username':
        return r.principal?.name;
      case 'aws:userid':
        return r.principal?.id;
      case 'aws:principaltype':
        return r.principal ? 'User' : 'Anonymous';
      case 's3:signatureversion':
        return target.form ? target.form.signatureVersion : signatureVersionOf(r.auth);
      case 's3:authtype':
        return target.form ? 'POST' : r.auth.kind === 'header' ? 'REST-HEADER' : r.auth.kind === 'presigned' ? 'REST-QUERY-STRING' : undefined;
      case 'aws:currenttime':
        return new Date(this.ctx.env.now()).toISOString();
      case 'aws:epochtime':
        return String(Math.floor(this.ctx.env.now() / 1000));
      case 's3:prefix':
      case 's3:delimiter':
      case 's3:max-keys':
        return r.query.get(name.slice(3)) ?? undefined;
      case 's3:x-amz-acl':
        return target.acl ?? getHeader(r.headers, 'x-amz-acl');
      // Conditional writes and deletes ("Enforce conditional writes / deletes on Amazon S3 buckets").
      case 's3:if-match':
        return target.ifMatch ?? getHeader(r.headers, 'if-match');
      case 's3:if-none-match':
        return getHeader(r.headers, 'if-none-match');
      case 's3:object-lock-mode':
        return target.lock ? target.lock.mode : getHeader(r.headers, 'x-amz-object-lock-mode');
      case 's3:object-lock-legal-hold':
        return target.lock ? target.lock.legalHold : getHeader(r.headers, 'x-amz-object-lock-legal-hold');
      case 's3:object-lock-retain-until-date': {
        const until = this.retainUntil(r, target);
        return until === undefined ? undefined : new Date(until).toISOString();
      }
      case 's3:object-lock-remaining-retention-days': {
        // Whole days from now to the retain-until date, a started day counting as one.
        const until = this.retainUntil(r, target);
        return until === undefined ? undefined : String(Math.max(0, Math.ceil((until - this.ctx.env.now()) / 86_400_000)));
      }
      default:
        break;
    }
    if (name.startsWith('s3:existingobjecttag/')) {
      const tag = name.slice('s3:existingobjecttag/'.length);
      return target.tags?.find((t) => t.key === tag)?.value;
    }
    if (name.startsWith('s3:requestobjecttag/')) {
      const tag = name.slice('s3:requestobjecttag/'.length);
      try {
        return parseTaggingHeader(getHeader(r.headers, 'x-amz-tagging')).find((t) => t.key === tag)?.value;
      } catch {
        return undefined;
      }
    }
    // s3:x-amz-grant-read, s3:x-amz-copy-source, s3:x-amz-metadata-directive, s3:x-amz-storage-class, …
    if (name.startsWith('s3:x-amz-')) return getHeader(r.headers, name.slice(3));
    return undefined;
  }

  /** The retain-until date a request asks for (ms), from `target.lock` or the header. */
  private retainUntil(r: PolicySubject, target: PolicyTarget): number | undefined {
    if (target.lock) return target.lock.until;
    const header = getHeader(r.headers, 'x-amz-object-lock-retain-until-date');
    return header === undefined ? undefined : parseRetainUntilDate(header);
  }

  async putBucketPolicy(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    const text = decodePolicyDocument(await readSmallBody(r, this.ctx.verifier(r)));
    const policy = parseBucketPolicy(text, bucket.name);
    // The users it names must exist (S3: "Invalid principal in policy").
    const found = await Promise.all([
      ...policy.users.ids.map(async (id) => (await this.ctx.catalog.userById(id)) !== undefined),
      ...policy.users.names.map(async (name) => (await this.ctx.catalog.user(name)) !== undefined),
    ]);
    if (found.includes(false)) throw new S3Error('MalformedPolicy', 'Invalid principal in policy');
    // BlockPublicPolicy (public-access.ts).
    if (bucket.pab?.blockPolicy && isPublicPolicy(policy)) throw new S3Error('AccessDenied');
    await this.ctx.catalog.setBucketSetting(bucket, 'policy', text);
    sendEmpty(r, 204);
  }

  async getBucketPolicy(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    const text = this.policyOf(bucket);
    r.res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
    r.res.end(text);
  }

  async deleteBucketPolicy(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    if (bucket.policy !== undefined) await this.ctx.catalog.setBucketSetting(bucket, 'policy', undefined);
    sendEmpty(r, 204);
  }

  async getBucketPolicyStatus(r: S3Request): Promise<void> {
    const bucket = await this.ctx.ownBucket(r, true);
    sendXml(r, policyStatusXml(isPublicPolicy(compiledPolicy(this.policyOf(bucket)))));
  }

  /** The bucket's policy document (`NoSuchBucketPolicy` without one). */
  private policyOf(bucket: BucketEntry): string {
    if (bucket.policy === undefined) throw new S3Error('NoSuchBucketPolicy', undefined, { fields: { BucketName: bucket.name } });
    return bucket.policy;
  }
}
