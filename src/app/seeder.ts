/**
 * The seeder: writes the records a ring (or a new zone of a ring) needs before its applications
 * can work — application records (slots, checkpoints), task queues, allocatable ranges, regions
 * and availability zones, and arbitrary records.
 *
 * Seeding is idempotent: every record is written with `writeIfAbsent`, so seeding twice (or from
 * two nodes at once) creates each record once and keeps what is there. An entry with
 * `overwrite: true` changes the settings of an existing record instead, keeping its live state
 * (slot claims whose slot still exists, leases on values still in the range).
 *
 * The format (YAML or JSON; `pi seed FILE`) is documented in docs/applications.md.
 */
import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { Id, idFor } from '../id/index.ts';
import type { Location } from '../id/index.ts';
import type { Dht, DhtRecord, Entity } from '../dht/index.ts';
import type { Logger } from '../env/index.ts';
import { parseScope, scopeName } from './activation.ts';
import { AppError, errorInfo } from './errors.ts';
import { appUri, checkpointUri, queueUri, rangeUri, regionUri, scopedId, zoneUri } from './records.ts';
import type { AppRecord, PlaceRecord, QueueRecord, RangeRecord, SlotEntry } from './records.ts';

const name = z.string().regex(/^[a-z][a-z0-9._-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9, ".", "_" or "-" starting with a letter');
const scope = z.enum(['global', 'region', 'az']).default('global');
const code = z.number().int().min(0).max(255);
const location = z.object({ region: code, az: code }).strict();
const hexId = z.string().regex(/^[0-9a-f]{40}$/, 'must be 40 lower-case hex digits');

/** Most values of one allocatable range (the range is one DHT record). */
export const MAX_RANGE_VALUES = 10_000;

const application = z
  .object({
    name,
    scope,
    slots: z.union([z.number().int().min(1).max(1000), z.array(z.string().min(1).max(200)).min(1).max(1000)]).optional(),
    expiryMs: z.number().int().min(100).max(3_600_000).optional(),
    checkpoints: z.union([z.number().int().min(1).max(1000), z.array(hexId).min(1).max(1000)]).optional(),
    overwrite: z.boolean().optional(),
  })
  .strict()
  .refine((a) => (a.slots === undefined) !== (a.checkpoints === undefined), { message: 'an application needs either "slots" (shared-record activator) or "checkpoints" (supernode activator)' });

const queue = z
  .object({
    name,
    scope,
    retries: z.number().int().min(0).max(1000).default(3),
    staleAfterMs: z.number().int().min(100).max(7 * 24 * 3_600_000).default(60_000),
    watchers: z.number().int().min(1).max(16).default(2),
    overwrite: z.boolean().optional(),
  })
  .strict();

const zone = z.object({ code, name: z.string().max(200).optional() }).passthrough();
const region = z.object({ code, name: z.string().max(200).optional(), zones: z.array(zone).max(256).optional() }).passthrough();

const range = z
  .object({
    name,
    scope,
    values: z.array(z.string().min(1).max(200)).min(1).max(MAX_RANGE_VALUES).optional(),
    from: z.union([z.string(), z.number().int()]).optional(),
    to: z.union([z.string(), z.number().int()]).optional(),
    leaseMs: z.number().int().min(100).max(30 * 24 * 3_600_000).default(60_000),
    overwrite: z.boolean().optional(),
  })
  .strict()
  .refine((r) => (r.values !== undefined) !== (r.from !== undefined && r.to !== undefined), { message: 'a range needs either "values" or both "from" and "to"' });

const record = z
  .object({
    uri: z.string().min(3).max(2000).optional(),
    id: hexId.optional(),
    scope,
    entity: z.record(z.string(), z.unknown()),
    overwrite: z.boolean().optional(),
  })
  .strict()
  .refine((r) => (r.uri === undefined) !== (r.id === undefined), { message: 'a record needs either "uri" or "id"' });

const seedSchema = z
  .object({
    location: location.optional(),
    applications: z.array(application).max(1000).default([]),
    queues: z.array(queue).max(1000).default([]),
    regions: z.array(region).max(256).default([]),
    ranges: z.array(range).max(1000).default([]),
    records: z.array(record).max(10_000).default([]),
  })
  .strict();

/** A validated seed. */
export type SeedSpec = z.infer<typeof seedSchema>;
export type SeedApplication = z.infer<typeof application>;
export type SeedQueue = z.infer<typeof queue>;
export type SeedRange = z.infer<typeof range>;

/**
 * Validates a seed (parsed YAML or JSON). A bare list is taken as a list of records. Throws
 * `InvalidSeed` naming every problem with its path (`queues[1].retries: ...`).
 */
export function parseSeed(input: unknown): SeedSpec {
  const value = Array.isArray(input) ? { records: input } : input;
  const r = seedSchema.safeParse(value ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(seed)'}: ${i.message}`);
    throw new AppError('InvalidSeed', `invalid seed: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? ` (and ${problems.length - 20} more)` : ''}`);
  }
  const d = r.data;
  if (d.applications.length + d.queues.length + d.regions.length + d.ranges.length + d.records.length === 0) {
    throw new AppError('InvalidSeed', 'invalid seed: it is empty: give at least one of applications, queues, regions, ranges or records');
  }
  for (const [i, rg] of r.data.ranges.entries()) {
    try {
      rangeValues(rg);
    } catch (err) {
      throw new AppError('InvalidSeed', `invalid seed: ranges[${i}]: ${(err as Error).message}`);
    }
  }
  return r.data;
}

/** The outcome of one seeded record. */
export interface SeedResult {
  kind: 'application' | 'queue' | 'region' | 'zone' | 'range' | 'record';
  name: string;
  id?: string;
  /** Whether this call wrote (false: an existing record was kept). */
  written?: boolean;
  version?: number;
  error?: { code: string; message: string };
}

/** What a seed did. */
export interface SeedReport {
  written: number;
  kept: number;
  failed: number;
  results: SeedResult[];
}

/** Writes seed records into the DHT. */
export class Seeder {
  constructor(
    private readonly dht: Dht,
    private readonly options: { location?: Location; log?: Logger } = {},
  ) {}

  /**
   * Seeds everything in `spec` (validated first). Every entry gets its own result: one failing
   * entry does not stop the others.
   */
  async seed(input: SeedSpec | unknown): Promise<SeedReport> {
    const spec = parseSeed(input);
    const loc = spec.location ?? this.options.location;
    const report: SeedReport = { written: 0, kept: 0, failed: 0, results: [] };
    const run = async (kind: SeedResult['kind'], label: string, fn: () => Promise<{ id: Id; written: boolean; version: number }>): Promise<void> => {
      try {
        const r = await fn();
        report.results.push({ kind, name: label, id: r.id.hex, written: r.written, version: r.version });
        if (r.written) report.written++;
        else report.kept++;
      } catch (err) {
        report.failed++;
        report.results.push({ kind, name: label, error: errorInfo(err) });
      }
    };
    for (const r of spec.regions) {
      await run('region', String(r.code), () => this.place({ ...r, type: 'pi.region', region: r.code, url: regionUri(r.code), zones: undefined }, idFor(regionUri(r.code), 0)));
      for (const zn of r.zones ?? []) {
        await run('zone', `${r.code}/${zn.code}`, () => this.place({ ...zn, type: 'pi.az', region: r.code, az: zn.code, url: zoneUri(r.code, zn.code) }, idFor(zoneUri(r.code, zn.code), 0)));
      }
    }
    for (const a of spec.applications) await run('application', a.name, () => this.application(a, loc));
    for (const q of spec.queues) await run('queue', q.name, () => this.queue(q, loc));
    for (const rg of spec.ranges) await run('range', rg.name, () => this.range(rg, loc));
    for (const rec of spec.records) await run('record', rec.uri ?? rec.id!, () => this.record(rec, loc));
    this.options.log?.info({ event: 'app.seeded', written: report.written, kept: report.kept, failed: report.failed }, `seeded ${report.written} record(s), kept ${report.kept}, ${report.failed} failed`);
    return report;
  }

  /** Seeds an application record (slots or checkpoints). */
  async application(a: SeedApplication, loc: Location | undefined): Promise<{ id: Id; written: boolean; version: number }> {
    const sc = parseScope(a.scope);
    const id = scopedId(appUri(a.name), sc, loc);
    const body: AppRecord = { type: 'pi.app', url: appUri(a.name), app: a.name, scope: scopeName(sc), activator: a.slots !== undefined ? 'shared-record' : 'supernode' };
    if (a.slots !== undefined) body.slots = typeof a.slots === 'number' ? Array.from({ length: a.slots }, () => ({})) : a.slots.map((value) => ({ value }));
    if (a.expiryMs !== undefined) body.expiryMs = a.expiryMs;
    if (a.checkpoints !== undefined) {
      body.checkpoints = typeof a.checkpoints === 'number' ? Array.from({ length: a.checkpoints }, (_, i) => scopedId(checkpointUri(a.name, i), sc, loc).hex) : a.checkpoints.slice();
    }
    return this.write(id, body, a.overwrite === true, (cur) => mergeApp(cur as AppRecord, body));
  }

  /** Seeds a task queue's record. */
  async queue(q: SeedQueue, loc: Location | undefined): Promise<{ id: Id; written: boolean; version: number }> {
    const sc = parseScope(q.scope);
    const body: QueueRecord = { type: 'pi.queue', url: queueUri(q.name), queue: q.name, scope: scopeName(sc), retries: q.retries, staleAfterMs: q.staleAfterMs, watchers: q.watchers };
    return this.write(scopedId(queueUri(q.name), sc, loc), body, q.overwrite === true, (cur) => ({ ...cur, ...body }));
  }

  /** Seeds an allocatable range. */
  async range(rg: SeedRange, loc: Location | undefined): Promise<{ id: Id; written: boolean; version: number }> {
    const sc = parseScope(rg.scope);
    const values = rangeValues(rg);
    const body: RangeRecord = { type: 'pi.range', url: rangeUri(rg.name), range: rg.name, scope: scopeName(sc), values, leaseMs: rg.leaseMs, cursor: 0, leases: {} };
    return this.write(scopedId(rangeUri(rg.name), sc, loc), body, rg.overwrite === true, (cur) => {
      const old = cur as RangeRecord;
      const keep = new Set(values);
      const leases = Object.fromEntries(Object.entries(old.leases ?? {}).filter(([v]) => keep.has(v)));
      return { ...old, ...body, leases, cursor: Math.min(old.cursor ?? 0, values.length - 1) };
    });
  }

  private place(body: PlaceRecord, id: Id): Promise<{ id: Id; written: boolean; version: number }> {
    const clean = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as PlaceRecord;
    return this.write(id, clean, false, (cur) => cur);
  }

  private record(rec: SeedSpec['records'][number], loc: Location | undefined): Promise<{ id: Id; written: boolean; version: number }> {
    const entity = { ...rec.entity } as Entity;
    let id: Id;
    if (rec.id !== undefined) id = Id.parse(rec.id);
    else {
      id = scopedId(rec.uri!, parseScope(rec.scope), loc);
      if (entity.url === undefined) entity.url = rec.uri;
    }
    delete entity.version;
    return this.write(id, entity, rec.overwrite === true, () => entity);
  }

  /** writeIfAbsent, or with `overwrite` an update merging the new settings into the record. */
  private async write(id: Id, body: Entity, overwrite: boolean, merge: (current: Entity) => Entity): Promise<{ id: Id; written: boolean; version: number }> {
    if (!overwrite) {
      const r = await this.dht.writeIfAbsent(id, body);
      return { id, written: r.written, version: r.record.version };
    }
    const r = (await this.dht.update(id, (cur: DhtRecord | undefined) => {
      const next = cur && !cur.deleted ? merge(cur.body) : body;
      const { version: _v, ...rest } = next;
      return rest;
    }))!;
    return { id, written: true, version: r.version };
  }
}

/** New application settings, keeping the claims on slots that still exist. */
function mergeApp(cur: AppRecord, next: AppRecord): AppRecord {
  if (!next.slots || !Array.isArray(cur.slots)) return { ...cur, ...next };
  const old = cur.slots;
  const slots: SlotEntry[] = next.slots.map((s, i) => {
    const match = s.value !== undefined ? old.find((o) => o.value === s.value) : old[i]?.value === undefined ? old[i] : undefined;
    return match ? { ...match, value: s.value } : s;
  });
  for (const s of slots) if (s.value === undefined) delete s.value;
  return { ...cur, ...next, slots };
}

/** The values of a range: given, or every IPv4 address / integer from `from` to `to`. */
export function rangeValues(rg: { values?: string[]; from?: string | number; to?: string | number }): string[] {
  if (rg.values) {
    if (new Set(rg.values).size !== rg.values.length) throw new Error('values must be distinct');
    return rg.values.slice();
  }
  const from = String(rg.from);
  const to = String(rg.to);
  let lo: number;
  let hi: number;
  let format: (n: number) => string;
  if (isIPv4(from) && isIPv4(to)) {
    lo = ipToInt(from);
    hi = ipToInt(to);
    format = intToIp;
  } else if (/^-?\d+$/.test(from) && /^-?\d+$/.test(to)) {
    lo = Number(from);
    hi = Number(to);
    format = String;
  } else {
    throw new Error(`"from" and "to" must both be IPv4 addresses or both integers, got "${from.slice(0, 40)}" and "${to.slice(0, 40)}"`);
  }
  if (hi < lo) throw new Error('"to" comes before "from"');
  if (hi - lo + 1 > MAX_RANGE_VALUES) throw new Error(`a range holds at most ${MAX_RANGE_VALUES} values, this one ${hi - lo + 1}`);
  const out: string[] = [];
  for (let n = lo; n <= hi; n++) out.push(format(n));
  return out;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function intToIp(n: number): string {
  return [Math.floor(n / 16777216) % 256, Math.floor(n / 65536) % 256, Math.floor(n / 256) % 256, n % 256].join('.');
}
