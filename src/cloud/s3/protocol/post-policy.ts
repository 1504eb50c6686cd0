/**
 * Browser-based uploads with HTTP POST (AWS Signature Version 4): the rules of the form, the
 * POST policy (parsing, expiration, conditions, which fields it must cover), the policy's
 * signature, and the answers to a successful upload (`success_action_status`,
 * `success_action_redirect`). Pure: time is a parameter, and the multipart body is parsed by the
 * caller (`src/cloud/s3/post-object.ts` streams it).
 *
 * As the S3 documentation describes it:
 * - form field names are case-insensitive (kept lower-case here); fields repeated under one
 *   name are matched as their values joined with commas; `${filename}` in any field is replaced
 *   by the uploaded file's name before the policy is checked;
 * - the policy is base64 of a JSON document `{ "expiration": ISO 8601, "conditions": [...] }`;
 *   a condition is `{"field": "value"}` or `["eq", "$field", "value"]` (exact match),
 *   `["starts-with", "$field", "prefix"]` (an empty prefix allows anything; for Content-Type
 *   every comma-separated value must start with the prefix) or
 *   `["content-length-range", min, max]` (the file's size in bytes);
 * - every field of the form except `x-amz-signature`, `file`, `policy` and names starting with
 *   `x-ignore-` must be named by a condition (`AWSAccessKeyId` and `signature` instead of
 *   `x-amz-signature` for a SigV2 form);
 * - the signature is the hex HMAC-SHA256 of the base64 policy under the SigV4 signing key of
 *   the `x-amz-credential` scope (SigV2 forms: `sigv2.ts`).
 */
import { S3Error } from './errors.ts';
import { escapeXml } from './xml-escape.ts';
import { parseAmzDate } from './sigv4.ts';
import { SCOPE_TERMINATOR, SIGV4_ALGORITHM, deriveSigningKey, signHex, signaturesEqual } from './sigv4-signing.ts';
import { decodeUtf8 } from './utf8.ts';

/**
 * Largest size of the form's fields (names and values, the file's content excluded): the S3
 * documentation's 20 KB. Beyond it, `MaxPostPreDataLengthExceededError`.
 */
export const MAX_POST_FORM_BYTES = 20 * 1024;

/** Fields that no policy condition needs to name (besides names beginning with `x-ignore-`). */
const EXEMPT_FIELDS = new Set(['x-amz-signature', 'file', 'policy']);
/** The same for a form signed with SigV2 (its signing fields are `AWSAccessKeyId` and `signature`). */
const EXEMPT_FIELDS_V2 = new Set(['awsaccesskeyid', 'signature', 'file', 'policy']);

/** True for a form field the policy need not cover (`signatureV2`: of a form signed with SigV2). */
export function isExemptPostField(name: string, signatureV2 = false): boolean {
  const lower = name.toLowerCase();
  return (signatureV2 ? EXEMPT_FIELDS_V2 : EXEMPT_FIELDS).has(lower) || lower.startsWith('x-ignore-');
}

/** True when a Content-Type header announces `multipart/form-data`. */
export function isMultipartFormData(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(;|$)/i.test(contentType);
}

