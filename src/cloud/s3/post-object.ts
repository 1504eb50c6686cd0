/**
 * PostObject: browser-based uploads with HTTP POST (`POST /bucket`, `multipart/form-data`,
 * AWS Signature Version 4, or Version 2 unless `s3.signatureV2` is off), as the S3 documentation
 * describes them.
 *
 * The form is parsed as it streams (busboy): the fields before the `file` field are read
 * (at most {@link MAX_POST_FORM_BYTES} of names and values), then the request is authorized —
 * the policy's signature (the user of `x-amz-credential`, or of `AWSAccessKeyId`), its expiration and conditions, the
 * user's (or, without a policy, an anonymous) write permission on the bucket — and only then is
 * the file streamed into the chunk store through the same path as PutObject
 * ({@link PostObjectContext.storeObject}): a large file never sits in memory. The object's entry
 * is written once the file ended cleanly, the rest of the form was read and its size met the
 * policy's content-length-range; otherwise nothing becomes visible. Fields after the file are
 * ignored, as S3 ignores them. The protocol rules (policy, signature, answers) are in
 * `protocol/post-policy.ts`.
 */
import { PassThrough, Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { Env } from '../../env/index.ts';
import {
  MAX_POST_FORM_BYTES,
  S3Error,
  SIGV2_SCHEME,
  SIGV4_ALGORITHM,
  checkPostPolicy,
  checkPostSize,
  checksumHeaderName,
  expandFilename,
  invalidAccessKeyId,
  isMultipartFormData,
  isSigV2PostForm,
  malformedPost,
  missingPostField,
  noFileInPost,
  notAFormPost,
  parsePostPolicy,
  parsePostSignature,
  parsePostSignatureV2,
  parseStorageClass,
  parseTagging,
  postFormTooLarge,
  postRedirectLocation,
  postResponseXml,
  postSuccessStatus,
  refuseCustomerKeyInClear,
  refuseKmsInClear,
  asksForKms,
  kmsNeedsSigV4Error,
  validateObjectKey,
  verifyPostSignature,
  verifyPostSignatureV2,
} from './protocol/index.ts';
import type { ChecksumAlgorithm, PostSignature, SizeRange } from './protocol/index.ts';
import { OBJECT_WRITE_GRANT_HEADERS } from './protocol/acl.ts';
import { requestAcl } from './acl.ts';
import { sealedKeyHeaders } from './encryption.ts';
import type { ObjectWrite } from './api.ts';
import type { Catalog, Principal } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import type { PolicyTarget } from './policy.ts';
import type { S3Options } from './options.ts';
import { sendEmpty, sendXml } from './replies.ts';

/**
 * Largest text content of a `file` field sent as a plain form field (no file name): such a value
 * is buffered by the parser. Files sent as files (what browsers and SDKs do) stream, any size.
 */
export const MAX_TEXT_FILE_BYTES = 1024 * 1024;

/** Most parts read before the file (each counts toward the form's size too). */
const MAX_PARTS = 1000;

/** Form fields copied to the object as the headers of a PutObject would be. */
const STORED_FIELDS = ['content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires', 'content-md5', 'x-amz-website-redirect-location'];

/** What PostObject needs of the S3 API. */
export interface PostObjectContext {
  readonly env: Env;
  readonly catalog: Catalog;
  readonly options: S3Options;
  /** The request's bucket (`NoSuchBucket`). */
  bucketOf(r: S3Request): Promise<BucketEntry>;
  /** The request's bucket if its principal may write object `target.key` in it (ACL or bucket policy: `AccessDenied`). */
  writableBucket(r: S3Request, target: PolicyTarget): Promise<BucketEntry>;
  /** Streams an object's bytes into the store and writes its entry (PutObject's path). */
  storeObject(w: ObjectWrite): Promise<{ entry: ObjectEntry }>;
  /** An object was stored by the form `r` (its event notification). */
  created(r: S3Request, bucket: BucketEntry, key: string, entry: ObjectEntry): Promise<void>;
  /** The URL of an object at this endpoint. */
  location(bucket: string, key: string): string;
}

/** The file of a form: its bytes and the name the client gave it. */
interface FormFile {
  stream: Readable;
  filename: string | undefined;
}

/** The form up to its file: the fields (lower-case names, repeated values joined with commas). */
interface FormHead {
  fields: Map<string, string>;
  file: FormFile | undefined;
}

/**
 * A multipart form being read from a request: {@link head} settles at the `file` field (or at the
 * end of a form without one), {@link done} once the whole form was read. Every failure — a
 * malformed body, a form too large, a client gone — is an S3 error, delivered to both promises
 * and to the file's stream.
 */
class FormReader {
  readonly head: Promise<FormHead>;
  readonly done: Promise<void>;
  private readonly parser: busboy.Busboy;
  private failure: S3Error | undefined;
  private fileStarted = false;
  private size = 0;
  private readonly fields = new Map<string, string>();
  /** Values of file parts other than `file` (read as fields) still arriving. */
  private readonly pending: Promise<void>[] = [];
  private resolveHead!: (head: FormHead) => void;
  private rejectHead!: (err: S3Error) => void;
  private resolveDone!: () => void;
  private rejectDone!: (err: S3Error) => void;

  constructor(private readonly req: IncomingMessage) {
    this.head = new Promise<FormHead>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Whoever awaits them sees the failure; nobody may be awaiting yet.
    this.head.catch(() => {});
    this.done.catch(() => {});
    try {
      this.parser = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { fieldSize: MAX_TEXT_FILE_BYTES, parts: MAX_PARTS } });
    } catch (err) {
      throw malformedPost((err as Error).message);
    }
    this.parser.on('field', (name, value, info) => this.onField(name, value, info.valueTruncated));
    this.parser.on('file', (name, stream, info) => this.onFile(name, stream, info.filename));
    this.parser.on('partsLimit', () => {
      if (!this.fileStarted) this.fail(postFormTooLarge());
    });
    this.parser.on('error', (err: Error) => this.fail(err instanceof S3Error ? err : malformedPost(err.message)));
    this.parser.on('finish', () => {
      if (!this.fileStarted) void this.settleHead(undefined);
      this.resolveDone();
    });
    req.on('error', () => this.fail(incompleteBody()));
    req.on('close', () => {
      if (!req.complete) this.fail(incompleteBody());
    });
    req.pipe(this.parser);
  }

  /** Stops reading (on a refusal): the rest of the body is left to the caller to drain. */
  close(err: S3Error = malformedPost('the upload was refused')): void {
    this.fail(err);
  }

  /** The failure that stopped the form, if any. */
  get error(): S3Error | undefined {
    return this.failure;
  }

  private fail(err: S3Error): void {
    if (this.failure) return;
    this.failure = err;
    this.req.unpipe(this.parser);
    this.rejectHead(err);
    this.rejectDone(err);
    // Ends the file's stream with the same error.
    this.parser.destroy(err);
  }

  /** Counts bytes of fields toward the form's size; false (and the form failed) beyond the limit. */
  private count(bytes: number): boolean {
    this.size += bytes;
    if (this.size <= MAX_POST_FORM_BYTES) return true;
    this.fail(postFormTooLarge());
    return false;
  }

  private addField(name: string, value: string): void {
    const lower = name.toLowerCase();
    const previous = this.fields.get(lower);
    this.fields.set(lower, previous === undefined ? value : `${previous},${value}`);
  }

  private onField(name: string, value: string, truncated: boolean): void {
    if (this.fileStarted || this.failure) return;
    if (name.toLowerCase() === 'file') {
      // Text content given as a plain field.
      if (truncated) {
        this.fail(new S3Error('EntityTooLarge', `A file sent as a plain form field is limited to ${MAX_TEXT_FILE_BYTES} bytes here; send it as a file.`, { fields: { MaxSizeAllowed: MAX_TEXT_FILE_BYTES } }));
        return;
      }
      this.fileStarted = true;
      void this.settleHead({ stream: Readable.from([Buffer.from(value, 'utf8')], { objectMode: false }), filename: undefined });
      return;
    }
    if (truncated) {
      this.fail(postFormTooLarge());
      return;
    }
    if (this.count(Buffer.byteLength(name) + Buffer.byteLength(value) + 1)) this.addField(name, value);
  }

  private onFile(name: string, stream: Readable, filename: string | undefined): void {
    if (this.fileStarted || this.failure) {
      stream.resume();
      return;
    }
    if (name.toLowerCase() !== 'file') {
      // A file input of another name before the file: a field like any other.
      const parts: Buffer[] = [];
      let over = !this.count(Buffer.byteLength(name) + 1);
      this.pending.push(
        new Promise<void>((resolve) => {
          stream.on('data', (b: Buffer) => {
            if (over) return;
            if (this.count(b.length)) parts.push(b);
            else over = true;
          });
          stream.on('error', () => resolve());
          stream.on('end', () => {
            if (!over) this.addField(name, Buffer.concat(parts).toString('utf8'));
            resolve();
          });
        }),
      );
      return;
    }
    this.fileStarted = true;
    // The parser's own errors on the file ("Unexpected end of file") become S3 errors.
    const file = new PassThrough();
    file.on('error', () => {});
    stream.on('error', (err: Error) => file.destroy(this.failure ?? (err instanceof S3Error ? err : malformedPost(err.message))));
    stream.pipe(file);
    void this.settleHead({ stream: file, filename });
  }

  private async settleHead(file: FormFile | undefined): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) return;
    this.resolveHead({ fields: this.fields, file });
  }
}

