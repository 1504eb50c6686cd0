/**
 * `pi s3 …`: administration of the `s3` application through a node's ops API. `pi s3 rewrap`
 * starts the SSE-S3 rewrap job (or its dry run, a count by master key) on the node asked, follows
 * it until it ends and prints its summary; `--status` shows the node's running or last job.
 * `pi s3 scrub` starts a scrub pass over the node's chunks (`--wait` follows it; `--status` shows
 * the scrubber). `pi s3 buckets` lists the buckets of the ring (`--usage`: objects and bytes).
 * `pi s3 flush-access-logs` delivers the node's buffered server access log records now.
 * `pi s3 replicate-existing BUCKET` replicates the versions written before the bucket's
 * replication configuration. `pi s3 events TOPIC` shows the bucket event notifications kept in a
 * topic's journal.
 */
import { RealEnv, silentLogger } from '../env/index.ts';
import type { ScrubOptions, ScrubStats } from '../cloud/s3/chunks/scrub.ts';
import type { BucketInventoryRow } from '../cloud/s3/inventory.ts';
import type { ExistingReplicationPage } from '../cloud/s3/replication.ts';
import type { JournaledEvent, JournalPage } from '../cloud/s3/event-journal.ts';
import type { RewrapJobStatus } from '../cloud/s3/rewrap.ts';
import type { AccessLogStats, FlushResult } from '../cloud/s3/access-log.ts';
import type { OpsClient } from './client.ts';
import { CliError, formatDuration, table } from './output.ts';
import type { Output } from './output.ts';

const env = new RealEnv({ logger: silentLogger });

/** How often a running job is asked for its progress. */
const POLL_MS = 1000;

/** A job's status as `GET /api/s3/rewrap` answers it. */
type JobStatus = RewrapJobStatus;

/** Options of `pi s3 rewrap`. */
export interface RewrapCommandOptions {
  buckets?: string[];
  dryRun: boolean;
  /** Show the node's running or last job instead of starting one. */
  status: boolean;
  /** Start even while some node serving S3 has another current master key (the pre-flight check). */
  force?: boolean;
}

/**
 * `pi s3 rewrap`. Exits 1 when the job failed or stopped, or left entries it failed on; entries
 * under keys the node does not hold are printed as a warning (the data needs that key).
 */
export async function rewrap(client: OpsClient, out: Output, options: RewrapCommandOptions): Promise<void> {
  let job: JobStatus;
  if (options.status) {
    job = await client.get<JobStatus>('/api/s3/rewrap');
  } else {
    job = await client.post<JobStatus>('/api/s3/rewrap', { dryRun: options.dryRun, ...(options.buckets?.length ? { buckets: options.buckets } : {}), ...(options.force ? { force: true } : {}) });
    if (!out.json) out.progress('s3.rewrap', `${job.dryRun ? 'counting' : 'rewrapping'} SSE-S3 data keys (job ${job.id}) …`);
    const id = job.id;
    let lastBucket = job.bucket;
    while (job.state === 'running') {
      await env.sleep(POLL_MS);
      job = await client.get<JobStatus>('/api/s3/rewrap');
      // Another job started on the node once this one ended: this one's summary is gone.
      if (job.id !== id) throw new CliError('JobReplaced', `job ${id} ended and job ${job.id} started on the node before its summary was read; see the node's log (event s3.rewrap)`);
      if (!out.json && job.bucket !== undefined && job.bucket !== lastBucket) out.progress('s3.rewrap', `  bucket ${job.bucket} (${job.summary.scanned} SSE-S3 entries so far)`);
      lastBucket = job.bucket;
    }
  }
  out.result(job, () => describeJob(out, job));
  if (job.state === 'failed' || job.state === 'stopped' || job.summary.errors > 0) process.exitCode = 1;
}

