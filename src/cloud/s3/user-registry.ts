/**
 * The registry of every S3 user of the ring: partition `s3registry:users`, sort key = user name,
 * the user's canonical id (and creation time) as body. `GET /api/s3/users` (`pi user list`) pages
 * through it: a user's record sits at the hash of its name, so nothing else enumerates users.
 *
 * How it is kept:
 * - CreateUser writes the user's entry right after the user record (replacing whatever the name
 *   had: a deleted predecessor's tombstone); DeleteUser replaces it with a tombstone — even when
 *   there was no entry — unless the entry names another (newer) user of that name.
 * - Users created before the registry existed get their entry (only where the name has no entry
 *   and no tombstone, so a deleted user is never brought back): when a node loads one of their
 *   access keys for a signed request (catalog.ts, as for `s3uid:` records), when an operator
 *   manages their keys, and from the start-up pass of every node over the user records its local
 *   store holds ({@link registerLocalUsers}, once per node).
 */
import type { Dht } from '../../dht/index.ts';
import { Scope, idFor } from '../../id/index.ts';
import type { Id } from '../../id/index.ts';
import type { UserEntry } from './model.ts';

/** The registry partition. */
export const USER_REGISTRY: Id = idFor('s3registry:users', Scope.GLOBAL);

/** A user's entry in the registry. */
export interface UserRegistryEntry {
  type: 's3.userReg';
  /** The canonical id of the user the entry was written for. */
  id: string;
  createdAt?: number;
  [k: string]: unknown;
}

/** A listed user. */
export interface ListedUser {
  name: string;
  id: string;
  createdAt?: number;
}

/** Registrations in flight at once (the start-up pass). */
const CONCURRENCY = 8;

function entryOf(user: Pick<UserEntry, 'id' | 'createdAt'>): UserRegistryEntry {
  return { type: 's3.userReg', id: user.id, ...(typeof user.createdAt === 'number' ? { createdAt: user.createdAt } : {}) };
}

/** Registers a new user (replacing whatever entry its name had: a predecessor's, or a tombstone). */
export async function registerUser(dht: Dht, user: Pick<UserEntry, 'name' | 'id' | 'createdAt'>): Promise<void> {
  await dht.updateItem<UserRegistryEntry>(USER_REGISTRY, user.name, () => entryOf(user));
}

/**
 * Registers a user made before the registry existed, only if its name has no entry at all: not a
 * live one, and not the tombstone a deletion left (so a deleted user stays deleted). Resolves
 * with whether it wrote.
 */
export async function registerUserIfUnknown(dht: Dht, user: Pick<UserEntry, 'name' | 'id' | 'createdAt'>): Promise<boolean> {
  let wrote = false;
  await dht.updateItem<UserRegistryEntry>(USER_REGISTRY, user.name, (current) => {
    if (current) return null;
    wrote = true;
    return entryOf(user);
  });
  return wrote;
}

/**
 * Tombstones the entry of user `name` with canonical id `id` (writing the tombstone even where
 * there was no entry, so no later registration of an old user brings it back); an entry naming
 * another id belongs to a newer user of that name and stays.
 */
export async function unregisterUser(dht: Dht, name: string, id: string): Promise<void> {
  await dht.updateItem<UserRegistryEntry>(USER_REGISTRY, name, (current) => {
    if (current?.deleted) return null;
    if (current && current.body.id !== id) return null;
    return { type: 's3.userReg', id, deleted: true } as unknown as UserRegistryEntry;
  });
}

/** One page of registered users in name order; `next` continues it. */
export async function listRegisteredUsers(dht: Dht, options: { limit: number; after?: string }): Promise<{ users: ListedUser[]; next: string | undefined }> {
  const page = await dht.scanPartition<UserRegistryEntry>(USER_REGISTRY, { limit: options.limit, ...(options.after !== undefined ? { after: options.after } : {}) });
  return {
    users: page.items.map((item) => ({ name: item.sortKey!, id: item.body.id, ...(typeof item.body.createdAt === 'number' ? { createdAt: item.body.createdAt } : {}) })),
    next: page.next,
  };
}

/**
 * Registers every live user record held in this node's local DHT store whose name has no entry
 * (nor tombstone) yet. Resolves with the number of user records found and of entries written.
 */
export async function registerLocalUsers(dht: Dht): Promise<{ found: number; registered: number }> {
  const held: Pick<UserEntry, 'name' | 'id' | 'createdAt'>[] = [];
  for await (const r of dht.localScanSliced<UserEntry>({ type: 's3.user' })) {
    if (typeof r.body.name === 'string' && typeof r.body.id === 'string') held.push({ name: r.body.name, id: r.body.id, createdAt: r.body.createdAt });
  }
  let registered = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < held.length) {
      const u = held[next++]!;
      if (await registerUserIfUnknown(dht, u)) registered++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, held.length) }, () => worker()));
  return { found: held.length, registered };
}
