/**
 * The inspection and admin commands: each asks a running node's ops API and prints the answer
 * as text or JSON.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { RealEnv, silentLogger } from '../env/index.ts';
import type { OpsClient } from './client.ts';
import { CliError, formatDuration, short, table } from './output.ts';
import type { Output } from './output.ts';

type Json = Record<string, unknown>;

const env = new RealEnv({ logger: silentLogger });

function healthStyle(out: Output, health: string): string {
  const colour = health === 'ok' ? 'green' : health === 'degraded' || health === 'starting' || health === 'stopping' ? 'yellow' : 'red';
  return out.style(health, colour);
}

/** `pi status`. */
export async function status(client: OpsClient, out: Output): Promise<void> {
  const node = await client.get<Json>('/api/node');
  out.result(node, () => {
    const alerts = (node['alerts'] as { code: string; severity: string; message: string }[]) ?? [];
    const services = (node['services'] as { name: string; kind: string; state: string; errors: number }[]) ?? [];
    const lag = node['eventLoop'] as { p99Ms: number; maxMs: number } | undefined;
    const disk = node['disk'] as { freeBytes: number; totalBytes: number } | undefined;
    const leafSet = (node['leafSet'] as unknown[]) ?? [];
    const lines = [
      `${out.style('node', 'bold')}      ${node['id']}`,
      `address   ${node['addr']}${node['secure'] ? ' (mutual TLS)' : out.style(' (INSECURE: plaintext)', 'yellow')}`,
      `state     ${node['state']}, health ${healthStyle(out, String(node['health']))}`,
      `uptime    ${formatDuration(Number(node['uptimeMs']))}, version ${node['version']}, pid ${node['pid']}`,
      `ring      ${leafSet.length} leaf-set members, ${node['routingTableSize']} routing-table entries`,
    ];
    if (node['region'] !== undefined) lines.push(`location  region ${node['region']}, az ${node['az']}`);
    if (lag) lines.push(`loop lag  p99 ${lag.p99Ms.toFixed(1)} ms, max ${lag.maxMs.toFixed(1)} ms`);
    if (disk) lines.push(`disk      ${(disk.freeBytes / 2 ** 30).toFixed(1)} GiB free of ${(disk.totalBytes / 2 ** 30).toFixed(1)} GiB`);
    for (const st of (node['storage'] as { dir: string; reserveBytes: number; refusing: boolean }[] | undefined) ?? []) {
      const reserve = `${(st.reserveBytes / 2 ** 30).toFixed(2)} GiB`;
      lines.push(`reserve   ${st.reserveBytes > 0 ? reserve : 'none'}${st.refusing ? ` reached on ${st.dir}: refusing writes that add data (DiskFull)` : ''}`);
    }
    lines.push(`services  ${services.length ? services.map((s) => `${s.name} (${s.state}${s.errors ? `, ${s.errors} errors` : ''})`).join(', ') : 'none'}`);
    const endpoints = Object.entries((node['endpoints'] as Record<string, string>) ?? {});
    if (endpoints.length) lines.push(`endpoints ${endpoints.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (alerts.length === 0) lines.push(`alerts    none`);
    else {
      lines.push(`alerts`);
      for (const a of alerts) lines.push(`  ${out.style(a.severity.toUpperCase(), a.severity === 'critical' ? 'red' : 'yellow')} ${a.code}: ${a.message}`);
    }
    return lines.join('\n');
  });
}

interface RingMemberJson {
  id: string;
  addr: string;
  health: string;
  rttMs?: number;
  summary?: { apps?: { name: string; state: string }[]; leafSet?: unknown[]; alerts?: unknown[] };
}

/** `pi ring`. */
export async function ring(client: OpsClient, out: Output, walk: boolean): Promise<void> {
  const r = await client.get<Json>(`/api/ring${walk ? '?walk=true' : ''}`);
  out.result(r, () => {
    const self = r['self'] as { id: string; addr: string };
    const ls = r['leafSet'] as { left: { id: string; addr: string; rttMs?: number }[]; right: { id: string; addr: string; rttMs?: number }[]; size: number; capacity: number };
    const rt = r['routingTable'] as { size: number; rows: { row: number; entries: { col: number; id: string }[] }[] };
    const lines = [`${out.style('node', 'bold')} ${self.id} at ${self.addr} (${r['state']})`, '', out.style(`leaf set: ${ls.size} of ${ls.capacity}`, 'bold')];
    const rows = [
      ...[...ls.left].reverse().map((h, i) => [`-${ls.left.length - i}`, short(h.id), h.addr, h.rttMs !== undefined ? h.rttMs.toFixed(1) : '']),
      ['0', out.style(short(self.id), 'bold'), self.addr, '(this node)'],
      ...ls.right.map((h, i) => [`+${i + 1}`, short(h.id), h.addr, h.rttMs !== undefined ? h.rttMs.toFixed(1) : '']),
    ];
    lines.push(table(['pos', 'id', 'address', 'rtt ms'], rows));
    lines.push('', `ring size: about ${String(r['estimatedRingSize'])} nodes (estimated from the leaf set; exact below ${ls.capacity + 1})`);
    lines.push('', out.style(`routing table: ${rt.size} entries, ${r['known']} known nodes`, 'bold'));
    if (rt.rows.length) lines.push(table(['row', 'entries', 'columns'], rt.rows.map((x) => [x.row, x.entries.length, x.entries.map((e) => e.col.toString(16)).join('')])));
    const w = r['walk'] as { members: RingMemberJson[]; truncated: boolean; durationMs: number } | undefined;
    if (w) {
      lines.push('', out.style(`ring: ${w.members.filter((m) => m.health !== 'unreachable').length} nodes reachable${w.truncated ? ' (walk truncated)' : ''}, walked in ${w.durationMs} ms`, 'bold'));
      lines.push(
        table(
          ['id', 'address', 'health', 'leaf set', 'apps'],
          w.members.map((m) => [short(m.id), m.addr, healthStyle(out, m.health), m.summary?.leafSet?.length ?? '', (m.summary?.apps ?? []).map((a) => a.name).join(',')]),
        ),
      );
    }
    return lines.join('\n');
  });
}

/** `pi apps`. */
export async function apps(client: OpsClient, out: Output): Promise<void> {
  const r = await client.get<Json>('/api/apps');
  out.result(r, () => {
    const ringRows = (r['ring'] as { id: string; addr: string; health: string; apps: { name: string; kind: string; state: string }[] }[]) ?? [];
    const available = (r['available'] as { name: string; description: string }[]) ?? [];
    const lines = [
      table(
        ['node', 'address', 'health', 'services and applications'],
        ringRows.map((m) => [short(m.id), m.addr, healthStyle(out, m.health), m.apps.map((a) => `${a.name}${a.kind === 'app' ? '' : '*'}${a.state === 'active' ? '' : ` (${a.state})`}`).join(', ') || '-']),
      ),
      '',
      '* core service on every node',
    ];
    if (available.length) lines.push('', `installed applications: ${available.map((a) => a.name).join(', ')}`);
    if (r['truncated']) lines.push('(ring walk truncated)');
    return lines.join('\n');
  });
}

interface EventJson {
  seq: number;
  time: number;
  type: string;
  node: string;
  message: string;
  level: string;
}

function eventLine(out: Output, e: EventJson): string {
  const time = new Date(e.time).toISOString().slice(11, 23);
  const level = e.level === 'error' ? out.style('ERROR', 'red') : e.level === 'warn' ? out.style('WARN ', 'yellow') : 'info ';
  return `${time} ${level} ${short(e.node)} ${e.type.padEnd(15)} ${e.message}`;
}

/** `pi events`. */
export async function events(client: OpsClient, out: Output, options: { ring: boolean; limit: number; follow: boolean }): Promise<void> {
  const scope = options.ring ? 'ring' : 'local';
  const r = await client.get<{ events: EventJson[]; lastSeq?: number }>(`/api/events?scope=${scope}&limit=${options.limit}`);
  const evs = [...r.events].reverse();
  if (!options.follow) {
    out.result(r, () => (evs.length ? evs.map((e) => eventLine(out, e)).join('\n') : 'no events'));
    return;
  }
  const seen = new Set(evs.map((e) => `${e.node}:${e.seq}`));
  const print = (e: EventJson): void => {
    if (out.json) out.io.stdout.write(JSON.stringify(e) + '\n');
    else out.io.stdout.write(eventLine(out, e) + '\n');
  };
  evs.forEach(print);
  for (;;) {
    await env.sleep(1000);
    const next = await client.get<{ events: EventJson[] }>(`/api/events?scope=${scope}&limit=200`);
    for (const e of [...next.events].reverse()) {
      const key = `${e.node}:${e.seq}`;
      if (seen.has(key)) continue;
      seen.add(key);
      print(e);
    }
  }
}

/** `pi alerts`. */
export async function alerts(client: OpsClient, out: Output, ringWide: boolean): Promise<void> {
  const r = await client.get<{ alerts: { node?: string; code: string; severity: string; message: string }[] }>(`/api/alerts${ringWide ? '?scope=ring' : ''}`);
  out.result(r, () =>
    r.alerts.length === 0
      ? 'no active alerts'
      : table(
          ringWide ? ['node', 'severity', 'code', 'message'] : ['severity', 'code', 'message'],
          r.alerts.map((a) => [...(ringWide ? [short(a.node)] : []), a.severity, a.code, a.message]),
        ),
  );
}

/** Prints any JSON answer as YAML in text mode (`forText` may reshape it for reading first). */
async function generic(out: Output, data: Promise<unknown>, empty = 'nothing', forText: (d: unknown) => unknown = (d) => d): Promise<void> {
  const d = await data;
  out.result(d, () => (d && typeof d === 'object' && Object.keys(d).length === 0 ? empty : toYaml(forText(d)).trimEnd()));
}

/**
 * A copy of `value` with every `writtenAt` (ms since the epoch, as the API answers) as an ISO
 * time, for reading; `--json` keeps the numbers.
 */
function readableTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readableTimes);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'writtenAt' && typeof v === 'number' ? new Date(v).toISOString() : readableTimes(v)]));
}

/** `pi topics`. */
export function topics(client: OpsClient, out: Output): Promise<void> {
  return generic(out, client.get('/api/topics'), 'no topics');
}

/** `pi queue show NAME`. */
export function queueShow(client: OpsClient, out: Output, name: string): Promise<void> {
  return generic(out, client.get(`/api/queues/${encodeURIComponent(name)}`));
}

/** `pi queue list`. */
export function queueList(client: OpsClient, out: Output): Promise<void> {
  return generic(out, client.get('/api/queues'), 'no queues');
}

/** `pi dht get KEY`. */
export function dhtGet(client: OpsClient, out: Output, key: string): Promise<void> {
  return generic(out, client.get(`/api/dht/records/${encodeURIComponent(key)}`), 'nothing', readableTimes);
}

/** Reads a JSON value from an argument: inline JSON, `@file` (JSON or YAML), or `-` for stdin. */
export function readValue(arg: string, stdin: () => string = () => readFileSync(0, 'utf8')): unknown {
  let text = arg;
  let source = 'the argument';
  if (arg === '-') {
    text = stdin();
    source = 'stdin';
  } else if (arg.startsWith('@')) {
    try {
      text = readFileSync(arg.slice(1), 'utf8');
    } catch (err) {
      throw new CliError('CannotRead', `cannot read ${arg.slice(1)}: ${(err as Error).message}`);
    }
    source = arg.slice(1);
  }
  try {
    return source.endsWith('.yaml') || source.endsWith('.yml') ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new CliError('InvalidValue', `${source} is not valid ${source.endsWith('.yaml') || source.endsWith('.yml') ? 'YAML' : 'JSON'}: ${(err as Error).message}`, 2);
  }
}

/** `pi dht put KEY VALUE`. */
export function dhtPut(client: OpsClient, out: Output, key: string, value: string): Promise<void> {
  return generic(out, client.put(`/api/dht/records/${encodeURIComponent(key)}`, readValue(value)));
}

/** `pi dht scan`. */
export function dhtScan(client: OpsClient, out: Output, options: { type?: string; limit: number; rootOnly: boolean }): Promise<void> {
  const q = new URLSearchParams({ limit: String(options.limit) });
  if (options.type) q.set('type', options.type);
  if (options.rootOnly) q.set('rootOnly', 'true');
  return generic(out, client.get(`/api/dht/scan?${q}`), 'no records', readableTimes);
}

/** `pi dht counts`. */
export function dhtCounts(client: OpsClient, out: Output): Promise<void> {
  return generic(out, client.get('/api/dht/counts'), 'no records');
}

/** What `GET /api/dht/quarantine` answers. */
interface QuarantineView {
  node: string;
  count: number;
  items: { key: string; version: number; type: string; writtenAt: number; bytes: number; checksum: number | null; computed: number; quarantinedAt: number | null }[];
}

/** `pi dht quarantine [--clear]`: the damaged records the node keeps aside, or empty them. */
export async function dhtQuarantine(client: OpsClient, out: Output, options: { clear: boolean; limit?: number }): Promise<void> {
  if (options.clear) {
    const r = await client.delete<{ node: string; removed: number }>('/api/dht/quarantine');
    out.result(r, () => `removed ${r.removed} damaged record(s) from the quarantine of ${r.node.slice(0, 12)}`);
    return;
  }
  const q = await client.get<QuarantineView>(`/api/dht/quarantine${options.limit !== undefined ? `?limit=${options.limit}` : ''}`);
  out.result(q, () =>
    q.count === 0
      ? 'no damaged records in quarantine'
      : [
          `${q.count} damaged record(s) in quarantine on ${q.node.slice(0, 12)} (never served; the replicas' copies are what reads return):`,
          table(
            ['key', 'version', 'type', 'written', 'quarantined', 'bytes', 'checksum stored / computed'],
            q.items.map((i) => [i.key.length > 60 ? `${i.key.slice(0, 57)}...` : i.key, i.version, i.type, new Date(i.writtenAt).toISOString(), i.quarantinedAt === null ? '-' : new Date(i.quarantinedAt).toISOString(), i.bytes, `${i.checksum ?? '-'} / ${i.computed}`]),
          ),
        ].join('\n'),
  );
}

/**
 * `pi seed FILE`: seeds the ring from a YAML or JSON file (applications, queues, ranges, regions
 * and zones, records) through the seeder; existing records are kept unless `overwrite`.
 */
export async function seed(client: OpsClient, out: Output, file: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('CannotRead', `cannot read ${file}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new CliError('InvalidValue', `${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, 2);
  }
  if (data === null || typeof data !== 'object') throw new CliError('InvalidValue', `${file} must hold a seed: a mapping with applications, queues, ranges, regions and records (or a list of records)`, 2);
  const report = await client.post<{ written: number; kept: number; failed: number; results: { kind: string; name: string; written?: boolean; version?: number; error?: { message: string } }[] }>('/api/seed', data);
  out.result(report, () =>
    [
      `seeded ${report.written} record(s), kept ${report.kept} existing, ${report.failed} failed`,
      ...report.results.map((r) => `  ${r.error ? 'FAILED ' : r.written ? 'written' : 'kept   '} ${r.kind} ${r.name}${r.error ? `: ${r.error.message}` : ` (version ${r.version})`}`),
    ].join('\n'),
  );
  if (report.failed > 0) process.exitCode = 1;
}
