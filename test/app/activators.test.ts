/**
 * Activators in the simulator: shared-record N-of-M (claims, named slots, failover by expiry and
 * by eager recovery, graceful release, deactivate(node), zones), supernodes, the start timeout
 * that rolls back to passive, and exclusion rules.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import { PiApplication, SharedRecordActivator, SupernodeActivator, appUri, deriveCheckpoints, estimateRingSize, scopedId } from '../../src/app/index.ts';
import { SimRing } from '../../src/sim/ring.ts';
import type { Activation, AppRecord, ApplicationOptions } from '../../src/app/index.ts';
import { Scope } from '../../src/id/index.ts';
import { AppSim } from '../../src/sim/app-sim.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { appRing, logLines, seed } from './helpers.ts';

class Svc extends PiApplication {
  activations: Activation[] = [];
  constructor(name: string, options: ApplicationOptions, private readonly hang = false) {
    super(name, options);
  }
  override onActivate(a: Activation): Promise<void> | void {
    this.activations.push(a);
    if (this.hang) return new Promise(() => {});
  }
}

const shared = (name: string, expiryMs = 6000, extra: ConstructorParameters<typeof SharedRecordActivator>[0] = {}): Svc => new Svc(name, { activator: new SharedRecordActivator({ expiryMs, ...extra }) });

async function record(sim: AppSim, name: string, scope = Scope.GLOBAL, node: SimNode = sim.ring.randomLive()): Promise<AppRecord> {
  const r = await sim.settle(sim.dht(node).get<AppRecord>(scopedId(appUri(name), scope, node.location)));
  return r!.body;
}

/** Virtual ms until `cond` holds (fails the test after `limit`). */
async function timeUntil(sim: AppSim, cond: () => boolean, limit: number): Promise<number> {
  const start = sim.ring.now();
  assert.ok(await sim.runUntil(cond, limit), `condition not reached within ${limit} ms`);
  return sim.ring.now() - start;
}

