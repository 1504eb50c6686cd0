/**
 * S3 bucket policies (PutBucketPolicy documents): parsing and validation with S3's
 * `MalformedPolicy` messages, compilation into a form that is cheap to evaluate, evaluation of a
 * request against it (IAM's logic: an explicit Deny wins, else an Allow, else no decision), and
 * whether a policy makes its bucket public (GetBucketPolicyStatus).
 *
 * Elements: Version (`2012-10-17` or `2008-10-17`), Id, Statement (one object or an array), Sid
 * (unique), Effect, Principal / NotPrincipal, Action / NotAction, Resource / NotResource,
 * Condition. Principals: `"*"`, `{"AWS": "*"}`, `{"AWS": [...]}` naming users by canonical id,
 * `arn:aws:iam::<canonical id>:root`, `arn:aws:iam::<anything>:user/<name>` or a plain user name,
 * `{"CanonicalUser": <canonical id>}`, and `{"Service": "logging.s3.amazonaws.com"}`, the one service of the
 * store that makes requests (the server access log delivery). Condition operators: the String*, Numeric*, Date*,
 * Bool, BinaryEquals, IpAddress / NotIpAddress, Arn* (as String(Not)Like) and Null families, with
 * `…IfExists` and the `ForAnyValue:` / `ForAllValues:` qualifiers (every key here is
 * single-valued). Keys are matched case-insensitively (what follows a `/`, e.g. a tag key, is
 * kept as it is); a key the request does not have is absent: positive operators fail, negated
 * ones hold, as IAM evaluates them.
 *
 * Policy variables (`${aws:username}`, `${key, 'default'}`, `${*}`, …; protocol/policy-variables.ts)
 * in Resource / NotResource and in the values of the String* and Arn* operators, with Version
 * `2012-10-17`. A value whose variable the request cannot fill matches nothing, and an element
 * that cannot be decided without it does not match: a Resource or a positive operator holds only
 * through another of its values that matches; a NotResource or a negated operator (whose value
 * must differ from all of them) does not hold, so the statement does not apply, Allow or Deny.
 *
 * PutBucketPolicy also checks, as S3 does, that each action of a statement applies to one of its
 * resources: object actions (s3:GetObject, …) to `arn:aws:s3:::bucket/…` (or a resource whose
 * `*` may reach into keys), bucket actions (s3:ListBucket, …) to `arn:aws:s3:::bucket`
 * (possibly with wildcards); a wildcard action applies when one of the actions it matches does.
 */
import { S3Error } from './errors.ts';
import { hasWildcard, inRanges, ipRanges, globMatch } from './policy-match.ts';
import { conditionKey, parseTemplate, resolveTemplate } from './policy-variables.ts';
import type { PolicyTemplate } from './policy-variables.ts';
import { decodeUtf8 } from './utf8.ts';
import type { BlockList } from 'node:net';

export { conditionKey } from './policy-variables.ts';

/** Largest policy accepted, in bytes of its JSON without insignificant whitespace. */
export const MAX_POLICY_BYTES = 20 * 1024;

/**
 * Deepest nesting of objects and arrays accepted. A valid policy nests at most 6 levels (document,
 * Statement array, statement, Condition, operator, value array); anything much deeper is no
 * policy, and refusing it before parsing keeps every walk of the document (JSON.stringify, the
 * checks below) far from the stack's limit.
 */
export const MAX_POLICY_DEPTH = 32;

