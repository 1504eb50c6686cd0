/**
 * Typed errors of the DHT. Every error has a stable `code` that callers, logs and the RPC layer
 * use (the code travels in error replies, so a client gets the same class the root raised).
 */

/** Stable error codes of the DHT. */
export type DhtErrorCode =
  | 'VersionConflict'
  | 'Timeout'
  | 'Unavailable'
  | 'RecordTooLarge'
  | 'InvalidEntity'
  | 'InvalidArgument'
  | 'UpdateRetriesExhausted'
  | 'OutcomeUnknown'
  | 'RecordCorrupt'
  | 'DiskFull'
  | 'StorageFailed'
  | 'Closed';

/** Base class of DHT errors. */
export class DhtError extends Error {
  constructor(
    readonly code: DhtErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DhtError';
  }
}

/** A replica holds a newer version than the write was based on. */
export class VersionConflictError extends DhtError {
  constructor(
    readonly id: string,
    /** The version the write expected (was based on). */
    readonly expected: number,
    /** The newest version a replica holds. */
    readonly current: number,
  ) {
    super('VersionConflict', `version conflict on ${id}: write based on version ${expected}, a replica holds version ${current}`);
    this.name = 'VersionConflictError';
  }
}

/** No definitive answer within the operation's deadline; a write may or may not have applied. */
export class DhtTimeoutError extends DhtError {
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    readonly lastError?: string,
  ) {
    super('Timeout', `${operation} got no definitive answer within ${timeoutMs} ms${lastError ? ` (last: ${lastError})` : ''}`);
    this.name = 'DhtTimeoutError';
  }
}

/** The replica set could not reach its quorum (retryable; clients retry it internally). */
export class UnavailableError extends DhtError {
  constructor(message: string) {
    super('Unavailable', message);
    this.name = 'UnavailableError';
  }
}

/** The encoded body is above the configured record size limit. */
export class RecordTooLargeError extends DhtError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super('RecordTooLarge', `record body is ${bytes} bytes, above the limit of ${limit} bytes`);
    this.name = 'RecordTooLargeError';
  }
}

/** The entity is not a JSON object, or its type's validator refused it. */
export class InvalidEntityError extends DhtError {
  constructor(message: string) {
    super('InvalidEntity', message);
    this.name = 'InvalidEntityError';
  }
}

/** A malformed argument (id, sort key, option). */
export class InvalidArgumentError extends DhtError {
  constructor(message: string) {
    super('InvalidArgument', message);
    this.name = 'InvalidArgumentError';
  }
}

/** `update` met a version conflict on every attempt. */
export class UpdateRetriesExhaustedError extends DhtError {
  constructor(
    readonly id: string,
    readonly attempts: number,
  ) {
    super('UpdateRetriesExhausted', `update of ${id} met a version conflict on each of ${attempts} attempts; giving up`);
    this.name = 'UpdateRetriesExhaustedError';
  }
}

/**
 * A retried write found the record rewritten so often since its first attempt that the record no
 * longer remembers whether this write applied: it may or may not have.
 */
export class OutcomeUnknownError extends DhtError {
  constructor(readonly id: string) {
    super('OutcomeUnknown', `the outcome of a retried write to ${id} is unknown: the record was rewritten too often since it was first sent`);
    this.name = 'OutcomeUnknownError';
  }
}

/** The DHT instance was closed. */
export class DhtClosedError extends DhtError {
  constructor() {
    super('Closed', 'the DHT is closed');
    this.name = 'DhtClosedError';
  }
}

/** An item did not match its checksum (damaged on disk, in memory or in transit). */
export class RecordCorruptError extends DhtError {
  constructor(key: string, why = 'does not match its checksum') {
    super('RecordCorrupt', `item ${key} ${why}`);
    this.name = 'RecordCorruptError';
  }
}

/**
 * A write refused for want of disk space: the node's free space is below its storage reserve
 * (see storage/space.ts), or the disk refused the write (ENOSPC, EDQUOT). Nothing of it was stored.
 * Retryable once space is freed; a write the replica set refuses because too many of its members
 * are full fails with it at once instead of retrying until `Timeout`.
 */
export class DiskFullError extends DhtError {
  constructor(message: string) {
    super('DiskFull', message);
    this.name = 'DiskFullError';
  }
}

/** The storage engine could not make a write durable for another reason than space (EIO, …). */
export class StorageFailedError extends DhtError {
  constructor(message: string) {
    super('StorageFailed', message);
    this.name = 'StorageFailedError';
  }
}
