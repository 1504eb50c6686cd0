import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectTaggingCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketAclCommand,
  PutBucketVersioningCommand,
  PutObjectTaggingCommand,
  UploadPartCopyCommand,
  type CompleteMultipartUploadCommandOutput,
  type CopyObjectCommandOutput,
  type CreateMultipartUploadCommandOutput,
  type DeleteObjectsCommandOutput,
  type GetBucketAclCommandOutput,
  type GetBucketLocationCommandOutput,
  type GetBucketVersioningCommandOutput,
  type GetObjectTaggingCommandOutput,
  type ListBucketsCommandOutput,
  type ListMultipartUploadsCommandOutput,
  type ListObjectsCommandOutput,
  type ListObjectsV2CommandOutput,
  type ListPartsCommandOutput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import {
  ACL_GROUPS,
  S3_XMLNS,
  accessControlPolicyXml,
  completeMultipartUploadXml,
  copyObjectResultXml,
  copyPartResultXml,
  deleteResultXml,
  initiateMultipartUploadXml,
  isoTimestamp,
  listAllMyBucketsXml,
  listMultipartUploadsXml,
  listObjectsV1Xml,
  listObjectsV2Xml,
  listPartsXml,
  locationConstraintXml,
  parseAccessControlPolicy,
  parseCompleteMultipartUpload,
  parseCreateBucketConfiguration,
  parseDeleteObjects,
  parseTagging,
  parseVersioningConfiguration,
  quoteEtag,
  taggingXml,
  unquoteEtag,
  validateTagSet,
  versioningConfigurationXml,
} from '../../../../src/cloud/s3/protocol/xml.ts';
import { MAX_XML_ATTRIBUTES, MAX_XML_ELEMENTS, parseXmlDocument } from '../../../../src/cloud/s3/protocol/xml-parse.ts';
import { escapeXml } from '../../../../src/cloud/s3/protocol/xml-escape.ts';
import { ownershipControlsXml, parseObjectOwnership, parseOwnershipControls } from '../../../../src/cloud/s3/protocol/ownership.ts';
import { parsePublicAccessBlock, publicAccessBlockXml } from '../../../../src/cloud/s3/protocol/public-access.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/errors.ts';
import { respond } from './sdk-respond.ts';
import { capture } from './sdk-capture.ts';
import { s3code } from './s3-error.ts';

const T0 = Date.UTC(2024, 0, 1, 0, 0, 0, 0);
const T1 = Date.UTC(2024, 5, 30, 12, 34, 56, 789);
const OWNER = { id: '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a', displayName: 'alice' };


describe('XML primitives', () => {
  test('timestamps have milliseconds', () => {
    assert.equal(isoTimestamp(T0), '2024-01-01T00:00:00.000Z');
    assert.equal(isoTimestamp(T1), '2024-06-30T12:34:56.789Z');
  });

  test('escaping', () => {
    assert.equal(escapeXml('plain'), 'plain');
    assert.equal(escapeXml(`a&b<c>d"e'f`), `a&amp;b&lt;c&gt;d&quot;e'f`);
    assert.equal(escapeXml('cr\r lf\n tab\t nul\u0000 us\u001f'), 'cr&#13; lf\n tab\t nul&#0; us&#31;');
    assert.equal(escapeXml('日本語 ✓ 😀'), '日本語 ✓ 😀');
  });

  test('ETag quoting', () => {
    assert.equal(quoteEtag('abc'), '"abc"');
    assert.equal(quoteEtag('"abc"'), '"abc"');
    assert.equal(quoteEtag('abc-3'), '"abc-3"');
    assert.equal(unquoteEtag(' "abc" '), 'abc');
    assert.equal(unquoteEtag('W/"abc"'), 'abc');
    assert.equal(unquoteEtag('abc'), 'abc');
  });
});

