import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonRecordReader, type JsonInputType } from '../../../../src/cloud/s3/select/json-input.ts';
import { MAX_RECORD_BYTES } from '../../../../src/cloud/s3/select/csv-input.ts';
import type { JsonValue } from '../../../../src/cloud/s3/select/values.ts';
import { feed, pushUntilRefused, selectCode } from './feed.ts';

/** Parses `input` fed as pieces cut at `cuts` (byte offsets), returning every record. */
function parse(input: string | Buffer, type: JsonInputType, cuts: readonly number[] = []): JsonValue[] {
  return feed(new JsonRecordReader({ type }), input, cuts);
}

/** Parses `input` whole, cut at every offset, at every pair of close offsets and byte by byte: all must agree. */
function parseEverySplit(input: string, type: JsonInputType): JsonValue[] {
  const bytes = Buffer.from(input, 'utf8');
  const whole = parse(bytes, type);
  for (let i = 0; i <= bytes.length; i++) {
    assert.deepEqual(parse(bytes, type, [i]), whole, `cut at ${i}`);
    for (let j = i; j <= Math.min(bytes.length, i + 3); j++) assert.deepEqual(parse(bytes, type, [i, j]), whole, `cuts at ${i}, ${j}`);
  }
  assert.deepEqual(
    parse(
      bytes,
      type,
      Array.from({ length: bytes.length }, (_, i) => i + 1),
    ),
    whole,
    'one byte at a time',
  );
  return whole;
}


describe('JSON LINES', () => {
  test('one value per line; blank and whitespace-only lines are skipped; the last line needs no newline', () => {
    assert.deepEqual(parse('{"a":1}\n\n  \t\n[1,2]\r\n"s"\n3\ntrue\nnull\n{"b":{"c":[]}}', 'LINES'), [{ a: 1 }, [1, 2], 's', 3, true, null, { b: { c: [] } }]);
    assert.deepEqual(parse('', 'LINES'), []);
    assert.deepEqual(parse('\n\r\n', 'LINES'), []);
  });

  test('whitespace around a value is fine, a value split over lines is not', () => {
    assert.deepEqual(parse('  {"a" : 1}  \r\n', 'LINES'), [{ a: 1 }]);
    assert.throws(() => parse('{"a":\n1}\n', 'LINES'), selectCode('JSONParsingError'));
  });

  test('malformed lines are JSONParsingError', () => {
    for (const bad of ['{"a":1} {"b":2}\n', '{a:1}\n', "{'a':1}\n", '[1,]\n', '{"a":1}}\n', 'nul\n', '{"a":"\\x"}\n']) {
      assert.throws(() => parse(`{"ok":true}\n${bad}`, 'LINES'), selectCode('JSONParsingError'), bad);
    }
  });

  test('strings may hold braces, quotes and escaped newlines', () => {
    assert.deepEqual(parse('{"a":"}{\\"\\n"}\n', 'LINES'), [{ a: '}{"\n' }]);
  });

  test('cut anywhere: inside values, UTF-8 characters, \\r\\n and the byte order mark', () => {
    const input = '\uFEFF{"n":"é€😀","s":"a\\"b"}\r\n\n[1, {"x": null}]\n  "line"  \n42';
    assert.deepEqual(parseEverySplit(input, 'LINES'), [{ n: 'é€😀', s: 'a"b' }, [1, { x: null }], 'line', 42]);
  });
});

