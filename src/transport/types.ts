/**
 * The transport contract the overlay is written against: unreliable, unordered-across-peers,
 * message-at-a-time delivery between addresses. Implemented over TCP (+TLS) for real nodes and
 * by the simulated network in the simulator.
 */
import type { WireMessage } from '../wire/index.ts';

/** Receives each valid message with the address of the peer that sent it. */
export type MessageHandler = (message: WireMessage, fromAddr: string) => void;

/**
 * Told that messages to `addr` were dropped because no connection could be made to it (the dial
 * failed, or it is in its back-off after failing), with why. A hint for callers that would
 * otherwise wait out a timeout (a join trying its bootstrap nodes); never a delivery guarantee.
 */
export type UnreachableHandler = (addr: string, reason: string) => void;

/** Counters every transport keeps (exported as metrics by the ops layer). */
export interface TransportStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Messages dropped before sending (peer unreachable, backoff, queue full). */
  dropped: number;
  /** Frames or connections rejected (malformed, oversized, bad handshake, bad certificate). */
  rejected: number;
}

export interface Transport {
  /** This node's reachable address (`host:port`, or `sim:N`). */
  readonly address: string;
  /** Sets the receiver of incoming messages (one per transport). */
  setHandler(handler: MessageHandler): void;
  /**
   * Sends `message` to `addr`. Fire-and-forget: delivery is not guaranteed and failures are not
   * reported here (the overlay's hop acknowledgements detect loss). Never throws for network
   * reasons.
   */
  send(addr: string, message: WireMessage): void;
  /** Sets who is told of unreachable peers (optional: a transport may never tell). */
  setUnreachableHandler?(handler: UnreachableHandler): void;
  readonly stats: TransportStats;
  /** Closes listeners and connections. */
  close(): Promise<void>;
}

/** Fresh zeroed stats. */
export function emptyStats(): TransportStats {
  return { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0, rejected: 0 };
}