/** The S3 actions a policy may name (validation of Action / NotAction and their wildcards). */
export const S3_ACTIONS: readonly string[] = [
  'AbortMultipartUpload', 'BypassGovernanceRetention', 'CreateBucket', 'DeleteBucket', 'DeleteBucketOwnershipControls',
  'DeleteBucketPolicy', 'DeleteBucketWebsite', 'DeleteObject', 'DeleteObjectTagging', 'DeleteObjectVersion',
  'DeleteObjectVersionTagging', 'GetAccelerateConfiguration', 'GetAnalyticsConfiguration', 'GetBucketAcl', 'GetBucketCORS',
  'GetBucketLocation', 'GetBucketLogging', 'GetBucketNotification', 'GetBucketObjectLockConfiguration',
  'GetBucketOwnershipControls', 'GetBucketPolicy', 'GetBucketPolicyStatus', 'GetBucketPublicAccessBlock',
  'GetBucketRequestPayment', 'GetBucketTagging', 'GetBucketVersioning', 'GetBucketWebsite', 'GetEncryptionConfiguration',
  'GetIntelligentTieringConfiguration', 'GetInventoryConfiguration', 'GetLifecycleConfiguration', 'GetMetricsConfiguration',
  'GetObject', 'GetObjectAcl', 'GetObjectAttributes', 'GetObjectLegalHold', 'GetObjectRetention', 'GetObjectTagging',
  'GetObjectTorrent', 'GetObjectVersion', 'GetObjectVersionAcl', 'GetObjectVersionAttributes', 'GetObjectVersionTagging',
  'GetReplicationConfiguration', 'ListAllMyBuckets', 'ListBucket', 'ListBucketMultipartUploads', 'ListBucketVersions',
  'ListMultipartUploadParts', 'ObjectOwnerOverrideToBucketOwner', 'PutAccelerateConfiguration', 'PutAnalyticsConfiguration',
  'PutBucketAcl', 'PutBucketCORS', 'PutBucketLogging', 'PutBucketNotification', 'PutBucketObjectLockConfiguration',
  'PutBucketOwnershipControls', 'PutBucketPolicy', 'PutBucketPublicAccessBlock', 'PutBucketRequestPayment',
  'PutBucketTagging', 'PutBucketVersioning', 'PutBucketWebsite', 'PutEncryptionConfiguration',
  'PutIntelligentTieringConfiguration', 'PutInventoryConfiguration', 'PutLifecycleConfiguration', 'PutMetricsConfiguration',
  'PutObject', 'PutObjectAcl', 'PutObjectLegalHold', 'PutObjectRetention', 'PutObjectTagging', 'PutObjectVersionAcl',
  'PutObjectVersionTagging', 'PutReplicationConfiguration', 'ReplicateDelete', 'ReplicateObject', 'ReplicateTags',
  'RestoreObject',
].map((a) => `s3:${a}`);

const KNOWN_ACTIONS = S3_ACTIONS.map((a) => a.toLowerCase());

/** Actions on objects (their resource is `arn:aws:s3:::bucket/key`); the others are on buckets. */
export const OBJECT_ACTIONS: ReadonlySet<string> = new Set(
  S3_ACTIONS.filter((a) => /Object(?!LockConfiguration)|^s3:AbortMultipartUpload$|^s3:ListMultipartUploadParts$|^s3:Replicate|^s3:BypassGovernanceRetention$/.test(a)),
);

/** Object actions, lower-cased (the applicability check). */
const OBJECT_ACTIONS_LOWER: ReadonlySet<string> = new Set([...OBJECT_ACTIONS].map((a) => a.toLowerCase()));

/** Actions on no bucket or object (never apply to a bucket policy's resources). */
const RESOURCELESS_ACTIONS: ReadonlySet<string> = new Set(['s3:listallmybuckets']);

/** A request as a policy sees it. */
export interface PolicyRequest {
  /** The action, e.g. `s3:GetObject`. */
  action: string;
  /** `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`. */
  resource: string;
  /** The requester; undefined when anonymous (or a service). */
  principal: { id: string; name: string } | undefined;
  /** The service principal making the request (`logging.s3.amazonaws.com`), lower case; absent for users. */
  service?: string | undefined;
  /** The value of a condition key (its name normalized by {@link conditionKey}), or undefined when absent. */
  value(key: string): string | undefined;
}

/** What a policy decides about a request. */
export type PolicyDecision = 'Allow' | 'Deny' | undefined;

interface PrincipalSet {
  any: boolean;
  ids: ReadonlySet<string>;
  names: ReadonlySet<string>;
  /** Service principals, lower case. */
  services?: ReadonlySet<string>;
}

/**
 * The service principals a policy may name: the services of this store that act on buckets (the
 * server access log delivery). Any other service could never make a request here, so naming one
 * stays "Invalid principal in policy".
 */
