/**
 * Damaged chunk files on a 3-node loopback ring (the file engine, real disks): a GET through a
 * node whose copy rotted fails instead of answering wrong bytes, the copy is quarantined and
 * restored, and the next GET is whole; a scrub pass started through `pi s3 scrub` finds a rotted
 * copy nobody read and restores it; the ops API and the metrics report both; a chunk rotten on
 * every node is reported as lost (exit code, log, alert) and never served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { TOKEN, call, waitFor } from '../../node/fixtures.ts';
import { bytes, pattern, rawRequest, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runPi as pi } from '../../helpers/pi-cli.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

/** Flips one byte in the middle of a file, in place (what bit rot does). */
async function rot(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    const { size } = await fh.stat();
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size >> 1);
    b[0] = b[0]! ^ 0x20;
    await fh.write(b, 0, 1, size >> 1);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('damaged chunk files on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let a: S3Client[];
  let alice: TestUser;
  const data = pattern(1024 * 1024 + 4321, 77); // five 256 KiB chunks in the test rings
  let hashes: string[];

  const chunkFile = (node: S3Node, hash: string): string => join(node.dir, 's3', 'chunks', hash.slice(0, 2), hash);

  before(async () => {
    ({ nodes, alice, aliceClients: a } = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['rot'] }));
    await a[0]!.send(new PutObjectCommand({ Bucket: 'rot', Key: 'object', Body: data }));
    const catalog = nodes[0]!.s3.catalog;
    const entry = await catalog.getObject((await catalog.bucket('rot'))!, 'object');
    hashes = (await catalog.chunkList(entry!)).map((c) => c.hash);
    assert.equal(hashes.length, 5);
    // Every node holds every chunk (3 nodes, 3 copies) once the third copies arrived.
    await waitFor(() => nodes.every((n) => hashes.every((h) => existsSync(chunkFile(n, h)))), { timeoutMs: 20_000, what: 'three copies of every chunk' });
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('a GET through a node whose copy rotted fails instead of answering wrong bytes; the copy is quarantined and restored, and the next GET is whole', async () => {
    const node = nodes[0]!;
    const victim = hashes[2]!;
    await rot(chunkFile(node, victim));

    // A raw GET: the SDK would catch the damage itself with the object's CRC32, not every client does.
    let got: Buffer | undefined;
    let failure: unknown;
    try {
      const r = await rawRequest(node.endpoint, alice, { method: 'GET', path: '/rot/object' });
      got = r.body;
    } catch (err) {
      failure = err;
    }
    assert.ok(failure !== undefined || got?.equals(data), 'never wrong bytes');
    assert.ok(failure !== undefined, `the transfer through the rotted copy fails (got ${got?.length} bytes)`);

    await waitFor(() => node.s3.store.stats.restored >= 1, { timeoutMs: 10_000, what: 'the copy restored' });
    assert.equal(sha256(await readFile(chunkFile(node, victim))), victim, 'the file on disk is whole again');
    const quarantined = await readdir(join(node.dir, 's3', 'chunks', 'quarantine'));
    assert.equal(quarantined.length, 1);
    assert.ok(quarantined[0]!.startsWith(victim), 'the rotted file is kept aside');
    assert.notEqual(sha256(await readFile(join(node.dir, 's3', 'chunks', 'quarantine', quarantined[0]!))), victim);
    assert.ok(node.store.entries.some((e) => e['code'] === 'ChunkCorrupt' && e['hash'] === victim), 'logged with its code');

    assert.ok((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket: 'rot', Key: 'object' }))).Body)).equals(data));
  });

  test('pi s3 scrub finds a rotted copy nobody read and restores it; the ops API and the metrics count it', async () => {
    const node = nodes[1]!;
    const victim = hashes[4]!;
    await rot(chunkFile(node, victim));
    const target = ['--ops', node.ops!.url, '--token', TOKEN];

    const started = await pi(['--json', 's3', 'scrub', '--wait', ...target]);
    assert.equal(started.code, 0, started.out);
    const status = JSON.parse(started.out) as { running: boolean; passes: number; chunks: number; corrupt: number; damage: { corrupt: number; restored: number } };
    assert.equal(status.running, false);
    assert.equal(status.passes, 1);
    assert.ok(status.chunks >= hashes.length, `every chunk checked (${status.chunks})`);
    assert.equal(status.corrupt, 1, 'the scrubber found the rotted copy');
    assert.deepEqual({ corrupt: status.damage.corrupt, restored: status.damage.restored }, { corrupt: 1, restored: 1 });
    assert.equal(sha256(await readFile(chunkFile(node, victim))), victim, 'restored on disk');

    const shown = await pi(['s3', 'scrub', '--status', ...target]);
    assert.match(shown.out, /damaged copies\s+1 found \(scrub and reads\), 1 restored, 0 not restored/);
    const metrics = (await call(node.ops!.url, '/metrics')).text;
    assert.match(metrics, /^pi_s3_chunks_corrupt_total 1$/m);
    assert.match(metrics, /^pi_s3_chunks_restored_total 1$/m);
    assert.match(metrics, /^pi_s3_scrub_passes_total 1$/m);
    // The pass left its record for the next start.
    const saved = JSON.parse(await readFile(join(node.dir, 's3', 'scrub.json'), 'utf8')) as { lastPassFinishedAt?: number; cursor?: string };
    assert.ok(saved.lastPassFinishedAt !== undefined && saved.cursor === undefined);

    assert.ok((await bytes((await a[1]!.send(new GetObjectCommand({ Bucket: 'rot', Key: 'object' }))).Body)).equals(data));
  });

  test('a chunk rotten on every node cannot be restored: the scrubber says so, the node raises a critical alert, and reads fail rather than answer wrong bytes', async () => {
    const victim = hashes[0]!;
    for (const n of nodes) await rot(chunkFile(n, victim));
    const node = nodes[2]!;
    const r = await pi(['--json', 's3', 'scrub', '--wait', '--ops', node.ops!.url, '--token', TOKEN]);
    assert.equal(r.code, 1, 'exit 1: a damaged chunk could not be restored');
    assert.equal((JSON.parse(r.out) as { damage: { unrestored: number } }).damage.unrestored, 1);
    assert.ok(node.store.entries.some((e) => e['code'] === 'ChunkUnrestored' && e['hash'] === victim));
    node.s3.checkHealth();
    const alert = node.node.alerts.list().find((a) => a.code === 'ChunkUnrestored');
    assert.equal(alert?.severity, 'critical');
    // Refused (503: no good copy answered) or cut short: never a 200 with the rotten bytes.
    const answer = await rawRequest(node.endpoint, alice, { method: 'GET', path: '/rot/object' }).catch((err: Error) => err);
    if (!(answer instanceof Error)) assert.equal(answer.status, 503, `GET answered ${answer.status}`);
  });
});
