/** DHT layer: replicated, versioned, durable records on the ring; storage engines; cache. */
export * from './errors.ts';
export * from './types.ts';
export * from './entities.ts';
export { recordKey, itemKey, compareItems, toRecord, MAX_SORT_KEY_BYTES } from './record.ts';
export { itemChecksum, itemIntact } from './item-checksum.ts';
export * from './storage/types.ts';
export { MemoryStorage } from './storage/memory.ts';
export { LmdbStorage, openNodeStorage } from './storage/lmdb.ts';
export type { LmdbStorageOptions, OpenNodeStorageOptions } from './storage/lmdb.ts';
export { compareUtf8 } from './storage/sorted.ts';
export { SpaceGuard, isNoSpaceError } from './storage/space.ts';
export type { DiskSpace, SpaceGuardOptions, SpaceState, WriteKind } from './storage/space.ts';
export { replicaSetOf } from './replicas.ts';
export * from './dht.ts';
export * from './cache.ts';