function describeJob(out: Output, job: JobStatus): string {
  const s = job.summary;
  const took = job.finishedAt !== undefined ? ` in ${formatDuration(job.finishedAt - job.startedAt)}` : '';
  const state = job.state === 'done' ? out.style('done', 'green') : job.state === 'running' ? out.style('running', 'yellow') : out.style(job.state, 'red');
  const lines = [
    `${job.dryRun ? 'count (dry run)' : 'rewrap'} ${job.id}: ${state}${took}${job.error ? ` — ${job.error}` : ''}${job.state === 'running' && job.bucket ? ` (bucket ${job.bucket})` : ''}`,
    `  current master key   ${s.currentKid}`,
    `  buckets              ${s.buckets}${job.onlyBuckets ? ` (of ${job.onlyBuckets.join(', ')})` : ''}`,
    `  entries read         ${s.entries} (SSE-S3: ${s.scanned}: ${s.byKind['object'] ?? 0} current versions, ${s.byKind['version'] ?? 0} noncurrent, ${s.byKind['upload'] ?? 0} uploads, ${s.byKind['part'] ?? 0} parts)`,
  ];
  if (s.byKid.length > 0) {
    lines.push('', table(['MASTER KEY', 'STATUS', 'ENTRIES'], s.byKid.map((k) => [k.kid, k.status, k.entries])).replace(/^/gm, '  '), '');
  }
  if (job.dryRun) lines.push(`  to rewrap            ${s.pending}`, `  already current      ${s.alreadyCurrent}`);
  else {
    lines.push(`  rewrapped            ${s.rewrapped}`, `  already current      ${s.alreadyCurrent}`, `  changed meanwhile    ${s.changed}  (left as written; run again to check)`);
  }
  if (s.kmsKeys) lines.push(`  KMS keys             ${s.kmsKeys.keys} (material ${job.dryRun ? 'to rewrap' : 'rewrapped'}: ${s.kmsKeys.rewrapped}${s.kmsKeys.errors > 0 ? `, ${s.kmsKeys.errors} failed (code KmsRewrapFailed)` : ''})`);
  lines.push(`  unknown master key   ${s.unknownKid}`, `  errors               ${s.errors}`);
  if (s.missingBuckets.length > 0) lines.push(out.style(`  no such bucket: ${s.missingBuckets.join(', ')}`, 'yellow'));
  if (s.unknownKid > 0) lines.push(out.style(`warning: ${s.unknownKid} entries are under master keys this node does not hold: keep those keys (s3.ssePreviousKeyFiles) or the data is unreadable`, 'yellow'));
  if (s.errors > 0) lines.push(out.style(`warning: the job failed on ${s.errors} entries or buckets (see the node's log, code SseRewrapFailed): run it again`, 'red'));
  return lines.join('\n');
}

/** Refuses flags that make no sense together. */
export function checkRewrapOptions(options: RewrapCommandOptions): void {
  if (options.status && (options.dryRun || (options.buckets?.length ?? 0) > 0)) throw new CliError('InvalidArgument', '--status shows the last job: it takes neither --dry-run nor --bucket', 2);
}

/** The scrubber's state as `GET /api/s3/scrub` answers it (S3Service.scrubStatus). */
interface ScrubStatus extends ScrubStats {
  options: ScrubOptions;
  verifyReads: boolean;
  damage: { corrupt: number; restored: number; unrestored: number; corruptAnswers: number };
}

/** `pi s3 scrub`: starts a pass (or shows the scrubber); exits 1 when damage could not be repaired. */
export async function scrub(client: OpsClient, out: Output, options: { status: boolean; wait: boolean }): Promise<void> {
  let s = options.status ? await client.get<ScrubStatus>('/api/s3/scrub') : await client.post<ScrubStatus>('/api/s3/scrub', {});
  if (!options.status && options.wait) {
    if (!out.json) out.progress('s3.scrub', 'scrubbing the chunks of the node …');
    while (s.running) {
      await env.sleep(POLL_MS);
      s = await client.get<ScrubStatus>('/api/s3/scrub');
    }
  }
  out.result(s, () => describeScrub(out, s, options));
  if (s.damage.unrestored > 0) process.exitCode = 1;
}

function describeScrub(out: Output, s: ScrubStatus, options: { status: boolean; wait: boolean }): string {
  const when = (t: number | undefined): string => (t === undefined ? 'never' : new Date(t).toISOString());
  const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const state = s.running ? out.style(options.status ? 'a pass is running' : 'pass started', 'yellow') : out.style('idle', 'green');
  const lines = [
    `scrubber: ${state}${s.running && s.cursor ? ` (at chunk ${s.cursor.slice(0, 12)})` : ''}`,
    `  checked since start  ${s.chunks} chunks, ${mib(s.bytes)}, ${s.passes} pass${s.passes === 1 ? '' : 'es'} finished`,
    `  last pass            started ${when(s.lastPassStartedAt)}, finished ${when(s.lastPassFinishedAt)}`,
    `  next pass            ${s.options.enabled ? when(s.nextPassAt) : 'background scrubbing off (s3.scrub.enabled)'}  (rate limit ${s.options.bytesPerSecond > 0 ? `${mib(s.options.bytesPerSecond)}/s` : 'none'})`,
    `  damaged copies       ${s.damage.corrupt} found (scrub and reads), ${s.damage.restored} restored, ${s.damage.unrestored} not restored`,
    `  bad replica answers  ${s.damage.corruptAnswers}`,
  ];
  if (s.damage.unrestored > 0) lines.push(out.style(`warning: ${s.damage.unrestored} damaged chunks could not be restored (see the node's log, code ChunkUnrestored)`, 'red'));
  return lines.join('\n');
}

