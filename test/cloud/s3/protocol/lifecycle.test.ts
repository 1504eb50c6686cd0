/**
 * The lifecycle document and the rules' arithmetic (protocol/lifecycle.ts), without a ring:
 * midnights, which rule wins, filters at their bounds, the document's round trip.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DAY_MS,
  S3Error,
  lifecycleConfigurationXml,
  midnightAfter,
  noncurrentExpiry,
  objectExpiry,
  parseLifecycleConfiguration,
  removesExpiredMarkers,
  ruleMatches,
  uploadAbortTime,
} from '../../../../src/cloud/s3/protocol/index.ts';
import type { LifecycleRule } from '../../../../src/cloud/s3/protocol/index.ts';

const doc = (rules: string): string => `<LifecycleConfiguration>${rules}</LifecycleConfiguration>`;
let n = 0;
const newId = (): string => `gen${++n}`;

describe('lifecycle rules', () => {
  test('an object expires at the first midnight UTC after Last-Modified + Days', () => {
    const lm = Date.parse('2026-01-15T10:30:00Z');
    assert.equal(midnightAfter(lm + 3 * DAY_MS), Date.parse('2026-01-19T00:00:00Z'));
    const exact = Date.parse('2026-01-15T00:00:00Z');
    assert.equal(midnightAfter(exact), Date.parse('2026-01-16T00:00:00Z'), 'after, not at');
    const rules: LifecycleRule[] = [
      { id: 'late', enabled: true, expiration: { days: 10 } },
      { id: 'early', enabled: true, filter: { prefix: 'a/' }, expiration: { days: 2 } },
      { id: 'off', enabled: false, expiration: { days: 1 } },
      { id: 'date', enabled: true, filter: { tags: [{ key: 't', value: '' }] }, expiration: { date: Date.parse('2026-01-16T00:00:00Z') } },
    ];
    assert.deepEqual(objectExpiry(rules, { key: 'a/x', size: 1 }, lm), { at: Date.parse('2026-01-18T00:00:00Z'), ruleId: 'early' });
    assert.deepEqual(objectExpiry(rules, { key: 'b/x', size: 1 }, lm), { at: Date.parse('2026-01-26T00:00:00Z'), ruleId: 'late' });
    assert.deepEqual(objectExpiry(rules, { key: 'a/x', size: 1, tags: [{ key: 't', value: '' }] }, lm), { at: Date.parse('2026-01-16T00:00:00Z'), ruleId: 'date' });
    assert.equal(objectExpiry(rules.slice(2, 3), { key: 'a', size: 1 }, lm), undefined, 'disabled rules do nothing');
    assert.equal(objectExpiry([{ id: 'm', enabled: true, expiration: { deleteMarker: true } }], { key: 'a', size: 1 }, lm), undefined, 'a delete-marker rule expires no object');
  });

  test('noncurrent versions expire NoncurrentDays after they became noncurrent, past the NewerNoncurrentVersions kept; markers by rule', () => {
    const since = Date.parse('2026-01-15T10:30:00Z');
    const rules: LifecycleRule[] = [
      { id: 'all', enabled: true, noncurrentExpiration: { days: 30 } },
      { id: 'logs', enabled: true, filter: { prefix: 'logs/' }, noncurrentExpiration: { days: 1, newer: 2 } },
      { id: 'off', enabled: false, noncurrentExpiration: { days: 0 } },
      { id: 'markers', enabled: true, filter: { prefix: 'tmp/' }, expiration: { deleteMarker: true } },
    ];
    assert.deepEqual(noncurrentExpiry(rules, { key: 'a', size: 1 }, since, 0), { at: Date.parse('2026-02-15T00:00:00Z'), ruleId: 'all' });
    assert.deepEqual(noncurrentExpiry(rules, { key: 'logs/x', size: 1 }, since, 1), { at: Date.parse('2026-02-15T00:00:00Z'), ruleId: 'all' }, 'two newer noncurrent versions are kept by "logs"');
    assert.deepEqual(noncurrentExpiry(rules, { key: 'logs/x', size: 1 }, since, 2), { at: Date.parse('2026-01-17T00:00:00Z'), ruleId: 'logs' });
    assert.equal(noncurrentExpiry(rules.slice(2), { key: 'a', size: 1 }, since, 5), undefined, 'disabled and marker rules expire no version');
    assert.ok(removesExpiredMarkers(rules, 'tmp/x'));
    assert.ok(!removesExpiredMarkers(rules, 'logs/x'));
    assert.ok(!removesExpiredMarkers([{ id: 'm', enabled: false, expiration: { deleteMarker: true } }], 'tmp/x'));
  });

  test('filters: prefix, every tag with its exact value, sizes strictly between the bounds', () => {
    const rule: LifecycleRule = { id: 'r', enabled: true, filter: { and: true, prefix: 'p/', tags: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }], gt: 10, lt: 20 }, expiration: { days: 1 } };
    const tags = [{ key: 'a', value: '1' }, { key: 'b', value: '2' }, { key: 'c', value: '3' }];
    assert.ok(ruleMatches(rule, { key: 'p/x', size: 11, tags }));
    assert.ok(!ruleMatches(rule, { key: 'q/x', size: 11, tags }), 'prefix');
    assert.ok(!ruleMatches(rule, { key: 'p/x', size: 10, tags }), 'size equal to the lower bound');
    assert.ok(!ruleMatches(rule, { key: 'p/x', size: 20, tags }), 'size equal to the upper bound');
    assert.ok(!ruleMatches(rule, { key: 'p/x', size: 15, tags: [{ key: 'a', value: '1' }] }), 'a tag missing');
    assert.ok(!ruleMatches(rule, { key: 'p/x', size: 15, tags: [{ key: 'a', value: '1' }, { key: 'b', value: '3' }] }), 'a tag with another value');
    assert.ok(ruleMatches({ id: 'legacy', enabled: true, prefix: 'old/', expiration: { days: 1 } }, { key: 'old/1', size: 0 }));
  });

  test('uploads are aborted at the first midnight after initiation + DaysAfterInitiation, by prefix', () => {
    const rules: LifecycleRule[] = [{ id: 'u', enabled: true, filter: { prefix: 'mp/' }, abortDays: 1 }];
    const t = Date.parse('2026-03-01T23:59:00Z');
    assert.deepEqual(uploadAbortTime(rules, 'mp/x', t), { at: Date.parse('2026-03-03T00:00:00Z'), ruleId: 'u' });
    assert.equal(uploadAbortTime(rules, 'other', t), undefined);
  });

  test('the document round trips; a rule without ID is named; dates are midnights', () => {
    const xml = doc(
      '<Rule><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v &amp; w</Value></Tag><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01</Date></Expiration></Rule>' +
        '<Rule><ID>x</ID><Prefix></Prefix><Status>Disabled</Status><Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>',
    );
    const rules = parseLifecycleConfiguration(xml, newId);
    assert.equal(rules[0]!.id.startsWith('gen'), true);
    assert.deepEqual(rules[0]!.filter, { and: true, prefix: 'p/', tags: [{ key: 'k', value: 'v & w' }], gt: 5 });
    assert.equal(rules[0]!.expiration?.date, Date.parse('2030-01-01T00:00:00Z'));
    assert.deepEqual(rules[1], { id: 'x', enabled: false, prefix: '', abortDays: 7, transitions: [{ days: 0, storageClass: 'GLACIER' }] });
    assert.deepEqual(parseLifecycleConfiguration(lifecycleConfigurationXml(rules), newId), rules, 'what Get answers parses back to the same rules');
  });

  test('refusals carry S3 codes', () => {
    const ok = '<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>';
    const code = (body: string): string => {
      try {
        parseLifecycleConfiguration(body, newId);
      } catch (err) {
        assert.ok(err instanceof S3Error);
        return err.code;
      }
      return 'accepted';
    };
    assert.equal(code(doc(ok)), 'accepted');
    assert.equal(code(doc(ok.replace('<Days>1</Days>', '<Date>2030-01-01T00:00:01Z</Date>'))), 'InvalidArgument');
    assert.equal(code(doc(ok.replace('<Days>1</Days>', '<Days>-3</Days>'))), 'InvalidArgument');
    assert.equal(code(doc(ok.replace('<Days>1</Days>', '<Days>1.5</Days>'))), 'MalformedXML');
    assert.equal(code(doc(ok.replace('<Days>1</Days>', '<ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker>'))), 'MalformedXML');
    assert.equal(code(doc(ok.replace('<Filter/>', '<Filter><Prefix>a</Prefix><Tag><Key>k</Key></Tag></Filter>'))), 'MalformedXML');
    assert.equal(code(doc(ok.replace('<Filter/>', '<Filter><And><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter>').replace('<Expiration><Days>1</Days></Expiration>', '<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>'))), 'InvalidRequest');
    assert.equal(code(doc(ok.replace('<Expiration><Days>1</Days></Expiration>', '<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>'))), 'InvalidArgument');
    assert.equal(code('<Other/>'), 'MalformedXML');
    // STANDARD_IA and ONEZONE_IA only from 30 days on (S3's minimum storage duration); other classes from 0.
    const transition = (days: number, cls: string): string => doc(ok.replace('<Expiration><Days>1</Days></Expiration>', `<Transition><Days>${days}</Days><StorageClass>${cls}</StorageClass></Transition>`));
    const noncurrent = (days: number, cls: string): string => doc(ok.replace('<Expiration><Days>1</Days></Expiration>', `<NoncurrentVersionTransition><NoncurrentDays>${days}</NoncurrentDays><StorageClass>${cls}</StorageClass></NoncurrentVersionTransition>`));
    assert.deepEqual([code(transition(29, 'STANDARD_IA')), code(transition(10, 'ONEZONE_IA')), code(noncurrent(5, 'STANDARD_IA'))], ['InvalidArgument', 'InvalidArgument', 'InvalidArgument']);
    assert.deepEqual([code(transition(30, 'STANDARD_IA')), code(transition(30, 'ONEZONE_IA')), code(noncurrent(30, 'ONEZONE_IA')), code(transition(0, 'GLACIER')), code(noncurrent(1, 'GLACIER'))], ['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
    try {
      parseLifecycleConfiguration(transition(10, 'STANDARD_IA'), newId);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof S3Error);
      assert.equal(err.message, "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'");
    }
  });
});
