import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, SeededRandom } from '../../src/env/index.ts';
import { Id } from '../../src/id/index.ts';
import { SimNetwork } from '../../src/transport/index.ts';
import type { SimNetworkOptions, SimTransport } from '../../src/transport/index.ts';
import { MessageType, WireError } from '../../src/wire/index.ts';
import type { DirectMessage, WireMessage } from '../../src/wire/index.ts';

interface Delivery {
  at: number;
  from: string;
  to: string;
  body: unknown;
}

/** A network on a scheduler starting at 0, recording every delivery. */
function setup(options: SimNetworkOptions = {}, seed: string | number = 'sim') {
  const scheduler = new Scheduler(0);
  const network = new SimNetwork(scheduler, new SeededRandom(seed), options);
  const deliveries: Delivery[] = [];
  const endpoint = (addr?: string): SimTransport => {
    const t = network.createTransport(addr);
    listen(t);
    return t;
  };
  const listen = (t: SimTransport): void =>
    t.setHandler((m, from) => deliveries.push({ at: scheduler.now(), from, to: t.address, body: (m as DirectMessage).msg?.body }));
  const count = (from: SimTransport, to: SimTransport): number =>
    deliveries.filter((d) => d.from === from.address && d.to === to.address).length;
  return { scheduler, network, deliveries, endpoint, listen, count };
}

let counter = 0;
function direct(from: SimTransport, body: unknown = counter++): DirectMessage {
  return { t: MessageType.DIRECT, from: { id: Id.fromBigInt(BigInt(counter++)), addr: from.address }, hop: counter, msg: { app: 'test', mid: `m${counter}`, body } };
}

describe('SimNetwork addresses and latency', () => {
  test('allocates distinct sim:N addresses, never reusing one given explicitly', () => {
    const { network } = setup();
    const a = network.createTransport();
    const b = network.createTransport();
    assert.equal(a.address, 'sim:1');
    assert.equal(b.address, 'sim:2');
    const explicit = network.createTransport('sim:3');
    const c = network.createTransport();
    assert.notEqual(c.address, explicit.address);
    assert.ok(network.isUp(explicit.address) && network.isUp(c.address));
    assert.equal(network.isUp('sim:999'), false);
  });

  test('a message arrives exactly after the base latency when there is no jitter', async () => {
    const { network, scheduler, deliveries, endpoint } = setup({ jitterMs: 0 });
    const a = endpoint();
    const b = endpoint();
    a.send(b.address, direct(a, 'hello'));
    assert.equal(deliveries.length, 0, 'never delivered synchronously');
    await scheduler.runFor(100);
    assert.deepEqual(deliveries, [{ at: network.latency(a.address, b.address), from: a.address, to: b.address, body: 'hello' }]);
    assert.deepEqual(network.stats, { sent: 1, delivered: 1, lost: 0, undeliverable: 0 });
    assert.equal(a.stats.messagesOut, 1);
    assert.equal(b.stats.messagesIn, 1);
  });

  test('latency is a distance on the plane scaled between the minimum and maximum', () => {
    const { network } = setup({ minLatencyMs: 2, maxLatencyMs: 12 });
    const ts = Array.from({ length: 40 }, () => network.createTransport().address);
    const span = (x: string, y: string): number => network.latency(x, y) - 2;
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of ts) {
      assert.equal(network.latency(x, x), 2);
      for (const y of ts) {
        const l = network.latency(x, y);
        assert.ok(l >= 2 && l <= 12, `latency ${l}`);
        assert.equal(l, network.latency(y, x));
        if (x !== y) {
          lo = Math.min(lo, l);
          hi = Math.max(hi, l);
        }
        for (const z of ts.slice(0, 8)) assert.ok(span(x, z) <= span(x, y) + span(y, z) + 1e-9, 'triangle inequality');
      }
    }
    assert.ok(hi - lo > 5, `latencies spread over the range (${lo}..${hi})`);
    assert.equal(network.latency('sim:1', 'nowhere'), 2);
  });

  test('latency grows linearly with the same plane distance whatever the configured range', () => {
    const n1 = setup({ minLatencyMs: 1, maxLatencyMs: 11 }, 'plane').network;
    const n2 = setup({ minLatencyMs: 0, maxLatencyMs: 1 }, 'plane').network;
    const a1 = Array.from({ length: 10 }, () => n1.createTransport().address);
    const a2 = Array.from({ length: 10 }, () => n2.createTransport().address);
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 10; j++) {
        const d = n2.latency(a2[i]!, a2[j]!); // = normalised plane distance
        assert.ok(Math.abs(n1.latency(a1[i]!, a1[j]!) - (1 + 10 * d)) < 1e-9);
      }
    }
  });

  test('defaults: 0.1 ms minimum, 2 ms maximum (a datacentre)', () => {
    const { network } = setup();
    const ts = Array.from({ length: 30 }, () => network.createTransport().address);
    assert.equal(network.latency(ts[0]!, ts[0]!), 0.1);
    for (const x of ts) for (const y of ts) assert.ok(network.latency(x, y) <= 2);
  });

  test('jitter adds a non-negative exponential delay with the configured mean', async () => {
    const { network, scheduler, deliveries, endpoint } = setup({ jitterMs: 2 }, 'jitter');
    const a = endpoint();
    const b = endpoint();
    const base = network.latency(a.address, b.address);
    const n = 3000;
    for (let i = 0; i < n; i++) {
      scheduler.schedule(i * 100, () => a.send(b.address, direct(a, i * 100)));
    }
    await scheduler.runFor(n * 100 + 1000);
    assert.equal(deliveries.length, n);
    const extra = deliveries.map((d) => d.at - (d.body as number) - base);
    assert.ok(extra.every((e) => e >= -1e-9));
    const mean = extra.reduce((s, e) => s + e, 0) / n;
    assert.ok(Math.abs(mean - 2) < 0.15, `mean jitter ${mean}`);
    assert.ok(extra.filter((e) => e > 2).length / n > 0.3, 'a long tail');
  });

  test('messages may overtake each other with jitter (unordered), but each arrives once', async () => {
    const { scheduler, deliveries, endpoint } = setup({ jitterMs: 3 }, 'reorder');
    const a = endpoint();
    const b = endpoint();
    for (let i = 0; i < 200; i++) a.send(b.address, direct(a, i));
    await scheduler.runFor(1000);
    const order = deliveries.map((d) => d.body as number);
    assert.deepEqual(
      order.slice().sort((x, y) => x - y),
      Array.from({ length: 200 }, (_, i) => i),
    );
    assert.notDeepEqual(order, Array.from({ length: 200 }, (_, i) => i));
  });
});

