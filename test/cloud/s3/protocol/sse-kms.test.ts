/**
 * SSE-KMS request parsing (protocol/sse-kms.ts, sse.ts): the forms a KMS key is named by, the
 * encryption context header, the header combinations S3 accepts and the errors it answers for
 * the others, the bucket default encryption document with a KMS key, and the object's context.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  S3Error,
  bucketEncryptionXml,
  canonicalContext,
  encodeEncryptionContext,
  objectEncryptionContext,
  parseBucketEncryption,
  parseEncryptionContext,
  parseKmsKeyRef,
  refuseEncryptionHeaders,
  refuseKmsInClear,
  requestManagedEncryption,
} from '../../../../src/cloud/s3/protocol/index.ts';

const UUID = '1234abcd-12ab-34cd-56ef-1234567890ab';

function failure(fn: () => unknown): { code: string; status: number; message: string } | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof S3Error, String(err));
    return { code: err.code, status: err.status, message: err.message };
  }
  return undefined;
}

const b64 = (o: unknown): string => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64');

describe('SSE-KMS key references', () => {
  test('key id, key ARN, alias, alias ARN and a bare name', () => {
    assert.deepEqual(parseKmsKeyRef(UUID), { kind: 'id', id: UUID });
    assert.deepEqual(parseKmsKeyRef(UUID.toUpperCase()), { kind: 'id', id: UUID }, 'ids are case-insensitive');
    assert.deepEqual(parseKmsKeyRef(`arn:aws:kms:us-east-1:000000000000:key/${UUID}`), { kind: 'arn', id: UUID, region: 'us-east-1', account: '000000000000' });
    assert.deepEqual(parseKmsKeyRef('alias/app-data'), { kind: 'alias', alias: 'alias/app-data' });
    assert.deepEqual(parseKmsKeyRef('arn:aws:kms:eu-west-1:000000000000:alias/app'), { kind: 'aliasArn', alias: 'alias/app', region: 'eu-west-1', account: '000000000000' });
    assert.deepEqual(parseKmsKeyRef('testkey-1'), { kind: 'name', name: 'testkey-1' });
  });

  test('malformed references are KMS.NotFoundException (400)', () => {
    for (const bad of ['', '   ', 'arn:aws:kms:us-east-1:000000000000:key/not-a-uuid', 'arn:aws:s3:::bucket', 'alias/', 'has space', 'x'.repeat(3000), 'alias/bad*char']) {
      const f = failure(() => parseKmsKeyRef(bad));
      assert.equal(f?.code, 'KMS.NotFoundException', JSON.stringify(bad.slice(0, 40)));
      assert.equal(f?.status, 400);
    }
  });
});

describe('SSE-KMS encryption context', () => {
  test('base64 of a JSON object of strings decodes; canonical form sorts keys', () => {
    assert.deepEqual(parseEncryptionContext(b64({ b: '2', a: '1' })), { b: '2', a: '1' });
    assert.equal(canonicalContext({ b: '2', a: '1' }), '{"a":"1","b":"2"}');
    assert.deepEqual(parseEncryptionContext(encodeEncryptionContext({ z: 'é', a: '' })), { a: '', z: 'é' });
  });

  test('not base64, not JSON, not an object, a non-string value, too long: InvalidArgument', () => {
    for (const bad of ['%%%', b64('not json'), b64([1, 2]), b64('"str"'), b64({ a: 1 }), b64({ a: null }), b64({ a: 'x'.repeat(9000) }), Buffer.from([0xff, 0xfe]).toString('base64')]) {
      assert.equal(failure(() => parseEncryptionContext(bad))?.code, 'InvalidArgument', bad.slice(0, 30));
    }
  });

  test("the object's context: aws:s3:arn is the object's ARN, or the bucket's with a Bucket Key; another given value is refused", () => {
    assert.deepEqual(objectEncryptionContext({ app: 'x' }, 'b', 'k/1', false), { app: 'x', 'aws:s3:arn': 'arn:aws:s3:::b/k/1' });
    assert.deepEqual(objectEncryptionContext(undefined, 'b', 'k/1', true), { 'aws:s3:arn': 'arn:aws:s3:::b' });
    assert.deepEqual(objectEncryptionContext({ 'aws:s3:arn': 'arn:aws:s3:::b/k' }, 'b', 'k', false), { 'aws:s3:arn': 'arn:aws:s3:::b/k' });
    assert.equal(failure(() => objectEncryptionContext({ 'aws:s3:arn': 'arn:aws:s3:::other/k' }, 'b', 'k', false))?.code, 'InvalidArgument');
  });
});

describe('SSE-KMS request headers', () => {
  test('aws:kms with and without key id, context and bucket key', () => {
    assert.deepEqual(requestManagedEncryption({ 'x-amz-server-side-encryption': 'aws:kms' }), { kind: 'kms' });
    assert.deepEqual(
      requestManagedEncryption({
        'x-amz-server-side-encryption': 'aws:kms',
        'x-amz-server-side-encryption-aws-kms-key-id': 'alias/app',
        'x-amz-server-side-encryption-context': b64({ team: 'a' }),
        'x-amz-server-side-encryption-bucket-key-enabled': 'TRUE',
      }),
      { kind: 'kms', keyId: 'alias/app', context: { team: 'a' }, bucketKey: true },
    );
    assert.deepEqual(requestManagedEncryption({ 'x-amz-server-side-encryption': 'AES256' }), { kind: 'sse-s3' });
    assert.equal(requestManagedEncryption({}), undefined);
  });

  test('the combinations S3 refuses, with its codes', () => {
    const kms = { 'x-amz-server-side-encryption': 'aws:kms' };
    // A key id or context without aws:kms.
    const without = failure(() => requestManagedEncryption({ 'x-amz-server-side-encryption-aws-kms-key-id': UUID }));
    assert.equal(without?.code, 'InvalidArgument');
    assert.match(without!.message, /requires HTTP header x-amz-server-side-encryption : aws:kms/);
    assert.equal(failure(() => requestManagedEncryption({ 'x-amz-server-side-encryption': 'AES256', 'x-amz-server-side-encryption-context': b64({ a: 'b' }) }))?.code, 'InvalidArgument');
    // With an SSE-C key.
    assert.equal(failure(() => requestManagedEncryption({ ...kms, 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }))?.code, 'InvalidArgument');
    // A malformed key id, context or bucket key value.
    assert.equal(failure(() => requestManagedEncryption({ ...kms, 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:x:y:key/nope' }))?.code, 'KMS.NotFoundException');
    assert.equal(failure(() => requestManagedEncryption({ ...kms, 'x-amz-server-side-encryption-context': 'e30' }))?.code, 'InvalidArgument');
    assert.equal(failure(() => requestManagedEncryption({ ...kms, 'x-amz-server-side-encryption-bucket-key-enabled': 'yes' }))?.code, 'InvalidArgument');
    // DSSE-KMS is not offered; another algorithm is not one.
    const dsse = failure(() => requestManagedEncryption({ 'x-amz-server-side-encryption': 'aws:kms:dsse' }));
    assert.deepEqual([dsse?.code, dsse?.status], ['NotImplemented', 501]);
    assert.equal(failure(() => requestManagedEncryption({ 'x-amz-server-side-encryption': 'aws:kmss' }))?.code, 'InvalidArgument');
    // The headers on an operation that writes no data.
    assert.equal(failure(() => refuseEncryptionHeaders({ 'x-amz-server-side-encryption-aws-kms-key-id': UUID }))?.code, 'InvalidArgument');
    assert.equal(failure(() => refuseEncryptionHeaders({ 'x-amz-server-side-encryption-bucket-key-enabled': 'true' }))?.code, 'InvalidArgument');
  });

  test('aws:kms over plain HTTP: InvalidArgument with S3 message; other requests pass', () => {
    const f = failure(() => refuseKmsInClear({ 'x-amz-server-side-encryption': 'aws:kms' }));
    assert.equal(f?.code, 'InvalidArgument');
    assert.equal(f?.message, 'Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection.');
    assert.equal(failure(() => refuseKmsInClear({ 'x-amz-server-side-encryption': 'AES256' })), undefined);
    assert.equal(failure(() => refuseKmsInClear({})), undefined);
  });
});

describe('bucket default encryption with aws:kms', () => {
  const doc = (inner: string, bucketKey = ''): string =>
    `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault>${inner}</ApplyServerSideEncryptionByDefault>${bucketKey}</Rule></ServerSideEncryptionConfiguration>`;

  test('aws:kms with and without KMSMasterKeyID and BucketKeyEnabled; the document round-trips', () => {
    assert.deepEqual(parseBucketEncryption(doc('<SSEAlgorithm>aws:kms</SSEAlgorithm>')), { algorithm: 'aws:kms' });
    const full = parseBucketEncryption(doc(`<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/app</KMSMasterKeyID>`, '<BucketKeyEnabled>true</BucketKeyEnabled>'));
    assert.deepEqual(full, { algorithm: 'aws:kms', kmsKeyId: 'alias/app', bucketKey: true });
    assert.deepEqual(parseBucketEncryption(bucketEncryptionXml(full)), full);
    assert.match(bucketEncryptionXml(full), /<KMSMasterKeyID>alias\/app<\/KMSMasterKeyID>/);
  });

  test('a KMS key with AES256 is InvalidArgument, a malformed one KMS.NotFoundException, DSSE NotImplemented', () => {
    assert.equal(failure(() => parseBucketEncryption(doc(`<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>${UUID}</KMSMasterKeyID>`)))?.code, 'InvalidArgument');
    assert.equal(failure(() => parseBucketEncryption(doc('<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:a:b:key/x</KMSMasterKeyID>')))?.code, 'KMS.NotFoundException');
    assert.equal(failure(() => parseBucketEncryption(doc('<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>')))?.code, 'NotImplemented');
    assert.equal(failure(() => parseBucketEncryption(doc('<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID></KMSMasterKeyID>')))?.code, 'MalformedXML');
  });
});
