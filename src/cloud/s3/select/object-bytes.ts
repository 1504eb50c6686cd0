/**
 * An object's bytes as an async sequence of buffers, for S3 Select to parse: the same reads,
 * checks and decryption as GetObject (data.ts `streamChunks`), delivered to a consumer instead of
 * a socket. Pieces of the read pool are copied out before they are handed on, so a parser may
 * keep any part of a buffer it is given (a record cut by a chunk boundary) for as long as it likes.
 */
import { Writable } from 'node:stream';
import { streamChunks } from '../data.ts';
import type { ChunkStore } from '../chunks/store.ts';
import type { ChunkRef } from '../model.ts';

/** Where the bytes come from: an inline body (already decrypted) or the object's chunks. */
export type ObjectSource = { readonly inline: Buffer } | { readonly store: ChunkStore; readonly chunks: readonly ChunkRef[]; readonly key: Buffer | undefined };

/**
 * Bytes `start`..`end` (inclusive) of the object. Stopping early (a `break` or `return` in the
 * consumer's loop) stops the reads.
 */
export async function* objectBytes(source: ObjectSource, start: number, end: number): AsyncGenerator<Buffer, void, undefined> {
  if (end < start) return;
  if ('inline' in source) {
    yield source.inline.subarray(start, end + 1);
    return;
  }
  const feed = new Handoff();
  const reading = streamChunks(source.store, source.chunks, start, end, feed, 4, source.key).then(
    () => feed.end(),
    (err: unknown) => feed.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  try {
    for (;;) {
      const piece = await feed.next();
      if (piece === undefined) break;
      yield piece;
    }
  } finally {
    // An early stop: streamChunks sees the destroyed stream and returns.
    if (!feed.destroyed) feed.destroy();
    await reading;
  }
}

/**
 * A writable that hands each written buffer (copied) to one reader, one at a time: the writer's
 * callback runs once the reader asked for the next one, so streamChunks' back-pressure applies.
 */
class Handoff extends Writable {
  private pending: { chunk: Buffer; done: (err?: Error | null) => void } | undefined;
  private waiter: (() => void) | undefined;
  private finished = false;
  private failure: Error | undefined;

  constructor() {
    super({ highWaterMark: 1 });
    this.on('error', (err) => {
      this.failure = err;
      this.wake();
    });
    this.on('close', () => this.wake());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending = { chunk: Buffer.from(chunk), done };
    this.wake();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.finished = true;
    this.wake();
    done();
  }

  /** The next buffer; undefined at the end. Rejects with the read's error. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.failure) throw this.failure;
      const p = this.pending;
      if (p) {
        this.pending = undefined;
        // The copy is the reader's: the writer may reuse its buffer now.
        p.done();
        return p.chunk;
      }
      if (this.finished || this.destroyed) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
