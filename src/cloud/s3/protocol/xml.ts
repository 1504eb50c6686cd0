/**
 * XML bodies of the S3 API: builders for every response document the S3 application returns and
 * parsers (with the validation AWS applies) for the request documents it accepts.
 *
 * Builders write the `<?xml …?>` declaration and the S3 namespace on the root, timestamps as ISO
 * 8601 with milliseconds, ETags quoted (`&quot;…&quot;` once escaped, as AWS writes them), and
 * apply `encoding-type=url` to exactly the elements AWS encodes. Parsers go through
 * {@link parseXmlDocument}: no entity expansion, every failure an {@link S3Error}.
 */
import { escapeXml } from './xml-escape.ts';
import { S3Error } from './errors.ts';
import {
  CHECKSUM_ALGORITHMS,
  checksumFieldName,
  parseChecksumValue,
  type ChecksumAlgorithm,
} from './checksums.ts';
import { childElement, childElements, childText, parseXmlDocument, uniqueChildren, type XmlElement } from './xml-parse.ts';
import { uriEncode } from './uri.ts';

/** The S3 XML namespace. */
export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** Timestamp as S3 writes it in XML: ISO 8601 with milliseconds, `2024-01-01T00:00:00.000Z`. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** Quotes an ETag for output unless it already is (`abc` → `"abc"`). */
export function quoteEtag(etag: string): string {
  return etag.startsWith('"') && etag.endsWith('"') && etag.length >= 2 ? etag : `"${etag}"`;
}

