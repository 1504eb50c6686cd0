/**
 * Resource management and aggregation in the simulator: the cached consumed DHT resource
 * registry (first consumer creates, last releases, probing drops dead consumers, refresh puts
 * back dropped live ones), the allocatable resource index (round robin, idempotent, leases,
 * purge), subscriber resource allocation over anycast, local scanning handlers and supernode
 * aggregation with its staleness bound.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import { PiApplication, rangeValues } from '../../src/app/index.ts';
import type { AllocatableResourceIndex, CachedDhtResourceRegistry, LocalScanner, SharedResource, SharedResourceRecord, SubscriberResourcePool, SupernodeAggregator , AppError} from '../../src/app/index.ts';
import type { DhtRecord, Entity } from '../../src/dht/index.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { appRing, seed } from './helpers.ts';

interface SgData {
  rules: string[];
  createdBy: string;
}

class SgApp extends PiApplication {
  registry!: CachedDhtResourceRegistry<SgData>;
  refreshed: SharedResource<SgData>[] = [];
  constructor(private readonly log2: { created: number; released: string[] }) {
    super('sg');
  }
  override onStart(): void {
    this.registry = this.sharedResources<SgData>({
      type: 'sg',
      create: (id) => {
        this.log2.created++;
        return { rules: [`allow ${id}`], createdBy: this.node.id.hex };
      },
      release: (id) => void this.log2.released.push(`${id}@${this.node.id.short()}`),
      onRefresh: (r) => void this.refreshed.push(r),
      refreshMs: 3000,
      probeMs: 4000,
    });
  }
}

describe('cached consumed DHT resource registry', () => {
  test('the first consumer creates the shared state, the last one releases it; every node caches and refreshes it', async () => {
    const l = { created: 0, released: [] as string[] };
    const sim = await appRing('res-cached', 10, { apps: () => [new SgApp(l)] });
    const [a, b, c] = sim.ring.live();
    const reg = (n: SimNode): CachedDhtResourceRegistry<SgData> => sim.app<SgApp>(n, 'sg').registry;
    const first = await sim.settle(reg(a!).register('web', 'vm-1'));
    assert.deepEqual(first.data.rules, ['allow web']);
    await sim.settle(reg(b!).register('web', 'vm-2'));
    await sim.settle(reg(c!).register('web', 'vm-3'));
    await sim.settle(reg(c!).register('web', 'vm-3')); // twice: harmless
    assert.equal(l.created, 1, 'created once: the later consumers found it');
    const fresh = await sim.settle(reg(b!).get('web', true));
    assert.deepEqual(fresh!.consumers.map((x) => x.consumer).sort(), ['vm-1', 'vm-2', 'vm-3']);
    assert.equal(fresh!.data.createdBy, a!.id.hex);
    await sim.run(4000);
    assert.ok(sim.app<SgApp>(a!, 'sg').refreshed.length >= 1, 'refresh ran');
    assert.deepEqual(reg(a!).resources().map((r) => r.id), ['web']);
    assert.equal(await sim.settle(reg(a!).deregister('web', 'vm-1')), false);
    assert.equal(await sim.settle(reg(b!).deregister('web', 'vm-2')), false);
    assert.equal(await sim.settle(reg(c!).deregister('web', 'vm-3')), true);
    assert.deepEqual(l.released, [`web@${c!.id.short()}`]);
    assert.equal(await sim.settle(reg(a!).get('web', true)), undefined);
    // A new first consumer creates it again.
    await sim.settle(reg(b!).register('web', 'vm-9'));
    assert.equal(l.created, 2);
  });

  test('consumers on a dead node are probed and dropped; a live consumer dropped by mistake comes back at its next refresh', async () => {
    const l = { created: 0, released: [] as string[] };
    const sim = await appRing('res-probe', 10, { apps: () => [new SgApp(l)] });
    const [a, b] = sim.ring.live();
    const reg = (n: SimNode): CachedDhtResourceRegistry<SgData> => sim.app<SgApp>(n, 'sg').registry;
    await sim.settle(reg(a!).register('db', 'x'));
    await sim.settle(reg(b!).register('db', 'y'));
    sim.crash(b!);
    const id = reg(a!).recordId('db');
    assert.equal((await sim.settle(reg(a!).get('db', true)))!.consumers.length, 2);
    await sim.runUntil(() => reg(a!).stats.consumersDropped + reg(b!).stats.consumersDropped > 0, 30_000);
    const probed = await sim.settle(reg(a!).get('db', true));
    assert.deepEqual(probed!.consumers.map((x) => x.consumer), ['x'], 'the dead node\'s consumer was dropped');
    // Drop a's own consumer behind its back: its refresh adds it back.
    await sim.settle(sim.dht(a!).update<SharedResourceRecord<SgData>>(id, (cur) => ({ ...cur!.body, consumers: [], state: 'active' })));
    await sim.runUntil(() => reg(a!).consumers('db').length === 1 && reg(a!).stats.readded > 0, 20_000);
    const rec = await sim.settle(sim.dht(a!).get<SharedResourceRecord<SgData>>(id));
    assert.deepEqual(rec!.body.consumers.map((x) => x.consumer), ['x']);
    assert.equal(l.released.length, 0);
  });
});

class RangeApp extends PiApplication {
  index!: AllocatableResourceIndex;
  constructor() {
    super('ranges');
  }
  override onStart(): void {
    this.index = this.allocatable({ range: 'pool', purgeMs: 2000 });
  }
}

describe('allocatable resource index', () => {
  test('round-robin allocation, idempotent per consumer, exhaustion, release, and leases of dead nodes purged', async () => {
    const sim = await appRing('res-range', 8, { apps: () => [new RangeApp()] });
    await seed(sim, { ranges: [{ name: 'pool', from: '10.0.0.1', to: '10.0.0.4', leaseMs: 6000 }] });
    assert.deepEqual(rangeValues({ from: 7, to: 9 }), ['7', '8', '9']);
    const [a, b] = sim.ring.live();
    const ix = (n: SimNode): AllocatableResourceIndex => sim.app<RangeApp>(n, 'ranges').index;
    assert.equal(await sim.settle(ix(a!).allocate('c1')), '10.0.0.1');
    assert.equal(await sim.settle(ix(b!).allocate('c2')), '10.0.0.2');
    assert.equal(await sim.settle(ix(a!).allocate('c1')), '10.0.0.1', 'same consumer, same value');
    assert.equal(await sim.settle(ix(b!).allocate('c3')), '10.0.0.3');
    assert.equal(await sim.settle(ix(a!).allocate('c4')), '10.0.0.4');
    await assert.rejects(sim.settle(ix(a!).allocate('c5')), (e: AppError) => e.code === 'Exhausted');
    assert.equal(await sim.settle(ix(a!).release('c1')), '10.0.0.1');
    assert.equal(await sim.settle(ix(a!).allocate('c5')), '10.0.0.1', 'round robin came back to the start');
    // Heartbeats keep a live node's leases over several lease periods.
    await sim.run(20_000);
    assert.equal(Object.keys(await sim.settle(ix(a!).leases())).length, 4);
    // b dies: its leases lapse and the root purges them.
    sim.crash(b!);
    await sim.run(14_000);
    const leases = await sim.settle(ix(a!).leases());
    assert.deepEqual(Object.values(leases).map((x) => x.consumer).sort(), ['c4', 'c5']);
    assert.equal(await sim.settle(ix(a!).allocate('c6')), '10.0.0.2');
    await assert.rejects(sim.settle(ix(a!).allocate('')), (e: AppError) => e.code === 'InvalidArgument');
    const unseeded = sim.app<RangeApp>(a!, 'ranges').allocatable({ range: 'nothing' });
    await assert.rejects(sim.settle(unseeded.allocate('c')), (e: AppError) => e.code === 'NotSeeded');
  });
});

class Capacity extends PiApplication {
  pool!: SubscriberResourcePool<{ units: number }, { slot: number; node: string }>;
  used = 0;
  constructor(readonly capacity: number) {
    super('capacity');
  }
  override async onStart(): Promise<void> {
    this.pool = this.capacityPool('pi-capacity:compute');
    await this.pool.provide({
      hasCapacity: () => this.used < this.capacity,
      tryAllocate: (req) => {
        if (this.used + req.units > this.capacity) return undefined;
        this.used += req.units;
        return { slot: this.used, node: this.node.id.hex };
      },
    });
  }
}

describe('subscriber resource allocation', () => {
  test('requests are anycast to nodes with capacity; full nodes stop offering; freed capacity is offered again', async () => {
    const sim = await appRing('res-anycast', 12, { apps: (n) => [new Capacity(n.index % 4 === 0 ? 2 : 0)] });
    await sim.run(3000);
    const providers = sim.ring.live().filter((n) => sim.app<Capacity>(n, 'capacity').capacity > 0);
    assert.equal(providers.length, 3);
    const client = sim.app<Capacity>(sim.ring.live().find((n) => !providers.includes(n))!, 'capacity');
    const grants: string[] = [];
    for (let i = 0; i < 6; i++) grants.push((await sim.settle(client.pool.request({ units: 1 }))).allocation.node);
    assert.deepEqual([...new Set(grants)].sort(), providers.map((n) => n.id.hex).sort(), 'every provider took some');
    for (const p of providers) assert.equal(sim.app<Capacity>(p, 'capacity').used, 2);
    await sim.run(3000);
    for (const p of providers) assert.equal(sim.app<Capacity>(p, 'capacity').pool.offering, false, 'full providers unsubscribed');
    await assert.rejects(sim.settle(client.pool.request({ units: 1 }, { timeoutMs: 5000 })), (e: { code: string }) => e.code === 'NoSubscribers' || e.code === 'AllDeclined');
    const freed = sim.app<Capacity>(providers[1]!, 'capacity');
    freed.used = 0;
    await sim.settle(freed.pool.update());
    await sim.run(2000);
    const r = await sim.settle(client.pool.request({ units: 2 }));
    assert.equal(r.allocation.node, providers[1]!.id.hex);
  });
});

interface Job extends Entity {
  type: 'job';
  state: 'queued' | 'running' | 'done';
  owner: string;
}

class Indexer extends PiApplication {
  scanner!: LocalScanner<Job>;
  agg!: SupernodeAggregator<Job, { url: string; state: string }>;
  seen = new Set<string>();
  constructor() {
    super('indexer');
  }
  override onStart(): void {
    this.scanner = this.scanLocally<Job>('jobs', { type: 'job', intervalMs: 3000 }, (records: DhtRecord<Job>[]) => {
      this.seen = new Set(records.map((r) => r.uri!));
    });
    this.agg = this.aggregator<Job, { url: string; state: string }>({ name: 'jobs', type: 'job', publishIntervalMs: 2000, supernodes: 2, summarise: (r) => ({ url: r.uri!, state: r.body.state }) });
  }
}

describe('search and aggregation', () => {
  test('local scanning handlers see each record on exactly one node; supernodes answer queries within the staleness bound', async () => {
    const sim = await appRing('res-agg', 16, { apps: () => [new Indexer()] });
    const writer = sim.dht(sim.ring.randomLive());
    const put = (i: number, state: Job['state']): Promise<unknown> => sim.settle(writer.update<Job>(idFor(`job:${i}`, Scope.GLOBAL), () => ({ type: 'job', url: `job:${i}`, state, owner: 'x' })));
    for (let i = 0; i < 30; i++) await put(i, i % 3 === 0 ? 'running' : 'queued');
    await sim.run(4000);
    const all = sim.ring.live().flatMap((n) => [...sim.app<Indexer>(n, 'indexer').seen]);
    assert.equal(all.length, 30);
    assert.equal(new Set(all).size, 30, 'each record scanned by one node (its root)');

    const q = sim.app<Indexer>(sim.ring.randomLive(), 'indexer').agg;
    const supernodes = sim.ring.live().filter((n) => sim.app<Indexer>(n, 'indexer').agg.isSupernode());
    assert.ok(supernodes.length >= 1 && supernodes.length <= 2);
    const running = await sim.settle(q.query({ state: 'running' }));
    assert.equal(running.entries.length, 10);
    assert.ok(supernodes.some((n) => n.id.hex === running.supernode.id.hex));
    assert.ok(running.oldestAt! >= sim.ring.now() - 2000 * 1.2 - 500, 'summaries are at most one interval old');
    // A change shows within one publish interval.
    await put(1, 'running');
    await sim.run(2000 * 1.2 + 200);
    assert.equal((await sim.settle(q.query({ state: 'running' }))).entries.length, 11);
    // A dead node's summary is dropped within three intervals; its records are published by their new roots.
    sim.crash(sim.ring.live().find((n) => !supernodes.includes(n) && sim.app<Indexer>(n, 'indexer').seen.size > 0)!);
    await sim.run(3 * 2000 * 1.2 + 2000 * 1.2 + 1000);
    const after = await sim.settle(q.query({}));
    assert.equal(after.entries.length, 30, 'no record lost, none counted twice');
    await assert.rejects(q.query([] as never), (e: AppError) => e.code === 'InvalidArgument');
  });
});