export const SERVICE_PRINCIPALS: ReadonlySet<string> = new Set(['logging.s3.amazonaws.com']);

/** A Resource / NotResource value or a string condition value: text, or a template with variables. */
type PolicyValue = string | PolicyTemplate;

type Family = 'String' | 'StringIgnoreCase' | 'StringLike' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'Ip' | 'Null';
type Comparison = 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface CompiledCondition {
  family: Family;
  comparison: Comparison;
  negated: boolean;
  ifExists: boolean;
  qualifier: 'ForAnyValue' | 'ForAllValues' | undefined;
  key: string;
  values: string[];
  /** The values as templates, when one holds a variable (string and ARN operators, Version 2012-10-17). */
  patterns?: PolicyValue[];
  numbers?: number[];
  ips?: BlockList;
  /** As written (GetBucketPolicyStatus: restricting conditions). */
  operator: string;
}

interface CompiledStatement {
  effect: 'Allow' | 'Deny';
  principal?: PrincipalSet;
  notPrincipal?: PrincipalSet;
  actions?: string[];
  notActions?: string[];
  resources?: PolicyValue[];
  notResources?: PolicyValue[];
  conditions: CompiledCondition[];
}

/** A policy ready to evaluate. */
export interface CompiledPolicy {
  statements: CompiledStatement[];
  /** Users the policy names (PutBucketPolicy checks they exist). */
  users: { ids: string[]; names: string[] };
}

const CANONICAL_ID = /^[0-9a-f]{64}$/;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+=,-]{0,63}$/;
const ROOT_ARN = /^arn:aws:iam::([0-9a-f]{64}):root$/;
const USER_ARN = /^arn:aws:iam::[^:]*:user\/(?:[^/]*\/)*([^/]+)$/;
const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

function malformed(message: string): S3Error {
  return new S3Error('MalformedPolicy', message);
}

const OPERATORS: Record<string, { family: Family; comparison: Comparison; negated: boolean }> = {
  StringEquals: { family: 'String', comparison: 'eq', negated: false },
  StringNotEquals: { family: 'String', comparison: 'eq', negated: true },
  StringEqualsIgnoreCase: { family: 'StringIgnoreCase', comparison: 'eq', negated: false },
  StringNotEqualsIgnoreCase: { family: 'StringIgnoreCase', comparison: 'eq', negated: true },
  StringLike: { family: 'StringLike', comparison: 'eq', negated: false },
  StringNotLike: { family: 'StringLike', comparison: 'eq', negated: true },
  NumericEquals: { family: 'Numeric', comparison: 'eq', negated: false },
  NumericNotEquals: { family: 'Numeric', comparison: 'eq', negated: true },
  NumericLessThan: { family: 'Numeric', comparison: 'lt', negated: false },
  NumericLessThanEquals: { family: 'Numeric', comparison: 'le', negated: false },
  NumericGreaterThan: { family: 'Numeric', comparison: 'gt', negated: false },
  NumericGreaterThanEquals: { family: 'Numeric', comparison: 'ge', negated: false },
  DateEquals: { family: 'Date', comparison: 'eq', negated: false },
  DateNotEquals: { family: 'Date', comparison: 'eq', negated: true },
  DateLessThan: { family: 'Date', comparison: 'lt', negated: false },
  DateLessThanEquals: { family: 'Date', comparison: 'le', negated: false },
  DateGreaterThan: { family: 'Date', comparison: 'gt', negated: false },
  DateGreaterThanEquals: { family: 'Date', comparison: 'ge', negated: false },
  Bool: { family: 'Bool', comparison: 'eq', negated: false },
  BinaryEquals: { family: 'Binary', comparison: 'eq', negated: false },
  IpAddress: { family: 'Ip', comparison: 'eq', negated: false },
  NotIpAddress: { family: 'Ip', comparison: 'eq', negated: true },
  ArnEquals: { family: 'StringLike', comparison: 'eq', negated: false },
  ArnLike: { family: 'StringLike', comparison: 'eq', negated: false },
  ArnNotEquals: { family: 'StringLike', comparison: 'eq', negated: true },
  ArnNotLike: { family: 'StringLike', comparison: 'eq', negated: true },
  Null: { family: 'Null', comparison: 'eq', negated: false },
};

