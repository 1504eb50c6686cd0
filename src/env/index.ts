/** Environment layer: the only place that touches real time, timers and randomness. */
export * from './types.ts';
export * from './random.ts';
export * from './logger.ts';
export * from './scheduler.ts';
export * from './env.ts';
export * from './stopwatch.ts';
