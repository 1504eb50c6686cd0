import { CryptoRandom, SeededRandom } from './random.ts';
import { LogStore, MemoryLogger, createPinoLogger } from './logger.ts';
import { Scheduler } from './scheduler.ts';
import type { Liveness } from './scheduler.ts';
import type { Env, LogLevel, Logger, Random, Timer } from './types.ts';

/** Longest delay Node's timers support; longer ones would fire after 1 ms. */
const MAX_NODE_TIMER_MS = 2 ** 31 - 1;

/** Options for {@link RealEnv}. */
export interface RealEnvOptions {
  /** A fixed seed makes randomness reproducible (tests); cryptographic randomness otherwise. */
  seed?: string | number;
  /** Use this random source instead (takes precedence over `seed`). */
  random?: Random;
  logger?: Logger;
  logLevel?: LogLevel;
}

/** Wall-clock environment for production nodes and loopback tests. */
export class RealEnv implements Env {
  readonly virtual = false;
  readonly random: Random;
  readonly log: Logger;

  constructor(options: RealEnvOptions = {}) {
    this.random = options.random ?? (options.seed !== undefined ? new SeededRandom(options.seed) : new CryptoRandom());
    this.log = options.logger ?? createPinoLogger({ level: options.logLevel ?? 'info' });
  }

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    // Node fires timers above 2^31-1 ms after 1 ms; longer delays are split into several timers.
    let handle: ReturnType<typeof setTimeout>;
    const arm = (remaining: number): void => {
      handle =
        remaining > MAX_NODE_TIMER_MS
          ? setTimeout(() => arm(remaining - MAX_NODE_TIMER_MS), MAX_NODE_TIMER_MS)
          : setTimeout(fn, remaining);
    };
    arm(ms > 0 ? ms : 0);
    return { cancel: () => clearTimeout(handle) };
  }

  setInterval(fn: () => void, ms: number): Timer {
    const period = ms >= 1 ? ms : 1;
    if (period <= MAX_NODE_TIMER_MS) {
      const handle = setInterval(fn, period);
      return { cancel: () => clearInterval(handle) };
    }
    let cancelled = false;
    let timer: Timer;
    const tick = (): void => {
      if (cancelled) return;
      timer = this.setTimeout(tick, period);
      fn();
    };
    timer = this.setTimeout(tick, period);
    return {
      cancel: () => {
        cancelled = true;
        timer.cancel();
      },
    };
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  withLog(bindings: Record<string, unknown>): Env {
    return new RealEnv({ random: this.random, logger: this.log.child(bindings) });
  }

  fork(label: string, bindings?: Record<string, unknown>): Env {
    return new RealEnv({ random: this.random.fork(label), logger: bindings ? this.log.child(bindings) : this.log });
  }
}

/** Shared liveness of a simulated node: halting it silences every timer made through its envs. */
type Life = Liveness;

/**
 * Virtual-time environment on a {@link Scheduler}. Each simulated node gets its own (via
 * {@link VirtualEnv.fork}); {@link VirtualEnv.halt} models a crash: none of its timers fire again.
 */
export class VirtualEnv implements Env {
  readonly virtual = true;

  constructor(
    readonly scheduler: Scheduler,
    readonly random: Random,
    readonly log: Logger,
    private readonly life: Life = { alive: true },
  ) {}

  /** A fresh scheduler, seeded randomness and an in-memory logger. */
  static create(options: { seed: string | number; logLevel?: LogLevel; logCapacity?: number; echo?: boolean }): VirtualEnv {
    const scheduler = new Scheduler();
    const store = new LogStore(options.logCapacity ?? 10_000, () => scheduler.now(), options.echo ?? false);
    return new VirtualEnv(scheduler, new SeededRandom(options.seed), new MemoryLogger(store, options.logLevel ?? 'warn'));
  }

  get alive(): boolean {
    return this.life.alive;
  }

  /** Stops every timer of this env and of the envs derived from it (a crash). */
  halt(): void {
    this.life.alive = false;
  }

  now(): number {
    return this.scheduler.now();
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.scheduler.schedule(ms, fn, this.life);
  }

  setInterval(fn: () => void, ms: number): Timer {
    const life = this.life;
    // `ms >= 1` is false for NaN too: a NaN period would otherwise re-arm at the same instant forever.
    const period = ms >= 1 ? ms : 1;
    let handle = { cancel() {} };
    let cancelled = false;
    const tick = (): void => {
      if (!life.alive || cancelled) return;
      handle = this.scheduler.schedule(period, tick);
      fn();
    };
    if (life.alive) handle = this.scheduler.schedule(period, tick);
    return {
      cancel: () => {
        cancelled = true;
        handle.cancel();
      },
    };
  }

  defer(fn: () => void): void {
    this.setTimeout(fn, 0);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  withLog(bindings: Record<string, unknown>): VirtualEnv {
    return new VirtualEnv(this.scheduler, this.random, this.log.child(bindings), this.life);
  }

  /** A new simulated node's env: own randomness stream and own life (crash independently). */
  fork(label: string, bindings?: Record<string, unknown>): VirtualEnv {
    return new VirtualEnv(this.scheduler, this.random.fork(label), bindings ? this.log.child(bindings) : this.log, {
      alive: true,
    });
  }
}
