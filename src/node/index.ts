/**
 * Node layer: a Pi node assembled from configuration, its lifecycle, services, events and alerts.
 * Certificate tooling is imported from `./certs.ts` directly: it loads @peculiar/x509, which a
 * running node does not need.
 */
export * from './config.ts';
export * from './data-dir.ts';
export * from './token.ts';
export * from './tls.ts';
export * from './events.ts';
export * from './alerts.ts';
export * from './counting-transport.ts';
export * from './service.ts';
export * from './ring-view.ts';
export * from './pi-node.ts';
export * from './dht-service.ts';
export * from './scribe-service.ts';
export * from './app-host-service.ts';
