/**
 * The node's recent events (arrivals, departures, activations, errors, alerts): a bounded ring
 * buffer the ops API and dashboard read. Each event has a sequence number so readers can ask for
 * what is new since their last look.
 */

/** Kinds of events (free-form names are allowed for applications: `app.<name>.<what>`). */
export type NodeEventType =
  | 'node.started'
  | 'node.ready'
  | 'node.stopping'
  | 'node.arrived'
  | 'node.departed'
  | 'leafset.changed'
  | 'app.started'
  | 'app.stopped'
  | 'app.activated'
  | 'app.deactivated'
  | 'error'
  | 'alert.raised'
  | 'alert.cleared'
  | (string & {});

/** One recorded event. */
export interface NodeEvent {
  /** Increases by one per event on this node. */
  seq: number;
  /** Milliseconds since the epoch (from the node's env). */
  time: number;
  type: NodeEventType;
  /** The node that recorded it (hex id). */
  node: string;
  /** One line for people. */
  message: string;
  level: 'info' | 'warn' | 'error';
  /** Structured details (plain, serialisable values). */
  data?: Record<string, unknown>;
}

/** Bounded in-memory event log. */
export class EventLog {
  private readonly buffer: NodeEvent[] = [];
  private seq = 0;
  private readonly listeners = new Set<(e: NodeEvent) => void>();

  constructor(
    private readonly node: string,
    private readonly clock: () => number,
    readonly capacity = 1000,
  ) {}

  /** Records an event and tells the listeners. */
  record(type: NodeEventType, message: string, options: { level?: NodeEvent['level']; data?: Record<string, unknown> } = {}): NodeEvent {
    const event: NodeEvent = { seq: ++this.seq, time: this.clock(), type, node: this.node, message, level: options.level ?? 'info' };
    if (options.data) event.data = options.data;
    if (this.buffer.length >= this.capacity) this.buffer.shift();
    this.buffer.push(event);
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure must not stop the recording.
      }
    }
    return event;
  }

  /** Events with `seq` greater than `since`, oldest first, at most `limit` (the newest ones). */
  list(options: { since?: number; limit?: number; types?: readonly string[] } = {}): NodeEvent[] {
    const since = options.since ?? 0;
    let out = this.buffer.filter((e) => e.seq > since && (!options.types || options.types.some((t) => e.type === t || e.type.startsWith(t + '.'))));
    if (options.limit !== undefined && out.length > options.limit) out = out.slice(out.length - options.limit);
    return out;
  }

  /** Sequence number of the latest event (0 before any). */
  get lastSeq(): number {
    return this.seq;
  }

  /** Subscribes to new events; returns the unsubscribe function. */
  onEvent(listener: (e: NodeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
