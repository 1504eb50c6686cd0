/** Wire layer: message types, validation, msgpack codec and framing. */
export * from './messages.ts';
export * from './validate.ts';
export * from './codec.ts';
export * from './crc32.ts';
export * from './buffer-pool.ts';
export * from './frame-pool.ts';
