/**
 * Object data in motion. {@link ChunkSink} turns a request body into chunks on the ring as it
 * streams (a bounded number of chunk puts in flight: backpressure reaches the client's socket),
 * keeping small bodies inline instead; {@link streamChunks} sends an object's bytes (or a range)
 * to a response chunk by chunk, fetching one or two chunks ahead. Neither ever holds a whole
 * large object in memory.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Duplex, Readable } from 'node:stream';
import { S3Error } from './protocol/index.ts';
import { StorageError } from './errors.ts';
import type { ChunkStore } from './chunks/store.ts';
import { chunkHash } from './chunks/store.ts';
import type { ChunkRef } from './model.ts';
import { cryptPiece, decipherAt } from './encryption.ts';
import type { EventEmitter } from 'node:events';
import { BufferPool, crc32, nativeCrc32Available } from '../../wire/index.ts';

/** The key to decrypt `ref` with; a missing one is a bug (the caller checks keys first). */
function sealKeyOf(key: Buffer | undefined, ref: ChunkRef): Buffer {
  if (!key) throw new Error(`chunk ${ref.hash.slice(0, 12)} is encrypted and no key was given`);
  return key;
}

/** Options of a {@link ChunkSink}. */
export interface ChunkSinkOptions {
  /** Chunk size in bytes. */
  chunkSize: number;
  /** Bodies up to this size stay inline (0: always chunks). At most `chunkSize`. */
  inlineMax: number;
  /** Chunk puts of this body in flight at once. */
  concurrency: number;
  /** Largest body accepted (`EntityTooLarge` beyond). */
  maxBytes: number;
  /** Called for each chunk once stored, before the body ends (records its reference). */
  onChunk?: (ref: ChunkRef) => Promise<void>;
  /** Encryption at rest (SSE-C, SSE-S3): encrypt every chunk (and an inline body) with `key`, each from a fresh `iv()`. */
  seal?: { key: Buffer; iv: () => Buffer };
}

/**
 * Bytes a response may hold unsent before the next read waits: enough to keep the socket busy
 * while the next piece is read (waiting at the socket's small high-water mark would make every
 * megabyte a round trip with the client).
 */
const MAX_UNSENT = 8 * 1024 * 1024;

/** What a {@link ChunkSink} produced. */
export interface SinkResult {
  size: number;
  /** The body, when it stayed inline (encrypted when sealing). */
  inline?: Buffer;
  /** The IV of an encrypted inline body. */
  inlineIv?: Buffer;
  /** The chunks, in order (empty for inline bodies). */
  chunks: ChunkRef[];
}

/**
 * Pipes a request body through its verifier into a sink; resolves once the sink has finished,
 * rejects with the first error of any stage after destroying the verifier and the sink (as
 * `stream.pipeline` does, without the AbortController and AbortError it allocates per call: a measurable share of
 * a small PUT's CPU). A body cut short by the client is an error too.
 */