function incompleteBody(): S3Error {
  return new S3Error('IncompleteBody', 'The request body terminated unexpectedly');
}

/** PostObject. */
export class PostObjectApi {
  constructor(private readonly ctx: PostObjectContext) {}

  async postObject(r: S3Request): Promise<void> {
    if (!isMultipartFormData(r.headers['content-type'])) throw notAFormPost();
    const { name } = await this.ctx.bucketOf(r);
    const form = new FormReader(r.req);
    try {
      const head = await form.head;
      if (head.file === undefined) throw noFileInPost();
      const fields = new Map([...head.fields].map(([name, value]) => [name, expandFilename(value, head.file!.filename)]));
      const key = fields.get('key');
      if (key === undefined) throw missingPostField('key');
      if (key === '') throw new S3Error('InvalidArgument', 'User key must have a length greater than 0.', { fields: { ArgumentName: 'key' } });
      validateObjectKey(key);
      // SSE-C fields in a form over plain HTTP: the key crossed the network in clear text.
      if (!r.secure && !this.ctx.options.allowSseCustomerKeysOverHttp) {
        refuseCustomerKeyInClear(Object.fromEntries(fields));
        refuseKmsInClear(Object.fromEntries(fields));
      }
      const { principal, range, signatureVersion } = await this.authorize(fields, name);
      // SSE-KMS needs a form signed with SigV4, as S3 wants it of SSE-KMS requests.
      if (asksForKms(Object.fromEntries(fields)) && signatureVersion !== SIGV4_ALGORITHM) throw kmsNeedsSigV4Error();
      // The form's signer (or nobody) must be allowed to write in the bucket, not the request's.
      const bucket = await this.ctx.writableBucket({ ...r, principal }, { key, acl: fields.get('acl'), form: { signatureVersion } });
      const write = await this.objectWrite(fields, range);
      if (form.error) throw form.error;
      const { entry } = await this.ctx.storeObject({
        ...write,
        bucket,
        key,
        body: head.file.stream,
        principal,
        secure: r.secure,
        form: true,
        beforeCommit: async (size) => {
          await form.done;
          checkPostSize(range, size);
        },
      });
      await this.ctx.created(r, bucket, key, entry);
      this.answer(r, fields, bucket.name, key, entry);
    } catch (err) {
      // A refusal before the whole form was read: stop parsing; the endpoint drains the rest.
      form.close(err instanceof S3Error ? err : undefined);
      throw err;
    }
  }

