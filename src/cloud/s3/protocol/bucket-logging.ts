/**
 * Server access logging, the configuration document: the BucketLoggingStatus of
 * PutBucketLogging / GetBucketLogging, parsed with S3's validation and written back in S3's
 * element order (TargetBucket, TargetPrefix, TargetGrants, TargetObjectKeyFormat, as S3's own
 * examples write it). An empty BucketLoggingStatus means "logging disabled".
 *
 * Pure: no clock, no I/O. What the record and the log object key look like is access-log.ts.
 */
import { S3Error } from './errors.ts';
import { xmlLeaf } from './xml-escape.ts';
import { leafText, parseXmlDocument, uniqueChildren } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { S3_XMLNS, granteeXml, parseGrantee } from './xml.ts';
import type { Grantee } from './xml.ts';

/** The permissions a TargetGrant may give on the log objects (S3's BucketLogsPermission). */
export const LOG_PERMISSIONS = ['FULL_CONTROL', 'READ', 'WRITE'] as const;
/** A permission of a TargetGrant. */
export type LogPermission = (typeof LOG_PERMISSIONS)[number];

/** Which date PartitionedPrefix keys are partitioned by. */
export type PartitionDateSource = 'EventTime' | 'DeliveryTime';

/**
 * TargetObjectKeyFormat as given: SimplePrefix (`[prefix]YYYY-mm-DD-HH-MM-SS-Unique`) or
 * PartitionedPrefix (`[prefix][owner]/[region]/[bucket]/YYYY/MM/DD/…`), its date source kept
 * only when it was given (it reads back the same; absent behaves as EventTime).
 */
export type LogKeyFormat = { simple: true } | { partitioned: true; dateSource?: PartitionDateSource };

/** One TargetGrant. */
export interface LogGrant {
  grantee: Grantee;
  permission: LogPermission;
}

/** LoggingEnabled: where a bucket's access log records go (`G`: how a grant is kept). */
export interface LoggingConfiguration<G = LogGrant> {
  targetBucket: string;
  /** TargetPrefix ('' when empty or absent). */
  targetPrefix: string;
  targetGrants?: G[] | undefined;
  keyFormat?: LogKeyFormat | undefined;
}

/** Longest TargetPrefix accepted: a key is at most 1024 bytes and the rest of a partitioned key needs room. */
export const MAX_TARGET_PREFIX_BYTES = 512;

function parseGrant(el: XmlElement): LogGrant {
  if (el.name !== 'Grant') throw new S3Error('MalformedXML');
  const parts = uniqueChildren(el, ['Grantee', 'Permission']);
  const granteeEl = parts.get('Grantee');
  const permissionEl = parts.get('Permission');
  if (!granteeEl || !permissionEl) throw new S3Error('MalformedXML');
  const permission = leafText(permissionEl).trim();
  if (!(LOG_PERMISSIONS as readonly string[]).includes(permission)) throw new S3Error('MalformedXML');
  let grantee: Grantee;
  try {
    grantee = parseGrantee(granteeEl);
  } catch {
    throw new S3Error('MalformedXML');
  }
  return { grantee, permission: permission as LogPermission };
}

function parseKeyFormat(el: XmlElement): LogKeyFormat {
  const parts = uniqueChildren(el, ['SimplePrefix', 'PartitionedPrefix']);
  const simple = parts.get('SimplePrefix');
  const partitioned = parts.get('PartitionedPrefix');
  // Exactly one of the two.
  if ((simple === undefined) === (partitioned === undefined)) throw new S3Error('MalformedXML');
  if (simple) {
    uniqueChildren(simple, []);
    return { simple: true };
  }
  const source = uniqueChildren(partitioned!, ['PartitionDateSource']).get('PartitionDateSource');
  if (!source) return { partitioned: true };
  const value = leafText(source).trim();
  if (value !== 'EventTime' && value !== 'DeliveryTime') throw new S3Error('MalformedXML');
  return { partitioned: true, dateSource: value };
}

