/**
 * SelectObjectContent (S3 Select) through the AWS SDK on a 3-node loopback ring (HTTPS): CSV and JSON
 * objects (inline, and chunked across nodes), header names, aggregates, LIMIT stopping the scan,
 * GZIP and BZIP2 input, ScanRange, SSE-C objects, Progress events, the SDK decoding every event of
 * the stream, and the errors: before the stream (HTTP 400 with S3 Select's codes, AccessDenied,
 * NoSuchKey) and inside it (an error event when the object turns out malformed mid-way).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, SelectObjectContentCommand } from '@aws-sdk/client-s3';
import type { S3Client, SelectObjectContentCommandInput } from '@aws-sdk/client-s3';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { RECORDS_PAYLOAD_BYTES } from '../../../src/cloud/s3/select/event-stream.ts';
import { endpointCertificate, rawRequest, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

/** What a Select answered, collected from the SDK's decoded event stream. */
interface Selected {
  records: string;
  stats: { BytesScanned?: number; BytesProcessed?: number; BytesReturned?: number } | undefined;
  progress: number;
  ended: boolean;
}

async function select(client: S3Client, input: Omit<SelectObjectContentCommandInput, 'ExpressionType'> & { ExpressionType?: 'SQL' }): Promise<Selected> {
  const out = await client.send(new SelectObjectContentCommand({ ExpressionType: 'SQL', ...input }));
  const got: Selected = { records: '', stats: undefined, progress: 0, ended: false };
  const parts: Buffer[] = [];
  for await (const event of out.Payload!) {
    if (event.Records?.Payload) parts.push(Buffer.from(event.Records.Payload));
    if (event.Stats?.Details) got.stats = event.Stats.Details;
    if (event.Progress) got.progress++;
    if (event.End) got.ended = true;
  }
  got.records = Buffer.concat(parts).toString('utf8');
  return got;
}

const CSV_IN = { CSV: { FileHeaderInfo: 'USE' as const } };
const CSV_OUT = { CSV: {} };

/** `n` CSV rows `id,name,score,city` after a header, deterministic. */
function people(n: number): string {
  const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv', 'Rome'];
  const lines = ['id,name,score,city'];
  for (let i = 1; i <= n; i++) lines.push(`${i},person ${i},${(i * 37) % 101},${cities[i % cities.length]}`);
  return lines.join('\n') + '\n';
}

const PARQUET_ROWS = 40_000;

/** `n` rows `id, name, score, city, seen` as Parquet (SNAPPY pages, 10,000-row groups). */
function peopleParquet(n: number): Buffer {
  const cities = ['Oslo', 'Lima', 'Pune', 'Kyiv', 'Rome'];
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  return Buffer.from(
    parquetWriteBuffer({
      columnData: [
        { name: 'id', data: ids, type: 'INT32' },
        { name: 'name', data: ids.map((i) => `person ${i}`), type: 'STRING' },
        { name: 'score', data: ids.map((i) => BigInt((i * 37) % 101)), type: 'INT64' },
        { name: 'city', data: ids.map((i) => cities[i % cities.length]!), type: 'STRING' },
        { name: 'seen', data: ids.map((i) => new Date(Date.UTC(2024, 0, 1) + i * 60_000)), type: 'TIMESTAMP' },
      ],
      rowGroupSize: 10_000,
    }),
  );
}