/** The error of a POST to a bucket that is not a form upload (as S3 answers it). */
export function notAFormPost(): S3Error {
  return new S3Error('PreconditionFailed', undefined, { fields: { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' } });
}

/** `InvalidArgument` for a field the form lacks (or sent after the file, where it is ignored). */
export function missingPostField(name: string): S3Error {
  return new S3Error('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, {
    fields: { ArgumentName: name },
  });
}

/** `IncorrectNumberOfFilesInPostRequest`: a form without its `file` field. */
export function noFileInPost(): S3Error {
  return new S3Error('IncorrectNumberOfFilesInPostRequest');
}

/** `MaxPostPreDataLengthExceededError`: the fields before the file are too large. */
export function postFormTooLarge(): S3Error {
  return new S3Error('MaxPostPreDataLengthExceededError');
}

/** `MalformedPOSTRequest`, with what the multipart parser said. */
export function malformedPost(detail?: string): S3Error {
  const message = 'The body of your POST request is not well-formed multipart/form-data.';
  return new S3Error('MalformedPOSTRequest', detail === undefined ? message : `${message} (${detail})`);
}

/**
 * Replaces `${filename}` in a field's value with the file's name: only what follows the last `/`
 * or `\` of it (browsers may send a path), the empty string when there is none.
 */
export function expandFilename(value: string, filename: string | undefined): string {
  if (!value.includes('${filename}')) return value;
  const name = (filename ?? '').replace(/^.*[/\\]/, '');
  return value.split('${filename}').join(name);
}

// ---------------------------------------------------------------------------------------------
// The policy

/** One condition of a POST policy. */
export type PostPolicyCondition =
  | {
      op: 'eq' | 'starts-with';
      /** The form field, lower-case, without `$`. */
      field: string;
      value: string;
      /** The condition as S3 prints it in its errors, e.g. `["eq", "$key", "a.txt"]`. */
      text: string;
    }
  | { op: 'content-length-range'; min: number; max: number; text: string };

/** A parsed POST policy. */
export interface PostPolicy {
  /** Expiration, ms since the epoch. */
  expiration: number;
  conditions: PostPolicyCondition[];
}

function invalidPolicy(detail: string): S3Error {
  return new S3Error('InvalidPolicyDocument', `Invalid Policy: ${detail}`);
}

/** `AccessDenied` for a form the policy does not allow. */
export function policyRefusal(detail: string): S3Error {
  return new S3Error('AccessDenied', `Invalid according to Policy: ${detail}`);
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/** Parses an ISO 8601 UTC time (`2007-12-01T12:00:00.000Z`, fraction optional) to ms, or undefined. */
export function parseIso8601(value: string): number | undefined {
  const m = ISO_8601.exec(value);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) + (m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000));
  const check = new Date(ms);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) {
    return undefined;
  }
  return ms;
}

/**
 * The policy's JSON with the escapes of the S3 documentation that JSON lacks (`\$` for a dollar
 * sign, `\v` for a vertical tab) turned into JSON; everything else is left for `JSON.parse`.
 */
function policyJson(text: string): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') out += '$';
    else if (next === 'v') out += '\\u000b';
    else out += c + (next ?? '');
    i++;
  }
  return out;
}

function conditionText(op: string, field: string, value: unknown): string {
  return `[${JSON.stringify(op)}, ${JSON.stringify(`$${field}`)}, ${JSON.stringify(value)}]`;
}

/** A size bound of content-length-range: a non-negative integer, as a number or a string of digits. */
function sizeBound(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,16}$/.test(value)) return Number(value);
  return undefined;
}

function parseCondition(raw: unknown): PostPolicyCondition {
  if (Array.isArray(raw)) {
    const op = typeof raw[0] === 'string' ? raw[0].toLowerCase() : undefined;
    const text = JSON.stringify(raw);
    if (op === 'content-length-range') {
      const min = sizeBound(raw[1]);
      const max = sizeBound(raw[2]);
      if (raw.length !== 3 || min === undefined || max === undefined) invalidCondition(text);
      if (min > max) throw invalidPolicy(`Invalid content-length-range: the minimum ${min} is larger than the maximum ${max}.`);
      return { op, min, max, text: `[${JSON.stringify(raw[0])}, ${min}, ${max}]` };
    }
    if (op === 'eq' || op === 'starts-with') {
      const [, name, value] = raw as unknown[];
      if (raw.length !== 3 || typeof name !== 'string' || !name.startsWith('$') || name.length === 1 || typeof value !== 'string') invalidCondition(text);
      return { op, field: name.slice(1).toLowerCase(), value, text: conditionText(raw[0] as string, name.slice(1), value) };
    }
    throw invalidPolicy(`Invalid Condition: unknown operation in ${text}.`);
  }
  if (typeof raw === 'object' && raw !== null) {
    const entries = Object.entries(raw);
    if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.');
    const [name, value] = entries[0]!;
    if (typeof value !== 'string' && typeof value !== 'number') throw invalidPolicy(`Invalid Simple-Condition: the value of "${name}" must be a string.`);
    return { op: 'eq', field: name.toLowerCase(), value: String(value), text: conditionText('eq', name, String(value)) };
  }
  throw invalidPolicy(`Invalid Condition: ${JSON.stringify(raw)} is neither an object nor an array.`);
}

function invalidCondition(text: string): never {
  throw invalidPolicy(`Invalid Condition: ${text}.`);
}

