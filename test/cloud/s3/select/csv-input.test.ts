import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CsvRecordReader, MAX_RECORD_BYTES, type CsvInputOptions } from '../../../../src/cloud/s3/select/csv-input.ts';
import { CsvRowWriter, type CsvOutputOptions } from '../../../../src/cloud/s3/select/output.ts';
import { SelectError } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import { feed, pushUntilRefused, selectCode } from './feed.ts';

/** Parses `input` fed as the given pieces (cut at `cuts`, byte offsets), returning every record. */
function parse(input: string | Buffer, options: CsvInputOptions = {}, cuts: readonly number[] = []): string[][] {
  return feed(new CsvRecordReader(options), input, cuts);
}

/** Parses `input` whole, then cut at every byte offset, then in 1-byte pieces; all must agree. */
function parseEverySplit(input: string | Buffer, options: CsvInputOptions = {}): string[][] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const whole = parse(bytes, options);
  for (let i = 0; i <= bytes.length; i++) assert.deepEqual(parse(bytes, options, [i]), whole, `cut at ${i}`);
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= Math.min(bytes.length, i + 4); j++) assert.deepEqual(parse(bytes, options, [i, j]), whole, `cuts at ${i}, ${j}`);
  }
  const ones = Array.from({ length: bytes.length }, (_, i) => i + 1);
  assert.deepEqual(parse(bytes, options, ones), whole, 'one byte at a time');
  return whole;
}


describe('CSV records and fields', () => {
  test('default delimiters; the last record needs no delimiter', () => {
    assert.deepEqual(parse('a,b,c\n1,2,3\n'), [
      ['a', 'b', 'c'],
      ['1', '2', '3'],
    ]);
    assert.deepEqual(parse('a,b\n1,2'), [
      ['a', 'b'],
      ['1', '2'],
    ]);
    assert.deepEqual(parse(''), []);
    assert.deepEqual(parse('\n\n'), []);
  });

  test('empty fields, trailing delimiters and records of different widths', () => {
    assert.deepEqual(parse('a,,\n,\nx\n,b'), [['a', '', ''], ['', ''], ['x'], ['', 'b']]);
  });

  test('empty lines are skipped, a line holding "" is a record of one empty field', () => {
    assert.deepEqual(parse('a\n\n\nb\r\n\r\n""\n'), [['a'], ['b'], ['']]);
  });

  test('spaces are kept', () => {
    assert.deepEqual(parse(' a , b \n'), [[' a ', ' b ']]);
  });

  test('CRLF records read with the default \\n delimiter (the \\r is dropped, also after a quoted field)', () => {
    assert.deepEqual(parse('a,b\r\nc,"d"\r\ne\r'), [['a', 'b'], ['c', 'd'], ['e']]);
    // A \r elsewhere is data.
    assert.deepEqual(parse('a\rb,c\r\r\n'), [['a\rb', 'c\r']]);
  });

  test('an explicit \\r\\n delimiter leaves a lone \\n in a field', () => {
    assert.deepEqual(parse('a\nb,c\r\nd\r\n', { recordDelimiter: '\r\n' }), [['a\nb', 'c'], ['d']]);
  });

  test('UTF-8 text, including characters of 2, 3 and 4 bytes', () => {
    assert.deepEqual(parse('é,€,😀\nçà,"日本",x\n'), [
      ['é', '€', '😀'],
      ['çà', '日本', 'x'],
    ]);
  });

  test('a byte order mark at the start is dropped, elsewhere it is data', () => {
    assert.deepEqual(parse('\uFEFFname,age\n1,\uFEFF2\n'), [
      ['name', 'age'],
      ['1', '\uFEFF2'],
    ]);
    assert.deepEqual(parse('\uFEFF'), []);
  });

  test('bytesProcessed counts every byte pushed', () => {
    const reader = new CsvRecordReader();
    reader.push(Buffer.from('\uFEFFa,b\n'), () => {});
    reader.push(Buffer.from('c'), () => {});
    assert.equal(reader.bytesProcessed, 8);
  });
});

