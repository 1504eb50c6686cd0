/**
 * Pi Cloud S3 with rclone, unchanged: Debian's `rclone` (CI installs it through .ci/run), its S3
 * backend configured only through environment variables (provider Other, path style) and pointed
 * at a 3-node loopback ring, a different node for each step: mkdir, copy of a tree with a
 * multipart upload (5 MiB cutoff and parts), ls / lsl / lsjson, check (MD5: the ETag of
 * single-part objects, rclone's own metadata for the multipart ones), sync with a deleted, a
 * changed and a touched file (the touch is a server-side copy onto itself), server-side multipart
 * copy, cat with ranges, copy back byte for byte, deletefile / rmdir, cleanup of a pending upload
 * (ListMultipartUploads, AbortMultipartUpload), purge; versioning (old versions listed and read with
 * --s3-versions, removed by cleanup-hidden). rclone runs without retries, so every
 * error shows. The test fails, not skips, when rclone is missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateMultipartUploadCommand, HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clientFor, createUser, pattern, startS3Ring } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { tempDir } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const run = promisify(execFile);
const RCLONE = existsSync('/usr/bin/rclone') ? '/usr/bin/rclone' : 'rclone';
const MiB = 1024 * 1024;
/** Upload and copy cutoffs and part size: the 12 MiB file goes up (and is copied) in 3 parts. */
const MULTIPART = ['--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', '--s3-copy-cutoff', '5M'];
const BUCKET = 'rclone-bucket';

/** One entry of `rclone lsjson`. */
interface LsJson {
  Path: string;
  Name: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  Hashes?: { md5?: string };
}

const md5 = (data: Buffer | string): string => createHash('md5').update(data).digest('hex');