/**
 * Decodes and parses the `policy` field. A policy that is not base64 of UTF-8 JSON, lacks
 * `expiration` (ISO 8601) or `conditions` (an array), or has a malformed condition is
 * `InvalidPolicyDocument`.
 */
export function parsePostPolicy(policyBase64: string): PostPolicy {
  const compact = policyBase64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw invalidPolicy('Invalid Base64 encoding.');
  let doc: unknown;
  try {
    const text = decodeUtf8(Buffer.from(compact, 'base64'));
    if (text === undefined) throw new Error('not UTF-8');
    doc = JSON.parse(policyJson(text));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidPolicy('Invalid JSON: the policy must be an object.');
  const { expiration, conditions } = doc as { expiration?: unknown; conditions?: unknown };
  if (expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  const expiresAt = typeof expiration === 'string' ? parseIso8601(expiration) : undefined;
  if (expiresAt === undefined) throw invalidPolicy(`Invalid 'expiration' value: '${String(expiration)}'`);
  if (conditions === undefined) throw invalidPolicy('Policy missing conditions.');
  if (!Array.isArray(conditions)) throw invalidPolicy('Invalid conditions: the conditions must be an array.');
  return { expiration: expiresAt, conditions: conditions.map(parseCondition) };
}

/** What a form upload submits, as the policy sees it. */
export interface PostForm {
  /** The bucket of the request (the `bucket` condition is checked against it). */
  bucket: string;
  /**
   * The fields before the file, by lower-case name, repeated ones joined with commas,
   * `${filename}` expanded. The file itself is not among them.
   */
  fields: ReadonlyMap<string, string>;
  /** The form is signed with SigV2 (`AWSAccessKeyId`, `signature`) rather than SigV4. */
  signatureV2?: boolean;
}

/** The size bounds of the file that a policy set (`content-length-range`). */
export interface SizeRange {
  min: number;
  max: number;
}

function conditionHolds(c: Extract<PostPolicyCondition, { op: 'eq' | 'starts-with' }>, form: PostForm): boolean {
  const actual = c.field === 'bucket' ? form.bucket : form.fields.get(c.field);
  if (actual === undefined) return false;
  if (c.op === 'eq') return actual === c.value;
  if (c.field === 'content-type') return actual.split(',').every((v) => v.trim().startsWith(c.value));
  return actual.startsWith(c.value);
}

/**
 * Checks a form against its policy at time `now`: not expired (`Policy expired.`), every condition
 * met (`Policy Condition failed: …`), every field covered by a condition (`Extra input fields: …`),
 * each failure an `AccessDenied` "Invalid according to Policy: …". Returns the file's size bounds
 * (every content-length-range of the policy at once), if any.
 */
export function checkPostPolicy(policy: PostPolicy, form: PostForm, now: number): SizeRange | undefined {
  if (now > policy.expiration) throw policyRefusal('Policy expired.');
  let range: SizeRange | undefined;
  const covered = new Set<string>();
  for (const c of policy.conditions) {
    if (c.op === 'content-length-range') {
      range = range === undefined ? { min: c.min, max: c.max } : { min: Math.max(range.min, c.min), max: Math.min(range.max, c.max) };
      continue;
    }
    covered.add(c.field);
    if (!conditionHolds(c, form)) throw policyRefusal(`Policy Condition failed: ${c.text}`);
  }
  const extra = [...form.fields.keys()].filter((name) => !isExemptPostField(name, form.signatureV2) && !covered.has(name));
  if (extra.length > 0) throw policyRefusal(`Extra input fields: ${extra.join(', ')}`);
  return range;
}

/** Checks the file's size against the policy's content-length-range (`EntityTooSmall` / `EntityTooLarge`). */
export function checkPostSize(range: SizeRange | undefined, size: number): void {
  if (range === undefined) return;
  if (size < range.min) throw new S3Error('EntityTooSmall', undefined, { fields: { ProposedSize: size, MinSizeAllowed: range.min } });
  if (size > range.max) throw new S3Error('EntityTooLarge', undefined, { fields: { ProposedSize: size, MaxSizeAllowed: range.max } });
}

// ---------------------------------------------------------------------------------------------
// The signature

/** The signing fields of a form with a policy. */
export interface PostSignature {
  accessKeyId: string;
  /** Scope date, `YYYYMMDD`. */
  date: string;
  region: string;
  service: string;
  signature: string;
}

const CREDENTIAL_FORM = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".';

/**
 * Reads the SigV4 signing fields of a form that carries a policy: `x-amz-algorithm` (only
 * AWS4-HMAC-SHA256; a SigV2 form's `AWSAccessKeyId` / `signature` are `InvalidRequest` here — the
 * caller reads them with `parsePostSignatureV2` when SigV2 is accepted), `x-amz-credential`,
 * `x-amz-date` (ISO 8601 basic, the credential's day) and `x-amz-signature`. A missing one is
 * `InvalidArgument` naming it.
 */
export function parsePostSignature(fields: ReadonlyMap<string, string>): PostSignature {
  const algorithm = fields.get('x-amz-algorithm');
  if (algorithm === undefined && fields.has('awsaccesskeyid')) {
    throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
  }
  for (const name of ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature']) {
    if (!fields.has(name)) throw missingPostField(name);
  }
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new S3Error('InvalidArgument', 'Only the AWS4-HMAC-SHA256 algorithm is supported in the x-amz-algorithm field.', {
      fields: { ArgumentName: 'x-amz-algorithm', ArgumentValue: algorithm },
    });
  }
  const credential = fields.get('x-amz-credential')!;
  const parts = credential.split('/');
  const bad = (detail: string): S3Error => new S3Error('InvalidArgument', detail, { fields: { ArgumentName: 'x-amz-credential', ArgumentValue: credential } });
  if (parts.length < 5) throw bad(CREDENTIAL_FORM);
  const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '' || !/^\d{8}$/.test(date) || region === '') throw bad(CREDENTIAL_FORM);
  if (service !== 's3') throw bad(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminator !== SCOPE_TERMINATOR) throw bad(`incorrect terminal "${terminator}". This endpoint uses "${SCOPE_TERMINATOR}".`);
  const amzDate = fields.get('x-amz-date')!;
  if (parseAmzDate(amzDate) === undefined || amzDate.slice(0, 8) !== date) {
    throw new S3Error('InvalidArgument', 'x-amz-date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'" and on the date of the credential scope.', {
      fields: { ArgumentName: 'x-amz-date', ArgumentValue: amzDate },
    });
  }
  return { accessKeyId, date, region, service, signature: fields.get('x-amz-signature')! };
}

