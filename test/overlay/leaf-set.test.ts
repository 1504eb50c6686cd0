/**
 * The leaf set's idea of what it knows: whether it spans the whole ring, and how far from a key
 * the nodes it does not know begin (what decides whether a node may coordinate a read itself).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Id, RING_SIZE } from '../../src/id/index.ts';
import { LeafSet } from '../../src/overlay/index.ts';
import type { NodeHandle } from '../../src/wire/index.ts';

/** A node at `fraction` of the way around the ring. */
function at(fraction: number): NodeHandle {
  const id = Id.fromBigInt((RING_SIZE * BigInt(Math.round(fraction * 1e6))) / 1_000_000n);
  return { id, addr: `sim:${fraction}` };
}

test('a small ring is covered whole; a big ring whose one side is short is not', () => {
  const small = new LeafSet(at(0), 8);
  for (const f of [0.2, 0.5, 0.7]) small.add(at(f));
  assert.equal(small.coversWholeRing(), true, 'three other nodes, each on both sides');
  assert.equal(small.inRange(at(0.6).id), true);
  assert.equal(small.unknownBeyond(at(0.6).id), undefined);

  // A full ring: 4 nodes each side (half = 4), all within ±0.1 of 0.5.
  const big = new LeafSet(at(0.5), 8);
  for (const f of [0.52, 0.54, 0.56, 0.58, 0.48, 0.46, 0.44, 0.42]) big.add(at(f));
  assert.equal(big.coversWholeRing(), false);
  assert.equal(big.inRange(at(0.9).id), false);
  // Its left side loses three members (failed, not replaced yet): still not the whole ring.
  for (const f of [0.46, 0.44, 0.42]) big.remove(at(f).id);
  assert.equal(big.coversWholeRing(), false, 'a short side means unknown nodes, not a small ring');
  assert.equal(big.inRange(at(0.9).id), false);
  assert.equal(big.inRange(at(0.49).id), true);
});

test('unknown nodes begin beyond the nearer end of the leaf set', () => {
  const ls = new LeafSet(at(0.5), 8);
  for (const f of [0.52, 0.54, 0.56, 0.58, 0.48, 0.46, 0.44, 0.42]) ls.add(at(f));
  const key = at(0.43).id;
  const beyond = ls.unknownBeyond(key)!;
  assert.equal(beyond, at(0.43).id.big - at(0.42).id.big, 'the leftmost member is the nearer end');
  assert.equal(ls.unknownBeyond(at(0.7).id), 0n, 'out of range');
});