  /**
   * Who the form speaks for: with a `policy`, the user of its signature (checked), once the form
   * meets the policy; without one, anonymous. Returns the policy's bounds on the file's size.
   */
  private async authorize(
    fields: ReadonlyMap<string, string>,
    bucket: string,
  ): Promise<{ principal: Principal | undefined; range: SizeRange | undefined; signatureVersion: string | undefined }> {
    const policy = fields.get('policy');
    if (policy === undefined) {
      // A signature without the policy it signs.
      for (const name of ['x-amz-signature', 'x-amz-credential', 'awsaccesskeyid', 'signature']) {
        if (fields.has(name)) throw missingPostField('policy');
      }
      return { principal: undefined, range: undefined, signatureVersion: undefined };
    }
    // SigV2 (`AWSAccessKeyId`, `signature`: Base64 HMAC-SHA1 of the policy) when accepted, else SigV4.
    const signatureV2 = this.ctx.options.signatureV2 && isSigV2PostForm(fields);
    const signing = signatureV2 ? parsePostSignatureV2(fields) : parsePostSignature(fields);
    const key = await this.ctx.catalog.accessKey(signing.accessKeyId);
    if (key === undefined) throw invalidAccessKeyId(signing.accessKeyId);
    if (signatureV2) verifyPostSignatureV2(policy, signing, key.secret);
    else verifyPostSignature(policy, signing as PostSignature, key.secret);
    const range = checkPostPolicy(parsePostPolicy(policy), { bucket, fields, signatureV2 }, this.ctx.env.now());
    return { principal: { id: key.user, name: key.name }, range, signatureVersion: signatureV2 ? SIGV2_SCHEME : SIGV4_ALGORITHM };
  }