/** One element's value as a list of strings (a single string, or an array of them), or undefined. */
function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  return undefined;
}

function parsePrincipal(value: unknown, users: { ids: Set<string>; names: Set<string> }): PrincipalSet {
  const invalid = (): S3Error => malformed('Invalid principal in policy');
  if (value === '*') return { any: true, ids: new Set(), names: new Set() };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  const ids = new Set<string>();
  const names = new Set<string>();
  const services = new Set<string>();
  let any = false;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid();
  for (const [type, v] of entries) {
    const list = stringList(v);
    if (list === undefined) throw invalid();
    for (const p of list) {
      if (type === 'AWS') {
        if (p === '*') any = true;
        else if (CANONICAL_ID.test(p)) ids.add(p);
        else if (ROOT_ARN.test(p)) ids.add(ROOT_ARN.exec(p)![1]!);
        else if (USER_ARN.test(p) && USER_NAME.test(USER_ARN.exec(p)![1]!)) names.add(USER_ARN.exec(p)![1]!);
        else if (USER_NAME.test(p) && !p.startsWith('arn:')) names.add(p);
        else throw invalid();
      } else if (type === 'CanonicalUser') {
        if (!CANONICAL_ID.test(p)) throw invalid();
        ids.add(p);
      } else if (type === 'Service') {
        if (!SERVICE_PRINCIPALS.has(p.toLowerCase())) throw invalid();
        services.add(p.toLowerCase());
      } else {
        throw invalid();
      }
    }
  }
  for (const id of ids) users.ids.add(id);
  for (const n of names) users.names.add(n);
  return { any, ids, names, ...(services.size > 0 ? { services } : {}) };
}

function parseActions(value: unknown): string[] {
  const list = stringList(value);
  if (list === undefined) throw malformed('Policy has invalid action');
  return list.map((a) => {
    const lower = a.toLowerCase();
    if (lower === '*') return lower;
    if (!lower.startsWith('s3:')) throw malformed('Policy has invalid action');
    if (!KNOWN_ACTIONS.some((known) => globMatch(lower, known))) throw malformed('Policy has invalid action');
    return lower;
  });
}

/** How a document is read: whether it has policy variables, and whether it is being put (strict). */
interface ParseMode {
  variables: boolean;
  /** PutBucketPolicy's checks: the bucket its resources must be in; malformed variables refused. */
  bucket: string | undefined;
}

/**
 * A value that may hold policy variables: text when it holds none (or the document's Version has
 * none), else a template. A malformed variable: `MalformedPolicy` when a document is put; in a
 * stored document (accepted before variables were read) the value stays plain text.
 */
function policyValue(text: string, mode: ParseMode, where: string): PolicyValue {
  if (!mode.variables) return text;
  const parsed = parseTemplate(text);
  if (typeof parsed === 'string' || !('error' in parsed)) return parsed;
  if (mode.bucket !== undefined) throw malformed(`Invalid policy variable in ${where}: ${parsed.error}`);
  return text;
}

function valueText(v: PolicyValue): string {
  return typeof v === 'string' ? v : v.source;
}

function parseResources(value: unknown, mode: ParseMode, element: string): PolicyValue[] {
  const list = stringList(value);
  if (list === undefined) throw malformed('Policy has invalid resource');
  for (const r of list) {
    if (!r.startsWith('arn:aws:s3:::')) throw malformed('Policy has invalid resource');
    const rest = r.slice('arn:aws:s3:::'.length);
    const slash = rest.indexOf('/');
    const bucketPart = slash < 0 ? rest : rest.slice(0, slash);
    if (bucketPart === '' || (mode.bucket !== undefined && !globMatch(bucketPart, mode.bucket))) throw malformed('Policy has invalid resource');
  }
  return list.map((r) => policyValue(r, mode, `${element} ${r}`));
}

/**
 * S3's check that each action of a statement applies to one of its resources: an object action
 * needs a resource that can name an object (a `/` after the bucket, or a `*` that can reach past
 * it), a bucket action one that can name the bucket (no `/`); s3:ListAllMyBuckets applies to none.
 * A wildcard action applies when one of the actions it matches does.
 */