describe('SimNetwork loss', () => {
  test('loss probability is roughly honoured and counted', async () => {
    const { network, scheduler, deliveries, endpoint } = setup({ loss: 0.25 }, 'loss');
    const a = endpoint();
    const b = endpoint();
    const n = 4000;
    for (let i = 0; i < n; i++) a.send(b.address, direct(a));
    await scheduler.runFor(100);
    const rate = deliveries.length / n;
    assert.ok(rate > 0.72 && rate < 0.78, `delivered ${rate}`);
    assert.equal(network.stats.sent, n);
    assert.equal(network.stats.lost + network.stats.delivered, n);
  });

  test('setLoss changes the rate for later messages', async () => {
    const { network, scheduler, deliveries, endpoint } = setup({}, 'setloss');
    const a = endpoint();
    const b = endpoint();
    network.setLoss(1);
    for (let i = 0; i < 50; i++) a.send(b.address, direct(a));
    await scheduler.runFor(100);
    assert.equal(deliveries.length, 0);
    network.setLoss(0);
    for (let i = 0; i < 50; i++) a.send(b.address, direct(a));
    await scheduler.runFor(100);
    assert.equal(deliveries.length, 50);
  });
});

describe('SimNetwork partitions', () => {
  async function matrix(env: ReturnType<typeof setup>, ts: SimTransport[]): Promise<string> {
    env.deliveries.length = 0;
    for (const x of ts) for (const y of ts) x.send(y.address, direct(x));
    await env.scheduler.runFor(100);
    return ts.map((x) => ts.map((y) => env.count(x, y)).join('')).join(' ');
  }

  test('partition() blocks cross-group messages both ways; unlisted endpoints form one more group', async () => {
    const env = setup();
    const [a, b, c, d, e] = Array.from({ length: 5 }, () => env.endpoint()) as [SimTransport, SimTransport, SimTransport, SimTransport, SimTransport];
    const all = [a, b, c, d, e];
    assert.equal(await matrix(env, all), '11111 11111 11111 11111 11111');
    env.network.partition([[a.address, b.address], [c.address]]);
    // rows: sender a..e; columns: receiver a..e
    assert.equal(await matrix(env, all), '11000 11000 00100 00011 00011');
    env.network.heal();
    assert.equal(await matrix(env, all), '11111 11111 11111 11111 11111');
  });

  test('a new partition replaces the previous one', async () => {
    const env = setup();
    const [a, b, c] = Array.from({ length: 3 }, () => env.endpoint()) as [SimTransport, SimTransport, SimTransport];
    env.network.partition([[a.address], [b.address, c.address]]);
    assert.equal(await matrix(env, [a, b, c]), '100 011 011');
    env.network.partition([[a.address, c.address]]);
    assert.equal(await matrix(env, [a, b, c]), '101 010 101');
  });

  test('a message in flight when a partition cuts its path is dropped, whichever side is listed', async () => {
    for (const side of ['sender', 'receiver']) {
      const env = setup({ jitterMs: 0 });
      const a = env.endpoint();
      const b = env.endpoint();
      a.send(b.address, direct(a));
      env.network.partition([[side === 'sender' ? a.address : b.address]]);
      await env.scheduler.runFor(100);
      assert.equal(env.deliveries.length, 0, `partition listing the ${side}`);
      assert.equal(env.network.stats.undeliverable, 1);
    }
  });

  test('a message sent across a partition is dropped even if the partition heals before it arrives', async () => {
    const env = setup({ jitterMs: 0 });
    const a = env.endpoint();
    const b = env.endpoint();
    env.network.partition([[a.address]]);
    a.send(b.address, direct(a));
    env.network.heal();
    await env.scheduler.runFor(100);
    assert.equal(env.deliveries.length, 0);
  });

  test('unknown addresses in a partition are ignored', async () => {
    const env = setup();
    const a = env.endpoint();
    const b = env.endpoint();
    env.network.partition([[a.address, 'sim:404'], ['nowhere']]);
    assert.equal(await matrix(env, [a, b]), '10 01');
  });
});

