/**
 * Browser-based uploads with HTTP POST (PostObject) on a 3-node loopback ring: forms made by the
 * AWS SDK's `createPresignedPost` and sent with `fetch` + FormData as a browser would, the objects
 * read back through the SDK (bytes, ETag, Content-Type, metadata, tags, ACL and grants, checksum); every
 * answer (`success_action_status` 200 / 201 / 204, `success_action_redirect`) and every refusal
 * (expired policy, bad signature, unknown key, conditions, extra fields, content-length-range,
 * missing or misplaced fields, anonymous forms, no write permission, malformed bodies, forms too
 * large, non-form POSTs) — with nothing stored by a refused upload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListObjectsV2Command, PutBucketAclCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import type { PresignedPostOptions } from '@aws-sdk/s3-presigned-post';
import { waitFor } from '../../node/fixtures.ts';
import { bytes, clientFor, pattern, s3failure, startS3Fixture } from './harness.ts';
import type { S3Node, TestUser } from './harness.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

const KiB = 1024;

/** What a form POST answered. */
interface Answer {
  status: number;
  headers: Headers;
  body: string;
  code: string | undefined;
  message: string | undefined;
}

async function answer(res: Response): Promise<Answer> {
  const body = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body,
    code: /<Code>([^<]*)<\/Code>/.exec(body)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(body)?.[1]?.replace(/&quot;/g, '"'),
  };
}

/**
 * Sends a form the way a browser does: `fields` in order, then the file (a Blob with a file
 * name, unless `file` is a string: text content), then `after` (fields after the file).
 */
async function postForm(url: string, fields: Record<string, string> | [string, string][], file: Buffer | string | undefined, options: { filename?: string; after?: [string, string][] } = {}): Promise<Answer> {
  const form = new FormData();
  for (const [name, value] of Array.isArray(fields) ? fields : Object.entries(fields)) form.append(name, value);
  if (typeof file === 'string') form.append('file', file);
  else if (file !== undefined) form.append('file', new Blob([file]), options.filename ?? 'upload.bin');
  for (const [name, value] of options.after ?? []) form.append(name, value);
  return answer(await fetch(url, { method: 'POST', body: form, redirect: 'manual' }));
}

/** A raw POST with the given Content-Type and body (for malformed forms). */
function rawPost(url: string, contentType: string | undefined, body: Buffer): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-length': String(body.length) };
    if (contentType !== undefined) headers['content-type'] = contentType;
    const r = request({ host: u.hostname, port: u.port, method: 'POST', path: u.pathname, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        resolve({
          status: res.statusCode ?? 0,
          headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
          body: text,
          code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1],
          message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1],
        });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