describe('CSV quoting', () => {
  test('quoted fields lose their quotes; a doubled quote is one quote', () => {
    assert.deepEqual(parse('"a,b","c""d",e,""\n'), [['a,b', 'c"d', 'e', '']]);
    assert.deepEqual(parse('"""",""""""\n'), [['"', '""']]);
  });

  test('a quote inside an unquoted field is an ordinary character', () => {
    assert.deepEqual(parse('5\'10",x"y"\n'), [['5\'10"', 'x"y"']]);
    assert.deepEqual(parse(' "a",b\n'), [[' "a"', 'b']]);
  });

  test('text after a closing quote is CSVUnescapedQuote', () => {
    assert.throws(() => parse('"ab"c,d\n'), selectCode('CSVUnescapedQuote'));
    assert.throws(() => parse('"ab" ,d\n'), selectCode('CSVUnescapedQuote'));
  });

  test('a quoted field still open at the end of the input is CSVParsingError', () => {
    assert.throws(() => parse('a,"bc'), selectCode('CSVParsingError'));
    assert.throws(() => parse('a,"b\n', { allowQuotedRecordDelimiter: true }), selectCode('CSVParsingError'));
  });

  test('a distinct escape character escapes the quote and itself; before anything else it is kept', () => {
    const o = { quoteEscapeCharacter: '\\' };
    assert.deepEqual(parse('"a\\"b","c\\\\d","e\\f",g\\h\n', o), [['a"b', 'c\\d', 'e\\f', 'g\\h']]);
    // With a distinct escape, a doubled quote closes the field and the second quote is stray.
    assert.throws(() => parse('"a""b"\n', o), selectCode('CSVUnescapedQuote'));
  });

  test('a custom quote character (the escape follows it by default)', () => {
    assert.deepEqual(parse("'a,b','it''s',\"c\"\n", { quoteCharacter: "'" }), [['a,b', "it's", '"c"']]);
    assert.deepEqual(parse("'a,b','it\"'s'\n", { quoteCharacter: "'", quoteEscapeCharacter: '"' }), [['a,b', "it's"]]);
  });

  test('an empty quote character turns quoting off', () => {
    assert.deepEqual(parse('"a,b"\n', { quoteCharacter: '' }), [['"a', 'b"']]);
  });

  test('a quoted record delimiter: CSVEscapingRecordDelimiter by default, data when allowed', () => {
    assert.throws(() => parse('x,"a\nb",c\n'), selectCode('CSVEscapingRecordDelimiter'));
    assert.throws(() => parse('x,"a\r\nb",c\r\n'), selectCode('CSVEscapingRecordDelimiter'));
    const o = { allowQuotedRecordDelimiter: true };
    assert.deepEqual(parse('x,"a\nb",c\nd\n', o), [['x', 'a\nb', 'c'], ['d']]);
    // The \r of a CRLF inside quotes is data too; empty and #-lines inside quotes are data.
    assert.deepEqual(parse('"l1\r\n\r\n#l3",z\r\n', { ...o, comments: '#' }), [['l1\r\n\r\n#l3', 'z']]);
    assert.deepEqual(parse('"a||b"||c||', { ...o, recordDelimiter: '||' }), [['a||b'], ['c']]);
  });
});

describe('CSV delimiters and comments', () => {
  test('custom single-character delimiters', () => {
    assert.deepEqual(parse('a|b;c|"d;e"', { fieldDelimiter: '|', recordDelimiter: ';', allowQuotedRecordDelimiter: true }), [
      ['a', 'b'],
      ['c', 'd;e'],
    ]);
    assert.deepEqual(parse('a\tb\n', { fieldDelimiter: '\t' }), [['a', 'b']]);
  });

  test('delimiters of several characters, and of non-ASCII characters', () => {
    assert.deepEqual(parse('a::b:c::"d::e"\r\nf', { fieldDelimiter: '::', recordDelimiter: '\r\n' }), [
      ['a', 'b:c', 'd::e'],
      ['f'],
    ]);
    assert.deepEqual(parse('a¦b€c¦d€', { fieldDelimiter: '¦', recordDelimiter: '€' }), [
      ['a', 'b'],
      ['c', 'd'],
    ]);
    assert.deepEqual(parse('«a¦b«¦c\n', { fieldDelimiter: '¦', quoteCharacter: '«' }), [['a¦b', 'c']]);
  });

  test('lines starting with the comment character are skipped; elsewhere it is data', () => {
    assert.deepEqual(parse('#h,1\na,#b\n#\n c\n', { comments: '#' }), [['a', '#b'], [' c']]);
    assert.deepEqual(parse(';x\ny\n', { comments: ';' }), [['y']]);
    assert.deepEqual(parse('//x\n/y\n', { comments: '//' }), [['/y']]);
    // A quoted field at the start is not a comment even if the quote is.
    assert.deepEqual(parse('"#a"\n', { comments: '#' }), [['#a']]);
  });

  test('no comment character (absent or empty): # lines are records', () => {
    assert.deepEqual(parse('#x,y\n'), [['#x', 'y']]);
    assert.deepEqual(parse('#x,y\n', { comments: '' }), [['#x', 'y']]);
  });

  test('empty delimiters are refused', () => {
    assert.throws(() => new CsvRecordReader({ fieldDelimiter: '' }), RangeError);
    assert.throws(() => new CsvRecordReader({ recordDelimiter: '' }), RangeError);
  });
});

