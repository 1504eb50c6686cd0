/**
 * S3 Object Lock on the wire: the ObjectLockConfiguration, Retention and LegalHold documents
 * (PutObjectLockConfiguration / GetObjectLockConfiguration, PutObjectRetention /
 * GetObjectRetention, PutObjectLegalHold / GetObjectLegalHold), the `x-amz-object-lock-*`
 * headers of object writes, and the rules of a retention change. Errors are the ones S3 answers:
 * `MalformedXML` for a document that is not one of these, `InvalidArgument` for a bad value.
 */
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';
import { childElement, childText, parseXmlDocument } from './xml-parse.ts';
import { escapeXml } from './xml-escape.ts';

/** A retention mode. */
export type RetentionMode = 'GOVERNANCE' | 'COMPLIANCE';

/** A legal hold status. */
export type LegalHoldStatus = 'ON' | 'OFF';

/** A bucket's default retention (the Rule of its Object Lock configuration): Days or Years. */
export interface DefaultRetention {
  mode: RetentionMode;
  days?: number;
  years?: number;
}

/** A bucket's Object Lock configuration (ObjectLockEnabled is always Enabled). */
export interface ObjectLockConfiguration {
  rule?: DefaultRetention;
}

/** A version's retention: its mode and the time (ms) until which it holds. */
export interface Retention {
  mode: RetentionMode;
  until: number;
}

/** Longest default retention S3 accepts. */
export const MAX_RETENTION_DAYS = 36500;
export const MAX_RETENTION_YEARS = 100;

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** The message of S3's AccessDenied for a version Object Lock protects. */
export const OBJECT_LOCKED_MESSAGE = 'Access Denied because object protected by object lock.';

/** `InvalidRequest` for a lock operation on a bucket without Object Lock (`headers`: a write with lock headers, as S3 words it there). */
export function missingLockConfiguration(headers = false): S3Error {
  return new S3Error('InvalidRequest', headers ? 'Bucket is missing ObjectLockConfiguration' : 'Bucket is missing Object Lock Configuration');
}

function isMode(value: string | undefined): value is RetentionMode {
  return value === 'GOVERNANCE' || value === 'COMPLIANCE';
}

/** A positive integer of a document (digits only), else undefined. */
function positiveInteger(text: string): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n > 0 ? n : undefined;
}

/**
 * Parses an ObjectLockConfiguration body: `ObjectLockEnabled` must be `Enabled` (Object Lock
 * cannot be turned off); an optional `Rule` holds a `DefaultRetention` with a `Mode` and exactly
 * one of `Days` / `Years`, a positive integer (`InvalidArgument` otherwise).
 */
export function parseObjectLockConfiguration(body: string | Uint8Array): ObjectLockConfiguration {
  const doc = parseXmlDocument(body, 'ObjectLockConfiguration');
  if (childText(doc, 'ObjectLockEnabled')?.trim() !== 'Enabled') throw new S3Error('MalformedXML');
  const rule = childElement(doc, 'Rule');
  if (!rule) return {};
  const retention = childElement(rule, 'DefaultRetention');
  if (!retention) throw new S3Error('MalformedXML');
  const mode = childText(retention, 'Mode')?.trim();
  const days = childText(retention, 'Days')?.trim();
  const years = childText(retention, 'Years')?.trim();
  if (!isMode(mode) || (days === undefined) === (years === undefined)) throw new S3Error('MalformedXML');
  const n = positiveInteger((days ?? years)!);
  if (n === undefined) throw new S3Error('InvalidArgument', 'Default retention period must be a positive integer value.', { fields: { ArgumentName: days !== undefined ? 'Days' : 'Years', ArgumentValue: (days ?? years)! } });
  if (days !== undefined ? n > MAX_RETENTION_DAYS : n > MAX_RETENTION_YEARS) {
    throw new S3Error('InvalidArgument', `Default retention period cannot exceed ${days !== undefined ? `${MAX_RETENTION_DAYS} days` : `${MAX_RETENTION_YEARS} years`}.`, {
      fields: { ArgumentName: days !== undefined ? 'Days' : 'Years', ArgumentValue: String(n) },
    });
  }
  return { rule: days !== undefined ? { mode, days: n } : { mode, years: n } };
}

/** The ObjectLockConfiguration document of GetObjectLockConfiguration. */
export function objectLockConfigurationXml(config: ObjectLockConfiguration): string {
  let inner = '<ObjectLockEnabled>Enabled</ObjectLockEnabled>';
  const r = config.rule;
  if (r) {
    const period = r.days !== undefined ? `<Days>${r.days}</Days>` : `<Years>${r.years ?? 0}</Years>`;
    inner += `<Rule><DefaultRetention><Mode>${r.mode}</Mode>${period}</DefaultRetention></Rule>`;
  }
  return `${DECLARATION}<ObjectLockConfiguration xmlns="${XMLNS}">${inner}</ObjectLockConfiguration>`;
}

