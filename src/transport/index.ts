/** Transport layer: the Transport contract, the simulated network and TCP (+TLS). */
export * from './types.ts';
export * from './sim.ts';
export * from './tcp.ts';
