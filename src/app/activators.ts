/**
 * The activators that come with Pi (besides always-on, in activation.ts):
 *
 * - {@link SharedRecordActivator}: N of M. A seeded application record lists N slots (counted, or
 *   named values such as service addresses). A node becomes active by claiming a free or expired
 *   slot with a conditional DHT update, and keeps the claim alive by heartbeat. When the holder
 *   dies another node takes the slot within `expiryMs`: the claim lives `expiryMs` minus one check
 *   interval, and passive nodes look for lapsed claims every check interval. The node nearest to
 *   a departed holder also frees its slots at once (eager recovery), so failover usually takes
 *   the overlay's failure detection plus one check interval.
 * - {@link SupernodeActivator}: active where this node is the root (within the scope) of one of
 *   the application's checkpoint ids.
 *
 * Claims use each node's clock: a holder treats its claim as lost `clockSkewMs` before it
 * expires, other nodes take it only after it expired, so with clocks within `clockSkewMs` of each
 * other a slot never has two holders that both believe in their claim — except after the eager
 * path freed the slot of a node that was only cut off, not dead; that node finds out at its next
 * heartbeat and deactivates.
 */
import { Id } from '../id/index.ts';
import type { Location, Scope } from '../id/index.ts';
import type { Dht, DhtRecord } from '../dht/index.ts';
import type { NodeHandle } from '../wire/index.ts';
import type { Activation, Activator, ActivatorContext } from './activation.ts';
import { isRootInScope, parseScope, scopeName } from './activation.ts';
import { AppError, errorInfo } from './errors.ts';
import { appUri, checkpointUri, scopedId } from './records.ts';
import type { AppRecord, SlotEntry } from './records.ts';

/** Default life of a slot claim without heartbeat. */
export const DEFAULT_EXPIRY_MS = 15_000;

/** Options of a {@link SharedRecordActivator}. */
export interface SharedRecordOptions {
  /** Scope of the application record (default global). */
  scope?: Scope | 'global' | 'region' | 'az';
  /**
   * Failover bound: a dead holder's slot is taken by another node within this. The seeded
   * record's `expiryMs` wins (keep it at least 4 check intervals). Default 15 s.
   */
  expiryMs?: number;
  /** Period of heartbeats and of passive nodes' checks for free slots. Default expiry / 4. */
  checkIntervalMs?: number;
  /** How long `deactivate(node)` keeps that node from re-taking a slot. Default 2 × expiry. */
  barMs?: number;
  /** Clock difference allowed between nodes. Default 1 s. */
  clockSkewMs?: number;
  /** Free a departed holder's slot at once (default true); false waits for its claim to expire. */
  eagerRecovery?: boolean;
}

function requireBound<T>(value: T | undefined): T {
  if (value === undefined) throw new AppError('NotStarted', 'the activator is not bound to an application yet');
  return value;
}

/** N-of-M activation through a shared DHT record of slots. */
export class SharedRecordActivator implements Activator {
  readonly kind = 'shared-record';
  readonly scope: Scope;
  readonly checkIntervalMs: number;
  private readonly expiryDefault: number;
  private readonly barMs: number;
  private readonly skewMs: number;
  private readonly eager: boolean;
  private ctx: ActivatorContext | undefined;
  private slotCount = 1;
  private expiryValue: number;
  private notSeededLogged = false;

  constructor(options: SharedRecordOptions = {}) {
    this.scope = parseScope(options.scope);
    this.expiryDefault = options.expiryMs ?? DEFAULT_EXPIRY_MS;
    if (!(this.expiryDefault > 0)) throw new AppError('InvalidArgument', `expiryMs must be positive, got ${this.expiryDefault}`);
    this.expiryValue = this.expiryDefault;
    this.checkIntervalMs = options.checkIntervalMs ?? this.expiryDefault / 4;
    this.barMs = options.barMs ?? 2 * this.expiryDefault;
    this.skewMs = options.clockSkewMs ?? 1000;
    this.eager = options.eagerRecovery ?? true;
  }

  /** The claim life in force (the seeded record's, once read). */
  get expiryMs(): number {
    return this.expiryValue;
  }

  desiredActive(): number {
    return this.slotCount;
  }

