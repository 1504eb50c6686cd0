import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ListObjectsCommand,
  paginateListObjectsV2,
  ListPartsCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
} from '@aws-sdk/client-s3';
import {
  arraySource,
  compareKeys,
  decodeContinuationToken,
  encodeContinuationToken,
  keyAfterPrefix,
  listMultipartUploads,
  listObjectsV1,
  listObjectsV2,
  listPage,
  listParts,
  parseListObjectsV1Params,
  parseListObjectsV2Params,
  parseListPartsParams,
  parseListUploadsParams,
  readStart,
  type UploadSource,
} from '../../../../src/cloud/s3/protocol/listing.ts';
import { listMultipartUploadsXml, listObjectsV1Xml, listObjectsV2Xml, listPartsXml, type ObjectSummary, type UploadSummary } from '../../../../src/cloud/s3/protocol/xml.ts';
import { serve } from './sdk-respond.ts';
import { s3code } from './s3-error.ts';

const T = Date.UTC(2024, 0, 1);
const OWNER = { id: 'owner-id', displayName: 'owner' };

function objects(keys: readonly string[]): ObjectSummary[] {
  return keys.map((key, i) => ({ key, lastModified: T + i, etag: `etag${i}`, size: i, owner: OWNER }));
}


async function page(keys: readonly string[], params: { prefix?: string; delimiter?: string; maxKeys?: number; marker?: string }) {
  const p = await listPage(arraySource(objects(keys)), { prefix: params.prefix ?? '', maxKeys: params.maxKeys ?? 1000, ...params });
  return {
    keys: p.contents.map((c) => c.key),
    prefixes: p.commonPrefixes,
    truncated: p.isTruncated,
    next: p.next,
  };
}

