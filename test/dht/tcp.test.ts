/**
 * The DHT over real loopback TCP with LMDB: five nodes, two replicas of a set stopped abruptly,
 * no acknowledged write lost; a stopped node restarted on its data directory keeps its id and its
 * records and catches up.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Id, Scope, compareCloseness, idFor } from '../../src/id/index.ts';
import { LogStore, MemoryLogger, RealEnv } from '../../src/env/index.ts';
import { TcpTransport } from '../../src/transport/index.ts';
import { PastryNode } from '../../src/overlay/index.ts';
import { Dht, openNodeStorage } from '../../src/dht/index.ts';
import type { Entity, LmdbStorage } from '../../src/dht/index.ts';
import { waitFor } from '../helpers/wait.ts';

interface Doc extends Entity {
  n: number;
}

interface RealNode {
  dir: string;
  env: RealEnv;
  transport: TcpTransport;
  pastry: PastryNode;
  dht: Dht;
  storage: LmdbStorage;
  stopped: boolean;
}

const root = mkdtempSync(join(tmpdir(), 'pi-dht-tcp-'));
const nodes: RealNode[] = [];
after(async () => {
  for (const n of nodes) await stop(n);
  rmSync(root, { recursive: true, force: true });
});

// Quick failure detection, with room for a loaded CI machine's pauses (a false suspicion moves
// replica sets under the test's feet).
const overlay = { heartbeatIntervalMs: 300, suspectAfterMs: 1500, probeTimeoutMs: 400, joinTimeoutMs: 3000 };

async function start(dir: string, bootstrap: string | undefined): Promise<RealNode> {
  const env = new RealEnv({ logger: new MemoryLogger(new LogStore(500, () => Date.now()), 'error') });
  const { nodeId, storage } = await openNodeStorage(dir, { createId: () => Id.fromBytes(env.random.bytes(20)) });
  const transport = await TcpTransport.listen({ env, host: '127.0.0.1', port: 0, nodeId });
  const pastry = new PastryNode(env, transport, nodeId, overlay);
  const dht = new Dht({ env, node: pastry, storage, options: { replicaTimeoutMs: 1000, attemptTimeoutMs: 1500, operationTimeoutMs: 15_000, antiEntropyIntervalMs: 2_000 } });
  if (bootstrap === undefined) pastry.createRing();
  else await pastry.join([bootstrap]);
  const node: RealNode = { dir, env, transport, pastry, dht, storage, stopped: false };
  nodes.push(node);
  return node;
}

/** Abrupt stop: timers and sockets gone, nobody told. */
async function stop(n: RealNode): Promise<void> {
  if (n.stopped) return;
  n.stopped = true;
  n.dht.close();
  n.pastry.stop();
  await n.transport.close();
  await n.storage.close();
}

describe('DHT over loopback TCP with LMDB', () => {
  test('two replicas stopped abruptly lose no acknowledged write; a restarted node keeps id and records', { timeout: 60_000 }, async () => {
    const first = await start(join(root, 'n0'), undefined);
    for (let i = 1; i < 5; i++) await start(join(root, `n${i}`), first.transport.address);
    await waitFor(() => nodes.every((n) => n.pastry.leafSetMembers().length === 4), { timeoutMs: 10_000, what: 'full leaf sets' });

    const acked = new Map<string, { id: Id; version: number; n: number }>();
    const ids = Array.from({ length: 40 }, (_, i) => idFor(`doc:tcp-${i}`, Scope.GLOBAL));
    await Promise.all(ids.map(async (id, i) => {
      const r = await nodes[i % 5]!.dht.put<Doc>(id, { type: 'doc', n: i });
      acked.set(id.hex, { id, version: r.version, n: i });
    }));
    // Acknowledged once 3 replicas committed it; the 4th follows (or anti-entropy brings it).
    const key = ids[0]!;
    assert.ok(nodes.filter((n) => n.dht.localGet(key)).length >= 3);
    await waitFor(() => ids.every((id) => nodes.filter((n) => n.dht.localGet(id)).length >= 4), { timeoutMs: 15_000, what: '4 copies of every record' });

    // Stop two replicas of `key` (not the client node 0) at once.
    const byCloseness = nodes.slice().sort((a, b) => compareCloseness(key, a.pastry.id, b.pastry.id));
    const victims = byCloseness.filter((n) => n !== first).slice(0, 2);
    const heldByVictim = ids.filter((id) => victims[0]!.dht.localGet(id)).length;
    for (const v of victims) await stop(v);
    const live = nodes.filter((n) => !n.stopped);

    // Writes go on while the failures are detected (clients retry), then everything is read back.
    for (const [i, id] of ids.entries()) {
      if (i % 4 !== 0) continue;
      const r = await live[i % live.length]!.dht.update<Doc>(id, (cur) => ({ ...cur!.body, n: cur!.body.n + 100 }));
      acked.set(id.hex, { id, version: r!.version, n: i + 100 });
    }
    for (const { id, version, n } of acked.values()) {
      const r = await live[0]!.dht.get<Doc>(id);
      assert.equal(r?.version, version, `latest acknowledged version of ${id.short()}`);
      assert.equal(r?.body.n, n);
    }

    // Restart one victim on its data directory: same id, its records still on disk, then caught up.
    const victim = victims[0]!;
    const oldId = victim.pastry.id.hex;
    const disk = await openNodeStorage(victim.dir, { createId: () => assert.fail('the directory has an id') });
    assert.equal(disk.nodeId.hex, oldId);
    assert.equal(disk.storage.get(key.hex)?.v, 1, 'records written before the stop are on disk');
    assert.equal(ids.filter((id) => disk.storage.get(id.hex)).length, heldByVictim);
    await disk.storage.close();
    const reopened = await start(victim.dir, first.transport.address);
    assert.equal(reopened.pastry.id.hex, oldId, 'the id comes from the data directory');
    await waitFor(() => reopened.dht.localGet(key)?.v === acked.get(key.hex)!.version, { timeoutMs: 15_000, what: 'the restarted node caught up' });
    const r = await reopened.dht.get<Doc>(key);
    assert.equal(r?.body.n, 100);
  });
});
