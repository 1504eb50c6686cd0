/**
 * Damaged records on a 3-node loopback ring (LMDB, real disks): small objects live inline in
 * their index entry, a DHT record. With the copies of two of the three nodes damaged in LMDB
 * (the value's bytes changed, its checksum not), every GET still answers the bytes that were
 * written, the damaged copies are quarantined and restored, and the metrics report them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { itemIntact } from '../../../src/dht/item-checksum.ts';
import type { StoredItem } from '../../../src/dht/index.ts';
import { TOKEN, call, waitFor } from '../../node/fixtures.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { bytes, pattern, startS3Fixture } from './harness.ts';
import type { S3Node } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const OBJECTS = 12;

describe('damaged records on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client[];
  const data = (i: number): Buffer => pattern(3000 + i, 100 + i);

  before(async () => {
    ({ nodes, aliceClients: a } = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['rec'] }));
    for (let i = 0; i < OBJECTS; i++) await a[i % 3]!.send(new PutObjectCommand({ Bucket: 'rec', Key: `small-${i}`, Body: data(i) }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  /** The stored index entry of object `i` on `node` (the record whose body holds its bytes inline). */
  function entryOf(node: S3Node, i: number): StoredItem | undefined {
    const inline = data(i).toString('base64');
    for (const item of node.node.storage.range('')) if (item.k.endsWith(`/small-${i}`) && item.b.includes(inline)) return item;
    return undefined;
  }

  test('GETs answer the written bytes while two of three copies are damaged, and the copies are restored', async () => {
    // Wait until every node holds every entry (the ring's three nodes are all replicas).
    await waitFor(() => nodes.every((n) => Array.from({ length: OBJECTS }, (_, i) => entryOf(n, i)).every(Boolean)), { timeoutMs: 20_000, what: 'every entry on every node' });
    const damaged: { node: S3Node; key: string }[] = [];
    for (let i = 0; i < OBJECTS; i++) {
      // Damage the copies of two nodes (a different pair per object): same checksum, other bytes.
      for (const node of [nodes[i % 3]!, nodes[(i + 1) % 3]!]) {
        const item = entryOf(node, i)!;
        const rotten = data(i);
        rotten[rotten.length >> 1] ^= 0x20;
        await node.node.storage.put({ ...item, b: item.b.replace(data(i).toString('base64'), rotten.toString('base64')) });
        assert.equal(itemIntact(node.node.storage.get(item.k)!), false);
        damaged.push({ node, key: item.k });
      }
    }
    for (let i = 0; i < OBJECTS; i++) {
      // Through a node whose own copy is damaged (its local copy is what it would answer first).
      const r = await a[i % 3]!.send(new GetObjectCommand({ Bucket: 'rec', Key: `small-${i}` }));
      assert.ok(data(i).equals(await bytes(r.Body)), `small-${i} answers the bytes written`);
    }
    // Read repair (or anti-entropy) puts intact copies back where the damaged ones were.
    await waitFor(
      () =>
        damaged.every(({ node, key }) => {
          const copy = node.node.storage.get(key);
          return copy !== undefined && itemIntact(copy);
        }),
      { timeoutMs: 60_000, what: 'intact copies everywhere' },
    );
    // The quarantine's own transactions may commit a moment after the repairs.
    const totals = async (): Promise<{ corrupt: number; quarantined: number }> => {
      const t = { corrupt: 0, quarantined: 0 };
      for (const n of nodes) {
        const text = (await call(n.ops!.url, '/metrics')).text;
        t.corrupt += Number(/^pi_dht_records_corrupt_total (\d+)/m.exec(text)?.[1] ?? NaN);
        t.quarantined += Number(/^pi_dht_records_quarantined (\d+)/m.exec(text)?.[1] ?? NaN);
      }
      return t;
    };
    let last = { corrupt: 0, quarantined: 0 };
    await waitFor(async () => (last = await totals()).quarantined >= damaged.length, { timeoutMs: 10_000, what: 'every damaged copy in quarantine' });
    assert.deepEqual(last, { corrupt: damaged.length, quarantined: damaged.length }, 'each damaged copy found once and kept in its node quarantine');

    // The operator's view of one node's quarantine, then emptying it.
    const node = nodes[0]!;
    const target = ['--ops', node.ops!.url, '--token', TOKEN];
    const mine = damaged.filter((d) => d.node === node).map((d) => d.key).sort();
    const listed = await pi(['--json', 'dht', 'quarantine', ...target]);
    assert.equal(listed.code, 0, listed.err);
    const view = JSON.parse(listed.out) as { count: number; items: { key: string; checksum: number; computed: number }[] };
    assert.equal(view.count, mine.length);
    assert.deepEqual(view.items.map((i) => i.key), mine);
    assert.ok(view.items.every((i) => i.checksum !== i.computed), 'each listed with the checksum it no longer matches');
    const text = await pi(['dht', 'quarantine', ...target]);
    assert.match(text.out, new RegExp(`${mine.length} damaged record\\(s\\) in quarantine`));
    const cleared = await pi(['dht', 'quarantine', '--clear', ...target]);
    assert.equal(cleared.code, 0, cleared.err);
    assert.match(cleared.out, new RegExp(`removed ${mine.length} damaged record`));
    assert.match((await call(node.ops!.url, '/metrics')).text, /^pi_dht_records_quarantined 0$/m);
  });
});