/** Removes the quotes (and a weak `W/` prefix) from an ETag as a client sent it. */
export function unquoteEtag(etag: string): string {
  let t = etag.trim();
  if (t.startsWith('W/')) t = t.slice(2);
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function leaf(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function optional(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : leaf(name, value);
}

function root(name: string, inner: string): string {
  return `${DECLARATION}<${name} xmlns="${S3_XMLNS}">${inner}</${name}>`;
}

/** The value of the `encoding-type` request parameter: only `url` exists. */
export type EncodingType = 'url';

/** `encoding-type=url` encoding of a name: AWS UriEncode with `/` kept. */
function encodeName(value: string, encoding: EncodingType | undefined): string {
  return encoding === 'url' ? uriEncode(value, false) : value;
}

/** An owner or initiator. */
export interface Owner {
  id: string;
  displayName?: string;
}

function ownerXml(tag: string, owner: Owner | undefined): string {
  if (owner === undefined) return '';
  return `<${tag}>${leaf('ID', owner.id)}${optional('DisplayName', owner.displayName)}</${tag}>`;
}

/** Flexible checksums of an object or part, base64 by algorithm. */
export type ChecksumValues = Partial<Record<ChecksumAlgorithm, string>>;
/** How a multipart object's checksum was computed. */
export type ChecksumType = 'COMPOSITE' | 'FULL_OBJECT';

function checksumsXml(checksums: ChecksumValues | undefined): string {
  if (checksums === undefined) return '';
  let out = '';
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = checksums[algorithm];
    if (value !== undefined) out += leaf(checksumFieldName(algorithm), value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Service and bucket documents

/** A bucket in ListBuckets. */
export interface BucketSummary {
  name: string;
  creationDate: number;
  region?: string;
}

/** ListAllMyBucketsResult (ListBuckets). */
export function listAllMyBucketsXml(input: {
  owner: Owner;
  buckets: readonly BucketSummary[];
  continuationToken?: string;
  prefix?: string;
}): string {
  let inner = ownerXml('Owner', input.owner) + '<Buckets>';
  for (const b of input.buckets) {
    inner += `<Bucket>${leaf('Name', b.name)}${leaf('CreationDate', isoTimestamp(b.creationDate))}${optional('BucketRegion', b.region)}</Bucket>`;
  }
  inner += '</Buckets>' + optional('ContinuationToken', input.continuationToken) + optional('Prefix', input.prefix);
  return root('ListAllMyBucketsResult', inner);
}

/**
 * LocationConstraint (GetBucketLocation): empty for us-east-1 (or no region), as AWS answers.
 */
export function locationConstraintXml(region: string | undefined): string {
  if (region === undefined || region === '' || region === 'us-east-1') {
    return `${DECLARATION}<LocationConstraint xmlns="${S3_XMLNS}"/>`;
  }
  return root('LocationConstraint', escapeXml(region));
}

/** A document with no content but its root element (a bucket configuration that is not set). */
export function emptyDocumentXml(rootName: string, inner = ''): string {
  return root(rootName, inner);
}

/** VersioningConfiguration (GetBucketVersioning); no status for a never-versioned bucket. */
export function versioningConfigurationXml(status?: 'Enabled' | 'Suspended', mfaDelete?: 'Enabled' | 'Disabled'): string {
  return root('VersioningConfiguration', optional('Status', status) + optional('MfaDelete', mfaDelete));
}

// ---------------------------------------------------------------------------------------------
// Listings

/** An object in a listing. */
export interface ObjectSummary {
  key: string;
  lastModified: number;
  /** ETag, quoted or not. */
  etag: string;
  size: number;
  /** Defaults to STANDARD. */
  storageClass?: string;
  /** Written when present (v1 always passes it, v2 only with fetch-owner=true). */
  owner?: Owner;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
}

function contentsXml(o: ObjectSummary, encoding: EncodingType | undefined, withOwner: boolean): string {
  return (
    '<Contents>' +
    leaf('Key', encodeName(o.key, encoding)) +
    leaf('LastModified', isoTimestamp(o.lastModified)) +
    leaf('ETag', quoteEtag(o.etag)) +
    optional('ChecksumAlgorithm', o.checksumAlgorithm) +
    optional('ChecksumType', o.checksumType) +
    leaf('Size', o.size) +
    (withOwner ? ownerXml('Owner', o.owner) : '') +
    leaf('StorageClass', o.storageClass ?? 'STANDARD') +
    '</Contents>'
  );
}

function commonPrefixesXml(prefixes: readonly string[], encoding: EncodingType | undefined): string {
  let out = '';
  for (const p of prefixes) out += `<CommonPrefixes>${leaf('Prefix', encodeName(p, encoding))}</CommonPrefixes>`;
  return out;
}

/** A ListObjects (v1) page. */
export interface ListObjectsV1Result {
  name: string;
  prefix: string;
  marker: string;
  /** Only written when set (AWS: when a delimiter was given and the page is truncated). */
  nextMarker?: string;
  maxKeys: number;
  /** Omitted when undefined or empty. */
  delimiter?: string;
  encodingType?: EncodingType;
  isTruncated: boolean;
  contents: readonly ObjectSummary[];
  commonPrefixes: readonly string[];
}

/**
 * ListBucketResult for ListObjects (v1). With `encoding-type=url`, Prefix, Marker, NextMarker,
 * Delimiter, Key and CommonPrefixes/Prefix are URL-encoded. Owner is written for entries that
 * carry one.
 */
export function listObjectsV1Xml(r: ListObjectsV1Result): string {
  const e = r.encodingType;
  let inner =
    leaf('Name', r.name) +
    leaf('Prefix', encodeName(r.prefix, e)) +
    leaf('Marker', encodeName(r.marker, e)) +
    (r.nextMarker === undefined ? '' : leaf('NextMarker', encodeName(r.nextMarker, e))) +
    leaf('MaxKeys', r.maxKeys) +
    (r.delimiter ? leaf('Delimiter', encodeName(r.delimiter, e)) : '') +
    optional('EncodingType', e) +
    leaf('IsTruncated', r.isTruncated);
  for (const o of r.contents) inner += contentsXml(o, e, true);
  inner += commonPrefixesXml(r.commonPrefixes, e);
  return root('ListBucketResult', inner);
}

/** A ListObjectsV2 page. */
export interface ListObjectsV2Result {
  name: string;
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  encodingType?: EncodingType;
  keyCount: number;
  isTruncated: boolean;
  /** Echo of the request's continuation-token. */
  continuationToken?: string;
  nextContinuationToken?: string;
  /** Echo of the request's start-after. */
  startAfter?: string;
  /** Write Owner elements (fetch-owner=true). */
  fetchOwner?: boolean;
  contents: readonly ObjectSummary[];
  commonPrefixes: readonly string[];
}

/**
 * ListBucketResult for ListObjectsV2. With `encoding-type=url`, Prefix, Delimiter, StartAfter,
 * Key and CommonPrefixes/Prefix are URL-encoded; the continuation tokens never are.
 */
export function listObjectsV2Xml(r: ListObjectsV2Result): string {
  const e = r.encodingType;
  let inner =
    leaf('Name', r.name) +
    leaf('Prefix', encodeName(r.prefix, e)) +
    (r.delimiter ? leaf('Delimiter', encodeName(r.delimiter, e)) : '') +
    leaf('MaxKeys', r.maxKeys) +
    optional('EncodingType', e) +
    leaf('KeyCount', r.keyCount) +
    leaf('IsTruncated', r.isTruncated) +
    optional('ContinuationToken', r.continuationToken) +
    optional('NextContinuationToken', r.nextContinuationToken) +
    (r.startAfter === undefined ? '' : leaf('StartAfter', encodeName(r.startAfter, e)));
  for (const o of r.contents) inner += contentsXml(o, e, r.fetchOwner === true);
  inner += commonPrefixesXml(r.commonPrefixes, e);
  return root('ListBucketResult', inner);
}

// ---------------------------------------------------------------------------------------------
// Copy and multipart

/** Result of a copy (object or part). */
export interface CopyResult {
  etag: string;
  lastModified: number;
  checksums?: ChecksumValues;
  checksumType?: ChecksumType;
}

/** CopyObjectResult (CopyObject). */
export function copyObjectResultXml(r: CopyResult): string {
  return root(
    'CopyObjectResult',
    leaf('ETag', quoteEtag(r.etag)) + leaf('LastModified', isoTimestamp(r.lastModified)) + optional('ChecksumType', r.checksumType) + checksumsXml(r.checksums),
  );
}

/** CopyPartResult (UploadPartCopy). */
export function copyPartResultXml(r: CopyResult): string {
  return root('CopyPartResult', leaf('ETag', quoteEtag(r.etag)) + leaf('LastModified', isoTimestamp(r.lastModified)) + checksumsXml(r.checksums));
}

/** InitiateMultipartUploadResult (CreateMultipartUpload). */
export function initiateMultipartUploadXml(r: { bucket: string; key: string; uploadId: string }): string {
  return root('InitiateMultipartUploadResult', leaf('Bucket', r.bucket) + leaf('Key', r.key) + leaf('UploadId', r.uploadId));
}

/** CompleteMultipartUploadResult (CompleteMultipartUpload). */
export function completeMultipartUploadXml(r: {
  location: string;
  bucket: string;
  key: string;
  etag: string;
  checksums?: ChecksumValues;
  checksumType?: ChecksumType;
}): string {
  return root(
    'CompleteMultipartUploadResult',
    leaf('Location', r.location) +
      leaf('Bucket', r.bucket) +
      leaf('Key', r.key) +
      leaf('ETag', quoteEtag(r.etag)) +
      checksumsXml(r.checksums) +
      optional('ChecksumType', r.checksumType),
  );
}

/** A part in ListParts. */
export interface PartSummary {
  partNumber: number;
  lastModified: number;
  etag: string;
  size: number;
  checksums?: ChecksumValues;
}

/** ListPartsResult (ListParts). */
export interface ListPartsResult {
  bucket: string;
  key: string;
  uploadId: string;
  partNumberMarker: number;
  nextPartNumberMarker: number;
  maxParts: number;
  isTruncated: boolean;
  parts: readonly PartSummary[];
  initiator: Owner;
  owner: Owner;
  storageClass?: string;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
}

/** ListPartsResult document. */
export function listPartsXml(r: ListPartsResult): string {
  let inner =
    leaf('Bucket', r.bucket) +
    leaf('Key', r.key) +
    leaf('UploadId', r.uploadId) +
    leaf('PartNumberMarker', r.partNumberMarker) +
    leaf('NextPartNumberMarker', r.nextPartNumberMarker) +
    leaf('MaxParts', r.maxParts) +
    leaf('IsTruncated', r.isTruncated);
  for (const p of r.parts) {
    inner +=
      '<Part>' +
      leaf('PartNumber', p.partNumber) +
      leaf('LastModified', isoTimestamp(p.lastModified)) +
      leaf('ETag', quoteEtag(p.etag)) +
      leaf('Size', p.size) +
      checksumsXml(p.checksums) +
      '</Part>';
  }
  inner +=
    ownerXml('Initiator', r.initiator) +
    ownerXml('Owner', r.owner) +
    leaf('StorageClass', r.storageClass ?? 'STANDARD') +
    optional('ChecksumAlgorithm', r.checksumAlgorithm) +
    optional('ChecksumType', r.checksumType);
  return root('ListPartsResult', inner);
}

/** An in-progress upload in ListMultipartUploads. */
export interface UploadSummary {
  key: string;
  uploadId: string;
  initiator: Owner;
  owner: Owner;
  storageClass?: string;
  initiated: number;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
}

/** ListMultipartUploadsResult (ListMultipartUploads). */
export interface ListMultipartUploadsResult {
  bucket: string;
  keyMarker: string;
  uploadIdMarker: string;
  nextKeyMarker: string;
  nextUploadIdMarker: string;
  delimiter?: string;
  prefix: string;
  encodingType?: EncodingType;
  maxUploads: number;
  isTruncated: boolean;
  uploads: readonly UploadSummary[];
  commonPrefixes: readonly string[];
}

/**
 * ListMultipartUploadsResult document. With `encoding-type=url`, KeyMarker, NextKeyMarker,
 * Prefix, Delimiter, Key and CommonPrefixes/Prefix are URL-encoded.
 */
export function listMultipartUploadsXml(r: ListMultipartUploadsResult): string {
  const e = r.encodingType;
  let inner =
    leaf('Bucket', r.bucket) +
    leaf('KeyMarker', encodeName(r.keyMarker, e)) +
    leaf('UploadIdMarker', r.uploadIdMarker) +
    leaf('NextKeyMarker', encodeName(r.nextKeyMarker, e)) +
    leaf('NextUploadIdMarker', r.nextUploadIdMarker) +
    (r.delimiter ? leaf('Delimiter', encodeName(r.delimiter, e)) : '') +
    leaf('Prefix', encodeName(r.prefix, e)) +
    optional('EncodingType', e) +
    leaf('MaxUploads', r.maxUploads) +
    leaf('IsTruncated', r.isTruncated);
  for (const u of r.uploads) {
    inner +=
      '<Upload>' +
      leaf('Key', encodeName(u.key, e)) +
      leaf('UploadId', u.uploadId) +
      ownerXml('Initiator', u.initiator) +
      ownerXml('Owner', u.owner) +
      leaf('StorageClass', u.storageClass ?? 'STANDARD') +
      leaf('Initiated', isoTimestamp(u.initiated)) +
      optional('ChecksumAlgorithm', u.checksumAlgorithm) +
      optional('ChecksumType', u.checksumType) +
      '</Upload>';
  }
  inner += commonPrefixesXml(r.commonPrefixes, e);
  return root('ListMultipartUploadsResult', inner);
}

// ---------------------------------------------------------------------------------------------
// ListObjectVersions

/** A version or delete marker in a ListObjectVersions page. */
export interface VersionSummary {
  key: string;
  versionId: string;
  isLatest: boolean;
  lastModified: number;
  /** A delete marker (no ETag, size or storage class). */
  deleteMarker: boolean;
  etag?: string;
  size?: number;
  storageClass?: string;
  owner?: Owner;
  checksumAlgorithm?: ChecksumAlgorithm;
  checksumType?: ChecksumType;
}

/** A ListObjectVersions page. */
export interface ListVersionsResult {
  name: string;
  prefix: string;
  keyMarker: string;
  versionIdMarker: string;
  /** Written when the page is truncated. */
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
  maxKeys: number;
  delimiter?: string;
  encodingType?: EncodingType;
  isTruncated: boolean;
  /** Versions and delete markers, in listing order. */
  versions: readonly VersionSummary[];
  commonPrefixes: readonly string[];
}

/**
 * ListVersionsResult (ListObjectVersions): Version and DeleteMarker elements in listing order,
 * then CommonPrefixes. With `encoding-type=url`, the names are URL-encoded as in ListObjects.
 */
export function listVersionsXml(r: ListVersionsResult): string {
  const e = r.encodingType;
  let inner =
    leaf('Name', r.name) +
    leaf('Prefix', encodeName(r.prefix, e)) +
    leaf('KeyMarker', encodeName(r.keyMarker, e)) +
    leaf('VersionIdMarker', r.versionIdMarker) +
    (r.nextKeyMarker !== undefined ? leaf('NextKeyMarker', encodeName(r.nextKeyMarker, e)) : '') +
    optional('NextVersionIdMarker', r.nextVersionIdMarker) +
    leaf('MaxKeys', r.maxKeys) +
    (r.delimiter ? leaf('Delimiter', encodeName(r.delimiter, e)) : '') +
    optional('EncodingType', e) +
    leaf('IsTruncated', r.isTruncated);
  for (const v of r.versions) {
    const common = leaf('Key', encodeName(v.key, e)) + leaf('VersionId', v.versionId) + leaf('IsLatest', v.isLatest) + leaf('LastModified', isoTimestamp(v.lastModified));
    if (v.deleteMarker) {
      inner += `<DeleteMarker>${ownerXml('Owner', v.owner)}${common}</DeleteMarker>`;
    } else {
      inner +=
        '<Version>' +
        common +
        leaf('ETag', quoteEtag(v.etag ?? '')) +
        leaf('Size', v.size ?? 0) +
        leaf('StorageClass', v.storageClass ?? 'STANDARD') +
        ownerXml('Owner', v.owner) +
        optional('ChecksumAlgorithm', v.checksumAlgorithm) +
        optional('ChecksumType', v.checksumType) +
        '</Version>';
    }
  }
  inner += commonPrefixesXml(r.commonPrefixes, e);
  return root('ListVersionsResult', inner);
}

// ---------------------------------------------------------------------------------------------
// GetObjectAttributes

/** The attributes GetObjectAttributes can be asked for (`x-amz-object-attributes`). */
export const OBJECT_ATTRIBUTES = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
export type ObjectAttribute = (typeof OBJECT_ATTRIBUTES)[number];

/**
 * Reads `x-amz-object-attributes` (comma-separated, repeated headers joined): `InvalidRequest`
 * when missing or empty, `InvalidArgument` for a name S3 does not know.
 */
export function parseObjectAttributes(header: string | undefined): Set<ObjectAttribute> {
  const names = (header ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new S3Error('InvalidRequest', 'The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty');
  const out = new Set<ObjectAttribute>();
  for (const name of names) {
    if (!(OBJECT_ATTRIBUTES as readonly string[]).includes(name)) {
      throw new S3Error('InvalidArgument', 'Invalid attribute name specified.', { fields: { ArgumentName: 'x-amz-object-attributes', ArgumentValue: name } });
    }
    out.add(name as ObjectAttribute);
  }
  return out;
}

/** What GetObjectAttributes reports of an object. */
export interface ObjectAttributesResult {
  etag: string;
  size: number;
  storageClass?: string;
  checksums?: ChecksumValues;
  checksumType?: ChecksumType;
  /** Parts of a multipart object. */
  partsCount?: number;
  /** A page of the parts, when each part's checksum is known (S3 lists them only then). */
  parts?: {
    algorithm: ChecksumAlgorithm;
    partNumberMarker: number;
    nextPartNumberMarker?: number;
    maxParts: number;
    isTruncated: boolean;
    list: { partNumber: number; size: number; checksum: string }[];
  };
}

/**
 * GetObjectAttributesResponse with the attributes asked for. ObjectParts carries the part count,
 * and the page of parts with their sizes and checksums when they were uploaded with one.
 */
export function objectAttributesXml(r: ObjectAttributesResult, wanted: ReadonlySet<ObjectAttribute>): string {
  let inner = '';
  if (wanted.has('ETag')) inner += leaf('ETag', unquoteEtag(r.etag));
  if (wanted.has('Checksum') && r.checksums !== undefined) inner += `<Checksum>${checksumsXml(r.checksums)}${optional('ChecksumType', r.checksumType)}</Checksum>`;
  if (wanted.has('ObjectParts') && r.partsCount !== undefined) {
    const p = r.parts;
    const page = p
      ? leaf('PartNumberMarker', p.partNumberMarker) +
        optional('NextPartNumberMarker', p.nextPartNumberMarker) +
        leaf('MaxParts', p.maxParts) +
        leaf('IsTruncated', p.isTruncated ? 'true' : 'false') +
        p.list.map((part) => `<Part>${leaf('PartNumber', part.partNumber)}${leaf('Size', part.size)}${checksumsXml({ [p.algorithm]: part.checksum })}</Part>`).join('')
      : '';
    inner += `<ObjectParts>${leaf('PartsCount', r.partsCount)}${page}</ObjectParts>`;
  }
  if (wanted.has('StorageClass')) inner += leaf('StorageClass', r.storageClass ?? 'STANDARD');
  if (wanted.has('ObjectSize')) inner += leaf('ObjectSize', r.size);
  return root('GetObjectAttributesResponse', inner);
}

// ---------------------------------------------------------------------------------------------
// DeleteObjects

/** A successfully deleted object. */
export interface DeletedEntry {
  key: string;
  versionId?: string;
  deleteMarker?: boolean;
  deleteMarkerVersionId?: string;
}

/** A per-key failure of DeleteObjects. */
export interface DeleteErrorEntry {
  key: string;
  versionId?: string;
  code: string;
  message: string;
}

/** DeleteResult (DeleteObjects); in quiet mode only the errors are written. */
export function deleteResultXml(r: {
  deleted: readonly DeletedEntry[];
  errors: readonly DeleteErrorEntry[];
  quiet?: boolean;
}): string {
  let inner = '';
  if (!r.quiet) {
    for (const d of r.deleted) {
      inner +=
        '<Deleted>' +
        leaf('Key', d.key) +
        optional('VersionId', d.versionId) +
        optional('DeleteMarker', d.deleteMarker) +
        optional('DeleteMarkerVersionId', d.deleteMarkerVersionId) +
        '</Deleted>';
    }
  }
  for (const e of r.errors) {
    inner += '<Error>' + leaf('Key', e.key) + optional('VersionId', e.versionId) + leaf('Code', e.code) + leaf('Message', e.message) + '</Error>';
  }
  return root('DeleteResult', inner);
}

// ---------------------------------------------------------------------------------------------
// Access control

/** ACL permissions. */
export type Permission = 'FULL_CONTROL' | 'WRITE' | 'WRITE_ACP' | 'READ' | 'READ_ACP';
const PERMISSIONS: readonly Permission[] = ['FULL_CONTROL', 'WRITE', 'WRITE_ACP', 'READ', 'READ_ACP'];

/** The grantee of an ACL grant. */
export type Grantee =
  | { type: 'CanonicalUser'; id: string; displayName?: string }
  | { type: 'Group'; uri: string }
  | { type: 'AmazonCustomerByEmail'; emailAddress: string };

/** One grant. */
export interface Grant {
  grantee: Grantee;
  permission: Permission;
}

/** An access control policy (GetBucketAcl / GetObjectAcl / PutBucketAcl / PutObjectAcl). */
export interface AccessControlPolicy {
  owner: Owner;
  grants: Grant[];
}

/** Group URIs of the predefined groups. */
export const ACL_GROUPS = {
  AllUsers: 'http://acs.amazonaws.com/groups/global/AllUsers',
  AuthenticatedUsers: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
  LogDelivery: 'http://acs.amazonaws.com/groups/s3/LogDelivery',
} as const;

/** A Grantee element with its `xsi:type` (ACL documents, logging TargetGrants). */
export function granteeXml(g: Grantee): string {
  const open = `<Grantee xmlns:xsi="${XSI_NS}" xsi:type="${g.type}">`;
  switch (g.type) {
    case 'CanonicalUser':
      return `${open}${leaf('ID', g.id)}${optional('DisplayName', g.displayName)}</Grantee>`;
    case 'Group':
      return `${open}${leaf('URI', g.uri)}</Grantee>`;
    case 'AmazonCustomerByEmail':
      return `${open}${leaf('EmailAddress', g.emailAddress)}</Grantee>`;
  }
}

/** AccessControlPolicy document. */
export function accessControlPolicyXml(policy: AccessControlPolicy): string {
  let inner = ownerXml('Owner', policy.owner) + '<AccessControlList>';
  for (const grant of policy.grants) inner += `<Grant>${granteeXml(grant.grantee)}${leaf('Permission', grant.permission)}</Grant>`;
  inner += '</AccessControlList>';
  return root('AccessControlPolicy', inner);
}

// ---------------------------------------------------------------------------------------------
// Tagging

/** A tag. */
export interface Tag {
  key: string;
  value: string;
}

/** Tagging document (GetObjectTagging / GetBucketTagging). */
export function taggingXml(tags: readonly Tag[]): string {
  let inner = '<TagSet>';
  for (const t of tags) inner += `<Tag>${leaf('Key', t.key)}${leaf('Value', t.value)}</Tag>`;
  return root('Tagging', inner + '</TagSet>');
}

// ---------------------------------------------------------------------------------------------
// Request parsers

function isBlank(body: string | Uint8Array | undefined): boolean {
  if (body === undefined) return true;
  if (typeof body === 'string') return body.trim() === '';
  for (const byte of body) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false;
  return true;
}

/**
 * Parses a CreateBucket body. An empty body means no configuration; an empty or absent
 * LocationConstraint means us-east-1 (returned as `undefined`).
 */
export function parseCreateBucketConfiguration(body: string | Uint8Array | undefined): { locationConstraint?: string } {
  if (isBlank(body)) return {};
  const doc = parseXmlDocument(body!, 'CreateBucketConfiguration');
  const location = childText(doc, 'LocationConstraint')?.trim();
  return location ? { locationConstraint: location } : {};
}

/** An object named in a DeleteObjects request. */
export interface DeleteObjectIdentifier {
  key: string;
  versionId?: string;
  /** Conditional delete: the ETag the object must have (as an If-Match value: `*`, quoted or not). */
  etag?: string;
  /** `<Size>` (a directory-bucket precondition; its text). */
  size?: string;
  /** `<LastModifiedTime>` (a directory-bucket precondition; its text). */
  lastModifiedTime?: string;
}

/** Maximum keys in one DeleteObjects request. */
export const MAX_DELETE_OBJECTS = 1000;

/**
 * Parses a DeleteObjects body: between 1 and 1000 `<Object>` with a `<Key>`, and an optional
 * `<Quiet>` of `true`/`false`. Anything else is `MalformedXML`, as AWS answers.
 */
export function parseDeleteObjects(body: string | Uint8Array): { quiet: boolean; objects: DeleteObjectIdentifier[] } {
  const doc = parseXmlDocument(body, 'Delete');
  const quietText = childText(doc, 'Quiet')?.trim().toLowerCase();
  if (quietText !== undefined && quietText !== 'true' && quietText !== 'false') throw new S3Error('MalformedXML');
  const elements = childElements(doc, 'Object');
  if (elements.length === 0 || elements.length > MAX_DELETE_OBJECTS) throw new S3Error('MalformedXML');
  const objects = elements.map((el): DeleteObjectIdentifier => {
    const key = childText(el, 'Key');
    if (key === undefined) throw new S3Error('MalformedXML');
    const object: DeleteObjectIdentifier = { key };
    const versionId = childText(el, 'VersionId');
    if (versionId !== undefined && versionId !== '') object.versionId = versionId;
    const etag = childText(el, 'ETag');
    if (etag !== undefined) object.etag = etag.trim();
    const size = childText(el, 'Size');
    if (size !== undefined) object.size = size;
    const lastModifiedTime = childText(el, 'LastModifiedTime');
    if (lastModifiedTime !== undefined) object.lastModifiedTime = lastModifiedTime;
    return object;
  });
  return { quiet: quietText === 'true', objects };
}

/** A part named in CompleteMultipartUpload. */
export interface CompletedPart {
  partNumber: number;
  /** ETag without quotes. */
  etag: string;
  checksums: ChecksumValues;
}

/** Highest part number S3 allows. */
export const MAX_PART_NUMBER = 10000;

/**
 * Parses a CompleteMultipartUpload body: at least one `<Part>` with `<PartNumber>` and `<ETag>`.
 * Missing elements or a non-numeric part number → `MalformedXML`; a part number outside
 * 1..10000 → `InvalidArgument`; part numbers not strictly ascending → `InvalidPartOrder`;
 * a malformed part checksum → `InvalidRequest`.
 */
export function parseCompleteMultipartUpload(body: string | Uint8Array): { parts: CompletedPart[] } {
  const doc = parseXmlDocument(body, 'CompleteMultipartUpload');
  const elements = childElements(doc, 'Part');
  if (elements.length === 0) throw new S3Error('MalformedXML');
  const parts = elements.map((el): CompletedPart => {
    const numberText = childText(el, 'PartNumber')?.trim();
    const etag = childText(el, 'ETag');
    if (numberText === undefined || etag === undefined || !/^-?\d+$/.test(numberText)) throw new S3Error('MalformedXML');
    const partNumber = Number(numberText);
    if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
        fields: { ArgumentName: 'partNumber', ArgumentValue: numberText },
      });
    }
    const checksums: ChecksumValues = {};
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = childText(el, checksumFieldName(algorithm));
      if (value !== undefined) {
        parseChecksumValue(algorithm, value);
        checksums[algorithm] = value.trim();
      }
    }
    return { partNumber, etag: unquoteEtag(etag), checksums };
  });
  for (let i = 1; i < parts.length; i++) {
    if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw new S3Error('InvalidPartOrder');
  }
  return { parts };
}

/** Parses a Grantee element by its `xsi:type` (`MalformedACLError` when it does not name one). */
export function parseGrantee(el: XmlElement): Grantee {
  const type = el.attributes['type'];
  const id = childText(el, 'ID');
  const uri = childText(el, 'URI');
  const email = childText(el, 'EmailAddress');
  switch (type) {
    case 'CanonicalUser':
      if (id === undefined || id.trim() === '') break;
      {
        const displayName = childText(el, 'DisplayName');
        return displayName === undefined ? { type, id: id.trim() } : { type, id: id.trim(), displayName };
      }
    case 'Group':
      if (uri === undefined || uri.trim() === '') break;
      return { type, uri: uri.trim() };
    case 'AmazonCustomerByEmail':
      if (email === undefined || email.trim() === '') break;
      return { type, emailAddress: email.trim() };
  }
  throw new S3Error('MalformedACLError');
}

/**
 * Parses an AccessControlPolicy body (PutBucketAcl / PutObjectAcl): Owner/ID and the grants;
 * each Grantee needs its `xsi:type` and the matching identifier. Failures are
 * `MalformedACLError`.
 */
export function parseAccessControlPolicy(body: string | Uint8Array): AccessControlPolicy {
  const doc = parseXmlDocument(body, 'AccessControlPolicy', { errorCode: 'MalformedACLError' });
  const ownerEl = childElement(doc, 'Owner');
  const ownerId = ownerEl === undefined ? undefined : childText(ownerEl, 'ID')?.trim();
  if (ownerEl === undefined || ownerId === undefined || ownerId === '') throw new S3Error('MalformedACLError');
  const owner: Owner = { id: ownerId };
  const displayName = childText(ownerEl, 'DisplayName');
  if (displayName !== undefined) owner.displayName = displayName;
  const list = childElement(doc, 'AccessControlList');
  const grants: Grant[] = [];
  for (const grantEl of list === undefined ? [] : childElements(list, 'Grant')) {
    const granteeEl = childElement(grantEl, 'Grantee');
    const permission = childText(grantEl, 'Permission')?.trim() as Permission | undefined;
    if (granteeEl === undefined || permission === undefined || !PERMISSIONS.includes(permission)) {
      throw new S3Error('MalformedACLError');
    }
    grants.push({ grantee: parseGrantee(granteeEl), permission });
  }
  return { owner, grants };
}

/** Limits of a tag set. */
export interface TaggingLimits {
  /** 10 for objects (default), 50 for buckets. */
  maxTags?: number;
}

/**
 * Parses a Tagging body (PutObjectTagging / PutBucketTagging). Structure errors are
 * `MalformedXML`; too many tags, duplicate keys, a key over 128 or a value over 256 characters,
 * an empty key or an `aws:` key are `InvalidTag`.
 */
export function parseTagging(body: string | Uint8Array, limits: TaggingLimits = {}): Tag[] {
  const doc = parseXmlDocument(body, 'Tagging');
  // Elements the schema does not have are MalformedXML, as S3 answers (they were ignored).
  const set = uniqueChildren(doc, ['TagSet']).get('TagSet');
  if (set === undefined || set.children.some((c) => c.name !== 'Tag')) throw new S3Error('MalformedXML');
  const tags: Tag[] = [];
  for (const el of set.children) {
    const fields = uniqueChildren(el, ['Key', 'Value']);
    const key = fields.get('Key')?.text;
    const value = fields.get('Value')?.text;
    if (key === undefined || value === undefined) throw new S3Error('MalformedXML');
    tags.push({ key, value });
  }
  validateTagSet(tags, limits.maxTags ?? 10);
  return tags;
}

/**
 * Checks a tag set against S3's limits (see {@link parseTagging}); `maxTags` is 10 for objects,
 * 50 for buckets. Lengths count UTF-16 code units, as S3 does (it keeps tags in UTF-16: a
 * character outside the Basic Multilingual Plane takes two of the 128 / 256). Throws `InvalidTag`.
 */
export function validateTagSet(tags: readonly Tag[], maxTags = 10): void {
  const seen = new Set<string>();
  if (tags.length > maxTags) {
    throw new S3Error('InvalidTag', maxTags === 10 ? 'Object tags cannot be greater than 10' : `Bucket tag count cannot be greater than ${maxTags}`);
  }
  for (const { key, value } of tags) {
    if (key === '' || key.length > 128) throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid');
    if (value.length > 256) throw new S3Error('InvalidTag', 'The TagValue you have provided is invalid');
    if (key.toLowerCase().startsWith('aws:')) {
      throw new S3Error('InvalidTag', 'Your TagKey cannot be prefixed with aws:');
    }
    if (seen.has(key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    seen.add(key);
  }
}

/**
 * Parses a VersioningConfiguration body (PutBucketVersioning). Status must be `Enabled` or
 * `Suspended` when present (`IllegalVersioningConfigurationException` otherwise, as AWS answers).
 */
export function parseVersioningConfiguration(body: string | Uint8Array): { status?: 'Enabled' | 'Suspended'; mfaDelete?: string } {
  const doc = parseXmlDocument(body, 'VersioningConfiguration');
  // Elements the schema does not have are MalformedXML, as S3 answers (they were ignored).
  uniqueChildren(doc, ['Status', 'MfaDelete']);
  const status = childText(doc, 'Status')?.trim();
  if (status !== undefined && status !== 'Enabled' && status !== 'Suspended') {
    throw new S3Error('IllegalVersioningConfigurationException');
  }
  const out: { status?: 'Enabled' | 'Suspended'; mfaDelete?: string } = {};
  if (status !== undefined) out.status = status;
  const mfa = childText(doc, 'MfaDelete')?.trim();
  if (mfa !== undefined) out.mfaDelete = mfa;
  return out;
}