export function pipeBody(body: Readable, verifier: Duplex, sink: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      // The body is left to the caller (not destroyed, which would drop the connection): the
      // error document goes out on it, and an unread rest is drained.
      body.unpipe(verifier);
      if (!verifier.destroyed) verifier.destroy();
      if (!sink.destroyed) sink.destroy();
      reject(err);
    };
    body.on('error', fail);
    verifier.on('error', fail);
    sink.on('error', fail);
    body.once('close', () => {
      if (!body.readableEnded) fail(Object.assign(new Error('the request body ended prematurely'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
    sink.once('finish', () => {
      if (settled) return;
      settled = true;
      resolve();
    });
    body.pipe(verifier).pipe(sink);
  });
}

/** A Writable that stores what it is given as chunks on the ring. */
export class ChunkSink extends Writable {
  /**
   * The body's bytes not yet dispatched, as given (no copy): a chunk is assembled only once a
   * chunk's worth has arrived. (A chunk-sized buffer per body made every 4 KiB PUT allocate
   * 4 MiB, and the garbage collector ran on external memory pressure every few requests.)
   */
  private pieces: Buffer[] = [];
  private fill = 0;
  private total = 0;
  private readonly refs: (ChunkRef | undefined)[] = [];
  private readonly inflight = new Set<Promise<void>>();
  /** Reference writes in progress. */
  private readonly recording = new Set<Promise<void>>();
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;
  private inlineBody: Buffer | undefined;
  private inlineIv: Buffer | undefined;

  constructor(
    private readonly store: ChunkStore,
    private readonly options: ChunkSinkOptions,
  ) {
    super({ highWaterMark: Math.min(options.chunkSize, 1 << 20) });
  }

  /** The result, once the stream has finished. */
  get result(): SinkResult {
    const chunks = this.refs.filter((r): r is ChunkRef => r !== undefined);
    if (this.inlineBody === undefined) return { size: this.total, chunks };
    return { size: this.total, inline: this.inlineBody, chunks: [], ...(this.inlineIv ? { inlineIv: this.inlineIv } : {}) };
  }

  override _write(data: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    this.total += data.length;
    if (this.total > this.options.maxBytes) {
      return callback(new S3Error('EntityTooLarge', undefined, { fields: { ProposedSize: this.total, MaxSizeAllowed: this.options.maxBytes } }));
    }
    const size = this.options.chunkSize;
    let off = 0;
    while (off < data.length) {
      const take = Math.min(size - this.fill, data.length - off);
      // A body that arrives whole in one piece of exactly a chunk goes without a copy.
      this.pieces.push(off === 0 && take === data.length ? data : data.subarray(off, off + take));
      this.fill += take;
      off += take;
      if (this.fill === size) this.dispatch(this.takePieces());
    }
    this.afterRoom(callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    if (this.fill > 0) {
      const last = this.takePieces();
      // An inline body is kept (in the object's entry): its buffer is not given back.
      if (this.refs.length === 0 && this.total <= this.options.inlineMax) this.keepInline(last.data);
      else this.dispatch(last);
    } else if (this.refs.length === 0 && this.total === 0 && this.options.inlineMax >= 0) {
      this.keepInline(Buffer.alloc(0));
    }
    Promise.all(this.inflight)
      .then(() => Promise.all(this.recording))
      .then(
        () => callback(this.failure ?? null),
        (err: Error) => callback(err),
      );
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.failure ??= err ?? undefined;
    callback(err);
  }

  /**
   * The pending pieces as one buffer, and the buffer to give back once the chunk store is done
   * with it: one piece goes as it is; several are copied into a reused chunk-sized buffer.
   * Empties the pieces.
   */
  private takePieces(): { data: Buffer; pooled?: Buffer } {
    const pieces = this.pieces;
    const bytes = this.fill;
    this.pieces = [];
    this.fill = 0;
    if (pieces.length === 1) return { data: pieces[0]! };
    const pooled = chunkBuffers.take(this.options.chunkSize);
    let at = 0;
    for (const piece of pieces) at += piece.copy(pooled, at);
    return { data: pooled.subarray(0, bytes), pooled };
  }

  private keepInline(data: Buffer): void {
    const seal = this.options.seal;
    if (!seal) {
      this.inlineBody = data;
      return;
    }
    this.inlineIv = seal.iv();
    this.inlineBody = cryptPiece(seal.key, this.inlineIv, data);
  }

  private dispatch(taken: { data: Buffer; pooled?: Buffer }): void {
    const index = this.refs.length;
    this.refs.push(undefined);
    const seal = this.options.seal;
    const iv = seal?.iv();
    const data = seal ? cryptPiece(seal.key, iv!, taken.data) : taken.data;
    const hash = chunkHash(data);
    const ref: ChunkRef = iv ? { hash, size: data.length, iv: iv.toString('hex') } : { hash, size: data.length };
    // Reads check whole local chunks against it (without a native CRC32, the SHA-256 is cheaper).
    if (nativeCrc32Available) ref.crc = crc32(data);
    const pooled = taken.pooled;
    // Sealed, the plain bytes are done with (the store gets the ciphertext); otherwise the store
    // says when it is.
    if (pooled && seal) chunkBuffers.give(pooled);
    const released = pooled && !seal ? () => chunkBuffers.give(pooled) : undefined;
    const p = this.store
      .put(data, hash, released)
      .then(() => {
        this.refs[index] = ref;
        // The reference is recorded while the next chunks move; the body ends after all are.
        const onChunk = this.options.onChunk?.(ref);
        if (onChunk) {
          const q = onChunk.catch((err: Error) => {
            this.failure ??= err;
          });
          this.recording.add(q);
          void q.finally(() => this.recording.delete(q));
        }
      })
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.inflight.delete(p);
        const w = this.waiting;
        this.waiting = undefined;
        w?.();
      });
    this.inflight.add(p);
  }

  /** Calls back once fewer than `concurrency` puts are in flight (backpressure). */
  private afterRoom(callback: (err?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    if (this.inflight.size < this.options.concurrency) return callback();
    this.waiting = () => this.afterRoom(callback);
  }
}

/**
 * Chunk-sized buffers that uploads assemble chunks in, reused once the chunk store no longer
 * needs them: a fresh 4 MiB per chunk kept V8 running full collections on external memory
 * pressure during large PUTs (a mark-compact every 50–150 ms on some nodes).
 */
const chunkBuffers = new BufferPool(8);

/**
 * Read buffers of local chunk sends, reused once the socket has taken their bytes: a fresh
 * megabyte per read made garbage collection about a third of a large GET's CPU.
 */
const PIECE_BYTES = 1 << 20;
const pieces = new BufferPool(16);
const takePiece = (): Buffer => pieces.take(PIECE_BYTES);
const givePiece = (piece: Buffer): void => pieces.give(piece);

/** Resolves once `stream` (a socket, a response) drains or closes, whichever comes first. */
export function drained(stream: Pick<EventEmitter, 'on' | 'off'>): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Writes bytes `start..end` (inclusive) of an object made of `chunks` to `res` (a response, or
 * S3 Select's reader: select/object-bytes.ts), fetching up to
 * `prefetch` chunks ahead (those not held here) and waiting for the socket to drain. Resolves when all was written;
 * rejects if a chunk cannot be read (the response is then cut short). Encrypted chunks (with an
 * IV) are decrypted with `key` (SSE-C or SSE-S3; the caller checked or unwrapped it).
 */
export async function streamChunks(
  store: ChunkStore,
  chunks: readonly ChunkRef[],
  start: number,
  end: number,
  res: Writable,
  prefetch = 4,
  key?: Buffer,
): Promise<void> {
  if (end < start) return;
  // Chunks overlapping the range, with their offsets.
  const wanted: { ref: ChunkRef; from: number; to: number }[] = [];
  let offset = 0;
  for (const ref of chunks) {
    const first = offset;
    const last = offset + ref.size - 1;
    offset += ref.size;
    if (last < start) continue;
    if (first > end) break;
    wanted.push({ ref, from: Math.max(start, first) - first, to: Math.min(end, last) - first + 1 });
  }
  // Chunks held here stream from disk; others are fetched, up to `prefetch` ahead.
  const fetches = new Map<number, Promise<Buffer>>();
  const fetch = (i: number): void => {
    const w = wanted[i];
    if (w === undefined || fetches.has(i) || store.engine.stat(w.ref.hash)) return;
    const p = store.get(w.ref.hash);
    p.catch(() => {});
    fetches.set(i, p);
  };
  for (let i = 0; i < wanted.length; i++) {
    for (let j = i; j <= i + prefetch; j++) fetch(j);
    const w = wanted[i]!;
    const decipher = w.ref.iv !== undefined ? decipherAt(sealKeyOf(key, w.ref), Buffer.from(w.ref.iv, 'hex'), w.from) : undefined;
    const local = fetches.has(i) ? undefined : store.engine.reader(w.ref.hash);
    if (local) {
      // A whole chunk read here is checked as it streams, against the CRC32 its reference records
      // (else its name, the SHA-256); its last piece goes out only once the check passed, so a
      // damaged copy never completes a response (the client sees a failed transfer, and the copy
      // is quarantined and restored: ChunkStore.damaged).
      const whole = store.options.verifyReads && w.from === 0 && w.to === w.ref.size;
      const expectedCrc = whole && nativeCrc32Available ? w.ref.crc : undefined;
      let crc = 0;
      const hasher = whole && expectedCrc === undefined ? createHash('sha256') : undefined;
      try {
        for (let at = w.from; at < w.to; ) {
          if (res.destroyed) return;
          const piece = takePiece();
          const n = await local.read(piece, Math.min(piece.length, w.to - at), at);
          if (n === 0) {
            givePiece(piece);
            void store.damaged(w.ref.hash, 'read');
            throw new StorageError('ChunkCorrupt', `chunk ${w.ref.hash.slice(0, 12)}: ${at - w.from} bytes read, ${w.to - w.from} expected`);
          }
          at += n;
          const read = n === piece.length ? piece : piece.subarray(0, n);
          if (hasher) {
            hasher.update(read);
            if (at >= w.to && hasher.digest('hex') !== w.ref.hash) {
              givePiece(piece);
              void store.damaged(w.ref.hash, 'read');
              throw new StorageError('ChunkCorrupt', `chunk ${w.ref.hash.slice(0, 12)} on this node does not hash to its name`);
            }
          } else if (expectedCrc !== undefined) {
            crc = crc32(read, crc);
            if (at >= w.to && crc !== expectedCrc) {
              givePiece(piece);
              void store.damaged(w.ref.hash, 'read');
              throw new StorageError('ChunkCorrupt', `chunk ${w.ref.hash.slice(0, 12)} on this node does not match the CRC32 recorded when it was written`);
            }
          }
          if (decipher) {
            // Decrypting copies the bytes: the piece is free again at once.
            res.write(decipher.update(read));
            givePiece(piece);
          } else {
            // The piece is reused once the socket has taken its bytes (not after an error).
            res.write(read, (err) => err || givePiece(piece));
          }
          if (res.writableLength > MAX_UNSENT) await drained(res);
        }
      } finally {
        await local.close();
      }
      continue;
    }
    if (!fetches.has(i)) fetches.set(i, store.get(w.ref.hash));
    const data = await fetches.get(i)!;
    fetches.delete(i);
    if (data.length !== w.ref.size) throw new Error(`chunk ${w.ref.hash.slice(0, 12)} has ${data.length} bytes, expected ${w.ref.size}`);
    if (res.destroyed) return;
    const piece = w.from === 0 && w.to === data.length ? data : data.subarray(w.from, w.to);
    res.write(decipher ? decipher.update(piece) : piece);
    if (res.writableLength > MAX_UNSENT) await drained(res);
  }
}
