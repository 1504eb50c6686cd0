/**
 * Task processing queues in the simulator: add / setOwner / remove, watchers that ask owners and
 * re-dispatch stale tasks (one winner among several watchers), retries and the retries-exhausted
 * handler, eager recovery when the owner dies, and a task completed exactly once in effect
 * although its worker died mid-way.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, idFor } from '../../src/id/index.ts';
import { AppError, PiApplication } from '../../src/app/index.ts';
import type { Task } from '../../src/app/index.ts';
import type { AppSim } from '../../src/sim/app-sim.ts';
import type { SimNode } from '../../src/sim/ring.ts';
import { appRing, seed } from './helpers.ts';

/** Shared by every node's worker of one test. */
interface Ledger {
  /** Handler runs per task. */
  runs: Map<string, number>;
  /** Effects applied per task (idempotent writes that wrote). */
  effects: Map<string, number>;
  exhausted: string[];
  /** Work time of a run (virtual ms). */
  workMs: number;
  /** Runs that throw instead of working. */
  fail: (uri: string) => boolean;
  /** Called between the effect and the removal (a crash point). */
  afterEffect: (node: SimNode, uri: string) => void;
  redispatchedAt: Map<string, number>;
}

class Worker extends PiApplication {
  constructor(
    private readonly simNode: SimNode,
    private readonly ledger: Ledger,
  ) {
    super('worker');
  }

  override onStart(): void {
    this.processQueue('jobs', {
      onTask: (task) => {
        if (!this.ledger.redispatchedAt.has(task.uri)) this.ledger.redispatchedAt.set(task.uri, this.env.now());
        return this.work(task.uri);
      },
      onRetriesExhausted: (task: Task) => void this.ledger.exhausted.push(task.uri),
    }, { scanIntervalMs: 2000 });
  }

  /** Adds a task and works on it here. */
  async submit(uri: string): Promise<void> {
    await this.queues.add('jobs', uri);
    await this.work(uri);
  }

  /** The task's effect, made idempotent by writeIfAbsent keyed by the task; then done. */
  async work(uri: string): Promise<void> {
    const l = this.ledger;
    l.runs.set(uri, (l.runs.get(uri) ?? 0) + 1);
    await this.env.sleep(l.workMs);
    if (l.fail(uri)) throw new AppError('Refused', `task ${uri} fails`);
    const r = await this.dht.writeIfAbsent(idFor(`result:${uri}`, Scope.GLOBAL), { type: 'result', by: this.node.id.hex });
    if (r.written) l.effects.set(uri, (l.effects.get(uri) ?? 0) + 1);
    l.afterEffect(this.simNode, uri);
    await this.queues.remove('jobs', uri);
  }
}

function ledger(over: Partial<Ledger> = {}): Ledger {
  return { runs: new Map(), effects: new Map(), exhausted: [], workMs: 500, fail: () => false, afterEffect: () => {}, redispatchedAt: new Map(), ...over };
}

async function queueRing(name: string, n: number, l: Ledger, queue: Record<string, unknown>): Promise<AppSim> {
  const sim = await appRing(name, n, { apps: (node) => [new Worker(node, l)] });
  await seed(sim, { queues: [{ name: 'jobs', ...queue }] });
  return sim;
}

const worker = (sim: AppSim, node: SimNode): Worker => sim.app<Worker>(node, 'worker');

