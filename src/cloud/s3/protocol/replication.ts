/**
 * The replication configuration document (PutBucketReplication / GetBucketReplication): parsing
 * with S3's refusals, the document answered back, and which rule applies to an object.
 *
 * Both schemas S3 accepts are read: V1 rules name their objects by a top-level `Prefix` (and
 * replicate delete markers), V2 rules by a `Filter` (Prefix, Tag, or And of them) with a
 * `Priority` and a `DeleteMarkerReplication` status. A configuration uses one schema throughout.
 * SSE-KMS objects are selected with SourceSelectionCriteria SseKmsEncryptedObjects and a
 * destination ReplicaKmsKeyID, as in S3. Elements for features Pi does not have (another account,
 * ACL translation, Replication Time Control, metrics, replica modification sync, existing-object
 * replication) are `NotImplemented` when they ask for the feature; their `Disabled` forms are
 * accepted and kept.
 */
import { S3Error } from './errors.ts';
import type { Tag } from './xml.ts';
import { leafText, parseXmlDocument, uniqueChildren } from './xml-parse.ts';
import type { XmlElement } from './xml-parse.ts';
import { xmlLeaf } from './xml-escape.ts';

/** Most rules in one configuration, as S3 allows. */
export const MAX_REPLICATION_RULES = 1000;
/** Longest rule ID. */
export const MAX_REPLICATION_RULE_ID = 255;

/** One replication rule. */
export interface ReplicationRule {
  id: string;
  enabled: boolean;
  /** V2 rules: precedence among rules that select the same object (higher wins). */
  priority?: number;
  /** Key prefix the rule selects ('' for every key): V1's Prefix, or the Filter's. */
  prefix: string;
  /** V2 Filter tags (each must be on the object with its exact value). */
  tags?: Tag[];
  /** The rule was written with a Filter (V2 schema); false: the legacy top-level Prefix (V1). */
  filtered: boolean;
  /** Whether the Filter was written with `And` (kept to answer the document as given). */
  and?: boolean;
  /** Destination bucket's name (from its ARN). */
  destination: string;
  /** Storage class of the replicas; absent: the source object's. */
  storageClass?: string;
  /** Delete markers are replicated (V1 always; V2 when DeleteMarkerReplication is Enabled). */
  deleteMarkers: boolean;
  /** SSE-KMS objects are replicated (SourceSelectionCriteria SseKmsEncryptedObjects Enabled), re-wrapped under this KMS key (the destination's ReplicaKmsKeyID). */
  replicaKmsKey?: string;
  /** SSE-KMS objects are selected too (SourceSelectionCriteria SseKmsEncryptedObjects Enabled; needs `replicaKmsKey`). */
  sseKms?: true;
  /** `Disabled` elements given, answered back (SourceSelectionCriteria, ExistingObjectReplication). */
  disabled?: { sseKms?: true; replicaModifications?: true; existing?: true };
}

/** A bucket's replication configuration. */
export interface ReplicationConfiguration {
  /** The IAM role, as given (there is no IAM here: it is kept and answered, not used). */
  role: string;
  rules: ReplicationRule[];
}

/** What a rule looks at to select an object version. */
export interface ReplicationSubject {
  key: string;
  tags?: readonly Tag[] | undefined;
}

