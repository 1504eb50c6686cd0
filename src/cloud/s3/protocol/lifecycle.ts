/**
 * S3 bucket lifecycle: the LifecycleConfiguration document (PutBucketLifecycleConfiguration /
 * GetBucketLifecycleConfiguration), which rules apply to an object or an upload, and when they
 * expire it (the `x-amz-expiration` header and the expirer both use {@link objectExpiry}).
 *
 * Time, as S3 counts it: an object under a rule with `Days` expires at the first midnight UTC
 * after Last-Modified + Days; under a rule with `Date`, on that date (a midnight UTC). An upload
 * under `AbortIncompleteMultipartUpload` is aborted at the first midnight UTC after its initiation
 * + DaysAfterInitiation. Where several rules apply the earliest time wins.
 *
 * Pure: no clock, no I/O (a rule without an ID gets one from the caller's generator).
 */
import { S3Error } from './errors.ts';
import { formatHttpDate } from './http-date.ts';
import { xmlLeaf } from './xml-escape.ts';
import { parseXmlDocument } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { S3_XMLNS } from './xml.ts';
import type { Tag } from './xml.ts';

/** Most rules in one configuration. */
export const MAX_LIFECYCLE_RULES = 1000;
/** Longest rule ID. */
export const MAX_LIFECYCLE_RULE_ID = 255;
/** A day, as lifecycle rules count them. */
export const DAY_MS = 86_400_000;
/** Storage classes a Transition may name. */
export const TRANSITION_STORAGE_CLASSES = ['GLACIER', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'DEEP_ARCHIVE', 'GLACIER_IR'] as const;

/**
 * Which objects a rule applies to. `and` records that the predicates were given inside `<And>`
 * (so GetBucketLifecycleConfiguration answers the document as it was put); without it exactly
 * one predicate is set, or none (an empty `<Filter/>`: every object).
 */
export interface LifecycleFilter {
  prefix?: string;
  tags?: Tag[];
  /** ObjectSizeGreaterThan (bytes). */
  gt?: number;
  /** ObjectSizeLessThan (bytes). */
  lt?: number;
  and?: boolean;
}

/** A transition (recorded and answered; not acted on: storage classes are labels here). */
export interface LifecycleTransition {
  days?: number;
  /** Midnight UTC, ms. */
  date?: number;
  storageClass: string;
}

/** A NoncurrentVersionTransition (recorded, not acted on) or NoncurrentVersionExpiration (acted on in versioned buckets). */
export interface LifecycleNoncurrent {
  days: number;
  newer?: number;
  storageClass?: string;
}

/** One rule, as stored with the bucket. */
export interface LifecycleRule {
  id: string;
  enabled: boolean;
  /** The rule's `<Filter>`; absent with a legacy top-level `<Prefix>` or neither. */
  filter?: LifecycleFilter;
  /** The legacy top-level `<Prefix>` (instead of a filter). */
  prefix?: string;
  expiration?: {
    days?: number;
    /** Midnight UTC, ms. */
    date?: number;
    /** ExpiredObjectDeleteMarker: remove a delete marker that is the only version left of its key. */
    deleteMarker?: boolean;
  };
  /** AbortIncompleteMultipartUpload's DaysAfterInitiation. */
  abortDays?: number;
  transitions?: LifecycleTransition[];
  noncurrentTransitions?: LifecycleNoncurrent[];
  noncurrentExpiration?: LifecycleNoncurrent;
}