/** When a default retention applied at `now` (ms) ends: Days of 24 hours, or calendar years (UTC). */
export function defaultRetentionUntil(rule: DefaultRetention, now: number): number {
  if (rule.days !== undefined) return now + rule.days * 86_400_000;
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() + (rule.years ?? 0));
  return d.getTime();
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** A retain-until date (ISO 8601 with a time zone) as ms; undefined when it is not one. */
export function parseRetainUntilDate(text: string): number | undefined {
  const t = text.trim();
  if (!ISO_8601.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

function invalidDate(value: string): S3Error {
  return new S3Error('InvalidArgument', 'The retain until date must be provided in ISO 8601 format', { fields: { ArgumentName: 'RetainUntilDate', ArgumentValue: value } });
}

function pastDate(value: string): S3Error {
  return new S3Error('InvalidArgument', 'The retain until date must be in the future!', { fields: { ArgumentName: 'RetainUntilDate', ArgumentValue: value } });
}

/** What the lock headers of an object write ask for. */
export interface LockHeaders {
  retention?: Retention;
  legalHold?: LegalHoldStatus;
}

/** Whether a write carries any `x-amz-object-lock-*` header. */
export function hasLockHeaders(headers: HeaderMap): boolean {
  return getHeader(headers, 'x-amz-object-lock-mode') !== undefined || getHeader(headers, 'x-amz-object-lock-retain-until-date') !== undefined || getHeader(headers, 'x-amz-object-lock-legal-hold') !== undefined;
}

/**
 * The `x-amz-object-lock-mode`, `x-amz-object-lock-retain-until-date` (both or neither; the date
 * in the future of `now`) and `x-amz-object-lock-legal-hold` headers of PutObject, CopyObject and
 * CreateMultipartUpload.
 */
export function parseLockHeaders(headers: HeaderMap, now: number): LockHeaders {
  const out: LockHeaders = {};
  const mode = getHeader(headers, 'x-amz-object-lock-mode');
  const date = getHeader(headers, 'x-amz-object-lock-retain-until-date');
  const hold = getHeader(headers, 'x-amz-object-lock-legal-hold');
  if ((mode === undefined) !== (date === undefined)) {
    throw new S3Error('InvalidArgument', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied', {
      fields: mode === undefined ? { ArgumentName: 'x-amz-object-lock-mode' } : { ArgumentName: 'x-amz-object-lock-retain-until-date' },
    });
  }
  if (mode !== undefined && date !== undefined) {
    if (!isMode(mode)) throw new S3Error('InvalidArgument', 'Unknown wormMode directive.', { fields: { ArgumentName: 'x-amz-object-lock-mode', ArgumentValue: mode } });
    const until = parseRetainUntilDate(date);
    if (until === undefined) throw invalidDate(date);
    if (until <= now) throw pastDate(date);
    out.retention = { mode, until };
  }
  if (hold !== undefined) {
    if (hold !== 'ON' && hold !== 'OFF') throw new S3Error('InvalidArgument', "Legal Hold must be either of 'ON' or 'OFF'", { fields: { ArgumentName: 'x-amz-object-lock-legal-hold', ArgumentValue: hold } });
    out.legalHold = hold;
  }
  return out;
}

/**
 * Parses a Retention body (PutObjectRetention): `Mode` and `RetainUntilDate` together (the date
 * in the future of `now`), or neither (an empty `<Retention/>` removes the retention).
 */
export function parseRetention(body: string | Uint8Array, now: number): Retention | undefined {
  const doc = parseXmlDocument(body, 'Retention');
  const mode = childText(doc, 'Mode')?.trim();
  const date = childText(doc, 'RetainUntilDate')?.trim();
  if (mode === undefined && date === undefined) return undefined;
  if (mode === undefined || date === undefined || !isMode(mode)) throw new S3Error('MalformedXML');
  const until = parseRetainUntilDate(date);
  if (until === undefined) throw invalidDate(date);
  if (until <= now) throw pastDate(date);
  return { mode, until };
}

/** The Retention document of GetObjectRetention. */
export function retentionXml(r: Retention): string {
  return `${DECLARATION}<Retention xmlns="${XMLNS}"><Mode>${r.mode}</Mode><RetainUntilDate>${escapeXml(new Date(r.until).toISOString())}</RetainUntilDate></Retention>`;
}

/** Parses a LegalHold body (PutObjectLegalHold): `Status` ON or OFF. */
export function parseLegalHold(body: string | Uint8Array): LegalHoldStatus {
  const doc = parseXmlDocument(body, 'LegalHold');
  const status = childText(doc, 'Status')?.trim();
  if (status !== 'ON' && status !== 'OFF') throw new S3Error('MalformedXML');
  return status;
}

/** The LegalHold document of GetObjectLegalHold. */
export function legalHoldXml(status: LegalHoldStatus): string {
  return `${DECLARATION}<LegalHold xmlns="${XMLNS}"><Status>${status}</Status></LegalHold>`;
}

/** Whether a retention still holds at `now`. */
export function retentionActive(r: Retention | undefined, now: number): r is Retention {
  return r !== undefined && r.until > now;
}

/**
 * Whether replacing retention `current` by `next` (undefined: removing it) is allowed at `now`
 * without bypassing governance: an expired or absent retention may be changed freely; an active
 * one only extended in the same mode. With `bypass` (x-amz-bypass-governance-retention and the
 * permission), an active GOVERNANCE retention may be changed in any way; COMPLIANCE never.
 */
export function retentionChangeAllowed(current: Retention | undefined, next: Retention | undefined, now: number, bypass: boolean): boolean {
  if (!retentionActive(current, now)) return true;
  if (next !== undefined && next.mode === current.mode && next.until >= current.until) return true;
  return current.mode === 'GOVERNANCE' && bypass;
}

/**
 * Whether a version may be removed for good at `now`: not while a legal hold is ON, nor while a
 * retention holds (a GOVERNANCE one gives way to `bypass`).
 */
export function versionRemovable(lock: { retention?: Retention | undefined; legalHold?: LegalHoldStatus | undefined }, now: number, bypass: boolean): boolean {
  if (lock.legalHold === 'ON') return false;
  if (!retentionActive(lock.retention, now)) return true;
  return lock.retention.mode === 'GOVERNANCE' && bypass;
}
