import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import {
  S3_ERRORS,
  S3Error,
  errorResponse,
  isS3Error,
  renderErrorXml,
  toS3Error,
  type S3ErrorCode,
} from '../../../../src/cloud/s3/protocol/errors.ts';

describe('S3 error table', () => {
  test('has the required codes with the AWS statuses', () => {
    const expected: Partial<Record<S3ErrorCode, number>> = {
      AccessDenied: 403,
      BadDigest: 400,
      BucketAlreadyExists: 409,
      BucketAlreadyOwnedByYou: 409,
      BucketNotEmpty: 409,
      EntityTooLarge: 400,
      EntityTooSmall: 400,
      IncompleteBody: 400,
      InternalError: 500,
      InvalidAccessKeyId: 403,
      InvalidArgument: 400,
      InvalidBucketName: 400,
      InvalidDigest: 400,
      InvalidPart: 400,
      InvalidPartOrder: 400,
      InvalidRange: 416,
      InvalidRequest: 400,
      InvalidStorageClass: 400,
      KeyTooLongError: 400,
      MalformedXML: 400,
      MethodNotAllowed: 405,
      MissingContentLength: 411,
      MissingSecurityHeader: 400,
      NoSuchBucket: 404,
      NoSuchKey: 404,
      NoSuchUpload: 404,
      NotImplemented: 501,
      PreconditionFailed: 412,
      NotModified: 304,
      RequestTimeTooSkewed: 403,
      SignatureDoesNotMatch: 403,
      AuthorizationHeaderMalformed: 400,
      AuthorizationQueryParametersError: 400,
      XAmzContentSHA256Mismatch: 400,
      BadRequest: 400,
      InvalidObjectState: 403,
      ServiceUnavailable: 503,
      SlowDown: 503,
      TooManyBuckets: 400,
      InvalidTag: 400,
      MalformedACLError: 400,
      NoSuchBucketPolicy: 404,
      MetadataTooLarge: 400,
      InvalidChecksum: 400,
      XMinioStorageFull: 507,
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(S3_ERRORS[code as S3ErrorCode].status, status, code);
      assert.ok(S3_ERRORS[code as S3ErrorCode].message.length > 0, code);
    }
  });

  test('S3Error takes status and default message from the table', () => {
    const err = new S3Error('NoSuchKey');
    assert.equal(err.code, 'NoSuchKey');
    assert.equal(err.status, 404);
    assert.equal(err.message, 'The specified key does not exist.');
    assert.ok(err instanceof Error);
    assert.ok(isS3Error(err));
    assert.equal(isS3Error(new Error('x')), false);
  });

  test('custom message, fields (undefined dropped), headers and status override', () => {
    const err = new S3Error('InvalidRange', undefined, {
      fields: { RangeRequested: 'bytes=9-', ActualObjectSize: 5, Skipped: undefined },
      headers: { 'content-range': 'bytes */5' },
    });
    assert.deepEqual(err.fields, { RangeRequested: 'bytes=9-', ActualObjectSize: '5' });
    assert.deepEqual(err.headers, { 'content-range': 'bytes */5' });
    assert.equal(new S3Error('InternalError', 'boom', { status: 502 }).status, 502);
  });

  test('toS3Error wraps unknown errors as InternalError without leaking the message', () => {
    const cause = new Error('database password is hunter2');
    const err = toS3Error(cause);
    assert.equal(err.code, 'InternalError');
    assert.equal(err.status, 500);
    assert.ok(!err.message.includes('hunter2'));
    assert.equal(err.cause, cause);
    const same = new S3Error('NoSuchBucket');
    assert.equal(toS3Error(same), same);
  });
});

describe('error XML', () => {
  test('exact document with fields, resource and ids', () => {
    const err = new S3Error('NoSuchKey', undefined, { fields: { Key: 'a&b' }, resource: '/bkt/a&b' });
    const xml = renderErrorXml(err, { requestId: 'REQ1', hostId: 'HOST1' });
    assert.equal(
      xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>' +
        '<Key>a&amp;b</Key><Resource>/bkt/a&amp;b</Resource><RequestId>REQ1</RequestId><HostId>HOST1</HostId></Error>',
    );
  });

  test('resource from the context; empty HostId by default; parses as XML', () => {
    const err = new S3Error('NoSuchBucket', undefined, { fields: { BucketName: 'bkt' } });
    const xml = renderErrorXml(err, { requestId: 'R', resource: '/bkt' });
    const parsed = new XMLParser({ parseTagValue: false }).parse(xml) as { Error: Record<string, string> };
    assert.deepEqual(parsed.Error, {
      Code: 'NoSuchBucket',
      Message: 'The specified bucket does not exist',
      BucketName: 'bkt',
      Resource: '/bkt',
      RequestId: 'R',
      HostId: '',
    });
  });

  test('errorResponse: XML body with content type, none for HEAD and 304', () => {
    const err = new S3Error('InvalidRange', undefined, { headers: { 'content-range': 'bytes */5' } });
    const get = errorResponse(err, { requestId: 'R', hostId: 'H' });
    assert.equal(get.status, 416);
    assert.equal(get.headers['content-type'], 'application/xml');
    assert.equal(get.headers['content-range'], 'bytes */5');
    assert.equal(get.headers['x-amz-request-id'], 'R');
    assert.equal(get.headers['x-amz-id-2'], 'H');
    assert.match(get.body!, /<Code>InvalidRange<\/Code>/);
    const head = errorResponse(err, { requestId: 'R' }, 'HEAD');
    assert.equal(head.body, undefined);
    assert.equal(head.headers['content-type'], undefined);
    const notModified = errorResponse(new S3Error('NotModified', undefined, { headers: { etag: '"x"' } }), { requestId: 'R' });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body, undefined);
    assert.equal(notModified.headers['etag'], '"x"');
  });
});
