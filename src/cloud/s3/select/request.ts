/**
 * The SelectObjectContent request document (`POST /key?select&select-type=2`): parsed, checked
 * and given AWS's defaults. Elements the schema does not have are `MalformedXML`, as for every
 * other request document; values S3 Select refuses get its own codes (`InvalidExpressionType`,
 * `InvalidCompressionFormat`, …).
 */
import { childElement, leafText, parseXmlDocument, uniqueChildren } from '../protocol/index.ts';
import type { XmlElement } from '../protocol/index.ts';
import { SelectError } from '../protocol/select-errors.ts';
import type { CsvInputOptions } from './csv-input.ts';
import type { JsonInputType } from './json-input.ts';
import type { CsvOutputOptions } from './output.ts';

/** CSV input as the request gives it (AWS CSVInput), defaults applied. */
export type CsvInputSettings = Required<Omit<CsvInputOptions, 'comments'>> & Pick<CsvInputOptions, 'comments'> & { fileHeaderInfo: 'USE' | 'IGNORE' | 'NONE' };

/** A checked SelectObjectContent request. */
export interface SelectRequest {
  expression: string;
  compression: 'NONE' | 'GZIP' | 'BZIP2';
  input: { format: 'csv'; csv: CsvInputSettings } | { format: 'json'; type: JsonInputType } | { format: 'parquet' };
  output: { format: 'csv'; csv: Required<CsvOutputOptions> } | { format: 'json'; recordDelimiter: string };
  /** Whether Progress events are wanted. */
  progress: boolean;
  /** Bytes whose records are queried: records that start in [start, end] (end inclusive). */
  scanRange: { start: number; end: number | undefined } | undefined;
}

const ROOT = ['Expression', 'ExpressionType', 'RequestProgress', 'InputSerialization', 'OutputSerialization', 'ScanRange'];

/** Parses the request document (`MalformedXML`, or S3 Select's own codes for values it refuses). */
export function parseSelectRequest(body: Buffer): SelectRequest {
  if (body.length === 0) throw new SelectError('EmptyRequestBody');
  const root = parseXmlDocument(body, 'SelectObjectContentRequest');
  const el = uniqueChildren(root, ROOT);
  const expressionEl = el.get('Expression');
  if (!expressionEl) throw new SelectError('MissingRequiredParameter', 'The SelectRequest entity is missing a required parameter: Expression.');
  const expression = leafText(expressionEl);
  const type = el.get('ExpressionType');
  if (!type) throw new SelectError('MissingRequiredParameter', 'The SelectRequest entity is missing a required parameter: ExpressionType.');
  if (leafText(type).trim().toUpperCase() !== 'SQL') throw new SelectError('InvalidExpressionType');
  const inputEl = el.get('InputSerialization');
  if (!inputEl) throw new SelectError('MissingRequiredParameter', 'The SelectRequest entity is missing a required parameter: InputSerialization.');
  const outputEl = el.get('OutputSerialization');
  if (!outputEl) throw new SelectError('MissingRequiredParameter', 'The SelectRequest entity is missing a required parameter: OutputSerialization.');
  const { compression, input } = parseInput(inputEl);
  const scanRange = el.get('ScanRange') ? parseScanRange(el.get('ScanRange')!) : undefined;
  if (scanRange && compression !== 'NONE') throw new SelectError('UnsupportedScanRangeInput', 'Scan range queries are not supported on compressed objects.');
  if (scanRange && input.format === 'parquet') throw new SelectError('UnsupportedScanRangeInput', 'Scan range queries are not supported on Parquet objects.');
  if (scanRange && input.format === 'json' && input.type !== 'LINES') throw new SelectError('UnsupportedScanRangeInput', 'Scan range queries on JSON objects need JSON Type LINES.');
  // Records are cut at the record delimiter: one inside quotes would start a false record.
  if (scanRange && input.format === 'csv' && input.csv.allowQuotedRecordDelimiter) throw new SelectError('UnsupportedScanRangeInput', 'Scan range queries are not supported with AllowQuotedRecordDelimiter TRUE.');
  return {
    expression,
    compression,
    input,
    output: parseOutput(outputEl),
    progress: el.get('RequestProgress') ? booleanChild(el.get('RequestProgress')!, 'Enabled', false) : false,
    scanRange,
  };
}