describe('JSON DOCUMENT', () => {
  test('top-level values separated by whitespace, each spanning any number of lines', () => {
    const input = '{\n  "a": 1,\n  "b": [\n    2,\n    3\n  ]\n}\n{"c":{"d":{}}}  [1]\t"s"\n\n7 -1.5e3 true false null';
    assert.deepEqual(parse(input, 'DOCUMENT'), [{ a: 1, b: [2, 3] }, { c: { d: {} } }, [1], 's', 7, -1500, true, false, null]);
    assert.deepEqual(parse('', 'DOCUMENT'), []);
    assert.deepEqual(parse(' \n\t\r\n', 'DOCUMENT'), []);
  });

  test('values need no whitespace between them when their ends are clear', () => {
    assert.deepEqual(parse('{"a":1}{"b":2}[3]"x"4', 'DOCUMENT'), [{ a: 1 }, { b: 2 }, [3], 'x', 4]);
  });

  test('strings holding braces, brackets, escaped quotes and escaped backslashes', () => {
    const input = '{"a":"}}]]{{[[","b":"\\"}","c":"\\\\","d":"\\\\\\"{"} "\\\\" "}"';
    assert.deepEqual(parse(input, 'DOCUMENT'), [{ a: '}}]]{{[[', b: '"}', c: '\\', d: '\\"{' }, '\\', '}']);
  });

  test('malformed documents are JSONParsingError', () => {
    for (const bad of ['{"a":}', '{"a":1,}', '{"a" 1}', '}', ']', '{"a":1},{"b":2}', '[1]]', ':', 'tru', '{"a":1} x', '1.2.3', "{'a':1}"]) {
      assert.throws(() => parse(bad, 'DOCUMENT'), selectCode('JSONParsingError'), bad);
    }
  });

  test('a value still open at the end is JSONParsingError', () => {
    for (const bad of ['{"a":1', '[1,[2]', '"abc', '{"a":"}"', '{"a":"\\"}']) {
      assert.throws(() => parse(`{"ok":1} ${bad}`, 'DOCUMENT'), selectCode('JSONParsingError'), bad);
    }
  });

  test('records before a malformed value are still delivered', () => {
    const reader = new JsonRecordReader({ type: 'DOCUMENT' });
    const got: JsonValue[] = [];
    assert.throws(() => reader.push(Buffer.from('{"a":1} [2] }'), (v) => got.push(v)), selectCode('JSONParsingError'));
    assert.deepEqual(got, [{ a: 1 }, [2]]);
  });

  test('cut anywhere: inside strings, escapes, UTF-8 characters, numbers and literals', () => {
    const input = '\uFEFF{"k":"v\\"}\\\\","é":["€",{"z":"😀"}]}\n[true,null]"s\\u00e9"\r\n12345 -0.5 true null {"n":{"m":[[]]}}';
    assert.deepEqual(parseEverySplit(input, 'DOCUMENT'), [{ k: 'v"}\\', é: ['€', { z: '😀' }] }, [true, null], 'sé', 12345, -0.5, true, null, { n: { m: [[]] } }]);
  });

  test('any JSON values, written compactly or pretty, however cut', () => {
    const values = fc.array(fc.jsonValue(), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(values, fc.boolean(), fc.array(fc.nat(), { maxLength: 5 }), (vs, pretty, cuts) => {
        // A space between values: two top-level numbers must not run together.
        const text = vs.map((v) => JSON.stringify(v, null, pretty ? 2 : undefined)).join(pretty ? '\n' : ' ');
        const bytes = Buffer.from(text, 'utf8');
        const sorted = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        assert.deepEqual(
          parse(bytes, 'DOCUMENT', sorted),
          vs.map((v) => JSON.parse(JSON.stringify(v)) as JsonValue),
        );
      }),
      { numRuns: 300 },
    );
  });

  test('LINES reads the same values written one per line', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (vs, cuts) => {
        const bytes = Buffer.from(vs.map((v) => JSON.stringify(v)).join('\n'), 'utf8');
        const sorted = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        assert.deepEqual(
          parse(bytes, 'LINES', sorted),
          vs.map((v) => JSON.parse(JSON.stringify(v)) as JsonValue),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('JSON limits and encoding', () => {
  const big = (n: number): string => `{"s":"${'x'.repeat(n - 8)}"}`;

  test('a record of exactly 1 MiB is read; one byte more is OverMaxRecordSize', () => {
    assert.equal(big(MAX_RECORD_BYTES).length, MAX_RECORD_BYTES);
    for (const type of ['LINES', 'DOCUMENT'] as const) {
      assert.equal(parse(`1\n${big(MAX_RECORD_BYTES)}\n2`, type).length, 3, type);
      assert.throws(() => parse(`1\n${big(MAX_RECORD_BYTES + 1)}\n2`, type), selectCode('OverMaxRecordSize'), type);
      // Also when the record arrives in pieces.
      const bytes = Buffer.from(big(MAX_RECORD_BYTES + 1));
      const cuts = Array.from({ length: 17 }, (_, i) => (i + 1) * 60_000);
      assert.throws(() => parse(bytes, type, cuts), selectCode('OverMaxRecordSize'), type);
    }
  });

  test('an oversized record is refused while it arrives, before its end', () => {
    for (const type of ['LINES', 'DOCUMENT'] as const) {
      const reader = new JsonRecordReader({ type });
      reader.push(Buffer.from('{"s":"'), () => {});
      assert.ok(pushUntilRefused(reader, 'OverMaxRecordSize') <= MAX_RECORD_BYTES, type);
    }
  });

  test('invalid UTF-8 is InvalidTextEncoding (a real U+FFFD is fine)', () => {
    for (const type of ['LINES', 'DOCUMENT'] as const) {
      const bad = Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]);
      for (let i = 0; i <= bad.length; i++) assert.throws(() => parse(bad, type, [i]), selectCode('InvalidTextEncoding'), `${type} cut at ${i}`);
      assert.deepEqual(parse('{"r":"\uFFFD"}', type), [{ r: '\uFFFD' }]);
    }
  });

  test('bytesProcessed counts every byte pushed', () => {
    const reader = new JsonRecordReader({ type: 'DOCUMENT' });
    reader.push(Buffer.from('\uFEFF{"a"'), () => {});
    reader.push(Buffer.from(':1}'), () => {});
    assert.equal(reader.bytesProcessed, 10);
  });
});
