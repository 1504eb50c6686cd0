/**
 * Discrete-event scheduler: virtual time for the simulator.
 *
 * Events are kept in a binary min-heap ordered by (time, insertion sequence), so two runs that
 * schedule the same events run them in the same order. Time only moves when the next event runs.
 */

/** Virtual epoch: 2025-01-01T00:00:00Z, so virtual timestamps read like real ones. */
export const VIRTUAL_EPOCH_MS = 1_735_689_600_000;

/** Liveness shared by the timers of one simulated node; a halted node's events are skipped. */
export interface Liveness {
  alive: boolean;
}

/** Handle of a scheduled event. */
export interface ScheduledHandle {
  cancel(): void;
}

/** A queued event; also its own cancel handle (one allocation per timer on this hot path). */
class ScheduledEvent implements ScheduledHandle {
  constructor(
    readonly at: number,
    readonly seq: number,
    /** null once run or cancelled. */
    public fn: (() => void) | null,
    readonly life: Liveness | undefined,
  ) {}

  cancel(): void {
    this.fn = null;
  }
}

/** Thrown when a run-until-condition call reaches its virtual deadline. */
export class SimulationDeadlineError extends Error {
  readonly code = 'SimulationDeadline';
  constructor(message: string) {
    super(message);
    this.name = 'SimulationDeadlineError';
  }
}

export class Scheduler {
  private heap: ScheduledEvent[] = [];
  private seq = 0;
  private current: number;
  /** Number of events run so far. */
  eventsRun = 0;

  constructor(start = VIRTUAL_EPOCH_MS) {
    this.current = start;
  }

  /** Current virtual time in ms. */
  now(): number {
    return this.current;
  }

  /** Pending (possibly cancelled) events. */
  get pending(): number {
    return this.heap.length;
  }

  /**
   * Schedules `fn` to run `delay` ms from now (0 = after the events already due now). With
   * `life`, the event is skipped if `life.alive` is false when it comes due.
   */
  schedule(delay: number, fn: () => void, life?: Liveness): ScheduledHandle {
    const ev = new ScheduledEvent(this.current + (delay > 0 ? delay : 0), this.seq++, fn, life);
    this.push(ev);
    return ev;
  }

  /** Runs the next event; returns false when there is none. */
  step(): boolean {
    for (;;) {
      const ev = this.pop();
      if (!ev) return false;
      if (ev.fn === null || (ev.life !== undefined && !ev.life.alive)) continue;
      this.current = ev.at;
      const fn = ev.fn;
      ev.fn = null;
      this.eventsRun++;
      fn();
      return true;
    }
  }

  /** Time of the next live event, or undefined. */
  peekTime(): number | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || (top.fn !== null && (top.life === undefined || top.life.alive))) break;
      this.pop();
    }
    return this.heap[0]?.at;
  }

  /**
   * Runs events synchronously up to and including virtual time `time`, then sets the clock to
   * `time`. Only for callback-style code: promise continuations would run after the loop.
   */
  runUntilSync(time: number): void {
    for (;;) {
      const next = this.peekTime();
      if (next === undefined || next > time) break;
      this.step();
    }
    if (time > this.current) this.current = time;
  }

  /**
   * Runs events up to virtual time `time`, letting promise continuations run after every event
   * (each event is followed by a macrotask boundary), so async/await code sees virtual time
   * advance only when its turn comes.
   */
  async runUntil(time: number): Promise<void> {
    await drainMicrotasks();
    for (;;) {
      const next = this.peekTime();
      if (next === undefined || next > time) break;
      this.step();
      await drainMicrotasks();
    }
    if (time > this.current) this.current = time;
  }

  /** {@link runUntil} for `ms` of virtual time from now. */
  runFor(ms: number): Promise<void> {
    return this.runUntil(this.current + ms);
  }

  /**
   * Runs until `condition()` holds (checked after every event) or `timeoutMs` of virtual time
   * pass, in which case it rejects with {@link SimulationDeadlineError} naming `what`.
   */
  async runUntilTrue(condition: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
    const deadline = this.current + timeoutMs;
    await drainMicrotasks();
    while (!condition()) {
      const next = this.peekTime();
      if (next === undefined || next > deadline) {
        if (deadline > this.current) this.current = deadline;
        if (condition()) return;
        throw new SimulationDeadlineError(`${what} not reached within ${timeoutMs} ms of virtual time`);
      }
      this.step();
      await drainMicrotasks();
    }
  }

  /** Synchronous {@link runUntilTrue} for callback-style code. Returns whether it held. */
  runUntilTrueSync(condition: () => boolean, timeoutMs: number): boolean {
    const deadline = this.current + timeoutMs;
    while (!condition()) {
      const next = this.peekTime();
      if (next === undefined || next > deadline) {
        if (deadline > this.current) this.current = deadline;
        return condition();
      }
      this.step();
    }
    return true;
  }

  private push(ev: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(ev);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at < ev.at || (p.at === ev.at && p.seq < ev.seq)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = ev;
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        const lc = heap[l]!;
        if (r < n) {
          const rc = heap[r]!;
          if (rc.at < lc.at || (rc.at === lc.at && rc.seq < lc.seq)) c = r;
        }
        const child = heap[c]!;
        if (last.at < child.at || (last.at === child.at && last.seq < child.seq)) break;
        heap[i] = child;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

/** Resolves after every queued microtask (and the ones they queue) has run. */
export function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