function checkActionsApply(actions: readonly string[], resources: readonly PolicyValue[]): void {
  let bucketResource = false;
  let objectResource = false;
  for (const r of resources) {
    const rest = valueText(r).slice('arn:aws:s3:::'.length);
    if (!rest.includes('/')) bucketResource = true;
    if (rest.includes('/') || rest.includes('*')) objectResource = true;
  }
  for (const pattern of actions) {
    const applies = KNOWN_ACTIONS.some(
      (a) => globMatch(pattern, a) && !RESOURCELESS_ACTIONS.has(a) && (OBJECT_ACTIONS_LOWER.has(a) ? objectResource : bucketResource),
    );
    if (!applies) throw malformed('Action does not apply to any resource(s) in statement');
  }
}

function conditionValues(value: unknown): string[] | undefined {
  const one = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
  if (Array.isArray(value)) {
    const out = value.map(one);
    return out.length > 0 && out.every((v) => v !== undefined) ? (out as string[]) : undefined;
  }
  const v = one(value);
  return v === undefined ? undefined : [v];
}

/** A date condition value or key: ISO 8601, or seconds since the epoch. */
function dateValue(v: string): number {
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  return Date.parse(v);
}

function parseConditions(value: unknown, mode: ParseMode): CompiledCondition[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('Invalid Condition');
  const out: CompiledCondition[] = [];
  for (const [written, block] of Object.entries(value as Record<string, unknown>)) {
    let operator = written;
    let qualifier: CompiledCondition['qualifier'];
    const colon = operator.indexOf(':');
    if (colon >= 0) {
      const q = operator.slice(0, colon);
      if (q !== 'ForAnyValue' && q !== 'ForAllValues') throw malformed(`Invalid Condition type : ${written}`);
      qualifier = q;
      operator = operator.slice(colon + 1);
    }
    let ifExists = false;
    if (operator.endsWith('IfExists') && operator !== 'IfExists') {
      ifExists = true;
      operator = operator.slice(0, -'IfExists'.length);
    }
    const spec = OPERATORS[operator];
    if (spec === undefined || (ifExists && operator === 'Null')) throw malformed(`Invalid Condition type : ${written}`);
    if (typeof block !== 'object' || block === null || Array.isArray(block)) throw malformed(`Invalid Condition value for ${written}`);
    for (const [key, raw] of Object.entries(block as Record<string, unknown>)) {
      const values = conditionValues(raw);
      if (values === undefined) throw malformed(`Invalid Condition value for ${written}: ${key}`);
      const c: CompiledCondition = { ...spec, ifExists, qualifier, key: conditionKey(key), values, operator };
      if (spec.family === 'Numeric' || spec.family === 'Date') {
        const numbers = values.map((v) => (spec.family === 'Numeric' ? (v.trim() === '' ? NaN : Number(v)) : dateValue(v)));
        if (numbers.some((n) => Number.isNaN(n))) throw malformed(`Invalid Condition value for ${written}: ${key}`);
        c.numbers = numbers;
      } else if (spec.family === 'Ip') {
        const ips = ipRanges(values);
        if (ips === undefined) throw malformed(`Invalid Condition value for ${written}: ${key}`);
        c.ips = ips;
      } else if (spec.family === 'Bool' || spec.family === 'Null') {
        if (values.some((v) => v.toLowerCase() !== 'true' && v.toLowerCase() !== 'false')) throw malformed(`Invalid Condition value for ${written}: ${key}`);
      } else if (spec.family !== 'Binary') {
        // String and ARN operators: policy variables in the values.
        const patterns = values.map((v) => policyValue(v, mode, `Condition ${written} ${key}`));
        if (patterns.some((p) => typeof p !== 'string')) c.patterns = patterns;
      }
      out.push(c);
    }
  }
  return out;
}

/**
 * What the size and depth limits look at, from the text alone (one pass, no recursion, before
 * any parsing): its bytes without insignificant whitespace (whitespace outside strings), and the
 * deepest nesting of `{` and `[` outside strings.
 */
