/**
 * The environment: the only source of time, timers, randomness and logging for code from the
 * overlay up (DESIGN.md, "The one rule"). A real implementation runs on the wall clock; a virtual
 * one runs in the simulator's discrete-event time, so the same node code runs in both.
 */

/** A scheduled callback that can be cancelled. Cancelling twice is harmless. */
export interface Timer {
  cancel(): void;
}

/** A logging call in pino's style: `log.info({ key: 1 }, 'message')` or `log.info('message')`. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** Structured logger (pino-compatible subset). */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger whose every line carries `bindings` (e.g. node id, transaction id). */
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Pseudo-random source; seeded in the simulator, cryptographic in production by default. */
export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
  /** `n` random bytes as lower-case hex. */
  hex(n: number): string;
  /** A uniformly chosen element; throws on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** `base` scaled by a uniform factor in [1 - fraction, 1 + fraction]. */
  jitter(base: number, fraction: number): number;
  /** Exponentially distributed value with the given mean. */
  exponential(mean: number): number;
  /** An independent stream derived deterministically from this one's seed and `label`. */
  fork(label: string): Random;
}

/**
 * Everything a component needs from the outside world. Pass it down; never reach around it.
 */
export interface Env {
  /** True in the simulator (virtual time). */
  readonly virtual: boolean;
  /** Milliseconds since the Unix epoch (virtual in the simulator). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Runs `fn` every `ms` milliseconds until cancelled. */
  setInterval(fn: () => void, ms: number): Timer;
  /** Runs `fn` as soon as the current event has finished. */
  defer(fn: () => void): void;
  /** Resolves after `ms` milliseconds (a timer, never a blocking sleep). */
  sleep(ms: number): Promise<void>;
  readonly random: Random;
  readonly log: Logger;
  /** The same clock, timers and randomness with a logger carrying extra `bindings`. */
  withLog(bindings: Record<string, unknown>): Env;
  /** The same clock and timers, with an independent random stream and the logger bound to `bindings`. */
  fork(label: string, bindings?: Record<string, unknown>): Env;
}
