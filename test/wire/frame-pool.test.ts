import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FrameDecoder, frameHeader, POOLED_FRAME_MIN_BYTES, releaseFrame, takeFrameBuffer } from '../../src/wire/index.ts';

describe('pooled frame buffers', () => {
  test('a large frame buffer given back is lent again; small ones are plain; a second release and foreign bytes are ignored', () => {
    const size = POOLED_FRAME_MIN_BYTES + 123;
    const first = takeFrameBuffer(size);
    assert.equal(first.length, size);
    releaseFrame(first.subarray(10, 20)); // any view into the frame gives it back
    releaseFrame(first); // again: ignored, so the memory is lent once only
    const second = takeFrameBuffer(size + 7); // the same capacity class
    assert.equal(second.buffer, first.buffer, 'the memory is reused');
    const third = takeFrameBuffer(size);
    assert.notEqual(third.buffer, first.buffer, 'released once, lent once');

    const small = takeFrameBuffer(1000);
    releaseFrame(small);
    releaseFrame(randomBytes(POOLED_FRAME_MIN_BYTES));
    assert.notEqual(takeFrameBuffer(size).buffer, small.buffer);
  });

  test('the decoder assembles a large frame spanning socket reads in a lent buffer, and a small one as before', () => {
    const body = randomBytes(POOLED_FRAME_MIN_BYTES + 5000);
    const small = randomBytes(3000);
    const wire = Buffer.concat([frameHeader(body.length), body, frameHeader(small.length), small]);
    const decoder = new FrameDecoder();
    const frames: Buffer[] = [];
    for (let at = 0; at < wire.length; at += 64 * 1024) frames.push(...decoder.push(wire.subarray(at, at + 64 * 1024)));
    assert.equal(frames.length, 2);
    assert.ok(frames[0]!.equals(body));
    assert.ok(frames[1]!.equals(small));
    // The large one is lent: given back, its memory assembles the next large frame.
    releaseFrame(frames[0]!);
    const again = new FrameDecoder();
    const next = randomBytes(POOLED_FRAME_MIN_BYTES + 4000);
    const out: Buffer[] = [];
    const wire2 = Buffer.concat([frameHeader(next.length), next]);
    for (let at = 0; at < wire2.length; at += 64 * 1024) out.push(...again.push(wire2.subarray(at, at + 64 * 1024)));
    assert.equal(out[0]!.buffer, frames[0]!.buffer);
    assert.ok(out[0]!.equals(next));
  });
});
