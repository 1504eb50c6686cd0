/**
 * End-to-end checksums of stored items. The root seals each new version with a CRC32 of
 * everything it wrote (key, version, operation ids, headers, body); every replica checks it when
 * the item arrives and whenever it reads the item back from its storage engine. LMDB checks the
 * structure of its pages, not the bytes of values: without this a value that rotted on disk (or
 * was damaged in memory or in transit) would be served and re-replicated as if it were good.
 *
 * Items written before checksums existed have no `c`: they are accepted, and the local store seals
 * them where it meets them (on arrival, by the record scrub).
 */
import { crc32String } from '../wire/index.ts';
import type { StoredItem } from './types.ts';

/** CRC32 over the item's fields in a fixed order (field boundaries cannot shift between fields). */
export function itemChecksum(item: StoredItem): number {
  let head = `${item.k}\u0000${item.v}\u0000${item.op}\u0000${item.d ? 1 : 0}\u0000${item.t}\u0000${item.u === null ? '\u0001' : item.u}\u0000${item.ct}\u0000${item.at}\u0000${item.hf}`;
  for (const [op, at] of item.h) head += `\u0000${op}\u0000${at}`;
  return crc32String(item.b, crc32String(`${head}\u0002`));
}

/** The item with its checksum set (the root calls this once per new version). */
export function sealItem(item: StoredItem): StoredItem {
  item.c = itemChecksum(item);
  return item;
}

/** Whether the item's content matches its checksum (true for items written without one). */
export function itemIntact(item: StoredItem): boolean {
  return item.c === undefined || item.c === itemChecksum(item);
}
