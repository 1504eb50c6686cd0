/**
 * S3 on full disks. The chunk file engine: a disk that fills up in the middle of a chunk (a
 * short write, then ENOSPC) leaves no chunk and no temporary file behind and answers DiskFull,
 * where it used to flush, rename and acknowledge the short file; the storage reserve refuses new
 * chunks before the disk is full. A 3-node ring whose nodes report a full disk (their `statfs`
 * is faked; the tmpfs runs are in the report of this change): clients get `507
 * XMinioStorageFull`, deletes and reads still work, nothing acknowledged is lost, the nodes say
 * so once (their DiskFull alert) and in their metrics, and writes resume without a restart once
 * space is freed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { SpaceGuard } from '../../../src/dht/index.ts';
import type { DiskSpace } from '../../../src/dht/index.ts';
import { FileChunkEngine, writeFully } from '../../../src/cloud/s3/chunks/file-engine.ts';
import type { ChunkFileHandle } from '../../../src/cloud/s3/chunks/file-engine.ts';
import { chunkHash } from '../../../src/cloud/s3/chunks/store.ts';
import { call, logged } from '../../node/fixtures.ts';
import { bytes, clientFor, createUser, pattern, s3failure, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';
import { CreateBucketCommand } from '@aws-sdk/client-s3';

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

describe('S3 on a ring whose disks fill up', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  let clients: S3Client[];
  const disks = [new FakeDisk(), new FakeDisk(), new FakeDisk()];
  const small = pattern(1000, 11); // inline (TEST_S3: up to 4 KiB)
  const large = pattern(600 * 1024, 12); // three 256 KiB chunks
  const part1 = pattern(5 * MiB, 13);
  const part2 = pattern(1000, 14);

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3, {}, undefined, (i) => ({ diskSpace: disks[i]!.statfs }));
    user = await createUser(nodes[0]!, 'dora');
    clients = nodes.map((n) => clientFor(n.endpoint, user));
    cleanups.push(async () => {
      for (const c of clients) c.destroy();
    });
    await clients[0]!.send(new CreateBucketCommand({ Bucket: 'full' }));
  });
  after(() => runCleanups(cleanups));

  /** Sets node `i`'s free space and has its reserve read it now. */
  function setFree(i: number, free: number): void {
    disks[i]!.free = free;
    nodes[i]!.node.space.refresh();
  }

  test('two of three nodes full: 507 XMinioStorageFull for uploads, deletes and reads work, logged once per node; space freed: writes resume, nothing lost', async () => {
    const c = clients[0]!;
    await c.send(new PutObjectCommand({ Bucket: 'full', Key: 'kept-small', Body: small }));
    await c.send(new PutObjectCommand({ Bucket: 'full', Key: 'kept-large', Body: large }));
    await c.send(new PutObjectCommand({ Bucket: 'full', Key: 'doomed', Body: small }));
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'full', Key: 'multi' }));
    // Nodes 1 and 2 full: below the 1 GiB reserve (above half of it: deletions are still taken).
    setFree(1, 900 * MiB);
    setFree(2, 900 * MiB);
    for (const n of nodes.slice(1)) assert.ok(n.node.alerts.has('DiskFull'), 'DiskFull alert');
    assert.equal(nodes[0]!.node.alerts.has('DiskFull'), false);

    const refused = async (p: Promise<unknown>): Promise<void> => {
      const err = await s3failure(p, 'XMinioStorageFull', 507);
      assert.match(err.message, /out of disk space/);
    };
    await refused(c.send(new PutObjectCommand({ Bucket: 'full', Key: 'new-small', Body: small })));
    await refused(c.send(new PutObjectCommand({ Bucket: 'full', Key: 'new-large', Body: large })));
    await refused(clients[2]!.send(new PutObjectCommand({ Bucket: 'full', Key: 'new-large-2', Body: large })));
    await refused(c.send(new UploadPartCommand({ Bucket: 'full', Key: 'multi', UploadId, PartNumber: 1, Body: part1 })));
    // The ops API's DHT writes: 507 DiskFull.
    const put = await call(nodes[0]!.ops!.url, '/api/dht/records/doc%3Afull', { method: 'PUT', body: { type: 'doc', n: 1 } });
    assert.equal(put.status, 507);
    assert.equal((put.body['error'] as { code: string }).code, 'DiskFull');

    // Reads and deletes go on.
    assert.deepEqual(await bytes((await clients[1]!.send(new GetObjectCommand({ Bucket: 'full', Key: 'kept-large' }))).Body), large);
    await c.send(new DeleteObjectCommand({ Bucket: 'full', Key: 'doomed' }));
    await s3failure(c.send(new GetObjectCommand({ Bucket: 'full', Key: 'doomed' })), 'NoSuchKey', 404);

    // Told once: the full nodes' alert (one log line each), no error line per request anywhere.
    for (const n of nodes.slice(1)) assert.equal(logged(n.store, 'DiskFull').length, 1, 'one DiskFull line');
    for (const n of nodes) {
      assert.deepEqual(logged(n.store, 'XMinioStorageFull'), []);
      assert.deepEqual(logged(n.store, 'HandlerError'), []);
      assert.deepEqual(logged(n.store, 'UnhandledError'), []);
    }
    const metrics = (await call(nodes[1]!.ops!.url, '/metrics')).text;
    assert.match(metrics, /pi_storage_refusing\{dir="[^"]+"\} 1/);
    assert.match(metrics, /pi_storage_reserve_bytes\{dir="[^"]+"\} 1073741824/);
    assert.match(metrics, /pi_storage_writes_refused_total\{store="(dht|chunks)"\} [1-9]/);
    assert.match(metrics, /pi_alerts_active\{code="DiskFull",severity="critical"\} 1/);
    assert.match((await call(nodes[0]!.ops!.url, '/metrics')).text, /pi_s3_errors_total\{code="XMinioStorageFull"\} [1-9]/);
    const info = await call(nodes[2]!.ops!.url, '/api/node');
    assert.equal((info.body['storage'] as { refusing: boolean }[])[0]!.refusing, true);

    // Space freed: no restart, the same requests succeed.
    setFree(1, 50 * GiB);
    setFree(2, 50 * GiB);
    for (const n of nodes) assert.equal(n.node.alerts.has('DiskFull'), false);
    await c.send(new PutObjectCommand({ Bucket: 'full', Key: 'new-small', Body: small }));
    await clients[1]!.send(new PutObjectCommand({ Bucket: 'full', Key: 'new-large', Body: large }));
    const p1 = await c.send(new UploadPartCommand({ Bucket: 'full', Key: 'multi', UploadId, PartNumber: 1, Body: part1 }));
    const p2 = await c.send(new UploadPartCommand({ Bucket: 'full', Key: 'multi', UploadId, PartNumber: 2, Body: part2 }));
    await c.send(new CompleteMultipartUploadCommand({ Bucket: 'full', Key: 'multi', UploadId, MultipartUpload: { Parts: [{ ETag: p1.ETag!, PartNumber: 1 }, { ETag: p2.ETag!, PartNumber: 2 }] } }));
    for (const [key, body] of [['kept-small', small], ['kept-large', large], ['new-small', small], ['new-large', large], ['multi', Buffer.concat([part1, part2])]] as const) {
      for (const client of clients) assert.deepEqual(await bytes((await client.send(new GetObjectCommand({ Bucket: 'full', Key: key }))).Body), body, key);
    }
    for (const n of nodes.slice(1)) {
      const cleared = n.store.entries.filter((e) => e['event'] === 'alert.cleared' && e['code'] === 'DiskFull');
      assert.equal(cleared.length, 1, 'cleared once');
    }
  });
});