/** What `POST /api/s3/access-log/flush` answers. */
type AccessLogFlush = FlushResult & { stats: AccessLogStats };

/** `pi s3 flush-access-logs`: writes the node's buffered access log records into their target buckets now. */
export async function flushAccessLogs(client: OpsClient, out: Output): Promise<void> {
  const r = await client.post<AccessLogFlush>('/api/s3/access-log/flush', {});
  out.result(r, () =>
    [
      `access logs: ${r.objects} log object${r.objects === 1 ? '' : 's'} written with ${r.records} record${r.records === 1 ? '' : 's'}, ${r.dropped} record${r.dropped === 1 ? '' : 's'} dropped`,
      `  still buffered       ${r.stats.buffered} record${r.stats.buffered === 1 ? '' : 's'} (a failed write is retried at the next flush)`,
    ].join('\n'),
  );
}

/**
 * `pi s3 replicate-existing BUCKET`: replicates the versions written before the bucket's
 * replication configuration, page after page of keys, printing the running counts; `--dry-run`
 * counts them. Exits 1 when some version FAILED.
 */
export async function replicateExisting(client: OpsClient, out: Output, bucket: string, options: { dryRun: boolean; retryFailed?: boolean }): Promise<void> {
  const total = { keys: 0, versions: 0, selected: 0, replicated: 0, failed: 0 };
  let after: string | undefined;
  do {
    const page = await client.post<ExistingReplicationPage>(`/api/s3/buckets/${encodeURIComponent(bucket)}/replicate-existing`, { limit: 100, dryRun: options.dryRun, ...(options.retryFailed ? { retryFailed: true } : {}), ...(after !== undefined ? { after } : {}) });
    for (const k of ['keys', 'versions', 'selected', 'replicated', 'failed'] as const) total[k] += page[k];
    after = page.next;
    if (!out.json && after !== undefined) out.progress('s3.replicate-existing', `  ${total.keys} keys, ${total.selected} versions to replicate so far …`);
  } while (after !== undefined);
  const queued = total.selected - total.replicated - total.failed;
  out.result({ bucket, dryRun: options.dryRun, ...total }, () =>
    options.dryRun
      ? `${bucket}: ${total.selected} of ${total.versions} versions (${total.keys} keys) would be replicated`
      : `${bucket}: ${total.replicated} versions replicated, ${total.failed} failed${queued > 0 ? `, ${queued} left to the replication sweep` : ''} (${total.versions} versions of ${total.keys} keys examined)`,
  );
  if (total.failed > 0) process.exitCode = 1;
}

/** One line of `pi s3 events`: the time written, and each record's event, bucket and key (the test event as such). */
function eventLine(m: JournaledEvent): string {
  const time = new Date(m.at).toISOString().slice(11, 23);
  const records = (m.message as { Records?: { eventName?: string; s3?: { bucket?: { name?: string }; object?: { key?: string; size?: number; versionId?: string } } }[] }).Records;
  if (!records) return `${time} ${(m.message as { Event?: string }).Event ?? JSON.stringify(m.message)}`;
  return records
    .map((r) => {
      const o = r.s3?.object;
      return `${time} ${(r.eventName ?? '').padEnd(40)} ${r.s3?.bucket?.name ?? ''}/${decodeURIComponent((o?.key ?? '').replace(/\+/g, ' '))}${o?.size !== undefined ? ` (${o.size} B)` : ''}${o?.versionId ? ` version ${o.versionId}` : ''}`;
    })
    .join('\n');
}

