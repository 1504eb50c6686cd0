/**
 * Large buffers kept for reuse. Allocating megabyte buffers again and again (chunks, frames,
 * read pieces) is external memory that V8 answers with full collections; a pool of a few free
 * buffers per size keeps the allocations to what is in use at once. What is given back must no
 * longer be read or written by anyone: the next taker overwrites it.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  /** @param maxFreePerSize Free buffers kept per size; more given back are left to the collector. */
  constructor(private readonly maxFreePerSize: number) {}

  /** A buffer of exactly `size` bytes (its own memory: `buffer.buffer` is not shared). */
  take(size: number): Buffer {
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  /** Gives back a buffer {@link take} returned, whole (not a view into it). */
  give(buffer: Buffer): void {
    let list = this.free.get(buffer.length);
    if (!list) this.free.set(buffer.length, (list = []));
    if (list.length < this.maxFreePerSize) list.push(buffer);
  }
}