describe('SimNetwork crashes and restarts', () => {
  test('crash() makes an endpoint silent: messages to it vanish, it sends nothing', async () => {
    const env = setup({ jitterMs: 0 });
    const [a, b, c] = Array.from({ length: 3 }, () => env.endpoint()) as [SimTransport, SimTransport, SimTransport];
    a.send(b.address, direct(a, 'in flight')); // in flight when b crashes
    env.network.crash(b.address);
    assert.equal(env.network.isUp(b.address), false);
    assert.doesNotThrow(() => a.send(b.address, direct(a, 'after crash')));
    b.send(c.address, direct(b, 'from the dead'));
    a.send(c.address, direct(a, 'unaffected'));
    await env.scheduler.runFor(100);
    assert.deepEqual(
      env.deliveries.map((d) => d.body),
      ['unaffected'],
    );
    // the crashed node's attempt is not counted as sent at all
    assert.deepEqual(env.network.stats, { sent: 3, delivered: 1, lost: 0, undeliverable: 2 });
  });

  test('createTransport(sameAddr) restarts a crashed endpoint at the same place', async () => {
    const env = setup({ jitterMs: 0 });
    const [a, b, c] = Array.from({ length: 3 }, () => env.endpoint()) as [SimTransport, SimTransport, SimTransport];
    const latencies = [env.network.latency(a.address, b.address), env.network.latency(b.address, c.address)];
    env.network.crash(b.address);
    const b2 = env.network.createTransport(b.address);
    assert.equal(b2.address, b.address);
    assert.notEqual(b2, b);
    assert.equal(env.network.isUp(b.address), true);
    assert.deepEqual([env.network.latency(a.address, b.address), env.network.latency(b.address, c.address)], latencies);

    // until the restarted node sets a handler, messages to it are dropped
    a.send(b.address, direct(a, 'too early'));
    await env.scheduler.runFor(50);
    assert.equal(env.deliveries.length, 0);

    const received: unknown[] = [];
    b2.setHandler((m) => received.push((m as DirectMessage).msg.body));
    b.setHandler(() => received.push('the old incarnation must not take over'));
    a.send(b.address, direct(a, 'welcome back'));
    b.send(c.address, direct(b, 'old transport')); // the crashed incarnation stays silent
    b2.send(c.address, direct(b2, 'new transport'));
    await env.scheduler.runFor(50);
    assert.deepEqual(received, ['welcome back']);
    assert.deepEqual(
      env.deliveries.map((d) => d.body),
      ['new transport'],
    );

    // closing the old incarnation does not take the new one down
    await b.close();
    assert.equal(env.network.isUp(b.address), true);
  });

  test('close() takes an endpoint off the network', async () => {
    const env = setup();
    const a = env.endpoint();
    const b = env.endpoint();
    await b.close();
    assert.equal(env.network.isUp(b.address), false);
    a.send(b.address, direct(a));
    await env.scheduler.runFor(50);
    assert.equal(env.deliveries.length, 0);
  });

  test('messages to unknown addresses are counted undeliverable, without throwing', async () => {
    const env = setup();
    const a = env.endpoint();
    assert.doesNotThrow(() => a.send('sim:12345', direct(a)));
    await env.scheduler.runFor(50);
    assert.equal(env.network.stats.undeliverable, 1);
    assert.equal(env.deliveries.length, 0);
  });
});