function policyShape(text: string): { bytes: number; depth: number } {
  let whitespace = 0;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character (\" does not end the string)
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) whitespace++;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { bytes: Buffer.byteLength(text) - whitespace, depth: deepest };
}

/**
 * The text of a PutBucketPolicy body: `MalformedPolicy` ("This policy contains invalid Json") when
 * it is not UTF-8, rather than a document with U+FFFD where the client's bytes were.
 */
export function decodePolicyDocument(body: Uint8Array): string {
  const text = decodeUtf8(body);
  if (text === undefined) throw malformed('This policy contains invalid Json');
  return text;
}

/**
 * Parses and validates a bucket policy document: `MalformedPolicy` with S3's messages. With
 * `bucket` (PutBucketPolicy), every Resource / NotResource must be in that bucket ("Policy has
 * invalid resource"), each action must apply to one of its statement's resources ("Action does
 * not apply to any resource(s) in statement") and a malformed policy variable is refused; without
 * (a stored document, accepted when it was put) those are not checked again. Does not check that
 * the users it names exist (see `users`). A document over {@link MAX_POLICY_BYTES} (without
 * insignificant whitespace) or nested deeper than {@link MAX_POLICY_DEPTH} is refused before it
 * is parsed.
 */
export function parseBucketPolicy(text: string, bucket?: string): CompiledPolicy {
  if (!text.trimStart().startsWith('{')) throw malformed("Policies must be valid JSON and the first byte must be '{'");
  // Size and depth from the text, before parsing: a document nested 100,000 deep parses, but
  // walking it (JSON.stringify measured the size) overflowed the stack, a 500.
  const shape = policyShape(text);
  if (shape.bytes > MAX_POLICY_BYTES) throw malformed('Policy exceeds the maximum allowed document size.');
  if (shape.depth > MAX_POLICY_DEPTH) throw malformed('This policy contains invalid Json');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed('This policy contains invalid Json');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw malformed('This policy contains invalid Json');
  const fields = doc as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (name !== 'Version' && name !== 'Id' && name !== 'Statement') throw malformed(`Unknown field ${name}`);
  }
  if (fields['Version'] !== undefined && fields['Version'] !== '2012-10-17' && fields['Version'] !== '2008-10-17') {
    throw malformed('The policy must contain a valid version string');
  }
  if (fields['Id'] !== undefined && typeof fields['Id'] !== 'string') throw malformed('This policy contains invalid Json');
  const raw = fields['Statement'];
  if (raw === undefined || raw === null || typeof raw !== 'object') throw malformed('Missing required field Statement');
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw malformed('Could not parse the policy: Statement is empty!');
  const mode: ParseMode = { variables: fields['Version'] === '2012-10-17', bucket };
  const users = { ids: new Set<string>(), names: new Set<string>() };
  const sids = new Set<string>();
  const statements = list.map((s): CompiledStatement => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw malformed('Statement is missing required element');
    const st = s as Record<string, unknown>;
    for (const name of Object.keys(st)) if (!STATEMENT_FIELDS.has(name)) throw malformed(`Unknown field ${name}`);
    const sid = st['Sid'];
    if (sid !== undefined) {
      if (typeof sid !== 'string') throw malformed('Statement IDs (SID) must be strings');
      if (sids.has(sid)) throw malformed('Statement IDs (SID) in a single policy must be unique');
      sids.add(sid);
    }
    const effect = st['Effect'];
    if (effect === undefined) throw malformed('Missing required field Effect');
    if (effect !== 'Allow' && effect !== 'Deny') throw malformed(`Invalid effect: ${typeof effect === 'string' ? effect : JSON.stringify(effect)}`);
    const out: CompiledStatement = { effect, conditions: [] };
    if (st['Principal'] === undefined && st['NotPrincipal'] === undefined) throw malformed('Missing required field Principal');
    if (st['Principal'] !== undefined && st['NotPrincipal'] !== undefined) throw malformed('Invalid principal in policy');
    if (st['Principal'] !== undefined) out.principal = parsePrincipal(st['Principal'], users);
    else out.notPrincipal = parsePrincipal(st['NotPrincipal'], users);
    if (st['Action'] === undefined && st['NotAction'] === undefined) throw malformed('Statement is missing required element');
    if (st['Action'] !== undefined && st['NotAction'] !== undefined) throw malformed('Policy has invalid action');
    if (st['Action'] !== undefined) out.actions = parseActions(st['Action']);
    else out.notActions = parseActions(st['NotAction']);
    if (st['Resource'] === undefined && st['NotResource'] === undefined) throw malformed('Statement is missing required element');
    if (st['Resource'] !== undefined && st['NotResource'] !== undefined) throw malformed('Policy has invalid resource');
    if (st['Resource'] !== undefined) out.resources = parseResources(st['Resource'], mode, 'Resource');
    else out.notResources = parseResources(st['NotResource'], mode, 'NotResource');
    if (st['Condition'] !== undefined) out.conditions = parseConditions(st['Condition'], mode);
    if (bucket !== undefined && out.actions !== undefined && out.resources !== undefined) checkActionsApply(out.actions, out.resources);
    return out;
  });
  return { statements, users: { ids: [...users.ids], names: [...users.names] } };
}

