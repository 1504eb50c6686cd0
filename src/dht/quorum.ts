/**
 * Quorum sizes for a replica set smaller than configured (a ring of fewer nodes than
 * `replicas`, or one that lost members).
 *
 * The configured quorums say how many replicas may be away: `replicas - writeQuorum` for writes,
 * `replicas - readQuorum` for reads. A smaller set keeps that tolerance where it can (so a
 * 3-node ring with the default 4/3/3 writes and reads with 2 of 3, and one node crashing does not
 * stall either until it is detected), with two limits:
 * - a write is acknowledged by at least two copies whenever the set has two nodes (unless the
 *   configured write quorum is 1): tolerating a node away must not mean that one disk holds the
 *   only acknowledged copy;
 * - when the configured quorums overlap (read + write > replicas, so every read sees the latest
 *   acknowledged write), the smaller ones still do: the read quorum grows where needed.
 */

/** Write and read quorums for a replica set of `size` nodes. */
export function quorumsFor(options: { replicas: number; writeQuorum: number; readQuorum: number }, size: number): { write: number; read: number } {
  const { replicas, writeQuorum, readQuorum } = options;
  if (size >= replicas) return { write: writeQuorum, read: readQuorum };
  const n = Math.max(1, size);
  const write = Math.min(n, Math.max(n - (replicas - writeQuorum), Math.min(writeQuorum, 2)));
  let read = Math.max(1, n - (replicas - readQuorum));
  if (readQuorum + writeQuorum > replicas && read + write <= n) read = n - write + 1;
  return { write, read: Math.min(read, n) };
}
