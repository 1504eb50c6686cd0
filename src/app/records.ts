/**
 * The DHT records the framework reads and writes: their URIs, ids and shapes. Seeders write them
 * (see seeder.ts); activators, task queues and resource indexes read and update them.
 *
 * | record | URI | entity type |
 * |---|---|---|
 * | application (activation settings, slots, checkpoints) | `pi-app:<name>` | `pi.app` |
 * | task queue (settings; its items are a partition at the same id) | `pi-queue:<name>` | `pi.queue` |
 * | task (one queue item, sort key = task URI) | — | `pi.task` |
 * | allocatable range | `pi-range:<name>` | `pi.range` |
 * | shared resource | `pi-res:<type>/<id>` | `pi.resource` |
 * | region / availability zone | `pi-region:<code>`, `pi-az:<region>/<az>` | `pi.region`, `pi.az` |
 *
 * Scoped records (REGION, AVAILABILITY_ZONE) are addressed with the location of the node that
 * uses them, so each zone has its own copy: seeding a new zone writes that zone's records.
 */
import { Scope, idFor } from '../id/index.ts';
import type { Id, Location } from '../id/index.ts';
import type { Entity } from '../dht/index.ts';

/** The location used for scoped ids on nodes without one (rings without zones). */
export const NO_LOCATION: Location = Object.freeze({ region: 0, az: 0 });

/** The id of `uri` in `scope`, seen from `location`. */
export function scopedId(uri: string, scope: Scope, location: Location | undefined): Id {
  return scope === Scope.GLOBAL ? idFor(uri, Scope.GLOBAL) : idFor(uri, scope, { location: location ?? NO_LOCATION });
}

export const appUri = (name: string): string => `pi-app:${name}`;
export const queueUri = (name: string): string => `pi-queue:${name}`;
export const rangeUri = (name: string): string => `pi-range:${name}`;
export const resourceUri = (type: string, id: string): string => `pi-res:${type}/${id}`;
export const regionUri = (code: number): string => `pi-region:${code}`;
export const zoneUri = (region: number, az: number): string => `pi-az:${region}/${az}`;
/** A derived checkpoint of `app` (when the seed gives a count rather than ids). */
export const checkpointUri = (app: string, index: number): string => `pi-checkpoint:${app}/${index}`;

/** One slot of a shared-record activator. */
export interface SlotEntry {
  /** Named value of the slot (e.g. a service address); absent for counted slots. */
  value?: string;
  /** Node id (hex) holding the slot. */
  holder?: string;
  /** Transport address of the holder (diagnostics). */
  holderAddr?: string;
  /** When the holder's claim lapses unless renewed (the holder's clock, ms). */
  expiresAt?: number;
  /** A node barred from re-taking this slot until a time (set by `deactivate(node)`). */
  barred?: { node: string; until: number };
}

/** The record of an application (activation settings). */
export interface AppRecord extends Entity {
  type: 'pi.app';
  app: string;
  activator: 'shared-record' | 'supernode';
  scope: 'global' | 'region' | 'az';
  /** Shared-record: the slots. */
  slots?: SlotEntry[];
  /** Shared-record: how long a claim lives without a heartbeat (ms). */
  expiryMs?: number;
  /** Supernode: the checkpoint ids (hex). */
  checkpoints?: string[];
}

/** The record of a task queue (its settings). */
export interface QueueRecord extends Entity {
  type: 'pi.queue';
  queue: string;
  scope: 'global' | 'region' | 'az';
  /** Default retries of a task added without its own. */
  retries: number;
  /** A task not updated for this long is stale: a watcher checks on it. */
  staleAfterMs: number;
  /** Watcher nodes per scope. */
  watchers: number;
}

/** Where a task is in its life. */
export type TaskState = 'pending' | 'owned';

/** One task of a queue (a partition item; sort key = the task URI). */
export interface TaskRecord extends Entity {
  type: 'pi.task';
  url: string;
  queue: string;
  state: TaskState;
  /** Node id (hex) and address working on it. */
  owner?: string;
  ownerAddr?: string;
  /** Retries left. */
  retries: number;
  /** Times it was (re-)dispatched. */
  attempts: number;
  addedAt: number;
  /** Last change or heartbeat (ms). */
  updatedAt: number;
  /** Application data of the task. */
  data?: unknown;
}

/** The record of an allocatable range. */
export interface RangeRecord extends Entity {
  type: 'pi.range';
  range: string;
  scope: 'global' | 'region' | 'az';
  /** Every value of the range, in allocation order. */
  values: string[];
  /** How long a lease lives without a heartbeat (ms). */
  leaseMs: number;
  /** Index where the next round-robin search starts. */
  cursor: number;
  /** Leases by value. */
  leases: Record<string, { consumer: string; node: string; expiresAt: number }>;
}

/** The record of a region or availability zone (names and settings for operators and applications). */
export interface PlaceRecord extends Entity {
  type: 'pi.region' | 'pi.az';
  region: number;
  az?: number;
  name?: string;
  [field: string]: unknown;
}
