/**
 * The application host and message contexts in the simulator: unique names, routing to
 * applications by name, replies with codes and entities, transaction ids across hops and in log
 * lines, timeouts, cross-application requests, the forward hook, and isolation of failing
 * applications.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Id } from '../../src/id/index.ts';
import { AppError, PiApplication } from '../../src/app/index.ts';
import type { AppForwardContext, AppForwardDecision, ReceivedMessageContext } from '../../src/app/index.ts';
import type { NodeHandle } from '../../src/wire/index.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { appRing, logLines } from './helpers.ts';

/** Answers GET with where it ran; CREATE chains a second request inside the same transaction. */
class Echo extends PiApplication {
  seen: { tx: string; method: string | undefined; entity: unknown }[] = [];
  constructor(name = 'echo') {
    super(name);
  }

  override async onMessage(ctx: ReceivedMessageContext): Promise<void> {
    this.seen.push({ tx: ctx.tx, method: ctx.method, entity: ctx.entity });
    ctx.log.warn({ event: 'echo.handled' }, 'handled');
    const e = ctx.entity as { next?: string; silent?: boolean; boom?: boolean; twice?: boolean } | null;
    if (e?.silent) return; // no reply: the sender times out
    if (e?.boom) throw new AppError('Refused', 'boom on purpose');
    if (ctx.method === 'CREATE' && e?.next) {
      // A context made from the received message keeps its transaction id.
      const r = await ctx.routeTo(Id.parse(e.next), 'GET', { hop: 2 });
      ctx.reply(200, { chained: r.entity });
      return;
    }
    ctx.reply(ctx.method === 'DELETE' ? 404 : 200, { at: this.node.id.hex, got: ctx.entity });
    if (e?.twice) assert.throws(() => ctx.reply(200), (err: AppError) => err.code === 'InvalidArgument');
  }
}

/** Caches GET answers seen passing through and answers repeats from the cache (forward hook). */
class Caching extends PiApplication {
  intercepted = 0;
  constructor() {
    super('caching');
  }
  override onMessage(ctx: ReceivedMessageContext): void {
    ctx.reply(200, { from: 'root', at: this.node.id.hex, got: ctx.entity });
  }
  override onForward(ctx: AppForwardContext): AppForwardDecision | void {
    if ((ctx.entity as { cached?: boolean }).cached && ctx.hops >= 0 && ctx.origin.id.hex !== this.node.id.hex) {
      this.intercepted++;
      ctx.context().reply(200, { from: 'cache', at: this.node.id.hex });
      return { action: 'consume' };
    }
    if ((ctx.entity as { rewrite?: boolean }).rewrite) return { action: 'pass', entity: { rewritten: true } };
  }
}

