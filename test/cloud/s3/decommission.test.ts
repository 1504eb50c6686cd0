/**
 * Decommissioning a node of a 4-node S3 ring through its ops API (`pi decommission`): before it
 * leaves, it copies each chunk it holds to the node that takes its place in the chunk's set (3
 * copies of every chunk on the 3 nodes left the moment it stops, without waiting for the ring's
 * re-replication), hands its DHT records off, leaves and stops; every object reads back byte for
 * byte through the others. The command refuses without --yes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { TOKEN, call } from '../../node/fixtures.ts';
import { clientFor, createUser, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('decommissioning an S3 node', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  const objects = new Map<string, Buffer>();

  before(async () => {
    nodes = await startS3Ring((fn) => cleanups.push(fn), 4);
    user = await createUser(nodes[0]!, 'leaver');
    const s3 = clientFor(nodes[0]!.endpoint, user);
    await s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    for (let i = 0; i < 8; i++) {
      // 256 KiB chunks in the test ring: 3 to 5 chunks each, and two small inline objects.
      const body = randomBytes(i < 6 ? 600_000 + i * 100_000 : 1000);
      objects.set(`obj-${i}`, body);
      await clientFor(nodes[i % 4]!.endpoint, user).send(new PutObjectCommand({ Bucket: 'kept', Key: `obj-${i}`, Body: body }));
    }
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('pi decommission refuses without --yes', async () => {
    const r = await pi(['decommission', '--ops', nodes[3]!.ops!.url, '--token', TOKEN]);
    assert.equal(r.code, 2);
    assert.match(r.err, /for good.*--yes/);
    assert.equal(nodes[3]!.node.state, 'ready');
  });

  test('the node copies its chunks to their next holders, then leaves; nothing is missing or lost', async () => {
    const leaving = nodes[3]!;
    const others = nodes.slice(0, 3);
    const held = [...leaving.s3.store.engine.entries()].map(([h]) => h);
    assert.ok(held.length > 10, `the leaving node holds chunks (${held.length})`);
    // The command follows the node until it is gone.
    const command = pi(['decommission', '--yes', '--ops', leaving.ops!.url, '--token', TOKEN]);
    await waitFor(() => leaving.node.decommissionStatus(), { what: 'the decommission to start' });
    const again = await call(leaving.ops!.url, '/api/node/decommission', { method: 'POST' });
    assert.equal(again.status, 409, 'one decommission at a time');
    const done = await command;
    assert.equal(done.code, 0, done.err);
    assert.match(done.out, /decommissioned in .*left the ring and stopped.*systemctl disable pi/s);
    await leaving.node.whenStopped();

    // Every chunk it held has a copy on each of the three nodes left, at once.
    const missing = held.filter((h) => others.some((n) => !n.s3.store.engine.stat(h)));
    assert.deepEqual(missing, []);
    const status = leaving.node.decommissionStatus()!;
    assert.equal(status.state, 'done');
    // With 4 nodes and 3 copies, exactly one of the others lacked each chunk: one copy sent per chunk.
    assert.deepEqual(status.services['s3'], { chunks: held.length, total: held.length, sent: held.length, failed: 0 });
    // DHT records are handed off by the drain too (none to send here: with 4 replicas per record,
    // the 3 nodes left hold every record already).
    assert.equal(status.services['dht']?.['handedOff'], 0);
    assert.ok((status.services['dht']?.['items'] as number) > 0);
    assert.equal(leaving.node.state, 'stopped');
    await waitFor(() => others.every((n) => n.node.overlay.leafSetMembers().length === 2), { timeoutMs: 20_000, what: 'the others to drop the departed node' });
    for (const [key, body] of objects) {
      const got = await clientFor(others[key.length % 3]!.endpoint, user).send(new GetObjectCommand({ Bucket: 'kept', Key: key }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(body), `${key} byte for byte`);
    }
  });
});
