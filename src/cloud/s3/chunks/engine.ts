/**
 * Where one node keeps its chunks: binary blobs by content hash, with the time each was last
 * stored (the garbage collector's grace period counts from it). The file engine serves real
 * nodes; the memory engine, with the same contract, the simulator and unit tests.
 */
/** What is known about a stored chunk besides its bytes. */
export interface ChunkMeta {
  /** Size in bytes. */
  n: number;
  /** When it was last stored (env ms): every put refreshes it, even of a chunk already present. */
  t: number;
}

/** Random access to one chunk held by a node (see {@link ChunkEngine.reader}). */
export interface ChunkReader {
  /** Reads up to `length` bytes at `position` into `buf` (from its start); resolves with the count, 0 at the end. */
  read(buf: Buffer, length: number, position: number): Promise<number>;
  /** Releases the chunk (its file). */
  close(): Promise<void>;
}

/** One node's chunk storage. Metadata reads are synchronous; writes resolve once durable. */
export interface ChunkEngine {
  /** `memory` or `files`, for logs. */
  readonly kind: string;
  /** The chunk's bytes (the caller may keep them), or undefined. */
  read(hash: string): Promise<Buffer | undefined>;
  /**
   * A reader of a chunk held here, undefined if not held. Reading into the caller's buffers lets a
   * response reuse them instead of allocating a megabyte per read.
   */
  reader(hash: string): ChunkReader | undefined;
  /** Size and store time, or undefined. */
  stat(hash: string): ChunkMeta | undefined;
  /** Stores the chunk (or, when present, only refreshes its store time); resolves when durable. */
  put(hash: string, data: Uint8Array, at: number): Promise<void>;
  /** Removes the chunk when it was last stored at or before `before`; resolves with whether it did. */
  remove(hash: string, before: number): Promise<boolean>;
  /**
   * Takes a damaged chunk out of the store whatever its store time (it is no longer held; a later
   * put stores it afresh), keeping its bytes aside for inspection where the engine can. Resolves
   * with where they were kept, `''` when nowhere, undefined when the chunk was not held (or is
   * being written). `at` (env ms) names the kept copy.
   */
  quarantine(hash: string, at: number): Promise<string | undefined>;
  /** Every chunk's hash and meta, in hash order. */
  entries(): Iterable<[string, ChunkMeta]>;
  /** Number of chunks. */
  readonly count: number;
  /** Bytes of chunk data held. */
  readonly bytes: number;
  close(): Promise<void>;
}

/** Chunks in memory (simulator, tests). */
export class MemoryChunkEngine implements ChunkEngine {
  readonly kind = 'memory';
  private readonly data = new Map<string, { d: Buffer; m: ChunkMeta }>();
  private total = 0;

  read(hash: string): Promise<Buffer | undefined> {
    const e = this.data.get(hash);
    return Promise.resolve(e ? Buffer.from(e.d) : undefined);
  }

  stat(hash: string): ChunkMeta | undefined {
    const e = this.data.get(hash);
    return e ? { ...e.m } : undefined;
  }

  reader(hash: string): ChunkReader | undefined {
    const e = this.data.get(hash);
    if (!e) return undefined;
    return {
      read: (buf, length, position) => Promise.resolve(position >= e.d.length ? 0 : e.d.copy(buf, 0, position, Math.min(e.d.length, position + length))),
      close: () => Promise.resolve(),
    };
  }

  put(hash: string, data: Uint8Array, at: number): Promise<void> {
    const e = this.data.get(hash);
    if (e) e.m.t = Math.max(e.m.t, at);
    else {
      this.data.set(hash, { d: Buffer.from(data), m: { n: data.length, t: at } });
      this.total += data.length;
    }
    return Promise.resolve();
  }

  remove(hash: string, before: number): Promise<boolean> {
    const e = this.data.get(hash);
    if (!e || e.m.t > before) return Promise.resolve(false);
    this.data.delete(hash);
    this.total -= e.m.n;
    return Promise.resolve(true);
  }

  quarantine(hash: string, _at: number): Promise<string | undefined> {
    const e = this.data.get(hash);
    if (!e) return Promise.resolve(undefined);
    this.data.delete(hash);
    this.total -= e.m.n;
    return Promise.resolve('');
  }

  /**
   * Fault injection for the simulator and tests: changes the stored bytes of a chunk in place (a
   * disk's silent corruption), as `change` returns them. Returns whether the chunk was held.
   */
  tamper(hash: string, change: (data: Buffer) => Buffer): boolean {
    const e = this.data.get(hash);
    if (!e) return false;
    const next = change(Buffer.from(e.d));
    this.total += next.length - e.d.length;
    e.d = next;
    e.m.n = next.length;
    return true;
  }

  *entries(): Iterable<[string, ChunkMeta]> {
    for (const hash of [...this.data.keys()].sort()) {
      const e = this.data.get(hash);
      if (e) yield [hash, { ...e.m }];
    }
  }

  get count(): number {
    return this.data.size;
  }

  get bytes(): number {
    return this.total;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
