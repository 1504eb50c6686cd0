/**
 * ListObjectVersions at the protocol level (markers, paging, prefixes, the document's element
 * order, read back by the AWS SDK) and the naming of versions (versioning.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { compareKeys, listObjectVersions, parseListVersionsParams } from '../../../../src/cloud/s3/protocol/listing.ts';
import type { VersionSource } from '../../../../src/cloud/s3/protocol/listing.ts';
import { listVersionsXml } from '../../../../src/cloud/s3/protocol/xml.ts';
import type { VersionSummary } from '../../../../src/cloud/s3/protocol/xml.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import { isVersionId, keyOfVersionSortKey, newVersionId, seqOfVersionId, versionSortKey } from '../../../../src/cloud/s3/versioning.ts';
import { serve } from './sdk-respond.ts';

const T = Date.UTC(2024, 0, 1);
const OWNER = { id: 'owner-id', displayName: 'owner' };

/** Versions of `keys` (each key with `n` versions, newest first; a `!` suffix on a key: its latest is a delete marker). */
function versionsOf(spec: readonly [string, number][]): VersionSummary[] {
  const out: VersionSummary[] = [];
  for (const [name, n] of [...spec].sort((x, y) => compareKeys(x[0].replace(/!$/, ''), y[0].replace(/!$/, '')))) {
    const key = name.replace(/!$/, '');
    for (let i = n; i >= 1; i--) {
      const marker = name.endsWith('!') && i === n;
      out.push({ key, versionId: newVersionId(i, 'ab'.repeat(10)), isLatest: i === n, lastModified: T + i, deleteMarker: marker, ...(marker ? {} : { etag: `e${i}`, size: i }), owner: OWNER });
    }
  }
  return out;
}

/** A source over `all` honouring the hints as the DHT source does (at or after startAt, after startAfter, past skipPrefix). */
function sourceOf(all: readonly VersionSummary[]): VersionSource {
  return async function* (from) {
    for (const v of all) {
      if (from.startAt !== undefined && compareKeys(v.key, from.startAt) < 0) continue;
      if (from.startAfter !== undefined && compareKeys(v.key, from.startAfter) < 0) continue;
      if (from.skipPrefix !== undefined && v.key.startsWith(from.skipPrefix)) continue;
      yield v;
    }
  };
}

const list = (all: readonly VersionSummary[], q: string) => listObjectVersions(sourceOf(all), 'bkt', parseListVersionsParams(new URLSearchParams(q)));
const ids = (r: { versions: readonly VersionSummary[] }) => r.versions.map((v) => `${v.key}@${seqOfVersionId(v.versionId) ?? v.versionId}`);

