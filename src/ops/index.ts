/** Ops layer: the HTTP ops API, Prometheus metrics and the web dashboard of a node. */
export * from './http.ts';
export * from './metrics.ts';
export * from './dashboard-files.ts';
export * from './server.ts';
