/**
 * S3 CORS: the CORSConfiguration document (PutBucketCors / GetBucketCors), the rule matcher and
 * the Access-Control-* response headers of preflight (`OPTIONS`) and actual requests.
 *
 * As S3 evaluates them: the first rule whose AllowedOrigin matches the request's `Origin`, whose
 * AllowedMethod holds the request's method (for a preflight, `Access-Control-Request-Method`)
 * and — preflights only — whose AllowedHeader entries cover every name in
 * `Access-Control-Request-Headers` wins. Origins and methods match case-sensitively, header
 * names without regard to case; an origin or header pattern may hold one `*`, which matches any
 * run of characters, the empty one included (`start*end` matches `startend`).
 *
 * Pure: no clock, no I/O.
 */
import { S3Error } from './errors.ts';
import { escapeXml } from './xml-escape.ts';
import { childElements, leafText, parseXmlDocument } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { S3_XMLNS } from './xml.ts';

/** The methods a CORS rule may allow. */
export const CORS_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'] as const;
/** A method a CORS rule may allow. */
export type CorsMethod = (typeof CORS_METHODS)[number];
/** Most rules in one configuration. */
export const MAX_CORS_RULES = 100;
/** Largest CORSConfiguration document S3 accepts. */
export const MAX_CORS_DOCUMENT_BYTES = 64 * 1024;
/** Longest rule ID. */
export const MAX_CORS_RULE_ID = 255;

/** `Vary` of a response CORS headers were computed for. */
export const CORS_VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';

/** One CORSRule, as stored with the bucket. */
export interface CorsRule {
  id?: string;
  allowedMethods: CorsMethod[];
  allowedOrigins: string[];
  allowedHeaders?: string[];
  exposeHeaders?: string[];
  maxAgeSeconds?: number;
}

// ---------------------------------------------------------------------------------------------
// The document

const RULE_ELEMENTS = new Set(['ID', 'AllowedMethod', 'AllowedOrigin', 'AllowedHeader', 'ExposeHeader', 'MaxAgeSeconds']);

function wildcards(value: string): number {
  let n = 0;
  for (let i = value.indexOf('*'); i >= 0; i = value.indexOf('*', i + 1)) n++;
  return n;
}

function parseRule(el: XmlElement): CorsRule {
  const texts = new Map<string, string[]>();
  for (const child of el.children) {
    if (!RULE_ELEMENTS.has(child.name)) throw new S3Error('MalformedXML');
    const list = texts.get(child.name) ?? [];
    list.push(leafText(child).trim());
    texts.set(child.name, list);
  }
  const ids = texts.get('ID') ?? [];
  const maxAges = texts.get('MaxAgeSeconds') ?? [];
  const methods = texts.get('AllowedMethod') ?? [];
  const origins = texts.get('AllowedOrigin') ?? [];
  const allowedHeaders = texts.get('AllowedHeader') ?? [];
  const exposeHeaders = texts.get('ExposeHeader') ?? [];
  // Each rule names at least one origin and one method, and at most one ID and one MaxAgeSeconds.
  if (methods.length === 0 || origins.length === 0 || ids.length > 1 || maxAges.length > 1) throw new S3Error('MalformedXML');
  for (const method of methods) {
    if (!(CORS_METHODS as readonly string[]).includes(method)) {
      throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`);
    }
  }
  for (const origin of origins) {
    if (wildcards(origin) > 1) throw new S3Error('InvalidRequest', `AllowedOrigin "${origin}" can not have more than one wildcard.`);
  }
  for (const header of allowedHeaders) {
    if (wildcards(header) > 1) throw new S3Error('InvalidRequest', `AllowedHeader "${header}" can not have more than one wildcard.`);
  }
  for (const header of exposeHeaders) {
    if (header.includes('*')) throw new S3Error('InvalidRequest', `ExposeHeader "${header}" contains wildcard. We currently do not support wildcard for ExposeHeader.`);
  }
  const rule: CorsRule = { allowedMethods: methods as CorsMethod[], allowedOrigins: origins };
  const id = ids[0];
  if (id !== undefined) {
    if (id.length > MAX_CORS_RULE_ID) throw new S3Error('InvalidRequest', `The ID of a CORSRule cannot be longer than ${MAX_CORS_RULE_ID} characters.`);
    rule.id = id;
  }
  if (allowedHeaders.length > 0) rule.allowedHeaders = allowedHeaders;
  if (exposeHeaders.length > 0) rule.exposeHeaders = exposeHeaders;
  const maxAge = maxAges[0];
  if (maxAge !== undefined) {
    // An xsd:int; a negative age means nothing to a browser.
    if (!/^\+?\d{1,10}$/.test(maxAge) || Number(maxAge) > 0x7fffffff) throw new S3Error('MalformedXML');
    rule.maxAgeSeconds = Number(maxAge);
  }
  return rule;
}

/**
 * Parses a CORSConfiguration (PutBucketCors): 1 to 100 `CORSRule`, each with at least one
 * `AllowedOrigin` and `AllowedMethod`, optional `AllowedHeader`, `ExposeHeader`, one `ID` (up to
 * 255 characters) and one `MaxAgeSeconds`. Element values are trimmed.
 *
 * Errors, as S3 answers them: a document that does not validate (no rule, a rule without origin
 * or method, an unknown element, a MaxAgeSeconds that is not a non-negative integer) is
 * `MalformedXML`; a method other than GET, PUT, POST, DELETE and HEAD, an AllowedOrigin or
 * AllowedHeader with more than one `*`, an ExposeHeader with one, more than 100 rules or an ID
 * too long are `InvalidRequest`; a document over 64 KB is `MaxMessageLengthExceeded`.
 */
export function parseCorsConfiguration(body: string | Uint8Array): CorsRule[] {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > MAX_CORS_DOCUMENT_BYTES) throw new S3Error('MaxMessageLengthExceeded');
  const doc = parseXmlDocument(body, 'CORSConfiguration');
  if (doc.children.some((c) => c.name !== 'CORSRule')) throw new S3Error('MalformedXML');
  const elements = childElements(doc, 'CORSRule');
  if (elements.length === 0) throw new S3Error('MalformedXML');
  if (elements.length > MAX_CORS_RULES) {
    throw new S3Error('InvalidRequest', `The number of CORS rules should not exceed allowed limit of ${MAX_CORS_RULES} rules.`);
  }
  return elements.map(parseRule);
}

function leaves(name: string, values: readonly string[] | undefined): string {
  return (values ?? []).map((v) => `<${name}>${escapeXml(v)}</${name}>`).join('');
}

/** The CORSConfiguration document of GetBucketCors (elements of a rule in the API reference's order). */
export function corsConfigurationXml(rules: readonly CorsRule[]): string {
  let inner = '';
  for (const r of rules) {
    inner += '<CORSRule>';
    inner += leaves('AllowedHeader', r.allowedHeaders);
    inner += leaves('AllowedMethod', r.allowedMethods);
    inner += leaves('AllowedOrigin', r.allowedOrigins);
    inner += leaves('ExposeHeader', r.exposeHeaders);
    if (r.id !== undefined) inner += leaves('ID', [r.id]);
    if (r.maxAgeSeconds !== undefined) inner += leaves('MaxAgeSeconds', [String(r.maxAgeSeconds)]);
    inner += '</CORSRule>';
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns="${S3_XMLNS}">${inner}</CORSConfiguration>`;
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * Whether `value` matches `pattern`, which holds at most one `*` standing for any run of
 * characters (none included). Callers lower-case both sides for a case-insensitive match.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === value;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return value.length >= prefix.length + suffix.length && value.startsWith(prefix) && value.endsWith(suffix);
}

/**
 * The names of an `Access-Control-Request-Headers` header: comma-separated, trimmed, empty
 * entries dropped, lower-cased (header names are case-insensitive), in the order given.
 */
export function parseAccessControlRequestHeaders(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '') out.push(name);
  }
  return out;
}