describe('shared-record activator', () => {
  test('exactly N nodes claim the N slots; named slots hand their values to the holders', async () => {
    const sim = await appRing('act-n-of-m', 12, { apps: () => [shared('svc'), shared('web')] });
    await seed(sim, { applications: [{ name: 'svc', slots: 3, expiryMs: 6000 }, { name: 'web', slots: ['10.1.0.1', '10.1.0.2'] }] });
    await sim.run(5000);
    const svc = sim.activeNodes('svc');
    assert.equal(svc.length, 3);
    const slots = svc.map((n) => sim.app<Svc>(n, 'svc').activation!.slot!.index).sort();
    assert.deepEqual(slots, [0, 1, 2]);
    const rec = await record(sim, 'svc');
    assert.deepEqual(rec.slots!.map((s) => s.holder).sort(), svc.map((n) => n.id.hex).sort());
    assert.equal(rec.expiryMs, 6000);
    const web = sim.activeNodes('web');
    assert.deepEqual(web.map((n) => sim.app<Svc>(n, 'web').activation!.slot!.value).sort(), ['10.1.0.1', '10.1.0.2']);
    // Heartbeats keep the claims: nothing changes over several expiry periods.
    await sim.run(20_000);
    assert.deepEqual(sim.activeNodes('svc').map((n) => n.index).sort(), svc.map((n) => n.index).sort());
    for (const n of svc) assert.equal(sim.app<Svc>(n, 'svc').activations.length, 1, 'activated once');
  });

  test('an unseeded application stays passive and says why once', async () => {
    const sim = await appRing('act-unseeded', 6, { apps: () => [shared('ghost')] });
    await sim.run(10_000);
    assert.equal(sim.activeNodes('ghost').length, 0);
    const lines = logLines(sim, (e) => e['code'] === 'NotSeeded' && e['app'] === 'ghost');
    assert.equal(lines.length, 6, 'one line per node');
  });

  test('when a holder dies its slot moves to another node within the expiry period (eager recovery and expiry alone)', async (t) => {
    for (const eager of [true, false]) {
      const expiry = 8000;
      const sim = await appRing(`act-failover-${eager}`, 12, { apps: () => [shared('svc', expiry, { eagerRecovery: eager })] });
      await seed(sim, { applications: [{ name: 'svc', slots: ['10.0.0.7'] }] });
      await sim.runUntil(() => sim.activeNodes('svc').length === 1, 10_000);
      const holder = sim.activeNodes('svc')[0]!;
      sim.crash(holder);
      const took = await timeUntil(sim, () => sim.activeNodes('svc').length === 1, 3 * expiry);
      const next = sim.activeNodes('svc')[0]!;
      assert.notEqual(next.index, holder.index);
      assert.equal(sim.app<Svc>(next, 'svc').activation!.slot!.value, '10.0.0.7');
      t.diagnostic(`failover ${eager ? 'eager' : 'by expiry'}: ${took} ms (expiry ${expiry} ms)`);
      if (eager) assert.ok(took < expiry, `eager failover took ${took} ms, expiry ${expiry} ms`);
      else assert.ok(took <= expiry, `failover by expiry took ${took} ms`);
      assert.ok(took >= (eager ? 1000 : 0), 'a dead node is detected, not guessed');
    }
  });

  test('a node that stops gracefully frees its slot at once; deactivate(node) moves a slot away and bars the node', async () => {
    const sim = await appRing('act-release', 10, { apps: () => [shared('svc', 10_000)] });
    await seed(sim, { applications: [{ name: 'svc', slots: 2 }] });
    await sim.runUntil(() => sim.activeNodes('svc').length === 2, 10_000);
    const [a, b] = sim.activeNodes('svc');
    void sim.leave(a!);
    const took = await timeUntil(sim, () => sim.activeNodes('svc').length === 2 && !sim.activeNodes('svc').includes(a!), 10_000);
    assert.ok(took < 6000, `slot taken over ${took} ms after a graceful stop (expiry is 10 s)`);

    const activator = sim.app<Svc>(sim.ring.randomLive(), 'svc').activator as SharedRecordActivator;
    assert.equal(await sim.settle(activator.deactivate(b!.id)), true);
    await sim.runUntil(() => !sim.activeNodes('svc').includes(b!) && sim.activeNodes('svc').length === 2, 10_000);
    await sim.run(15_000);
    assert.ok(!sim.activeNodes('svc').includes(b!), 'the deactivated node did not take a slot again while barred');
    assert.equal(sim.activeNodes('svc').length, 2);
    assert.equal(await sim.settle(activator.deactivate(Id.fromBytes(new Uint8Array(20)))), false, 'a node holding nothing');
  });

  test('zones: each availability zone has its own record and its own holders', async () => {
    const opts = { apps: () => [new Svc('zoned', { activator: new SharedRecordActivator({ scope: 'az', expiryMs: 6000 }) })] };
    const z = new AppSim({ seed: 'act-zones', network: { codec: true }, ...opts });
    await z.build(6, { location: { region: 1, az: 1 } });
    await z.build(6, { location: { region: 1, az: 2 } });
    const inZone = (az: number): SimNode[] => z.ring.live().filter((n) => n.location!.az === az);
    await seed(z, { applications: [{ name: 'zoned', scope: 'az', slots: 2 }] }, inZone(1)[0]);
    await seed(z, { location: { region: 1, az: 2 }, applications: [{ name: 'zoned', scope: 'az', slots: 1 }] }, inZone(1)[0]);
    await z.run(6000);
    const active = z.activeNodes('zoned');
    assert.equal(active.filter((n) => n.location!.az === 1).length, 2);
    assert.equal(active.filter((n) => n.location!.az === 2).length, 1);
    const r1 = await record(z, 'zoned', Scope.AVAILABILITY_ZONE, inZone(1)[0]);
    assert.ok(r1.slots!.every((s) => inZone(1).some((n) => n.id.hex === s.holder)));
  });

  test('onActivate that does not finish within the start timeout rolls back to passive and frees the slot', async () => {
    let hangers = 0;
    const sim = await appRing('act-timeout', 8, {
      apps: (node) => {
        const hang = node.index % 2 === 0;
        if (hang) hangers++;
        return [new Svc('slow', { activator: new SharedRecordActivator({ expiryMs: 6000 }), startTimeoutMs: 1500 }, hang)];
      },
    });
    assert.ok(hangers > 0);
    await seed(sim, { applications: [{ name: 'slow', slots: 1 }] });
    await sim.runUntil(() => sim.activeNodes('slow').length === 1, 60_000);
    const holder = sim.activeNodes('slow')[0]!;
    assert.equal(holder.index % 2, 1, 'only a node whose onActivate finishes ends up active');
    const rollbacks = sim.ring.live().reduce((n, node) => n + (sim.host(node).status()[0]!.stats.rollbacks ?? 0), 0);
    const attempts = sim.ring.live().filter((n) => n.index % 2 === 0 && sim.app<Svc>(n, 'slow').activations.length > 0);
    assert.equal(rollbacks, attempts.reduce((k, n) => k + sim.app<Svc>(n, 'slow').activations.length, 0), 'every hanging activation was rolled back');
    for (const n of attempts) assert.equal(sim.app<Svc>(n, 'slow').state, 'passive');
    const rec = await record(sim, 'slow');
    assert.equal(rec.slots![0]!.holder, holder.id.hex);
    assert.ok(logLines(sim, (e) => e['code'] === 'StartTimeout').length >= rollbacks);
  });
});