describe('key order', () => {
  test('UTF-8 byte order, not UTF-16 order', () => {
    const keys = ['😀', '\uFFFD', 'z', 'é', '\uE000', 'a', 'A', ''];
    const sorted = [...keys].sort(compareKeys);
    assert.deepEqual(sorted, ['', 'A', 'a', 'z', 'é', '\uE000', '\uFFFD', '😀']);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
        assert.equal(compareKeys(a, b), expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('seeking past a common prefix', () => {
  test('keyAfterPrefix: the first key after every key with the prefix, in code point order', () => {
    assert.equal(keyAfterPrefix('photos/'), 'photos0');
    assert.equal(keyAfterPrefix('a\uD7FF'), 'a\uE000', 'past the last code point before the surrogates');
    assert.equal(keyAfterPrefix('a\uFFFF'), 'a\u{10000}');
    assert.equal(keyAfterPrefix('ab\u{10FFFF}'), 'ac', 'a maximal code point carries');
    assert.equal(keyAfterPrefix('\u{10FFFF}'), undefined);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (prefix, rest, other) => {
        const past = keyAfterPrefix(prefix);
        assert.ok(past !== undefined);
        assert.equal(compareKeys(prefix + rest, past), -1, 'every key with the prefix comes before it');
        if (!other.startsWith(prefix) && compareKeys(other, prefix) > 0) assert.ok(compareKeys(other, past) >= 0, 'every later key without the prefix is at or after it');
      }),
      { numRuns: 2000 },
    );
  });

  test('readStart: the last of prefix, marker and the key past the skipped prefix', () => {
    assert.equal(readStart({ prefix: 'p/' }), 'p/');
    assert.equal(readStart({ prefix: 'p/', startAfter: 'p/b' }), 'p/b');
    assert.equal(readStart({ prefix: 'p/', startAfter: 'a' }), 'p/');
    assert.equal(readStart({ prefix: 'p/', startAfter: 'p/d/x', skipPrefix: 'p/d/' }), 'p/d0');
    assert.equal(readStart({ prefix: '', startAfter: 'z', skipPrefix: 'a/' }), 'z');
    assert.equal(readStart({ prefix: '', skipPrefix: '\u{10FFFF}' }), null);
  });
});

describe('ListObjects semantics (cases of the s3-tests suite, hand-checked)', () => {
  test('delimiter basic', async () => {
    assert.deepEqual(await page(['foo/bar', 'foo/bar/xyzzy', 'quux/thud', 'asdf'], { delimiter: '/' }), {
      keys: ['asdf'],
      prefixes: ['foo/', 'quux/'],
      truncated: false,
      next: undefined,
    });
  });

  test('delimiter paging with max-keys: NextMarker is the common prefix, which is then skipped', async () => {
    const keys = ['asdf', 'boo/bar', 'boo/baz/xyzzy', 'cquux/thud', 'cquux/bla'];
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 1 }), { keys: ['asdf'], prefixes: [], truncated: true, next: 'asdf' });
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 1, marker: 'asdf' }), { keys: [], prefixes: ['boo/'], truncated: true, next: 'boo/' });
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 1, marker: 'boo/' }), { keys: [], prefixes: ['cquux/'], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 2 }), { keys: ['asdf'], prefixes: ['boo/'], truncated: true, next: 'boo/' });
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 2, marker: 'boo/' }), { keys: [], prefixes: ['cquux/'], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { prefix: 'boo/', delimiter: '/', maxKeys: 1 }), { keys: ['boo/bar'], prefixes: [], truncated: true, next: 'boo/bar' });
    assert.deepEqual(await page(keys, { prefix: 'boo/', delimiter: '/', maxKeys: 1, marker: 'boo/bar' }), {
      keys: [],
      prefixes: ['boo/baz/'],
      truncated: false,
      next: undefined,
    });
  });

  test('other delimiters: letter, %, space, dot, newline, multi-character', async () => {
    assert.deepEqual((await page(['bar', 'baz', 'cab', 'foo'], { delimiter: 'a' })).prefixes, ['ba', 'ca']);
    assert.deepEqual((await page(['bar', 'baz', 'cab', 'foo'], { delimiter: 'a' })).keys, ['foo']);
    assert.deepEqual(await page(['b%ar', 'b%az', 'c%ab', 'foo'], { delimiter: '%' }), { keys: ['foo'], prefixes: ['b%', 'c%'], truncated: false, next: undefined });
    assert.deepEqual((await page(['b ar', 'b az', 'c ab', 'foo'], { delimiter: ' ' })).prefixes, ['b ', 'c ']);
    assert.deepEqual((await page(['b.ar', 'b.az', 'c.ab', 'foo'], { delimiter: '.' })).prefixes, ['b.', 'c.']);
    assert.deepEqual((await page(['bar', 'baz', 'cab', 'foo'], { delimiter: '\n' })).keys, ['bar', 'baz', 'cab', 'foo']);
    assert.deepEqual(await page(['a--b--c', 'a--d', 'a-e', 'x', 'y--'], { delimiter: '--' }), {
      keys: ['a-e', 'x'],
      prefixes: ['a--', 'y--'],
      truncated: false,
      next: undefined,
    });
  });

  test('empty or absent delimiter: no grouping', async () => {
    assert.deepEqual((await page(['a/b', 'c'], { delimiter: '' })).keys, ['a/b', 'c']);
    assert.deepEqual((await page(['bar', 'baz'], { delimiter: '/' })).keys, ['bar', 'baz']);
  });

  test('prefix', async () => {
    assert.deepEqual((await page(['foo/bar', 'foo/baz', 'quux'], { prefix: 'foo/' })).keys, ['foo/bar', 'foo/baz']);
    assert.deepEqual((await page(['bar', 'baz', 'foo'], { prefix: 'ba' })).keys, ['bar', 'baz']);
    assert.deepEqual((await page(['bar', 'baz', 'foo'], { prefix: 'd' })).keys, []);
    assert.deepEqual((await page(['bar', 'baz', 'foo'], { prefix: '\n' })).keys, []);
    assert.deepEqual(await page(['foo/bar', 'foo/baz/xyzzy', 'quux/thud', 'asdf'], { prefix: 'foo/', delimiter: '/' }), {
      keys: ['foo/bar'],
      prefixes: ['foo/baz/'],
      truncated: false,
      next: undefined,
    });
    assert.deepEqual(await page(['bar', 'bazar', 'cab', 'foo'], { prefix: 'ba', delimiter: 'a' }), {
      keys: ['bar'],
      prefixes: ['baza'],
      truncated: false,
      next: undefined,
    });
    // The delimiter inside the prefix does not group.
    assert.deepEqual((await page(['a/b/c', 'a/b/d/e'], { prefix: 'a/b', delimiter: '/' })).prefixes, ['a/b/']);
    assert.deepEqual(await page(['a/b/c', 'a/b/d/e'], { prefix: 'a/b/', delimiter: '/' }), { keys: ['a/b/c'], prefixes: ['a/b/d/'], truncated: false, next: undefined });
    // A key equal to the prefix is listed.
    assert.deepEqual((await page(['dir/', 'dir/x'], { prefix: 'dir/', delimiter: '/' })).keys, ['dir/', 'dir/x']);
  });

  test('max-keys', async () => {
    const keys = ['bar', 'baz', 'foo', 'quxx'];
    assert.deepEqual(await page(keys, { maxKeys: 1 }), { keys: ['bar'], prefixes: [], truncated: true, next: 'bar' });
    assert.deepEqual(await page(keys, { maxKeys: 3, marker: 'bar' }), { keys: ['baz', 'foo', 'quxx'], prefixes: [], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { maxKeys: 4 }), { keys, prefixes: [], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { maxKeys: 0 }), { keys: [], prefixes: [], truncated: false, next: undefined });
  });

  test('markers', async () => {
    const keys = ['bar', 'baz', 'foo', 'quxx'];
    assert.deepEqual((await page(keys, { marker: '\n' })).keys, keys);
    assert.deepEqual((await page(keys, { marker: 'blah' })).keys, ['foo', 'quxx']);
    assert.deepEqual((await page(keys, { marker: 'baz' })).keys, ['foo', 'quxx']);
    assert.deepEqual(await page(keys, { marker: 'zzz' }), { keys: [], prefixes: [], truncated: false, next: undefined });
    assert.deepEqual((await page(keys, { marker: 'aaa', prefix: 'f' })).keys, ['foo']);
  });

  test('marker inside a common prefix skips the whole prefix', async () => {
    const keys = ['a/1', 'a/2', 'a/3', 'b'];
    assert.deepEqual(await page(keys, { delimiter: '/', marker: 'a/1' }), { keys: ['b'], prefixes: [], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { delimiter: '/', marker: 'a' }), { keys: ['b'], prefixes: ['a/'], truncated: false, next: undefined });
    // Without a delimiter the marker is just a key position.
    assert.deepEqual((await page(keys, { marker: 'a/1' })).keys, ['a/2', 'a/3', 'b']);
  });

  test('max-keys reached inside a run of keys of one common prefix', async () => {
    const keys = ['a/1', 'a/2', 'a/3', 'b', 'c'];
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 1 }), { keys: [], prefixes: ['a/'], truncated: true, next: 'a/' });
    assert.deepEqual(await page(keys, { delimiter: '/', maxKeys: 2 }), { keys: ['b'], prefixes: ['a/'], truncated: true, next: 'b' });
    // Nothing after the run: not truncated.
    assert.deepEqual(await page(['a/1', 'a/2'], { delimiter: '/', maxKeys: 1 }), { keys: [], prefixes: ['a/'], truncated: false, next: undefined });
  });

  test('unicode keys group and sort by UTF-8', async () => {
    const keys = ['😀/1', '\uFFFD/1', 'é/x', 'z', 'é'];
    assert.deepEqual(await page(keys, { delimiter: '/' }), { keys: ['z', 'é'], prefixes: ['é/', '\uFFFD/', '😀/'], truncated: false, next: undefined });
    assert.deepEqual(await page(keys, { delimiter: '/', marker: '\uFFFD/' }), { keys: [], prefixes: ['😀/'], truncated: false, next: undefined });
    assert.deepEqual(await page(['日本/a', '日本/b', '日本語'], { prefix: '日本', delimiter: '/' }), { keys: ['日本語'], prefixes: ['日本/'], truncated: false, next: undefined });
  });

  test('large common prefixes are skipped by seeking, not by reading every key', async () => {
    const keys = ['a', ...Array.from({ length: 10_000 }, (_, i) => `dir/${String(i).padStart(5, '0')}`), 'z'];
    const source = arraySource(objects(keys));
    const p = await listPage(source, { prefix: '', delimiter: '/', maxKeys: 1000 });
    assert.deepEqual(p.contents.map((c) => c.key), ['a', 'z']);
    assert.deepEqual(p.commonPrefixes, ['dir/']);
    assert.ok(source.reads < 100, `read ${source.reads} entries`);
    assert.equal(source.opens, 2);
    // A marker inside the prefix seeks straight past it.
    const again = arraySource(objects(keys));
    const q = await listPage(again, { prefix: '', delimiter: '/', maxKeys: 1000, marker: 'dir/00005' });
    assert.deepEqual(q.contents.map((c) => c.key), ['z']);
    assert.ok(again.reads < 5);
    // Reading stops as soon as the page is full.
    const stop = arraySource(objects(keys));
    await listPage(stop, { prefix: '', maxKeys: 10 });
    assert.ok(stop.reads <= 11);
  });

  test('a source that ignores the hints gives the same result', async () => {
    const keys = ['a/1', 'a/2', 'b', 'c/1', 'd'];
    const all = objects(keys).sort((x, y) => compareKeys(x.key, y.key));
    const naive = async function* () {
      yield* all;
    };
    const p = await listPage(naive, { prefix: '', delimiter: '/', maxKeys: 2, marker: 'a/1' });
    assert.deepEqual(p.contents.map((c) => c.key), ['b']);
    assert.deepEqual(p.commonPrefixes, ['c/']);
    assert.equal(p.isTruncated, true);
    const q = await listPage(naive, { prefix: 'c', delimiter: '/', maxKeys: 5, marker: 'a' });
    assert.deepEqual(q.commonPrefixes, ['c/']);
  });
});

