/**
 * SelectObjectContent (S3 Select): `POST /bucket/key?select&select-type=2` runs an SQL expression
 * over a CSV, JSON or Parquet object (CSV and JSON optionally GZIP or BZIP2 compressed; any of them optionally encrypted) on the
 * node that received the request, and streams the matching records back as an AWS event stream
 * (Records, then Stats and End; Progress when asked; Cont while a long scan finds nothing).
 *
 * The object streams through: bytes are read chunk by chunk (GetObject's reads and checks),
 * decompressed, split into records, evaluated and serialised, with the socket's back-pressure
 * pacing the reads, so an object of any size runs in bounded memory. Errors found before the
 * first event are ordinary S3 error responses (HTTP 400 with the S3 Select code); after it, an
 * error event ends the stream, as S3 does.
 */
import type { Env } from '../../env/index.ts';
import { S3Error } from './protocol/index.ts';
import { SelectError } from './protocol/select-errors.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { ChunkStore } from './chunks/store.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry, ObjectEntry } from './model.ts';
import { drained } from './data.ts';
import { readSmallBody } from './replies.ts';
import { objectBytes } from './select/object-bytes.ts';
import type { ObjectSource } from './select/object-bytes.ts';
import { parseSelectRequest } from './select/request.ts';
import type { SelectRequest } from './select/request.ts';
import { RecordWindow, scanWindow } from './select/scan-range.ts';
import { compileQuery } from './select/sql/index.ts';
import type { CompiledQuery } from './select/sql/index.ts';
import { CsvRecordReader } from './select/csv-input.ts';
import { JsonRecordReader } from './select/json-input.ts';
import { CsvRowWriter, JsonRowWriter } from './select/output.ts';
import { RECORDS_PAYLOAD_BYTES, continuationEvent, endEvent, errorEvent, progressEvent, recordsEvent, statsEvent } from './select/event-stream.ts';
import type { JsonValue, OutputRow } from './select/values.ts';
import { decompress } from './select/decompress.ts';
import { ParquetRecordReader, asyncBufferOf } from './select/parquet-input.ts';
import { matchingColumns, topLevelFields } from './select/sql/fields.ts';
import { parseQuery } from './select/sql/parser.ts';

/**
 * The Parquet columns a query needs decoded: those its paths can start with (sql/fields.ts), or
 * undefined (all) when it can see whole records or reaches into a nested column (read whole).
 */
function parquetColumns(expression: string, columns: { name: string; group: boolean }[]): string[] | undefined {
  const names = topLevelFields(parseQuery(expression));
  if (names === undefined) return undefined;
  const wanted = matchingColumns(names, columns.map((c) => c.name));
  if (wanted.some((name) => columns.find((c) => c.name === name)!.group)) return undefined;
  // No column named (COUNT(*)): the rows still have to be counted, so one column is read.
  if (wanted.length === 0) {
    const flat = columns.find((c) => !c.group);
    return flat ? [flat.name] : undefined;
  }
  return wanted;
}

/** Input read as a byte stream of records (CSV, JSON); Parquet is read by ranges instead. */
type TextInput = Exclude<SelectRequest['input'], { format: 'parquet' }>;

/** How the SQL engine sees the input's records (Parquet rows are JSON-like records). */
function queryInput(request: SelectRequest): 'csv' | 'json' {
  return request.input.format === 'csv' ? 'csv' : 'json';
}

/** Bytes processed between Progress events (when asked for) and between Cont events of a scan that finds nothing. */
const PROGRESS_EVERY_BYTES = 16 * 1024 * 1024;
/** Unsent response bytes above which reading waits for the socket. */
const MAX_UNSENT = 4 * 1024 * 1024;

/** What SelectObjectContent needs of the S3 API. */
export interface SelectContext {
  readonly env: Env;
  readonly catalog: Catalog;
  readonly store: ChunkStore;
  /** The request's bucket (`NoSuchBucket`). */
  bucketOf(r: S3Request): Promise<BucketEntry>;
  /** The object `r` may read (GetObject's checks and errors). */
  readableObject(r: S3Request, bucket: BucketEntry, key: string): Promise<ObjectEntry>;
  /** The data key of an encrypted object, from the request's SSE-C headers or the ring's keys. */
  dataKey(r: S3Request, entry: ObjectEntry): Promise<Buffer | undefined>;
  /** An inline object's bytes, decrypted with `key`. */
  inlineData(entry: ObjectEntry, key: Buffer | undefined): Buffer;
  /** The body verifier of a request. */
  verifier(r: S3Request): BodyVerifier;
}