function principalMatches(set: PrincipalSet, principal: PolicyRequest['principal'], service?: string): boolean {
  if (set.any) return true;
  if (service !== undefined) return set.services?.has(service) === true;
  if (principal === undefined) return false;
  return set.ids.has(principal.id) || set.names.has(principal.name);
}

function anyMatch(patterns: readonly string[], value: string): boolean {
  for (const p of patterns) if (globMatch(p, value)) return true;
  return false;
}

type Comparer = (pattern: string, literal: Uint8Array | undefined, value: string) => boolean;
const likeComparer: Comparer = (p, literal, v) => globMatch(p, v, literal);
const equalComparer: Comparer = (p, _literal, v) => p === v;
const ignoreCaseComparer: Comparer = (p, _literal, v) => p.toLowerCase() === v.toLowerCase();

/**
 * Whether one of `values` (which may hold variables) matches `v`: true if one does, false if none
 * does, undefined if none does but a value could not be resolved (its variable has no value in
 * the request): then it is not known.
 */
function matchValues(values: readonly PolicyValue[], v: string, req: PolicyRequest, compare: Comparer): boolean | undefined {
  let unknown = false;
  for (const x of values) {
    if (typeof x === 'string') {
      if (compare(x, undefined, v)) return true;
      continue;
    }
    const resolved = resolveTemplate(x, req.value);
    if (resolved === undefined) unknown = true;
    else if (compare(resolved.text, resolved.literal, v)) return true;
  }
  return unknown ? undefined : false;
}

/** Whether one (positive) test of a condition holds for value `v` (undefined: not known). */
function valueMatches(c: CompiledCondition, v: string, req: PolicyRequest): boolean | undefined {
  switch (c.family) {
    case 'String':
      return c.patterns ? matchValues(c.patterns, v, req, equalComparer) : c.values.includes(v);
    case 'Binary':
      return c.values.includes(v);
    case 'StringIgnoreCase': {
      if (c.patterns) return matchValues(c.patterns, v, req, ignoreCaseComparer);
      const lower = v.toLowerCase();
      return c.values.some((x) => x.toLowerCase() === lower);
    }
    case 'StringLike':
      return c.patterns ? matchValues(c.patterns, v, req, likeComparer) : anyMatch(c.values, v);
    case 'Bool':
      return c.values.some((x) => x.toLowerCase() === v.toLowerCase());
    case 'Ip':
      return inRanges(c.ips!, v);
    case 'Numeric':
    case 'Date': {
      const n = c.family === 'Numeric' ? (v.trim() === '' ? NaN : Number(v)) : dateValue(v);
      if (Number.isNaN(n)) return false;
      return c.numbers!.some((x) => (c.comparison === 'eq' ? n === x : c.comparison === 'lt' ? n < x : c.comparison === 'le' ? n <= x : c.comparison === 'gt' ? n > x : n >= x));
    }
    case 'Null':
      return false;
  }
}