describe('CSV chunk boundaries', () => {
  test('default options: cut anywhere (inside UTF-8 characters, \\r\\n, "" and the BOM)', () => {
    const input = '\uFEFFid,"na,me",€\r\n1,"a""b",😀x\r\n\r\n#not a comment\n2,"",é\n3';
    assert.deepEqual(parseEverySplit(input), [
      ['id', 'na,me', '€'],
      ['1', 'a"b', '😀x'],
      ['#not a comment'],
      ['2', '', 'é'],
      ['3'],
    ]);
  });

  test('quoted record delimiters, comments, a distinct escape: cut anywhere', () => {
    const input = '#c\n"a\r\nb",\\x\n"q\\"\\\\",日\r\n#\n"\n"\n';
    assert.deepEqual(parseEverySplit(input, { allowQuotedRecordDelimiter: true, comments: '#', quoteEscapeCharacter: '\\' }), [
      ['a\r\nb', '\\x'],
      ['q"\\', '日'],
      ['\n'],
    ]);
  });

  test('delimiters of several bytes: cut anywhere, also inside a delimiter', () => {
    const input = 'a::b\r\n"c\r\nd"::é::\r\n::\r\n\r\nz';
    assert.deepEqual(parseEverySplit(input, { fieldDelimiter: '::', recordDelimiter: '\r\n', allowQuotedRecordDelimiter: true }), [
      ['a', 'b'],
      ['c\r\nd', 'é', ''],
      ['', ''],
      ['z'],
    ]);
    // A delimiter whose bytes repeat (the first match wins, whatever the cuts).
    assert.deepEqual(parseEverySplit('xaaay', { recordDelimiter: 'aa' }), [['x'], ['ay']]);
    assert.deepEqual(parseEverySplit('€€a€€€b', { recordDelimiter: '€€' }), [['a'], ['€b']]);
  });

  test('errors do not depend on where the input is cut', () => {
    for (const [input, code] of [
      ['a,"b\nc"\n', 'CSVEscapingRecordDelimiter'],
      ['"a"b\n', 'CSVUnescapedQuote'],
      ['x\n"abc', 'CSVParsingError'],
    ] as const) {
      const bytes = Buffer.from(input);
      for (let i = 0; i <= bytes.length; i++) assert.throws(() => parse(bytes, {}, [i]), selectCode(code), `${input} cut at ${i}`);
    }
  });
});

describe('CSV records split in one loop and records that need the careful parser', () => {
  test('unquoted records, quoted fields in the middle, doubled quotes, quotes inside unquoted fields: cut anywhere', () => {
    const input = 'id,name,score\r\n1,"Smith, J",45\n2,"say ""hi""",7\r\n3,5\'10",x"y\n\n4,"",\n5,plain,"last"\n6,a,b\n';
    assert.deepEqual(parseEverySplit(input), [
      ['id', 'name', 'score'],
      ['1', 'Smith, J', '45'],
      ['2', 'say "hi"', '7'],
      ['3', '5\'10"', 'x"y'],
      ['4', '', ''],
      ['5', 'plain', 'last'],
      ['6', 'a', 'b'],
    ]);
  });

  test('a quoted record delimiter and a distinct escape character among plain records: cut anywhere', () => {
    const o = { allowQuotedRecordDelimiter: true, comments: '#' };
    assert.deepEqual(parseEverySplit('a,b\nc,"d\ne",f\n#x\ng,h\n', o), [
      ['a', 'b'],
      ['c', 'd\ne', 'f'],
      ['g', 'h'],
    ]);
    assert.deepEqual(parseEverySplit('a,b\n"c\\"d",e\nf,g\n', { quoteEscapeCharacter: '\\' }), [
      ['a', 'b'],
      ['c"d', 'e'],
      ['f', 'g'],
    ]);
  });

  test('delimiters of several characters around quoted fields: cut anywhere', () => {
    assert.deepEqual(parseEverySplit('a::"b::c"::d\r\n"e"\r\nf::g', { fieldDelimiter: '::', recordDelimiter: '\r\n' }), [
      ['a', 'b::c', 'd'],
      ['e'],
      ['f', 'g'],
    ]);
    // A field delimiter that would run into the record's `\r`: the quoted field is followed by text.
    assert.throws(() => parse('"a",\r\nb\n', { fieldDelimiter: ',\r' }), selectCode('CSVUnescapedQuote'));
  });

  test('many records of different widths, in chunks of any size, come back in order', () => {
    const records = Array.from({ length: 3000 }, (_, i) => Array.from({ length: 1 + (i % 5) }, (_, k) => (k === 2 && i % 3 === 0 ? `"q${i},${k}"` : `f${i}.${k}`)));
    const input = records.map((r) => r.join(',')).join('\n');
    const expected = records.map((r) => r.map((f) => f.replaceAll('"', '')));
    for (const size of [1, 7, 100, 4096, 70_000]) {
      const cuts = Array.from({ length: Math.floor(input.length / size) }, (_, i) => (i + 1) * size);
      assert.deepEqual(parse(input, {}, cuts), expected, `pieces of ${size}`);
    }
  });
});

