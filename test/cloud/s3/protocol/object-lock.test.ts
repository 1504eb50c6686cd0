/**
 * S3 Object Lock at the protocol level: the ObjectLockConfiguration, Retention and LegalHold
 * documents as the AWS SDK writes them (parsed) and reads them (built), their errors, the
 * `x-amz-object-lock-*` write headers, default retention periods and the rules of a retention
 * change and of a removal.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
} from '@aws-sdk/client-s3';
import type { GetObjectLegalHoldCommandOutput, GetObjectLockConfigurationCommandOutput, GetObjectRetentionCommandOutput, HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import {
  defaultRetentionUntil,
  hasLockHeaders,
  legalHoldXml,
  objectLockConfigurationXml,
  parseLegalHold,
  parseLockHeaders,
  parseObjectLockConfiguration,
  parseRetainUntilDate,
  parseRetention,
  retentionChangeAllowed,
  retentionXml,
  versionRemovable,
} from '../../../../src/cloud/s3/protocol/object-lock.ts';
import { capture } from './sdk-capture.ts';
import { respond } from './sdk-respond.ts';
import { s3code } from './s3-error.ts';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';


describe('ObjectLockConfiguration', () => {
  test('parses what the SDK sends: enabled alone, Days, Years', async () => {
    const bare = await capture(new PutObjectLockConfigurationCommand({ Bucket: 'b', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
    assert.deepEqual(parseObjectLockConfiguration(bare.body), {});
    const days = await capture(new PutObjectLockConfigurationCommand({ Bucket: 'b', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } } } }));
    assert.equal(days.query, 'object-lock=');
    assert.deepEqual(parseObjectLockConfiguration(days.body), { rule: { mode: 'GOVERNANCE', days: 7 } });
    const years = await capture(new PutObjectLockConfigurationCommand({ Bucket: 'b', ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Years: 3 } } } }));
    assert.deepEqual(parseObjectLockConfiguration(years.body), { rule: { mode: 'COMPLIANCE', years: 3 } });
  });

  test('refuses what S3 refuses', () => {
    const doc = (inner: string): string => `<ObjectLockConfiguration ${NS}>${inner}</ObjectLockConfiguration>`;
    const rule = (inner: string): string => doc(`<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>${inner}</DefaultRetention></Rule>`);
    assert.throws(() => parseObjectLockConfiguration(doc('')), s3code('MalformedXML'));
    assert.throws(() => parseObjectLockConfiguration(doc('<ObjectLockEnabled>Disabled</ObjectLockEnabled>')), s3code('MalformedXML'));
    assert.throws(() => parseObjectLockConfiguration('<Other/>'), s3code('MalformedXML'));
    assert.throws(() => parseObjectLockConfiguration(doc('<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule/>')), s3code('MalformedXML'));
    assert.throws(() => parseObjectLockConfiguration(rule('<Days>1</Days>')), s3code('MalformedXML'), 'no mode');
    assert.throws(() => parseObjectLockConfiguration(rule('<Mode>governance</Mode><Days>1</Days>')), s3code('MalformedXML'), 'modes are upper case');
    assert.throws(() => parseObjectLockConfiguration(rule('<Mode>GOVERNANCE</Mode>')), s3code('MalformedXML'), 'no period');
    assert.throws(() => parseObjectLockConfiguration(rule('<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>')), s3code('MalformedXML'), 'both periods');
    for (const bad of ['0', '-1', '1.5', 'x', '']) assert.throws(() => parseObjectLockConfiguration(rule(`<Mode>GOVERNANCE</Mode><Days>${bad}</Days>`)), s3code('InvalidArgument'), bad);
    assert.throws(() => parseObjectLockConfiguration(rule('<Mode>GOVERNANCE</Mode><Days>36501</Days>')), s3code('InvalidArgument'));
    assert.throws(() => parseObjectLockConfiguration(rule('<Mode>GOVERNANCE</Mode><Years>101</Years>')), s3code('InvalidArgument'));
    assert.deepEqual(parseObjectLockConfiguration(rule('<Mode>GOVERNANCE</Mode><Years>100</Years>')), { rule: { mode: 'GOVERNANCE', years: 100 } });
  });

  test('the document read back by the SDK', async () => {
    const out = await respond<GetObjectLockConfigurationCommandOutput>(new GetObjectLockConfigurationCommand({ Bucket: 'b' }), { status: 200, body: objectLockConfigurationXml({ rule: { mode: 'COMPLIANCE', days: 5 } }) });
    assert.deepEqual(out.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 5 } } });
    const bare = await respond<GetObjectLockConfigurationCommandOutput>(new GetObjectLockConfigurationCommand({ Bucket: 'b' }), { status: 200, body: objectLockConfigurationXml({}) });
    assert.deepEqual(bare.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled' });
  });

  test('default retention periods: days of 24 hours, calendar years', () => {
    assert.equal(defaultRetentionUntil({ mode: 'GOVERNANCE', days: 2 }, NOW), NOW + 2 * DAY);
    assert.equal(defaultRetentionUntil({ mode: 'GOVERNANCE', years: 1 }, NOW), Date.UTC(2027, 0, 1));
    assert.equal(defaultRetentionUntil({ mode: 'GOVERNANCE', years: 1 }, Date.UTC(2028, 1, 29)), Date.UTC(2029, 2, 1), 'Feb 29 + 1 year');
  });
});

describe('Retention and LegalHold documents', () => {
  test('PutObjectRetention and PutObjectLegalHold as the SDK sends them', async () => {
    const until = new Date(NOW + DAY);
    const put = await capture(new PutObjectRetentionCommand({ Bucket: 'b', Key: 'k', VersionId: 'v', Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until }, BypassGovernanceRetention: true }));
    assert.equal(put.headers['x-amz-bypass-governance-retention'], 'true');
    assert.deepEqual(parseRetention(put.body, NOW), { mode: 'GOVERNANCE', until: until.getTime() });
    const hold = await capture(new PutObjectLegalHoldCommand({ Bucket: 'b', Key: 'k', LegalHold: { Status: 'ON' } }));
    assert.match(hold.query, /legal-hold/);
    assert.equal(parseLegalHold(hold.body), 'ON');
  });

  test('parse errors', () => {
    const ret = (inner: string): string => `<Retention ${NS}>${inner}</Retention>`;
    assert.equal(parseRetention(ret(''), NOW), undefined, 'an empty Retention removes it');
    assert.throws(() => parseRetention(ret('<Mode>GOVERNANCE</Mode>'), NOW), s3code('MalformedXML'));
    assert.throws(() => parseRetention(ret('<RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>'), NOW), s3code('MalformedXML'));
    assert.throws(() => parseRetention(ret('<Mode>LOCKED</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>'), NOW), s3code('MalformedXML'));
    assert.throws(() => parseRetention(ret('<Mode>GOVERNANCE</Mode><RetainUntilDate>soon</RetainUntilDate>'), NOW), s3code('InvalidArgument', /ISO 8601/));
    assert.throws(() => parseRetention(ret('<Mode>GOVERNANCE</Mode><RetainUntilDate>2025-01-01T00:00:00Z</RetainUntilDate>'), NOW), s3code('InvalidArgument', /in the future/));
    assert.throws(() => parseLegalHold(`<LegalHold ${NS}><Status>on</Status></LegalHold>`), s3code('MalformedXML'));
    assert.throws(() => parseLegalHold(`<LegalHold ${NS}/>`), s3code('MalformedXML'));
    assert.throws(() => parseLegalHold('<Retention/>'), s3code('MalformedXML'));
  });

  test('GetObjectRetention and GetObjectLegalHold read back by the SDK', async () => {
    const until = NOW + 3 * DAY + 123;
    const r = await respond<GetObjectRetentionCommandOutput>(new GetObjectRetentionCommand({ Bucket: 'b', Key: 'k' }), { status: 200, body: retentionXml({ mode: 'COMPLIANCE', until }) });
    assert.deepEqual(r.Retention, { Mode: 'COMPLIANCE', RetainUntilDate: new Date(until) });
    const h = await respond<GetObjectLegalHoldCommandOutput>(new GetObjectLegalHoldCommand({ Bucket: 'b', Key: 'k' }), { status: 200, body: legalHoldXml('OFF') });
    assert.equal(h.LegalHold?.Status, 'OFF');
  });

  test('HeadObject lock headers as the SDK reads them', async () => {
    const until = NOW + DAY;
    const out = await respond<HeadObjectCommandOutput>(new HeadObjectCommand({ Bucket: 'b', Key: 'k' }), {
      status: 200,
      headers: { 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': new Date(until).toISOString(), 'x-amz-object-lock-legal-hold': 'ON' },
    });
    assert.equal(out.ObjectLockMode, 'GOVERNANCE');
    assert.equal(out.ObjectLockRetainUntilDate?.getTime(), until);
    assert.equal(out.ObjectLockLegalHoldStatus, 'ON');
  });
});

describe('x-amz-object-lock-* write headers', () => {
  test('as the SDK sends them', async () => {
    const until = new Date(NOW + DAY);
    const req = await capture(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'OFF' }));
    assert.ok(hasLockHeaders(req.headers));
    assert.deepEqual(parseLockHeaders(req.headers, NOW), { retention: { mode: 'COMPLIANCE', until: until.getTime() }, legalHold: 'OFF' });
    assert.ok(!hasLockHeaders({ 'content-type': 'text/plain' }));
    assert.deepEqual(parseLockHeaders({}, NOW), {});
  });

  test('errors', () => {
    const date = '2026-06-01T00:00:00Z';
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-mode': 'GOVERNANCE' }, NOW), s3code('InvalidArgument', /must both be supplied/));
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-retain-until-date': date }, NOW), s3code('InvalidArgument', /must both be supplied/));
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-mode': 'governance', 'x-amz-object-lock-retain-until-date': date }, NOW), s3code('InvalidArgument', /Unknown wormMode directive/));
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': '06/01/2026' }, NOW), s3code('InvalidArgument', /ISO 8601/));
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': new Date(NOW).toISOString() }, NOW), s3code('InvalidArgument', /in the future/));
    assert.throws(() => parseLockHeaders({ 'x-amz-object-lock-legal-hold': 'on' }, NOW), s3code('InvalidArgument', /Legal Hold/));
  });

  test('retain-until dates: ISO 8601 with a zone', () => {
    assert.equal(parseRetainUntilDate('2026-01-02T00:00:00Z'), NOW + DAY);
    assert.equal(parseRetainUntilDate('2026-01-02T00:00:00.000Z'), NOW + DAY);
    assert.equal(parseRetainUntilDate('2026-01-02T01:00:00+01:00'), NOW + DAY);
    for (const bad of ['2026-01-02', '2026-01-02T00:00:00', 'Fri, 02 Jan 2026 00:00:00 GMT', '2026-13-02T00:00:00Z', '']) assert.equal(parseRetainUntilDate(bad), undefined, bad);
  });
});

describe('what a lock allows', () => {
  const gov = { mode: 'GOVERNANCE' as const, until: NOW + DAY };
  const comp = { mode: 'COMPLIANCE' as const, until: NOW + DAY };

  test('retention changes', () => {
    for (const current of [gov, comp]) {
      assert.ok(retentionChangeAllowed(current, { ...current, until: current.until + DAY }, NOW, false), 'extended');
      assert.ok(retentionChangeAllowed(current, current, NOW, false), 'the same');
      assert.ok(retentionChangeAllowed(current, undefined, current.until, false), 'expired: anything');
    }
    assert.ok(retentionChangeAllowed(undefined, gov, NOW, false));
    assert.ok(!retentionChangeAllowed(gov, { ...gov, until: NOW + 1 }, NOW, false), 'shortened');
    assert.ok(!retentionChangeAllowed(gov, undefined, NOW, false), 'removed');
    assert.ok(!retentionChangeAllowed(gov, { ...comp, until: gov.until + DAY }, NOW, false), 'mode changed');
    assert.ok(retentionChangeAllowed(gov, { ...gov, until: NOW + 1 }, NOW, true));
    assert.ok(retentionChangeAllowed(gov, undefined, NOW, true));
    assert.ok(!retentionChangeAllowed(comp, { ...comp, until: NOW + 1 }, NOW, true), 'COMPLIANCE: never shortened');
    assert.ok(!retentionChangeAllowed(comp, undefined, NOW, true));
    assert.ok(!retentionChangeAllowed(comp, { ...gov, until: comp.until + DAY }, NOW, true));
  });

  test('removal of a version', () => {
    assert.ok(versionRemovable({}, NOW, false));
    assert.ok(versionRemovable({ legalHold: 'OFF' }, NOW, false));
    assert.ok(!versionRemovable({ legalHold: 'ON' }, NOW, true), 'a legal hold is never bypassed');
    assert.ok(!versionRemovable({ retention: gov }, NOW, false));
    assert.ok(versionRemovable({ retention: gov }, NOW, true));
    assert.ok(!versionRemovable({ retention: comp }, NOW, true));
    assert.ok(versionRemovable({ retention: comp }, comp.until, false), 'expired');
    assert.ok(!versionRemovable({ retention: comp, legalHold: 'ON' }, comp.until, false));
  });
});
