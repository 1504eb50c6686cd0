/** Scribe layer: topic trees, publish/subscribe, anycast and broadcast on the ring. */
export * from './types.ts';
export * from './topic.ts';
export { Scribe, SCRIBE_APP } from './scribe.ts';
export type { ScribeInit } from './scribe.ts';
export { weightedOrder } from './anycast.ts';