/**
 * Parses a PutBucketLogging body: `undefined` for an empty BucketLoggingStatus (logging
 * disabled), else the LoggingEnabled it holds. Unknown, repeated or misplaced elements, a
 * missing TargetBucket, a grant permission other than FULL_CONTROL / READ / WRITE, a grantee
 * without its type or identifier, or a TargetObjectKeyFormat that is not exactly one of
 * SimplePrefix / PartitionedPrefix (EventTime | DeliveryTime) are `MalformedXML`, as S3 answers.
 * An absent TargetPrefix is taken as empty (S3's schema requires the element, clients send it).
 */
export function parseBucketLoggingStatus(body: string | Uint8Array): LoggingConfiguration | undefined {
  const doc = parseXmlDocument(body, 'BucketLoggingStatus');
  const enabled = uniqueChildren(doc, ['LoggingEnabled']).get('LoggingEnabled');
  if (!enabled) return undefined;
  const parts = uniqueChildren(enabled, ['TargetBucket', 'TargetPrefix', 'TargetGrants', 'TargetObjectKeyFormat']);
  const bucketEl = parts.get('TargetBucket');
  if (!bucketEl) throw new S3Error('MalformedXML');
  const targetBucket = leafText(bucketEl).trim();
  if (targetBucket === '') throw new S3Error('MalformedXML');
  const prefixEl = parts.get('TargetPrefix');
  const targetPrefix = prefixEl ? leafText(prefixEl) : '';
  if (Buffer.byteLength(targetPrefix) > MAX_TARGET_PREFIX_BYTES) {
    throw new S3Error('InvalidArgument', `The TargetPrefix must be at most ${MAX_TARGET_PREFIX_BYTES} bytes long.`, { fields: { ArgumentName: 'TargetPrefix' } });
  }
  const out: LoggingConfiguration = { targetBucket, targetPrefix };
  const grantsEl = parts.get('TargetGrants');
  if (grantsEl) {
    if (grantsEl.text.trim() !== '') throw new S3Error('MalformedXML');
    out.targetGrants = grantsEl.children.map(parseGrant);
  }
  const formatEl = parts.get('TargetObjectKeyFormat');
  if (formatEl) out.keyFormat = parseKeyFormat(formatEl);
  return out;
}

/** The BucketLoggingStatus document of GetBucketLogging (empty when `config` is undefined: logging disabled). */
export function bucketLoggingStatusXml(config: LoggingConfiguration | undefined): string {
  let inner = '';
  if (config) {
    inner += '<LoggingEnabled>' + xmlLeaf('TargetBucket', config.targetBucket) + xmlLeaf('TargetPrefix', config.targetPrefix);
    if (config.targetGrants) {
      inner += '<TargetGrants>';
      for (const g of config.targetGrants) inner += `<Grant>${granteeXml(g.grantee)}${xmlLeaf('Permission', g.permission)}</Grant>`;
      inner += '</TargetGrants>';
    }
    const f = config.keyFormat;
    if (f) {
      const body = 'simple' in f ? '<SimplePrefix></SimplePrefix>' : `<PartitionedPrefix>${f.dateSource ? xmlLeaf('PartitionDateSource', f.dateSource) : ''}</PartitionedPrefix>`;
      inner += `<TargetObjectKeyFormat>${body}</TargetObjectKeyFormat>`;
    }
    inner += '</LoggingEnabled>';
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<BucketLoggingStatus xmlns="${S3_XMLNS}">${inner}</BucketLoggingStatus>`;
}

/** Whether a (partitioned) key format partitions by event time (the default) rather than delivery time. */
export function partitionsByEventTime(format: LogKeyFormat | undefined): boolean {
  return format !== undefined && 'partitioned' in format && format.dateSource !== 'DeliveryTime';
}
