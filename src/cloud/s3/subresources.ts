/**
 * The sub-resources of the S3 API (the query parameters that name an operation, `?acl`,
 * `?website`, `?restore`…). Dispatch uses them so that a request for a sub-resource it has no
 * operation for is refused instead of being taken for the plain bucket or object request of its
 * method: `DELETE /bucket?metadataTable` is not DeleteBucket, `PUT /bucket/key?torrent` is not
 * PutObject. Other query parameters (the SDKs' `x-id`, unknown ones) are ignored, as S3 ignores them.
 */

/** Bucket sub-resources S3 defines that are not supported here: `NotImplemented` (501) whatever the method. */
export const UNSUPPORTED_BUCKET_SUBRESOURCES: readonly string[] = [
  'accelerate',
  'analytics',
  'metrics',
  'inventory',
  'intelligent-tiering',
  'metadataTable',
  'metadataConfiguration',
  'metadataInventoryTable',
  'metadataJournalTable',
  'session',
  'abac',
];

/** Every bucket sub-resource of the S3 API (supported or not). */
export const BUCKET_SUBRESOURCES: readonly string[] = [
  ...UNSUPPORTED_BUCKET_SUBRESOURCES,
  'acl',
  'cors',
  'delete',
  'encryption',
  'lifecycle',
  'location',
  'logging',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'tagging',
  'uploads',
  'versioning',
  'versions',
  'website',
];

/** Object sub-resources S3 defines that are not supported here: `NotImplemented` (501) whatever the method. */
export const UNSUPPORTED_OBJECT_SUBRESOURCES: readonly string[] = ['torrent', 'renameObject'];

/** Every object sub-resource of the S3 API (supported or not). */
export const OBJECT_SUBRESOURCES: readonly string[] = [...UNSUPPORTED_OBJECT_SUBRESOURCES, 'acl', 'attributes', 'legal-hold', 'restore', 'retention', 'select', 'tagging', 'uploads', 'uploadId'];

/** The first of `names` present in `query`, if any. */
export function subresourceIn(query: URLSearchParams, names: readonly string[]): string | undefined {
  for (const name of names) if (query.has(name)) return name;
  return undefined;
}

/** Storage classes whose objects S3 archives (RestoreObject applies to them only). */
export const ARCHIVE_STORAGE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);