/** The listing defined directly from the S3 rules, over the whole key set. */
function oracle(keys: readonly string[], prefix: string, delimiter: string | undefined, maxKeys: number, marker: string | undefined) {
  const sorted = [...new Set(keys)].sort(compareKeys);
  const items: { item: string; isPrefix: boolean }[] = [];
  const seen = new Set<string>();
  for (const key of sorted) {
    if (!key.startsWith(prefix)) continue;
    if (marker !== undefined && compareKeys(key, marker) <= 0) continue;
    const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (at >= 0) {
      const cp = key.slice(0, at + delimiter!.length);
      if (seen.has(cp) || (marker !== undefined && compareKeys(cp, marker) <= 0)) continue;
      seen.add(cp);
      items.push({ item: cp, isPrefix: true });
    } else {
      items.push({ item: key, isPrefix: false });
    }
  }
  const taken = maxKeys === 0 ? [] : items.slice(0, maxKeys);
  return {
    keys: taken.filter((i) => !i.isPrefix).map((i) => i.item),
    prefixes: taken.filter((i) => i.isPrefix).map((i) => i.item),
    truncated: maxKeys > 0 && items.length > maxKeys,
  };
}

describe('ListObjects properties', () => {
  const alphabet = fc.constantFrom('a', 'b', '/', '-', 'é', '😀', '\uE000', '%', ' ');
  const key = fc.array(alphabet, { minLength: 1, maxLength: 6 }).map((cs) => cs.join(''));
  const keySet = fc.uniqueArray(key, { maxLength: 40 });
  const delimiter = fc.option(fc.constantFrom('/', '-', '--', 'é', '😀', 'a/'), { nil: undefined });
  const prefix = fc.array(alphabet, { maxLength: 2 }).map((cs) => cs.join(''));
  const marker = fc.option(key, { nil: undefined });

  test('one page equals the listing defined by the rules', async () => {
    await fc.assert(
      fc.asyncProperty(keySet, prefix, delimiter, fc.integer({ min: 0, max: 8 }), marker, fc.integer({ min: 0, max: 3 }), async (keys, p, d, max, m, seekAfter) => {
        const got = await listPage(arraySource(objects(keys)), { prefix: p, maxKeys: max, ...(d !== undefined ? { delimiter: d } : {}), ...(m !== undefined ? { marker: m } : {}) }, { seekAfter });
        const want = oracle(keys, p, d, max, m);
        assert.deepEqual(
          { keys: got.contents.map((c) => c.key), prefixes: got.commonPrefixes, truncated: got.isTruncated },
          want,
        );
      }),
      { numRuns: 400 },
    );
  });

  test('paging with the returned marker visits everything exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(keySet, prefix, delimiter, fc.integer({ min: 1, max: 5 }), async (keys, p, d, max) => {
        const source = arraySource(objects(keys));
        const seen: string[] = [];
        let m: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const pg = await listPage(source, { prefix: p, maxKeys: max, ...(d !== undefined ? { delimiter: d } : {}), ...(m !== undefined ? { marker: m } : {}) });
          const items = [...pg.contents.map((c) => c.key), ...pg.commonPrefixes].sort(compareKeys);
          seen.push(...items);
          if (!pg.isTruncated) break;
          m = pg.next;
        }
        const full = oracle(keys, p, d, 1_000_000, undefined);
        assert.deepEqual(seen, [...full.keys, ...full.prefixes].sort(compareKeys));
      }),
      { numRuns: 300 },
    );
  });
});

