import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CsvRowWriter, JsonRowWriter, type CsvOutputOptions, type RowWriter } from '../../../../src/cloud/s3/select/output.ts';
import { MAX_RECORD_BYTES } from '../../../../src/cloud/s3/select/csv-input.ts';
import { SelectError } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import { TIMESTAMP, type JsonValue, type OutputRow, type SqlTimestamp, type SqlValue } from '../../../../src/cloud/s3/select/values.ts';

function row(...values: SqlValue[]): OutputRow {
  return { names: values.map((_, i) => `_${i + 1}`), values };
}

function named(names: string[], values: SqlValue[]): OutputRow {
  return { names, values };
}

function whole(value: JsonValue): OutputRow {
  return { names: [], values: [], whole: value };
}

function written(writer: RowWriter, rows: OutputRow[]): string {
  for (const r of rows) writer.write(r);
  return writer.take().toString('utf8');
}

function csv(rows: OutputRow[], options: CsvOutputOptions = {}): string {
  return written(new CsvRowWriter(options), rows);
}

function json(rows: OutputRow[], recordDelimiter?: string): string {
  return written(new JsonRowWriter(recordDelimiter === undefined ? {} : { recordDelimiter }), rows);
}

function ts(ms: number, precision: SqlTimestamp['precision'], offsetMinutes = 0, fraction?: string): SqlTimestamp {
  return fraction === undefined ? { kind: TIMESTAMP, ms, offsetMinutes, precision } : { kind: TIMESTAMP, ms, offsetMinutes, precision, fraction };
}

const over = (err: unknown): true => {
  assert.ok(err instanceof SelectError);
  assert.equal(err.code, 'OverMaxRecordSize');
  return true;
};

describe('value text', () => {
  test('scalars: strings as they are, numbers in shortest form, booleans, NULL and MISSING empty', () => {
    assert.equal(csv([row('a b', 1, 1.5, -0, 1e21, 0.1 + 0.2, -2.5e-7, true, false, null, undefined, '')]), 'a b,1,1.5,0,1e+21,0.30000000000000004,-2.5e-7,true,false,,,\n');
    assert.equal(csv([row(NaN, Infinity, -Infinity)]), 'NaN,Infinity,-Infinity\n');
  });

  test('timestamps at each precision, with their offset', () => {
    const t = Date.UTC(2007, 1, 23, 20, 14, 33, 79);
    assert.equal(
      csv([row(ts(Date.UTC(2007, 0, 1), 'year'), ts(Date.UTC(2007, 1, 1), 'month'), ts(Date.UTC(2007, 1, 23), 'day'))]),
      '2007T,2007-02T,2007-02-23T\n',
    );
    assert.equal(csv([row(ts(t, 'minute'), ts(t, 'second', 330), ts(t, 'fraction', -480, '079'))]), '2007-02-23T20:14Z,2007-02-24T01:44:33+05:30,2007-02-23T12:14:33.079-08:00\n');
    // Without the digits as written, the milliseconds; with them, all of them.
    assert.equal(csv([row(ts(t, 'fraction'), ts(t, 'fraction', 0, '079123456'))]), '2007-02-23T20:14:33.079Z,2007-02-23T20:14:33.079123456Z\n');
    // The offset moves the wall-clock date, too; a negative offset with minutes.
    assert.equal(csv([row(ts(Date.UTC(2007, 0, 1, 2, 0), 'minute', -210))]), '2006-12-31T22:30-03:30\n');
    assert.equal(csv([row(ts(Date.parse('0001-01-01T00:00:00Z'), 'year'))]), '0001T\n');
  });

  test('JSON arrays and objects as JSON text (quoted as needed)', () => {
    assert.equal(csv([row([1, 'x'], { a: { b: null } }, [], {})]), '"[1,""x""]","{""a"":{""b"":null}}",[],{}\n');
  });
});