/** What a rule's filter looks at. */
export interface LifecycleSubject {
  key: string;
  size: number;
  tags?: readonly Tag[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// The document

const RULE_ELEMENTS = new Set(['ID', 'Prefix', 'Filter', 'Status', 'Expiration', 'Transition', 'NoncurrentVersionTransition', 'NoncurrentVersionExpiration', 'AbortIncompleteMultipartUpload']);
const REPEATABLE = new Set(['Transition', 'NoncurrentVersionTransition']);

function malformed(): S3Error {
  return new S3Error('MalformedXML');
}

function leafText(el: XmlElement): string {
  if (el.children.length > 0) throw malformed();
  return el.text.trim();
}

/** The children of `el` by name, each name allowed once unless `repeatable`; unknown names are refused. */
function fields(el: XmlElement, allowed: ReadonlySet<string>, repeatable: ReadonlySet<string> = new Set()): Map<string, XmlElement[]> {
  const out = new Map<string, XmlElement[]>();
  for (const child of el.children) {
    if (!allowed.has(child.name)) throw malformed();
    const list = out.get(child.name) ?? [];
    if (list.length > 0 && !repeatable.has(child.name)) throw malformed();
    list.push(child);
    out.set(child.name, list);
  }
  return out;
}

function one(map: Map<string, XmlElement[]>, name: string): XmlElement | undefined {
  return map.get(name)?.[0];
}

/** An xsd:int (days, counts); anything else is MalformedXML. */
function integer(el: XmlElement): number {
  const text = leafText(el);
  if (!/^[+-]?\d{1,10}$/.test(text)) throw malformed();
  const n = Number(text);
  if (n > 0x7fffffff || n < -0x80000000) throw malformed();
  return n;
}

/** An xsd:long (object sizes). */
function long(el: XmlElement): number {
  const text = leafText(el);
  if (!/^[+-]?\d{1,16}$/.test(text)) throw malformed();
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw malformed();
  return n;
}

/** An ISO 8601 date that must be a midnight UTC (`InvalidArgument` otherwise). */
function midnightDate(el: XmlElement): number {
  const text = leafText(el);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) throw malformed();
  const t = Date.parse(/T/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/.test(text) ? `${text}Z` : text);
  if (!Number.isFinite(t)) throw malformed();
  if (t % DAY_MS !== 0) throw new S3Error('InvalidArgument', "'Date' must be at midnight GMT", { fields: { ArgumentName: 'Date', ArgumentValue: text } });
  return t;
}

function invalidArgument(message: string, name: string, value: string | number): S3Error {
  return new S3Error('InvalidArgument', message, { fields: { ArgumentName: name, ArgumentValue: String(value) } });
}

function parseTag(el: XmlElement): Tag {
  const f = fields(el, new Set(['Key', 'Value']));
  const key = one(f, 'Key');
  if (!key) throw malformed();
  const value = one(f, 'Value');
  // Tag keys and values are taken as given (not trimmed): they must match the object's exactly.
  if (key.children.length > 0 || (value && value.children.length > 0)) throw malformed();
  return { key: key.text, value: value?.text ?? '' };
}

function parseFilter(el: XmlElement): LifecycleFilter {
  const f = fields(el, new Set(['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan', 'And']));
  if (el.children.length > 1) throw malformed();
  const out: LifecycleFilter = {};
  const and = one(f, 'And');
  const source = and ? fields(and, new Set(['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan']), new Set(['Tag'])) : f;
  if (and) {
    out.and = true;
    if (and.children.length === 0) throw malformed();
  }
  const prefix = one(source, 'Prefix');
  if (prefix) {
    if (prefix.children.length > 0) throw malformed();
    out.prefix = prefix.text;
  }
  const tags = (source.get('Tag') ?? []).map(parseTag);
  if (tags.length > 0) {
    if (new Set(tags.map((t) => t.key)).size !== tags.length) throw new S3Error('InvalidRequest', 'Duplicate Tag Keys are not allowed.');
    out.tags = tags;
  }
  const gt = one(source, 'ObjectSizeGreaterThan');
  const lt = one(source, 'ObjectSizeLessThan');
  if (gt) out.gt = long(gt);
  if (lt) out.lt = long(lt);
  if ((out.gt ?? 0) < 0) throw invalidArgument('ObjectSizeGreaterThan must be a non-negative integer', 'ObjectSizeGreaterThan', out.gt!);
  if (out.lt !== undefined && out.lt <= 0) throw invalidArgument('ObjectSizeLessThan must be a positive integer', 'ObjectSizeLessThan', out.lt);
  if (out.gt !== undefined && out.lt !== undefined && out.gt >= out.lt) {
    throw invalidArgument('ObjectSizeGreaterThan must be less than ObjectSizeLessThan', 'ObjectSizeGreaterThan', out.gt);
  }
  return out;
}

function storageClass(map: Map<string, XmlElement[]>): string {
  const el = one(map, 'StorageClass');
  if (!el) throw malformed();
  const value = leafText(el);
  if (!(TRANSITION_STORAGE_CLASSES as readonly string[]).includes(value)) throw malformed();
  return value;
}

/** Storage classes a transition may reach only after objects are at least 30 days old (S3's minimum storage duration). */
const THIRTY_DAY_CLASSES = new Set(['STANDARD_IA', 'ONEZONE_IA']);

/** Throws S3's `InvalidArgument` when a transition to STANDARD_IA or ONEZONE_IA comes before 30 days. */
function checkMinimumDays(field: 'Days' | 'NoncurrentDays', action: 'Transition' | 'NoncurrentVersionTransition', days: number, storageClass: string): void {
  if (THIRTY_DAY_CLASSES.has(storageClass) && days < 30) {
    throw invalidArgument(`'${field}' in ${action} action must be greater than or equal to 30 for storageClass '${storageClass}'`, field, days);
  }
}

function parseNoncurrent(el: XmlElement, action: 'NoncurrentVersionTransition' | 'NoncurrentVersionExpiration'): LifecycleNoncurrent {
  const names = action === 'NoncurrentVersionTransition' ? ['NoncurrentDays', 'StorageClass', 'NewerNoncurrentVersions'] : ['NoncurrentDays', 'NewerNoncurrentVersions'];
  const f = fields(el, new Set(names));
  const daysEl = one(f, 'NoncurrentDays');
  if (!daysEl) throw malformed();
  const days = integer(daysEl);
  if (action === 'NoncurrentVersionExpiration' && days <= 0) throw invalidArgument(`'NoncurrentDays' for ${action} action must be a positive integer`, 'NoncurrentDays', days);
  if (days < 0) throw invalidArgument(`'NoncurrentDays' for ${action} action must be nonnegative`, 'NoncurrentDays', days);
  const out: LifecycleNoncurrent = { days };
  const newer = one(f, 'NewerNoncurrentVersions');
  if (newer) {
    out.newer = integer(newer);
    if (out.newer <= 0) throw invalidArgument("'NewerNoncurrentVersions' must be a positive integer", 'NewerNoncurrentVersions', out.newer);
  }
  if (action === 'NoncurrentVersionTransition') {
    out.storageClass = storageClass(f);
    checkMinimumDays('NoncurrentDays', action, days, out.storageClass);
  }
  return out;
}

function parseRule(el: XmlElement, newId: () => string): LifecycleRule {
  const f = fields(el, RULE_ELEMENTS, REPEATABLE);
  const statusEl = one(f, 'Status');
  if (!statusEl) throw malformed();
  const status = leafText(statusEl);
  if (status !== 'Enabled' && status !== 'Disabled') throw malformed();
  const idEl = one(f, 'ID');
  const id = idEl ? leafText(idEl) : '';
  if (id.length > MAX_LIFECYCLE_RULE_ID) throw invalidArgument(`ID length should not exceed allowed limit of ${MAX_LIFECYCLE_RULE_ID}`, 'ID', id);
  const rule: LifecycleRule = { id: id === '' ? newId() : id, enabled: status === 'Enabled' };
  const prefixEl = one(f, 'Prefix');
  const filterEl = one(f, 'Filter');
  // A rule names its objects by a Filter or by the legacy top-level Prefix, not both.
  if (prefixEl && filterEl) throw malformed();
  if (prefixEl) {
    if (prefixEl.children.length > 0) throw malformed();
    rule.prefix = prefixEl.text;
  }
  if (filterEl) rule.filter = parseFilter(filterEl);

  const expirationEl = one(f, 'Expiration');
  if (expirationEl) {
    const e = fields(expirationEl, new Set(['Days', 'Date', 'ExpiredObjectDeleteMarker']));
    if (expirationEl.children.length !== 1) throw malformed();
    const days = one(e, 'Days');
    const date = one(e, 'Date');
    const marker = one(e, 'ExpiredObjectDeleteMarker');
    rule.expiration = {};
    if (days) {
      const n = integer(days);
      if (n <= 0) throw invalidArgument("'Days' for Expiration action must be a positive integer", 'Days', n);
      rule.expiration.days = n;
    }
    if (date) rule.expiration.date = midnightDate(date);
    if (marker) {
      const v = leafText(marker);
      if (v !== 'true' && v !== 'false') throw malformed();
      if (rule.filter?.tags) throw new S3Error('InvalidRequest', 'Tag-based filter cannot be used with ExpiredObjectDeleteMarker action.');
      rule.expiration.deleteMarker = v === 'true';
    }
  }

  const abortEl = one(f, 'AbortIncompleteMultipartUpload');
  if (abortEl) {
    const a = fields(abortEl, new Set(['DaysAfterInitiation']));
    const daysEl = one(a, 'DaysAfterInitiation');
    if (!daysEl) throw malformed();
    const n = integer(daysEl);
    if (n <= 0) throw invalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer", 'DaysAfterInitiation', n);
    if (rule.filter?.tags) throw new S3Error('InvalidRequest', 'Tag-based filter cannot be used with AbortIncompleteMultipartUpload action.');
    if (rule.filter?.gt !== undefined || rule.filter?.lt !== undefined) {
      throw new S3Error('InvalidRequest', 'Object size based filter cannot be used with AbortIncompleteMultipartUpload action.');
    }
    rule.abortDays = n;
  }

  for (const t of f.get('Transition') ?? []) {
    const m = fields(t, new Set(['Days', 'Date', 'StorageClass']));
    const days = one(m, 'Days');
    const date = one(m, 'Date');
    if ((days === undefined) === (date === undefined)) throw malformed();
    const transition: LifecycleTransition = { storageClass: storageClass(m) };
    if (days) {
      transition.days = integer(days);
      if (transition.days < 0) throw invalidArgument("'Days' in Transition action must be nonnegative", 'Days', transition.days);
      checkMinimumDays('Days', 'Transition', transition.days, transition.storageClass);
    }
    if (date) transition.date = midnightDate(date);
    (rule.transitions ??= []).push(transition);
  }
  for (const t of f.get('NoncurrentVersionTransition') ?? []) (rule.noncurrentTransitions ??= []).push(parseNoncurrent(t, 'NoncurrentVersionTransition'));
  const nve = one(f, 'NoncurrentVersionExpiration');
  if (nve) rule.noncurrentExpiration = parseNoncurrent(nve, 'NoncurrentVersionExpiration');

  if (!rule.expiration && rule.abortDays === undefined && !rule.transitions && !rule.noncurrentTransitions && !rule.noncurrentExpiration) {
    throw new S3Error('InvalidRequest', 'At least one action needs to be specified in a rule');
  }
  return rule;
}

/**
 * Parses a LifecycleConfiguration (PutBucketLifecycleConfiguration): 1 to 1000 `Rule`s, each with
 * a `Status` (Enabled / Disabled), an optional `ID` (up to 255 characters, unique; `newId` names a
 * rule without one), a `Filter` (one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan,
 * or And of several) or the legacy top-level `Prefix`, and at least one action: Expiration (one
 * of Days ≥ 1, Date at midnight UTC, ExpiredObjectDeleteMarker), AbortIncompleteMultipartUpload
 * (DaysAfterInitiation ≥ 1; with no tag or size filter), Transition, NoncurrentVersionTransition,
 * NoncurrentVersionExpiration.
 *
 * Errors, as S3 answers them: a document that does not validate (an unknown or repeated element,
 * a bad Status, both Filter and Prefix, an Expiration with several or no values, a value that is
 * not a number or a date) is `MalformedXML`; a day count out of range, a Date that is not at
 * midnight, an ID too long or repeated, size bounds that leave nothing are `InvalidArgument`;
 * no action in a rule, more than 1000 rules, duplicate tag keys, a tag or size filter with
 * AbortIncompleteMultipartUpload (or a tag filter with ExpiredObjectDeleteMarker) are
 * `InvalidRequest`.
 */
export function parseLifecycleConfiguration(body: string | Uint8Array, newId: () => string): LifecycleRule[] {
  const doc = parseXmlDocument(body, 'LifecycleConfiguration');
  if (doc.children.some((c) => c.name !== 'Rule')) throw malformed();
  if (doc.children.length === 0) throw malformed();
  if (doc.children.length > MAX_LIFECYCLE_RULES) {
    throw new S3Error('InvalidRequest', `The number of lifecycle rules should not exceed allowed limit of ${MAX_LIFECYCLE_RULES} rules`);
  }
  const rules = doc.children.map((el) => parseRule(el, newId));
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.id)) throw invalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID', r.id);
    seen.add(r.id);
  }
  return rules;
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString();
}

