/**
 * The messages of a SelectObjectContent response: AWS's event stream framing ("Appendix:
 * SelectObjectContent Response"). Each message is
 *
 *     total length (4) | headers length (4) | prelude CRC (4) | headers | payload | message CRC (4)
 *
 * big-endian, both CRCs CRC32 (the prelude's over the first 8 bytes, the message's over all that
 * precedes it); each header is name length (1) | name | value type 7 (string) | value length (2) |
 * value.
 *
 * Framed here rather than with `@smithy/eventstream-codec`: that package is now a shim over
 * `@smithy/core` (the SDK's whole runtime, which the server would then depend on) and re-marshals
 * the headers of every message, while ours are fixed per event type and encoded once, so a
 * Records message is one allocation, one copy of the payload and two runs of the project's native
 * CRC32. The tests decode every message with the SDK's own codec and event stream unmarshaller,
 * an independent implementation.
 *
 * AWS allows headers in any order; they are written in the order of its diagrams: `:event-type`,
 * `:content-type` (Records, Progress, Stats), `:message-type`; for errors `:error-code`,
 * `:error-message`, `:message-type`.
 */
import { crc32 } from '../../../wire/crc32.ts';

/** Byte counts of a Stats or Progress event. */
export interface SelectStats {
  /** Bytes of the object read (before decompression). */
  readonly bytesScanned: number;
  /** Bytes parsed (after decompression). */
  readonly bytesProcessed: number;
  /** Bytes of Records payload sent. */
  readonly bytesReturned: number;
}

/** Largest message an event stream allows (16 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * A comfortable size for a Records payload: AWS documents no limit and may split a record between
 * Records events; decoders that read a whole message into a fixed buffer (128 KiB in older SDKs)
 * are served by payloads this size or smaller. Larger payloads are valid.
 */
export const RECORDS_PAYLOAD_BYTES = 128 * 1024 - 1024;

const HEADER_VALUE_MAX = 0xffff;

/** One header with a string value (type 7). */
function header(name: string, value: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  let v: Buffer = Buffer.from(value, 'utf8');
  if (v.length > HEADER_VALUE_MAX) v = truncateUtf8(v, HEADER_VALUE_MAX);
  const out = Buffer.allocUnsafe(1 + n.length + 1 + 2 + v.length);
  out[0] = n.length;
  n.copy(out, 1);
  out[1 + n.length] = 7;
  out.writeUInt16BE(v.length, 2 + n.length);
  v.copy(out, 4 + n.length);
  return out;
}

/** The longest prefix of UTF-8 `bytes` within `max` bytes that does not cut a character. */
function truncateUtf8(bytes: Buffer, max: number): Buffer {
  let end = max;
  // Back off continuation bytes (10xxxxxx) to the start of the character cut in two.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function eventHeaders(eventType: string, contentType?: string): Buffer {
  const parts = [header(':event-type', eventType)];
  if (contentType !== undefined) parts.push(header(':content-type', contentType));
  parts.push(header(':message-type', 'event'));
  return Buffer.concat(parts);
}

const RECORDS = eventHeaders('Records', 'application/octet-stream');
const STATS = eventHeaders('Stats', 'text/xml');
const PROGRESS = eventHeaders('Progress', 'text/xml');
const CONT = eventHeaders('Cont');
const END = eventHeaders('End');

/** A whole message: prelude, its CRC, headers, payload, message CRC. */
function message(headers: Buffer, payload: Buffer | undefined): Buffer {
  const payloadLength = payload === undefined ? 0 : payload.length;
  const total = 16 + headers.length + payloadLength;
  if (total > MAX_MESSAGE_BYTES) throw new RangeError(`an event stream message holds at most ${MAX_MESSAGE_BYTES} bytes (${total} asked)`);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(headers.length, 4);
  const preludeCrc = crc32(out.subarray(0, 8));
  out.writeUInt32BE(preludeCrc, 8);
  headers.copy(out, 12);
  if (payload !== undefined) payload.copy(out, 12 + headers.length);
  // The message CRC continues from the prelude's: it covers the same first 8 bytes.
  out.writeUInt32BE(crc32(out.subarray(8, total - 4), preludeCrc), total - 4);
  return out;
}

function count(n: number, name: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer (got ${n})`);
  return String(n);
}

function statsXml(element: 'Stats' | 'Progress', s: SelectStats): Buffer {
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><${element}><BytesScanned>${count(s.bytesScanned, 'bytesScanned')}</BytesScanned>` +
      `<BytesProcessed>${count(s.bytesProcessed, 'bytesProcessed')}</BytesProcessed>` +
      `<BytesReturned>${count(s.bytesReturned, 'bytesReturned')}</BytesReturned></${element}>`,
    'utf8',
  );
}

/** A Records event carrying `payload` (whole records, part of one, or several). */
export function recordsEvent(payload: Buffer): Buffer {
  return message(RECORDS, payload);
}

/** The Stats event sent after the last Records event. */
export function statsEvent(stats: SelectStats): Buffer {
  return message(STATS, statsXml('Stats', stats));
}

/** A Progress event (sent while the query runs, when the request asked for progress). */
export function progressEvent(stats: SelectStats): Buffer {
  return message(PROGRESS, statsXml('Progress', stats));
}

/** A Cont event: keeps the connection alive while a scan finds nothing to send. */
export function continuationEvent(): Buffer {
  return message(CONT, undefined);
}

/** The End event: the response is complete. */
export function endEvent(): Buffer {
  return message(END, undefined);
}

/**
 * A request-level error message, which ends the stream (no End event follows). A message longer
 * than a header value allows (65535 bytes) is cut at a character boundary.
 */
export function errorEvent(code: string, errorMessage: string): Buffer {
  const headers = Buffer.concat([header(':error-code', code), header(':error-message', errorMessage), header(':message-type', 'error')]);
  return message(headers, undefined);
}
