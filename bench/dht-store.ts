/**
 * `npm run bench:dht-store -- [--items 1000000] [--body 200] [--json]`
 *
 * What a node's DHT store costs at start as the number of records it holds grows: an LMDB store
 * of `--items` records (bodies of `--body` bytes, as S3 object entries are) is written, then
 * opened in a fresh process that measures
 * - `open`: opening the LMDB environment;
 * - `start`: building the replica store (`LocalStore`: prefix digests, tombstones and count,
 *   summed up from the index entries), blocking;
 * - `heapMB`: the heap it holds afterwards (after a full GC);
 * - `walkMs`: one walk over every index entry (what a hand-off after a leaf-set change does);
 * - `digestMs`: a range digest of an eighth of the ring (anti-entropy's question);
 * - `pagedStartMs`, `longestPageMs`, `pages`: the same sums as a node does them, in pages of
 *   20 000 entries with other work in between (the store is usable from `pagedStartMs`).
 * Then the same records are written as a release from before the index did (items only) and the
 * store opened: `upgradeOpenMs` is the one-off build of the index.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { open } from 'lmdb';
import { sealItem } from '../src/dht/item-checksum.ts';
import { LocalStore } from '../src/dht/local-store.ts';
import { LmdbStorage } from '../src/dht/storage/lmdb.ts';
import type { StoredItem } from '../src/dht/types.ts';

interface Measured {
  items: number;
  openMs: number;
  startMs: number;
  heapMB: number;
  walkMs: number;
  digestMs: number;
  /** A node's start: the store built to sum up in pages (usable at once), and its longest page. */
  pagedStartMs: number;
  longestPageMs: number;
  pages: number;
}

/** Index entries per page, as a DHT node sums them at start. */
const SUM_PAGE = 20_000;

const round = (x: number): number => Math.round(x * 10) / 10;

/** Runs in a fresh process (`--measure DIR`): opens the store and measures it. */
async function measure(dir: string): Promise<Measured> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const engine = await LmdbStorage.open(dir);
  const t1 = performance.now();
  const store = new LocalStore(engine);
  const t2 = performance.now();
  gc?.();
  const heapMB = (process.memoryUsage().heapUsed - heap0) / 1e6;
  let n = 0;
  const w0 = performance.now();
  for (const k of store.keysIn('')) if (k) n++;
  const walkMs = performance.now() - w0;
  const lo = 'a'.padEnd(40, '0');
  const hi = 'b'.padEnd(40, 'f');
  const d0 = performance.now();
  const digest = store.digest(lo, hi);
  const digestMs = performance.now() - d0;
  if (n !== store.size || digest.n <= 0) throw new Error(`inconsistent store: walked ${n}, counted ${store.size}, digest ${digest.n}`);
  const p0 = performance.now();
  const paged = new LocalStore(engine, undefined, { sumInPages: true });
  const pagedStartMs = performance.now() - p0;
  let longestPageMs = 0;
  let pages = 0;
  for (let done = false; !done; pages++) {
    const s0 = performance.now();
    done = paged.sumPage(SUM_PAGE);
    longestPageMs = Math.max(longestPageMs, performance.now() - s0);
  }
  if (paged.size !== store.size) throw new Error(`paged sums counted ${paged.size}, not ${store.size}`);
  await engine.close();
  return {
    items: store.size,
    openMs: round(t1 - t0),
    startMs: round(t2 - t1),
    heapMB: round(heapMB),
    walkMs: round(walkMs),
    digestMs: round(digestMs),
    pagedStartMs: round(pagedStartMs),
    longestPageMs: round(longestPageMs),
    pages,
  };
}

function measureInChild(dir: string): Measured {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--measure', dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`measuring process failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measured;
}

/** The records of the store: sealed items with S3-entry-like bodies, one in 50 a tombstone. */
function* records(items: number, bodyBytes: number): Generator<StoredItem> {
  const body = JSON.stringify({ type: 's3.object', pad: 'x'.repeat(Math.max(0, bodyBytes - 30)) });
  for (let i = 0; i < items; i++) {
    const k = createHash('sha1').update(`record-${i}`).digest('hex');
    yield sealItem({ k, v: 1 + (i % 5), op: `0a1b2c3d.${i.toString(36)}.1`, h: [], hf: 0, d: i % 50 === 0, t: 's3.object', u: null, ct: 'application/json', b: body, at: 1_700_000_000_000 + i });
  }
}

async function fill(dir: string, items: number, bodyBytes: number): Promise<number> {
  const engine = await LmdbStorage.open(dir);
  const t0 = performance.now();
  let batch: Promise<void>[] = [];
  for (const it of records(items, bodyBytes)) {
    batch.push(engine.put(it));
    if (batch.length >= 10_000) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  await engine.close();
  return performance.now() - t0;
}

/** A store as a release from before the index wrote it: the items only, no index, no format mark. */
async function fillLegacy(dir: string, items: number, bodyBytes: number): Promise<void> {
  const raw = open({ path: dir, compression: false, overlappingSync: false });
  const db = raw.openDB<StoredItem, string>({ name: 'items' });
  let batch: Promise<boolean>[] = [];
  for (const it of records(items, bodyBytes)) {
    batch.push(db.put(it.k, it));
    if (batch.length >= 10_000) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  await raw.close();
}

async function main(): Promise<void> {
  const program = new Command()
    .option('--items <n>', 'records in the store', (v) => Number.parseInt(v, 10), 1_000_000)
    .option('--body <bytes>', 'bytes of each record body', (v) => Number.parseInt(v, 10), 200)
    .option('--json', 'print one JSON object')
    .option('--measure <dir>', 'internal: measure the store in DIR')
    .parse();
  const o = program.opts<{ items: number; body: number; json?: boolean; measure?: string }>();
  if (o.measure) {
    console.log(JSON.stringify(await measure(o.measure)));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pi-bench-dht-store-'));
  try {
    if (!o.json) console.error(`writing ${o.items} records …`);
    const fillMs = await fill(dir, o.items, o.body);
    const current = measureInChild(dir);
    rmSync(dir, { recursive: true, force: true });
    if (!o.json) console.error(`writing ${o.items} records as an older release did …`);
    await fillLegacy(dir, o.items, o.body);
    const upgraded = measureInChild(dir);
    const result = { items: o.items, bodyBytes: o.body, fillSeconds: round(fillMs / 1000), current, upgradeOpenMs: upgraded.openMs, afterUpgrade: upgraded };
    console.log(o.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