  /**
   * What the form's fields say about the object: its ACL (`acl`, or `x-amz-grant-*` fields as
   * PutObject's headers), storage class, tags (`tagging`, an XML Tagging document), headers,
   * metadata and checksum.
   */
  private async objectWrite(fields: ReadonlyMap<string, string>, range: SizeRange | undefined): Promise<Pick<ObjectWrite, 'auth' | 'headers' | 'acl' | 'grants' | 'storageClass' | 'tags' | 'maxBytes'>> {
    const headers: Record<string, string> = {};
    for (const [name, value] of fields) {
      // Object Lock in a form is not supported (the bucket's default retention still applies).
      if (name.startsWith('x-amz-object-lock-')) throw new S3Error('NotImplemented', 'Object Lock form fields are not supported in POST uploads.');
      if (STORED_FIELDS.includes(name) || name.startsWith('x-amz-meta-') || name.startsWith('x-amz-grant-')) headers[name] = value;
      else if (name.startsWith('x-amz-checksum-') && name !== 'x-amz-checksum-type' && name !== 'x-amz-checksum-algorithm') headers[name] = value;
      // Encryption fields act as PutObject's headers (SSE-C, SSE-S3, SSE-KMS).
      else if (name.startsWith('x-amz-server-side-encryption')) headers[name] = value;
    }
    const algorithm = fields.get('x-amz-checksum-algorithm');
    if (algorithm !== undefined) headers['x-amz-sdk-checksum-algorithm'] = algorithm;
    const canned = fields.get('acl');
    const acl = await requestAcl(this.ctx.catalog, { ...headers, ...(canned === undefined ? {} : { 'x-amz-acl': canned }) }, OBJECT_WRITE_GRANT_HEADERS);
    const storageClass = fields.get('x-amz-storage-class');
    const tagging = fields.get('tagging');
    const max = Math.min(this.ctx.options.maxObjectBytes, 5 * 1024 ** 3);
    return {
      auth: { kind: 'anonymous' },
      headers,
      acl: acl?.acl,
      grants: acl?.grants,
      storageClass: parseStorageClass(storageClass === undefined ? {} : { 'x-amz-storage-class': storageClass }),
      tags: tagging === undefined || tagging.trim() === '' ? [] : parseTagging(tagging),
      maxBytes: range === undefined ? max : Math.min(max, range.max),
    };
  }

  /** The answer to a stored upload: a redirect, the PostResponse document (201), or 200 / 204. */
  private answer(r: S3Request, fields: ReadonlyMap<string, string>, bucket: string, key: string, entry: ObjectEntry): void {
    const location = this.ctx.location(bucket, key);
    const out: Record<string, string> = { etag: `"${entry.etag}"`, location, ...sealedKeyHeaders(entry.sse) };
    if (entry.cs) out[checksumHeaderName(entry.cs.a as ChecksumAlgorithm)] = entry.cs.v;
    const result = { bucket, key, etag: entry.etag };
    const redirect = postRedirectLocation(fields.get('success_action_redirect'), result) ?? postRedirectLocation(fields.get('redirect'), result);
    if (redirect !== undefined) {
      sendEmpty(r, 303, { ...out, location: redirect });
      return;
    }
    const status = postSuccessStatus(fields.get('success_action_status'));
    if (status === 201) sendXml(r, postResponseXml({ location, bucket, key, etag: entry.etag }), 201, out);
    else sendEmpty(r, status, out);
  }
}
