/**
 * Server access logging, the pure parts: records against the example lines of AWS's "Amazon S3
 * server access log format" page, the time format, quoting and escaping (a line always splits
 * back into its fields), operation names (a copy's source record, lifecycle actions), lifecycle
 * records, both log object key formats, and the BucketLoggingStatus document of
 * PutBucketLogging / GetBucketLogging.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCESS_LOG_FIELDS,
  LIFECYCLE_OPERATIONS,
  copySourceOperation,
  formatAccessLogRecord,
  formatLogTime,
  lifecycleRecord,
  logKeyField,
  logObjectKey,
  operationName,
  parseAccessLogLine,
} from '../../../../src/cloud/s3/protocol/access-log.ts';
import type { AccessLogRecord } from '../../../../src/cloud/s3/protocol/access-log.ts';
import { bucketLoggingStatusXml, parseBucketLoggingStatus, partitionsByEventTime } from '../../../../src/cloud/s3/protocol/bucket-logging.ts';
import { S3Error } from '../../../../src/cloud/s3/protocol/index.ts';

const OWNER = '79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be';

/** Example record 5 of AWS's page (its fields end at the TLS version; ours add access point ARN and aclRequired). */
const DOC_PUT =
  `${OWNER} awsexamplebucket1 [06/Feb/2019:00:01:57 +0000] 192.0.2.3 ${OWNER} DD6CC733AEXAMPLE REST.PUT.OBJECT s3-dg.pdf "PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1" 200 - - 4406583 41754 28 "-" "S3Console/0.4" - ` +
  '10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234= SigV4 ECDHE-RSA-AES128-SHA AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1';
/** Example record 3: a failed request (404 NoSuchBucketPolicy). */
const DOC_404 =
  `${OWNER} awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 ${OWNER} A1206F460EXAMPLE REST.GET.BUCKETPOLICY - "GET /awsexamplebucket1?policy HTTP/1.1" 404 NoSuchBucketPolicy 297 - 38 - "-" "S3Console/0.4" - ` +
  'BNaBsXZQQDbssi6xMBdBU2sLt+Yf5kZDmeBUP35sFoKa3sLLeMC78iwEIWxs99CRUrbS4n11234= SigV2 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.1';
/** Example record 1 of the current page, with access point ARN and aclRequired (the region field AWS now appends is not written). */
const DOC_ARN =
  `${OWNER} amzn-s3-demo-bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 ${OWNER} 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /amzn-s3-demo-bucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - ` +
  's9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes';

const base = (over: Partial<AccessLogRecord>): AccessLogRecord => ({
  bucketOwner: OWNER,
  bucket: 'awsexamplebucket1',
  time: Date.UTC(2019, 1, 6, 0, 0, 38),
  remoteIp: '192.0.2.3',
  requester: OWNER,
  requestId: 'X',
  operation: 'REST.GET.OBJECT',
  requestUri: 'GET / HTTP/1.1',
  status: 200,
  bytesSent: 0,
  ...over,
});

