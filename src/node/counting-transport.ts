/**
 * A transport decorator that counts messages in and out by wire type (and, for application
 * messages, by application), for the `pi_messages_total` metric. One array increment per message;
 * per-application counts use a small map keyed by the application name.
 */
import type { MessageHandler, Transport, TransportStats, UnreachableHandler } from '../transport/index.ts';
import { MessageType, messageTypeName } from '../wire/index.ts';
import type { WireMessage } from '../wire/index.ts';

const MAX_TYPE = 64;

/** Counts of one direction. */
export interface DirectionCounts {
  /** Index = wire type code. */
  byType: Float64Array;
  /** ROUTE and DIRECT messages by application name. */
  byApp: Map<string, number>;
}

/** Message counts by type and application. */
export interface MessageCounts {
  in: DirectionCounts;
  out: DirectionCounts;
}

/** A row of {@link CountingTransport.snapshot}. */
export interface MessageCountRow {
  direction: 'in' | 'out';
  type: string;
  count: number;
}

function newDirection(): DirectionCounts {
  return { byType: new Float64Array(MAX_TYPE), byApp: new Map() };
}

function count(d: DirectionCounts, m: WireMessage): void {
  const t = m.t;
  if (t >= 0 && t < MAX_TYPE) d.byType[t]!++;
  if (t === MessageType.ROUTE || t === MessageType.DIRECT) {
    const app = m.msg.app;
    d.byApp.set(app, (d.byApp.get(app) ?? 0) + 1);
  }
}

/** Wraps a transport; everything else passes straight through. */
export class CountingTransport implements Transport {
  readonly counts: MessageCounts = { in: newDirection(), out: newDirection() };

  constructor(readonly inner: Transport) {}

  get address(): string {
    return this.inner.address;
  }

  get stats(): TransportStats {
    return this.inner.stats;
  }

  setHandler(handler: MessageHandler): void {
    const incoming = this.counts.in;
    this.inner.setHandler((message, fromAddr) => {
      count(incoming, message);
      handler(message, fromAddr);
    });
  }

  setUnreachableHandler(handler: UnreachableHandler): void {
    this.inner.setUnreachableHandler?.(handler);
  }

  send(addr: string, message: WireMessage): void {
    count(this.counts.out, message);
    this.inner.send(addr, message);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Non-zero counts by type name. */
  byType(): MessageCountRow[] {
    const rows: MessageCountRow[] = [];
    for (const direction of ['in', 'out'] as const) {
      const arr = this.counts[direction].byType;
      for (let t = 0; t < MAX_TYPE; t++) if (arr[t]! > 0) rows.push({ direction, type: messageTypeName(t), count: arr[t]! });
    }
    return rows;
  }
}