describe('S3 POST uploads (browser forms, SigV4 POST policies) on a 3-node ring', () => {
  const cleanups: (() => Promise<void>)[] = [];
  let nodes: S3Node[];
  let alice: TestUser;
  /** Alice's client on each node. */
  let a: S3Client[];
  let b: S3Client;
  let anon: S3Client;

  /** A form for alice's bucket `forms` made by the SDK through node `via`. */
  function presign(options: Omit<PresignedPostOptions, 'Bucket'> & { Bucket?: string }, client = a[0]!): ReturnType<typeof createPresignedPost> {
    return createPresignedPost(client, { Bucket: 'forms', Expires: 600, ...options });
  }

  /** The URL of a bucket at node `i`. */
  function bucketUrl(i: number, bucket = 'forms'): string {
    return `${nodes[i]!.endpoint}/${bucket}`;
  }

  async function missing(key: string, bucket = 'forms'): Promise<void> {
    await s3failure(a[1]!.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), undefined, 404);
  }

  before(async () => {
    const fixture = await startS3Fixture((fn) => cleanups.push(fn), { buckets: ['forms', 'dropbox'] });
    ({ nodes, alice, aliceClients: a } = fixture);
    b = fixture.bobClients[1]!;
    anon = fixture.anonymousClients[2]!;
    await a[0]!.send(new PutBucketAclCommand({ Bucket: 'dropbox', ACL: 'public-read-write' }));
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  test('an SDK-made form uploads a multi-chunk file through another node: 201 PostResponse, the object read back byte for byte with its Content-Type and metadata', async () => {
    const data = pattern(1536 * KiB + 123, 7);
    const { url, fields } = await presign({
      Key: 'uploads/${filename}',
      Conditions: [['content-length-range', 1, 4 * 1024 * KiB], ['starts-with', '$Content-Type', 'image/'], ['starts-with', '$x-amz-meta-camera', '']],
      Fields: { success_action_status: '201', 'Content-Type': 'image/png', 'x-amz-meta-camera': 'pinhole' },
    });
    assert.equal(url, bucketUrl(0), 'the SDK posts to the bucket URL');
    const res = await postForm(bucketUrl(1), fields, data, { filename: 'holiday.png' });
    assert.equal(res.status, 201, res.body);
    assert.match(res.headers.get('content-type') ?? '', /application\/xml/);
    assert.equal(/<Bucket>([^<]*)<\/Bucket>/.exec(res.body)?.[1], 'forms');
    assert.equal(/<Key>([^<]*)<\/Key>/.exec(res.body)?.[1], 'uploads/holiday.png', '${filename} is the file name');
    assert.equal(/<ETag>([^<]*)<\/ETag>/.exec(res.body)?.[1], `&quot;${md5(data)}&quot;`);
    assert.equal(/<Location>([^<]*)<\/Location>/.exec(res.body)?.[1], `${nodes[1]!.endpoint}/forms/uploads/holiday.png`);
    assert.equal(res.headers.get('etag'), `"${md5(data)}"`);

    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'forms', Key: 'uploads/holiday.png' }));
    assert.ok((await bytes(got.Body)).equals(data), 'the same bytes');
    assert.equal(got.ContentLength, data.length);
    assert.equal(got.ETag, `"${md5(data)}"`);
    assert.equal(got.ContentType, 'image/png');
    assert.deepEqual(got.Metadata, { camera: 'pinhole' });
  });

  test('success_action_status 200 and 204 (the default, also for an invalid value) answer empty with ETag and Location; a text file field; an empty file', async () => {
    for (const [status, expected] of [['200', 200], ['204', 204], ['299', 204], [undefined, 204]] as const) {
      const key = `status/${status ?? 'none'}`;
      const { fields } = await presign({ Key: key, Fields: status === undefined ? {} : { success_action_status: status } });
      const res = await postForm(bucketUrl(2), fields, Buffer.from(`body ${key}`));
      assert.equal(res.status, expected, `${status}: ${res.body}`);
      assert.equal(res.body, '');
      assert.equal(res.headers.get('etag'), `"${md5(`body ${key}`)}"`);
      assert.equal(res.headers.get('location'), `${nodes[2]!.endpoint}/forms/${key.split('/').map(encodeURIComponent).join('/')}`);
      assert.equal((await bytes((await a[0]!.send(new GetObjectCommand({ Bucket: 'forms', Key: key }))).Body)).toString(), `body ${key}`);
    }
    // Text content in a plain field named file (a <textarea name="file">).
    const text = await presign({ Key: 'text.txt' });
    assert.equal((await postForm(bucketUrl(0), text.fields, 'typed in a text area ✓')).status, 204);
    const got = await a[1]!.send(new GetObjectCommand({ Bucket: 'forms', Key: 'text.txt' }));
    assert.equal((await bytes(got.Body)).toString(), 'typed in a text area ✓');
    assert.equal(got.ContentType, 'binary/octet-stream', 'without a Content-Type field, the default type');
    // An empty file.
    const empty = await presign({ Key: 'empty' });
    assert.equal((await postForm(bucketUrl(1), empty.fields, Buffer.alloc(0))).status, 204);
    assert.equal((await a[2]!.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'empty' }))).ContentLength, 0);
  });

  test('success_action_redirect (and the older redirect): 303 to the URL with bucket, key and etag added; an unusable URL is ignored', async () => {
    const data = Buffer.from('redirected');
    const { fields } = await presign({ Key: 'r/a b.txt', Fields: { success_action_redirect: 'https://app.example/done?from=form#top' } });
    const res = await postForm(bucketUrl(0), fields, data);
    assert.equal(res.status, 303, res.body);
    assert.equal(res.headers.get('location'), `https://app.example/done?from=form&bucket=forms&key=r%2Fa%20b.txt&etag=${encodeURIComponent(`"${md5(data)}"`)}#top`);
    assert.equal(res.headers.get('etag'), `"${md5(data)}"`);

    const old = await presign({ Key: 'r/old', Fields: { redirect: 'http://app.example/ok' } });
    const res2 = await postForm(bucketUrl(1), old.fields, data);
    assert.equal(res2.status, 303);
    assert.match(res2.headers.get('location') ?? '', /^http:\/\/app\.example\/ok\?bucket=forms&key=r%2Fold&etag=/);

    const bad = await presign({ Key: 'r/bad', Fields: { success_action_redirect: 'not a url', success_action_status: '200' } });
    assert.equal((await postForm(bucketUrl(2), bad.fields, data)).status, 200, 'S3 ignores a URL it cannot interpret');
  });

  test('form fields become the object: acl, tagging, Cache-Control and the other stored headers, Content-MD5 and a checksum', async () => {
    const data = Buffer.from('public, tagged and checked');
    const sha256 = createHash('sha256').update(data).digest('base64');
    const tagging = '<Tagging><TagSet><Tag><Key>project</Key><Value>blue</Value></Tag><Tag><Key>from</Key><Value>form</Value></Tag></TagSet></Tagging>';
    const { fields } = await presign({
      Key: 'fields.txt',
      Fields: {
        acl: 'public-read',
        tagging,
        'Content-Type': 'text/plain',
        'Cache-Control': 'max-age=60',
        'Content-Disposition': 'attachment; filename="f.txt"',
        'Content-MD5': createHash('md5').update(data).digest('base64'),
        'x-amz-checksum-sha256': sha256,
        'x-amz-storage-class': 'STANDARD_IA',
      },
    });
    const res = await postForm(bucketUrl(1), fields, data);
    assert.equal(res.status, 204, res.body);
    assert.equal(res.headers.get('x-amz-checksum-sha256'), sha256);
    const got = await anon.send(new GetObjectCommand({ Bucket: 'forms', Key: 'fields.txt', ChecksumMode: 'ENABLED' }));
    assert.equal((await bytes(got.Body)).toString(), data.toString(), 'public-read: anyone reads it');
    assert.equal(got.CacheControl, 'max-age=60');
    assert.equal(got.ContentDisposition, 'attachment; filename="f.txt"');
    assert.equal(got.ChecksumSHA256, sha256);
    assert.equal(got.StorageClass, 'STANDARD_IA');
    const tags = await a[2]!.send(new GetObjectTaggingCommand({ Bucket: 'forms', Key: 'fields.txt' }));
    assert.deepEqual(tags.TagSet, [
      { Key: 'project', Value: 'blue' },
      { Key: 'from', Value: 'form' },
    ]);

    // Wrong digests: BadDigest, nothing stored.
    const wrongMd5 = await presign({ Key: 'bad-md5', Fields: { 'Content-MD5': createHash('md5').update('other').digest('base64') } });
    const r1 = await postForm(bucketUrl(0), wrongMd5.fields, data);
    assert.equal(r1.code, 'BadDigest', r1.body);
    const wrongSum = await presign({ Key: 'bad-sum', Fields: { 'x-amz-checksum-sha256': createHash('sha256').update('other').digest('base64') } });
    const r2 = await postForm(bucketUrl(0), wrongSum.fields, data);
    assert.equal(r2.code, 'BadDigest', r2.body);
    assert.equal(r2.status, 400);
    await missing('bad-md5');
    await missing('bad-sum');
  });

  test('ACL grant fields as PutObject\'s grant headers: x-amz-grant-read to everyone; with acl as well, InvalidRequest', async () => {
    const everyone = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"';
    const { fields } = await presign({ Key: 'granted.txt', Fields: { 'x-amz-grant-read': everyone } });
    assert.equal((await postForm(bucketUrl(2), fields, Buffer.from('for all'))).status, 204);
    assert.equal((await bytes((await anon.send(new GetObjectCommand({ Bucket: 'forms', Key: 'granted.txt' }))).Body)).toString(), 'for all');
    await s3failure(anon.send(new GetObjectCommand({ Bucket: 'forms', Key: 'text.txt' })), 'AccessDenied', 403);

    const both = await presign({ Key: 'both.txt', Fields: { acl: 'public-read', 'x-amz-grant-read': everyone } });
    const r = await postForm(bucketUrl(0), both.fields, Buffer.from('x'));
    assert.equal(r.status, 400);
    assert.equal(r.code, 'InvalidRequest');
    await missing('both.txt');
  });

  test('an expired policy, a bad signature, an unknown access key: refused before anything is stored', async () => {
    const expired = await presign({ Key: 'expired', Expires: -60 });
    const r1 = await postForm(bucketUrl(0), expired.fields, Buffer.from('x'));
    assert.equal(r1.status, 403);
    assert.equal(r1.code, 'AccessDenied');
    assert.equal(r1.message, 'Invalid according to Policy: Policy expired.');

    const good = await presign({ Key: 'signed' });
    const tampered = { ...good.fields, 'X-Amz-Signature': good.fields['X-Amz-Signature']!.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
    const r2 = await postForm(bucketUrl(1), tampered, Buffer.from('x'));
    assert.equal(r2.status, 403);
    assert.equal(r2.code, 'SignatureDoesNotMatch');

    // A policy changed after signing (a longer expiry) no longer matches its signature.
    const policy = JSON.parse(Buffer.from(good.fields['Policy']!, 'base64').toString()) as { expiration: string };
    policy.expiration = '2099-01-01T00:00:00Z';
    const r3 = await postForm(bucketUrl(2), { ...good.fields, Policy: Buffer.from(JSON.stringify(policy)).toString('base64') }, Buffer.from('x'));
    assert.equal(r3.code, 'SignatureDoesNotMatch');

    const stranger = clientFor(nodes[0]!.endpoint, { name: 'x', id: 'x', accessKey: 'PINOSUCHKEY', secret: 'secret' });
    const unknown = await presign({ Key: 'unknown' }, stranger);
    const r4 = await postForm(bucketUrl(0), unknown.fields, Buffer.from('x'));
    assert.equal(r4.status, 403);
    assert.equal(r4.code, 'InvalidAccessKeyId');
    stranger.destroy();

    await missing('expired');
    await missing('signed');
    await missing('unknown');
    // The untouched form still works.
    assert.equal((await postForm(bucketUrl(2), good.fields, Buffer.from('x'))).status, 204);
  });

  test('policy conditions: exact and starts-with matches, the eq form, extra fields, x-ignore- fields, the bucket', async () => {
    const { fields } = await presign({ Key: 'user/alice/${filename}', Conditions: [['eq', '$Content-Type', 'text/plain'], ['starts-with', '$x-amz-meta-note', 'ok:']] });
    const base = { ...fields, 'Content-Type': 'text/plain', 'x-amz-meta-note': 'ok: fine' };
    assert.equal((await postForm(bucketUrl(0), base, Buffer.from('1'), { filename: 'one.txt' })).status, 204);
    assert.equal((await a[1]!.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'user/alice/one.txt' }))).Metadata?.['note'], 'ok: fine');

    // The key outside the prefix.
    const r1 = await postForm(bucketUrl(1), { ...base, key: 'user/bob/x' }, Buffer.from('1'));
    assert.equal(r1.status, 403);
    assert.equal(r1.code, 'AccessDenied');
    assert.equal(r1.message, 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/alice/"]');
    // A different Content-Type.
    const r2 = await postForm(bucketUrl(1), { ...base, 'Content-Type': 'text/html' }, Buffer.from('1'));
    assert.equal(r2.message, 'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "text/plain"]');
    // A field the policy names, missing from the form.
    const withoutNote: Record<string, string> = { ...base };
    delete withoutNote['x-amz-meta-note'];
    const r3 = await postForm(bucketUrl(2), withoutNote, Buffer.from('1'));
    assert.equal(r3.message, 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-note", "ok:"]');
    // A field the policy does not name.
    const r4 = await postForm(bucketUrl(0), { ...base, 'x-amz-meta-extra': 'sneaky' }, Buffer.from('1'), { filename: 'two.txt' });
    assert.equal(r4.status, 403);
    assert.equal(r4.message, 'Invalid according to Policy: Extra input fields: x-amz-meta-extra');
    await missing('user/alice/two.txt');
    // x-ignore- fields need no condition.
    assert.equal((await postForm(bucketUrl(0), { ...base, 'x-ignore-tracking': 'abc' }, Buffer.from('3'), { filename: 'three.txt' })).status, 204);
    // The policy's bucket condition against another bucket (alice may write to dropbox).
    const r5 = await postForm(bucketUrl(1, 'dropbox'), base, Buffer.from('1'), { filename: 'four.txt' });
    assert.equal(r5.status, 403);
    assert.equal(r5.message, 'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "forms"]');
    await missing('user/alice/four.txt', 'dropbox');
  });

  test('content-length-range: EntityTooSmall and EntityTooLarge (the file stopped mid-stream), nothing stored; the bounds themselves pass', async () => {
    const { fields } = await presign({ Key: 'sized', Conditions: [['content-length-range', 10, 300 * KiB]] });
    const small = await postForm(bucketUrl(0), fields, Buffer.from('tiny'));
    assert.equal(small.status, 400);
    assert.equal(small.code, 'EntityTooSmall');
    assert.match(small.body, /<ProposedSize>4<\/ProposedSize><MinSizeAllowed>10<\/MinSizeAllowed>/);
    const large = await postForm(bucketUrl(1), fields, pattern(900 * KiB, 3));
    assert.equal(large.status, 400);
    assert.equal(large.code, 'EntityTooLarge');
    assert.match(large.body, /<MaxSizeAllowed>307200<\/MaxSizeAllowed>/);
    await missing('sized');
    assert.equal((await postForm(bucketUrl(2), fields, pattern(10, 1))).status, 204);
    assert.equal((await postForm(bucketUrl(2), fields, pattern(300 * KiB, 2))).status, 204);
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'sized' }))).ContentLength, 300 * KiB);
  });

  test('missing or misplaced fields: no key, key after the file, no file, policy without signature, signature without policy', async () => {
    const { fields } = await presign({ Key: 'placed' });
    const withoutKey: Record<string, string> = { ...fields };
    delete withoutKey['key'];
    const r1 = await postForm(bucketUrl(0), withoutKey, Buffer.from('x'));
    assert.equal(r1.status, 400);
    assert.equal(r1.code, 'InvalidArgument');
    assert.equal(r1.message, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.");
    assert.match(r1.body, /<ArgumentName>key<\/ArgumentName>/);
    // The file must be the last field: a key after it is not read.
    const r2 = await postForm(bucketUrl(1), withoutKey, Buffer.from('x'), { after: [['key', 'placed']] });
    assert.equal(r2.code, 'InvalidArgument');
    assert.match(r2.message ?? '', /field named 'key'/);
    await missing('placed');
    // Fields after the file are ignored, not checked against the policy.
    assert.equal((await postForm(bucketUrl(2), fields, Buffer.from('x'), { after: [['x-amz-meta-late', 'ignored']] })).status, 204);
    assert.equal((await a[0]!.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'placed' }))).Metadata?.['late'], undefined);

    const r3 = await postForm(bucketUrl(0), fields, undefined);
    assert.equal(r3.status, 400);
    assert.equal(r3.code, 'IncorrectNumberOfFilesInPostRequest');

    const unsigned: Record<string, string> = { ...fields };
    delete unsigned['X-Amz-Signature'];
    const r4 = await postForm(bucketUrl(1), unsigned, Buffer.from('x'));
    assert.equal(r4.code, 'InvalidArgument');
    assert.match(r4.message ?? '', /field named 'x-amz-signature'/);

    const noPolicy: Record<string, string> = { ...fields };
    delete noPolicy['Policy'];
    const r5 = await postForm(bucketUrl(2), noPolicy, Buffer.from('x'));
    assert.equal(r5.code, 'InvalidArgument');
    assert.match(r5.message ?? '', /field named 'policy'/);
  });

  test('encryption fields: an SSE-C form over plain HTTP is refused and stores nothing (https.test.ts posts one over HTTPS); SSE-S3 without a master key is NotImplemented, SSE-KMS over plain HTTP InvalidArgument', async () => {
    const key = Buffer.alloc(32, 0x77);
    const sse = {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': key.toString('base64'),
      'x-amz-server-side-encryption-customer-key-MD5': createHash('md5').update(key).digest('base64'),
    };
    const form = await presign({ Key: 'sealed/file', Conditions: Object.entries(sse).map(([k, v]) => ({ [k]: v })), Fields: sse });
    const res = await postForm(bucketUrl(2), form.fields, pattern(300 * KiB, 17));
    assert.equal(res.status, 400, res.body);
    assert.equal(res.code, 'InvalidRequest');
    assert.match(res.message ?? '', /must be made over a secure connection/);
    await missing('sealed/file');

    for (const [value, name, status, code] of [['AES256', 'sse-s3', 501, 'NotImplemented'], ['aws:kms', 'kms', 400, 'InvalidArgument']] as const) {
      const f = await presign({ Key: `sealed/${name}`, Conditions: [{ 'x-amz-server-side-encryption': value }], Fields: { 'x-amz-server-side-encryption': value } });
      const refused = await postForm(bucketUrl(1), f.fields, 'x');
      assert.equal(refused.status, status, refused.body);
      assert.equal(refused.code, code);
      // SSE-KMS over plain HTTP is refused as S3 refuses it (sse-kms.test.ts posts one over HTTPS).
      if (name === 'kms') assert.match(refused.message ?? '', /must be made over a secure connection/);
      await missing(`sealed/${name}`);
    }
  });

  test('anonymous forms (no policy): refused on a private bucket, accepted on a public-read-write one (the object is the bucket owner\'s)', async () => {
    const r1 = await postForm(bucketUrl(0), { key: 'anon.txt' }, Buffer.from('from nobody'));
    assert.equal(r1.status, 403);
    assert.equal(r1.code, 'AccessDenied');
    await missing('anon.txt');

    const r2 = await postForm(bucketUrl(1, 'dropbox'), { key: 'anon-${filename}', 'Content-Type': 'text/plain' }, Buffer.from('from nobody'), { filename: 'C:\\Users\\me\\note.txt' });
    assert.equal(r2.status, 204, r2.body);
    const got = await a[2]!.send(new GetObjectCommand({ Bucket: 'dropbox', Key: 'anon-note.txt' }));
    assert.equal((await bytes(got.Body)).toString(), 'from nobody', 'only the last part of a path is the file name');
    assert.equal(got.ContentType, 'text/plain');
    const listed = await a[0]!.send(new ListObjectsV2Command({ Bucket: 'dropbox', Prefix: 'anon-', FetchOwner: true }));
    assert.equal(listed.Contents?.[0]?.Owner?.ID, alice.id, "an anonymous upload belongs to the bucket's owner");
  });

  test('a signer without write permission on the bucket is refused; with it (public-read-write), bob\'s upload is his', async () => {
    const bobs = await presign({ Key: 'by-bob' }, b);
    const r1 = await postForm(bucketUrl(0), bobs.fields, Buffer.from('x'));
    assert.equal(r1.status, 403);
    assert.equal(r1.code, 'AccessDenied');
    assert.equal(r1.message, 'Access Denied');
    await missing('by-bob');

    const toDropbox = await presign({ Bucket: 'dropbox', Key: 'by-bob' }, b);
    assert.equal((await postForm(bucketUrl(2, 'dropbox'), toDropbox.fields, Buffer.from('bob was here'))).status, 204);
    assert.equal((await bytes((await b.send(new GetObjectCommand({ Bucket: 'dropbox', Key: 'by-bob' }))).Body)).toString(), 'bob was here');
  });

  test('malformed requests: not a form, no boundary, a broken body, a cut-off file, fields too large, a bad policy document', async () => {
    const r1 = await rawPost(bucketUrl(0), 'application/x-www-form-urlencoded', Buffer.from('key=a&file=b'));
    assert.equal(r1.status, 412);
    assert.equal(r1.code, 'PreconditionFailed');
    assert.match(r1.body, /<Condition>Bucket POST must be of the enclosure-type multipart\/form-data<\/Condition>/);

    const r2 = await rawPost(bucketUrl(1), 'multipart/form-data', Buffer.from('whatever'));
    assert.equal(r2.status, 400);
    assert.equal(r2.code, 'MalformedPOSTRequest');

    const boundary = 'XyZ';
    const part = (name: string, value: string, filename?: string): string =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename === undefined ? '' : `; filename="${filename}"`}\r\n\r\n${value}\r\n`;
    const r3 = await rawPost(bucketUrl(2, 'dropbox'), `multipart/form-data; boundary=${boundary}`, Buffer.from(`${part('key', 'broken')}--${boundary}\r\nno header end`));
    assert.equal(r3.status, 400);
    assert.equal(r3.code, 'MalformedPOSTRequest');
    assert.match(r3.message ?? '', /Malformed part header/);
    // The file's part never ends: nothing is stored.
    const r4 = await rawPost(bucketUrl(0, 'dropbox'), `multipart/form-data; boundary=${boundary}`, Buffer.from(`${part('key', 'cut')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\npartial data`));
    assert.equal(r4.status, 400);
    assert.equal(r4.code, 'MalformedPOSTRequest');
    assert.match(r4.message ?? '', /Unexpected end of form/);
    await missing('cut', 'dropbox');
    // The file is whole but the form after it is not (no closing boundary): nothing is stored either.
    const r4b = await rawPost(bucketUrl(0, 'dropbox'), `multipart/form-data; boundary=${boundary}`, Buffer.from(`${part('key', 'unclosed')}${part('file', 'all of it', 'f')}--${boundary}\r\nContent-Disposition: form-data; name="late"\r\n\r\nno end`));
    assert.equal(r4b.code, 'MalformedPOSTRequest');
    await missing('unclosed', 'dropbox');

    // A client gone in the middle of the file: the upload ends (nothing in flight, nothing stored).
    const head = Buffer.from(`${part('key', 'abandoned')}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const u = new URL(bucketUrl(1, 'dropbox'));
      const r = request({ host: u.hostname, port: u.port, method: 'POST', path: u.pathname, headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + 4 * 1024 * KiB) } });
      r.on('error', () => resolve());
      r.write(Buffer.concat([head, pattern(700 * KiB, 9)]), () => {
        r.destroy();
        resolve();
      });
    });
    await waitFor(() => nodes[1]!.s3.summary()['activeRequests'] === 0, { timeoutMs: 10_000, what: 'the abandoned upload to end' });
    await missing('abandoned', 'dropbox');

    const r5 = await postForm(bucketUrl(1, 'dropbox'), { key: 'big-fields', 'x-ignore-padding': 'p'.repeat(21 * KiB) }, Buffer.from('x'));
    assert.equal(r5.status, 400);
    assert.equal(r5.code, 'MaxPostPreDataLengthExceededError');
    await missing('big-fields', 'dropbox');

    const { fields } = await presign({ Key: 'bad-policy' });
    const r6 = await postForm(bucketUrl(2), { ...fields, Policy: 'not base64 !' }, Buffer.from('x'));
    assert.equal(r6.code, 'SignatureDoesNotMatch', 'the signature covers the policy as sent');
  });
});
