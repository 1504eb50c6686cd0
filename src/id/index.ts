/** Ids layer: 160-bit ring ids, ring arithmetic and scoped resource ids. */
export * from './id.ts';
export * from './scope.ts';