describe('CSV output', () => {
  test('ASNEEDED quotes fields holding a delimiter, a quote or a line break', () => {
    assert.equal(csv([row('plain', '', 'a,b', 'a\nb', 'a\rb', 'say "hi"', ' padded ')]), 'plain,,"a,b","a\nb","a\rb","say ""hi""", padded \n');
  });

  test('ALWAYS quotes every field, empty ones and numbers included', () => {
    assert.equal(csv([row('a', '', null, undefined, 1, 'q"')], { quoteFields: 'ALWAYS' }), '"a","","","","1","q"""\n');
  });

  test('custom quote and escape characters: the escape escapes the quote and itself', () => {
    const o = { quoteCharacter: "'", quoteEscapeCharacter: '\\', fieldDelimiter: ';', recordDelimiter: '\r\n' };
    assert.equal(csv([row("it's", 'back\\slash', 'a;b', 'plain', 'x"y', 'l1\r\nl2')], o), "'it\\'s';'back\\\\slash';'a;b';plain;x\"y;'l1\r\nl2'\r\n");
    // The escape alone defaults to the quote: doubling.
    assert.equal(csv([row("it's")], { quoteCharacter: "'" }), "'it''s'\n");
  });

  test('delimiters of several characters, and characters special to regular expressions', () => {
    assert.equal(csv([row('a', 'b::c', 'd|e'), row('f')], { fieldDelimiter: '::', recordDelimiter: '||' }), 'a::"b::c"::d|e||f||');
    assert.equal(csv([row('a.b', 'c*d', 'e')], { fieldDelimiter: '*', quoteCharacter: '.' }), '.a..b.*.c*d.*e\n');
    assert.equal(csv([row('x-y', 'z')], { fieldDelimiter: '-', recordDelimiter: ']' }), '"x-y"-z]');
  });

  test('a whole JSON record: its top-level values in order, or itself when not an object', () => {
    assert.equal(csv([whole({ b: 1, a: 'x,y', c: [1], d: null, e: { f: true } })]), '1,"x,y",[1],,"{""f"":true}"\n');
    assert.equal(csv([whole('str'), whole(5), whole([1, 2]), whole(null), whole(false)]), 'str\n5\n"[1,2]"\n\nfalse\n');
    assert.equal(csv([whole({})]), '\n');
  });

  test('a row with no columns is an empty line', () => {
    assert.equal(csv([named([], []), row('a')]), '\na\n');
  });

  test('empty options are refused', () => {
    assert.throws(() => new CsvRowWriter({ fieldDelimiter: '' }), RangeError);
    assert.throws(() => new CsvRowWriter({ quoteCharacter: '' }), RangeError);
  });
});

