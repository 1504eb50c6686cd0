/**
 * S3 on full disks. The chunk file engine: a disk that fills up in the middle of a chunk (a
 * short write, then ENOSPC) leaves no chunk and no temporary file behind and answers DiskFull,
 * where it used to flush, rename and acknowledge the short file; the storage reserve refuses new
 * chunks before the disk is full.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpaceGuard } from '../../../src/dht/index.ts';
import type { DiskSpace } from '../../../src/dht/index.ts';
import { FileChunkEngine, writeFully } from '../../../src/cloud/s3/chunks/file-engine.ts';
import type { ChunkFileHandle } from '../../../src/cloud/s3/chunks/file-engine.ts';
import { chunkHash } from '../../../src/cloud/s3/chunks/store.ts';
import { pattern } from './harness.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pi-chunks-full-'));
  dirs.push(d);
  return d;
}

/** A disk whose free space the test sets. */
class FakeDisk {
  free = 50 * GiB;
  readonly total = 100 * GiB;
  statfs = (): DiskSpace => ({ freeBytes: this.free, totalBytes: this.total });
}

function enospc(): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/** A file handle on a disk with `room` bytes left: writes stop short at the last byte, then fail with ENOSPC. */
function fillingHandle(room: number, calls: { writes: number; synced: number; closed: number }): ChunkFileHandle {
  let written = 0;
  return {
    write: (_data, _offset, length) => {
      calls.writes++;
      if (written >= room) return Promise.reject(enospc());
      const n = Math.min(length, room - written);
      written += n;
      return Promise.resolve({ bytesWritten: n });
    },
    utimes: () => Promise.resolve(),
    sync: () => {
      calls.synced++;
      return Promise.resolve();
    },
    close: () => {
      calls.closed++;
      return Promise.resolve();
    },
  };
}

describe('chunk files on a full disk', () => {
  test('writeFully writes again after a short write until every byte is written', async () => {
    const data = pattern(10_000, 3);
    const got = Buffer.alloc(data.length);
    let calls = 0;
    await writeFully(
      {
        write: (buf, offset, length, position) => {
          calls++;
          const n = Math.min(length, 3000); // a file system that takes 3000 bytes per write(2)
          Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).copy(got, position, offset, offset + n);
          return Promise.resolve({ bytesWritten: n });
        },
      },
      data,
    );
    assert.equal(calls, 4);
    assert.deepEqual(got, data);
  });

  test('a disk filling up mid-chunk (short write, then ENOSPC): DiskFull, no chunk, no temporary file, and the reserve refuses new chunks', async () => {
    const dir = tempDir();
    const disk = new FakeDisk();
    const space = new SpaceGuard({ dir, reserveBytes: GiB, reservePercent: 2, now: () => 0, statfs: disk.statfs });
    const calls = { writes: 0, synced: 0, closed: 0 };
    const engine = FileChunkEngine.open(dir, { space, openForWrite: () => Promise.resolve(fillingHandle(100_000, calls)) });
    const data = pattern(256 * 1024, 9);
    const hash = chunkHash(data);
    await assert.rejects(engine.put(hash, data, 1000), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DiskFull');
      assert.match(err.message, /could not be stored for want of space: ENOSPC/);
      return true;
    });
    assert.equal(calls.writes, 2, 'the short write was followed by another, which failed');
    assert.equal(calls.synced, 0, 'the short file was never flushed as a chunk');
    assert.equal(calls.closed, 1);
    assert.equal(existsSync(join(dir, hash.slice(0, 2), hash)), false, 'no chunk file');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temporary file left holding the space');
    assert.equal(engine.stat(hash), undefined);
    assert.equal(engine.count, 0);
    assert.equal(engine.bytes, 0);
    assert.equal(space.refusing, true, 'the reserve refuses until a reading shows room');
    await engine.close();
  });

  test('the reserve: a new chunk is refused without touching the disk; a chunk already held is refreshed; other write errors stay what they are', async () => {
    const dir = tempDir();
    const disk = new FakeDisk();
    const clock = { t: 0 };
    const space = new SpaceGuard({ dir, reserveBytes: GiB, reservePercent: 2, now: () => clock.t, statfs: disk.statfs });
    let opened = 0;
    let failWith: Error | undefined;
    const engine = FileChunkEngine.open(dir, {
      space,
      openForWrite: async (path) => {
        opened++;
        if (failWith) throw failWith;
        const { open } = await import('node:fs/promises');
        return open(path, 'w');
      },
    });
    const held = pattern(300_000, 1);
    await engine.put(chunkHash(held), held, 1000);
    disk.free = GiB - MiB;
    space.refresh();
    const fresh = pattern(300_000, 2);
    await assert.rejects(engine.put(chunkHash(fresh), fresh, 2000), (err: Error & { code?: string }) => err.code === 'DiskFull' && /storage reserve/.test(err.message));
    assert.equal(opened, 1, 'no file opened for the refused chunk');
    await engine.put(chunkHash(held), held, 3000); // a store of a chunk held refreshes its time only
    assert.equal(engine.stat(chunkHash(held))!.t, 3000);
    assert.equal(await engine.remove(chunkHash(held), 5000), true, 'removing a file needs no space');
    disk.free = 50 * GiB;
    clock.t += 1000;
    failWith = Object.assign(new Error('EIO: i/o error, open'), { code: 'EIO' });
    await assert.rejects(engine.put(chunkHash(fresh), fresh, 4000), (err: Error & { code?: string }) => err.code === 'EIO');
    assert.equal(space.refusing, false, 'an I/O error is not a full disk');
    failWith = undefined;
    await engine.put(chunkHash(fresh), fresh, 4000);
    assert.deepEqual(await engine.read(chunkHash(fresh)), fresh);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    await engine.close();
  });
});