describe('ListObjects requests and responses', () => {
  test('v1 parameters', () => {
    assert.deepEqual(parseListObjectsV1Params(new URLSearchParams('')), { prefix: '', marker: '', maxKeys: 1000 });
    assert.deepEqual(parseListObjectsV1Params(new URLSearchParams('prefix=a&delimiter=%2F&marker=m&max-keys=5&encoding-type=url')), {
      prefix: 'a',
      marker: 'm',
      maxKeys: 5,
      delimiter: '/',
      encodingType: 'url',
    });
    assert.equal(parseListObjectsV1Params(new URLSearchParams('max-keys=5000')).maxKeys, 1000);
    assert.equal(parseListObjectsV1Params(new URLSearchParams('max-keys=0')).maxKeys, 0);
    assert.equal(parseListObjectsV1Params(new URLSearchParams('delimiter=')).delimiter, undefined);
    assert.throws(() => parseListObjectsV1Params(new URLSearchParams('max-keys=blah')), s3code('InvalidArgument'));
    assert.throws(() => parseListObjectsV1Params(new URLSearchParams('max-keys=-1')), s3code('InvalidArgument', /between 0 and 2147483647/));
    assert.throws(() => parseListObjectsV1Params(new URLSearchParams('max-keys=99999999999')), s3code('InvalidArgument'));
    assert.throws(() => parseListObjectsV1Params(new URLSearchParams('encoding-type=base64')), s3code('InvalidArgument', /Encoding Method/));
  });

  test('v1 result: NextMarker only with a delimiter; url encoding of the right fields', async () => {
    const source = arraySource(objects(['a b/1', 'a b/2', 'c+d', 'e']));
    const withDelimiter = await listObjectsV1(source, 'bkt', parseListObjectsV1Params(new URLSearchParams('delimiter=/&max-keys=2&encoding-type=url')));
    assert.equal(withDelimiter.nextMarker, 'c+d');
    assert.equal(withDelimiter.isTruncated, true);
    const xml = listObjectsV1Xml(withDelimiter);
    assert.match(xml, /<NextMarker>c%2Bd<\/NextMarker>/);
    assert.match(xml, /<CommonPrefixes><Prefix>a%20b\/<\/Prefix><\/CommonPrefixes>/);
    assert.match(xml, /<Key>c%2Bd<\/Key>/);
    assert.match(xml, /<Owner><ID>owner-id<\/ID>/);
    const without = await listObjectsV1(source, 'bkt', parseListObjectsV1Params(new URLSearchParams('max-keys=2')));
    assert.equal(without.isTruncated, true);
    assert.equal(without.nextMarker, undefined);
    assert.ok(!listObjectsV1Xml(without).includes('NextMarker'));
  });

  test('v2 parameters, tokens and result', async () => {
    assert.deepEqual(parseListObjectsV2Params(new URLSearchParams('list-type=2&fetch-owner=true&start-after=x&continuation-token=t')), {
      prefix: '',
      maxKeys: 1000,
      fetchOwner: true,
      continuationToken: 't',
      startAfter: 'x',
    });
    assert.equal(decodeContinuationToken(encodeContinuationToken('ü/😀 x')), 'ü/😀 x');
    for (const bad of ['', 'garbage', Buffer.from('other:x').toString('base64'), '!!!!']) {
      assert.throws(() => decodeContinuationToken(bad), s3code('InvalidArgument', /continuation token/), bad);
    }
    const source = arraySource(objects(['a', 'b', 'c', 'd/1', 'd/2', 'e']));
    const first = await listObjectsV2(source, 'bkt', parseListObjectsV2Params(new URLSearchParams('max-keys=2&start-after=a&delimiter=/')));
    assert.deepEqual(first.contents.map((c) => c.key), ['b', 'c']);
    assert.equal(first.keyCount, 2);
    assert.equal(first.startAfter, 'a');
    assert.ok(first.nextContinuationToken);
    const second = await listObjectsV2(
      source,
      'bkt',
      parseListObjectsV2Params(new URLSearchParams({ 'max-keys': '2', 'start-after': 'a', delimiter: '/', 'continuation-token': first.nextContinuationToken! })),
    );
    assert.deepEqual(second.commonPrefixes, ['d/']);
    assert.deepEqual(second.contents.map((c) => c.key), ['e']);
    assert.equal(second.keyCount, 2);
    assert.equal(second.isTruncated, false);
    assert.equal(second.continuationToken, first.nextContinuationToken);
    assert.equal(second.nextContinuationToken, undefined);
    await assert.rejects(listObjectsV2(source, 'bkt', parseListObjectsV2Params(new URLSearchParams('continuation-token=bogus'))), s3code('InvalidArgument'));
    // An empty token is no token (and is echoed), as S3 answers.
    const empty = await listObjectsV2(source, 'bkt', parseListObjectsV2Params(new URLSearchParams('continuation-token=&max-keys=2')));
    assert.deepEqual(empty.contents.map((c) => c.key), ['a', 'b']);
    assert.equal(empty.continuationToken, '');
    assert.ok(listObjectsV2Xml(empty).includes('<ContinuationToken></ContinuationToken>'));
  });

  test('the AWS SDK paginators walk v1 (with delimiter) and v2 listings to the end', async () => {
    const keys = [
      ...Array.from({ length: 25 }, (_, i) => `file-${String(i).padStart(2, '0')}`),
      ...Array.from({ length: 30 }, (_, i) => `dir${i % 7}/x${i}`),
      'ü/1',
      'a b+c',
      '😀',
    ];
    const source = arraySource(objects(keys));
    const client = serve(async (req) => {
      const v2 = req.query.get('list-type') === '2';
      const body = v2
        ? listObjectsV2Xml(await listObjectsV2(source, 'bkt', parseListObjectsV2Params(req.query)))
        : listObjectsV1Xml(await listObjectsV1(source, 'bkt', parseListObjectsV1Params(req.query)));
      return { status: 200, body };
    });
    try {
      const expected = oracle(keys, '', '/', 1_000_000, undefined);
      const v2Keys: string[] = [];
      const v2Prefixes: string[] = [];
      let pages = 0;
      for await (const p of paginateListObjectsV2({ client, pageSize: 4 }, { Bucket: 'bkt', Delimiter: '/' })) {
        pages++;
        v2Keys.push(...(p.Contents ?? []).map((c) => c.Key!));
        v2Prefixes.push(...(p.CommonPrefixes ?? []).map((c) => c.Prefix!));
      }
      assert.deepEqual(v2Keys, expected.keys);
      assert.deepEqual(v2Prefixes, expected.prefixes);
      assert.equal(pages, Math.ceil((expected.keys.length + expected.prefixes.length) / 4));

      // v1 has no SDK paginator: follow NextMarker as clients do.
      const v1Items: string[] = [];
      let marker: string | undefined;
      for (let guard = 0; guard < 100; guard++) {
        const p = await client.send(new ListObjectsCommand({ Bucket: 'bkt', Delimiter: '/', MaxKeys: 5, ...(marker ? { Marker: marker } : {}) }));
        v1Items.push(...(p.Contents ?? []).map((c) => c.Key!), ...(p.CommonPrefixes ?? []).map((c) => c.Prefix!));
        if (!p.IsTruncated) break;
        marker = p.NextMarker;
        assert.ok(marker);
      }
      assert.deepEqual(v1Items.sort(compareKeys), [...expected.keys, ...expected.prefixes].sort(compareKeys));

      const all: string[] = [];
      for await (const p of paginateListObjectsV2({ client, pageSize: 7 }, { Bucket: 'bkt' })) all.push(...(p.Contents ?? []).map((c) => c.Key!));
      assert.deepEqual(all, [...keys].sort(compareKeys));

      const first = await client.send(new ListObjectsCommand({ Bucket: 'bkt', MaxKeys: 0 }));
      assert.equal(first.IsTruncated, false);
      assert.equal(first.Contents, undefined);
    } finally {
      client.destroy();
    }
  });
});

