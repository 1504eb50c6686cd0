/**
 * Test helpers for the record readers (CSV or JSON): feeding input in pieces, pushing an endless
 * record, and checking S3 Select error codes.
 */
import assert from 'node:assert/strict';
import { SelectError } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import type { SelectErrorCode } from '../../../../src/cloud/s3/protocol/select-errors.ts';

/** What the S3 Select record readers have in common. */
export interface PushReader<R> {
  push(chunk: Buffer, onRecord: (record: R) => void): void;
  end(onRecord: (record: R) => void): void;
}

/** Feeds `input` to `reader` cut at `cuts` (byte offsets), then ends it; returns every record. */
export function feed<R>(reader: PushReader<R>, input: string | Buffer, cuts: readonly number[] = []): R[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const records: R[] = [];
  const onRecord = (record: R): void => {
    records.push(record);
  };
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(from, cut), onRecord);
    from = cut;
  }
  reader.end(onRecord);
  return records;
}

/** An `assert.throws` check for a SelectError with `code` (HTTP 400). */
export function selectCode(code: SelectErrorCode): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof SelectError, `expected SelectError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, 400);
    return true;
  };
}

/**
 * Pushes 64 KiB pieces of `a` to `reader` until it throws; checks the error is `code`, and
 * returns how many bytes it took before refusing.
 */
export function pushUntilRefused<R>(reader: PushReader<R>, code: SelectErrorCode): number {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  let pushed = 0;
  assert.throws(() => {
    for (;;) {
      reader.push(piece, () => {});
      pushed += piece.length;
    }
  }, selectCode(code));
  return pushed;
}