describe('CSV limits and encoding', () => {
  test('a record of exactly 1 MiB is read; one byte more is OverMaxRecordSize', () => {
    const max = 'x'.repeat(MAX_RECORD_BYTES);
    const records = parse(`a\n${max}\nb\n`);
    assert.equal(records.length, 3);
    assert.equal(records[1]![0]!.length, MAX_RECORD_BYTES);
    assert.throws(() => parse(`a\n${max}y\nb\n`), selectCode('OverMaxRecordSize'));
    assert.throws(() => parse(`${max}y`), selectCode('OverMaxRecordSize'));
    // The CR of a CRLF is part of the record as counted.
    assert.throws(() => parse(`${max}\r\n`), selectCode('OverMaxRecordSize'));
  });

  test('the limit counts quotes and the quoted delimiters of a record spanning lines', () => {
    const half = 'x'.repeat(MAX_RECORD_BYTES / 2);
    assert.throws(() => parse(`"${half}\n${half}"\n`, { allowQuotedRecordDelimiter: true }), selectCode('OverMaxRecordSize'));
    assert.equal(parse(`"${half.slice(3)}\n${half}"\n`, { allowQuotedRecordDelimiter: true })[0]![0]!.length, MAX_RECORD_BYTES - 2);
  });

  test('an oversized record is refused while it arrives, before its end', () => {
    assert.ok(pushUntilRefused(new CsvRecordReader(), 'OverMaxRecordSize') <= MAX_RECORD_BYTES);
  });

  test('the limit counts bytes, also when a chunk ends inside a character near it', () => {
    const big = '€'.repeat((MAX_RECORD_BYTES - 1) / 3);
    // MAX_RECORD_BYTES exactly, cut inside the characters around its end.
    const exact = Buffer.from(`a\n${big}x\nb`);
    const at = 2 + MAX_RECORD_BYTES - 1;
    for (const cut of [at - 2, at - 1, at, at + 1]) assert.equal(parse(exact, {}, [cut]).length, 3);
    // Two bytes over, the last character cut after one byte (exactly full so far) and after two (over).
    const over = Buffer.from(`a\n${big}€\nb`);
    const reader = new CsvRecordReader();
    reader.push(over.subarray(0, at + 1), () => {});
    assert.throws(() => reader.push(over.subarray(at + 1), () => {}), selectCode('OverMaxRecordSize'));
    assert.throws(() => new CsvRecordReader().push(over.subarray(0, at + 2), () => {}), selectCode('OverMaxRecordSize'));
  });

  test('invalid UTF-8 is InvalidTextEncoding, wherever the input is cut', () => {
    const bad = Buffer.concat([Buffer.from('a,b\nc,'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]);
    for (let i = 0; i <= bad.length; i++) assert.throws(() => parse(bad, {}, [i]), selectCode('InvalidTextEncoding'));
    assert.throws(() => parse(Buffer.from([0x61, 0x0a, 0xe2, 0x82])), selectCode('InvalidTextEncoding'));
    // A lone part of a byte order mark is not one.
    assert.throws(() => parse(Buffer.from([0xef, 0xbb])), selectCode('InvalidTextEncoding'));
  });
});

describe('CSV errors come in order', () => {
  /** Feeds `bytes` in two pieces cut at `cut`: the records delivered, and which call threw what. */
  function feed(bytes: Buffer, cut: number): { records: string[][]; threw: string } {
    const reader = new CsvRecordReader();
    const records: string[][] = [];
    const onRecord = (fields: string[]): void => {
      records.push(fields);
    };
    const calls: [string, () => void][] = [
      ['push 1', () => reader.push(bytes.subarray(0, cut), onRecord)],
      ['push 2', () => reader.push(bytes.subarray(cut), onRecord)],
      ['end', () => reader.end(onRecord)],
    ];
    for (const [name, call] of calls) {
      try {
        call();
      } catch (err) {
        assert.ok(err instanceof SelectError, String(err));
        return { records, threw: `${name}: ${err.code}` };
      }
    }
    return { records, threw: 'nothing' };
  }

  test('the records before a record of invalid UTF-8 come first; the error comes with its record delimiter', () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n"c",d\ne,'), Buffer.from([0xff]), Buffer.from('f\ng\n')]);
    const delimiter = bytes.indexOf('\n', bytes.indexOf(0xff));
    for (let cut = 0; cut <= bytes.length; cut++) {
      assert.deepEqual(feed(bytes, cut), {
        records: [
          ['a', 'b'],
          ['c', 'd'],
        ],
        threw: `${cut > delimiter ? 'push 1' : 'push 2'}: InvalidTextEncoding`,
      }, `cut at ${cut}`);
    }
  });

  test('an error in an earlier record wins over invalid UTF-8 in a later one', () => {
    const bytes = Buffer.concat([Buffer.from('a\n"b"c\nd'), Buffer.from([0xe2, 0x82]), Buffer.from('\n')]);
    const delimiter = bytes.indexOf('\n', 2);
    for (let cut = 0; cut <= bytes.length; cut++) {
      assert.deepEqual(feed(bytes, cut), { records: [['a']], threw: `${cut > delimiter ? 'push 1' : 'push 2'}: CSVUnescapedQuote` }, `cut at ${cut}`);
    }
  });

  test('a character cut short by a record delimiter fails with that delimiter, not later', () => {
    const reader = new CsvRecordReader();
    const records: string[][] = [];
    reader.push(Buffer.from([0x61, 0x0a, 0xe2]), (f) => records.push(f));
    assert.throws(() => reader.push(Buffer.from('\n'), (f) => records.push(f)), selectCode('InvalidTextEncoding'));
    assert.deepEqual(records, [['a']]);
  });
});

