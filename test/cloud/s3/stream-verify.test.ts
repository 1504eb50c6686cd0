/**
 * How a GET checks a chunk it streams from this node's disk (data.ts, streamChunks): against the
 * CRC32 its reference records, or, for references written before CRCs were recorded, against the
 * chunk's SHA-256. A real file engine, a real HTTP response over loopback; the chunk store around
 * the engine is reduced to what streamChunks asks of it (its options and its damage report).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileChunkEngine } from '../../../src/cloud/s3/chunks/file-engine.ts';
import { chunkHash } from '../../../src/cloud/s3/chunks/store.ts';
import type { ChunkStore } from '../../../src/cloud/s3/chunks/store.ts';
import { streamChunks } from '../../../src/cloud/s3/data.ts';
import { attachCrcs, packCrcs } from '../../../src/cloud/s3/model.ts';
import type { ChunkRef } from '../../../src/cloud/s3/model.ts';
import { crc32 } from '../../../src/wire/crc32.ts';

describe('streamChunks: whole local chunks are checked before their last bytes leave', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pi-stream-verify-'));
  const engine = FileChunkEngine.open(dir);
  const damaged: string[] = [];
  const store = { engine, options: { verifyReads: true }, damaged: (hash: string) => (damaged.push(hash), Promise.resolve('restored')) } as unknown as ChunkStore;
  let refs: ChunkRef[] = [];
  const server = createServer((req, res) => {
    const list = JSON.parse(decodeURIComponent(req.url!.slice(1))) as ChunkRef[];
    const size = list.reduce((a, r) => a + r.size, 0);
    res.writeHead(200, { 'content-length': size });
    streamChunks(store, list, 0, size - 1, res).then(
      () => res.end(),
      () => res.destroy(),
    );
  });
  let port = 0;

  /** GETs the chunks `list`; resolves with the bytes, rejects when the transfer is cut short. */
  const get = (list: ChunkRef[]): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/${encodeURIComponent(JSON.stringify(list))}` }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('aborted')));
      });
      req.on('error', reject);
      req.end();
    });

  /** Flips one byte of the chunk's file (what bit rot does). */
  const rot = async (hash: string): Promise<void> => {
    const fh = await open(join(dir, hash.slice(0, 2), hash), 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 1000);
    b[0] = b[0]! ^ 0x01;
    await fh.write(b, 0, 1, 1000);
    await fh.close();
  };

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    for (let i = 0; i < 4; i++) {
      const data = randomBytes(1024 * 1024 + 100 * i);
      const hash = chunkHash(data);
      await engine.put(hash, data, Date.now());
      refs.push({ hash, size: data.length, crc: crc32(data) });
    }
    // The CRCs survive the trip through the stored lists.
    refs = attachCrcs(refs.map(({ hash, size }) => ({ hash, size })), packCrcs(refs));
    assert.ok(refs.every((r) => typeof r.crc === 'number'));
  });

  after(async () => {
    server.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('intact chunks stream whole, with or without a recorded CRC', async () => {
    const withCrc = await get([refs[0]!, refs[1]!]);
    assert.equal(withCrc.length, refs[0]!.size + refs[1]!.size);
    const legacy = await get([{ hash: refs[0]!.hash, size: refs[0]!.size }]);
    assert.equal(legacy.length, refs[0]!.size);
    assert.deepEqual(damaged, []);
  });

  test('a rotted chunk fails the transfer and is reported, checked by its CRC', async () => {
    await rot(refs[2]!.hash);
    await assert.rejects(get([refs[2]!]));
    assert.deepEqual(damaged.splice(0), [refs[2]!.hash]);
  });

  test('a rotted chunk listed without a CRC is caught by its SHA-256', async () => {
    await rot(refs[3]!.hash);
    await assert.rejects(get([{ hash: refs[3]!.hash, size: refs[3]!.size }]));
    assert.deepEqual(damaged.splice(0), [refs[3]!.hash]);
  });

  test('the recorded CRC is what is checked: a wrong one fails an intact chunk', async () => {
    await assert.rejects(get([{ ...refs[1]!, crc: (refs[1]!.crc! + 1) >>> 0 }]));
    assert.deepEqual(damaged.splice(0), [refs[1]!.hash]);
  });

  test('a CRC list that does not match the chunk list is ignored', () => {
    const plain = refs.map(({ hash, size }) => ({ hash, size }));
    assert.equal(packCrcs([...plain.slice(1), refs[0]!]), undefined, 'not every chunk has one');
    const shorter = attachCrcs(plain.map((r) => ({ ...r })), packCrcs(refs.slice(1)));
    assert.ok(shorter.every((r) => r.crc === undefined));
  });
});