/**
 * Checks the signature of a policy: hex HMAC-SHA256 of the base64 policy (exactly as sent) under
 * the signing key of the credential's scope; `SignatureDoesNotMatch` otherwise.
 */
export function verifyPostSignature(policyBase64: string, signing: PostSignature, secretKey: string): void {
  const key = deriveSigningKey(secretKey, signing.date, signing.region, signing.service);
  if (signaturesEqual(signHex(key, policyBase64), signing.signature.toLowerCase())) return;
  throw new S3Error('SignatureDoesNotMatch', undefined, {
    fields: { AWSAccessKeyId: signing.accessKeyId, StringToSign: policyBase64, SignatureProvided: signing.signature },
  });
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * The status of a successful upload without a redirect: `success_action_status` 200 or 201, else
 * (absent or anything else) 204.
 */
export function postSuccessStatus(value: string | undefined): 200 | 201 | 204 {
  const v = value?.trim();
  return v === '200' ? 200 : v === '201' ? 201 : 204;
}

/**
 * Where to redirect after a successful upload (`success_action_redirect`, else the older
 * `redirect`): the URL with `bucket`, `key` and `etag` (quoted) added to its query; undefined when
 * there is none or it is not an absolute http(s) URL (S3 then ignores it).
 */
export function postRedirectLocation(url: string | undefined, result: { bucket: string; key: string; etag: string }): string | undefined {
  if (url === undefined || url === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? '' : url.slice(hash);
  const query = `bucket=${encodeURIComponent(result.bucket)}&key=${encodeURIComponent(result.key)}&etag=${encodeURIComponent(`"${result.etag}"`)}`;
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${separator}${query}${fragment}`;
}

/** The `PostResponse` document of `success_action_status` 201. */
export function postResponseXml(r: { location: string; bucket: string; key: string; etag: string }): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<PostResponse><Location>${escapeXml(r.location)}</Location><Bucket>${escapeXml(r.bucket)}</Bucket>` +
    `<Key>${escapeXml(r.key)}</Key><ETag>${escapeXml(`"${r.etag}"`)}</ETag></PostResponse>`
  );
}