const STORAGE_CLASSES = ['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'DEEP_ARCHIVE', 'OUTPOSTS', 'GLACIER_IR'];
const BUCKET_ARN = /^arn:aws:s3:::([^/]+)$/;

function malformed(): S3Error {
  return new S3Error('MalformedXML');
}

function notImplemented(what: string): S3Error {
  return new S3Error('NotImplemented', `${what} is not supported by this replication implementation.`);
}

/** An element holding `<Status>Disabled|Enabled</Status>` (and the `others` named); resolves with whether it is Enabled. */
function statusOf(el: XmlElement, others: readonly string[] = []): boolean {
  const status = uniqueChildren(el, ['Status', ...others]).get('Status');
  if (!status) throw malformed();
  const value = leafText(status);
  if (value !== 'Enabled' && value !== 'Disabled') throw malformed();
  return value === 'Enabled';
}

function parseTag(el: XmlElement): Tag {
  const f = uniqueChildren(el, ['Key', 'Value']);
  const key = f.get('Key');
  const value = f.get('Value');
  if (!key || !value) throw malformed();
  return { key: leafText(key), value: leafText(value) };
}

/** A Filter: one of Prefix, Tag, or And (Prefix and Tags). */
function parseFilter(el: XmlElement, rule: ReplicationRule): void {
  if (el.children.length > 1) throw malformed();
  const child = el.children[0];
  if (el.text.trim() !== '') throw malformed();
  if (!child) return;
  if (child.name === 'Prefix') rule.prefix = leafText(child);
  else if (child.name === 'Tag') rule.tags = [parseTag(child)];
  else if (child.name === 'And') {
    rule.and = true;
    const tags: Tag[] = [];
    let prefix: string | undefined;
    for (const c of child.children) {
      if (c.name === 'Prefix' && prefix === undefined) prefix = leafText(c);
      else if (c.name === 'Tag') tags.push(parseTag(c));
      else throw malformed();
    }
    if (prefix !== undefined) rule.prefix = prefix;
    if (tags.length > 0) rule.tags = tags;
  } else throw malformed();
  if (rule.tags && new Set(rule.tags.map((t) => t.key)).size !== rule.tags.length) throw new S3Error('InvalidRequest', 'Duplicate Tag Keys are not allowed.');
}

function parseDestination(el: XmlElement, rule: ReplicationRule): void {
  const f = uniqueChildren(el, ['Bucket', 'Account', 'StorageClass', 'AccessControlTranslation', 'EncryptionConfiguration', 'ReplicationTime', 'Metrics']);
  const bucket = f.get('Bucket');
  if (!bucket) throw malformed();
  const arn = leafText(bucket).trim();
  const match = BUCKET_ARN.exec(arn);
  if (!match) throw new S3Error('InvalidArgument', 'Invalid bucket ARN.', { fields: { ArgumentName: 'Bucket', ArgumentValue: arn } });
  rule.destination = match[1]!;
  const sc = f.get('StorageClass');
  if (sc) {
    const value = leafText(sc).trim();
    if (!STORAGE_CLASSES.includes(value)) throw malformed();
    rule.storageClass = value;
  }
  if (f.has('Account')) throw notImplemented('Destination Account (another account)');
  if (f.has('AccessControlTranslation')) throw notImplemented('AccessControlTranslation');
  const encryption = f.get('EncryptionConfiguration');
  if (encryption) {
    const keyEl = uniqueChildren(encryption, ['ReplicaKmsKeyID']).get('ReplicaKmsKeyID');
    if (!keyEl) throw malformed();
    rule.replicaKmsKey = leafText(keyEl).trim();
    if (rule.replicaKmsKey === '') throw malformed();
  }
  if (f.has('ReplicationTime') && statusOf(f.get('ReplicationTime')!, ['Time'])) throw notImplemented('Replication Time Control');
  if (f.has('Metrics')) throw notImplemented('Replication metrics');
}

function parseSelection(el: XmlElement, rule: ReplicationRule): void {
  const f = uniqueChildren(el, ['SseKmsEncryptedObjects', 'ReplicaModifications']);
  const kms = f.get('SseKmsEncryptedObjects');
  if (kms) {
    if (statusOf(kms)) rule.sseKms = true;
    else (rule.disabled ??= {}).sseKms = true;
  }
  const mods = f.get('ReplicaModifications');
  if (mods) {
    if (statusOf(mods)) throw notImplemented('Replica modification sync');
    (rule.disabled ??= {}).replicaModifications = true;
  }
}

function parseRule(el: XmlElement): ReplicationRule {
  const f = uniqueChildren(el, ['ID', 'Priority', 'Prefix', 'Filter', 'Status', 'SourceSelectionCriteria', 'ExistingObjectReplication', 'Destination', 'DeleteMarkerReplication']);
  const status = f.get('Status');
  const destination = f.get('Destination');
  if (!status || !destination) throw malformed();
  const statusText = leafText(status).trim();
  if (statusText !== 'Enabled' && statusText !== 'Disabled') throw malformed();
  const idEl = f.get('ID');
  const id = idEl ? leafText(idEl) : '';
  if (id.length > MAX_REPLICATION_RULE_ID) throw new S3Error('InvalidArgument', `ID length should not exceed allowed limit of ${MAX_REPLICATION_RULE_ID}`, { fields: { ArgumentName: 'ID', ArgumentValue: id } });
  const prefixEl = f.get('Prefix');
  const filterEl = f.get('Filter');
  if (prefixEl && filterEl) throw malformed();
  const rule: ReplicationRule = { id, enabled: statusText === 'Enabled', prefix: '', filtered: filterEl !== undefined, destination: '', deleteMarkers: filterEl === undefined };
  if (prefixEl) rule.prefix = leafText(prefixEl);
  if (filterEl) parseFilter(filterEl, rule);
  const priority = f.get('Priority');
  if (priority) {
    const text = leafText(priority).trim();
    if (!/^\d{1,9}$/.test(text)) throw malformed();
    rule.priority = Number(text);
  }
  parseDestination(destination, rule);
  const selection = f.get('SourceSelectionCriteria');
  if (selection) parseSelection(selection, rule);
  // As S3: the two go together.
  if (rule.sseKms && rule.replicaKmsKey === undefined) throw new S3Error('InvalidRequest', 'ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present.');
  if (!rule.sseKms && rule.replicaKmsKey !== undefined) throw new S3Error('InvalidRequest', 'SseKmsEncryptedObjects must be specified if EncryptionConfiguration is present.');
  const existing = f.get('ExistingObjectReplication');
  if (existing) {
    if (statusOf(existing)) throw notImplemented('Existing object replication');
    (rule.disabled ??= {}).existing = true;
  }
  const markers = f.get('DeleteMarkerReplication');
  if (rule.filtered) {
    // The V2 schema: S3 requires the delete marker choice to be explicit.
    if (!markers) throw new S3Error('InvalidRequest', 'DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.');
    rule.deleteMarkers = statusOf(markers);
    if (rule.deleteMarkers && rule.tags) throw new S3Error('InvalidRequest', 'Delete marker replication is not supported if any Tag filter is specified.');
    rule.priority ??= 0;
  } else if (markers || priority) throw malformed();
  return rule;
}

/**
 * Parses a ReplicationConfiguration: a `Role` and 1 to 1000 `Rule`s of one schema (see the
 * module comment); IDs unique (a rule without one is named by `newId`), V2 priorities unique.
 * Refusals as S3 answers them: a document that does not validate is `MalformedXML`; a bucket
 * that is not an `arn:aws:s3:::` ARN or an ID too long is `InvalidArgument`; a V2 rule without
 * DeleteMarkerReplication, duplicate IDs or priorities, duplicate tag keys, delete marker
 * replication with a tag filter, too many rules are `InvalidRequest`.
 */
export function parseReplicationConfiguration(body: string | Uint8Array, newId: () => string): ReplicationConfiguration {
  const doc = parseXmlDocument(body, 'ReplicationConfiguration');
  let role: string | undefined;
  const ruleEls: XmlElement[] = [];
  for (const child of doc.children) {
    if (child.name === 'Role' && role === undefined) role = leafText(child).trim();
    else if (child.name === 'Rule') ruleEls.push(child);
    else throw malformed();
  }
  if (role === undefined || ruleEls.length === 0) throw malformed();
  if (ruleEls.length > MAX_REPLICATION_RULES) throw new S3Error('InvalidRequest', `Number of rules in the replication configuration cannot exceed ${MAX_REPLICATION_RULES}.`);
  const rules = ruleEls.map(parseRule);
  if (rules.some((r) => r.filtered) && rules.some((r) => !r.filtered)) throw malformed();
  const ids = new Set<string>();
  const priorities = new Set<number>();
  for (const rule of rules) {
    if (rule.id === '') rule.id = newId();
    if (ids.has(rule.id)) throw new S3Error('InvalidRequest', 'Rule Id must be unique.');
    ids.add(rule.id);
    if (rule.filtered && rules.length > 1) {
      if (priorities.has(rule.priority!)) throw new S3Error('InvalidRequest', 'Found duplicate priority ' + rule.priority + ' when priority should be unique.');
      priorities.add(rule.priority!);
    }
  }
  return { role, rules };
}

function status(name: string, enabled: boolean): string {
  return `<${name}><Status>${enabled ? 'Enabled' : 'Disabled'}</Status></${name}>`;
}

function ruleXml(rule: ReplicationRule): string {
  let out = xmlLeaf('ID', rule.id) + xmlLeaf('Priority', rule.priority);
  if (!rule.filtered) out += xmlLeaf('Prefix', rule.prefix);
  else {
    const tags = (rule.tags ?? []).map((t) => `<Tag>${xmlLeaf('Key', t.key)}${xmlLeaf('Value', t.value)}</Tag>`).join('');
    const prefix = rule.prefix !== '' || (!rule.tags && !rule.and) ? xmlLeaf('Prefix', rule.prefix) : '';
    out += `<Filter>${rule.and ? `<And>${prefix}${tags}</And>` : prefix + tags}</Filter>`;
  }
  out += xmlLeaf('Status', rule.enabled ? 'Enabled' : 'Disabled');
  if (rule.sseKms || rule.disabled?.sseKms || rule.disabled?.replicaModifications) {
    const kms = rule.sseKms ? status('SseKmsEncryptedObjects', true) : rule.disabled?.sseKms ? status('SseKmsEncryptedObjects', false) : '';
    out += `<SourceSelectionCriteria>${kms}${rule.disabled?.replicaModifications ? status('ReplicaModifications', false) : ''}</SourceSelectionCriteria>`;
  }
  if (rule.disabled?.existing) out += status('ExistingObjectReplication', false);
  const encryption = rule.replicaKmsKey !== undefined ? `<EncryptionConfiguration>${xmlLeaf('ReplicaKmsKeyID', rule.replicaKmsKey)}</EncryptionConfiguration>` : '';
  out += `<Destination>${xmlLeaf('Bucket', `arn:aws:s3:::${rule.destination}`)}${xmlLeaf('StorageClass', rule.storageClass)}${encryption}</Destination>`;
  if (rule.filtered) out += status('DeleteMarkerReplication', rule.deleteMarkers);
  return `<Rule>${out}</Rule>`;
}

/** The GetBucketReplication document. */
export function replicationConfigurationXml(config: ReplicationConfiguration): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    xmlLeaf('Role', config.role) +
    config.rules.map(ruleXml).join('') +
    '</ReplicationConfiguration>'
  );
}

/** Whether `rule` selects `o`: its prefix, and every tag of its filter with the exact value. */
export function replicationRuleMatches(rule: ReplicationRule, o: ReplicationSubject): boolean {
  if (!o.key.startsWith(rule.prefix)) return false;
  for (const t of rule.tags ?? []) if (!o.tags?.some((x) => x.key === t.key && x.value === t.value)) return false;
  return true;
}

/**
 * The rule that replicates `o`: among the enabled rules that select it, the one with the highest
 * priority (V2), or the first (V1); undefined when none does.
 */
export function replicationRuleFor(config: ReplicationConfiguration | undefined, o: ReplicationSubject): ReplicationRule | undefined {
  let best: ReplicationRule | undefined;
  for (const rule of config?.rules ?? []) {
    if (!rule.enabled || !replicationRuleMatches(rule, o)) continue;
    if (!best || (rule.priority ?? 0) > (best.priority ?? 0)) best = rule;
  }
  return best;
}
