/**
 * Pi Cloud storage: an S3-compatible object store on the ring. See docs/s3.md.
 *
 * - `service.ts`: the `s3` node application (endpoint, chunk store, catalog, collector, ops routes);
 * - `api.ts`: the S3 operations; `http.ts`: the HTTP endpoint and authentication;
 * - `catalog.ts` / `model.ts`: users, buckets, object indexes and uploads in the DHT;
 * - `chunks/`: content-addressed, replicated chunk storage; `data.ts`: streaming in and out;
 * - `gc.ts`: collection of unreferenced chunks; `access.ts`: ownership and canned ACLs;
 * - `tagging.ts`: object and bucket tags; `replies.ts`: small XML bodies in and out;
 * - `rewrap.ts`: the SSE-S3 rewrap job after a master key rotation; `bucket-registry.ts`: every bucket;
 * - `user-registry.ts`: every user (`pi user list`);
 * - `protocol/`: the S3 wire protocol (signatures, XML, checksums, listing).
 */
export * from './errors.ts';
export * from './options.ts';
export * from './model.ts';
export * from './access.ts';
export * from './catalog.ts';
export * from './chunks/engine.ts';
export * from './chunks/file-engine.ts';
export * from './chunks/store.ts';
export * from './data.ts';
export * from './gc.ts';
export * from './api.ts';
export * from './http.ts';
export * from './service.ts';
export * from './rewrap.ts';
export * from './bucket-registry.ts';
export * from './user-registry.ts';
