/**
 * Typed errors of the storage layer of Pi Cloud S3 (chunks, catalog, users), each with a stable
 * `code`. The HTTP layer maps them to S3 error documents; the ops API to its statuses.
 */

/** Stable codes of {@link StorageError}. */
export type StorageErrorCode =
  /** Too few replicas of a chunk answered (write quorum not reached, or no copy found). */
  | 'ChunkUnavailable'
  /** A chunk's bytes do not hash to its name. */
  | 'ChunkCorrupt'
  /** Too many replicas of a chunk are out of disk space (their storage reserve is reached) for the write quorum. */
  | 'DiskFull'
  /** A chunk request was malformed. */
  | 'InvalidArgument'
  /** A user name is taken; a change that conflicts with one in progress (a user being deleted). */
  | 'Conflict'
  /** A limit was reached (IAM's code): a user has its two access keys already. */
  | 'LimitExceeded'
  /** A deletion refused because something still depends on the entity (IAM's code): a user that owns buckets. */
  | 'DeleteConflict'
  /** Not every node serving S3 has the current master key of the node asked (the rewrap job's pre-flight check). */
  | 'MasterKeyMismatch'
  /** Something was not found. */
  | 'NotFound'
  /** The service is stopping or not started. */
  | 'NotAvailable';

/** An error of the storage layer. */
export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