describe('ListObjectVersions', () => {
  const all = versionsOf([
    ['a', 3],
    ['b!', 2],
    ['c/d', 1],
    ['c/e', 2],
    ['f', 1],
  ]);

  test('key order, newest first; key and version-id markers', async () => {
    assert.deepEqual(ids(await list(all, '')), ['a@3', 'a@2', 'a@1', 'b@2', 'b@1', 'c/d@1', 'c/e@2', 'c/e@1', 'f@1']);
    const first = await list(all, 'max-keys=2');
    assert.deepEqual(ids(first), ['a@3', 'a@2']);
    assert.equal(first.isTruncated, true);
    assert.equal(first.nextKeyMarker, 'a');
    assert.equal(first.nextVersionIdMarker, all[1]!.versionId);
    assert.deepEqual(ids(await list(all, `key-marker=a&version-id-marker=${all[1]!.versionId}`)), ['a@1', 'b@2', 'b@1', 'c/d@1', 'c/e@2', 'c/e@1', 'f@1']);
    assert.deepEqual(ids(await list(all, 'key-marker=a')), ['b@2', 'b@1', 'c/d@1', 'c/e@2', 'c/e@1', 'f@1'], 'a key marker alone skips all of that key');
    const last = await list(all, `key-marker=f&version-id-marker=${all[8]!.versionId}`);
    assert.deepEqual(ids(last), []);
    assert.equal(last.isTruncated, false);
    assert.equal(last.nextKeyMarker, undefined);
  });

  test('prefix and delimiter: a common prefix counts once and ends a page without a version marker', async () => {
    const grouped = await list(all, 'delimiter=/');
    assert.deepEqual(ids(grouped), ['a@3', 'a@2', 'a@1', 'b@2', 'b@1', 'f@1']);
    assert.deepEqual(grouped.commonPrefixes, ['c/']);
    const cut = await list(all, 'delimiter=/&max-keys=6');
    assert.equal(cut.isTruncated, true);
    assert.equal(cut.nextKeyMarker, 'c/');
    assert.equal(cut.nextVersionIdMarker, undefined);
    assert.deepEqual(ids(await list(all, 'delimiter=/&key-marker=c/')), ['f@1']);
    assert.deepEqual(ids(await list(all, 'prefix=c/')), ['c/d@1', 'c/e@2', 'c/e@1']);
  });

  test('bad parameters', () => {
    assert.throws(
      () => parseListVersionsParams(new URLSearchParams('version-id-marker=null')),
      (e: unknown) => e instanceof S3Error && e.code === 'InvalidArgument' && /without a key marker/.test(e.message),
    );
    assert.throws(() => parseListVersionsParams(new URLSearchParams('max-keys=-1')), (e: unknown) => e instanceof S3Error && e.code === 'InvalidArgument');
  });

  test('any page size pages through the same listing (property)', async () => {
    const spec = fc.array(fc.tuple(fc.constantFrom('a', 'a/b', 'a/c', 'b', 'b/x/y', 'é', 'z!', 'c!'), fc.integer({ min: 1, max: 4 })), { maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(spec, fc.integer({ min: 1, max: 7 }), fc.constantFrom('', 'a', 'b/'), fc.constantFrom(undefined, '/'), async (s, size, prefix, delimiter) => {
        const unique = [...new Map(s.map(([k, n]) => [k.replace(/!$/, ''), [k, n] as [string, number]])).values()];
        const versions = versionsOf(unique);
        const base = `prefix=${encodeURIComponent(prefix)}${delimiter ? `&delimiter=${delimiter}` : ''}`;
        const whole = await list(versions, base);
        const seen: string[] = [];
        const prefixes: string[] = [];
        let markers = '';
        for (let pages = 0; ; pages++) {
          assert.ok(pages < 100);
          const page = await list(versions, `${base}&max-keys=${size}${markers}`);
          assert.ok(page.versions.length + page.commonPrefixes.length <= size);
          seen.push(...ids(page));
          prefixes.push(...page.commonPrefixes);
          if (!page.isTruncated) break;
          markers = `&key-marker=${encodeURIComponent(page.nextKeyMarker!)}${page.nextVersionIdMarker ? `&version-id-marker=${page.nextVersionIdMarker}` : ''}`;
        }
        assert.deepEqual(seen, ids(whole));
        assert.deepEqual(prefixes, whole.commonPrefixes);
      }),
      { seed: 7, numRuns: 150 },
    );
  });

  test('the document interleaves versions and delete markers in listing order; the SDK reads it', async () => {
    const xml = listVersionsXml(await list(all, 'max-keys=5'));
    const order = [...xml.matchAll(/<(Version|DeleteMarker)>/g)].map((m) => m[1]);
    assert.deepEqual(order, ['Version', 'Version', 'Version', 'DeleteMarker', 'Version']);
    assert.match(xml, /<DeleteMarker><Owner><ID>owner-id<\/ID><DisplayName>owner<\/DisplayName><\/Owner><Key>b<\/Key>/);
    const client = serve(async (req) => ({ status: 200, body: listVersionsXml(await listObjectVersions(sourceOf(all), 'bkt', parseListVersionsParams(req.query))) }));
    try {
      const out = await client.send(new ListObjectVersionsCommand({ Bucket: 'bkt', MaxKeys: 5 }));
      assert.deepEqual(out.Versions?.map((v) => [v.Key, v.IsLatest, v.Size]), [['a', true, 3], ['a', false, 2], ['a', false, 1], ['b', false, 1]]);
      assert.deepEqual(out.DeleteMarkers?.map((v) => [v.Key, v.IsLatest, v.VersionId]), [['b', true, all[3]!.versionId]]);
      assert.equal(out.IsTruncated, true);
      assert.equal(out.NextKeyMarker, 'b');
      assert.equal(out.NextVersionIdMarker, all[4]!.versionId);
    } finally {
      client.destroy();
    }
  });
});

describe('version names', () => {
  test('ids carry their sequence number; sort keys order a key\'s versions newest first and name their key', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }).filter((k) => !k.includes('\u0001')), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 }), (key, x, y) => {
        const vid = 'f0'.repeat(16);
        assert.equal(seqOfVersionId(newVersionId(x, vid)), x);
        assert.ok(isVersionId(newVersionId(x, vid)));
        assert.equal(keyOfVersionSortKey(versionSortKey(key, x)), key);
        if (x !== y) assert.equal(Math.sign(compareKeys(versionSortKey(key, x), versionSortKey(key, y))), x > y ? -1 : 1);
      }),
      { seed: 3 },
    );
    assert.ok(isVersionId('null'));
    assert.ok(!isVersionId('NULL'));
    assert.ok(!isVersionId('0'.repeat(31)));
    assert.equal(seqOfVersionId('null'), undefined);
  });
});