describe('task queues', () => {
  test('add is idempotent, setOwner moves a task, remove takes it out; an unseeded queue is refused', async () => {
    const sim = await queueRing('tq-basic', 8, ledger(), { retries: 4 });
    const [a, b] = sim.ring.live();
    const qa = worker(sim, a!).queues;
    const first = await sim.settle(qa.add('jobs', 'job:1', { data: { size: 3 } }));
    assert.equal(first.added, true);
    assert.deepEqual([first.task.owner, first.task.retries, first.task.attempts, first.task.data], [a!.id.hex, 4, 1, { size: 3 }]);
    assert.equal(qa.isWorking('jobs', 'job:1'), true);
    const again = await sim.settle(worker(sim, b!).queues.add('jobs', 'job:1', { retries: 9 }));
    assert.equal(again.added, false);
    assert.equal(again.task.retries, 4, 'the existing task was kept');
    const moved = await sim.settle(qa.setOwner('jobs', 'job:1', b!.pastry.handle));
    assert.equal(moved!.owner, b!.id.hex);
    assert.equal(qa.isWorking('jobs', 'job:1'), false);
    await sim.settle(qa.add('jobs', 'job:2', { own: false }));
    const list = await sim.settle(worker(sim, b!).queues.list('jobs'));
    assert.deepEqual(list.tasks.map((t) => [t.uri, t.owner === undefined]), [['job:1', false], ['job:2', true]]);
    assert.equal(await sim.settle(qa.remove('jobs', 'job:1')), true);
    assert.equal(await sim.settle(qa.remove('jobs', 'job:1')), false);
    assert.equal(await sim.settle(qa.get('jobs', 'job:1')), undefined);
    assert.equal(await sim.settle(qa.setOwner('jobs', 'job:1')), undefined);
    await assert.rejects(sim.settle(qa.add('nothing', 'job:1')), (e: AppError) => e.code === 'NotSeeded');
    await assert.rejects(sim.settle(qa.add('jobs', 'job:x', { retries: -1 })), (e: AppError) => e.code === 'InvalidArgument');
  });

  test('watchers leave a stale task alone while its owner still works on it, and re-dispatch it once nobody does', async () => {
    const l = ledger({ workMs: 15_000 });
    const sim = await queueRing('tq-stale', 12, l, { staleAfterMs: 3000, retries: 3, watchers: 2 });
    const owner = sim.ring.randomLive();
    void worker(sim, owner).submit('job:long').catch(() => {});
    await sim.run(12_000);
    const stats = (): { probes: number; stillWorking: number; redispatched: number } =>
      sim.ring.live().reduce((s, n) => {
        const x = sim.host(n).queues.stats;
        return { probes: s.probes + x.probes, stillWorking: s.stillWorking + x.stillWorking, redispatched: s.redispatched + x.redispatched };
      }, { probes: 0, stillWorking: 0, redispatched: 0 });
    assert.ok(stats().stillWorking >= 2, 'the owner was asked and said yes');
    assert.equal(stats().redispatched, 0);
    assert.equal(l.runs.get('job:long'), 1);
    // The owner gives up (e.g. its process lost the work): the next watcher pass re-dispatches it.
    worker(sim, owner).queues.release('jobs', 'job:long');
    l.workMs = 500;
    await sim.runUntil(() => (l.effects.get('job:long') ?? 0) > 0, 30_000);
    await sim.run(20_000);
    assert.equal(stats().redispatched, 1, 'exactly one of the watchers won the task');
    assert.equal(l.effects.get('job:long'), 1);
    assert.equal(await sim.settle(worker(sim, owner).queues.get('jobs', 'job:long')), undefined, 'done and removed');
  });

  test('each re-dispatch uses a retry; when none is left the task is removed and the retries-exhausted handler runs once', async () => {
    const l = ledger({ workMs: 100, fail: () => true });
    const sim = await queueRing('tq-exhausted', 10, l, { staleAfterMs: 2000, retries: 2, watchers: 3 });
    const n = sim.ring.randomLive();
    await assert.rejects(sim.settle(worker(sim, n).submit('job:doomed')), (e: AppError) => e.code === 'Refused');
    worker(sim, n).queues.release('jobs', 'job:doomed');
    await sim.runUntil(() => l.exhausted.length > 0, 60_000);
    await sim.run(15_000);
    assert.deepEqual(l.exhausted, ['job:doomed']);
    assert.equal(l.runs.get('job:doomed'), 3, 'the first attempt and 2 retries');
    assert.equal(await sim.settle(worker(sim, n).queues.get('jobs', 'job:doomed')), undefined);
  });

  test('a worker that dies mid-task: its task is re-dispatched at once (eager recovery) and completed exactly once in effect', async () => {
    const l = ledger({ workMs: 4000 });
    const sim = await queueRing('tq-crash-mid', 16, l, { staleAfterMs: 60_000, retries: 3 });
    const victim = sim.ring.randomLive();
    void worker(sim, victim).submit('job:mid').catch(() => {});
    await sim.run(1500); // mid-task
    assert.equal(l.runs.get('job:mid'), 1);
    const crashedAt = sim.ring.now();
    sim.crash(victim);
    await sim.runUntil(() => (l.effects.get('job:mid') ?? 0) > 0, 30_000);
    const recoveredAfter = l.redispatchedAt.get('job:mid')! - crashedAt;
    assert.ok(recoveredAfter < 10_000, `re-dispatched ${recoveredAfter} ms after the crash, long before the task went stale (60 s)`);
    await sim.run(5000);
    assert.equal(l.effects.get('job:mid'), 1);
    assert.equal(l.runs.get('job:mid'), 2);
    const recovered = sim.ring.live().reduce((k, n) => k + sim.host(n).queues.stats.recovered, 0);
    assert.equal(recovered, 1);
    assert.equal(await sim.settle(worker(sim, sim.ring.randomLive()).queues.get('jobs', 'job:mid')), undefined);
  });

  test('a worker that dies after its effect but before removing the task: the retry finds the effect done and applies nothing twice', async () => {
    const l = ledger({ workMs: 200 });
    const sim = await queueRing('tq-crash-after', 12, l, { staleAfterMs: 60_000, retries: 3 });
    const victim = sim.ring.randomLive();
    l.afterEffect = (node) => {
      if (node === victim) sim.crash(victim);
    };
    void worker(sim, victim).submit('job:after').catch(() => {});
    await sim.runUntil(() => (l.runs.get('job:after') ?? 0) >= 2, 30_000);
    await sim.run(10_000);
    assert.equal(l.effects.get('job:after'), 1, 'one effect');
    assert.equal(l.runs.get('job:after'), 2, 'the handler ran twice');
    assert.equal(await sim.settle(worker(sim, sim.ring.randomLive()).queues.get('jobs', 'job:after')), undefined);
  });
});
