/**
 * Quorum sizes for a replica set smaller than configured (a ring of fewer nodes than
 * `replicas`, or one that lost members).
 *
 * The configured quorums say how many replicas may be away: `replicas - writeQuorum` for writes,
 * `replicas - readQuorum` for reads. A smaller set keeps that tolerance where it can (so a
 * 3-node ring with the default 4/3/3 writes and reads with 2 of 3, and one node crashing does not
 * stall either until it is detected), within three limits:
 * - a write is acknowledged by at least two copies whenever the set has two nodes (unless the
 *   configured write quorum is 1): tolerating a node away must not leave one disk holding the
 *   only acknowledged copy;
 * - when the configured quorums overlap (read + write > replicas, so every read sees the latest
 *   acknowledged write), the smaller ones still do;
 * - and they still do after the set lost one member: a read in a set of `n` meets every write
 *   acknowledged in the set of `n + 1` it was before (the copy on the departed node gone).
 */

interface QuorumOptions {
  replicas: number;
  writeQuorum: number;
  readQuorum: number;
}

/** The write quorum of a set of `n` nodes (`n` at least 1). */
function writeQuorumFor(o: QuorumOptions, n: number): number {
  if (n >= o.replicas) return o.writeQuorum;
  return Math.min(n, Math.max(n - (o.replicas - o.writeQuorum), Math.min(o.writeQuorum, 2)));
}

/** Write and read quorums for a replica set of `size` nodes. */
export function quorumsFor(options: QuorumOptions, size: number): { write: number; read: number } {
  const { replicas, writeQuorum, readQuorum } = options;
  if (size >= replicas) return { write: writeQuorum, read: readQuorum };
  const n = Math.max(1, size);
  const write = writeQuorumFor(options, n);
  let read = Math.max(1, n - (replicas - readQuorum));
  if (readQuorum + writeQuorum > replicas) {
    // Meets this set's writes, and those acknowledged before it lost a member.
    read = Math.max(read, n - write + 1, n + 2 - writeQuorumFor(options, n + 1));
  }
  return { write, read: Math.min(read, n) };
}