describe('application host', () => {
  test('application names are unique per node and must follow the naming rules', async () => {
    const sim = await appRing('host-names', 3, { apps: () => [new Echo()] });
    const host = sim.host(sim.ring.randomLive());
    assert.throws(() => host.add(new Echo()), (e: AppError) => e.code === 'DuplicateApplication' && /unique/.test(e.message));
    assert.throws(() => new Echo('Bad Name'), (e: AppError) => e.code === 'InvalidName');
    assert.throws(() => new Echo(''), (e: AppError) => e.code === 'InvalidName');
    assert.deepEqual(host.names(), ['echo']);
    assert.equal(host.get('echo')!.state, 'active', 'always-on by default');
  });

  test('routeTo reaches the root of the id, reply carries code and entity, the transaction id follows every hop and log line', async () => {
    const sim = await appRing('host-route', 16, { apps: () => [new Echo()] });
    const from = sim.ring.randomLive();
    const app = sim.app<Echo>(from, 'echo');
    const key = Id.fromBytes(sim.ring.env.random.bytes(20));
    const root = sim.ring.closestLive(key)!;

    const ctx = app.newMessageContext();
    const r = await sim.settle(ctx.routeTo(key, 'GET', { q: 1 }));
    assert.equal(r.code, 200);
    assert.deepEqual(r.entity, { at: root.id.hex, got: { q: 1 } });
    assert.equal(r.from.id.hex, root.id.hex);
    assert.equal(sim.app<Echo>(root, 'echo').seen[0]!.tx, ctx.tx);

    const nf = await sim.settle(ctx.routeTo(key, 'DELETE', {}));
    assert.equal(nf.code, 404);

    // A chain: the root of key A routes on to key B inside the same transaction.
    const keyB = Id.fromBytes(sim.ring.env.random.bytes(20));
    const rootB = sim.ring.closestLive(keyB)!;
    const chain = app.newMessageContext('tx-chain-1');
    const c = await sim.settle(chain.routeTo(key, 'CREATE', { next: keyB.hex }));
    assert.deepEqual(c.entity, { chained: { at: rootB.id.hex, got: { hop: 2 } } });
    assert.ok(sim.app<Echo>(rootB, 'echo').seen.some((s) => s.tx === 'tx-chain-1'), 'the second hop kept the transaction id');
    const lines = logLines(sim, (e) => e['event'] === 'echo.handled' && e['tx'] === 'tx-chain-1');
    assert.equal(lines.length, 2, 'both handlers logged with the transaction id');
    assert.ok(lines.every((l) => l['app'] === 'echo' && typeof l['node'] === 'string'));

    // Direct send, and a second reply is refused.
    const d = await sim.settle(ctx.sendDirect(root.pastry.handle, 'UPDATE', { twice: true }));
    assert.equal(d.code, 200);
  });

  test('an unanswered request rejects with Timeout; a failing handler answers 500 with its error code; bad methods are refused', async () => {
    const sim = await appRing('host-timeout', 8, { apps: () => [new Echo()] });
    const from = sim.ring.randomLive();
    const ctx = sim.app<Echo>(from, 'echo').newMessageContext();
    const key = Id.fromBytes(sim.ring.env.random.bytes(20));
    const start = sim.ring.now();
    await assert.rejects(sim.settle(ctx.routeTo(key, 'GET', { silent: true }, { timeoutMs: 700 })), (e: { code: string }) => e.code === 'Timeout');
    assert.ok(sim.ring.now() - start >= 700);
    const r = await sim.settle(ctx.routeTo(key, 'GET', { boom: true }));
    assert.equal(r.code, 500);
    assert.deepEqual(r.entity, { error: 'Refused', message: 'boom on purpose' });
    const root = sim.ring.closestLive(key)!;
    assert.equal(sim.host(root).status()[0]!.stats.errors, 1);
    assert.equal(sim.host(root).status()[0]!.stats.lastError?.code, 'Refused');
    await assert.rejects(ctx.routeTo(key, 'PATCH' as never, {}), (e: AppError) => e.code === 'InvalidArgument');
    assert.throws(() => sim.app<Echo>(from, 'echo').newMessageContext(''), (e: AppError) => e.code === 'InvalidArgument');
  });

  test('a request to another application is answered to the sender; unknown applications time out', async () => {
    const sim = await appRing('host-cross', 10, { apps: () => [new Echo('echo'), new Echo('other')] });
    const from = sim.ring.randomLive();
    const ctx = sim.app<Echo>(from, 'echo').newMessageContext();
    const key = Id.fromBytes(sim.ring.env.random.bytes(20));
    const root = sim.ring.closestLive(key)!;
    const r = await sim.settle(ctx.routeTo(key, 'GET', 'x', { app: 'other' }));
    assert.deepEqual(r.entity, { at: root.id.hex, got: 'x' });
    assert.equal(sim.app<Echo>(root, 'other').seen.length, 1);
    assert.equal(sim.app<Echo>(root, 'echo').seen.length, 0);
    await assert.rejects(sim.settle(ctx.routeTo(key, 'GET', 'x', { app: 'nobody', timeoutMs: 1000 })), (e: { code: string }) => e.code === 'Timeout');
  });

  test('the forward hook sees messages on the way: it can answer from an intermediate node or change the entity', async () => {
    const sim = await appRing('host-forward', 40, { apps: () => [new Caching()] });
    let answeredByCache = 0;
    let rewritten = 0;
    for (let i = 0; i < 30; i++) {
      const from = sim.ring.randomLive();
      const key = Id.fromBytes(sim.ring.env.random.bytes(20));
      const ctx = sim.app<Caching>(from, 'caching').newMessageContext();
      const r = await sim.settle(ctx.routeTo(key, 'GET', { cached: true }));
      if ((r.entity as { from: string }).from === 'cache') answeredByCache++;
      const w = await sim.settle(ctx.routeTo(key, 'GET', { rewrite: true }));
      const got = (w.entity as { got: { rewritten?: boolean } }).got;
      // Changed on the first forwarding node (the origin), unless the origin was the root itself.
      if (got.rewritten === true || w.from.id.hex === from.id.hex) rewritten++;
    }
    const intercepted = sim.ring.live().reduce((n, node) => n + sim.app<Caching>(node, 'caching').intercepted, 0);
    assert.ok(answeredByCache > 0, 'multi-hop routes were answered on the way');
    assert.equal(answeredByCache, intercepted);
    assert.equal(rewritten, 30);
  });

  test('an application that throws in every handler never stops another application or the node', async () => {
    class Faulty extends PiApplication {
      constructor() {
        super('faulty');
      }
      override onMessage(): void {
        throw new Error('onMessage broken');
      }
      override onNodeDeparted(): void {
        throw new Error('onNodeDeparted broken');
      }
      override onLeafSetChanged(): void {
        throw new Error('onLeafSetChanged broken');
      }
    }
    class BadStart extends PiApplication {
      constructor() {
        super('bad-start');
      }
      override onStart(): void {
        throw new AppError('Refused', 'cannot start');
      }
    }
    const departures: NodeHandle[] = [];
    class Watcher extends Echo {
      constructor() {
        super('watcher');
      }
      override onNodeDeparted(node: NodeHandle): void {
        departures.push(node);
      }
    }
    const errors: string[] = [];
    const sim = await appRing('host-isolation', 12, { apps: () => [new Faulty(), new BadStart(), new Watcher()] });
    for (const n of sim.ring.live()) sim.host(n).onError((app, _err, during) => errors.push(`${app}:${during}`));
    const victim = sim.ring.randomLive();
    sim.crash(victim);
    await sim.run(8000);
    assert.equal(departures.filter((d) => d.id.hex === victim.id.hex).length, 1, 'the healthy application got the departure');
    const from = sim.ring.randomLive();
    const key = Id.fromBytes(sim.ring.env.random.bytes(20));
    const faulty = await sim.settle(sim.host(from).get<Faulty>('faulty')!.newMessageContext().routeTo(key, 'GET', {}));
    assert.equal(faulty.code, 500);
    const ok = await sim.settle(sim.host(from).get<Watcher>('watcher')!.newMessageContext().routeTo(key, 'GET', 'still here'));
    assert.equal(ok.code, 200);
    for (const n of sim.ring.live()) {
      const st = sim.host(n).status();
      assert.equal(st.find((s) => s.name === 'bad-start')!.state, 'failed');
      assert.equal(st.find((s) => s.name === 'bad-start')!.stats.lastError?.code, 'Refused');
      assert.equal(st.find((s) => s.name === 'watcher')!.state, 'active');
    }
    assert.ok(errors.includes('faulty:onNodeDeparted'));
    assert.ok(errors.includes('faulty:onLeafSetChanged'));
    assert.ok(errors.includes('faulty:onMessage'));
    const live: SimNode[] = sim.ring.live();
    assert.ok(live.every((n) => n.pastry.isReady));
  });
});
