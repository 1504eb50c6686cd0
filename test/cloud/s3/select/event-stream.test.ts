import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { SelectObjectContentCommand, type SelectObjectContentCommandOutput, type SelectObjectContentEventStream } from '@aws-sdk/client-s3';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { crc32Portable } from '../../../../src/wire/crc32.ts';
import { respond } from '../protocol/sdk-respond.ts';
import {
  MAX_MESSAGE_BYTES,
  RECORDS_PAYLOAD_BYTES,
  continuationEvent,
  endEvent,
  errorEvent,
  progressEvent,
  recordsEvent,
  statsEvent,
} from '../../../../src/cloud/s3/select/event-stream.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** CRC32 by zlib when this Node has it (≥ 20.15), else the project's table-driven one. */
const crc32: (data: Uint8Array) => number = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32 ?? ((d) => crc32Portable(d));

/** The SDK's own event stream codec (it checks both CRCs). */
const codec = new EventStreamCodec(
  (bytes) => Buffer.from(bytes).toString('utf8'),
  (text) => Buffer.from(text, 'utf8'),
);

interface Decoded {
  headers: [string, string, string][];
  body: Buffer;
}

/** Checks the framing of one message by hand, then decodes it with the SDK's codec. */
function decode(message: Buffer): Decoded {
  const total = message.readUInt32BE(0);
  const headersLength = message.readUInt32BE(4);
  assert.equal(total, message.length, 'total length');
  assert.equal(message.readUInt32BE(8), crc32(message.subarray(0, 8)), 'prelude CRC');
  assert.equal(message.readUInt32BE(total - 4), crc32(message.subarray(0, total - 4)), 'message CRC');
  const m = codec.decode(message);
  const body = Buffer.from(m.body);
  assert.equal(body.length, total - headersLength - 16, 'payload length');
  return { headers: Object.entries(m.headers).map(([name, h]) => [name, h.type, String(h.value)]), body };
}

/** Sends a SelectObjectContent request through the real S3 client, answered with `body` cut into pieces of the given sizes. */
async function sdkEvents(body: Buffer, pieceSizes: number[] = [body.length]): Promise<{ events: SelectObjectContentEventStream[]; error?: Error }> {
  const pieces: Buffer[] = [];
  for (let at = 0, k = 0; at < body.length; k++) {
    const n = Math.max(1, pieceSizes[k % pieceSizes.length]!);
    pieces.push(body.subarray(at, at + n));
    at += n;
  }
  const events: SelectObjectContentEventStream[] = [];
  try {
    const out = await respond<SelectObjectContentCommandOutput>(
      new SelectObjectContentCommand({
        Bucket: 'b',
        Key: 'k',
        Expression: 'SELECT * FROM S3Object',
        ExpressionType: 'SQL',
        InputSerialization: { CSV: {} },
        OutputSerialization: { CSV: {} },
      }),
      { status: 200, body: pieces },
    );
    for await (const e of out.Payload!) events.push(e);
    return { events };
  } catch (error) {
    return { events, error: error as Error };
  }
}

const stats = { bytesScanned: 512, bytesProcessed: 1024, bytesReturned: 100 };

