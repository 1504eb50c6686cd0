import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, WireError, decodeMessage, encodeMessage, frameHeader } from '../../src/wire/index.ts';
import { samples } from './samples.ts';

function frame(body: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(body.length), body]);
}

/** Feeds `stream` to a decoder cut at the given points; returns every body as a hex string. */
function feed(decoder: FrameDecoder, stream: Buffer, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of [...points, stream.length]) {
    out.push(...decoder.push(stream.subarray(start, p)));
    start = p;
  }
  return out.map((b) => b.toString('hex'));
}

function assertTooLarge(fn: () => unknown, length: number, limit: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WireError);
    assert.equal(err.code, 'FrameTooLarge');
    assert.match(err.message, new RegExp(`frame of ${length} bytes exceeds the limit of ${limit}`));
    return true;
  });
}

describe('frameHeader', () => {
  test('is a 4-byte big-endian length', () => {
    assert.equal(FRAME_HEADER_BYTES, 4);
    assert.deepEqual([...frameHeader(0)], [0, 0, 0, 0]);
    assert.deepEqual([...frameHeader(0x01020304)], [1, 2, 3, 4]);
    assert.deepEqual([...frameHeader(0xffffffff)], [255, 255, 255, 255]);
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 16 * 1024 * 1024);
  });
});

describe('FrameDecoder', () => {
  const bodies = Object.values(samples()).map((m) => encodeMessage(m));
  const stream = Buffer.concat(bodies.map(frame));

  test('several frames in one chunk', () => {
    const d = new FrameDecoder();
    const out = d.push(stream);
    assert.equal(out.length, bodies.length);
    out.forEach((b, i) => assert.ok(b.equals(bodies[i]!)));
    assert.equal(d.pendingBytes, 0);
    assert.deepStrictEqual(
      out.map((b) => decodeMessage(b)),
      Object.values(samples()),
    );
  });

  test('one byte at a time', () => {
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) {
      out.push(...d.push(stream.subarray(i, i + 1)));
      assert.equal(d.pendingBytes, i + 1 - out.reduce((n, b) => n + FRAME_HEADER_BYTES + b.length, 0));
    }
    assert.deepEqual(
      out.map((b) => b.toString('hex')),
      bodies.map((b) => b.toString('hex')),
    );
  });

  test('a frame split at every possible byte boundary', () => {
    const one = frame(bodies[2]!);
    for (let cut = 0; cut <= one.length; cut++) {
      const d = new FrameDecoder();
      const first = d.push(one.subarray(0, cut));
      const second = d.push(one.subarray(cut));
      const all = [...first, ...second];
      assert.equal(all.length, 1, `cut at ${cut}`);
      assert.ok(all[0]!.equals(bodies[2]!));
      assert.equal(first.length, cut === one.length ? 1 : 0);
      assert.equal(d.pendingBytes, 0);
    }
  });

  test('property: any bodies (including empty ones) cut at any points come out whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (chunks, cuts) => {
          const s = Buffer.concat(chunks.map(frame));
          const d = new FrameDecoder(64);
          assert.deepEqual(
            feed(d, s, cuts),
            chunks.map((c) => Buffer.from(c).toString('hex')),
          );
          assert.equal(d.pendingBytes, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('zero-length frames: alone, at the end of a chunk, between others, and split', () => {
    const empty = frame(new Uint8Array(0));
    let d = new FrameDecoder();
    assert.deepEqual(
      d.push(empty).map((b) => b.length),
      [0],
    );
    assert.equal(d.pendingBytes, 0);

    d = new FrameDecoder();
    const mixed = Buffer.concat([empty, frame(Buffer.from('ab')), empty, empty, frame(Buffer.from('c')), empty]);
    assert.deepEqual(
      d.push(mixed).map((b) => b.toString()),
      ['', 'ab', '', '', 'c', ''],
    );

    d = new FrameDecoder();
    assert.deepEqual(d.push(empty.subarray(0, 2)), []);
    assert.deepEqual(
      d.push(empty.subarray(2)).map((b) => b.length),
      [0],
    );

    // a limit of zero still allows empty frames
    d = new FrameDecoder(0);
    assert.equal(d.push(Buffer.concat([empty, empty])).length, 2);
    assertTooLarge(() => d.push(frame(Buffer.from('x'))), 1, 0);
  });

  test('empty chunks change nothing', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(Buffer.alloc(0)), []);
    const one = frame(Buffer.from('hello'));
    assert.deepEqual(d.push(one.subarray(0, 3)), []);
    assert.deepEqual(d.push(Buffer.alloc(0)), []);
    assert.equal(d.pendingBytes, 3);
    const out = d.push(one.subarray(3));
    assert.deepEqual(
      out.map((b) => b.toString()),
      ['hello'],
    );
  });

  test('a body exactly at the limit is accepted; one byte more is not', () => {
    const d = new FrameDecoder(10);
    assert.equal(d.push(frame(Buffer.alloc(10, 1)))[0]!.length, 10);
    assertTooLarge(() => new FrameDecoder(10).push(frame(Buffer.alloc(11))), 11, 10);
  });

  test('an oversized header is refused as soon as its fourth byte arrives, before any body', () => {
    const d = new FrameDecoder(1000);
    const header = frameHeader(1001);
    for (let i = 0; i < 3; i++) assert.deepEqual(d.push(header.subarray(i, i + 1)), []);
    assertTooLarge(() => d.push(header.subarray(3, 4)), 1001, 1000);
  });

  test('an oversized header following a good frame in the same chunk is refused', () => {
    const d = new FrameDecoder(100);
    assertTooLarge(() => d.push(Buffer.concat([frame(Buffer.from('ok')), frameHeader(0xffffffff)])), 0xffffffff, 100);
  });

  test('the default limit refuses a 4 GiB announcement without buffering', () => {
    const d = new FrameDecoder();
    assertTooLarge(() => d.push(frameHeader(0xffffffff)), 0xffffffff, DEFAULT_MAX_FRAME_BYTES);
  });

  test('bodies handed out earlier stay intact while later chunks are buffered and merged', () => {
    const d = new FrameDecoder();
    const a = frame(Buffer.from('first-body'));
    const b = frame(Buffer.from('second-body'));
    const got: Buffer[] = [];
    // header of b split over chunks forces the decoder to merge its buffers
    got.push(...d.push(Buffer.concat([a, b.subarray(0, 2)])));
    got.push(...d.push(b.subarray(2, 3)));
    got.push(...d.push(b.subarray(3)));
    assert.deepEqual(
      got.map((x) => x.toString()),
      ['first-body', 'second-body'],
    );
  });
});
