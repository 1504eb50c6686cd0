/** Overlay layer: the Pastry ring — routing, leaf sets, joins, failure detection. */
export * from './types.ts';
export * from './leaf-set.ts';
export * from './routing-table.ts';
export * from './pastry-node.ts';
export * from './rpc.ts';
