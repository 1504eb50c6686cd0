/**
 * Bucket configurations Pi Cloud does not implement, answered as S3 answers for a bucket where
 * they were never set: transfer acceleration,
 * and the analytics, metrics, inventory and Intelligent-Tiering configurations. Tools that read every configuration of a bucket
 * (Terraform's AWS provider, the console's exports, backup tools) then see "none" instead of an
 * error; setting any of them stays `NotImplemented`, and deleting one of a list is `NoSuchConfiguration`.
 */
import { S3Error, emptyDocumentXml } from './protocol/index.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';
import { sendXml } from './replies.ts';
import type { Operation } from './replies.ts';

/** How a GET of an unset configuration is answered. */
interface Unset {
  /** Operation name (metrics and errors). */
  op: string;
  /** Policy action checked (besides ownership). */
  action: string;
  /** The empty document answered with 200. */
  document?: { root: string; inner?: string };
  /** With `?id=`: one configuration of a list, which does not exist. */
  listRoot?: string;
}

const UNSET: Record<string, Unset> = {
  accelerate: { op: 'GetBucketAccelerateConfiguration', action: 's3:GetAccelerateConfiguration', document: { root: 'AccelerateConfiguration' } },
  analytics: { op: 'GetBucketAnalyticsConfiguration', action: 's3:GetAnalyticsConfiguration', listRoot: 'ListBucketAnalyticsConfigurationResult' },
  metrics: { op: 'GetBucketMetricsConfiguration', action: 's3:GetMetricsConfiguration', listRoot: 'ListMetricsConfigurationsResult' },
  inventory: { op: 'GetBucketInventoryConfiguration', action: 's3:GetInventoryConfiguration', listRoot: 'ListInventoryConfigurationsResult' },
  'intelligent-tiering': { op: 'GetBucketIntelligentTieringConfiguration', action: 's3:GetIntelligentTieringConfiguration', listRoot: 'ListBucketIntelligentTieringConfigurationsOutput' },
};

/**
 * The operation when `r` is a GET (or DELETE) of one of these configurations, else undefined.
 * `bucketFor` resolves the bucket if the requester may do the action (its owner, or the policy).
 */
export function unconfiguredOperation(r: S3Request, bucketFor: (r: S3Request, action: string) => Promise<BucketEntry>): Operation | undefined {
  for (const [sub, unset] of Object.entries(UNSET)) {
    if (!r.query.has(sub)) continue;
    if (r.method === 'GET') {
      return {
        name: unset.op,
        run: async () => {
          await bucketFor(r, unset.action);
          const id = r.query.get('id');
          if (unset.listRoot !== undefined) {
            if (id !== null) throw new S3Error('NoSuchConfiguration');
            sendXml(r, emptyDocumentXml(unset.listRoot, '<IsTruncated>false</IsTruncated>'));
            return;
          }
          sendXml(r, emptyDocumentXml(unset.document!.root, unset.document!.inner));
        },
      };
    }
    if (r.method === 'DELETE' && unset.listRoot !== undefined) {
      return {
        name: unset.op.replace(/^Get/, 'Delete'),
        run: async () => {
          await bucketFor(r, unset.action.replace(':Get', ':Put'));
          throw new S3Error('NoSuchConfiguration');
        },
      };
    }
    return undefined;
  }
  return undefined;
}
