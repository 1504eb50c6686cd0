/**
 * The SelectObjectContent request document (select/request.ts): AWS's defaults applied, every
 * option read, and each refusal with its code — S3 Select's own for values it does not take,
 * `MalformedXML` for elements the schema does not have.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../../src/cloud/s3/protocol/index.ts';
import { SelectError } from '../../../../src/cloud/s3/protocol/select-errors.ts';
import { parseSelectRequest } from '../../../../src/cloud/s3/select/request.ts';

function doc(inner: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><SelectObjectContentRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</SelectObjectContentRequest>`);
}

const BASE = '<Expression>SELECT * FROM S3Object</Expression><ExpressionType>SQL</ExpressionType>';

function code(inner: string): string {
  try {
    parseSelectRequest(doc(inner));
  } catch (err) {
    assert.ok(err instanceof SelectError || err instanceof S3Error, String(err));
    return err.code;
  }
  assert.fail(`accepted: ${inner}`);
}

describe('SelectObjectContent request document', () => {
  test('CSV in and out with AWS defaults', () => {
    const r = parseSelectRequest(doc(`${BASE}<InputSerialization><CSV/></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`));
    assert.equal(r.expression, 'SELECT * FROM S3Object');
    assert.equal(r.compression, 'NONE');
    assert.deepEqual(r.input, {
      format: 'csv',
      csv: { fileHeaderInfo: 'NONE', comments: '#', fieldDelimiter: ',', recordDelimiter: '\n', quoteCharacter: '"', quoteEscapeCharacter: '"', allowQuotedRecordDelimiter: false },
    });
    assert.deepEqual(r.output, { format: 'csv', csv: { quoteFields: 'ASNEEDED', quoteCharacter: '"', quoteEscapeCharacter: '"', recordDelimiter: '\n', fieldDelimiter: ',' } });
    assert.equal(r.progress, false);
    assert.equal(r.scanRange, undefined);
  });

  test('every option read; JSON in and out; progress and scan range', () => {
    const csv = parseSelectRequest(
      doc(
        `${BASE}<RequestProgress><Enabled>TRUE</Enabled></RequestProgress><InputSerialization><CompressionType>gzip</CompressionType><CSV><FileHeaderInfo>use</FileHeaderInfo><Comments></Comments><FieldDelimiter>|</FieldDelimiter><RecordDelimiter>&#13;&#10;</RecordDelimiter><QuoteCharacter>'</QuoteCharacter><QuoteEscapeCharacter>\\</QuoteEscapeCharacter><AllowQuotedRecordDelimiter>true</AllowQuotedRecordDelimiter></CSV></InputSerialization><OutputSerialization><CSV><QuoteFields>ALWAYS</QuoteFields><FieldDelimiter>;</FieldDelimiter></CSV></OutputSerialization>`,
      ),
    );
    assert.equal(csv.progress, true);
    assert.equal(csv.compression, 'GZIP');
    assert.deepEqual(csv.input, {
      format: 'csv',
      csv: { fileHeaderInfo: 'USE', comments: undefined, fieldDelimiter: '|', recordDelimiter: '\r\n', quoteCharacter: "'", quoteEscapeCharacter: '\\', allowQuotedRecordDelimiter: true },
    });
    assert.equal(csv.output.format === 'csv' && csv.output.csv.quoteFields, 'ALWAYS');
    const json = parseSelectRequest(doc(`${BASE}<InputSerialization><JSON><Type>LINES</Type></JSON></InputSerialization><OutputSerialization><JSON><RecordDelimiter>,</RecordDelimiter></JSON></OutputSerialization><ScanRange><Start>10</Start><End>99</End></ScanRange>`));
    assert.deepEqual(json.input, { format: 'json', type: 'LINES' });
    assert.deepEqual(json.output, { format: 'json', recordDelimiter: ',' });
    assert.deepEqual(json.scanRange, { start: 10, end: 99 });
    const tail = parseSelectRequest(doc(`${BASE}<InputSerialization><JSON><Type>LINES</Type></JSON></InputSerialization><OutputSerialization><JSON/></OutputSerialization><ScanRange><End>50</End></ScanRange>`));
    assert.deepEqual(tail.scanRange, { start: -50, end: undefined }, 'End alone: the last 50 bytes');
    assert.deepEqual(parseSelectRequest(doc(`${BASE}<InputSerialization><JSON/></InputSerialization><OutputSerialization><JSON/></OutputSerialization>`)).input, { format: 'json', type: 'DOCUMENT' });
    assert.deepEqual(parseSelectRequest(doc(`${BASE}<InputSerialization><Parquet/></InputSerialization><OutputSerialization><JSON/></OutputSerialization>`)).input, { format: 'parquet' });
  });

  test('refusals and their codes', () => {
    const io = '<InputSerialization><CSV/></InputSerialization><OutputSerialization><CSV/></OutputSerialization>';
    const cases: [string, string][] = [
      [`<ExpressionType>SQL</ExpressionType>${io}`, 'MissingRequiredParameter'],
      [`<Expression>SELECT 1</Expression>${io}`, 'MissingRequiredParameter'],
      [`<Expression>x</Expression><ExpressionType>XQuery</ExpressionType>${io}`, 'InvalidExpressionType'],
      [`${BASE}<OutputSerialization><CSV/></OutputSerialization>`, 'MissingRequiredParameter'],
      [`${BASE}<InputSerialization><CSV/></InputSerialization>`, 'MissingRequiredParameter'],
      [`${BASE}<InputSerialization><CSV/><JSON/></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'ObjectSerializationConflict'],
      [`${BASE}<InputSerialization><CSV/></InputSerialization><OutputSerialization><CSV/><JSON/></OutputSerialization>`, 'ObjectSerializationConflict'],
      [`${BASE}<InputSerialization><CompressionType>ZIP</CompressionType><CSV/></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'InvalidCompressionFormat'],
      [`${BASE}<InputSerialization><CSV><FileHeaderInfo>MAYBE</FileHeaderInfo></CSV></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'InvalidFileHeaderInfo'],
      [`${BASE}<InputSerialization><JSON><Type>ARRAY</Type></JSON></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'InvalidJsonType'],
      [`${BASE}<InputSerialization><CSV/></InputSerialization><OutputSerialization><CSV><QuoteFields>SOMETIMES</QuoteFields></CSV></OutputSerialization>`, 'InvalidQuoteFields'],
      [`${BASE}<InputSerialization><CSV><QuoteCharacter>ab</QuoteCharacter></CSV></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'InvalidRequestParameter'],
      [`${BASE}<InputSerialization><CompressionType>GZIP</CompressionType><Parquet/></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'InvalidCompressionFormat'],
      [`${BASE}<InputSerialization><Parquet/></InputSerialization><OutputSerialization><CSV/></OutputSerialization><ScanRange><Start>0</Start></ScanRange>`, 'UnsupportedScanRangeInput'],
      [`${BASE}<InputSerialization><Parquet><Type>X</Type></Parquet></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'MalformedXML'],
      [`${BASE}${io}<ScanRange><Start>9</Start><End>3</End></ScanRange>`, 'InvalidScanRange'],
      [`${BASE}${io}<ScanRange><Start>-1</Start></ScanRange>`, 'InvalidScanRange'],
      [`${BASE}${io}<ScanRange></ScanRange>`, 'InvalidScanRange'],
      [`${BASE}<InputSerialization><CompressionType>GZIP</CompressionType><CSV/></InputSerialization><OutputSerialization><CSV/></OutputSerialization><ScanRange><Start>0</Start></ScanRange>`, 'UnsupportedScanRangeInput'],
      [`${BASE}<InputSerialization><JSON><Type>DOCUMENT</Type></JSON></InputSerialization><OutputSerialization><CSV/></OutputSerialization><ScanRange><Start>0</Start></ScanRange>`, 'UnsupportedScanRangeInput'],
      [`${BASE}<InputSerialization><CSV><AllowQuotedRecordDelimiter>TRUE</AllowQuotedRecordDelimiter></CSV></InputSerialization><OutputSerialization><CSV/></OutputSerialization><ScanRange><Start>0</Start></ScanRange>`, 'UnsupportedScanRangeInput'],
      [`${BASE}${io}<Unknown/>`, 'MalformedXML'],
      [`${BASE}<InputSerialization><CSV><Delimiter>,</Delimiter></CSV></InputSerialization><OutputSerialization><CSV/></OutputSerialization>`, 'MalformedXML'],
    ];
    for (const [inner, want] of cases) assert.equal(code(inner), want, inner);
    assert.throws(() => parseSelectRequest(Buffer.alloc(0)), (err: SelectError) => err.code === 'EmptyRequestBody');
    assert.throws(() => parseSelectRequest(Buffer.from('<Other/>')), (err: S3Error) => err.code === 'MalformedXML');
  });
});
