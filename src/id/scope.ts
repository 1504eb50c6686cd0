/**
 * Scoped ids: where a resource's id lands on the ring.
 *
 * Layout (DESIGN.md), bits numbered from 159 (most significant) to 0:
 *
 * | bits    | hex digits | field                                      |
 * |---------|------------|--------------------------------------------|
 * | 159–152 | 0–1        | region code                                |
 * | 151–144 | 2–3        | availability-zone code within the region   |
 * | 143–16  | 4–35       | 128-bit hash of the resource URI           |
 * | 15–8    | 36–37      | reserved, 0                                |
 * | 7–0     | 38–39      | flags (scope, backupable, backup copy)     |
 *
 * Node ids are `[region][az][random]`, so a REGION- or AVAILABILITY_ZONE-scoped id lands on a node
 * of that region / zone whenever one exists. A REGION id puts hash bits in the zone byte so that a
 * region's records spread over all its zones; a GLOBAL id spreads the hash over every bit above
 * the flags.
 */
import { createHash } from 'node:crypto';
import { Id, InvalidIdError } from './id.ts';

/** Where a resource lives. */
export enum Scope {
  GLOBAL = 0,
  REGION = 1,
  AVAILABILITY_ZONE = 2,
}

/** Flag bits stored in the lowest byte of a resource id. */
export const IdFlags = {
  /** Two bits holding the {@link Scope}. */
  SCOPE_MASK: 0b0000_0011,
  /** The record may be copied to a backup location. */
  BACKUPABLE: 0b0000_0100,
  /** This id addresses a backup copy of another record. */
  BACKUP_COPY: 0b0000_1000,
} as const;

/** A region and availability-zone code pair, each 0..255. */
export interface Location {
  readonly region: number;
  readonly az: number;
}

/** Options for {@link idFor}. */
export interface IdForOptions {
  /** Required for REGION and AVAILABILITY_ZONE scopes. */
  readonly location?: Location;
  readonly backupable?: boolean;
  readonly backupCopy?: boolean;
}

function checkCode(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new InvalidIdError(`${name} code must be an integer 0..255, got ${value}`);
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Checks that `uri` has the `scheme:rest` form and returns the scheme. */
export function uriScheme(uri: string): string {
  if (typeof uri !== 'string') throw new InvalidIdError(`resource URI must be a string "scheme:rest", got ${typeof uri}`);
  const colon = uri.indexOf(':');
  if (colon <= 0 || colon === uri.length - 1 || !/^[a-z][a-z0-9+.-]*$/i.test(uri.slice(0, colon))) {
    throw new InvalidIdError(`resource URI must look like "scheme:rest", got "${uri.slice(0, 80)}"`);
  }
  return uri.slice(0, colon).toLowerCase();
}

/**
 * The ring id of the resource `uri` in `scope`. Deterministic: every node computes the same id.
 */
export function idFor(uri: string, scope: Scope, options: IdForOptions = {}): Id {
  uriScheme(uri);
  const digest = createHash('sha1').update(uri, 'utf8').digest('hex'); // 40 hex digits
  let flags = scope & IdFlags.SCOPE_MASK;
  if (options.backupable) flags |= IdFlags.BACKUPABLE;
  if (options.backupCopy) flags |= IdFlags.BACKUP_COPY;
  let head: string;
  switch (scope) {
    case Scope.GLOBAL:
      // 152 bits of hash above the flags byte.
      return Id.parse(digest.slice(0, 38) + hex2(flags));
    case Scope.REGION: {
      const loc = requireLocation(scope, options.location);
      head = hex2(loc.region) + digest.slice(32, 34);
      break;
    }
    case Scope.AVAILABILITY_ZONE: {
      const loc = requireLocation(scope, options.location);
      head = hex2(loc.region) + hex2(loc.az);
      break;
    }
    default:
      throw new InvalidIdError(`unknown scope ${String(scope)}`);
  }
  return Id.parse(head + digest.slice(0, 32) + '00' + hex2(flags));
}

function requireLocation(scope: Scope, location: Location | undefined): Location {
  if (!location) throw new InvalidIdError(`scope ${Scope[scope]} needs a region/availability-zone location`);
  checkCode('region', location.region);
  checkCode('availability zone', location.az);
  return location;
}

/** The scope recorded in a resource id's flag bits. */
export function scopeOf(id: Id): Scope {
  return (parseInt(id.hex.slice(38), 16) & IdFlags.SCOPE_MASK) as Scope;
}

/** The flag byte of a resource id. */
export function flagsOf(id: Id): number {
  return parseInt(id.hex.slice(38), 16);
}

/** The region code in the top byte of an id. */
export function regionOf(id: Id): number {
  return parseInt(id.hex.slice(0, 2), 16);
}

/** The availability-zone code in the second byte of an id. */
export function azOf(id: Id): number {
  return parseInt(id.hex.slice(2, 4), 16);
}

/**
 * The same id with different flag bits: e.g. the backup copy's id of a backupable record.
 */
export function withFlags(id: Id, flags: number): Id {
  checkCode('flags', flags);
  return Id.parse(id.hex.slice(0, 38) + hex2(flags));
}

/**
 * A random node id. With a location it is `[region][az][random]`, so that REGION- and
 * AVAILABILITY_ZONE-scoped ids of that location land on nodes there; without one it is uniformly
 * random over the whole ring. `randomBytes` comes from the environment so that simulated rings
 * are reproducible.
 *
 * Trade-off: GLOBAL ids spread over the whole ring, so in a ring whose nodes all carry zone
 * prefixes, GLOBAL records gather on the nodes at the edges of each zone's block of ids. A ring
 * without zones should leave the location unset.
 */
export function randomNodeId(randomBytes: (n: number) => Uint8Array, location?: Location): Id {
  if (!location) return Id.fromBytes(randomBytes(20));
  checkCode('region', location.region);
  checkCode('availability zone', location.az);
  const rest = Buffer.from(randomBytes(18)).toString('hex');
  return Id.parse(hex2(location.region) + hex2(location.az) + rest);
}

/**
 * Whether `id` lies within `scope` of `location`: same region (REGION) or same region and zone
 * (AVAILABILITY_ZONE). Everything is within GLOBAL scope.
 */
export function inScope(id: Id, scope: Scope, location: Location): boolean {
  if (scope === Scope.GLOBAL) return true;
  if (regionOf(id) !== location.region) return false;
  return scope === Scope.REGION || azOf(id) === location.az;
}

/**
 * A uniformly random id inside `scope` of `location` (used e.g. by randomAnycast to start a walk
 * at a random point of the scope).
 */
export function randomIdInScope(randomBytes: (n: number) => Uint8Array, scope: Scope, location: Location): Id {
  if (scope !== Scope.GLOBAL) {
    checkCode('region', location.region);
    checkCode('availability zone', location.az);
  }
  const hex = Buffer.from(randomBytes(20)).toString('hex');
  if (scope === Scope.GLOBAL) return Id.parse(hex);
  if (scope === Scope.REGION) return Id.parse(hex2(location.region) + hex.slice(2));
  return Id.parse(hex2(location.region) + hex2(location.az) + hex.slice(4));
}
