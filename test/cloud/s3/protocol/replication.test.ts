/**
 * The replication configuration document (protocol/replication.ts), without a ring: both schemas,
 * the round trip of what GetBucketReplication answers, S3's refusals, and which rule applies.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReplicationConfiguration, replicationConfigurationXml, replicationRuleFor } from '../../../../src/cloud/s3/protocol/index.ts';
import type { ReplicationConfiguration } from '../../../../src/cloud/s3/protocol/index.ts';
import { s3code } from './s3-error.ts';

const ROLE = '<Role>arn:aws:iam::123456789012:role/replication</Role>';
const doc = (rules: string, role = ROLE): string => `<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${role}${rules}</ReplicationConfiguration>`;
const dest = (bucket = 'backup', extra = ''): string => `<Destination><Bucket>arn:aws:s3:::${bucket}</Bucket>${extra}</Destination>`;
const markers = (status: 'Enabled' | 'Disabled'): string => `<DeleteMarkerReplication><Status>${status}</Status></DeleteMarkerReplication>`;
let n = 0;
const newId = (): string => `gen${++n}`;
const parse = (xml: string): ReplicationConfiguration => parseReplicationConfiguration(xml, newId);

describe('replication configuration', () => {
  test('V2 rules: filters, priorities, delete markers, storage class; the answered document parses back the same', () => {
    const config = parse(
      doc(
        `<Rule><ID>logs</ID><Priority>2</Priority><Filter><And><Prefix>logs/</Prefix><Tag><Key>keep</Key><Value>yes</Value></Tag></And></Filter><Status>Enabled</Status>${dest('backup', '<StorageClass>STANDARD_IA</StorageClass>')}${markers('Disabled')}</Rule>` +
          `<Rule><Priority>1</Priority><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>${dest('mirror')}${markers('Enabled')}</Rule>` +
          `<Rule><ID>tagged</ID><Priority>3</Priority><Filter><Tag><Key>t</Key><Value>v</Value></Tag></Filter><Status>Disabled</Status><SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Disabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria><ExistingObjectReplication><Status>Disabled</Status></ExistingObjectReplication>${dest()}${markers('Disabled')}</Rule>`,
      ),
    );
    assert.equal(config.role, 'arn:aws:iam::123456789012:role/replication');
    assert.deepEqual(
      config.rules.map((r) => [r.id, r.priority, r.prefix, r.tags, r.destination, r.storageClass, r.deleteMarkers, r.enabled]),
      [
        ['logs', 2, 'logs/', [{ key: 'keep', value: 'yes' }], 'backup', 'STANDARD_IA', false, true],
        [config.rules[1]!.id, 1, '', undefined, 'mirror', undefined, true, true],
        ['tagged', 3, '', [{ key: 't', value: 'v' }], 'backup', undefined, false, false],
      ],
    );
    assert.match(config.rules[1]!.id, /^gen\d+$/, 'a rule without an ID is named');
    assert.deepEqual(parse(replicationConfigurationXml(config)), config);
  });

  test('V1 rules: a top-level Prefix, and delete markers replicated', () => {
    const config = parse(doc(`<Rule><ID>all</ID><Prefix>docs/</Prefix><Status>Enabled</Status>${dest()}</Rule>`));
    assert.deepEqual(config.rules[0], { id: 'all', enabled: true, prefix: 'docs/', filtered: false, destination: 'backup', deleteMarkers: true });
    assert.deepEqual(parse(replicationConfigurationXml(config)), config);
  });

  test('refusals, with the codes S3 answers', () => {
    const v2 = (inner: string): string => `<Rule><Priority>1</Priority><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status>${inner}</Rule>`;
    assert.throws(() => parse(doc(`<Rule><Status>Enabled</Status>${dest()}</Rule>`, '')), s3code('MalformedXML'), 'no Role');
    assert.throws(() => parse(doc('')), s3code('MalformedXML'), 'no rule');
    assert.throws(() => parse(doc(`<Rule><Status>On</Status>${dest()}</Rule>`)), s3code('MalformedXML'));
    assert.throws(() => parse(doc(`<Rule><Status>Enabled</Status></Rule>`)), s3code('MalformedXML'), 'no Destination');
    assert.throws(() => parse(doc(`<Rule><Prefix>a</Prefix><Filter/><Status>Enabled</Status>${dest()}${markers('Disabled')}</Rule>`)), s3code('MalformedXML'), 'Prefix and Filter');
    assert.throws(() => parse(doc(v2(dest()))), s3code('InvalidRequest', /DeleteMarkerReplication must be specified/));
    assert.throws(() => parse(doc(`<Rule><Status>Enabled</Status><Destination><Bucket>backup</Bucket></Destination></Rule>`)), s3code('InvalidArgument', /Invalid bucket ARN/));
    assert.throws(() => parse(doc(`<Rule><ID>x</ID><Status>Enabled</Status>${dest()}</Rule><Rule><ID>x</ID><Status>Enabled</Status>${dest('other')}</Rule>`)), s3code('InvalidRequest', /Rule Id must be unique/));
    assert.throws(() => parse(doc(v2(dest() + markers('Disabled')) + v2(dest('other') + markers('Disabled')))), s3code('InvalidRequest', /duplicate priority 1/));
    assert.throws(() => parse(doc(v2(dest() + markers('Disabled')) + `<Rule><Prefix>b</Prefix><Status>Enabled</Status>${dest()}</Rule>`)), s3code('MalformedXML'), 'V1 and V2 rules mixed');
    assert.throws(
      () => parse(doc(`<Rule><Priority>1</Priority><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>${dest()}${markers('Enabled')}</Rule>`)),
      s3code('InvalidRequest', /Delete marker replication is not supported if any Tag filter/),
    );
    assert.throws(() => parse(doc(`<Rule><ID>${'i'.repeat(256)}</ID><Status>Enabled</Status>${dest()}</Rule>`)), s3code('InvalidArgument'));
    assert.throws(() => parse(doc(`<Rule><Status>Enabled</Status>${dest()}</Rule>`.repeat(1001))), s3code('InvalidRequest', /cannot exceed 1000/));
    for (const extra of ['<Account>123456789012</Account>', '<AccessControlTranslation><Owner>Destination</Owner></AccessControlTranslation>', '<Metrics><Status>Enabled</Status></Metrics>', '<ReplicationTime><Status>Enabled</Status><Time><Minutes>15</Minutes></Time></ReplicationTime>']) {
      assert.throws(() => parse(doc(`<Rule><Status>Enabled</Status>${dest('backup', extra)}</Rule>`)), s3code('NotImplemented'), extra);
    }
    assert.throws(() => parse(doc(v2(`<ExistingObjectReplication><Status>Enabled</Status></ExistingObjectReplication>${dest()}${markers('Disabled')}`))), s3code('NotImplemented'));
    const kmsSelected = `<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>`;
    assert.throws(() => parse(doc(v2(`${kmsSelected}${dest()}${markers('Disabled')}`))), s3code('InvalidRequest', /ReplicaKmsKeyID must be specified/));
    assert.throws(() => parse(doc(v2(`${dest('backup', '<EncryptionConfiguration><ReplicaKmsKeyID>k</ReplicaKmsKeyID></EncryptionConfiguration>')}${markers('Disabled')}`))), s3code('InvalidRequest', /SseKmsEncryptedObjects must be specified/));
    const kms = parse(doc(v2(`${kmsSelected}${dest('backup', '<EncryptionConfiguration><ReplicaKmsKeyID>alias/replica</ReplicaKmsKeyID></EncryptionConfiguration>')}${markers('Disabled')}`)));
    assert.equal(kms.rules[0]!.replicaKmsKey, 'alias/replica');
    assert.equal(kms.rules[0]!.sseKms, true);
    assert.deepEqual(parse(replicationConfigurationXml(kms)), kms, 'SSE-KMS selection answered back');
  });

  test('the rule for an object: enabled, selecting it, the highest priority', () => {
    const config = parse(
      doc(
        `<Rule><ID>low</ID><Priority>1</Priority><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status>${dest('low')}${markers('Enabled')}</Rule>` +
          `<Rule><ID>high</ID><Priority>5</Priority><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><Status>Enabled</Status>${dest('high')}${markers('Disabled')}</Rule>` +
          `<Rule><ID>off</ID><Priority>9</Priority><Filter><Prefix></Prefix></Filter><Status>Disabled</Status>${dest('off')}${markers('Disabled')}</Rule>`,
      ),
    );
    assert.equal(replicationRuleFor(config, { key: 'a/1', tags: [{ key: 'k', value: 'v' }] })?.id, 'high');
    assert.equal(replicationRuleFor(config, { key: 'a/1', tags: [{ key: 'k', value: 'other' }] })?.id, 'low', 'a tag must have its exact value');
    assert.equal(replicationRuleFor(config, { key: 'a/1' })?.id, 'low');
    assert.equal(replicationRuleFor(config, { key: 'b/1' }), undefined, 'the only rule for every key is disabled');
    assert.equal(replicationRuleFor(undefined, { key: 'a/1' }), undefined);
  });
});