/** What a CORS request asks for. */
export interface CorsRequest {
  /** The `Origin` header. */
  origin: string;
  /** The method of the request to allow (a preflight's `Access-Control-Request-Method`). */
  method: string;
  /** Lower-cased names of `Access-Control-Request-Headers` (preflights only; none for an actual request). */
  headers?: readonly string[];
}

/** The rule that allows a CORS request, and the `Access-Control-Allow-Origin` it answers. */
export interface CorsMatch {
  rule: CorsRule;
  /** `*` when the rule allows the origin only through a bare `*`, else the request's origin. */
  allowOrigin: string;
}

/** The first rule that allows `request`, or undefined. */
export function matchCorsRule(rules: readonly CorsRule[], request: CorsRequest): CorsMatch | undefined {
  for (const rule of rules) {
    if (!(rule.allowedMethods as readonly string[]).includes(request.method)) continue;
    let any = false;
    let specific = false;
    for (const pattern of rule.allowedOrigins) {
      if (!wildcardMatch(pattern, request.origin)) continue;
      any = true;
      if (pattern !== '*') specific = true;
    }
    if (!any) continue;
    const allowed = (rule.allowedHeaders ?? []).map((h) => h.toLowerCase());
    if (!(request.headers ?? []).every((name) => allowed.some((pattern) => wildcardMatch(pattern, name)))) continue;
    return { rule, allowOrigin: specific ? request.origin : '*' };
  }
  return undefined;
}

/**
 * The Access-Control-* headers of a matched request: Allow-Origin, Allow-Credentials (`true`
 * unless the origin is answered `*`), Allow-Methods (the rule's, joined by `, `), Expose-Headers
 * and Max-Age when the rule has them, Allow-Headers (the requested names, for a preflight that
 * asked for some), and `Vary`.
 */
export function corsResponseHeaders(match: CorsMatch, requestedHeaders: readonly string[] = []): Record<string, string> {
  const { rule, allowOrigin } = match;
  const out: Record<string, string> = {
    'access-control-allow-origin': allowOrigin,
    'access-control-allow-methods': rule.allowedMethods.join(', '),
  };
  if (requestedHeaders.length > 0) out['access-control-allow-headers'] = requestedHeaders.join(', ');
  if (rule.exposeHeaders?.length) out['access-control-expose-headers'] = rule.exposeHeaders.join(', ');
  if (rule.maxAgeSeconds !== undefined) out['access-control-max-age'] = String(rule.maxAgeSeconds);
  if (allowOrigin !== '*') out['access-control-allow-credentials'] = 'true';
  out['vary'] = CORS_VARY;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Preflight refusals

/** The kind of resource a refused preflight names (`ResourceType` in the error document). */
export type CorsResourceType = 'SERVICE' | 'BUCKET' | 'OBJECT';

/** Message of a preflight no rule allows. */
export const CORS_NOT_ALLOWED =
  "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
/** Message of a preflight to a bucket without a CORS configuration. */
export const CORS_NOT_ENABLED = 'CORSResponse: CORS is not enabled for this bucket.';
/** Message of a preflight to a bucket that does not exist. */
export const CORS_NO_BUCKET = 'CORSResponse: Bucket not found';

/** 403 `AccessForbidden` of a refused preflight, with the method asked for and the resource type. */
export function corsForbidden(message: string, method: string, resourceType: CorsResourceType): S3Error {
  return new S3Error('AccessForbidden', message, { fields: { Method: method, ResourceType: resourceType } });
}