describe('ListMultipartUploads', () => {
  const uploads: UploadSummary[] = [
    ['a', 'u1'],
    ['a', 'u2'],
    ['b', 'u1'],
    ['c/d', 'u1'],
    ['c/e', 'u1'],
    ['f', 'u1'],
  ].map(([key, uploadId], i) => ({ key: key!, uploadId: uploadId!, initiator: OWNER, owner: OWNER, initiated: T + i }));
  const source: UploadSource = async function* (from) {
    for (const u of uploads) {
      if (from.startAfter !== undefined) {
        const c = compareKeys(u.key, from.startAfter);
        if (c < 0 || (c === 0 && (from.startAfterUploadId === undefined || compareKeys(u.uploadId, from.startAfterUploadId) <= 0))) continue;
      }
      yield u;
    }
  };
  const list = (q: string) => listMultipartUploads(source, 'bkt', parseListUploadsParams(new URLSearchParams(q)));
  const ids = (r: { uploads: readonly UploadSummary[] }) => r.uploads.map((u) => `${u.key}:${u.uploadId}`);

  test('paging by key and upload id markers', async () => {
    const first = await list('max-uploads=2');
    assert.deepEqual(ids(first), ['a:u1', 'a:u2']);
    assert.equal(first.isTruncated, true);
    assert.equal(first.nextKeyMarker, 'a');
    assert.equal(first.nextUploadIdMarker, 'u2');
    assert.deepEqual(ids(await list('key-marker=a&upload-id-marker=u1')), ['a:u2', 'b:u1', 'c/d:u1', 'c/e:u1', 'f:u1']);
    assert.deepEqual(ids(await list('key-marker=a&upload-id-marker=u2&max-uploads=1')), ['b:u1']);
    assert.deepEqual(ids(await list('key-marker=a')), ['b:u1', 'c/d:u1', 'c/e:u1', 'f:u1']);
    const ignored = await list('upload-id-marker=u1');
    assert.equal(ignored.uploadIdMarker, '');
    assert.equal(ignored.uploads.length, 6);
    const last = await list('key-marker=c/e&upload-id-marker=u1');
    assert.deepEqual(ids(last), ['f:u1']);
    assert.equal(last.isTruncated, false);
    assert.equal(last.nextKeyMarker, '');
  });

  test('prefix and delimiter', async () => {
    const grouped = await list('delimiter=/');
    assert.deepEqual(ids(grouped), ['a:u1', 'a:u2', 'b:u1', 'f:u1']);
    assert.deepEqual(grouped.commonPrefixes, ['c/']);
    const cut = await list('delimiter=/&max-uploads=4');
    assert.deepEqual(cut.commonPrefixes, ['c/']);
    assert.equal(cut.isTruncated, true);
    assert.equal(cut.nextKeyMarker, 'c/');
    assert.equal(cut.nextUploadIdMarker, '');
    const after = await list('delimiter=/&key-marker=c/');
    assert.deepEqual(ids(after), ['f:u1']);
    assert.deepEqual(ids(await list('prefix=c/')), ['c/d:u1', 'c/e:u1']);
    assert.throws(() => parseListUploadsParams(new URLSearchParams('max-uploads=x')), s3code('InvalidArgument'));
  });

  test('read back by the AWS SDK', async () => {
    const client = serve(async (req) => ({ status: 200, body: listMultipartUploadsXml(await listMultipartUploads(source, 'bkt', parseListUploadsParams(req.query))) }));
    try {
      const out: ListMultipartUploadsCommandOutput = await client.send(new ListMultipartUploadsCommand({ Bucket: 'bkt', MaxUploads: 3, KeyMarker: 'a', UploadIdMarker: 'u1' }));
      assert.deepEqual(out.Uploads?.map((u) => `${u.Key}:${u.UploadId}`), ['a:u2', 'b:u1', 'c/d:u1']);
      assert.equal(out.IsTruncated, true);
      assert.equal(out.NextKeyMarker, 'c/d');
      assert.equal(out.NextUploadIdMarker, 'u1');
    } finally {
      client.destroy();
    }
  });
});