describe('access log records', () => {
  test("AWS's documented example records, field by field", () => {
    const put = formatAccessLogRecord(
      base({
        time: Date.UTC(2019, 1, 6, 0, 1, 57),
        requestId: 'DD6CC733AEXAMPLE',
        operation: 'REST.PUT.OBJECT',
        key: 's3-dg.pdf',
        requestUri: 'PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1',
        objectSize: 4406583,
        totalTimeMs: 41754,
        turnAroundMs: 28,
        userAgent: 'S3Console/0.4',
        hostId: '10S62Zv81kBW7BB6SX4XJ48o6kpcl6LPwEoizZQQxJd5qDSCTLX0TgS37kYUBKQW3+bPdrg1234=',
        signatureVersion: 'SigV4',
        cipherSuite: 'ECDHE-RSA-AES128-SHA',
        authType: 'AuthHeader',
        hostHeader: 'awsexamplebucket1.s3.us-west-1.amazonaws.com',
        tlsVersion: 'TLSV1.1',
      }),
    );
    assert.equal(put, `${DOC_PUT} - -`);
    const failed = formatAccessLogRecord(
      base({
        requestId: 'A1206F460EXAMPLE',
        operation: 'REST.GET.BUCKETPOLICY',
        requestUri: 'GET /awsexamplebucket1?policy HTTP/1.1',
        status: 404,
        errorCode: 'NoSuchBucketPolicy',
        bytesSent: 297,
        totalTimeMs: 38,
        userAgent: 'S3Console/0.4',
        hostId: 'BNaBsXZQQDbssi6xMBdBU2sLt+Yf5kZDmeBUP35sFoKa3sLLeMC78iwEIWxs99CRUrbS4n11234=',
        signatureVersion: 'SigV2',
        cipherSuite: 'ECDHE-RSA-AES128-GCM-SHA256',
        authType: 'AuthHeader',
        hostHeader: 'awsexamplebucket1.s3.us-west-1.amazonaws.com',
        tlsVersion: 'TLSV1.1',
      }),
    );
    assert.equal(failed, `${DOC_404} - -`);
    const arn = formatAccessLogRecord(
      base({
        bucket: 'amzn-s3-demo-bucket1',
        requestId: '3E57427F3EXAMPLE',
        operation: 'REST.GET.VERSIONING',
        requestUri: 'GET /amzn-s3-demo-bucket1?versioning HTTP/1.1',
        bytesSent: 113,
        totalTimeMs: 7,
        userAgent: 'S3Console/0.4',
        hostId: 's9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=',
        signatureVersion: 'SigV4',
        cipherSuite: 'ECDHE-RSA-AES128-GCM-SHA256',
        authType: 'AuthHeader',
        hostHeader: 'amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com',
        tlsVersion: 'TLSV1.2',
        accessPointArn: 'arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP',
        aclRequired: true,
      }),
    );
    assert.equal(arn, DOC_ARN);
    // Every field of a documented line comes back by name.
    const fields = parseAccessLogLine(`${DOC_PUT} - -`);
    assert.equal(fields.length, ACCESS_LOG_FIELDS.length);
    const byName = Object.fromEntries(ACCESS_LOG_FIELDS.map((n, i) => [n, fields[i]]));
    assert.equal(byName['time'], '06/Feb/2019:00:01:57 +0000');
    assert.equal(byName['requestUri'], 'PUT /awsexamplebucket1/s3-dg.pdf HTTP/1.1');
    assert.equal(byName['objectSize'], '4406583');
    assert.equal(byName['bytesSent'], '-');
    assert.equal(byName['userAgent'], 'S3Console/0.4');
    assert.equal(byName['tlsVersion'], 'TLSV1.1');
  });

  test('time: [dd/Mon/yyyy:HH:MM:SS +0000] in UTC', () => {
    assert.equal(formatLogTime(Date.UTC(2019, 1, 6, 0, 0, 38)), '[06/Feb/2019:00:00:38 +0000]');
    assert.equal(formatLogTime(Date.UTC(2024, 11, 31, 23, 59, 59, 999)), '[31/Dec/2024:23:59:59 +0000]');
    assert.equal(formatLogTime(Date.UTC(2000, 0, 1)), '[01/Jan/2000:00:00:00 +0000]');
  });

  test('absent fields are "-", bytes sent of zero too; an anonymous request has no requester, signature or auth type', () => {
    const fields = parseAccessLogLine(formatAccessLogRecord(base({ requester: undefined, remoteIp: undefined, status: 403, errorCode: 'AccessDenied' })));
    const byName = Object.fromEntries(ACCESS_LOG_FIELDS.map((n, i) => [n, fields[i]]));
    for (const name of ['remoteIp', 'requester', 'key', 'bytesSent', 'objectSize', 'totalTime', 'turnAroundTime', 'referer', 'userAgent', 'versionId', 'signatureVersion', 'cipherSuite', 'authType', 'hostHeader', 'tlsVersion', 'accessPointArn', 'aclRequired']) {
      assert.equal(byName[name], '-', name);
    }
    assert.equal(byName['errorCode'], 'AccessDenied');
    assert.equal(byName['status'], '403');
  });

  test('quoting and escaping: quotes, backslashes, control characters, spaces in bare fields; every line splits back into the same fields', () => {
    const nasty = 'agent "quoted" \\ back\nline\ttab';
    const line = formatAccessLogRecord(base({ userAgent: nasty, referer: 'http://example.com/a b', hostHeader: 'evil host"x', key: 'photos/2019/08/puppy 1+%.jpg', versionId: 'v 1' }));
    assert.ok(!line.includes('\n') && !line.includes('\t'), 'one line, no tabs');
    assert.match(line, /"agent \\"quoted\\" \\\\ back\\x0Aline\\x09tab"/);
    const fields = parseAccessLogLine(line);
    assert.equal(fields.length, ACCESS_LOG_FIELDS.length);
    const byName = Object.fromEntries(ACCESS_LOG_FIELDS.map((n, i) => [n, fields[i]]));
    assert.equal(byName['userAgent'], nasty);
    assert.equal(byName['referer'], 'http://example.com/a b');
    assert.equal(byName['hostHeader'], 'evil%20host%22x');
    assert.equal(byName['key'], 'photos/2019/08/puppy%201%2B%25.jpg');
    assert.equal(byName['versionId'], 'v%201');
  });

  test('keys are URL-encoded with slashes kept, "-" when there is none', () => {
    assert.equal(logKeyField('s3-dg.pdf'), 's3-dg.pdf');
    assert.equal(logKeyField('a/b c/ü.txt'), 'a/b%20c/%C3%BC.txt');
    assert.equal(logKeyField(undefined), '-');
    assert.equal(logKeyField(''), '-');
  });

  test('operation names from method, resource and sub-resource', () => {
    const op = (method: string, hasKey: boolean, query = '', extra: { copy?: boolean; website?: boolean } = {}): string => operationName({ method, hasKey, query: new URLSearchParams(query), ...extra });
    assert.equal(op('GET', true), 'REST.GET.OBJECT');
    assert.equal(op('HEAD', true), 'REST.HEAD.OBJECT');
    assert.equal(op('PUT', true), 'REST.PUT.OBJECT');
    assert.equal(op('DELETE', true), 'REST.DELETE.OBJECT');
    assert.equal(op('PUT', true, '', { copy: true }), 'REST.COPY.OBJECT');
    assert.equal(op('GET', false), 'REST.GET.BUCKET');
    assert.equal(op('GET', false, 'list-type=2&prefix=a'), 'REST.GET.BUCKET');
    assert.equal(op('HEAD', false), 'REST.HEAD.BUCKET');
    assert.equal(op('PUT', false), 'REST.PUT.BUCKET');
    assert.equal(op('DELETE', false), 'REST.DELETE.BUCKET');
    assert.equal(op('POST', true, 'uploads'), 'REST.POST.UPLOADS');
    assert.equal(op('PUT', true, 'partNumber=1&uploadId=u'), 'REST.PUT.PART');
    assert.equal(op('PUT', true, 'partNumber=1&uploadId=u', { copy: true }), 'REST.COPY.PART');
    assert.equal(op('POST', true, 'uploadId=u'), 'REST.POST.UPLOAD');
    assert.equal(op('DELETE', true, 'uploadId=u'), 'REST.DELETE.UPLOAD');
    assert.equal(op('GET', true, 'uploadId=u'), 'REST.GET.UPLOAD');
    assert.equal(op('GET', false, 'uploads'), 'REST.GET.UPLOADS');
    assert.equal(op('GET', false, 'acl'), 'REST.GET.ACL');
    assert.equal(op('PUT', true, 'acl'), 'REST.PUT.ACL');
    assert.equal(op('GET', false, 'versioning'), 'REST.GET.VERSIONING');
    assert.equal(op('GET', false, 'logging'), 'REST.GET.LOGGING_STATUS');
    assert.equal(op('PUT', false, 'logging'), 'REST.PUT.LOGGING_STATUS');
    assert.equal(op('GET', false, 'policy'), 'REST.GET.BUCKETPOLICY');
    assert.equal(op('GET', false, 'versions'), 'REST.GET.BUCKETVERSIONS');
    assert.equal(op('POST', false, 'delete'), 'REST.POST.MULTI_OBJECT_DELETE');
    assert.equal(op('GET', true, 'tagging'), 'REST.GET.OBJECT_TAGGING');
    assert.equal(op('GET', false, 'tagging'), 'REST.GET.TAGGING');
    assert.equal(op('GET', true, '', { website: true }), 'WEBSITE.GET.OBJECT');
    assert.equal(op('OPTIONS', true), 'REST.OPTIONS.PREFLIGHT');
  });

  test("a copy's source record: REST.COPY.OBJECT_GET for CopyObject, REST.COPY.PART_GET for UploadPartCopy, none otherwise", () => {
    assert.equal(copySourceOperation('REST.COPY.OBJECT'), 'REST.COPY.OBJECT_GET');
    assert.equal(copySourceOperation('REST.COPY.PART'), 'REST.COPY.PART_GET');
    for (const op of ['REST.PUT.OBJECT', 'REST.PUT.PART', 'REST.GET.OBJECT', 'BATCH.DELETE.OBJECT']) assert.equal(copySourceOperation(op), undefined, op);
  });

  test('lifecycle records: requester AmazonS3, the action as operation, no request line, status, remote IP or signature', () => {
    assert.deepEqual(LIFECYCLE_OPERATIONS, { expire: 'S3.EXPIRE.OBJECT', deleteMarker: 'S3.CREATE.DELETEMARKER', abortUpload: 'S3.DELETE.UPLOAD' });
    const record = lifecycleRecord({ bucket: 'photos', operation: LIFECYCLE_OPERATIONS.expire, key: 'old/a b.jpg', versionId: 'v1', size: 1234, time: Date.UTC(2019, 1, 6, 0, 0, 38), requestId: 'ABC123' });
    const line = formatAccessLogRecord({ ...record, bucketOwner: OWNER });
    assert.equal(line, `${OWNER} photos [06/Feb/2019:00:00:38 +0000] - AmazonS3 ABC123 S3.EXPIRE.OBJECT old/a%20b.jpg "-" - - - 1234 - - "-" "-" v1 - - - - - - - -`);
    assert.equal(parseAccessLogLine(line).length, ACCESS_LOG_FIELDS.length);
    const upload = formatAccessLogRecord({ ...lifecycleRecord({ bucket: 'photos', operation: LIFECYCLE_OPERATIONS.abortUpload, key: 'big', time: 0, requestId: 'R' }), bucketOwner: OWNER });
    assert.match(upload, / AmazonS3 R S3\.DELETE\.UPLOAD big "-" - - - - - - "-" "-" - /);
  });

  test('aclRequired is "Yes" when the request needed an ACL grant, "-" otherwise', () => {
    const last = (r: Partial<AccessLogRecord>): string => parseAccessLogLine(formatAccessLogRecord(base(r))).at(-1)!;
    assert.equal(last({ aclRequired: true }), 'Yes');
    assert.equal(last({ aclRequired: false }), '-');
    assert.equal(last({}), '-');
  });

  test('log object keys: SimplePrefix and PartitionedPrefix', () => {
    const time = Date.UTC(2013, 10, 1, 21, 32, 16);
    assert.equal(logObjectKey({ prefix: 'logs/', partitioned: false, time, unique: 'E568B2907131C0C0' }), 'logs/2013-11-01-21-32-16-E568B2907131C0C0');
    assert.equal(logObjectKey({ prefix: '', partitioned: false, time, unique: 'AB' }), '2013-11-01-21-32-16-AB');
    assert.equal(
      logObjectKey({ prefix: 'logs/', partitioned: true, time, unique: 'E568B2907131C0C0', sourceAccount: OWNER, sourceRegion: 'us-east-1', sourceBucket: 'photos' }),
      `logs/${OWNER}/us-east-1/photos/2013/11/01/2013-11-01-21-32-16-E568B2907131C0C0`,
    );
  });
});