describe('supernode activator', () => {
  test('active exactly where the node is the root of a checkpoint, and follows the root when it dies', async () => {
    const sim = await appRing('act-supernode', 20, { apps: () => [new Svc('index', { activator: new SupernodeActivator({ checkIntervalMs: 2000 }) })] });
    await seed(sim, { applications: [{ name: 'index', checkpoints: 3 }] });
    const cps = deriveCheckpoints('index', 3, Scope.GLOBAL, undefined);
    const roots = (): number[] => [...new Set(cps.map((c) => sim.ring.closestLive(c)!.index))].sort();
    await sim.runUntil(() => sim.activeNodes('index').map((n) => n.index).sort().join() === roots().join(), 10_000);
    for (const n of sim.activeNodes('index')) {
      const mine = sim.app<Svc>(n, 'index').activation!.checkpoints!.map((c) => c.hex);
      assert.deepEqual(mine, cps.filter((c) => sim.ring.closestLive(c) === n).map((c) => c.hex));
    }
    const victim = sim.activeNodes('index')[0]!;
    sim.crash(victim);
    const took = await timeUntil(sim, () => sim.activeNodes('index').map((n) => n.index).sort().join() === roots().join(), 15_000);
    assert.ok(took < 8000, `new supernode active after ${took} ms`);
  });

  test('explicit checkpoints need no record', async () => {
    const sim = await appRing('act-supernode-explicit', 10, {
      apps: () => [new Svc('agg', { activator: new SupernodeActivator({ checkpoints: [Id.parse('8'.repeat(40))] }) })],
    });
    await sim.runUntil(() => sim.activeNodes('agg').length === 1, 10_000);
    assert.equal(sim.activeNodes('agg')[0], sim.ring.closestLive(Id.parse('8'.repeat(40))));
  });
});

describe('exclusion rules', () => {
  test('two applications that exclude each other never share a node when the ring is big enough, and may when it is not', async () => {
    const make = (): PiApplication[] => [
      new Svc('alpha', { activator: new SharedRecordActivator({ expiryMs: 6000 }), excludes: ['beta'] }),
      new Svc('beta', { activator: new SharedRecordActivator({ expiryMs: 6000 }) }),
    ];
    const big = await appRing('act-exclusion-big', 8, { apps: make });
    await seed(big, { applications: [{ name: 'alpha', slots: 3 }, { name: 'beta', slots: 3 }] });
    await big.run(12_000);
    const alpha = big.activeNodes('alpha');
    const beta = big.activeNodes('beta');
    assert.equal(alpha.length, 3);
    assert.equal(beta.length, 3);
    assert.equal(alpha.filter((n) => beta.includes(n)).length, 0, 'no node runs both');

    const small = await appRing('act-exclusion-small', 4, { apps: make });
    await seed(small, { applications: [{ name: 'alpha', slots: 3 }, { name: 'beta', slots: 3 }] });
    await small.run(12_000);
    assert.equal(small.activeNodes('alpha').length, 3, 'rule ignored: 6 activations need 6 nodes, the ring has 4');
    assert.equal(small.activeNodes('beta').length, 3);
  });
});

describe('ring size estimate', () => {
  test('exact while the leaf set holds the whole ring; beyond, from the leaf set\'s id density (mean within 10 %, each within a factor of 2)', async () => {
    const small = new SimRing({ seed: 'size-small' });
    await small.build(9);
    await small.runFor(3000);
    for (const n of small.live()) assert.equal(estimateRingSize(n.pastry), 9);
    const big = new SimRing({ seed: 'size-big' });
    big.buildSync(300);
    big.scheduler.runUntilSync(big.now() + 5000);
    const estimates = big.live().map((n) => estimateRingSize(n.pastry));
    const mean = estimates.reduce((a, b) => a + b, 0) / estimates.length;
    assert.ok(Math.abs(mean - 300) / 300 < 0.1, `mean estimate ${mean}`);
    assert.ok(estimates.every((e) => e > 300 * 0.5 && e < 300 * 2), `estimates from ${Math.min(...estimates)} to ${Math.max(...estimates)}`);
    for (const n of [...small.live(), ...big.live()]) n.pastry.stop();
  });
});