describe('CSV round trip through the CSV writer', () => {
  const row = (fields: string[]) => ({ names: fields.map((_, i) => `_${i + 1}`), values: fields });
  const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', ';', '"', "'", '\\', '\n', '\r', '#', 'é', '€', '😀', '|', ':') });

  function roundTrip(records: string[][], out: CsvOutputOptions, input: CsvInputOptions, cuts: number[]): void {
    const writer = new CsvRowWriter(out);
    for (const r of records) writer.write(row(r));
    const bytes = writer.take();
    const sorted = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    assert.deepEqual(parse(bytes, input, sorted), records);
  }

  test('ALWAYS quoting: any records of any fields come back equal, however the bytes are cut', () => {
    const records = fc.array(fc.array(text, { minLength: 1, maxLength: 6 }), { maxLength: 8 });
    const cuts = fc.array(fc.nat(), { maxLength: 6 });
    fc.assert(
      fc.property(records, cuts, (rs, cs) => roundTrip(rs, { quoteFields: 'ALWAYS' }, { allowQuotedRecordDelimiter: true, comments: '#' }, cs)),
      { numRuns: 500 },
    );
  });

  test('ALWAYS quoting with a distinct escape character and other delimiters', () => {
    const records = fc.array(fc.array(text, { minLength: 1, maxLength: 6 }), { maxLength: 8 });
    const cuts = fc.array(fc.nat(), { maxLength: 6 });
    const style = { quoteCharacter: "'", quoteEscapeCharacter: '\\', fieldDelimiter: ';', recordDelimiter: '\r\n' };
    fc.assert(
      fc.property(records, cuts, (rs, cs) => roundTrip(rs, { quoteFields: 'ALWAYS', ...style }, { allowQuotedRecordDelimiter: true, ...style }, cs)),
      { numRuns: 500 },
    );
  });

  test('ASNEEDED quoting round-trips too (without comments, and no record that is one empty field: it writes an empty line)', () => {
    const records = fc.array(
      fc.array(text, { minLength: 1, maxLength: 6 }).filter((r) => !(r.length === 1 && r[0] === '')),
      { maxLength: 8 },
    );
    const cuts = fc.array(fc.nat(), { maxLength: 6 });
    fc.assert(
      fc.property(records, cuts, (rs, cs) => roundTrip(rs, {}, { allowQuotedRecordDelimiter: true }, cs)),
      { numRuns: 500 },
    );
  });
});
