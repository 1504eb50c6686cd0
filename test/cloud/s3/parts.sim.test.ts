/**
 * Part records in the simulator: ending an upload drops the part versions it knew of, not a part
 * re-uploaded meanwhile, whose record the chunk collector needs to see its references belong to
 * an ended upload (without it they look like an upload still in progress, kept for a day).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../../src/cloud/s3/catalog.ts';
import type { PartEntry } from '../../../src/cloud/s3/model.ts';
import { dhtRing } from '../../dht/helpers.ts';

function part(n: number, pv: string): PartEntry {
  return { type: 's3.part', n, pv, size: 10, etag: `etag-${pv}`, lm: 1_700_000_000_000 } as PartEntry;
}

describe('multipart part records', () => {
  test('dropping the parts of an ended upload leaves a part re-uploaded since', async () => {
    const sim = await dhtRing('parts-drop', 6);
    const node = sim.ring.randomLive();
    const catalog = new Catalog(sim.dht(node), node.env, { cacheMs: 2000, indexShards: 1 });
    const known = [part(1, 'pv-1a'), part(2, 'pv-2a')];
    for (const p of known) await sim.settle(catalog.putPart('upload-1', p));
    // Part 1 uploaded again while the upload was being completed.
    await sim.settle(catalog.putPart('upload-1', part(1, 'pv-1b')));
    await sim.settle(catalog.dropParts('upload-1', known));
    const left: PartEntry[] = [];
    await sim.settle(
      (async () => {
        for await (const p of catalog.parts('upload-1')) left.push(p);
      })(),
    );
    assert.deepEqual(left.map((p) => [p.n, p.pv]), [[1, 'pv-1b']]);
  });
});
