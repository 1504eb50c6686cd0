/**
 * S3 static website hosting, the protocol side: the WebsiteConfiguration document
 * (PutBucketWebsite / GetBucketWebsite) with S3's validation, the routing-rule matcher, the
 * `Location` of a website redirect and the HTML error page the website endpoint answers with.
 *
 * Pure: no clock, no I/O.
 */
import { STATUS_CODES } from 'node:http';
import { S3Error } from './errors.ts';
import { uriEncode } from './uri.ts';
import { escapeXml } from './xml-escape.ts';
import { parseXmlDocument, uniqueChildren } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { S3_XMLNS } from './xml.ts';

/** Most routing rules in one configuration (S3's limit). */
export const MAX_ROUTING_RULES = 50;

/** A redirect protocol. */
export type WebsiteProtocol = 'http' | 'https';

/** Where a routing rule sends the request. At least one field is present. */
export interface WebsiteRedirect {
  hostName?: string;
  /** A 3xx code other than 300 (default 301), as given. */
  httpRedirectCode?: string;
  protocol?: WebsiteProtocol;
  /** Replaces the matched KeyPrefixEquals (the whole prefix when the condition has none). */
  replaceKeyPrefixWith?: string;
  /** Replaces the whole key; exclusive with `replaceKeyPrefixWith`. */
  replaceKeyWith?: string;
}

/** When a routing rule applies; at least one field is present, and all present must match. */
export interface WebsiteCondition {
  keyPrefixEquals?: string;
  /** A 4xx or 5xx code, as given. */
  httpErrorCodeReturnedEquals?: string;
}

/** One RoutingRule. */
export interface WebsiteRoutingRule {
  condition?: WebsiteCondition;
  redirect: WebsiteRedirect;
}

/** A bucket's website configuration, as stored with the bucket (`web`). */
export interface WebsiteConfiguration {
  /** IndexDocument/Suffix: absent only with `redirectAll`. */
  indexSuffix?: string;
  /** ErrorDocument/Key. */
  errorKey?: string;
  /** RedirectAllRequestsTo: excludes every other element. */
  redirectAll?: { hostName: string; protocol?: WebsiteProtocol };
  /** RoutingRules, in order (the first that matches applies). */
  routingRules?: WebsiteRoutingRule[];
}

// ---------------------------------------------------------------------------------------------
// The document

function invalid(message: string, name?: string, value?: string): S3Error {
  return new S3Error('InvalidArgument', message, { fields: { ArgumentName: name, ArgumentValue: value } });
}

/** The text of a leaf element (`MalformedXML` if it has children). */
function leaf(el: XmlElement): string {
  if (el.children.length > 0) throw new S3Error('MalformedXML');
  return el.text;
}

function parseProtocol(text: string): WebsiteProtocol {
  const value = text.trim();
  if (value !== 'http' && value !== 'https') throw invalid('Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.', 'Protocol', value);
  return value;
}

function parseHostName(text: string): string {
  const value = text.trim();
  if (value === '' || /[\s/]/.test(value)) throw invalid('The HostName is not well formed', 'HostName', value);
  return value;
}

function parseRedirect(el: XmlElement): WebsiteRedirect {
  const parts = uniqueChildren(el, ['HostName', 'HttpRedirectCode', 'Protocol', 'ReplaceKeyPrefixWith', 'ReplaceKeyWith']);
  if (parts.size === 0) throw invalid('Redirect must contain at least one of HostName, HttpRedirectCode, Protocol, ReplaceKeyPrefixWith or ReplaceKeyWith.', 'Redirect');
  const out: WebsiteRedirect = {};
  const host = parts.get('HostName');
  if (host) out.hostName = parseHostName(leaf(host));
  const code = parts.get('HttpRedirectCode');
  if (code) {
    const value = leaf(code).trim();
    if (!/^3\d\d$/.test(value) || value === '300') throw invalid(`The provided HTTP redirect code (${value}) is not valid. Valid codes are 3XX except 300.`, 'HttpRedirectCode', value);
    out.httpRedirectCode = value;
  }
  const protocol = parts.get('Protocol');
  if (protocol) out.protocol = parseProtocol(leaf(protocol));
  const prefix = parts.get('ReplaceKeyPrefixWith');
  const whole = parts.get('ReplaceKeyWith');
  if (prefix && whole) throw invalid('You can only define ReplaceKeyPrefix or ReplaceKey but not both.', 'ReplaceKeyPrefixWith');
  if (prefix) out.replaceKeyPrefixWith = leaf(prefix);
  if (whole) out.replaceKeyWith = leaf(whole);
  return out;
}