function parseInput(el: XmlElement): Pick<SelectRequest, 'compression' | 'input'> {
  const c = uniqueChildren(el, ['CompressionType', 'CSV', 'JSON', 'Parquet']);
  const compressionText = c.get('CompressionType') ? leafText(c.get('CompressionType')!).trim().toUpperCase() : 'NONE';
  if (compressionText !== 'NONE' && compressionText !== 'GZIP' && compressionText !== 'BZIP2') throw new SelectError('InvalidCompressionFormat');
  const formats = ['CSV', 'JSON', 'Parquet'].filter((f) => c.has(f));
  if (formats.length === 0) throw new SelectError('MissingRequiredParameter', 'The InputSerialization entity needs one of CSV, JSON or Parquet.');
  if (formats.length > 1) throw new SelectError('ObjectSerializationConflict', 'InputSerialization specifies more than one format (CSV, JSON, or Parquet).');
  if (c.has('Parquet')) {
    // ParquetInput has no settings; its pages carry their own compression.
    uniqueChildren(c.get('Parquet')!, []);
    if (compressionText !== 'NONE') throw new SelectError('InvalidCompressionFormat', 'Parquet objects take CompressionType NONE: their pages carry their own compression.');
    return { compression: 'NONE', input: { format: 'parquet' } };
  }
  if (c.has('JSON')) {
    const j = uniqueChildren(c.get('JSON')!, ['Type']);
    const t = j.get('Type') ? leafText(j.get('Type')!).trim().toUpperCase() : 'DOCUMENT';
    if (t !== 'DOCUMENT' && t !== 'LINES') throw new SelectError('InvalidJsonType');
    return { compression: compressionText, input: { format: 'json', type: t } };
  }
  const x = uniqueChildren(c.get('CSV')!, ['FileHeaderInfo', 'Comments', 'QuoteEscapeCharacter', 'RecordDelimiter', 'FieldDelimiter', 'QuoteCharacter', 'AllowQuotedRecordDelimiter']);
  const header = x.get('FileHeaderInfo') ? leafText(x.get('FileHeaderInfo')!).trim().toUpperCase() : 'NONE';
  if (header !== 'USE' && header !== 'IGNORE' && header !== 'NONE') throw new SelectError('InvalidFileHeaderInfo');
  const comments = x.get('Comments') ? leafText(x.get('Comments')!) : '#';
  return {
    compression: compressionText,
    input: {
      format: 'csv',
      csv: {
        fileHeaderInfo: header,
        comments: comments === '' ? undefined : character(comments, 'Comments'),
        fieldDelimiter: delimiter(x.get('FieldDelimiter'), ',', 'FieldDelimiter'),
        recordDelimiter: delimiter(x.get('RecordDelimiter'), '\n', 'RecordDelimiter'),
        quoteCharacter: optionalCharacter(x.get('QuoteCharacter'), '"', 'QuoteCharacter'),
        quoteEscapeCharacter: optionalCharacter(x.get('QuoteEscapeCharacter'), '"', 'QuoteEscapeCharacter'),
        allowQuotedRecordDelimiter: booleanChild(c.get('CSV')!, 'AllowQuotedRecordDelimiter', false),
      },
    },
  };
}

function parseOutput(el: XmlElement): SelectRequest['output'] {
  const c = uniqueChildren(el, ['CSV', 'JSON']);
  if (c.size !== 1) {
    if (c.size === 0) throw new SelectError('MissingRequiredParameter', 'The OutputSerialization entity needs one of CSV or JSON.');
    throw new SelectError('ObjectSerializationConflict', 'OutputSerialization specifies more than one format (CSV or JSON).');
  }
  if (c.has('JSON')) {
    const j = uniqueChildren(c.get('JSON')!, ['RecordDelimiter']);
    return { format: 'json', recordDelimiter: delimiter(j.get('RecordDelimiter'), '\n', 'RecordDelimiter') };
  }
  const x = uniqueChildren(c.get('CSV')!, ['QuoteFields', 'QuoteEscapeCharacter', 'RecordDelimiter', 'FieldDelimiter', 'QuoteCharacter']);
  const quoteFields = x.get('QuoteFields') ? leafText(x.get('QuoteFields')!).trim().toUpperCase() : 'ASNEEDED';
  if (quoteFields !== 'ALWAYS' && quoteFields !== 'ASNEEDED') throw new SelectError('InvalidQuoteFields');
  return {
    format: 'csv',
    csv: {
      quoteFields,
      quoteCharacter: optionalCharacter(x.get('QuoteCharacter'), '"', 'QuoteCharacter'),
      quoteEscapeCharacter: optionalCharacter(x.get('QuoteEscapeCharacter'), '"', 'QuoteEscapeCharacter'),
      recordDelimiter: delimiter(x.get('RecordDelimiter'), '\n', 'RecordDelimiter'),
      fieldDelimiter: delimiter(x.get('FieldDelimiter'), ',', 'FieldDelimiter'),
    },
  };
}

function parseScanRange(el: XmlElement): NonNullable<SelectRequest['scanRange']> {
  const c = uniqueChildren(el, ['Start', 'End']);
  const start = c.get('Start') ? nonNegative(leafText(c.get('Start')!)) : undefined;
  const end = c.get('End') ? nonNegative(leafText(c.get('End')!)) : undefined;
  // Only End: the last End bytes of the object (resolved once its size is known, as a negative start).
  if (start === undefined && end === undefined) throw new SelectError('InvalidScanRange', 'ScanRange needs Start, End or both.');
  if (start !== undefined && end !== undefined && end < start) throw new SelectError('InvalidScanRange', 'The ScanRange End is before its Start.');
  if (start === undefined) return { start: -end!, end: undefined };
  return { start, end };
}

function nonNegative(text: string): number {
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) throw new SelectError('InvalidScanRange', `The ScanRange value "${t.slice(0, 40)}" is not a non-negative integer.`);
  return Number(t);
}

/** A delimiter: one or more characters, as written (AWS allows up to a few characters). */
function delimiter(el: XmlElement | undefined, fallback: string, name: string): string {
  if (!el) return fallback;
  const v = leafText(el);
  if (v === '') return fallback;
  if ([...v].length > 2) throw new SelectError('InvalidRequestParameter', `${name} must be one or two characters.`);
  return v;
}

/** One character, or the default when the element is absent or empty. */
function optionalCharacter(el: XmlElement | undefined, fallback: string, name: string): string {
  if (!el) return fallback;
  const v = leafText(el);
  return v === '' ? fallback : character(v, name);
}

function character(v: string, name: string): string {
  if ([...v].length !== 1) throw new SelectError('InvalidRequestParameter', `${name} must be a single character.`);
  return v;
}

function booleanChild(parent: XmlElement, name: string, fallback: boolean): boolean {
  const el = childElement(parent, name);
  if (!el) return fallback;
  const v = leafText(el).trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new SelectError('InvalidRequestParameter', `${name} must be TRUE or FALSE.`);
}
