/** Assertion helper of the S3 protocol tests: a thrown S3Error with this code (and message). */
import assert from 'node:assert/strict';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';

/** For `assert.throws` / `assert.rejects`: the error is an S3Error with `code` (and a message matching `message`). */
export function s3code(code: string, message?: RegExp): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof S3Error, `expected S3Error ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}