  bind(ctx: ActivatorContext): void {
    this.ctx = ctx;
  }

  /**
   * How long one claim lives: the expiry period minus one (jittered) check interval, so that a
   * dead holder's slot is taken within the expiry period even without eager recovery (its claim
   * lapses, then a passive node's next check finds it).
   */
  claimLifeMs(): number {
    return Math.max(this.expiryValue - Math.ceil(this.checkIntervalMs * 1.25), this.expiryValue / 2);
  }

  /** The id of the application record this activator reads. */
  recordId(): Id {
    const ctx = requireBound(this.ctx);
    return scopedId(appUri(ctx.appName), this.scope, ctx.location);
  }

  async check(current: Activation | undefined, mayActivate: boolean): Promise<Activation | undefined> {
    return current?.slot ? this.heartbeat(current) : this.claim(mayActivate);
  }

  /**
   * Claims a free or expired slot (or the one this node already holds, after a restart). An
   * excluded node only reads the record: the slot count decides whether exclusion can be honoured.
   */
  private async claim(mayActivate: boolean): Promise<Activation | undefined> {
    const ctx = requireBound(this.ctx);
    const id = this.recordId();
    const seen = await ctx.dht.get<AppRecord>(id);
    if (!this.usable(seen) || !mayActivate) return undefined;
    const self = ctx.node.id.hex;
    if (pickSlot(seen.body.slots!, self, ctx.env.now(), () => 0) === undefined) return undefined;
    let chosen: number | undefined;
    let expiresAt = 0;
    const written = await ctx.dht.update<AppRecord>(id, (cur) => {
      chosen = undefined;
      if (!this.usable(cur)) return null;
      const now = ctx.env.now();
      const slots = cur.body.slots!;
      chosen = pickSlot(slots, self, now, (n) => ctx.env.random.int(n));
      if (chosen === undefined) return null;
      expiresAt = now + this.claimLifeMs();
      const next = slots.slice();
      const { barred: _gone, ...rest } = slots[chosen]!;
      next[chosen] = { ...rest, holder: self, holderAddr: ctx.node.handle.addr, expiresAt };
      return { ...cur.body, slots: next };
    });
    if (chosen === undefined || !written) return undefined;
    const slot = written.body.slots?.[chosen];
    if (slot?.holder !== self) return undefined;
    ctx.log.info({ event: 'app.slot.claimed', slot: chosen, value: slot.value }, `claimed slot ${chosen}${slot.value ? ` (${slot.value})` : ''}`);
    return { kind: this.kind, slot: { index: chosen, value: slot.value, expiresAt } };
  }

  /** Renews this node's claim; undefined when the slot is no longer ours. */
  private async heartbeat(current: Activation): Promise<Activation | undefined> {
    const ctx = requireBound(this.ctx);
    const held = current.slot!;
    const self = ctx.node.id.hex;
    let lost = false;
    let expiresAt = 0;
    try {
      await ctx.dht.update<AppRecord>(this.recordId(), (cur) => {
        lost = false;
        const s = this.usable(cur) ? cur.body.slots![held.index] : undefined;
        if (!s || s.holder !== self || s.value !== held.value) {
          lost = true;
          return null;
        }
        expiresAt = ctx.env.now() + this.claimLifeMs();
        const next = cur!.body.slots!.slice();
        next[held.index] = { ...s, holderAddr: ctx.node.handle.addr, expiresAt };
        return { ...cur!.body, slots: next };
      });
    } catch (err) {
      // Cannot renew: keep the activation while our claim surely holds, then fence ourselves.
      const keep = ctx.env.now() < held.expiresAt - this.skewMs;
      ctx.log.warn({ code: 'HeartbeatFailed', err: errorInfo(err), keep }, `slot ${held.index} heartbeat failed${keep ? '' : '; giving the slot up'}`);
      return keep ? current : undefined;
    }
    if (lost) {
      ctx.log.warn({ event: 'app.slot.lost', code: 'SlotLost', slot: held.index }, `slot ${held.index} is no longer held by this node`);
      return undefined;
    }
    return { kind: this.kind, slot: { index: held.index, value: held.value, expiresAt } };
  }