describe('response builders, read back by the AWS SDK', () => {
  test('ListAllMyBucketsResult', async () => {
    const body = listAllMyBucketsXml({
      owner: OWNER,
      buckets: [
        { name: 'alpha', creationDate: T0 },
        { name: 'beta', creationDate: T1, region: 'eu-west-1' },
      ],
    });
    assert.ok(body.startsWith(`<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="${S3_XMLNS}">`));
    const out = await respond<ListBucketsCommandOutput>(new ListBucketsCommand({}), { status: 200, body });
    assert.deepEqual(out.Owner, { ID: OWNER.id, DisplayName: 'alice' });
    assert.equal(out.Buckets?.length, 2);
    assert.equal(out.Buckets?.[0]?.Name, 'alpha');
    assert.equal(out.Buckets?.[0]?.CreationDate?.getTime(), T0);
    assert.equal(out.Buckets?.[1]?.BucketRegion, 'eu-west-1');
    const empty = await respond<ListBucketsCommandOutput>(new ListBucketsCommand({}), {
      status: 200,
      body: listAllMyBucketsXml({ owner: OWNER, buckets: [] }),
    });
    assert.deepEqual(empty.Buckets ?? [], []);
  });

  test('LocationConstraint: empty element for us-east-1', async () => {
    assert.equal(locationConstraintXml(undefined), `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_XMLNS}"/>`);
    assert.equal(locationConstraintXml('us-east-1'), locationConstraintXml(undefined));
    const out = await respond<GetBucketLocationCommandOutput>(new GetBucketLocationCommand({ Bucket: 'b' }), {
      status: 200,
      body: locationConstraintXml('eu-central-1'),
    });
    assert.equal(out.LocationConstraint, 'eu-central-1');
    const us = await respond<GetBucketLocationCommandOutput>(new GetBucketLocationCommand({ Bucket: 'b' }), {
      status: 200,
      body: locationConstraintXml('us-east-1'),
    });
    assert.ok(!us.LocationConstraint);
  });

  test('ListBucketResult v1 with delimiter, NextMarker, owner, url encoding', async () => {
    const body = listObjectsV1Xml({
      name: 'bkt',
      prefix: 'a b/',
      marker: 'a b/0',
      nextMarker: 'a b/c+d/',
      maxKeys: 2,
      delimiter: '/',
      encodingType: 'url',
      isTruncated: true,
      contents: [{ key: 'a b/ü&1', lastModified: T1, etag: 'd41d8cd98f00b204e9800998ecf8427e', size: 0, owner: OWNER }],
      commonPrefixes: ['a b/c+d/'],
    });
    assert.match(body, /<Prefix>a%20b\/<\/Prefix><Marker>a%20b\/0<\/Marker><NextMarker>a%20b\/c%2Bd\/<\/NextMarker><MaxKeys>2<\/MaxKeys><Delimiter>\/<\/Delimiter><EncodingType>url<\/EncodingType><IsTruncated>true<\/IsTruncated>/);
    assert.match(body, /<Key>a%20b\/%C3%BC%261<\/Key>/);
    assert.match(body, /<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;<\/ETag>/);
    const out = await respond<ListObjectsCommandOutput>(new ListObjectsCommand({ Bucket: 'bkt' }), { status: 200, body });
    assert.equal(out.IsTruncated, true);
    assert.equal(out.NextMarker, 'a%20b/c%2Bd/');
    assert.equal(out.EncodingType, 'url');
    assert.equal(out.Contents?.[0]?.Key, 'a%20b/%C3%BC%261');
    assert.equal(out.Contents?.[0]?.ETag, '"d41d8cd98f00b204e9800998ecf8427e"');
    assert.equal(out.Contents?.[0]?.Owner?.ID, OWNER.id);
    assert.equal(out.Contents?.[0]?.StorageClass, 'STANDARD');
    assert.equal(out.Contents?.[0]?.LastModified?.getTime(), T1);
    assert.deepEqual(out.CommonPrefixes, [{ Prefix: 'a%20b/c%2Bd/' }]);
  });

  test('ListBucketResult v1 without delimiter: empty Prefix and Marker present, no Delimiter', () => {
    const body = listObjectsV1Xml({
      name: 'bkt',
      prefix: '',
      marker: '',
      maxKeys: 1000,
      delimiter: '',
      isTruncated: false,
      contents: [],
      commonPrefixes: [],
    });
    assert.equal(
      body,
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${S3_XMLNS}"><Name>bkt</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`,
    );
  });

  test('ListBucketResult v2 with tokens and fetch-owner', async () => {
    const body = listObjectsV2Xml({
      name: 'bkt',
      prefix: 'p',
      delimiter: '/',
      maxKeys: 3,
      keyCount: 2,
      isTruncated: true,
      continuationToken: 'tok+/=',
      nextContinuationToken: 'next+/=',
      startAfter: 'p a',
      encodingType: 'url',
      fetchOwner: true,
      contents: [
        {
          key: 'p a',
          lastModified: T0,
          etag: '"abc-2"',
          size: 12,
          owner: OWNER,
          storageClass: 'STANDARD_IA',
          checksumAlgorithm: 'CRC32',
          checksumType: 'FULL_OBJECT',
        },
      ],
      commonPrefixes: ['p/'],
    });
    assert.match(body, /<ContinuationToken>tok\+\/=<\/ContinuationToken><NextContinuationToken>next\+\/=<\/NextContinuationToken><StartAfter>p%20a<\/StartAfter>/);
    const out = await respond<ListObjectsV2CommandOutput>(new ListObjectsV2Command({ Bucket: 'bkt' }), { status: 200, body });
    assert.equal(out.KeyCount, 2);
    assert.equal(out.MaxKeys, 3);
    assert.equal(out.ContinuationToken, 'tok+/=');
    assert.equal(out.NextContinuationToken, 'next+/=');
    assert.equal(out.StartAfter, 'p%20a');
    assert.equal(out.Delimiter, '/');
    const item = out.Contents?.[0];
    assert.equal(item?.Key, 'p%20a');
    assert.equal(item?.ETag, '"abc-2"');
    assert.equal(item?.Size, 12);
    assert.equal(item?.StorageClass, 'STANDARD_IA');
    assert.deepEqual(item?.ChecksumAlgorithm, ['CRC32']);
    assert.equal(item?.ChecksumType, 'FULL_OBJECT');
    assert.equal(item?.Owner?.DisplayName, 'alice');
    const noOwner = listObjectsV2Xml({
      name: 'bkt',
      prefix: '',
      maxKeys: 1,
      keyCount: 1,
      isTruncated: false,
      contents: [{ key: 'k', lastModified: T0, etag: 'e', size: 1, owner: OWNER }],
      commonPrefixes: [],
    });
    assert.ok(!noOwner.includes('<Owner>'));
    assert.ok(!noOwner.includes('<Delimiter>'));
    assert.ok(!noOwner.includes('ContinuationToken'));
  });

  test('keys with characters XML cannot hold raw survive the SDK parser', async () => {
    const keys = ['a\rb', 'tab\tkey', 'amp&lt;', 'quote"\'', '<tag>'];
    const body = listObjectsV2Xml({
      name: 'bkt',
      prefix: '',
      maxKeys: 1000,
      keyCount: keys.length,
      isTruncated: false,
      contents: keys.map((key) => ({ key, lastModified: T0, etag: 'e', size: 1 })),
      commonPrefixes: [],
    });
    const out = await respond<ListObjectsV2CommandOutput>(new ListObjectsV2Command({ Bucket: 'bkt' }), { status: 200, body });
    assert.deepEqual(
      out.Contents?.map((c) => c.Key),
      keys,
    );
  });

  test('CopyObjectResult and CopyPartResult', async () => {
    const copy = await respond<CopyObjectCommandOutput>(new CopyObjectCommand({ Bucket: 'b', Key: 'k', CopySource: 'src/k' }), {
      status: 200,
      body: copyObjectResultXml({ etag: 'abc', lastModified: T1, checksums: { CRC32: 'DUoRhQ==' }, checksumType: 'FULL_OBJECT' }),
    });
    assert.equal(copy.CopyObjectResult?.ETag, '"abc"');
    assert.equal(copy.CopyObjectResult?.LastModified?.getTime(), T1);
    assert.equal(copy.CopyObjectResult?.ChecksumCRC32, 'DUoRhQ==');
    const part = await respond<UploadPartCopyCommandOutput>(
      new UploadPartCopyCommand({ Bucket: 'b', Key: 'k', CopySource: 'src/k', UploadId: 'u', PartNumber: 1 }),
      { status: 200, body: copyPartResultXml({ etag: 'def', lastModified: T0 }) },
    );
    assert.equal(part.CopyPartResult?.ETag, '"def"');
    assert.equal(part.CopyPartResult?.LastModified?.getTime(), T0);
  });

  test('InitiateMultipartUploadResult and CompleteMultipartUploadResult', async () => {
    const init = await respond<CreateMultipartUploadCommandOutput>(new CreateMultipartUploadCommand({ Bucket: 'b', Key: 'k&' }), {
      status: 200,
      body: initiateMultipartUploadXml({ bucket: 'b', key: 'k&', uploadId: 'UP/1=' }),
    });
    assert.equal(init.Bucket, 'b');
    assert.equal(init.Key, 'k&');
    assert.equal(init.UploadId, 'UP/1=');
    const done = await respond<CompleteMultipartUploadCommandOutput>(
      new CompleteMultipartUploadCommand({ Bucket: 'b', Key: 'k', UploadId: 'u' }),
      {
        status: 200,
        body: completeMultipartUploadXml({
          location: 'http://s3.localhost/b/k',
          bucket: 'b',
          key: 'k',
          etag: '3858f62230ac3c915f300c664312c11f-9',
          checksums: { SHA256: 'x' },
          checksumType: 'COMPOSITE',
        }),
      },
    );
    assert.equal(done.Location, 'http://s3.localhost/b/k');
    assert.equal(done.ETag, '"3858f62230ac3c915f300c664312c11f-9"');
    assert.equal(done.ChecksumSHA256, 'x');
    assert.equal(done.ChecksumType, 'COMPOSITE');
  });

  test('ListPartsResult', async () => {
    const body = listPartsXml({
      bucket: 'b',
      key: 'k',
      uploadId: 'u',
      partNumberMarker: 1,
      nextPartNumberMarker: 3,
      maxParts: 2,
      isTruncated: true,
      parts: [
        { partNumber: 2, lastModified: T0, etag: 'e2', size: 5 * 1024 * 1024, checksums: { CRC32C: 'AAAAAA==' } },
        { partNumber: 3, lastModified: T1, etag: '"e3"', size: 1 },
      ],
      initiator: OWNER,
      owner: OWNER,
    });
    const out = await respond<ListPartsCommandOutput>(new ListPartsCommand({ Bucket: 'b', Key: 'k', UploadId: 'u' }), { status: 200, body });
    assert.equal(out.PartNumberMarker, '1');
    assert.equal(out.NextPartNumberMarker, '3');
    assert.equal(out.MaxParts, 2);
    assert.equal(out.IsTruncated, true);
    assert.equal(out.Parts?.length, 2);
    assert.equal(out.Parts?.[0]?.PartNumber, 2);
    assert.equal(out.Parts?.[0]?.ETag, '"e2"');
    assert.equal(out.Parts?.[0]?.Size, 5 * 1024 * 1024);
    assert.equal(out.Parts?.[0]?.ChecksumCRC32C, 'AAAAAA==');
    assert.equal(out.Parts?.[1]?.ETag, '"e3"');
    assert.equal(out.Initiator?.ID, OWNER.id);
    assert.equal(out.StorageClass, 'STANDARD');
  });

  test('ListMultipartUploadsResult', async () => {
    const body = listMultipartUploadsXml({
      bucket: 'b',
      keyMarker: '',
      uploadIdMarker: '',
      nextKeyMarker: 'k 2',
      nextUploadIdMarker: 'u2',
      prefix: '',
      delimiter: '/',
      encodingType: 'url',
      maxUploads: 2,
      isTruncated: true,
      uploads: [
        { key: 'k 1', uploadId: 'u1', initiator: OWNER, owner: OWNER, initiated: T0 },
        { key: 'k 2', uploadId: 'u2', initiator: OWNER, owner: OWNER, initiated: T1, storageClass: 'GLACIER' },
      ],
      commonPrefixes: ['dir/'],
    });
    const out = await respond<ListMultipartUploadsCommandOutput>(new ListMultipartUploadsCommand({ Bucket: 'b' }), { status: 200, body });
    assert.equal(out.NextKeyMarker, 'k%202');
    assert.equal(out.NextUploadIdMarker, 'u2');
    assert.equal(out.MaxUploads, 2);
    assert.equal(out.IsTruncated, true);
    assert.equal(out.Uploads?.[0]?.Key, 'k%201');
    assert.equal(out.Uploads?.[1]?.StorageClass, 'GLACIER');
    assert.equal(out.Uploads?.[1]?.Initiated?.getTime(), T1);
    assert.deepEqual(out.CommonPrefixes, [{ Prefix: 'dir/' }]);
  });

  test('DeleteResult, verbose and quiet', async () => {
    const input = {
      deleted: [{ key: 'a' }, { key: 'b', versionId: 'v1', deleteMarker: true, deleteMarkerVersionId: 'dm' }],
      errors: [{ key: 'c', code: 'AccessDenied', message: 'Access Denied' }],
    };
    const out = await respond<DeleteObjectsCommandOutput>(
      new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'a' }] } }),
      { status: 200, body: deleteResultXml(input) },
    );
    assert.equal(out.Deleted?.length, 2);
    assert.equal(out.Deleted?.[1]?.DeleteMarker, true);
    assert.equal(out.Deleted?.[1]?.DeleteMarkerVersionId, 'dm');
    assert.deepEqual(out.Errors, [{ Key: 'c', Code: 'AccessDenied', Message: 'Access Denied' }]);
    const quiet = deleteResultXml({ ...input, quiet: true });
    assert.ok(!quiet.includes('<Deleted>'));
    assert.ok(quiet.includes('<Error><Key>c</Key><Code>AccessDenied</Code>'));
    assert.equal(deleteResultXml({ deleted: [], errors: [], quiet: true }), `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="${S3_XMLNS}"></DeleteResult>`);
  });

  test('AccessControlPolicy', async () => {
    const body = accessControlPolicyXml({
      owner: OWNER,
      grants: [
        { grantee: { type: 'CanonicalUser', id: OWNER.id, displayName: 'alice' }, permission: 'FULL_CONTROL' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' },
        { grantee: { type: 'AmazonCustomerByEmail', emailAddress: 'x@example.com' }, permission: 'WRITE_ACP' },
      ],
    });
    assert.match(body, /<Grantee xmlns:xsi="http:\/\/www.w3.org\/2001\/XMLSchema-instance" xsi:type="CanonicalUser">/);
    const out = await respond<GetBucketAclCommandOutput>(new GetBucketAclCommand({ Bucket: 'b' }), { status: 200, body });
    assert.equal(out.Owner?.ID, OWNER.id);
    assert.equal(out.Grants?.length, 3);
    assert.deepEqual(out.Grants?.[0], { Grantee: { Type: 'CanonicalUser', ID: OWNER.id, DisplayName: 'alice' }, Permission: 'FULL_CONTROL' });
    assert.deepEqual(out.Grants?.[1], { Grantee: { Type: 'Group', URI: ACL_GROUPS.AllUsers }, Permission: 'READ' });
    assert.equal(out.Grants?.[2]?.Grantee?.EmailAddress, 'x@example.com');
    // Our own parser reads our own document back.
    const parsed = parseAccessControlPolicy(body);
    assert.equal(parsed.grants.length, 3);
    assert.deepEqual(parsed.grants[1], { grantee: { type: 'Group', uri: ACL_GROUPS.AllUsers }, permission: 'READ' });
  });

  test('Tagging and VersioningConfiguration', async () => {
    const tagging = await respond<GetObjectTaggingCommandOutput>(new GetObjectTaggingCommand({ Bucket: 'b', Key: 'k' }), {
      status: 200,
      body: taggingXml([
        { key: 'k1', value: 'v1' },
        { key: 'k 2', value: '' },
      ]),
    });
    assert.deepEqual(tagging.TagSet, [
      { Key: 'k1', Value: 'v1' },
      { Key: 'k 2', Value: '' },
    ]);
    const v = await respond<GetBucketVersioningCommandOutput>(new GetBucketVersioningCommand({ Bucket: 'b' }), {
      status: 200,
      body: versioningConfigurationXml('Suspended'),
    });
    assert.equal(v.Status, 'Suspended');
    const never = await respond<GetBucketVersioningCommandOutput>(new GetBucketVersioningCommand({ Bucket: 'b' }), {
      status: 200,
      body: versioningConfigurationXml(),
    });
    assert.equal(never.Status, undefined);
  });
});

