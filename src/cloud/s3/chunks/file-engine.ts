/**
 * Chunks as files: `<dir>/<first two hex digits>/<hash>`, each written to a temporary file,
 * flushed (fsync) and renamed into place, so a chunk is either absent or complete and durable
 * when its put resolves. A file's modification time is the chunk's store time (set explicitly
 * from the env clock, refreshed by a put of a chunk already present). Sizes and times are kept
 * in memory, read from the directory when the engine opens.
 *
 * Files rather than LMDB: whole-chunk writes and reads of megabytes go at the disk's speed
 * through the thread pool, without a copy-on-write B-tree around them or a blocked event loop.
 */
import { mkdirSync, readdirSync, statSync, rmSync } from 'node:fs';
import { open, readFile, rename, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { DiskFullError, isNoSpaceError } from '../../../dht/index.ts';
import type { SpaceGuard } from '../../../dht/index.ts';
import type { ChunkEngine, ChunkMeta, ChunkReader } from './engine.ts';

const HASH = /^[0-9a-f]{64}$/;

/** File-system block size assumed when counting a chunk's bytes against the storage reserve. */
const BLOCK = 4096;

/** The part of a file handle a chunk write uses. */
export interface ChunkFileHandle {
  write(data: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  utimes(atime: number, mtime: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link FileChunkEngine.open}. */
export interface FileChunkEngineOptions {
  /** The storage reserve of the folder's file system (space.ts): new chunks it refuses fail with `DiskFull`. */
  space?: SpaceGuard;
  /** Opens a file for writing (default `fs.promises.open(path, 'w')`; tests substitute failing disks). */
  openForWrite?: (path: string) => Promise<ChunkFileHandle>;
}

/**
 * Writes all of `data` at the start of the file. A write(2) may store fewer bytes than asked (a
 * disk filling up does that before it fails with ENOSPC): the rest is written again until all is,
 * or the write fails. (`FileHandle.write` does one write(2): a short write left a short file that
 * was then flushed, renamed into place and acknowledged.)
 */
export async function writeFully(fh: Pick<ChunkFileHandle, 'write'>, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, done);
    if (!(bytesWritten > 0)) throw Object.assign(new Error(`wrote no bytes at offset ${done} of ${data.length}`), { code: 'EIO' });
    done += bytesWritten;
  }
}

export class FileChunkEngine implements ChunkEngine {
  readonly kind = 'files';
  private readonly metas = new Map<string, ChunkMeta>();
  /** Puts in progress, by hash (a second put of the same chunk waits for the first). */
  private readonly writing = new Map<string, Promise<void>>();
  private total = 0;
  private seq = 0;
  private readonly tmp: string;

  private readonly space: SpaceGuard | undefined;
  private readonly openForWrite: (path: string) => Promise<ChunkFileHandle>;

  private constructor(
    private readonly dir: string,
    options: FileChunkEngineOptions,
  ) {
    this.space = options.space;
    this.openForWrite = options.openForWrite ?? ((path) => open(path, 'w'));
    this.tmp = join(dir, 'tmp');
    // Leftovers of writes interrupted by a crash.
    rmSync(this.tmp, { recursive: true, force: true });
    mkdirSync(this.tmp, { recursive: true });
    for (const sub of readdirSync(dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of readdirSync(join(dir, sub))) {
        if (!HASH.test(name)) continue;
        const st = statSync(join(dir, sub, name));
        this.metas.set(name, { n: st.size, t: st.mtimeMs });
        this.total += st.size;
      }
    }
  }

  /** Opens (creating if needed) the chunk folder `dir`. */
  static open(dir: string, options: FileChunkEngineOptions = {}): FileChunkEngine {
    mkdirSync(dir, { recursive: true });
    return new FileChunkEngine(dir, options);
  }

  private path(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async read(hash: string): Promise<Buffer | undefined> {
    if (!this.metas.has(hash)) return undefined;
    try {
      return await readFile(this.path(hash));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  reader(hash: string): ChunkReader | undefined {
    if (!this.metas.has(hash)) return undefined;
    const file = this.path(hash);
    let handle: Promise<FileHandle> | undefined;
    return {
      read: async (buf, length, position) => (await (handle ??= open(file, 'r'))).read(buf, 0, length, position).then((r) => r.bytesRead),
      close: async () => {
        if (handle) await (await handle.catch(() => undefined))?.close();
      },
    };
  }

  stat(hash: string): ChunkMeta | undefined {
    const m = this.metas.get(hash);
    return m ? { n: m.n, t: m.t } : undefined;
  }

  /**
   * Stores the chunk. A new chunk the storage reserve refuses rejects with `DiskFull` without
   * touching the disk; one the disk refuses (ENOSPC, EDQUOT) rejects with `DiskFull` and leaves
   * nothing behind (not even its temporary file). Refreshing a chunk held is always admitted.
   */
  put(hash: string, data: Uint8Array, at: number): Promise<void> {
    if (!HASH.test(hash)) return Promise.reject(new Error(`not a chunk hash: ${hash.slice(0, 80)}`));
    const busy = this.writing.get(hash);
    if (busy) return busy.then(() => this.put(hash, data, at));
    if (!this.metas.has(hash) && this.space) {
      const refused = this.space.admit(Math.ceil(data.length / BLOCK) * BLOCK, 'grow', 'chunks');
      if (refused) return Promise.reject(refused);
    }
    const p = this.write(hash, data, at).finally(() => this.writing.delete(hash));
    this.writing.set(hash, p);
    return p;
  }

  private async write(hash: string, data: Uint8Array, at: number): Promise<void> {
    const have = this.metas.get(hash);
    const seconds = at / 1000;
    if (have) {
      if (have.t >= at) return;
      await utimes(this.path(hash), seconds, seconds);
      have.t = at;
      return;
    }
    const tmp = join(this.tmp, `${hash}.${++this.seq}`);
    try {
      const fh = await this.openForWrite(tmp);
      try {
        await writeFully(fh, data);
        await fh.utimes(seconds, seconds);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const final = this.path(hash);
      try {
        await rename(tmp, final);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
        mkdirSync(join(this.dir, hash.slice(0, 2)), { recursive: true });
        await rename(tmp, final);
      }
    } catch (err) {
      // Nothing of a failed write stays: its temporary file would hold the space until a restart.
      await rm(tmp, { force: true }).catch(() => undefined);
      if (!isNoSpaceError(err)) throw err;
      this.space?.failed(err);
      throw new DiskFullError(`chunk ${hash.slice(0, 12)} could not be stored for want of space: ${(err as Error).message}`);
    }
    this.metas.set(hash, { n: data.length, t: at });
    this.total += data.length;
  }

  async remove(hash: string, before: number): Promise<boolean> {
    const have = this.metas.get(hash);
    if (!have || have.t > before || this.writing.has(hash)) return false;
    this.metas.delete(hash);
    this.total -= have.n;
    await rm(this.path(hash), { force: true });
    return true;
  }

  /**
   * Moves the chunk's file to `<dir>/quarantine/<hash>.<at>` (kept for inspection; delete at
   * will). Puts of the chunk wait for the move (it counts as a write), so a good copy arriving
   * meanwhile is never the file moved away.
   */
  quarantine(hash: string, at: number): Promise<string | undefined> {
    const have = this.metas.get(hash);
    if (!have || this.writing.has(hash)) return Promise.resolve(undefined);
    const dir = join(this.dir, 'quarantine');
    const kept = join(dir, `${hash}.${Math.floor(at)}`);
    let outcome = kept;
    const move = (async (): Promise<void> => {
      try {
        mkdirSync(dir, { recursive: true });
        await rename(this.path(hash), kept);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
        outcome = '';
      } finally {
        this.metas.delete(hash);
        this.total -= have.n;
      }
    })().finally(() => this.writing.delete(hash));
    this.writing.set(hash, move);
    return move.then(() => outcome);
  }

  *entries(): Iterable<[string, ChunkMeta]> {
    for (const hash of [...this.metas.keys()].sort()) {
      const m = this.metas.get(hash);
      if (m) yield [hash, { n: m.n, t: m.t }];
    }
  }

  get count(): number {
    return this.metas.size;
  }

  get bytes(): number {
    return this.total;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.writing.values()]);
  }
}