  async release(activation: Activation): Promise<void> {
    const ctx = requireBound(this.ctx);
    if (!activation.slot) return;
    const self = ctx.node.id.hex;
    try {
      await ctx.dht.update<AppRecord>(this.recordId(), (cur) => {
        const s = this.usable(cur) ? cur.body.slots![activation.slot!.index] : undefined;
        if (!s || s.holder !== self) return null;
        const next = cur!.body.slots!.slice();
        next[activation.slot!.index] = freed(s);
        return { ...cur!.body, slots: next };
      });
    } catch (err) {
      ctx.log.warn({ code: 'ReleaseFailed', err: errorInfo(err) }, `could not free slot ${activation.slot.index}; it lapses on its own`);
    }
  }

  /** Frees the slots a departed node held, so that another node takes them now. */
  async nodeDeparted(node: NodeHandle): Promise<boolean> {
    const ctx = requireBound(this.ctx);
    if (!this.eager) return false;
    const hex = node.id.hex;
    const seen = await ctx.dht.get<AppRecord>(this.recordId());
    if (!this.usable(seen) || !seen.body.slots!.some((s) => s.holder === hex)) return false;
    await ctx.dht.update<AppRecord>(this.recordId(), (cur) => {
      if (!this.usable(cur) || !cur.body.slots!.some((s) => s.holder === hex)) return null;
      return { ...cur.body, slots: cur.body.slots!.map((s) => (s.holder === hex ? freed(s) : s)) };
    });
    ctx.log.info({ event: 'app.slot.freed', departed: node.id.short() }, `freed the slot(s) of departed node ${node.id.short()}`);
    return true;
  }

  /**
   * Frees the slot held by `node` and keeps that node from taking a slot again for `barMs`: it
   * deactivates at its next heartbeat and another node takes over. Resolves with whether the
   * node held a slot.
   */
  async deactivate(node: Id | string): Promise<boolean> {
    const ctx = requireBound(this.ctx);
    return deactivateSlot(ctx.dht, this.recordId(), typeof node === 'string' ? node : node.hex, ctx.env.now() + this.barMs);
  }

  /** Whether a record can be used, learning slot count and expiry from it. */
  private usable(rec: DhtRecord<AppRecord> | undefined): rec is DhtRecord<AppRecord> {
    const ctx = requireBound(this.ctx);
    if (!rec || rec.deleted || !Array.isArray(rec.body.slots)) {
      if (!this.notSeededLogged) {
        this.notSeededLogged = true;
        ctx.log.warn({ code: 'NotSeeded', app: ctx.appName, scope: scopeName(this.scope) }, `no slots seeded for application ${ctx.appName} (record ${appUri(ctx.appName)}, scope ${scopeName(this.scope)}): it stays passive`);
      }
      return false;
    }
    this.slotCount = rec.body.slots.length;
    const e = rec.body.expiryMs;
    this.expiryValue = typeof e === 'number' && e > 0 ? e : this.expiryDefault;
    return true;
  }
}

function freed(s: SlotEntry): SlotEntry {
  const { holder: _h, holderAddr: _a, expiresAt: _e, ...rest } = s;
  return rest;
}

/**
 * The slot `self` should take: the one it already holds, else a random free or expired one that
 * does not bar it. Undefined when there is none.
 */
function pickSlot(slots: readonly SlotEntry[], self: string, now: number, randomInt: (n: number) => number): number | undefined {
  const free: number[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (s.holder === self && (s.expiresAt ?? 0) > now) return i;
    if (s.barred && s.barred.node === self && s.barred.until > now) continue;
    if (s.holder === undefined || (s.expiresAt ?? 0) <= now) free.push(i);
  }
  return free.length === 0 ? undefined : free[randomInt(free.length)];
}

/** Frees the slot `nodeHex` holds in the application record `id` and bars it until `until`. */
export async function deactivateSlot(dht: Dht, id: Id, nodeHex: string, until: number): Promise<boolean> {
  let found = false;
  await dht.update<AppRecord>(id, (cur) => {
    found = false;
    const slots = cur && !cur.deleted ? cur.body.slots : undefined;
    if (!Array.isArray(slots)) return null;
    const i = slots.findIndex((s) => s.holder === nodeHex);
    if (i < 0) return null;
    found = true;
    const next = slots.slice();
    next[i] = { ...freed(slots[i]!), barred: { node: nodeHex, until } };
    return { ...cur!.body, slots: next };
  });
  return found;
}