describe('SimNetwork codec option', () => {
  test('messages round-trip through the codec: the receiver gets its own copy', async () => {
    const { network, scheduler } = setup({ codec: true });
    const a = network.createTransport();
    const b = network.createTransport();
    const sent = direct(a, { list: [1, 2], owner: Id.fromBigInt(42n), blob: Buffer.from('xyz') });
    let got: DirectMessage | undefined;
    b.setHandler((m) => {
      got = m as DirectMessage;
      (got.msg.body as { list: number[] }).list.push(3);
      got.msg.app = 'mutated';
    });
    a.send(b.address, sent);
    await scheduler.runFor(50);
    assert.ok(got);
    assert.notEqual(got, sent);
    assert.deepEqual((sent.msg.body as { list: number[] }).list, [1, 2]);
    assert.equal(sent.msg.app, 'test');
    const body = got.msg.body as { owner: unknown; blob: unknown };
    assert.ok(body.owner instanceof Id && body.owner.equals(Id.fromBigInt(42n)));
    assert.ok(Buffer.isBuffer(body.blob));
    assert.ok(got.from.id instanceof Id);
    assert.ok(a.stats.bytesOut > 20);
    assert.equal(b.stats.bytesIn, a.stats.bytesOut);
  });

  test('without the codec the receiver shares the sender object (which is why the option exists)', async () => {
    const { network, scheduler } = setup();
    const a = network.createTransport();
    const b = network.createTransport();
    const sent = direct(a);
    let got: WireMessage | undefined;
    b.setHandler((m) => (got = m));
    a.send(b.address, sent);
    await scheduler.runFor(50);
    assert.equal(got, sent);
  });

  test('with the codec a message that would not survive the wire is refused at send time', () => {
    const { network } = setup({ codec: true });
    const a = network.createTransport();
    const b = network.createTransport();
    const bad = { t: MessageType.HEARTBEAT, from: { id: 'not an id', addr: a.address } } as unknown as WireMessage;
    assert.throws(() => a.send(b.address, bad), (err: unknown) => err instanceof WireError && err.code === 'MalformedMessage');
  });
});

describe('SimNetwork determinism', () => {
  async function run(seed: string): Promise<Delivery[]> {
    const env = setup({ loss: 0.1, jitterMs: 0.5 }, seed);
    const traffic = new SeededRandom(`${seed}/traffic`);
    const ts = Array.from({ length: 8 }, () => env.endpoint());
    // every delivery is answered, so the trace depends on timing and loss all the way down
    for (const t of ts) {
      t.setHandler((m, from) => {
        const body = (m as DirectMessage).msg.body as number;
        env.deliveries.push({ at: env.scheduler.now(), from, to: t.address, body });
        if (body < 400) t.send(from, direct(t, body + 100));
      });
    }
    for (let i = 0; i < 100; i++) {
      const from = traffic.pick(ts);
      const to = traffic.pick(ts);
      env.scheduler.schedule(traffic.int(50), () => from.send(to.address, direct(from, i)));
    }
    await env.scheduler.runFor(1000);
    const { sent, delivered, lost, undeliverable } = env.network.stats;
    assert.equal(sent, delivered + lost + undeliverable);
    assert.ok(lost > 0);
    return env.deliveries;
  }

  test('the same seed gives an identical delivery trace; another seed a different one', async () => {
    const first = await run('replay');
    assert.ok(first.length > 200);
    assert.deepEqual(await run('replay'), first);
    assert.notDeepEqual(await run('other'), first);
  });
});