/** Byte counts reported by Stats and Progress events. */
interface Counts {
  bytesScanned: number;
  bytesProcessed: number;
  bytesReturned: number;
}

/** The SelectObjectContent operation. */
export class SelectApi {
  constructor(private readonly ctx: SelectContext) {}

  async selectObjectContent(r: S3Request): Promise<void> {
    try {
      await this.select(r);
    } catch (err) {
      // Before the response started: an ordinary error document with S3 Select's code.
      throw err instanceof SelectError ? new S3Error(err.code, err.message) : err;
    }
  }

  private async select(r: S3Request): Promise<void> {
    if (r.query.get('select-type') !== '2') throw new S3Error('InvalidArgument', 'The select-type query parameter must be 2.', { fields: { ArgumentName: 'select-type', ArgumentValue: r.query.get('select-type') ?? '' } });
    // S3 Select does not serve anonymous requests.
    if (!r.principal) throw new S3Error('AccessDenied');
    const bucket = await this.ctx.bucketOf(r);
    const entry = await this.ctx.readableObject(r, bucket, r.key!);
    const request = parseSelectRequest(await readSmallBody(r, this.ctx.verifier(r)));
    const key = await this.ctx.dataKey(r, entry);
    // The expression is checked before anything is sent (an HTTP 400 for a syntax error).
    compileQuery(request.expression, { input: queryInput(request), now: () => this.ctx.env.now() });
    const source: ObjectSource = entry.data !== undefined ? { inline: this.ctx.inlineData(entry, key) } : { store: this.ctx.store, chunks: await this.ctx.catalog.chunkList(entry), key };
    await new SelectRun(this.ctx.env, r, request, entry.size, source).run();
  }
}

/** One query's run: reads, evaluates, sends. */
class SelectRun {
  private readonly counts: Counts = { bytesScanned: 0, bytesProcessed: 0, bytesReturned: 0 };
  private started = false;
  private query: CompiledQuery | undefined;
  private readonly writer: CsvRowWriter | JsonRowWriter;
  private nextProgress = PROGRESS_EVERY_BYTES;
  private sentSinceCheck = false;

  constructor(
    private readonly env: Env,
    private readonly r: S3Request,
    private readonly request: SelectRequest,
    private readonly size: number,
    private readonly source: ObjectSource,
  ) {
    const out = request.output;
    this.writer = out.format === 'csv' ? new CsvRowWriter(out.csv) : new JsonRowWriter({ recordDelimiter: out.recordDelimiter });
  }

  async run(): Promise<void> {
    try {
      await this.scan();
      this.flushRecords();
      this.send(statsEvent(this.counts));
      this.send(endEvent());
      this.r.res.end();
    } catch (err) {
      if (!this.started) throw err;
      // The client went away: nothing to tell anyone.
      if (this.r.res.destroyed) return;
      // After the first event the status is sent: the error travels as the stream's last event.
      const known = err instanceof SelectError || err instanceof S3Error;
      if (!known) this.env.log.error({ code: 'SelectFailed', tx: this.r.tx, err: (err as Error)?.message }, 'S3 Select failed after its response started');
      const e = known ? err : new S3Error('InternalError');
      this.r.res.write(errorEvent(e.code, e.message));
      this.r.res.end();
    }
  }

  /** Reads the object through the decompressor, the scan window and the record reader into the query. */
  private async scan(): Promise<void> {
    const req = this.request;
    const emit = (row: OutputRow): void => this.writer.write(row);
    const input = req.input;
    if (input.format === 'parquet') return this.scanParquet(emit);
    const reader = this.reader(input, emit);
    let window: RecordWindow | undefined;
    let from = 0;
    if (req.scanRange) {
      const delimiter = Buffer.from(input.format === 'csv' ? input.csv.recordDelimiter : '\n');
      const w = scanWindow(req.scanRange, this.size, delimiter.length);
      if (!w) return this.finishQuery(emit);
      window = new RecordWindow(delimiter, w);
      from = w.readFrom;
    }
    let bytes: AsyncIterable<Buffer> = this.counted(objectBytes(this.source, from, this.size - 1));
    if (req.compression !== 'NONE') bytes = decompress(bytes, req.compression);
    for await (const raw of bytes) {
      const piece = window ? window.take(raw) : raw;
      this.counts.bytesProcessed += piece.length;
      if (piece.length > 0) reader.push(piece);
      if (this.query?.done || window?.done) break;
      await this.afterPiece();
    }
    if (!this.query?.done) reader.end();
    this.finishQuery(emit);
  }