/** Options of a {@link SupernodeActivator}. */
export interface SupernodeOptions {
  /** Scope of the application record and of derived checkpoints (default global). */
  scope?: Scope | 'global' | 'region' | 'az';
  /**
   * Checkpoint ids given directly (no record read), or a count of checkpoints derived from the
   * application name (`pi-checkpoint:<app>/<i>` in the scope). Default: read the seeded record.
   */
  checkpoints?: readonly Id[] | number;
  /** Period of checks. Default 5 s (they are local once the record is cached). */
  checkIntervalMs?: number;
  /** How long the seeded checkpoint list is reused before it is read again. Default 60 s. */
  refreshMs?: number;
  /** Derive checkpoints from this name instead of the application's (e.g. a queue's watchers). */
  baseName?: string;
}

/** Active where this node is the root (within the scope) of one of the checkpoint ids. */
export class SupernodeActivator implements Activator {
  readonly kind = 'supernode';
  readonly scope: Scope;
  readonly checkIntervalMs: number;
  private readonly refreshMs: number;
  private ctx: ActivatorContext | undefined;
  private cached: { ids: Id[]; at: number } | undefined;
  private notSeededLogged = false;

  constructor(private readonly options: SupernodeOptions = {}) {
    this.scope = parseScope(options.scope);
    this.checkIntervalMs = options.checkIntervalMs ?? 5000;
    this.refreshMs = options.refreshMs ?? 60_000;
  }

  bind(ctx: ActivatorContext): void {
    this.ctx = ctx;
  }

  desiredActive(): number {
    const c = this.options.checkpoints;
    return typeof c === 'number' ? c : Array.isArray(c) ? c.length : (this.cached?.ids.length ?? 1);
  }

  /** The checkpoint ids (reading the seeded record when they are not given). */
  async checkpoints(): Promise<Id[]> {
    const ctx = requireBound(this.ctx);
    const given = this.options.checkpoints;
    if (typeof given === 'number') return deriveCheckpoints(this.options.baseName ?? ctx.appName, given, this.scope, ctx.location);
    if (Array.isArray(given)) return given.slice();
    const now = ctx.env.now();
    if (this.cached && now - this.cached.at < this.refreshMs) return this.cached.ids;
    const rec = await ctx.dht.get<AppRecord>(scopedId(appUri(ctx.appName), this.scope, ctx.location));
    const list = rec && !rec.deleted && Array.isArray(rec.body.checkpoints) ? rec.body.checkpoints : undefined;
    if (!list) {
      if (!this.notSeededLogged) {
        this.notSeededLogged = true;
        ctx.log.warn({ code: 'NotSeeded', app: ctx.appName }, `no checkpoints seeded for application ${ctx.appName}: it stays passive`);
      }
      return this.cached?.ids ?? [];
    }
    const ids = list.map((h) => Id.tryParse(h)).filter((x): x is Id => x !== undefined);
    this.cached = { ids, at: now };
    return ids;
  }

  async check(current: Activation | undefined, mayActivate: boolean): Promise<Activation | undefined> {
    const ctx = requireBound(this.ctx);
    if (!current && !mayActivate) return undefined;
    const mine = (await this.checkpoints()).filter((cp) => isRootInScope(ctx.node, cp));
    return mine.length === 0 ? undefined : { kind: this.kind, checkpoints: mine };
  }

  async release(): Promise<void> {}

  /** Roots change with the leaf set: check at once (it is a local computation). */
  leafSetChanged(): boolean {
    return true;
  }
}

/** `count` checkpoint ids derived from `name` in `scope` (as the seeder writes them for a count). */
export function deriveCheckpoints(name: string, count: number, scope: Scope, location: Location | undefined): Id[] {
  const out: Id[] = [];
  for (let i = 0; i < count; i++) out.push(scopedId(checkpointUri(name, i), scope, location));
  return out;
}