function parseCondition(el: XmlElement): WebsiteCondition {
  const parts = uniqueChildren(el, ['HttpErrorCodeReturnedEquals', 'KeyPrefixEquals']);
  if (parts.size === 0) throw invalid("Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.", 'Condition');
  const out: WebsiteCondition = {};
  const code = parts.get('HttpErrorCodeReturnedEquals');
  if (code) {
    const value = leaf(code).trim();
    if (!/^[45]\d\d$/.test(value)) throw invalid(`The provided HTTP error code (${value}) is not valid. Valid codes are 4XX or 5XX.`, 'HttpErrorCodeReturnedEquals', value);
    out.httpErrorCodeReturnedEquals = value;
  }
  const prefix = parts.get('KeyPrefixEquals');
  if (prefix) out.keyPrefixEquals = leaf(prefix);
  return out;
}

function parseRoutingRule(el: XmlElement): WebsiteRoutingRule {
  if (el.name !== 'RoutingRule') throw new S3Error('MalformedXML');
  const parts = uniqueChildren(el, ['Condition', 'Redirect']);
  const redirect = parts.get('Redirect');
  if (!redirect) throw new S3Error('MalformedXML');
  const condition = parts.get('Condition');
  return { ...(condition ? { condition: parseCondition(condition) } : {}), redirect: parseRedirect(redirect) };
}

/**
 * Parses a WebsiteConfiguration document as S3 validates it: unknown, repeated or misplaced
 * elements are `MalformedXML`; a configuration S3 refuses is `InvalidArgument` (no IndexDocument
 * without RedirectAllRequestsTo, RedirectAllRequestsTo with anything else, an empty Suffix or one
 * with a slash, an empty ErrorDocument Key, more than 50 rules, a bad protocol or code, an empty
 * Condition or Redirect, ReplaceKeyWith with ReplaceKeyPrefixWith).
 */
export function parseWebsiteConfiguration(body: string | Uint8Array): WebsiteConfiguration {
  const doc = parseXmlDocument(body, 'WebsiteConfiguration');
  const parts = uniqueChildren(doc, ['ErrorDocument', 'IndexDocument', 'RedirectAllRequestsTo', 'RoutingRules']);
  const out: WebsiteConfiguration = {};
  const all = parts.get('RedirectAllRequestsTo');
  if (all) {
    if (parts.size > 1) throw invalid('RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.', 'RedirectAllRequestsTo');
    const fields = uniqueChildren(all, ['HostName', 'Protocol']);
    const host = fields.get('HostName');
    if (!host) throw new S3Error('MalformedXML');
    const protocol = fields.get('Protocol');
    out.redirectAll = { hostName: parseHostName(leaf(host)), ...(protocol ? { protocol: parseProtocol(leaf(protocol)) } : {}) };
    return out;
  }
  const index = parts.get('IndexDocument');
  if (!index) throw invalid('A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty', 'IndexDocument');
  const suffixEl = uniqueChildren(index, ['Suffix']).get('Suffix');
  if (!suffixEl) throw new S3Error('MalformedXML');
  const suffix = leaf(suffixEl);
  if (suffix === '' || suffix.includes('/')) throw invalid('The IndexDocument Suffix is not well formed', 'IndexDocument', suffix);
  out.indexSuffix = suffix;
  const error = parts.get('ErrorDocument');
  if (error) {
    const keyEl = uniqueChildren(error, ['Key']).get('Key');
    if (!keyEl) throw new S3Error('MalformedXML');
    const key = leaf(keyEl);
    if (key === '') throw invalid('The ErrorDocument Key is not well formed', 'ErrorDocument', key);
    out.errorKey = key;
  }
  const rules = parts.get('RoutingRules');
  if (rules) {
    if (rules.text.trim() !== '') throw new S3Error('MalformedXML');
    if (rules.children.length > MAX_ROUTING_RULES) throw invalid(`The number of routing rules must not exceed allowed limit of ${MAX_ROUTING_RULES} rules.`, 'RoutingRules', String(rules.children.length));
    const parsed = rules.children.map(parseRoutingRule);
    if (parsed.length === 0) throw new S3Error('MalformedXML');
    out.routingRules = parsed;
  }
  return out;
}

