/**
 * Reused buffers for large incoming frames.
 *
 * A frame that spans several socket reads is assembled in one buffer of its size. For chunk
 * transfers that is a fresh 4 MiB per chunk on every receiving node, and that external memory
 * kept V8 running full collections during large uploads. Frames of {@link POOLED_FRAME_MIN_BYTES}
 * or more are lent from a small pool instead; whoever finally consumes such a frame's bytes (the
 * chunk store, once the chunk is on disk) gives it back with {@link releaseFrame}. A frame never
 * given back is simply collected: forgetting to release costs an allocation, never correctness.
 * Releasing is only for the last holder of every view into the frame: the buffer is then
 * overwritten by a later frame.
 */

import { BufferPool } from './buffer-pool.ts';

/** Frames at least this large are lent from the pool. */
export const POOLED_FRAME_MIN_BYTES = 1 << 20;
/** Pool buffers come in multiples of this (frames of one chunk size differ by a few bytes). */
const GRAIN = 64 * 1024;

const pool = new BufferPool(8);
/** The memory of frames lent and not given back yet, with the pool buffer it belongs to (a second release is ignored). */
const lent = new WeakMap<ArrayBufferLike, Buffer>();

/** A buffer of `bytes` to assemble a frame in: pooled for large frames, plain otherwise. */
export function takeFrameBuffer(bytes: number): Buffer {
  if (bytes < POOLED_FRAME_MIN_BYTES) return Buffer.allocUnsafe(bytes);
  const whole = pool.take(Math.ceil(bytes / GRAIN) * GRAIN);
  lent.set(whole.buffer, whole);
  return whole.subarray(0, bytes);
}

/**
 * Gives back the pooled frame that `view` (any part of a decoded frame, e.g. a binary field)
 * lies in, for reuse; does nothing for bytes that are not in a lent frame.
 */
export function releaseFrame(view: Uint8Array): void {
  const whole = lent.get(view.buffer);
  if (whole === undefined) return;
  lent.delete(whole.buffer);
  pool.give(whole);
}