function tagXml(t: Tag): string {
  return `<Tag>${xmlLeaf('Key', t.key)}${xmlLeaf('Value', t.value)}</Tag>`;
}

function filterXml(f: LifecycleFilter): string {
  const inner = xmlLeaf('Prefix', f.prefix) + (f.tags ?? []).map(tagXml).join('') + xmlLeaf('ObjectSizeGreaterThan', f.gt) + xmlLeaf('ObjectSizeLessThan', f.lt);
  return `<Filter>${f.and ? `<And>${inner}</And>` : inner}</Filter>`;
}

function noncurrentXml(name: string, n: LifecycleNoncurrent): string {
  return `<${name}>${xmlLeaf('NoncurrentDays', n.days)}${xmlLeaf('StorageClass', n.storageClass)}${xmlLeaf('NewerNoncurrentVersions', n.newer)}</${name}>`;
}

/** The LifecycleConfiguration document of GetBucketLifecycleConfiguration. */
export function lifecycleConfigurationXml(rules: readonly LifecycleRule[]): string {
  let inner = '';
  for (const r of rules) {
    inner += '<Rule>';
    if (r.expiration) {
      const e = r.expiration;
      inner += `<Expiration>${xmlLeaf('Days', e.days)}${e.date !== undefined ? xmlLeaf('Date', isoDate(e.date)) : ''}${e.deleteMarker !== undefined ? xmlLeaf('ExpiredObjectDeleteMarker', String(e.deleteMarker)) : ''}</Expiration>`;
    }
    inner += xmlLeaf('ID', r.id);
    if (r.filter) inner += filterXml(r.filter);
    else if (r.prefix !== undefined) inner += xmlLeaf('Prefix', r.prefix);
    inner += xmlLeaf('Status', r.enabled ? 'Enabled' : 'Disabled');
    for (const t of r.transitions ?? []) inner += `<Transition>${t.date !== undefined ? xmlLeaf('Date', isoDate(t.date)) : ''}${xmlLeaf('Days', t.days)}${xmlLeaf('StorageClass', t.storageClass)}</Transition>`;
    for (const t of r.noncurrentTransitions ?? []) inner += noncurrentXml('NoncurrentVersionTransition', t);
    if (r.noncurrentExpiration) inner += noncurrentXml('NoncurrentVersionExpiration', r.noncurrentExpiration);
    if (r.abortDays !== undefined) inner += `<AbortIncompleteMultipartUpload>${xmlLeaf('DaysAfterInitiation', r.abortDays)}</AbortIncompleteMultipartUpload>`;
    inner += '</Rule>';
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<LifecycleConfiguration xmlns="${S3_XMLNS}">${inner}</LifecycleConfiguration>`;
}

// ---------------------------------------------------------------------------------------------
// Which rules apply, and when

/** The first midnight UTC after `t`. */
export function midnightAfter(t: number): number {
  return Math.floor(t / DAY_MS) * DAY_MS + DAY_MS;
}

/** The key prefix a rule is limited to ('' for none). */
export function rulePrefix(rule: LifecycleRule): string {
  return rule.filter?.prefix ?? rule.prefix ?? '';
}

/** Whether a rule's filter selects `o` (prefix, every tag with its exact value, size bounds). */
export function ruleMatches(rule: LifecycleRule, o: LifecycleSubject): boolean {
  if (!o.key.startsWith(rulePrefix(rule))) return false;
  const f = rule.filter;
  if (!f) return true;
  for (const t of f.tags ?? []) {
    if (!o.tags?.some((x) => x.key === t.key && x.value === t.value)) return false;
  }
  if (f.gt !== undefined && !(o.size > f.gt)) return false;
  if (f.lt !== undefined && !(o.size < f.lt)) return false;
  return true;
}

/**
 * When the enabled rules expire an object last modified at `lastModified` (ms), and which rule
 * does it (the earliest; the first of equals); undefined when none applies.
 */
export function objectExpiry(rules: readonly LifecycleRule[] | undefined, o: LifecycleSubject, lastModified: number): { at: number; ruleId: string } | undefined {
  let best: { at: number; ruleId: string } | undefined;
  for (const rule of rules ?? []) {
    const e = rule.expiration;
    if (!rule.enabled || !e || (e.days === undefined && e.date === undefined)) continue;
    if (!ruleMatches(rule, o)) continue;
    const at = e.days !== undefined ? midnightAfter(lastModified + e.days * DAY_MS) : e.date!;
    if (!best || at < best.at) best = { at, ruleId: rule.id };
  }
  return best;
}

/**
 * When the enabled rules' NoncurrentVersionExpiration removes a noncurrent version `o` that
 * became noncurrent at `since` (ms: when its successor was written) and has `newer` noncurrent
 * versions newer than itself (NewerNoncurrentVersions keeps that many); undefined when none
 * applies. NoncurrentDays count as Days do (to the next midnight UTC).
 */
export function noncurrentExpiry(rules: readonly LifecycleRule[] | undefined, o: LifecycleSubject, since: number, newer: number): { at: number; ruleId: string } | undefined {
  let best: { at: number; ruleId: string } | undefined;
  for (const rule of rules ?? []) {
    const e = rule.noncurrentExpiration;
    if (!rule.enabled || !e || !ruleMatches(rule, o)) continue;
    if (e.newer !== undefined && newer < e.newer) continue;
    const at = midnightAfter(since + e.days * DAY_MS);
    if (!best || at < best.at) best = { at, ruleId: rule.id };
  }
  return best;
}

/** Whether an enabled rule removes the expired delete markers of `key` (ExpiredObjectDeleteMarker). */
export function removesExpiredMarkers(rules: readonly LifecycleRule[] | undefined, key: string): boolean {
  return (rules ?? []).some((rule) => rule.enabled && rule.expiration?.deleteMarker === true && ruleMatches(rule, { key, size: 0 }));
}

/** When the enabled rules abort an upload of `key` initiated at `initiated` (ms); undefined when none applies. */
export function uploadAbortTime(rules: readonly LifecycleRule[] | undefined, key: string, initiated: number): { at: number; ruleId: string } | undefined {
  let best: { at: number; ruleId: string } | undefined;
  for (const rule of rules ?? []) {
    if (!rule.enabled || rule.abortDays === undefined || !key.startsWith(rulePrefix(rule))) continue;
    const at = midnightAfter(initiated + rule.abortDays * DAY_MS);
    if (!best || at < best.at) best = { at, ruleId: rule.id };
  }
  return best;
}

/** `x-amz-expiration` of an object `expiry` applies to: `expiry-date="<HTTP date>", rule-id="<URL-encoded id>"`. */
export function expirationHeaderValue(expiry: { at: number; ruleId: string }): string {
  return `expiry-date="${formatHttpDate(expiry.at)}", rule-id="${encodeURIComponent(expiry.ruleId)}"`;
}