describe('JSON output', () => {
  test('columns in order; MISSING left out, NULL as null, timestamps as strings, structures as JSON', () => {
    const t = ts(Date.UTC(2007, 1, 23), 'day');
    assert.equal(json([named(['a', 'b', 'c', 'd', 'e', 'f', 'g'], ['x', undefined, null, t, { k: [1, { m: null }] }, 2.5, false])]), '{"a":"x","c":null,"d":"2007-02-23T","e":{"k":[1,{"m":null}]},"f":2.5,"g":false}\n');
    assert.equal(json([named(['a'], [undefined])]), '{}\n');
  });

  test('numbers JSON cannot hold are null', () => {
    assert.equal(json([named(['a', 'b'], [NaN, -Infinity])]), '{"a":null,"b":null}\n');
  });

  test('names and strings are escaped; a name used twice appears twice', () => {
    assert.equal(json([named(['we"ird', 'a', 'a'], ['l1\nl2\u0001', 1, 2])]), '{"we\\"ird":"l1\\nl2\\u0001","a":1,"a":2}\n');
  });

  test('a whole record is written as it is', () => {
    assert.equal(json([whole({ b: 1, a: [true, null, { c: 'd' }] }), whole(3), whole('s'), whole(null)]), '{"b":1,"a":[true,null,{"c":"d"}]}\n3\n"s"\nnull\n');
  });

  test('custom record delimiter', () => {
    assert.equal(json([named(['a'], [1]), named(['a'], [2])], ','), '{"a":1},{"a":2},');
  });

  test('rows of one query sharing a names array, and rows with their own', () => {
    const names = ['a', 'b'];
    assert.equal(json([named(names, [1, 2]), named(names, [3, undefined]), named(['c'], [4]), named(names, [5, 6])]), '{"a":1,"b":2}\n{"a":3}\n{"c":4}\n{"a":5,"b":6}\n');
  });

  test('every row parses back to its columns', () => {
    const key = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '__proto__');
    const value = fc.oneof(fc.string({ unit: 'binary' }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant(undefined));
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(key, value), { maxLength: 5 }), { maxLength: 5 }), (rows) => {
        const text = json(rows.map((cols) => named(cols.map(([k]) => k), cols.map(([, v]) => v))));
        const lines = text.split('\n');
        assert.equal(lines.pop(), '');
        assert.equal(lines.length, rows.length);
        lines.forEach((line, i) => {
          const expected: Record<string, JsonValue> = {};
          for (const [k, v] of rows[i]!) if (v !== undefined) expected[k] = Object.is(v, -0) ? 0 : v;
          assert.deepEqual(JSON.parse(line), expected);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('the output buffer', () => {
  test('pendingBytes counts UTF-8 bytes; take hands them over and starts again', () => {
    const w = new CsvRowWriter();
    assert.equal(w.pendingBytes, 0);
    w.write(row('é'));
    assert.equal(w.pendingBytes, 3);
    w.write(row('😀', '€'));
    assert.equal(w.pendingBytes, 3 + 4 + 1 + 3 + 1);
    const first = w.take();
    assert.equal(first.toString('utf8'), 'é\n😀,€\n');
    assert.equal(first.length, 12);
    assert.equal(w.pendingBytes, 0);
    assert.equal(w.take().length, 0);
    w.write(row('z'));
    const second = w.take();
    assert.equal(second.toString(), 'z\n');
    // An earlier take is not touched by later writes.
    assert.equal(first.toString('utf8'), 'é\n😀,€\n');
  });

  test('many rows, taken at arbitrary points, add up to the whole output', () => {
    for (const make of [() => new CsvRowWriter(), () => new JsonRowWriter()]) {
      const reference = make();
      const w = make();
      const taken: Buffer[] = [];
      let expectedBytes = 0;
      for (let i = 0; i < 20_000; i++) {
        const r = row(`row ${i}`, i * 1.5, i % 7 === 0 ? 'é,"x"' : null);
        reference.write(r);
        const before = w.pendingBytes;
        w.write(r);
        expectedBytes += w.pendingBytes - before;
        if (i % 997 === 0) {
          const pending = w.pendingBytes;
          const t = w.take();
          assert.equal(t.length, pending);
          taken.push(t);
        }
      }
      assert.equal(Buffer.concat(taken).length + w.pendingBytes, expectedBytes);
      taken.push(w.take());
      assert.deepEqual(Buffer.concat(taken), reference.take());
    }
  });

  test('a row over 1 MiB is OverMaxRecordSize and leaves nothing behind; one of exactly 1 MiB is written', () => {
    const w = new CsvRowWriter();
    w.write(row('before'));
    assert.throws(() => w.write(row('x'.repeat(MAX_RECORD_BYTES + 1))), over);
    assert.throws(() => w.write(row('é'.repeat(MAX_RECORD_BYTES / 2), 'x')), over);
    assert.equal(w.pendingBytes, 7);
    w.write(row('é'.repeat(MAX_RECORD_BYTES / 2)));
    assert.equal(w.pendingBytes, 7 + MAX_RECORD_BYTES + 1);
    w.write(row('after'));
    const text = w.take().toString('utf8');
    assert.ok(text.startsWith('before\n') && text.endsWith('\nafter\n'));

    const j = new JsonRowWriter();
    j.write(named(['a'], ['x'.repeat(MAX_RECORD_BYTES - 8)]));
    assert.equal(j.pendingBytes, MAX_RECORD_BYTES + 1);
    assert.throws(() => j.write(named(['a'], ['x'.repeat(MAX_RECORD_BYTES - 7)])), over);
    assert.throws(() => j.write(whole({ a: 'x'.repeat(MAX_RECORD_BYTES) })), over);
    assert.equal(j.pendingBytes, MAX_RECORD_BYTES + 1);
  });
});
