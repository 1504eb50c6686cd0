/**
 * Binary encoding of messages (msgpack via msgpackr) and length-prefixed framing.
 *
 * Frame = 4-byte big-endian body length + msgpack body. Ids travel as a 20-byte msgpack
 * extension so they decode straight into {@link Id} objects.
 */
import { C1, Packr, addExtension } from 'msgpackr';
import { Id } from '../id/index.ts';
import { MessageType } from './messages.ts';
import type { WireMessage } from './messages.ts';
import { WireError, validateMessage } from './validate.ts';
import { takeFrameBuffer } from './frame-pool.ts';

/** Default hard limit on a frame body: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** msgpack extension type used for ids. */
const ID_EXTENSION_TYPE = 0x50;

addExtension({
  Class: Id,
  type: ID_EXTENSION_TYPE,
  pack(id: Id): Buffer {
    return id.toBytes();
  },
  unpack(bytes: Buffer): Id {
    return Id.fromBytes(bytes);
  },
});

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/** Encodes a message body (no frame header). */
export function encodeMessage(message: WireMessage): Buffer {
  return packr.pack(message);
}

/**
 * A message body kept in pieces so that one large binary value in it is written to the socket
 * as it is instead of being copied into the encoding. The pieces, written one after the other,
 * are exactly the bytes {@link encodeMessage} would produce: the receiver cannot tell.
 */
export class SplicedBody {
  constructor(
    /** The pieces, in order. */
    readonly parts: readonly Uint8Array[],
    /** Their total length in bytes. */
    readonly length: number,
  ) {}
}

/** A message body ready to be framed: one buffer, or pieces around a large binary value. */
export type EncodedBody = Buffer | SplicedBody;

/** A binary value at least this large in an application message's body is not copied. */
export const SPLICE_MIN_BYTES = 64 * 1024;
/** Stands in for the large value while the rest is packed; found again in the output. */
const SPLICE_MARKER = Buffer.from('5f9a0c3e71d4b8269e0a4c7d13f5b2e8', 'hex');
/** The marker as msgpack writes it (bin 8, 16 bytes). */
const PACKED_MARKER = Buffer.concat([Buffer.from([0xc4, SPLICE_MARKER.length]), SPLICE_MARKER]);

/**
 * The large binary value of a ROUTE or DIRECT message, if it carries one: the application
 * body itself or one of its fields (where chunk bytes travel). Looks no deeper, so that small
 * messages pay for a few property reads only.
 */
function largeBinary(message: WireMessage): { holder: Record<string, unknown>; key: string; value: Uint8Array } | undefined {
  if (message.t !== MessageType.ROUTE && message.t !== MessageType.DIRECT) return undefined;
  const app = message.msg as unknown as Record<string, unknown>;
  const body = app['body'];
  if (body instanceof Uint8Array) return body.length >= SPLICE_MIN_BYTES ? { holder: app, key: 'body', value: body } : undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const fields = body as Record<string, unknown>;
  for (const key in fields) {
    const value = fields[key];
    if (value instanceof Uint8Array && value.length >= SPLICE_MIN_BYTES) return { holder: fields, key, value };
  }
  return undefined;
}

/**
 * Encodes a message for sending: like {@link encodeMessage}, except that a large binary value in
 * an application message (a chunk of an object, say) is not copied into the encoding but kept
 * as a piece of a {@link SplicedBody}. The value must not change until the body is written.
 */
export function encodeForSend(message: WireMessage): EncodedBody {
  const large = largeBinary(message);
  if (large === undefined) return packr.pack(message);
  const { holder, key, value } = large;
  // The stand-in is put in place for the packing: an object that cannot take it is copied as usual.
  if (Object.isFrozen(holder)) return packr.pack(message);
  let packed: Buffer;
  holder[key] = SPLICE_MARKER;
  try {
    packed = packr.pack(message);
  } finally {
    holder[key] = value;
  }
  const at = packed.indexOf(PACKED_MARKER);
  // The marker's bytes inside some other value of the message: encode it the ordinary way.
  if (at < 0 || packed.indexOf(PACKED_MARKER, at + 1) >= 0) return packr.pack(message);
  // msgpack's bin 32: 0xc6 and a 4-byte length, then the bytes (what msgpackr writes from 64 KiB up).
  const head = Buffer.allocUnsafe(at + 5);
  packed.copy(head, 0, 0, at);
  head[at] = 0xc6;
  head.writeUInt32BE(value.length, at + 1);
  const tail = packed.subarray(at + PACKED_MARKER.length);
  const parts = tail.length > 0 ? [head, value, tail] : [head, value];
  return new SplicedBody(parts, head.length + value.length + tail.length);
}

/**
 * Decodes and validates one message body. Throws {@link WireError} (`MalformedFrame` for
 * undecodable bytes, `UnknownMessageType` / `MalformedMessage` for bad content).
 */
export function decodeMessage(body: Uint8Array): WireMessage {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (err) {
    throw new WireError('MalformedFrame', `undecodable frame body (${(err as Error).message})`);
  }
  // msgpackr decodes the never-used byte 0xc1 to a marker object instead of throwing.
  if (value === C1) throw new WireError('MalformedFrame', 'undecodable frame body (0xc1 is not valid msgpack)');
  return validateMessage(value);
}

/** A 4-byte length prefix for a body of `length` bytes. */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return header;
}

/**
 * Splits a byte stream into frame bodies. Feed it chunks as they arrive; it returns complete
 * bodies and keeps the remainder. Throws {@link WireError} `FrameTooLarge` as soon as a header
 * announces a body above the limit, before buffering it.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frames = 0;

  /**
   * `firstFrameMaxBytes` limits the first frame alone (a connection's HELLO, a few dozen bytes):
   * a peer not yet known cannot make the node buffer a frame of `maxFrameBytes`.
   */
  constructor(
    readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    readonly firstFrameMaxBytes = maxFrameBytes,
  ) {}

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break;
      const length = this.peekLength();
      const limit = this.frames === 0 ? this.firstFrameMaxBytes : this.maxFrameBytes;
      if (length > limit) {
        throw new WireError('FrameTooLarge', `${this.frames === 0 ? 'first frame' : 'frame'} of ${length} bytes exceeds the limit of ${limit}`);
      }
      if (this.buffered < FRAME_HEADER_BYTES + length) break;
      this.consume(FRAME_HEADER_BYTES);
      out.push(this.consume(length));
      this.frames++;
    }
    return out;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    return this.gather(FRAME_HEADER_BYTES).readUInt32BE(0);
  }

  /** Returns the first `n` buffered bytes without consuming them (merging chunks if needed). */
  private gather(n: number): Buffer {
    const merged = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [merged];
    return merged.subarray(0, n);
  }

  private consume(n: number): Buffer {
    // A zero-length body may follow a header that used up every buffered chunk.
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let result: Buffer;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      // Spans several chunks: copy once into a buffer of the frame's size (lent from the pool
      // when large: frame-pool.ts).
      result = takeFrameBuffer(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length, n - filled);
        c.copy(result, filled, 0, take);
        filled += take;
        if (take === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(take);
      }
    }
    this.buffered -= n;
    return result;
  }
}
