/**
 * Scribe over real loopback TCP: six nodes in this process subscribe, publish and anycast; the
 * topic's root is then killed at socket level and the tree repairs itself.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCloseness, randomNodeId } from '../../src/id/index.ts';
import { LogStore, MemoryLogger, RealEnv } from '../../src/env/index.ts';
import { TcpTransport } from '../../src/transport/index.ts';
import { PastryNode } from '../../src/overlay/index.ts';
import { Scribe, ScribeError, makeTopic } from '../../src/scribe/index.ts';
import type { ScribeMessage } from '../../src/scribe/index.ts';
import { waitFor } from '../helpers/wait.ts';

interface TcpNode {
  index: number;
  transport: TcpTransport;
  pastry: PastryNode;
  scribe: Scribe;
  got: ScribeMessage[];
  crashed: boolean;
}

const FAST = { heartbeatIntervalMs: 200, parentTimeoutMs: 700, subscribeRetryMs: 500, anycastTimeoutMs: 5_000 };

describe('Scribe over loopback TCP', () => {
  const nodes: TcpNode[] = [];
  const logs = new LogStore(10_000, () => Date.now());

  after(async () => {
    for (const n of nodes) {
      n.scribe.stop();
      n.pastry.stop();
    }
    await Promise.all(nodes.map((n) => n.transport.close()));
  });

  async function addNode(index: number): Promise<TcpNode> {
    const env = new RealEnv({ seed: `scribe-tcp-${index}`, logger: new MemoryLogger(logs, 'warn') });
    const id = randomNodeId((k) => env.random.bytes(k));
    const transport = await TcpTransport.listen({ env, host: '127.0.0.1', port: 0, nodeId: id });
    const pastry = new PastryNode(env.withLog({ node: id.short() }), transport, id);
    const scribe = new Scribe({ env, node: pastry, options: FAST });
    const node: TcpNode = { index, transport, pastry, scribe, got: [], crashed: false };
    nodes.push(node);
    if (index === 0) pastry.createRing();
    else await pastry.join([nodes[0]!.transport.address]);
    return node;
  }

  const live = (): TcpNode[] => nodes.filter((n) => !n.crashed);

  test('subscribe, publish and anycast; the root dies and the tree repairs itself', async () => {
    for (let i = 0; i < 6; i++) await addNode(i);
    await waitFor(() => live().every((n) => n.pastry.leafSetMembers().length === 5), { timeoutMs: 10_000, what: 'leaf sets', intervalMs: 10 });

    const topic = makeTopic('topic:tcp');
    const rootOf = (): TcpNode => live().reduce((best, n) => (compareCloseness(topic.id, n.pastry.id, best.pastry.id) < 0 ? n : best));
    const root = rootOf();
    const subscribers = nodes.filter((n) => n !== root).slice(0, 4);
    subscribers.push(root); // the root subscribes too: after its crash its subscribers must move
    await Promise.all(
      subscribers.map((n) =>
        n.scribe.subscribe(topic, {
          deliver: (_t, msg) => n.got.push(msg),
          anycast: (_t, msg) => ({ accept: (msg.entity as { want: number }).want === n.index, reply: `node ${n.index}` }),
        }),
      ),
    );
    assert.ok(root.scribe.treeInfo(topic)!.root);

    const outsider = nodes.find((n) => !subscribers.includes(n))!;
    const id1 = outsider.scribe.publish(topic, 'CREATE', { n: 1 });
    await waitFor(() => subscribers.every((n) => n.got.some((m) => m.id === id1)), { timeoutMs: 5_000, what: 'publish delivered' });
    assert.deepEqual(subscribers.find((n) => n !== root)!.got.find((m) => m.id === id1)!.entity, { n: 1 });

    const want = subscribers[2]!.index;
    const res = await outsider.scribe.anycast(topic, 'GET', { want });
    assert.equal(res.reply, `node ${want}`);
    assert.ok(res.by.id.equals(subscribers[2]!.pastry.id));
    await assert.rejects(outsider.scribe.anycast(topic, 'GET', { want: 99 }), (e: ScribeError) => e instanceof ScribeError && e.code === 'AllDeclined');
    await assert.rejects(outsider.scribe.randomAnycast(makeTopic('topic:none'), 'GET', 1), (e: ScribeError) => e.code === 'NoSubscribers');

    // Kill the root at socket level: nobody is told.
    root.crashed = true;
    root.scribe.stop();
    root.pastry.stop();
    await root.transport.close();
    const id2 = outsider.scribe.publish(topic, 'UPDATE', { n: 2 });
    const survivors = subscribers.filter((n) => n !== root);
    await waitFor(
      () => {
        const r = rootOf();
        return r.scribe.treeInfo(topic)?.root && survivors.every((n) => n === r || n.scribe.treeInfo(topic)?.parent?.id.equals(r.pastry.id));
      },
      { timeoutMs: 10_000, what: 'tree repaired at the new root', intervalMs: 20 },
    );
    const id3 = outsider.scribe.publish(topic, 'UPDATE', { n: 3 });
    await waitFor(() => survivors.every((n) => n.got.some((m) => m.id === id3) && n.got.some((m) => m.id === id2)), { timeoutMs: 5_000, what: 'publishes after the crash delivered' });
    for (const n of survivors) assert.equal(n.got.filter((m) => m.id === id2).length, 1, 'once');
  });
});
