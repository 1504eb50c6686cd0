/**
 * Activation: whether an application is active on this node. An {@link Activator} is the
 * strategy; the framework checks it when the application starts and then periodically (with
 * jitter), and on overlay events that may change the answer. The meaning of "active" is the
 * application's own: passive instances still receive messages and overlay events.
 */
import type { Env, Logger } from '../env/index.ts';
import { Scope, scopeOf } from '../id/index.ts';
import type { Id, Location } from '../id/index.ts';
import type { Dht } from '../dht/index.ts';
import { replicaSetOf } from '../dht/index.ts';
import type { PastryNode } from '../overlay/index.ts';
import type { NodeHandle } from '../wire/index.ts';

/** Why an application is active here. */
export interface Activation {
  /** The activator's kind: `always-on`, `shared-record`, `supernode`, … */
  readonly kind: string;
  /** Shared-record activators: the slot this node holds, and its value (e.g. a service address). */
  readonly slot?: { readonly index: number; readonly value: string | undefined; readonly expiresAt: number };
  /** Supernode activators: the checkpoint ids this node is the root of. */
  readonly checkpoints?: readonly Id[];
}

/** What an activator is given about the application and node it decides for. */
export interface ActivatorContext {
  readonly appName: string;
  readonly env: Env;
  readonly log: Logger;
  readonly node: PastryNode;
  readonly dht: Dht;
  readonly location: Location | undefined;
}

/**
 * A strategy deciding whether an application is active on this node. One instance serves one
 * application on one node (it may keep state, e.g. the slot it holds).
 */
export interface Activator {
  readonly kind: string;
  /** Period of checks (heartbeats for claim-based activators), before jitter. */
  readonly checkIntervalMs: number;
  /**
   * How many nodes this activator makes active (Infinity: every node). Used to tell whether an
   * exclusion rule can be honoured in a ring of a given size.
   */
  desiredActive(): number;
  /** Called once when the application is attached to a host. */
  bind(ctx: ActivatorContext): void;
  /**
   * Decides. `current` is the activation held now (undefined while passive). `mayActivate` is
   * false when an exclusion rule forbids becoming active here: the activator then takes nothing
   * new (but reports whether a current activation still holds). Resolves with the activation to
   * hold, or undefined for passive.
   */
  check(current: Activation | undefined, mayActivate: boolean): Promise<Activation | undefined>;
  /** Gives up what `activation` holds (e.g. frees the slot). Best effort; must not throw. */
  release(activation: Activation): Promise<void>;
  /**
   * A node departed (reported on the live node nearest to it). Resolves true when a check
   * should run at once (eager recovery).
   */
  nodeDeparted?(node: NodeHandle): Promise<boolean>;
  /** This node's leaf set changed; returns true when a check should run at once. */
  leafSetChanged?(): boolean;
}

/** Activator that makes the application active on every node. */
export class AlwaysOnActivator implements Activator {
  readonly kind = 'always-on';
  constructor(readonly checkIntervalMs = 60_000) {}

  desiredActive(): number {
    return Infinity;
  }

  bind(): void {}

  async check(): Promise<Activation> {
    return ALWAYS_ON;
  }

  async release(): Promise<void> {}
}

const ALWAYS_ON: Activation = Object.freeze({ kind: 'always-on' });

/**
 * Estimated number of live nodes in the ring, from this node's leaf set: exact when the leaf set
 * is not full (it then holds the whole ring), otherwise from the density of node ids over the arc
 * the leaf set spans.
 */
export function estimateRingSize(node: PastryNode): number {
  const { left, right } = node.leafSet();
  const half = node.options.leafSetSize / 2;
  if (left.length < half || right.length < half) return node.leafSetMembers().length + 1;
  const lo = left[left.length - 1]!.id.big;
  const hi = right[right.length - 1]!.id.big;
  const ring = 1n << 160n;
  const span = (((hi - lo) % ring) + ring) % ring;
  if (span === 0n) return left.length + right.length + 1;
  // nodes per arc, scaled to the whole ring; 2^40-unit floats keep the precision we need.
  const spanUnits = Number(span >> 40n) || 1;
  const ringUnits = 2 ** 120;
  return Math.max(left.length + right.length + 1, Math.round(((left.length + right.length) * ringUnits) / spanUnits));
}

/**
 * Whether this node is the root of `key` within the key's scope: the closest node to it among
 * the nodes of the key's region / zone when this node knows any (the DHT's placement rule), the
 * ordinary root otherwise. False when the key lies outside the span of this node's leaf set
 * (another node knows better).
 */
export function isRootInScope(node: PastryNode, key: Id): boolean {
  if (!node.inLeafSetRange(key)) return false;
  if (scopeOf(key) === Scope.GLOBAL) return node.isRoot(key);
  // Same rule as the DHT's placement: the closest node of the scope when the scope has one.
  const closest = replicaSetOf(key, [node.handle, ...node.leafSetMembers()], 1)[0];
  return closest !== undefined && closest.id.hex === node.id.hex;
}

/** Parses a scope name as used in seed files and options: `global`, `region`, `az`. */
export function parseScope(text: string | Scope | undefined, fallback = Scope.GLOBAL): Scope {
  if (text === undefined) return fallback;
  if (typeof text === 'number') return text;
  switch (text.toLowerCase()) {
    case 'global':
      return Scope.GLOBAL;
    case 'region':
      return Scope.REGION;
    case 'az':
    case 'zone':
    case 'availability_zone':
    case 'availability-zone':
      return Scope.AVAILABILITY_ZONE;
    default:
      throw new RangeError(`scope must be global, region or az, got "${text.slice(0, 40)}"`);
  }
}

/** The name of a scope for records and logs. */
export function scopeName(scope: Scope): 'global' | 'region' | 'az' {
  return scope === Scope.GLOBAL ? 'global' : scope === Scope.REGION ? 'region' : 'az';
}