describe('BucketLoggingStatus', () => {
  const doc = (inner: string): string => `<BucketLoggingStatus xmlns="http://doc.s3.amazonaws.com/2006-03-01">${inner}</BucketLoggingStatus>`;
  const malformed = (body: string, code = 'MalformedXML'): void => {
    assert.throws(() => parseBucketLoggingStatus(body), (err: unknown) => err instanceof S3Error && err.code === code, body);
  };

  test('empty: logging disabled; a full configuration reads back the same, in S3 element order', () => {
    assert.equal(parseBucketLoggingStatus(doc('')), undefined);
    assert.equal(parseBucketLoggingStatus(doc('\n  ')), undefined);
    const config = parseBucketLoggingStatus(
      doc(
        '<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>a/</TargetPrefix><TargetGrants><Grant>' +
          '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee>' +
          '<Permission>READ</Permission></Grant></TargetGrants><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>',
      ),
    );
    assert.deepEqual(config, {
      targetBucket: 'logs',
      targetPrefix: 'a/',
      targetGrants: [{ grantee: { type: 'Group', uri: 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers' }, permission: 'READ' }],
      keyFormat: { partitioned: true, dateSource: 'DeliveryTime' },
    });
    assert.equal(partitionsByEventTime(config!.keyFormat), false);
    const xml = bucketLoggingStatusXml(config);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<BucketLoggingStatus xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><LoggingEnabled><TargetBucket>logs<\/TargetBucket><TargetPrefix>a\/<\/TargetPrefix><TargetGrants><Grant><Grantee /);
    assert.deepEqual(parseBucketLoggingStatus(xml), config);
    assert.equal(bucketLoggingStatusXml(undefined), '<?xml version="1.0" encoding="UTF-8"?>\n<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></BucketLoggingStatus>');
    // SimplePrefix, PartitionedPrefix without a date source (EventTime), an absent prefix.
    const simple = parseBucketLoggingStatus(doc('<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetObjectKeyFormat><SimplePrefix/></TargetObjectKeyFormat></LoggingEnabled>'));
    assert.deepEqual(simple, { targetBucket: 'logs', targetPrefix: '', keyFormat: { simple: true } });
    assert.match(bucketLoggingStatusXml(simple), /<TargetObjectKeyFormat><SimplePrefix><\/SimplePrefix><\/TargetObjectKeyFormat>/);
    const partitioned = parseBucketLoggingStatus(doc('<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><PartitionedPrefix/></TargetObjectKeyFormat></LoggingEnabled>'));
    assert.equal(partitionsByEventTime(partitioned!.keyFormat), true);
    assert.deepEqual(parseBucketLoggingStatus(bucketLoggingStatusXml(partitioned)), partitioned);
  });

  test('malformed documents', () => {
    malformed('not xml');
    malformed('<Other/>');
    malformed(doc('<LoggingEnabled></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket> </TargetBucket></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket><TargetBucket>b</TargetBucket></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket><Unknown/></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled><LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket><TargetObjectKeyFormat></TargetObjectKeyFormat></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket><TargetObjectKeyFormat><SimplePrefix/><PartitionedPrefix/></TargetObjectKeyFormat></LoggingEnabled>'));
    malformed(doc('<LoggingEnabled><TargetBucket>a</TargetBucket><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>Now</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>'));
    const grant = (permission: string, grantee = '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>abc</ID></Grantee>'): string =>
      doc(`<LoggingEnabled><TargetBucket>a</TargetBucket><TargetGrants><Grant>${grantee}<Permission>${permission}</Permission></Grant></TargetGrants></LoggingEnabled>`);
    malformed(grant('READ_ACP'));
    malformed(grant('READ', '<Grantee><ID>abc</ID></Grantee>'));
    assert.equal(parseBucketLoggingStatus(grant('FULL_CONTROL'))!.targetGrants![0]!.permission, 'FULL_CONTROL');
    malformed(doc(`<LoggingEnabled><TargetBucket>a</TargetBucket><TargetPrefix>${'p'.repeat(513)}</TargetPrefix></LoggingEnabled>`), 'InvalidArgument');
  });
});