describe('ListParts', () => {
  const parts = Array.from({ length: 5 }, (_, i) => ({ partNumber: i + 1, lastModified: T, etag: `e${i + 1}`, size: 5 * 1024 * 1024 }));
  const source = (after: number) => parts.filter((p) => p.partNumber > after);
  const context = { bucket: 'bkt', key: 'k', uploadId: 'u', initiator: OWNER, owner: OWNER };

  test('paging', async () => {
    const first = await listParts(source, context, parseListPartsParams(new URLSearchParams('max-parts=2')));
    assert.deepEqual(first.parts.map((p) => p.partNumber), [1, 2]);
    assert.equal(first.isTruncated, true);
    assert.equal(first.nextPartNumberMarker, 2);
    const last = await listParts(source, context, parseListPartsParams(new URLSearchParams('max-parts=2&part-number-marker=4')));
    assert.deepEqual(last.parts.map((p) => p.partNumber), [5]);
    assert.equal(last.isTruncated, false);
    assert.equal(last.nextPartNumberMarker, 5);
    const empty = await listParts(source, context, parseListPartsParams(new URLSearchParams('part-number-marker=5')));
    assert.deepEqual(empty.parts, []);
    assert.equal(empty.nextPartNumberMarker, 0);
    const all = await listParts(source, context, parseListPartsParams(new URLSearchParams('')));
    assert.equal(all.parts.length, 5);
    assert.equal(all.maxParts, 1000);
    assert.throws(() => parseListPartsParams(new URLSearchParams('part-number-marker=x')), s3code('InvalidArgument'));
    assert.throws(() => parseListPartsParams(new URLSearchParams('max-parts=-2')), s3code('InvalidArgument'));
  });

  test('read back by the AWS SDK, following NextPartNumberMarker until IsTruncated is false', async () => {
    // (The SDK's paginateListParts ignores IsTruncated and loops against S3 itself.)
    const client = serve(async (req) => ({ status: 200, body: listPartsXml(await listParts(source, context, parseListPartsParams(req.query))) }));
    try {
      const seen: number[] = [];
      let marker: string | undefined;
      for (let guard = 0; guard < 10; guard++) {
        const p = await client.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'k', UploadId: 'u', MaxParts: 2, ...(marker ? { PartNumberMarker: marker } : {}) }));
        seen.push(...(p.Parts ?? []).map((x) => x.PartNumber!));
        if (!p.IsTruncated) break;
        marker = p.NextPartNumberMarker;
      }
      assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    } finally {
      client.destroy();
    }
  });
});