  /**
   * A Parquet object: ranged reads of its bytes (footer, then each row group's column chunks),
   * its rows into the query as JSON-like records, a row group at a time.
   */
  private async scanParquet(emit: (row: OutputRow) => void): Promise<void> {
    const read = async (start: number, end: number): Promise<Buffer> => {
      const pieces: Buffer[] = [];
      for await (const piece of objectBytes(this.source, start, end - 1)) pieces.push(piece);
      const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      this.counts.bytesScanned += bytes.length;
      this.counts.bytesProcessed += bytes.length;
      return bytes;
    };
    const parquet = await ParquetRecordReader.open(asyncBufferOf(this.size, read));
    const query = (this.query = compileQuery(this.request.expression, { input: 'json', now: () => this.env.now() }));
    for await (const rows of parquet.rowGroups(parquetColumns(this.request.expression, parquet.columns))) {
      for (const value of rows) {
        query.process({ kind: 'json', value }, emit);
        if (query.done) break;
      }
      if (query.done) break;
      await this.afterPiece();
    }
    this.finishQuery(emit);
  }

  /** The record reader of the input format, feeding the query (compiled once the CSV header, if used, is known). */
  private reader(input: TextInput, emit: (row: OutputRow) => void): { push(piece: Buffer): void; end(): void } {
    const req = this.request;
    const now = (): number => this.env.now();
    if (input.format === 'json') {
      const json = new JsonRecordReader({ type: input.type });
      const query = (this.query = compileQuery(req.expression, { input: 'json', now }));
      const onRecord = (value: JsonValue): void => {
        if (!query.done) query.process({ kind: 'json', value }, emit);
      };
      return { push: (piece) => json.push(piece, onRecord), end: () => json.end(onRecord) };
    }
    const settings = input.csv;
    const csv = new CsvRecordReader(settings);
    const header = settings.fileHeaderInfo;
    if (header === 'NONE') this.query = compileQuery(req.expression, { input: 'csv', now });
    const onRecord = (fields: string[]): void => {
      if (this.query === undefined) {
        // The first record is the header: names for USE, skipped either way.
        this.query = compileQuery(req.expression, header === 'USE' ? { input: 'csv', columnNames: fields, now } : { input: 'csv', now });
        return;
      }
      if (!this.query.done) this.query.process({ kind: 'csv', fields }, emit);
    };
    return { push: (piece) => csv.push(piece, onRecord), end: () => csv.end(onRecord) };
  }

  private finishQuery(emit: (row: OutputRow) => void): void {
    // An object with no records (or only a header) still answers an aggregate (COUNT(*) = 0).
    this.query ??= compileQuery(this.request.expression, { input: queryInput(this.request), now: () => this.env.now() });
    this.query.finish(emit);
  }

  /** Counts the bytes read from the object (BytesScanned: before decompression). */
  private async *counted(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const b of bytes) {
      this.counts.bytesScanned += b.length;
      yield b;
    }
  }

  /** Sends what accumulated, a Progress or Cont event when due, and waits for a slow reader. */
  private async afterPiece(): Promise<void> {
    if (this.writer.pendingBytes >= RECORDS_PAYLOAD_BYTES) this.flushRecords();
    if (this.counts.bytesProcessed >= this.nextProgress) {
      this.nextProgress += PROGRESS_EVERY_BYTES;
      if (this.request.progress) this.send(progressEvent(this.counts));
      // A long scan that matched nothing lately keeps the connection alive (S3's Cont events).
      else if (!this.sentSinceCheck) this.send(continuationEvent());
      this.sentSinceCheck = false;
    }
    const res = this.r.res;
    if (res.destroyed) throw new Error('the client went away');
    if (res.writableLength > MAX_UNSENT) await drained(res);
  }

  private flushRecords(): void {
    if (this.writer.pendingBytes === 0) return;
    const payload = this.writer.take();
    this.counts.bytesReturned += payload.length;
    this.sentSinceCheck = true;
    // Events of at most RECORDS_PAYLOAD_BYTES (a record may span two, as in S3's streams).
    for (let at = 0; at < payload.length; at += RECORDS_PAYLOAD_BYTES) this.send(recordsEvent(payload.subarray(at, at + RECORDS_PAYLOAD_BYTES)));
  }

  private send(message: Buffer): void {
    if (!this.started) {
      this.started = true;
      this.r.res.writeHead(200, { 'content-type': 'application/octet-stream' });
    }
    this.r.res.write(message);
  }
}