describe('request parsers on bodies written by the AWS SDK', () => {
  test('CreateBucketConfiguration', async () => {
    const req = await capture(new CreateBucketCommand({ Bucket: 'b', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    assert.deepEqual(parseCreateBucketConfiguration(req.body), { locationConstraint: 'eu-west-1' });
    const none = await capture(new CreateBucketCommand({ Bucket: 'b' }));
    assert.deepEqual(parseCreateBucketConfiguration(none.body), {});
    assert.deepEqual(parseCreateBucketConfiguration(undefined), {});
    assert.deepEqual(parseCreateBucketConfiguration('  \n'), {});
    assert.deepEqual(
      parseCreateBucketConfiguration(`<CreateBucketConfiguration xmlns="${S3_XMLNS}"><LocationConstraint></LocationConstraint></CreateBucketConfiguration>`),
      {},
    );
    assert.throws(() => parseCreateBucketConfiguration('<Other/>'), s3code('MalformedXML'));
    assert.throws(() => parseCreateBucketConfiguration('<CreateBucketConfiguration>'), s3code('MalformedXML'));
  });

  test('Delete (DeleteObjects)', async () => {
    const keys = ['plain', ' spaced ', 'a&b<c>"d\'', '0001', 'ünï/cødé', 'x\ty'];
    const req = await capture(
      new DeleteObjectsCommand({
        Bucket: 'b',
        Delete: { Objects: [...keys.map((Key) => ({ Key })), { Key: 'v', VersionId: 'ver1' }], Quiet: true },
      }),
    );
    const parsed = parseDeleteObjects(req.body);
    assert.equal(parsed.quiet, true);
    assert.deepEqual(
      parsed.objects.map((o) => o.key),
      [...keys, 'v'],
    );
    assert.equal(parsed.objects.at(-1)?.versionId, 'ver1');
    const verbose = await capture(new DeleteObjectsCommand({ Bucket: 'b', Delete: { Objects: [{ Key: 'k' }] } }));
    assert.equal(parseDeleteObjects(verbose.body).quiet, false);
  });

  test('Delete: limits and malformed documents', () => {
    const doc = (n: number) =>
      `<Delete>${Array.from({ length: n }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join('')}</Delete>`;
    assert.equal(parseDeleteObjects(doc(1000)).objects.length, 1000);
    assert.throws(() => parseDeleteObjects(doc(1001)), s3code('MalformedXML'));
    assert.throws(() => parseDeleteObjects(doc(0)), s3code('MalformedXML'));
    assert.throws(() => parseDeleteObjects('<Delete><Object><VersionId>v</VersionId></Object></Delete>'), s3code('MalformedXML'));
    assert.throws(() => parseDeleteObjects('<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>'), s3code('MalformedXML'));
    assert.equal(parseDeleteObjects('<Delete><Quiet> TRUE </Quiet><Object><Key>k</Key></Object></Delete>').quiet, true);
    // The ETag is kept as given (an If-Match value: quoted or not, `*`), and directory-bucket conditions are kept to be refused.
    assert.deepEqual(parseDeleteObjects('<Delete><Object><Key>k</Key><ETag> "e" </ETag></Object></Delete>').objects, [{ key: 'k', etag: '"e"' }]);
    assert.deepEqual(parseDeleteObjects('<Delete><Object><Key>k</Key><ETag>*</ETag><Size>3</Size></Object></Delete>').objects, [{ key: 'k', etag: '*', size: '3' }]);
  });

  test('CompleteMultipartUpload', async () => {
    const req = await capture(
      new CompleteMultipartUploadCommand({
        Bucket: 'b',
        Key: 'k',
        UploadId: 'u',
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: '"aaa"', ChecksumCRC32: 'DUoRhQ==' },
            { PartNumber: 2, ETag: 'bbb' },
            { PartNumber: 10000, ETag: '"ccc"' },
          ],
        },
      }),
    );
    assert.deepEqual(parseCompleteMultipartUpload(req.body).parts, [
      { partNumber: 1, etag: 'aaa', checksums: { CRC32: 'DUoRhQ==' } },
      { partNumber: 2, etag: 'bbb', checksums: {} },
      { partNumber: 10000, etag: 'ccc', checksums: {} },
    ]);
  });

  test('CompleteMultipartUpload errors', () => {
    const doc = (...parts: string[]) => `<CompleteMultipartUpload>${parts.join('')}</CompleteMultipartUpload>`;
    const part = (n: string | number, etag = '"e"') => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`;
    assert.throws(() => parseCompleteMultipartUpload(doc(part(2), part(1))), s3code('InvalidPartOrder'));
    assert.throws(() => parseCompleteMultipartUpload(doc(part(1), part(1))), s3code('InvalidPartOrder'));
    assert.throws(() => parseCompleteMultipartUpload(doc()), s3code('MalformedXML'));
    assert.throws(() => parseCompleteMultipartUpload(doc(part('x'))), s3code('MalformedXML'));
    assert.throws(() => parseCompleteMultipartUpload(doc('<Part><PartNumber>1</PartNumber></Part>')), s3code('MalformedXML'));
    assert.throws(() => parseCompleteMultipartUpload(doc(part(0))), (err: unknown) => {
      assert.ok(err instanceof S3Error);
      assert.equal(err.code, 'InvalidArgument');
      assert.equal(err.fields['ArgumentName'], 'partNumber');
      return true;
    });
    assert.throws(() => parseCompleteMultipartUpload(doc(part(10001))), s3code('InvalidArgument'));
    assert.throws(
      () => parseCompleteMultipartUpload(doc('<Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumSHA256>bad</ChecksumSHA256></Part>')),
      s3code('InvalidRequest'),
    );
    assert.throws(() => parseCompleteMultipartUpload('<CompleteMultipartUpload><Part>'), s3code('MalformedXML'));
  });

  test('AccessControlPolicy from PutBucketAcl', async () => {
    const req = await capture(
      new PutBucketAclCommand({
        Bucket: 'b',
        AccessControlPolicy: {
          Owner: { ID: OWNER.id },
          Grants: [
            { Grantee: { Type: 'CanonicalUser', ID: OWNER.id }, Permission: 'FULL_CONTROL' },
            { Grantee: { Type: 'Group', URI: ACL_GROUPS.AuthenticatedUsers }, Permission: 'READ_ACP' },
          ],
        },
      }),
    );
    assert.deepEqual(parseAccessControlPolicy(req.body), {
      owner: { id: OWNER.id },
      grants: [
        { grantee: { type: 'CanonicalUser', id: OWNER.id }, permission: 'FULL_CONTROL' },
        { grantee: { type: 'Group', uri: ACL_GROUPS.AuthenticatedUsers }, permission: 'READ_ACP' },
      ],
    });
  });

  test('AccessControlPolicy errors are MalformedACLError', () => {
    const wrap = (grants: string, owner = '<Owner><ID>o</ID></Owner>') =>
      `<AccessControlPolicy>${owner}<AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`;
    const grantee = (type: string, inner: string) =>
      `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}">${inner}</Grantee>`;
    assert.deepEqual(parseAccessControlPolicy(wrap('')).grants, []);
    assert.throws(() => parseAccessControlPolicy(wrap('', '')), s3code('MalformedACLError'));
    assert.throws(() => parseAccessControlPolicy(wrap(`<Grant>${grantee('CanonicalUser', '<ID>x</ID>')}<Permission>ALL</Permission></Grant>`)), s3code('MalformedACLError'));
    assert.throws(() => parseAccessControlPolicy(wrap(`<Grant>${grantee('Group', '<ID>x</ID>')}<Permission>READ</Permission></Grant>`)), s3code('MalformedACLError'));
    assert.throws(() => parseAccessControlPolicy(wrap(`<Grant><Grantee><ID>x</ID></Grantee><Permission>READ</Permission></Grant>`)), s3code('MalformedACLError'));
    assert.throws(() => parseAccessControlPolicy('<AccessControlPolicy>'), s3code('MalformedACLError'));
    assert.throws(() => parseAccessControlPolicy('<Delete/>'), s3code('MalformedACLError'));
  });

  test('Tagging from PutObjectTagging, and tag limits', async () => {
    const req = await capture(
      new PutObjectTaggingCommand({ Bucket: 'b', Key: 'k', Tagging: { TagSet: [{ Key: 'a', Value: '1' }, { Key: 'b c', Value: '' }] } }),
    );
    assert.deepEqual(parseTagging(req.body), [
      { key: 'a', value: '1' },
      { key: 'b c', value: '' },
    ]);
    const doc = (tags: [string, string][]) =>
      `<Tagging><TagSet>${tags.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join('')}</TagSet></Tagging>`;
    const eleven = Array.from({ length: 11 }, (_, i): [string, string] => [`k${i}`, 'v']);
    assert.throws(() => parseTagging(doc(eleven)), s3code('InvalidTag'));
    assert.equal(parseTagging(doc(eleven), { maxTags: 50 }).length, 11);
    assert.throws(() => parseTagging(doc([['a', '1'], ['a', '2']])), s3code('InvalidTag'));
    assert.throws(() => parseTagging(doc([['x'.repeat(129), '1']])), s3code('InvalidTag'));
    assert.throws(() => parseTagging(doc([['k', 'v'.repeat(257)]])), s3code('InvalidTag'));
    assert.throws(() => parseTagging(doc([['aws:x', 'v']])), s3code('InvalidTag'));
    assert.throws(() => parseTagging(doc([['', 'v']])), s3code('InvalidTag'));
    assert.throws(() => parseTagging('<Tagging></Tagging>'), s3code('MalformedXML'));
    // Elements the schema does not have, or twice.
    for (const bad of [
      '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Evil>1</Evil></Tag></TagSet></Tagging>',
      '<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>',
      '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag><X/></TagSet></Tagging>',
      '<Tagging><TagSet/><Other/></Tagging>',
    ]) {
      assert.throws(() => parseTagging(bad), s3code('MalformedXML'), bad);
    }
    assert.deepEqual(parseTagging('<Tagging>\n  <TagSet>\n    <Tag>\n      <Key>k</Key>\n      <Value>v</Value>\n    </Tag>\n  </TagSet>\n</Tagging>'), [{ key: 'k', value: 'v' }]);
    assert.doesNotThrow(() => validateTagSet([{ key: 'ü'.repeat(128), value: '' }]));
    // Lengths are UTF-16 code units, as S3 counts them: an emoji takes two.
    assert.doesNotThrow(() => validateTagSet([{ key: '😀'.repeat(64), value: '😀'.repeat(128) }]));
    assert.throws(() => validateTagSet([{ key: '😀'.repeat(65), value: '' }]), s3code('InvalidTag'));
    assert.throws(() => validateTagSet([{ key: 'k', value: '😀'.repeat(128) + 'x' }]), s3code('InvalidTag'));
    assert.throws(() => validateTagSet(Array.from({ length: 51 }, (_, i) => ({ key: `k${i}`, value: '' })), 50), s3code('InvalidTag', /50/));
  });

  test('VersioningConfiguration from PutBucketVersioning', async () => {
    const req = await capture(new PutBucketVersioningCommand({ Bucket: 'b', VersioningConfiguration: { Status: 'Enabled' } }));
    assert.deepEqual(parseVersioningConfiguration(req.body), { status: 'Enabled' });
    assert.throws(() => parseVersioningConfiguration('<VersioningConfiguration><Bogus>1</Bogus><Status>Enabled</Status></VersioningConfiguration>'), s3code('MalformedXML'));
    assert.deepEqual(parseVersioningConfiguration('<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>'), { status: 'Suspended', mfaDelete: 'Disabled' });
    assert.throws(
      () => parseVersioningConfiguration('<VersioningConfiguration><Status>On</Status></VersioningConfiguration>'),
      s3code('IllegalVersioningConfigurationException'),
    );
  });
});

