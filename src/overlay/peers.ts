/**
 * What a node knows about each peer it deals with: when it last heard from it, its round-trip
 * time, whether it is under suspicion, and any probe in flight. Also the failed set: nodes
 * declared dead (or departed), kept for a while so stale gossip cannot bring them back.
 */
import type { Timer } from '../env/index.ts';
import type { DepartureReason } from './types.ts';
import type { NodeHandle } from '../wire/index.ts';

/** Why a probe was sent; decides what its timeout means. */
export type ProbePurpose = 'liveness' | 'candidate' | 'join' | 'recheck';

export interface Probe {
  nonce: number;
  attempts: number;
  sentAt: number;
  timer: Timer;
  purpose: ProbePurpose;
}

export interface Peer {
  handle: NodeHandle;
  /** Virtual/real ms of the last message received from it (0 = never). */
  lastHeard: number;
  /** Smoothed RTT and its variance (ms), as TCP estimates them. */
  srtt: number | undefined;
  rttvar: number;
  /** Suspected dead: excluded from routing until heard from again. */
  suspect: boolean;
  probe: Probe | undefined;
}

export interface FailedEntry {
  handle: NodeHandle;
  at: number;
  reason: DepartureReason;
}

/** Peer records keyed by id hex. */
export class PeerTable {
  private readonly peers = new Map<string, Peer>();
  /** Number of peers currently suspected (routing skips the exclusion check when 0). */
  suspects = 0;

  get(hex: string): Peer | undefined {
    return this.peers.get(hex);
  }

  /** The record for `handle`, created if missing; the address is refreshed. */
  ensure(handle: NodeHandle): Peer {
    let p = this.peers.get(handle.id.hex);
    if (!p) {
      p = { handle, lastHeard: 0, srtt: undefined, rttvar: 0, suspect: false, probe: undefined };
      this.peers.set(handle.id.hex, p);
    } else if (p.handle.addr !== handle.addr) {
      p.handle = handle;
    }
    return p;
  }

  delete(hex: string): void {
    const p = this.peers.get(hex);
    if (!p) return;
    if (p.suspect) this.suspects--;
    p.probe?.timer.cancel();
    this.peers.delete(hex);
  }

  setSuspect(p: Peer, suspect: boolean): void {
    if (p.suspect === suspect) return;
    p.suspect = suspect;
    this.suspects += suspect ? 1 : -1;
  }

  isSuspect(hex: string): boolean {
    return this.suspects > 0 && this.peers.get(hex)?.suspect === true;
  }

  /** Folds an RTT sample into the estimate (RFC 6298 smoothing). */
  static sampleRtt(p: Peer, rtt: number): void {
    if (p.srtt === undefined) {
      p.srtt = rtt;
      p.rttvar = rtt / 2;
    } else {
      p.rttvar = 0.75 * p.rttvar + 0.25 * Math.abs(p.srtt - rtt);
      p.srtt = 0.875 * p.srtt + 0.125 * rtt;
    }
  }

  values(): IterableIterator<Peer> {
    return this.peers.values();
  }

  get size(): number {
    return this.peers.size;
  }

  /** Cancels every probe timer (node stopping). */
  cancelAllProbes(): void {
    for (const p of this.peers.values()) {
      p.probe?.timer.cancel();
      p.probe = undefined;
    }
  }
}
