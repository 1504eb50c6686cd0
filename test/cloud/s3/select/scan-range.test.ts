/**
 * S3 Select's ScanRange cut (select/scan-range.ts): the bytes handed to the parser are exactly the
 * records that start within the range, whole, however the object's bytes are split into pieces
 * and whatever the delimiter. Checked against a direct reference on fixed cases and random ones.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RecordWindow, scanWindow } from '../../../../src/cloud/s3/select/scan-range.ts';

/** The reference: records (with their delimiters) whose first byte lies in [start, end]. */
function expected(text: string, delimiter: string, start: number, end: number): string {
  const buf = Buffer.from(text);
  const d = Buffer.from(delimiter);
  let out = '';
  let recordStart = 0;
  while (recordStart < buf.length) {
    const at = buf.indexOf(d, recordStart);
    const next = at < 0 ? buf.length : at + d.length;
    if (recordStart >= start && recordStart <= end) out += buf.subarray(recordStart, next).toString('latin1');
    recordStart = next;
  }
  return out;
}

/** Runs the cut over `text` split into pieces of `size` bytes (read from the window's readFrom). */
function cut(text: string, delimiter: string, range: { start: number; end: number | undefined }, size: number): string {
  const buf = Buffer.from(text);
  const d = Buffer.from(delimiter);
  const w = scanWindow(range, buf.length, d.length);
  if (!w) return '';
  const window = new RecordWindow(d, w);
  let out = '';
  for (let at = w.readFrom; at < buf.length && !window.done; at += size) out += window.take(buf.subarray(at, Math.min(buf.length, at + size))).toString('latin1');
  return out;
}

describe('ScanRange cut', () => {
  const text = 'a,1\nbb,2\nccc,3\ndddd,4\n';

  test('records that start in the range, whole, for every piece size', () => {
    for (let size = 1; size <= text.length; size++) {
      assert.equal(cut(text, '\n', { start: 4, end: 9 }, size), 'bb,2\nccc,3\n', `pieces of ${size}`);
      assert.equal(cut(text, '\n', { start: 5, end: 9 }, size), 'ccc,3\n', `a range starting inside a record skips it (pieces of ${size})`);
      assert.equal(cut(text, '\n', { start: 0, end: 0 }, size), 'a,1\n');
      assert.equal(cut(text, '\n', { start: 16, end: 100 }, size), '', 'no record starts after 15');
      assert.equal(cut(text, '\n', { start: 10, end: undefined }, size), 'dddd,4\n', 'no End: to the end of the object');
      assert.equal(cut(text, '\n', { start: -8, end: undefined }, size), 'dddd,4\n', 'only End: the last bytes');
    }
  });

  test('a two-byte delimiter split between pieces', () => {
    const crlf = 'x\r\nyy\r\nzzz\r\n';
    for (let size = 1; size <= crlf.length; size++) {
      assert.equal(cut(crlf, '\r\n', { start: 1, end: 5 }, size), 'yy\r\n', `pieces of ${size}`);
      assert.equal(cut(crlf, '\r\n', { start: 3, end: 7 }, size), 'yy\r\nzzz\r\n');
    }
  });

  test('a range past the object, or ending before it starts, holds nothing', () => {
    assert.equal(scanWindow({ start: 50, end: undefined }, 22, 1), undefined);
    assert.equal(cut(text, '\n', { start: 22, end: 40 }, 3), '');
  });

  test('random objects, ranges and piece sizes match the reference', () => {
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[a-c,]{0,6}$/), { minLength: 1, maxLength: 12 }),
        fc.constantFrom('\n', '\r\n', '|'),
        fc.nat(80),
        fc.nat(80),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        (records, delimiter, s, len, size, trailing) => {
          const body = records.join(delimiter) + (trailing ? delimiter : '');
          const start = Math.min(s, body.length);
          const end = start + len;
          const want = start >= body.length ? '' : expected(body, delimiter, start, Math.min(end, body.length - 1));
          assert.equal(cut(body, delimiter, { start, end }, size), want);
        },
      ),
      { numRuns: 500 },
    );
  });
});
