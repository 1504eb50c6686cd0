/**
 * Parquet input for S3 Select (select/parquet-input.ts): files written by hyparquet-writer read
 * back through ranged reads, row group by row group, with their values as the SQL engine's
 * records (INT64 as numbers, timestamps and dates as ISO text); GZIP pages (a codec hyparquet
 * alone lacks); only the bytes asked for read; a file that is not Parquet refused with a code.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { SelectError } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import { ParquetRecordReader, asyncBufferOf, recordValue } from '../../../../src/cloud/s3/select/parquet-input.ts';
import type { JsonValue } from '../../../../src/cloud/s3/select/values.ts';

/** A Parquet file in memory, read through ranged reads that are counted. */
function served(file: Buffer): { reader: Promise<ParquetRecordReader>; reads: [number, number][] } {
  const reads: [number, number][] = [];
  const read = (start: number, end: number): Promise<Buffer> => {
    reads.push([start, end]);
    return Promise.resolve(file.subarray(start, end));
  };
  return { reader: ParquetRecordReader.open(asyncBufferOf(file.length, read)), reads };
}

async function allRows(reader: ParquetRecordReader): Promise<{ groups: number; rows: JsonValue[] }> {
  const rows: JsonValue[] = [];
  let groups = 0;
  for await (const g of reader.rowGroups()) {
    groups++;
    rows.push(...g);
  }
  return { groups, rows };
}

describe('S3 Select: Parquet input', () => {
  test('rows of every row group, with their values as records', async () => {
    const n = 2500;
    const file = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'id', data: Array.from({ length: n }, (_, i) => i), type: 'INT32' },
          { name: 'big', data: Array.from({ length: n }, (_, i) => BigInt(i) * 1_000_000_007n), type: 'INT64' },
          { name: 'name', data: Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `name-${i}`)), type: 'STRING' },
          { name: 'score', data: Array.from({ length: n }, (_, i) => i / 4), type: 'DOUBLE' },
          { name: 'ok', data: Array.from({ length: n }, (_, i) => i % 2 === 0), type: 'BOOLEAN' },
          { name: 'at', data: Array.from({ length: n }, (_, i) => new Date(Date.UTC(2024, 0, 1) + i * 1000)), type: 'TIMESTAMP' },
        ],
        rowGroupSize: 1000,
      }),
    );
    const { reader } = served(file);
    const r = await reader;
    assert.equal(r.rows, n);
    const { groups, rows } = await allRows(r);
    assert.equal(groups, 3, '1000-row groups');
    assert.equal(rows.length, n);
    assert.deepEqual(rows[14], { id: 14, big: 14_000_000_098, name: null, score: 3.5, ok: true, at: '2024-01-01T00:00:14.000Z' });
    assert.deepEqual(rows[2498], { id: 2498, big: 2_498_000_017_486, name: 'name-2498', score: 624.5, ok: true, at: '2024-01-01T00:41:38.000Z' });
  });

  test('GZIP pages; a LIMIT-like early stop reads no further row groups', async () => {
    const n = 3000;
    const file = Buffer.from(
      parquetWriteBuffer({
        columnData: [{ name: 'v', data: Array.from({ length: n }, (_, i) => `value ${i} `.repeat(20)), type: 'STRING' }],
        codec: 'GZIP',
        compressors: { GZIP: (bytes: Uint8Array) => gzipSync(bytes) },
        rowGroupSize: 1000,
      }),
    );
    const { reader, reads } = served(file);
    const r = await reader;
    const before = reads.length;
    for await (const g of r.rowGroups()) {
      assert.equal((g[999] as { v: string }).v, 'value 999 '.repeat(20));
      break;
    }
    const read = reads.slice(before).reduce((sum, [s, e]) => sum + e - s, 0);
    assert.ok(read < file.length / 2, `the first row group only: ${read} of ${file.length} bytes`);
  });

  test('an object that is not Parquet is InvalidRequestParameter; a failing read is passed on', async () => {
    const notParquet = Buffer.from('id,name\n1,a\n'.repeat(100));
    await assert.rejects(served(notParquet).reader, (e: unknown) => e instanceof SelectError && e.code === 'InvalidRequestParameter' && /Parquet/.test(e.message));
    const gone = new Error('chunk unavailable');
    await assert.rejects(ParquetRecordReader.open(asyncBufferOf(1000, () => Promise.reject(gone))), (e: unknown) => e === gone);
  });

  test('DATE and TIMESTAMP_MICROS columns: ISO text with the column\'s precision, also before 1970', async () => {
    const file = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'day', data: [0, 19_723, -1] },
          { name: 'us', data: [1_700_000_000_123_456n, -1n, 0n] },
        ],
        schema: [
          { name: 'root', num_children: 2 },
          { name: 'day', type: 'INT32', converted_type: 'DATE', repetition_type: 'REQUIRED' },
          { name: 'us', type: 'INT64', converted_type: 'TIMESTAMP_MICROS', repetition_type: 'REQUIRED' },
        ],
      }),
    );
    const { rows } = await allRows(await served(file).reader);
    assert.deepEqual(rows, [
      { day: '1970-01-01', us: '2023-11-14T22:13:20.123456Z' },
      { day: '2024-01-01', us: '1969-12-31T23:59:59.999999Z' },
      { day: '1969-12-31', us: '1970-01-01T00:00:00.000000Z' },
    ]);
  });

  test('record values: bigints, bytes, dates, nested structures', () => {
    assert.deepEqual(recordValue({ a: 5n, b: new Uint8Array([104, 105]), c: [1n, null, { d: new Date(0) }], e: undefined }), { a: 5, b: 'hi', c: [1, null, { d: '1970-01-01T00:00:00.000Z' }], e: null });
  });
});