function element(name: string, value: string | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(value)}</${name}>`;
}

/** The WebsiteConfiguration document of GetBucketWebsite. */
export function websiteConfigurationXml(config: WebsiteConfiguration): string {
  let inner = '';
  if (config.redirectAll) inner += `<RedirectAllRequestsTo>${element('HostName', config.redirectAll.hostName)}${element('Protocol', config.redirectAll.protocol)}</RedirectAllRequestsTo>`;
  if (config.indexSuffix !== undefined) inner += `<IndexDocument>${element('Suffix', config.indexSuffix)}</IndexDocument>`;
  if (config.errorKey !== undefined) inner += `<ErrorDocument>${element('Key', config.errorKey)}</ErrorDocument>`;
  if (config.routingRules) {
    inner += '<RoutingRules>';
    for (const rule of config.routingRules) {
      inner += '<RoutingRule>';
      const c = rule.condition;
      if (c) inner += `<Condition>${element('HttpErrorCodeReturnedEquals', c.httpErrorCodeReturnedEquals)}${element('KeyPrefixEquals', c.keyPrefixEquals)}</Condition>`;
      const r = rule.redirect;
      inner += `<Redirect>${element('HostName', r.hostName)}${element('HttpRedirectCode', r.httpRedirectCode)}${element('Protocol', r.protocol)}${element('ReplaceKeyPrefixWith', r.replaceKeyPrefixWith)}${element('ReplaceKeyWith', r.replaceKeyWith)}</Redirect>`;
      inner += '</RoutingRule>';
    }
    inner += '</RoutingRules>';
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<WebsiteConfiguration xmlns="${S3_XMLNS}">${inner}</WebsiteConfiguration>`;
}

// ---------------------------------------------------------------------------------------------
// The endpoint

/**
 * The first routing rule that applies to a request for `key` (the key as requested, before the
 * index document is appended); `status` is the error the request gets, undefined before it is
 * known (then only rules without an error-code condition can match).
 */
export function matchRoutingRule(rules: readonly WebsiteRoutingRule[] | undefined, key: string, status?: number): WebsiteRoutingRule | undefined {
  for (const rule of rules ?? []) {
    const c = rule.condition;
    if (c?.keyPrefixEquals !== undefined && !key.startsWith(c.keyPrefixEquals)) continue;
    if (c?.httpErrorCodeReturnedEquals !== undefined) {
      if (status === undefined || String(status) !== c.httpErrorCodeReturnedEquals) continue;
    } else if (status !== undefined) {
      // Rules without an error condition were tried before the object was read.
      continue;
    }
    return rule;
  }
  return undefined;
}

/** Where a request is redirected to: what S3 puts in `Location`. */
export interface RedirectTarget {
  status: number;
  location: string;
}

/**
 * The redirect of a routing rule for `key`: the rule's host (else the request's), protocol (else
 * the request's), key (ReplaceKeyWith, else the matched prefix replaced by ReplaceKeyPrefixWith,
 * else the same key) and code (default 301).
 */
export function routingRedirect(rule: WebsiteRoutingRule, key: string, request: { host: string; protocol: WebsiteProtocol }): RedirectTarget {
  const r = rule.redirect;
  let target = key;
  if (r.replaceKeyWith !== undefined) target = r.replaceKeyWith;
  else if (r.replaceKeyPrefixWith !== undefined) target = r.replaceKeyPrefixWith + key.slice(rule.condition?.keyPrefixEquals?.length ?? 0);
  const status = r.httpRedirectCode === undefined ? 301 : Number(r.httpRedirectCode);
  return { status, location: `${r.protocol ?? request.protocol}://${r.hostName ?? request.host}/${uriEncode(target, false)}` };
}

/** One error the website endpoint reports on its HTML page. */
export interface WebsiteErrorInfo {
  code: string;
  message: string;
  /** Code-specific details (BucketName, Key, …), in order. */
  fields?: Record<string, string>;
}

/**
 * The HTML page the website endpoint answers an error with (as S3's website endpoint: status
 * line as title and heading, the code, message and details, the request ids), and, when the
 * custom error document could not be served, why.
 */
export function websiteErrorHtml(status: number, error: WebsiteErrorInfo, ids: { requestId: string; hostId: string }, errorDocumentError?: WebsiteErrorInfo): string {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  const items = (e: WebsiteErrorInfo): string => {
    let out = `<li>Code: ${escapeXml(e.code)}</li>\n<li>Message: ${escapeXml(e.message)}</li>\n`;
    for (const [name, value] of Object.entries(e.fields ?? {})) out += `<li>${escapeXml(name)}: ${escapeXml(value)}</li>\n`;
    return out;
  };
  let html = `<html>\n<head><title>${title}</title></head>\n<body>\n<h1>${title}</h1>\n<ul>\n${items(error)}`;
  html += `<li>RequestId: ${escapeXml(ids.requestId)}</li>\n<li>HostId: ${escapeXml(ids.hostId)}</li>\n</ul>\n`;
  if (errorDocumentError) html += `<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n${items(errorDocumentError)}</ul>\n`;
  html += '<hr/>\n</body>\n</html>\n';
  return html;
}