describe('rclone against a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let user: TestUser;
  let dir: string;
  let src: string;
  /** The local tree as it should be on the ring: path → bytes and modification time. */
  const files = new Map<string, { data: Buffer; mtime: Date }>();

  before(async () => {
    try {
      await run(RCLONE, ['version']);
    } catch (err) {
      throw new Error(`rclone is not installed (apt-get install -y rclone, as .ci/run does): ${(err as Error).message}`);
    }
    nodes = await startS3Ring((fn) => cleanups.push(fn), 3);
    user = await createUser(nodes[0]!, 'rclone-user');
    dir = await tempDir((fn) => cleanups.push(fn), 'pi-s3-rclone-');
    await writeFile(join(dir, 'rclone.conf'), ''); // the remote comes from the environment only
    src = join(dir, 'src');
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  /** rclone's environment: nothing of ours leaks in (no AWS_* variables, no config file). */
  function env(node: S3Node): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'],
      HOME: dir,
      XDG_CACHE_HOME: join(dir, 'cache'),
      RCLONE_CONFIG: join(dir, 'rclone.conf'),
      RCLONE_CONFIG_PI_TYPE: 's3',
      RCLONE_CONFIG_PI_PROVIDER: 'Other',
      RCLONE_CONFIG_PI_ENV_AUTH: 'false',
      RCLONE_CONFIG_PI_ACCESS_KEY_ID: user.accessKey,
      RCLONE_CONFIG_PI_SECRET_ACCESS_KEY: user.secret,
      RCLONE_CONFIG_PI_ENDPOINT: node.endpoint,
      RCLONE_CONFIG_PI_REGION: 'us-east-1',
      RCLONE_CONFIG_PI_FORCE_PATH_STYLE: 'true',
    };
  }

  /** Runs rclone against node `i`, without retries; rejects on a non-zero exit. */
  async function rclone(i: number, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
    try {
      return await run(RCLONE, ['--retries', '1', '--low-level-retries', '1', ...args], { env: env(nodes[i]!), maxBuffer: 64 * MiB, encoding: 'utf8' });
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string; code?: number };
      throw Object.assign(new Error(`rclone ${args.join(' ')} (node ${i}) exited with ${e.code}:\n${e.stderr ?? ''}`), { code: e.code, stdout: e.stdout, stderr: e.stderr });
    }
  }

  /** Expects rclone to fail; resolves with its exit code and standard error. */
  async function rcloneFails(i: number, ...args: string[]): Promise<{ code: number; stderr: string }> {
    try {
      await rclone(i, ...args);
    } catch (err) {
      const e = err as Error & { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
    assert.fail(`rclone ${args.join(' ')} succeeded`);
  }

  async function putLocal(path: string, data: Buffer | string, mtime: string): Promise<void> {
    const full = join(src, path);
    await mkdir(join(full, '..'), { recursive: true });
    await writeFile(full, data);
    await utimes(full, new Date(mtime), new Date(mtime));
    files.set(path, { data: Buffer.from(data), mtime: new Date(mtime) });
  }

  async function lsjson(i: number, path: string, ...flags: string[]): Promise<LsJson[]> {
    const { stdout } = await rclone(i, 'lsjson', '-R', ...flags, `pi:${path}`);
    return (JSON.parse(stdout) as LsJson[]).filter((e) => !e.IsDir).sort((a, b) => (a.Path < b.Path ? -1 : 1));
  }

  /** Asserts that the ring holds exactly the local tree under `path` (names, sizes, times, MD5s). */
  async function assertRemoteMatches(i: number, path: string): Promise<void> {
    const listing = await lsjson(i, path, '--hash');
    const expected = [...files.keys()].sort();
    assert.deepEqual(
      listing.map((e) => e.Path),
      expected,
    );
    for (const e of listing) {
      const local = files.get(e.Path)!;
      assert.equal(e.Size, local.data.length, `${e.Path}: size`);
      assert.equal(Date.parse(e.ModTime), local.mtime.getTime(), `${e.Path}: modification time (rclone's x-amz-meta-mtime)`);
      assert.equal(e.Hashes?.md5, md5(local.data), `${e.Path}: MD5`);
    }
  }

  test('mkdir makes the bucket; a second mkdir of an own bucket succeeds', async () => {
    await rclone(0, 'mkdir', `pi:${BUCKET}`);
    await rclone(1, 'mkdir', `pi:${BUCKET}`); // BucketAlreadyOwnedByYou is success to rclone
    const { stdout } = await rclone(2, 'lsd', 'pi:');
    assert.match(stdout, new RegExp(` ${BUCKET}$`, 'm'));
  });

  test('copy of a local tree, the 12 MiB file as a 3-part multipart upload', async () => {
    await putLocal('a.txt', 'file a\n', '2024-01-02T03:04:05.000Z');
    await putLocal('big.bin', pattern(12 * MiB + 5, 11), '2024-02-03T04:05:06.789Z');
    await putLocal('c.bin', pattern(300_000, 12), '2024-03-04T05:06:07.000Z');
    await putLocal('sub/b.txt', 'file b\n', '2024-04-05T06:07:08.500Z');
    await putLocal('sub/deeper/d.bin', pattern(5 * MiB, 13), '2024-05-06T07:08:09.000Z'); // at the cutoff: one part
    await putLocal('spaces and + ü 漢字 %41.txt', 'odd name\n', '2024-06-07T08:09:10.000Z');

    // -vv: rclone compares the ETag CompleteMultipartUpload returns with the MD5 of the parts' MD5s.
    const { stderr } = await rclone(1, 'copy', '-vv', '--s3-use-multipart-etag=true', ...MULTIPART, src, `pi:${BUCKET}/tree`);
    assert.equal(stderr.match(/: Copied \(new\)/g)?.length, files.size, stderr);
    assert.match(stderr, /big\.bin: Multipart upload Etag: [0-9a-f]{32}-3 OK/);
    assert.doesNotMatch(stderr, /ERROR/);

    const head = await clientFor(nodes[2]!.endpoint, user).send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'tree/big.bin' }));
    assert.match(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/, 'stored as a 3-part upload');
    assert.equal(head.Metadata?.['md5chksum'], Buffer.from(md5(files.get('big.bin')!.data), 'hex').toString('base64'), "rclone's MD5 of the whole file, kept as metadata");
    const atCutoff = await clientFor(nodes[2]!.endpoint, user).send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'tree/sub/deeper/d.bin' }));
    assert.match(atCutoff.ETag ?? '', /^"[0-9a-f]{32}-1"$/, 'at the cutoff: a multipart upload of one part');
    const single = await clientFor(nodes[2]!.endpoint, user).send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'tree/c.bin' }));
    assert.equal(single.ETag, `"${md5(files.get('c.bin')!.data)}"`, 'below the cutoff: one PUT, the ETag is the MD5');
  });

  test('ls / lsl / lsjson / lsf list names, sizes, times and MD5s, paging through v1 and v2 listings', async () => {
    const ls = await rclone(2, 'ls', `pi:${BUCKET}`);
    const sizes = new Map(
      ls.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const m = /^\s*(\d+) (.+)$/.exec(line)!;
          return [m[2]!, Number(m[1])] as const;
        }),
    );
    assert.deepEqual(new Map([...files].map(([path, f]) => [`tree/${path}`, f.data.length])), sizes);

    const lsl = await rclone(0, 'lsl', `pi:${BUCKET}/tree/sub`);
    assert.match(lsl.stdout, /^\s+7 2024-04-05 06:07:08\.500000000 b\.txt$/m);
    assert.match(lsl.stdout, new RegExp(`^\\s+${5 * MiB} 2024-05-06 07:08:09\\.000000000 deeper/d\\.bin$`, 'm'));

    await assertRemoteMatches(1, `${BUCKET}/tree`);

    // Listings two keys a page, with and without a delimiter, ListObjects v1 (markers) and v2 (tokens).
    const all = [...files.keys()].sort();
    for (const version of ['1', '2']) {
      const paged = await rclone(2, 'lsf', '-R', '--files-only', '--s3-list-chunk', '2', '--s3-list-version', version, `pi:${BUCKET}/tree`);
      assert.deepEqual(paged.stdout.trim().split('\n').sort(), all, `list version ${version}`);
      const flat = await rclone(0, 'lsf', '-R', '--files-only', '--fast-list', '--s3-list-chunk', '2', '--s3-list-version', version, `pi:${BUCKET}/tree`);
      assert.deepEqual(flat.stdout.trim().split('\n').sort(), all, `list version ${version}, no delimiter`);
    }
  });

  test('check compares MD5s: no difference, then the differences of a changed local tree', async () => {
    const ok = await rclone(0, 'check', '-v', src, `pi:${BUCKET}/tree`);
    assert.match(ok.stderr, /Using md5 for hash comparisons/);
    assert.match(ok.stderr, /0 differences found/);
    assert.match(ok.stderr, new RegExp(`${files.size} matching files`));

    // c.bin keeps its size: only the hash tells it apart.
    await putLocal('c.bin', pattern(300_000, 99), '2024-03-04T05:06:07.000Z');
    await rm(join(src, 'a.txt'));
    files.delete('a.txt');
    await putLocal('sub/b.txt', 'file b, longer now\n', '2025-01-01T00:00:00.000Z');
    const failed = await rcloneFails(1, 'check', src, `pi:${BUCKET}/tree`);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /3 differences found/);
    assert.match(failed.stderr, /c\.bin: md5 differ/);
    assert.match(failed.stderr, /a\.txt: file not in Local file system/);
    assert.match(failed.stderr, /sub\/b\.txt: sizes differ/);
  });

  test('sync uploads the changed files, deletes the deleted one, updates a touched one in place', async () => {
    // big.bin: same bytes, another time → rclone rewrites its metadata with a CopyObject onto itself.
    const big = files.get('big.bin')!;
    await putLocal('big.bin', big.data, '2025-02-03T04:05:06.000Z');
    // c.bin (changed above, same size and time, which sync takes as unchanged) gets a new time too.
    await putLocal('c.bin', files.get('c.bin')!.data, '2025-03-04T05:06:07.000Z');
    await putLocal('new/e.txt', 'new file\n', '2025-03-01T00:00:00.000Z');

    const { stderr } = await rclone(2, 'sync', '-v', ...MULTIPART, src, `pi:${BUCKET}/tree`);
    assert.match(stderr, /c\.bin: Copied \(replaced existing\)/);
    assert.match(stderr, /sub\/b\.txt: Copied \(replaced existing\)/);
    assert.match(stderr, /new\/e\.txt: Copied \(new\)/);
    assert.match(stderr, /a\.txt: Deleted/);
    assert.match(stderr, /big\.bin: Updated modification time in destination/);
    assert.doesNotMatch(stderr, /ERROR/);

    await assertRemoteMatches(0, `${BUCKET}/tree`);
    const again = await rclone(1, 'check', src, `pi:${BUCKET}/tree`);
    assert.match(again.stderr, /0 differences found/);
    const head = await clientFor(nodes[1]!.endpoint, user).send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'tree/big.bin' }));
    assert.match(head.ETag ?? '', /-3"$/, 'the copy onto itself kept the multipart object');
  });

  test('server-side copies: a small one (CopyObject) and the big one in parts (UploadPartCopy)', async () => {
    const { stderr } = await rclone(0, 'copy', '-vv', ...MULTIPART, `pi:${BUCKET}/tree`, `pi:${BUCKET}/copy`);
    assert.match(stderr, /big\.bin: Starting {1,2}multipart copy with 3 parts/);
    assert.equal(stderr.match(/Copied \(server-side copy\)/g)?.length, files.size, stderr);
    assert.doesNotMatch(stderr, /ERROR/);
    const check = await rclone(1, 'check', src, `pi:${BUCKET}/copy`);
    assert.match(check.stderr, /0 differences found/);
  });

  test('cat of one object, whole and by ranges across part boundaries', async () => {
    assert.equal((await rclone(1, 'cat', `pi:${BUCKET}/tree/sub/b.txt`)).stdout, 'file b, longer now\n');
    assert.equal((await rclone(2, 'cat', `pi:${BUCKET}/tree/spaces and + ü 漢字 %41.txt`)).stdout, 'odd name\n');
    const big = files.get('big.bin')!.data;
    const slice = await run(RCLONE, ['cat', '--offset', String(5 * MiB - 10), '--count', '30', `pi:${BUCKET}/copy/big.bin`], { env: env(nodes[0]!), encoding: 'buffer' });
    assert.ok(slice.stdout.equals(big.subarray(5 * MiB - 10, 5 * MiB + 20)), 'a range across the first part boundary');
    const tail = await run(RCLONE, ['cat', '--tail', '7', `pi:${BUCKET}/tree/big.bin`], { env: env(nodes[1]!), encoding: 'buffer' });
    assert.ok(tail.stdout.equals(big.subarray(big.length - 7)), 'a suffix range');
  });

  test('copy back to local: every file byte for byte, with its modification time', async () => {
    const back = join(dir, 'back');
    await rclone(0, 'copy', `pi:${BUCKET}`, back);
    for (const prefix of ['tree', 'copy']) {
      for (const [path, f] of files) {
        const data = await readFile(join(back, prefix, path));
        assert.ok(data.equals(f.data), `${prefix}/${path} comes back byte for byte`);
        assert.equal((await stat(join(back, prefix, path))).mtime.getTime(), f.mtime.getTime(), `${prefix}/${path}: modification time`);
      }
    }
    const local = await rclone(2, 'check', src, join(back, 'tree'));
    assert.match(local.stderr, /0 differences found/);
  });

  test('versioning: backend versioning, old versions listed with --s3-versions, cleanup-hidden removes them', async () => {
    const bucket = 'rclone-versions';
    await rclone(0, 'mkdir', `pi:${bucket}`);
    assert.match((await rclone(0, 'backend', 'versioning', `pi:${bucket}`, 'Enabled')).stdout, /Enabled/);
    const first = join(dir, 'first.txt');
    const second = join(dir, 'second.txt');
    await writeFile(first, 'first version\n');
    await writeFile(second, 'second version, longer\n');
    await rclone(0, 'copyto', first, `pi:${bucket}/doc.txt`);
    await rclone(0, 'copyto', second, `pi:${bucket}/doc.txt`);
    assert.equal((await rclone(1, 'cat', `pi:${bucket}/doc.txt`)).stdout, 'second version, longer\n');
    const plain = await rclone(1, 'lsf', `pi:${bucket}`);
    assert.deepEqual(plain.stdout.trim().split('\n'), ['doc.txt']);
    const all = (await rclone(2, 'lsf', '--s3-versions', `pi:${bucket}`)).stdout.trim().split('\n').sort();
    assert.equal(all.length, 2, all.join(', '));
    assert.ok(all.includes('doc.txt'));
    const old = all.find((n) => n !== 'doc.txt')!;
    assert.match(old, /^doc-v\d{4}-\d{2}-\d{2}-\d{6}-\d{3}\.txt$/, 'rclone names the old version by its time');
    assert.equal((await rclone(2, 'cat', '--s3-versions', `pi:${bucket}/${old}`)).stdout, 'first version\n');
    await rclone(0, 'backend', 'cleanup-hidden', `pi:${bucket}`);
    assert.deepEqual((await rclone(1, 'lsf', '--s3-versions', `pi:${bucket}`)).stdout.trim().split('\n'), ['doc.txt']);
    await rclone(0, 'purge', `pi:${bucket}`);
    assert.doesNotMatch((await rclone(1, 'lsd', 'pi:')).stdout, /rclone-versions/, 'purge removed every version and the bucket');
  });

  test('deletefile, rmdir of a non-empty and an empty bucket, cleanup of a pending upload, purge', async () => {
    await rclone(1, 'deletefile', `pi:${BUCKET}/copy/big.bin`);
    const after = await rclone(2, 'lsf', '-R', '--files-only', `pi:${BUCKET}/copy`);
    assert.ok(!after.stdout.split('\n').includes('big.bin'), after.stdout);
    assert.equal(after.stdout.trim().split('\n').length, files.size - 1);

    const refused = await rcloneFails(0, 'rmdir', `pi:${BUCKET}`);
    assert.match(refused.stderr, /BucketNotEmpty/);

    await rclone(2, 'mkdir', 'pi:rclone-empty');
    await rclone(2, 'rmdir', 'pi:rclone-empty');

    // An upload left behind (as by an interrupted client): listed, then aborted by rclone's cleanup.
    const sdk = clientFor(nodes[0]!.endpoint, user);
    const { UploadId } = await sdk.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'left/behind.bin' }));
    await sdk.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'left/behind.bin', UploadId, PartNumber: 1, Body: pattern(1000, 5) }));
    const pending = JSON.parse((await rclone(2, 'backend', 'list-multipart-uploads', `pi:${BUCKET}`)).stdout) as Record<string, { Key: string; UploadId: string }[]>;
    assert.deepEqual(
      pending[BUCKET]?.map((u) => [u.Key, u.UploadId]),
      [['left/behind.bin', UploadId]],
    );
    await rclone(0, 'backend', 'cleanup', '-o', 'max-age=0s', `pi:${BUCKET}`);
    const cleaned = JSON.parse((await rclone(1, 'backend', 'list-multipart-uploads', `pi:${BUCKET}`)).stdout) as Record<string, unknown[]>;
    assert.deepEqual(cleaned[BUCKET], []);

    await rclone(1, 'purge', `pi:${BUCKET}`);
    const { stdout } = await rclone(0, 'lsd', 'pi:');
    assert.doesNotMatch(stdout, /rclone-bucket|rclone-empty/);
    const gone = await rcloneFails(1, 'ls', `pi:${BUCKET}`);
    assert.equal(gone.code, 3, 'directory not found');
  });
});
