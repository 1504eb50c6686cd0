/**
 * Before a rewrap job rewraps anything: every node serving S3 must already hold the new master key
 * as its current one. A node still on the old key keeps wrapping new data keys under it while the
 * job runs, and those stay behind until the next run — so the job asks the ring first (each node's
 * summary names its current master key id, see S3Service.summary) and refuses while any node
 * serving S3 disagrees or cannot be asked, unless the operator forces it.
 */
import type { RingSnapshot } from '../../node/index.ts';

/** A node that stands in the way of a rewrap, and why. */
export interface KeyMismatch {
  id: string;
  addr: string;
  /** Its current master key id; `null` without one; `unreachable` when it did not answer. */
  current: string | null | 'unreachable';
}

/** The S3 part of a node summary that the check reads. */
interface S3SummarySse {
  sse?: { current?: unknown } | null;
}

/**
 * The members of `snapshot` whose current master key is not `current`: those running the `s3`
 * application with another key or none, and those that did not answer (they may run it).
 */
export function masterKeyMismatches(snapshot: RingSnapshot, current: string): KeyMismatch[] {
  const out: KeyMismatch[] = [];
  for (const m of snapshot.members) {
    const summary = m.summary;
    if (!summary) {
      out.push({ id: m.id, addr: m.addr, current: 'unreachable' });
      continue;
    }
    if (!summary.apps.some((a) => a.name === 's3' && a.state === 'active')) continue;
    const s3 = summary.services['s3'] as S3SummarySse | undefined;
    const theirs = typeof s3?.sse?.current === 'string' ? s3.sse.current : null;
    if (theirs !== current) out.push({ id: m.id, addr: m.addr, current: theirs });
  }
  return out;
}

/** One line per mismatch, for the refusal's message. */
export function describeMismatches(mismatches: readonly KeyMismatch[]): string {
  return mismatches
    .map((m) => `${m.id.slice(0, 12)} (${m.addr}): ${m.current === 'unreachable' ? 'did not answer' : m.current === null ? 'no master key' : `current key ${m.current}`}`)
    .join('; ');
}