describe('XML parser safety', () => {
  test('entities and character references are decoded; CDATA is literal', () => {
    const doc = parseXmlDocument(
      '<?xml version="1.0"?><Delete><Object><Key>&#x41;&#66;&amp;&lt;&gt;&quot;&apos;<![CDATA[&amp;<x>]]></Key></Object></Delete>',
      'Delete',
    );
    assert.equal(doc.children[0]?.children[0]?.text, `AB&<>"'&amp;<x>`);
  });

  test('namespaced elements and comments', () => {
    const doc = parseXmlDocument('<!-- hi --><s3:Delete xmlns:s3="x"><s3:Object><s3:Key>k<!-- c -->2</s3:Key></s3:Object></s3:Delete>', 'Delete');
    assert.equal(doc.children[0]?.children[0]?.text, 'k2');
  });

  test('byte input with a BOM', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<Delete><Object><Key>ü</Key></Object></Delete>')]);
    assert.equal(parseDeleteObjects(bytes).objects[0]?.key, 'ü');
  });

  test('bytes that are not UTF-8 are MalformedXML, never replaced by U+FFFD', () => {
    const doc = (key: Buffer): Buffer => Buffer.concat([Buffer.from('<Delete><Object><Key>'), key, Buffer.from('</Key></Object></Delete>')]);
    // A stray byte, a truncated sequence, an overlong encoding, an encoded surrogate.
    for (const bad of [[0xff], [0xc3], [0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const body = doc(Buffer.concat([Buffer.from('victim'), Buffer.from(bad)]));
      assert.throws(() => parseDeleteObjects(body), s3code('MalformedXML'), Buffer.from(bad).toString('hex'));
    }
    // Every parser takes its code from the caller: an ACL document is MalformedACLError.
    const acl = Buffer.from(`<AccessControlPolicy><Owner><ID>${OWNER.id}\xff</ID></Owner><AccessControlList/></AccessControlPolicy>`, 'latin1');
    assert.throws(() => parseAccessControlPolicy(acl), s3code('MalformedACLError'));
    // Well-formed multi-byte UTF-8 (2, 3 and 4 bytes) is read as it is.
    assert.equal(parseDeleteObjects(doc(Buffer.from('ü€😀'))).objects[0]?.key, 'ü€😀');
  });

  test('entity expansion attacks are refused', () => {
    const laughs =
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Delete><Object><Key>&lol3;</Key></Object></Delete>';
    assert.throws(() => parseDeleteObjects(laughs), s3code('MalformedXML'));
    const external = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&xxe;</Key></Object></Delete>';
    assert.throws(() => parseDeleteObjects(external), s3code('MalformedXML'));
    assert.throws(() => parseDeleteObjects('<Delete><Object><Key>&custom;</Key></Object></Delete>'), s3code('MalformedXML'));
  });

  test('malformed documents are MalformedXML, never a crash', () => {
    const bad = [
      '',
      '   ',
      'not xml',
      '<Delete>',
      '<Delete><Object><Key>k</Key></Object>',
      '<Delete><Object><Key>k</Object></Key></Delete>',
      '<Delete><Object><Key>a & b</Key></Object></Delete>',
      '<Delete><Object><Key>\u0001</Key></Object></Delete>',
      '<Delete><Object><Key>&#0;</Key></Object></Delete>',
      '<Delete><Object><Key>&#xD800;</Key></Object></Delete>',
      '<Delete><Object><Key>&#x110000;</Key></Object></Delete>',
      '<Delete/><Delete/>',
      '<Delete><Object><Key>k</Key></Object></Delete>trailing',
      '<delete><Object><Key>k</Key></Object></delete>',
      '<Delete a=1><Object><Key>k</Key></Object></Delete>',
      '<' + 'a>'.repeat(100_000),
      '<Delete>' + '<x>'.repeat(20_000) + '</x>'.repeat(20_000) + '</Delete>',
      Buffer.from([0xff, 0xfe, 0x00]),
    ];
    for (const body of bad) {
      assert.throws(() => parseDeleteObjects(body), s3code('MalformedXML'), JSON.stringify(String(body).slice(0, 60)));
    }
  });

  test('attributes per element and elements per document are bounded', () => {
    // The probe's documents: 150,000 attributes on one element, 450,000 children.
    const attrs = (n: number): string => Array.from({ length: n }, (_, i) => ` a${i}="1"`).join('');
    assert.throws(() => parseVersioningConfiguration(`<VersioningConfiguration${attrs(150_000)}/>`), s3code('MalformedXML'));
    assert.throws(() => parseXmlDocument(`<Delete>${'<a/>'.repeat(450_000)}</Delete>`, 'Delete'), s3code('MalformedXML'));
    // At the limits, and just over.
    assert.equal(Object.keys(parseXmlDocument(`<Delete${attrs(MAX_XML_ATTRIBUTES)}/>`, 'Delete').attributes).length, MAX_XML_ATTRIBUTES);
    assert.throws(() => parseXmlDocument(`<Delete${attrs(MAX_XML_ATTRIBUTES + 1)}/>`, 'Delete'), s3code('MalformedXML'));
    assert.throws(() => parseXmlDocument(`<Delete><Object${attrs(MAX_XML_ATTRIBUTES + 1)}/></Delete>`, 'Delete'), s3code('MalformedXML'));
    assert.equal(parseXmlDocument(`<Delete>${'<a/>'.repeat(MAX_XML_ELEMENTS - 1)}</Delete>`, 'Delete').children.length, MAX_XML_ELEMENTS - 1);
    assert.throws(() => parseXmlDocument(`<Delete>${'<a/>'.repeat(MAX_XML_ELEMENTS)}</Delete>`, 'Delete'), s3code('MalformedXML'));
    // What only looks like tags or attributes is not counted: quoted values, comments, CDATA,
    // processing instructions, character data.
    const lookalikes = `a="1=2>3 b c=4" b='=' c="" d='x'`;
    assert.equal(Object.keys(parseXmlDocument(`<Delete ${lookalikes}/>`, 'Delete').attributes).length, 4);
    // (Three times half the element limit, and a tag with too many attributes in each.)
    const hidden = `<x${attrs(MAX_XML_ATTRIBUTES + 1)}>${'<x/>'.repeat(MAX_XML_ELEMENTS / 2)}`;
    const doc = parseXmlDocument(`<Delete><!-- ${hidden} --><?pi ${hidden}?><Object><Key><![CDATA[${hidden}]]>&lt;y${attrs(MAX_XML_ATTRIBUTES + 1)}&gt;</Key></Object></Delete>`, 'Delete');
    assert.equal(doc.children[0]?.children[0]?.text, `${hidden}<y${attrs(MAX_XML_ATTRIBUTES + 1)}>`);
  });

  test('the largest legitimate documents stay within the limits', () => {
    // CompleteMultipartUpload of 10,000 parts, each with a checksum, as the SDK writes it.
    const parts = Array.from({ length: 10_000 }, (_, i) => `<Part><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ETag>"${'0'.repeat(32)}"</ETag><PartNumber>${i + 1}</PartNumber></Part>`);
    const complete = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join('')}</CompleteMultipartUpload>`;
    assert.ok(Buffer.byteLength(complete) < 2 * 1024 * 1024);
    assert.equal(parseCompleteMultipartUpload(complete).parts.length, 10_000);
    // DeleteObjects of 1,000 objects with Key, VersionId and ETag.
    const objects = Array.from({ length: 1000 }, (_, i) => `<Object><Key>k${i}</Key><VersionId>v${i}</VersionId><ETag>"e"</ETag></Object>`);
    assert.equal(parseDeleteObjects(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>${objects.join('')}</Delete>`).objects.length, 1000);
    // An ACL grantee's attributes.
    const grantee = `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${OWNER.id}</ID></Grantee>`;
    const acl = `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${OWNER.id}</ID></Owner><AccessControlList><Grant>${grantee}<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`;
    assert.equal(parseAccessControlPolicy(acl).grants.length, 1);
  });

  test('size limit', () => {
    const big = `<Delete><Object><Key>${'k'.repeat(2000)}</Key></Object></Delete>`;
    assert.throws(() => parseXmlDocument(big, 'Delete', { maxBytes: 1000 }), s3code('MalformedXML'));
    assert.equal(parseXmlDocument(big, 'Delete', { maxBytes: 5000 }).name, 'Delete');
  });
});