describe('S3 Select (SelectObjectContent) through the AWS SDK on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  async function put(key: string, body: Buffer | string, extra: Record<string, unknown> = {}): Promise<void> {
    await a[0]!.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body, ...extra }));
  }

  before(async () => {
    // Over HTTPS: SSE-C keys are refused over plain HTTP.
    const tls = await endpointCertificate((fn) => cleanups.push(fn));
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['data'], tls });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[1]!;
    anon = fixture.anonymousClients[2]!;
    await put('small.csv', 'name,age,city\nAda,36,London\nAlan,41,Wilmslow\nGrace,85,Arlington\n"Hopper, G",30,"New\nYork"\n');
    await put('people.csv', people(60_000)); // about 1.6 MB: several 256 KiB chunks
    await put('people.jsonl', Array.from({ length: 2000 }, (_, i) => JSON.stringify({ id: i + 1, name: `p${i + 1}`, tags: { team: i % 3 === 0 ? 'red' : 'blue' }, score: (i * 7) % 50 })).join('\n') + '\n');
    await put('doc.json', '{"items": [{"a": 1}, {"a": 2}]}\n{"items": [{"a": 3}]}');
    await put('people.parquet', peopleParquet(PARQUET_ROWS));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('CSV with header names: projection, WHERE, CSV and JSON output, Stats and End', async () => {
    const csv = await select(a[1]!, { Bucket: 'data', Key: 'small.csv', Expression: "SELECT s.name, s.city FROM S3Object s WHERE CAST(s.age AS INT) > 35", InputSerialization: { CSV: { FileHeaderInfo: 'USE', AllowQuotedRecordDelimiter: true } }, OutputSerialization: CSV_OUT });
    assert.equal(csv.records, 'Ada,London\nAlan,Wilmslow\nGrace,Arlington\n');
    assert.ok(csv.ended, 'the stream ends with an End event');
    const size = Buffer.byteLength('name,age,city\nAda,36,London\nAlan,41,Wilmslow\nGrace,85,Arlington\n"Hopper, G",30,"New\nYork"\n');
    assert.deepEqual({ ...csv.stats }, { BytesScanned: size, BytesProcessed: size, BytesReturned: Buffer.byteLength(csv.records) });
    const json = await select(a[2]!, { Bucket: 'data', Key: 'small.csv', Expression: 'SELECT s.name AS who, s.city FROM S3Object s WHERE s.name LIKE \'%Hopper%\'', InputSerialization: { CSV: { FileHeaderInfo: 'USE', AllowQuotedRecordDelimiter: true } }, OutputSerialization: { JSON: {} } });
    assert.deepEqual(json.records.trim().split('\n').map((l) => JSON.parse(l) as unknown), [{ who: 'Hopper, G', city: 'New\nYork' }]);
    // Quoting on output: a field holding the delimiter is quoted.
    const quoted = await select(a[0]!, { Bucket: 'data', Key: 'small.csv', Expression: "SELECT s.name FROM S3Object s WHERE s.age = '30'", InputSerialization: { CSV: { FileHeaderInfo: 'USE', AllowQuotedRecordDelimiter: true } }, OutputSerialization: CSV_OUT });
    assert.equal(quoted.records, '"Hopper, G"\n');
  });

  test('positional columns with the header ignored, and COUNT over an object chunked across nodes', async () => {
    const rows = await select(a[2]!, { Bucket: 'data', Key: 'people.csv', Expression: "SELECT _1, _4 FROM S3Object WHERE _4 = 'Kyiv' LIMIT 3", InputSerialization: { CSV: { FileHeaderInfo: 'IGNORE' } }, OutputSerialization: CSV_OUT });
    assert.equal(rows.records, '3,Kyiv\n8,Kyiv\n13,Kyiv\n');
    let expectedSum = 0;
    let expectedCount = 0;
    let expectedMax = 0;
    for (let i = 1; i <= 60_000; i++) {
      const score = (i * 37) % 101;
      if (score >= 50) {
        expectedCount++;
        expectedSum += score;
        expectedMax = i;
      }
    }
    const agg = await select(a[1]!, { Bucket: 'data', Key: 'people.csv', Expression: 'SELECT COUNT(*), SUM(CAST(s.score AS INT)), MAX(CAST(s.id AS INT)) FROM S3Object s WHERE CAST(s.score AS INT) >= 50', InputSerialization: CSV_IN, OutputSerialization: CSV_OUT });
    assert.equal(agg.records, `${expectedCount},${expectedSum},${expectedMax}\n`);
    const size = Buffer.byteLength(people(60_000));
    assert.equal(agg.stats?.BytesScanned, size, 'the whole object was read');
  });

  test('LIMIT stops reading the object', async () => {
    const r = await select(a[0]!, { Bucket: 'data', Key: 'people.csv', Expression: 'SELECT s.id FROM S3Object s LIMIT 2', InputSerialization: CSV_IN, OutputSerialization: CSV_OUT });
    assert.equal(r.records, '1\n2\n');
    assert.ok((r.stats?.BytesScanned ?? Infinity) < 1024 * 1024, `scanned ${r.stats?.BytesScanned} bytes of about 1.6 MB`);
  });

  test('JSON LINES and DOCUMENT input: nested paths, [*] iteration, SELECT * kept whole', async () => {
    const lines = await select(a[1]!, { Bucket: 'data', Key: 'people.jsonl', Expression: "SELECT s.name, s.tags.team FROM S3Object s WHERE s.score > 45 AND s.tags.team = 'red' LIMIT 2", InputSerialization: { JSON: { Type: 'LINES' } }, OutputSerialization: { JSON: {} } });
    const got = lines.records.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    const want = [];
    for (let i = 0; i < 2000 && want.length < 2; i++) if ((i * 7) % 50 > 45 && i % 3 === 0) want.push({ name: `p${i + 1}`, team: 'red' });
    assert.deepEqual(got, want);
    const whole = await select(a[2]!, { Bucket: 'data', Key: 'people.jsonl', Expression: 'SELECT * FROM S3Object s WHERE s.id = 5', InputSerialization: { JSON: { Type: 'LINES' } }, OutputSerialization: { JSON: {} } });
    assert.deepEqual(JSON.parse(whole.records), { id: 5, name: 'p5', tags: { team: 'blue' }, score: 28 });
    const doc = await select(a[0]!, { Bucket: 'data', Key: 'doc.json', Expression: 'SELECT d.a FROM S3Object[*].items[*] d', InputSerialization: { JSON: { Type: 'DOCUMENT' } }, OutputSerialization: CSV_OUT });
    assert.equal(doc.records, '1\n2\n3\n');
  });

  test('GZIP and BZIP2 objects', async () => {
    const text = people(5000);
    await put('people.csv.gz', gzipSync(text));
    const gz = await select(a[2]!, { Bucket: 'data', Key: 'people.csv.gz', Expression: "SELECT COUNT(*) FROM S3Object s WHERE s.city = 'Rome'", InputSerialization: { ...CSV_IN, CompressionType: 'GZIP' }, OutputSerialization: CSV_OUT });
    assert.equal(gz.records, '1000\n');
    assert.equal(gz.stats?.BytesProcessed, Buffer.byteLength(text), 'BytesProcessed counts decompressed bytes');
    assert.ok((gz.stats?.BytesScanned ?? 0) < Buffer.byteLength(text), 'BytesScanned counts the stored (compressed) bytes');
    const bz = execFileSync('bzip2', ['-c'], { input: text });
    await put('people.csv.bz2', bz);
    const b2 = await select(a[1]!, { Bucket: 'data', Key: 'people.csv.bz2', Expression: "SELECT s.name FROM S3Object s WHERE s.id = '4321'", InputSerialization: { ...CSV_IN, CompressionType: 'BZIP2' }, OutputSerialization: CSV_OUT });
    assert.equal(b2.records, 'person 4321\n');
    // A GZIP object that is not: the error reaches the SDK as the stream's error event or a 400.
    await put('fake.gz', 'not gzip at all\n');
    await assert.rejects(select(a[0]!, { Bucket: 'data', Key: 'fake.gz', Expression: 'SELECT * FROM S3Object', InputSerialization: { CSV: {}, CompressionType: 'GZIP' }, OutputSerialization: CSV_OUT }), (err: Error) => err.name === 'TruncatedInput');
  });

  test('ScanRange: the records that start in the range, whole', async () => {
    const text = 'a,1\nbb,2\nccc,3\ndddd,4\n';
    await put('range.csv', text);
    // Records start at bytes 0 ("a,1"), 4 ("bb,2"), 9 ("ccc,3") and 15 ("dddd,4"); the object has 22.
    const mid = await select(a[1]!, { Bucket: 'data', Key: 'range.csv', Expression: 'SELECT _1 FROM S3Object', InputSerialization: { CSV: {} }, OutputSerialization: CSV_OUT, ScanRange: { Start: 4, End: 9 } });
    assert.equal(mid.records, 'bb\nccc\n');
    const tail = await select(a[1]!, { Bucket: 'data', Key: 'range.csv', Expression: 'SELECT _1 FROM S3Object', InputSerialization: { CSV: {} }, OutputSerialization: CSV_OUT, ScanRange: { Start: 10 } });
    assert.equal(tail.records, 'dddd\n');
    const last = await select(a[1]!, { Bucket: 'data', Key: 'range.csv', Expression: 'SELECT _1 FROM S3Object', InputSerialization: { CSV: {} }, OutputSerialization: CSV_OUT, ScanRange: { End: 8 } });
    assert.equal(last.records, 'dddd\n', 'End alone: the last 8 bytes');
  });

  test('Parquet: aggregates over row groups in chunks across nodes, projections, timestamps, LIMIT, refusals', async () => {
    const PQ = { Parquet: {} };
    let count = 0;
    let sum = 0;
    for (let i = 1; i <= PARQUET_ROWS; i++) {
      const score = (i * 37) % 101;
      if (score >= 50 && i % 5 === 3) {
        count++;
        sum += score;
      }
    }
    const agg = await select(a[1]!, { Bucket: 'data', Key: 'people.parquet', Expression: "SELECT COUNT(*), SUM(s.score) FROM S3Object s WHERE s.score >= 50 AND s.city = 'Kyiv'", InputSerialization: PQ, OutputSerialization: CSV_OUT });
    assert.equal(agg.records, `${count},${sum}\n`);
    assert.ok(agg.stats?.BytesScanned !== undefined && agg.stats.BytesScanned > 0);
    const rows = await select(a[2]!, { Bucket: 'data', Key: 'people.parquet', Expression: 'SELECT s.id, s.name, s.seen FROM S3Object s WHERE s.id > 19998 LIMIT 3', InputSerialization: PQ, OutputSerialization: { JSON: {} } });
    assert.deepEqual(
      rows.records.trim().split('\n').map((l) => JSON.parse(l) as unknown),
      [19_999, 20_000, 20_001].map((i) => ({ id: i, name: `person ${i}`, seen: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString() })),
    );
    const all = await select(a[0]!, { Bucket: 'data', Key: 'people.parquet', Expression: 'SELECT * FROM S3Object LIMIT 2', InputSerialization: PQ, OutputSerialization: CSV_OUT });
    assert.equal(all.records, '1,person 1,37,Lima,2024-01-01T00:01:00.000Z\n2,person 2,74,Pune,2024-01-01T00:02:00.000Z\n');
    const late = await select(a[0]!, { Bucket: 'data', Key: 'people.parquet', Expression: "SELECT COUNT(*) FROM S3Object s WHERE CAST(s.seen AS TIMESTAMP) >= CAST('2024-01-28T00:00:00Z' AS TIMESTAMP)", InputSerialization: PQ, OutputSerialization: CSV_OUT });
    assert.equal(late.records, `${PARQUET_ROWS - 27 * 24 * 60 + 1}\n`);
    // Only the columns a query names are read: a query on the small id column scans less.
    const byId = await select(a[1]!, { Bucket: 'data', Key: 'people.parquet', Expression: 'SELECT COUNT(*) FROM S3Object s WHERE s.id > 0', InputSerialization: PQ, OutputSerialization: CSV_OUT });
    const byName = await select(a[1]!, { Bucket: 'data', Key: 'people.parquet', Expression: "SELECT COUNT(*) FROM S3Object s WHERE s.name <> ''", InputSerialization: PQ, OutputSerialization: CSV_OUT });
    assert.deepEqual([byId.records, byName.records], [`${PARQUET_ROWS}\n`, `${PARQUET_ROWS}\n`]);
    assert.ok(byId.stats!.BytesScanned! < byName.stats!.BytesScanned!, `scanned ${byId.stats!.BytesScanned} for id, ${byName.stats!.BytesScanned} for name`);
    await s3failure(select(a[0]!, { Bucket: 'data', Key: 'people.parquet', Expression: 'SELECT * FROM S3Object', InputSerialization: { ...PQ, CompressionType: 'GZIP' }, OutputSerialization: CSV_OUT }), 'InvalidCompressionFormat', 400);
    const notParquet = await s3failure(select(a[0]!, { Bucket: 'data', Key: 'small.csv', Expression: 'SELECT * FROM S3Object', InputSerialization: PQ, OutputSerialization: CSV_OUT }), 'InvalidRequestParameter', 400);
    assert.match(notParquet.message, /could not be read as Parquet/);
  });

  test('an SSE-C object needs its key, as GetObject does', async () => {
    const key = Buffer.alloc(32, 7);
    const sse = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(key).digest('base64') };
    await put('secret.csv', people(20_000), sse);
    const r = await select(a[2]!, { Bucket: 'data', Key: 'secret.csv', Expression: "SELECT s.name FROM S3Object s WHERE s.id = '19999'", InputSerialization: CSV_IN, OutputSerialization: CSV_OUT, ...sse });
    assert.equal(r.records, 'person 19999\n');
    await s3failure(select(a[2]!, { Bucket: 'data', Key: 'secret.csv', Expression: 'SELECT * FROM S3Object', InputSerialization: CSV_IN, OutputSerialization: CSV_OUT }), 'InvalidRequest', 400);
  });

  test('Progress events when asked', async () => {
    const r = await select(a[0]!, { Bucket: 'data', Key: 'people.csv', Expression: 'SELECT COUNT(*) FROM S3Object', InputSerialization: CSV_IN, OutputSerialization: CSV_OUT, RequestProgress: { Enabled: true } });
    assert.equal(r.records, '60000\n');
    assert.ok(r.ended);
  });

  test('errors before the stream: bad SQL, bad serialization, missing key, anonymous and other users', async () => {
    const base = { Bucket: 'data', Key: 'small.csv', InputSerialization: CSV_IN, OutputSerialization: CSV_OUT };
    const syntax = await s3failure(select(a[0]!, { ...base, Expression: 'SELECT FROM S3Object' }), undefined, 400);
    assert.match(syntax.name, /^Parse/, `a syntax error has a Parse… code, got ${syntax.name}`);
    await s3failure(select(a[0]!, { ...base, Expression: 'SELECT * FROM S3Object', InputSerialization: { CSV: {}, JSON: { Type: 'LINES' } } }), 'ObjectSerializationConflict', 400);
    await s3failure(select(a[0]!, { ...base, Key: 'nope.csv', Expression: 'SELECT * FROM S3Object' }), 'NoSuchKey', 404);
    await s3failure(select(anon, { ...base, Expression: 'SELECT * FROM S3Object' }), 'AccessDenied', 403);
    await s3failure(select(b, { ...base, Expression: 'SELECT * FROM S3Object' }), 'AccessDenied', 403);
    // The request document itself, sent raw: a wrong ExpressionType and a wrong select-type.
    const doc = (type: string): Buffer => Buffer.from(`<SelectObjectContentRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Expression>SELECT * FROM S3Object</Expression><ExpressionType>${type}</ExpressionType><InputSerialization><CSV/></InputSerialization><OutputSerialization><CSV/></OutputSerialization></SelectObjectContentRequest>`);
    const badType = await rawRequest(nodes[1]!.endpoint, alice, { method: 'POST', path: '/data/small.csv', query: { select: '', 'select-type': '2' }, body: doc('XQUERY') });
    assert.equal(badType.status, 400);
    assert.match(badType.body.toString(), /<Code>InvalidExpressionType<\/Code>/);
    const badSelectType = await rawRequest(nodes[1]!.endpoint, alice, { method: 'POST', path: '/data/small.csv', query: { select: '', 'select-type': '3' }, body: doc('SQL') });
    assert.equal(badSelectType.status, 400);
  });

  test('an object malformed after the first records: records, then an error event', async () => {
    // Valid JSON lines giving several Records events (about 540 KB of CSV), then a broken one.
    const good = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(20) })).join('\n');
    await put('broken.jsonl', `${good}\n{"i": oops}\n`);
    const out = await a[2]!.send(new SelectObjectContentCommand({ Bucket: 'data', Key: 'broken.jsonl', ExpressionType: 'SQL', Expression: 'SELECT * FROM S3Object s', InputSerialization: { JSON: { Type: 'LINES' } }, OutputSerialization: CSV_OUT }));
    let records = 0;
    let events = 0;
    await assert.rejects(
      (async () => {
        for await (const event of out.Payload!) {
          if (!event.Records?.Payload) continue;
          events++;
          assert.ok(event.Records.Payload.length <= RECORDS_PAYLOAD_BYTES, `a Records payload of ${event.Records.Payload.length} bytes`);
          records += Buffer.from(event.Records.Payload).toString().split('\n').length - 1;
        }
      })(),
      (err: Error) => err.name === 'JSONParsingError',
    );
    assert.ok(records > 0 && records <= 20_000, `records before the error: ${records}`);
    assert.ok(events >= 2, `records came in ${events} events`);
  });
});