function conditionHolds(c: CompiledCondition, req: PolicyRequest): boolean {
  const v = req.value(c.key);
  if (c.family === 'Null') return c.values.some((x) => (x.toLowerCase() === 'true') === (v === undefined));
  if (v === undefined) {
    if (c.ifExists) return true;
    if (c.qualifier === 'ForAllValues') return true;
    if (c.qualifier === 'ForAnyValue') return false;
    return c.negated;
  }
  // A negated operator holds when the value matches none of the values (a logical AND); when
  // that is not known (a value's variable has no value), neither kind of operator holds.
  const matched = valueMatches(c, v, req);
  if (matched === undefined) return false;
  return c.negated ? !matched : matched;
}

function statementApplies(s: CompiledStatement, req: PolicyRequest, action: string): boolean {
  if (s.principal !== undefined ? !principalMatches(s.principal, req.principal, req.service) : principalMatches(s.notPrincipal!, req.principal, req.service)) return false;
  if (s.actions !== undefined ? !anyMatch(s.actions, action) : anyMatch(s.notActions!, action)) return false;
  // Resource: one of them matches; NotResource: known to match none of them.
  if (s.resources !== undefined ? matchValues(s.resources, req.resource, req, likeComparer) !== true : matchValues(s.notResources!, req.resource, req, likeComparer) !== false) return false;
  for (const c of s.conditions) if (!conditionHolds(c, req)) return false;
  return true;
}

/**
 * What `policy` says about `req`: `Deny` if a Deny statement applies (an explicit deny wins),
 * else `Allow` if an Allow statement does, else undefined (the ACL decides).
 */
export function evaluatePolicy(policy: CompiledPolicy, req: PolicyRequest): PolicyDecision {
  const action = req.action.toLowerCase();
  let allowed = false;
  for (const s of policy.statements) {
    if (s.effect === 'Allow' && allowed) continue;
    if (!statementApplies(s, req, action)) continue;
    if (s.effect === 'Deny') return 'Deny';
    allowed = true;
  }
  return allowed ? 'Allow' : undefined;
}

/** A policy that denies everything to everyone. */
export const DENY_ALL_POLICY: CompiledPolicy = {
  statements: [{ effect: 'Deny', principal: { any: true, ids: new Set(), names: new Set() }, actions: ['*'], resources: ['*'], conditions: [] }],
  users: { ids: [], names: [] },
};

/** Keys whose fixed values restrict who can use a statement (GetBucketPolicyStatus). */
const RESTRICTING_KEYS = new Set(['aws:sourceip', 'aws:userid', 'aws:username', 'aws:principalarn', 'aws:principalaccount', 'aws:sourcearn', 'aws:sourceaccount', 'aws:sourceowner', 'aws:sourcevpc', 'aws:sourcevpce', 'aws:principalorgid']);

function restricts(c: CompiledCondition): boolean {
  if (!RESTRICTING_KEYS.has(c.key) || c.negated || c.ifExists || c.qualifier === 'ForAllValues') return false;
  // A value with a variable is not fixed.
  if (c.patterns !== undefined) return false;
  if (c.family === 'Ip') return !c.values.some((v) => v === '0.0.0.0/0' || v === '::/0');
  if (c.family === 'String' || c.family === 'StringIgnoreCase') return true;
  if (c.family === 'StringLike') return !c.values.some(hasWildcard);
  return false;
}

/**
 * Whether a policy makes its bucket public: an Allow statement for everyone (`*`, or a
 * NotPrincipal) without a condition that fixes a restricting key (aws:SourceIp to ranges other
 * than everything, aws:userid, aws:username, aws:PrincipalArn, aws:SourceArn, aws:SourceAccount,
 * aws:SourceVpc(e), aws:PrincipalAccount, aws:PrincipalOrgID to values without wildcards or
 * policy variables).
 */
export function isPublicPolicy(policy: CompiledPolicy): boolean {
  return policy.statements.some((s) => s.effect === 'Allow' && (s.principal?.any === true || s.notPrincipal !== undefined) && !s.conditions.some(restricts));
}

/** GetBucketPolicyStatus's document. */
export function policyStatusXml(isPublic: boolean): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<PolicyStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsPublic>${isPublic ? 'true' : 'false'}</IsPublic></PolicyStatus>`;
}
