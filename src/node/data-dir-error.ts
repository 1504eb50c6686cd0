/** Failures to use the data directory at start, with a stable code. */
export class DataDirError extends Error {
  constructor(
    readonly code: 'DataDirUnusable' | 'DataDirLocked' | 'NodeIdMismatch' | 'CorruptNodeId',
    message: string,
  ) {
    super(message);
    this.name = 'DataDirError';
  }
}
