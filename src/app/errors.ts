/**
 * Typed errors of the application framework. Every error has a stable `code` that logs, the ops
 * API and callers match on.
 */

/** Stable error codes of the application framework. */
export type AppErrorCode =
  /** Two applications with the same name on one node (a configuration error). */
  | 'DuplicateApplication'
  /** An application, watcher or queue name that does not follow the naming rules. */
  | 'InvalidName'
  /** An argument that is malformed (the message names the field). */
  | 'InvalidArgument'
  /** A seed file or seed entry that does not follow the seed format. */
  | 'InvalidSeed'
  /** A record the framework needs (application, queue, range, checkpoints) has not been seeded. */
  | 'NotSeeded'
  /** The operation needs a component this node does not run (e.g. Scribe for pub/sub). */
  | 'Unavailable'
  /** `onActivate` did not finish within the start timeout; the application rolled back to passive. */
  | 'StartTimeout'
  /** The application is not attached to a running host. */
  | 'NotStarted'
  /** A watcher with that name exists already. */
  | 'DuplicateWatcher'
  /** No free value left in an allocatable range. */
  | 'Exhausted'
  /** A request was refused by its handler (the message says why). */
  | 'Refused'
  /** The host or application was stopped. */
  | 'Closed';

/** Base class of the framework's errors. */
export class AppError extends Error {
  constructor(
    readonly code: AppErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

/** The short form of an error for logs and replies: `{ code, message }`. */
export function errorInfo(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'InternalError',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

const NAME = /^[a-z][a-z0-9._-]{0,62}$/;

/** Checks an application / queue / range name: lower case, starts with a letter, at most 63 characters. */
export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new AppError('InvalidName', `${what} name must be 1-63 characters of a-z, 0-9, ".", "_" or "-" starting with a letter, got ${JSON.stringify(name)?.slice(0, 80)}`);
  }
  return name;
}
