/**
 * Pi Cloud S3 as a backup target for restic, unchanged: Debian's `restic` (CI installs it through
 * .ci/run; its S3 backend is minio-go) configured only through environment variables and pointed
 * at a 3-node loopback ring, a different node for each step: init, a backup of a tree with a
 * file larger than restic's pack size (so packs upload in parts), a second backup after changes
 * (deduplicated), snapshots, `check --read-data` (every pack read back and verified), forget and
 * prune (deletes and rewrites packs), restore compared byte for byte, and a repository a wrong
 * password cannot open. The test fails, not skips, when restic is missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { clientFor, createUser, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { tempDir } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const run = promisify(execFile);
const RESTIC = existsSync('/usr/bin/restic') ? '/usr/bin/restic' : 'restic';
const MiB = 1024 * 1024;
const BUCKET = 'restic-repo';

describe('restic against a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  let dir: string;
  let src: string;

  before(async () => {
    try {
      await run(RESTIC, ['version']);
    } catch (err) {
      throw new Error(`restic is not installed (apt-get install -y restic, as .ci/run does): ${(err as Error).message}`);
    }
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3);
    user = await createUser(nodes[0]!, 'restic-user');
    dir = await tempDir((fn) => cleanups.push(fn), 'pi-s3-restic-');
    src = join(dir, 'src');
    await mkdir(join(src, 'docs', 'deep'), { recursive: true });
    // Larger than restic's 16 MiB packs: several packs, uploaded by minio-go in parts.
    await writeFile(join(src, 'big.bin'), randomBytes(20 * MiB));
    for (let i = 0; i < 60; i++) await writeFile(join(src, 'docs', `f${i}.dat`), randomBytes(1 + ((i * 7919) % 40_000)));
    await writeFile(join(src, 'docs', 'deep', 'note.txt'), 'hello from restic\n');
    await writeFile(join(src, 'empty'), '');
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  /** restic's environment: nothing of ours leaks in (no AWS_* variables of the test's process). */
  function env(i: number, password = 'correct horse'): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'],
      HOME: dir,
      RESTIC_CACHE_DIR: join(dir, 'cache'),
      RESTIC_PASSWORD: password,
      RESTIC_REPOSITORY: `s3:${nodes[i]!.endpoint}/${BUCKET}`,
      AWS_ACCESS_KEY_ID: user.accessKey,
      AWS_SECRET_ACCESS_KEY: user.secret,
      AWS_DEFAULT_REGION: 'us-east-1',
    };
  }

  /** Runs restic against node `i`; rejects on a non-zero exit with its standard error. */
  async function restic(i: number, ...args: string[]): Promise<string> {
    try {
      return (await run(RESTIC, args, { env: env(i), maxBuffer: 64 * MiB, encoding: 'utf8' })).stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string; code?: number };
      throw new Error(`restic ${args.join(' ')} (node ${i}) exited with ${e.code}:\n${e.stderr ?? ''}`);
    }
  }

  /** Every file under `root`, by relative path, with its bytes. */
  async function tree(root: string): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else out.set(relative(root, p), await readFile(p));
      }
    };
    await walk(root);
    return out;
  }

  async function assertRestored(snapshot: string, i: number): Promise<void> {
    const target = join(dir, `restore-${snapshot}-${i}`);
    await restic(i, 'restore', snapshot, '--target', target);
    const want = await tree(src);
    const got = await tree(join(target, src));
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [path, data] of want) assert.ok(got.get(path)!.equals(data), `${path}: restored byte for byte`);
  }

  test('init, backup and check --read-data through different nodes', async () => {
    await restic(0, 'init');
    const out = await restic(1, 'backup', src, '--json');
    const summary = out.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; files_new?: number; snapshot_id?: string }).find((m) => m.message_type === 'summary');
    assert.equal(summary?.files_new, 63);
    // The repository is in the bucket: config, keys, snapshots, index and data packs.
    const listed = await clientFor(nodes[2]!.endpoint, user).send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: '/' }));
    assert.deepEqual((listed.CommonPrefixes ?? []).map((p) => p.Prefix).sort(), ['data/', 'index/', 'keys/', 'snapshots/']);
    assert.ok(listed.Contents?.some((o) => o.Key === 'config'));
    assert.match(await restic(2, 'check', '--read-data'), /no errors were found/);
  });

  test('a second backup after changes stores only what changed; both snapshots restore byte for byte', async () => {
    await assertRestored('latest', 0);
    await writeFile(join(src, 'docs', 'f3.dat'), randomBytes(5000));
    await rm(join(src, 'docs', 'f4.dat'));
    await writeFile(join(src, 'docs', 'added.txt'), 'added after the first backup\n');
    const out = await restic(2, 'backup', src, '--json');
    const summary = out.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; files_new?: number; files_changed?: number; data_added?: number }).find((m) => m.message_type === 'summary')!;
    assert.equal(summary.files_new, 1);
    assert.equal(summary.files_changed, 1);
    assert.ok(summary.data_added! < MiB, `deduplicated: ${summary.data_added} bytes added`);
    const snapshots = JSON.parse(await restic(0, 'snapshots', '--json')) as { short_id: string }[];
    assert.equal(snapshots.length, 2);
    await assertRestored('latest', 1);
  });

  test('forget --prune deletes and repacks; the repository checks clean and the kept snapshot restores', async () => {
    await restic(1, 'forget', '--keep-last', '1', '--prune');
    const snapshots = JSON.parse(await restic(2, 'snapshots', '--json')) as unknown[];
    assert.equal(snapshots.length, 1);
    assert.match(await restic(0, 'check', '--read-data'), /no errors were found/);
    await assertRestored('latest', 2);
  });

  test('a wrong password cannot open the repository', async () => {
    await assert.rejects(run(RESTIC, ['snapshots'], { env: env(0, 'wrong'), encoding: 'utf8' }), (err: Error & { stderr?: string }) => /wrong password|no key found/i.test(err.stderr ?? ''));
  });
});
