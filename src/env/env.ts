import { CryptoRandom, SeededRandom } from './random.ts';
import { LogStore, MemoryLogger, createPinoLogger } from './logger.ts';
import { Scheduler } from './scheduler.ts';
import type { Env, LogLevel, Logger, Random, Timer } from './types.ts';

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
    const handle = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  }

  setInterval(fn: () => void, ms: number): Timer {
    const handle = setInterval(fn, Math.max(1, ms));
    return { cancel: () => clearInterval(handle) };
  }

  defer(fn: () => void): void {
    setImmediate(fn);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }

  withLog(bindings: Record<string, unknown>): Env {
    return new RealEnv({ random: this.random, logger: this.log.child(bindings) });
  }

  fork(label: string, bindings?: Record<string, unknown>): Env {
    return new RealEnv({ random: this.random.fork(label), logger: bindings ? this.log.child(bindings) : this.log });
  }
}

/** Shared liveness of a simulated node: halting it silences every timer made through its envs. */
interface Life {
  alive: boolean;
}

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
    const life = this.life;
    if (!life.alive) return { cancel() {} };
    return this.scheduler.schedule(ms, () => {
      if (life.alive) fn();
    });
  }

  setInterval(fn: () => void, ms: number): Timer {
    const life = this.life;
    const period = Math.max(1, ms);
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