/** A `--since` duration (`90s`, `10m`, `2h`, `1d`, or milliseconds) in ms. */
export function parseSince(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new CliError('InvalidArgument', `--since takes a duration such as 90s, 10m, 2h or 1d, got "${text}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/**
 * `pi s3 events TOPIC`: the bucket event notifications kept in the topic's journal, from `after`
 * (a cursor printed before) or the last `sinceMs`; `--follow` keeps printing new ones. With
 * --json, one event per line: its cursor, id, time and the message as S3 sends it.
 */
export async function events(client: OpsClient, out: Output, topic: string, options: { follow: boolean; after?: string; sinceMs?: number }): Promise<void> {
  let query = options.after !== undefined ? `after=${encodeURIComponent(options.after)}` : `sinceMs=${options.sinceMs ?? 3_600_000}`;
  let printed = 0;
  for (;;) {
    const r = await client.get<JournalPage>(`/api/s3/events/${encodeURIComponent(topic)}?${query}&limit=1000&waitMs=${options.follow ? 10_000 : 0}`);
    for (const m of r.events) out.io.stdout.write((out.json ? JSON.stringify(m) : eventLine(m)) + '\n');
    printed += r.events.length;
    query = `after=${encodeURIComponent(r.cursor)}`;
    if (r.more) continue;
    if (!options.follow) {
      if (printed === 0 && !out.json) out.io.stdout.write(`no events on ${topic}${options.after !== undefined ? ` after ${options.after}` : ' in that time'}\n`);
      else if (!out.json) out.io.stdout.write(`(continue after ${r.cursor})\n`);
      return;
    }
  }
}

/** A bucket as `GET /api/s3/buckets` answers it. */
type BucketRow = BucketInventoryRow;

/** `pi s3 buckets`: every bucket of the ring, page after page; `--usage` counts objects and bytes. */
export async function buckets(client: OpsClient, out: Output, options: { usage: boolean; maxObjects?: number }): Promise<void> {
  const rows: BucketRow[] = [];
  let after: string | undefined;
  do {
    const q = new URLSearchParams({ limit: '1000', ...(options.usage ? { usage: 'true' } : {}), ...(options.maxObjects ? { maxObjects: String(options.maxObjects) } : {}), ...(after ? { after } : {}) });
    const page = await client.get<{ buckets: BucketRow[]; next?: string }>(`/api/s3/buckets?${q.toString()}`);
    rows.push(...page.buckets);
    after = page.next;
  } while (after !== undefined);
  out.result({ buckets: rows }, () => {
    if (rows.length === 0) return 'no buckets';
    const size = (b: number | undefined): string => (b === undefined ? '' : b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(1)} GiB` : b >= 1024 ** 2 ? `${(b / 1024 ** 2).toFixed(1)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);
    const settings = (b: BucketRow): string => [b.versioning !== 'Unversioned' ? `versioning ${b.versioning}` : '', b.objectLock ? 'object lock' : '', b.defaultEncryption ? `encrypted (${b.defaultEncryption})` : '', b.website ? 'website' : '', b.requesterPays ? 'requester pays' : '', b.indexShards > 1 ? `${b.indexShards} index shards` : '', b.replicatesTo?.length ? `replicates to ${b.replicatesTo.join(' ')}${b.replicationPending || b.replicationFailed ? ` (${b.replicationPending ?? 0} pending, ${b.replicationFailed ?? 0} failed)` : ''}` : ''].filter(Boolean).join(', ');
    const more = (b: BucketRow): string => (b.truncated ? '+' : '');
    const headers = ['BUCKET', 'OWNER', 'REGION', 'CREATED', ...(options.usage ? ['OBJECTS', 'SIZE', 'OLD VERSIONS', 'THEIR SIZE'] : []), 'SETTINGS'];
    const lines = rows.map((b) => [
      b.name,
      b.owner,
      b.region,
      new Date(b.createdAt).toISOString().slice(0, 19).replace('T', ' '),
      ...(options.usage ? [`${b.objects ?? ''}${more(b)}`, `${size(b.bytes)}${more(b)}`, `${b.noncurrentVersions ?? ''}${more(b)}`, `${size(b.noncurrentBytes)}${more(b)}`] : []),
      settings(b),
    ]);
    const objects = rows.reduce((n, b) => n + (b.objects ?? 0), 0);
    const total = options.usage ? `\n${rows.length} bucket${rows.length === 1 ? '' : 's'}, ${objects} object${objects === 1 ? '' : 's'}, ${size(rows.reduce((n, b) => n + (b.bytes ?? 0), 0))}${rows.some((b) => b.truncated) ? ' (+: counting stopped at --max-objects)' : ''}` : `\n${rows.length} bucket${rows.length === 1 ? '' : 's'}`;
    return table(headers, lines) + total;
  });
}