describe('event stream messages', () => {
  test('Records: headers, content type and the payload as given', () => {
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const m = decode(recordsEvent(payload));
    assert.deepEqual(m.headers, [
      [':event-type', 'string', 'Records'],
      [':content-type', 'string', 'application/octet-stream'],
      [':message-type', 'string', 'event'],
    ]);
    assert.deepEqual(m.body, payload);
    assert.deepEqual(decode(recordsEvent(Buffer.alloc(0))).body, Buffer.alloc(0));
  });

  test('Stats and Progress: text/xml payloads with the three counts', () => {
    const s = decode(statsEvent(stats));
    assert.deepEqual(s.headers, [
      [':event-type', 'string', 'Stats'],
      [':content-type', 'string', 'text/xml'],
      [':message-type', 'string', 'event'],
    ]);
    assert.equal(
      s.body.toString(),
      '<?xml version="1.0" encoding="UTF-8"?><Stats><BytesScanned>512</BytesScanned><BytesProcessed>1024</BytesProcessed><BytesReturned>100</BytesReturned></Stats>',
    );
    const p = decode(progressEvent({ bytesScanned: 0, bytesProcessed: 2 ** 40, bytesReturned: 7 }));
    assert.deepEqual(p.headers, [
      [':event-type', 'string', 'Progress'],
      [':content-type', 'string', 'text/xml'],
      [':message-type', 'string', 'event'],
    ]);
    assert.equal(
      p.body.toString(),
      '<?xml version="1.0" encoding="UTF-8"?><Progress><BytesScanned>0</BytesScanned><BytesProcessed>1099511627776</BytesProcessed><BytesReturned>7</BytesReturned></Progress>',
    );
  });

  test('Cont and End: two headers, no payload', () => {
    const c = decode(continuationEvent());
    assert.deepEqual(c.headers, [
      [':event-type', 'string', 'Cont'],
      [':message-type', 'string', 'event'],
    ]);
    assert.equal(c.body.length, 0);
    const e = decode(endEvent());
    assert.deepEqual(e.headers, [
      [':event-type', 'string', 'End'],
      [':message-type', 'string', 'event'],
    ]);
    assert.equal(e.body.length, 0);
    // Each call is a buffer of its own.
    assert.notEqual(endEvent(), endEvent());
    assert.deepEqual(endEvent(), endEvent());
  });

  test('a request-level error: code, message, message type error, no payload', () => {
    const m = decode(errorEvent('CSVParsingError', 'Encountered an error parsing the CSV file: é'));
    assert.deepEqual(m.headers, [
      [':error-code', 'string', 'CSVParsingError'],
      [':error-message', 'string', 'Encountered an error parsing the CSV file: é'],
      [':message-type', 'string', 'error'],
    ]);
    assert.equal(m.body.length, 0);
  });

  test('an error message too long for a header is cut at a character boundary', () => {
    const m = decode(errorEvent('InternalError', 'é'.repeat(40_000)));
    const message = m.headers[1]![2];
    assert.equal(message, 'é'.repeat(32_767));
    assert.ok(Buffer.byteLength(message) <= 0xffff);
  });

  test('counts must be non-negative integers', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
      assert.throws(() => statsEvent({ ...stats, bytesReturned: bad }), RangeError);
      assert.throws(() => progressEvent({ ...stats, bytesScanned: bad }), RangeError);
    }
  });

  test('a message may not exceed the event stream limit of 16 MiB', () => {
    assert.equal(MAX_MESSAGE_BYTES, 16 * 1024 * 1024);
    const overhead = recordsEvent(Buffer.alloc(0)).length;
    assert.equal(recordsEvent(Buffer.alloc(MAX_MESSAGE_BYTES - overhead)).length, MAX_MESSAGE_BYTES);
    assert.throws(() => recordsEvent(Buffer.alloc(MAX_MESSAGE_BYTES - overhead + 1)), RangeError);
    assert.ok(recordsEvent(Buffer.alloc(RECORDS_PAYLOAD_BYTES)).length <= 128 * 1024);
  });

  test('the decoder used here does check the CRCs', () => {
    const good = recordsEvent(Buffer.from('a,b\n'));
    for (const at of [0, 9, 20, good.length - 6, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x01;
      assert.throws(() => codec.decode(bad), `flip at ${at}`);
    }
  });
});

describe('the AWS SDK reads the stream', () => {
  const records = ['id,name\n1,al', 'ice\n2,bob\n', '3,"c,d"\n'];
  const stream = Buffer.concat([
    recordsEvent(Buffer.from(records[0]!)),
    continuationEvent(),
    recordsEvent(Buffer.from(records[1]!)),
    progressEvent({ bytesScanned: 10, bytesProcessed: 20, bytesReturned: 30 }),
    recordsEvent(Buffer.from(records[2]!)),
    statsEvent(stats),
    endEvent(),
  ]);

  test('every event, in order, whole or cut into any pieces', async () => {
    for (const pieces of [[stream.length], [1], [7], [3, 50, 1, 200], [13, 2]]) {
      const { events, error } = await sdkEvents(stream, pieces);
      assert.equal(error, undefined, String(error));
      const kinds = events.map((e) => Object.entries(e).find(([, v]) => v !== undefined)?.[0]);
      assert.deepEqual(kinds, ['Records', 'Cont', 'Records', 'Progress', 'Records', 'Stats', 'End'], `pieces ${pieces.join(',')}`);
      const payload = Buffer.concat(events.filter((e) => e.Records).map((e) => Buffer.from(e.Records!.Payload!)));
      assert.equal(payload.toString(), records.join(''));
      assert.deepEqual(events.find((e) => e.Progress)!.Progress!.Details, { BytesScanned: 10, BytesProcessed: 20, BytesReturned: 30 });
      assert.deepEqual(events.find((e) => e.Stats)!.Stats!.Details, { BytesScanned: 512, BytesProcessed: 1024, BytesReturned: 100 });
    }
  });

  test('an error event ends the stream with the error, after the records before it', async () => {
    const body = Buffer.concat([recordsEvent(Buffer.from('1\n')), errorEvent('OverMaxRecordSize', 'The length of a record in the input or result is greater than the maxCharsPerRecord limit of 1 MB.')]);
    const { events, error } = await sdkEvents(body, [5]);
    assert.equal(events.length, 1);
    assert.equal(Buffer.from(events[0]!.Records!.Payload!).toString(), '1\n');
    assert.ok(error);
    assert.equal(error.name, 'OverMaxRecordSize');
    assert.equal(error.message, 'The length of a record in the input or result is greater than the maxCharsPerRecord limit of 1 MB.');
  });

  test('a large Records payload arrives whole', async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 'abc\n');
    const { events, error } = await sdkEvents(Buffer.concat([recordsEvent(payload), statsEvent(stats), endEvent()]), [65536]);
    assert.equal(error, undefined);
    assert.deepEqual(Buffer.from(events[0]!.Records!.Payload!), payload);
  });
});