describe('PublicAccessBlockConfiguration', () => {
  const doc = (inner: string): string => `<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</PublicAccessBlockConfiguration>`;

  test('each setting false unless given true (any case); written back whole', () => {
    assert.deepEqual(parsePublicAccessBlock(doc('<BlockPublicAcls>TRUE</BlockPublicAcls><RestrictPublicBuckets>true</RestrictPublicBuckets>')), {
      blockPublicAcls: true,
      ignorePublicAcls: false,
      blockPublicPolicy: false,
      restrictPublicBuckets: true,
    });
    const all = { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: true };
    assert.deepEqual(parsePublicAccessBlock(publicAccessBlockXml(all)), all);
    assert.match(publicAccessBlockXml(all), /<BlockPublicPolicy>false<\/BlockPublicPolicy>/);
  });

  test('unknown or repeated elements and values other than true / false are MalformedXML', () => {
    for (const inner of ['<BlockPublicAcls>yes</BlockPublicAcls>', '<BlockPublicAcls>true</BlockPublicAcls><BlockPublicAcls>true</BlockPublicAcls>', '<BlockEverything>true</BlockEverything>', '<IgnorePublicAcls><x/></IgnorePublicAcls>']) {
      assert.throws(() => parsePublicAccessBlock(doc(inner)), (e: unknown) => e instanceof S3Error && e.code === 'MalformedXML', inner);
    }
  });
});

describe('OwnershipControls', () => {
  const doc = (inner: string): string => `<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</OwnershipControls>`;

  test('one rule with one of the three settings; written back', () => {
    for (const value of ['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter'] as const) {
      assert.equal(parseOwnershipControls(doc(`<Rule><ObjectOwnership>${value}</ObjectOwnership></Rule>`)), value);
      assert.equal(parseOwnershipControls(ownershipControlsXml(value)), value);
    }
    for (const inner of ['', '<Rule><ObjectOwnership>Owner</ObjectOwnership></Rule>', '<Rule/>', '<Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>']) {
      assert.throws(() => parseOwnershipControls(doc(inner)), (e: unknown) => e instanceof S3Error && e.code === 'MalformedXML', inner);
    }
    assert.equal(parseObjectOwnership('ObjectWriter'), 'ObjectWriter');
    assert.throws(() => parseObjectOwnership('objectwriter'), (e: unknown) => e instanceof S3Error && e.code === 'InvalidArgument');
  });
});
