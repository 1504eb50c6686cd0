/**
 * Simulated network in virtual time.
 *
 * Endpoints sit on a plane; one-way latency grows with their distance (plus jitter), so a
 * proximity-aware overlay has something to exploit. Loss, partitions (groups that cannot reach
 * each other) and silent crashes are controlled by the simulator. Everything is driven by the
 * scheduler and a seeded random stream, so a run replays exactly from its seed.
 */
import type { Random, Scheduler } from '../env/index.ts';
import { decodeMessage, encodeMessage } from '../wire/index.ts';
import type { WireMessage } from '../wire/index.ts';
import { emptyStats } from './types.ts';
import type { MessageHandler, Transport, TransportStats } from './types.ts';

/** Options of a {@link SimNetwork}. */
export interface SimNetworkOptions {
  /** One-way latency between two endpoints at the same point (ms). Default 0.1. */
  minLatencyMs?: number;
  /** One-way latency between opposite corners of the plane (ms). Default 2 (a datacentre). */
  maxLatencyMs?: number;
  /** Mean of the exponential jitter added to each message (ms). Default 0.1. */
  jitterMs?: number;
  /** Probability that a message is lost. Default 0. */
  loss?: number;
  /**
   * Round-trip every message through the real codec (slower; catches messages that would not
   * survive the wire, and sharing of mutable objects between nodes). Default false.
   */
  codec?: boolean;
}

interface Endpoint {
  addr: string;
  x: number;
  y: number;
  up: boolean;
  handler: MessageHandler | null;
  /** Partition group; endpoints in different groups cannot talk. 0 = default group. */
  group: number;
  transport: SimTransport;
}

/** Counters of a whole simulated network. */
export interface SimNetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  /** Dropped because the destination was down, unknown or partitioned away. */
  undeliverable: number;
}

export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>();
  private nextAddr = 1;
  private readonly minLatency: number;
  private readonly latencySpan: number;
  private readonly jitter: number;
  private loss: number;
  private readonly codec: boolean;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, lost: 0, undeliverable: 0 };

  constructor(
    readonly scheduler: Scheduler,
    private readonly random: Random,
    options: SimNetworkOptions = {},
  ) {
    this.minLatency = options.minLatencyMs ?? 0.1;
    this.latencySpan = Math.max(0, (options.maxLatencyMs ?? 2) - this.minLatency);
    this.jitter = options.jitterMs ?? 0.1;
    this.loss = options.loss ?? 0;
    this.codec = options.codec ?? false;
  }

  /**
   * Creates (or, for a restarted node, re-creates) the endpoint at `addr`; a new address is
   * allocated when none is given. A restarted endpoint keeps its place on the plane.
   */
  createTransport(addr?: string): SimTransport {
    let address = addr;
    if (address === undefined) {
      // Skip numbers already taken by explicitly named endpoints.
      do address = `sim:${this.nextAddr++}`;
      while (this.endpoints.has(address));
    }
    const existing = this.endpoints.get(address);
    const transport = new SimTransport(this, address);
    const endpoint: Endpoint = existing
      ? { ...existing, up: true, handler: null, transport }
      : { addr: address, x: this.random.next(), y: this.random.next(), up: true, handler: null, group: 0, transport };
    this.endpoints.set(address, endpoint);
    return transport;
  }

  /** One-way base latency between two endpoints (ms), without jitter. */
  latency(a: string, b: string): number {
    const ea = this.endpoints.get(a);
    const eb = this.endpoints.get(b);
    if (!ea || !eb) return this.minLatency;
    const d = Math.hypot(ea.x - eb.x, ea.y - eb.y) / Math.SQRT2;
    return this.minLatency + d * this.latencySpan;
  }

  /** Silently takes `addr` off the network: messages to it vanish. */
  crash(addr: string): void {
    const e = this.endpoints.get(addr);
    if (e) {
      e.up = false;
      e.handler = null;
    }
  }

  isUp(addr: string): boolean {
    return this.endpoints.get(addr)?.up ?? false;
  }

  /**
   * Splits the network: each list is a group that can only talk within itself; endpoints not
   * listed form one more group.
   */
  partition(groups: readonly (readonly string[])[]): void {
    for (const e of this.endpoints.values()) e.group = 0;
    groups.forEach((members, i) => {
      for (const addr of members) {
        const e = this.endpoints.get(addr);
        if (e) e.group = i + 1;
      }
    });
  }

  /** Removes every partition. */
  heal(): void {
    for (const e of this.endpoints.values()) e.group = 0;
  }

  setLoss(probability: number): void {
    this.loss = probability;
  }

  /** @internal */
  setHandler(addr: string, transport: SimTransport, handler: MessageHandler): void {
    const e = this.endpoints.get(addr);
    // A crashed incarnation's transport must not take over the restarted endpoint.
    if (e && e.up && e.transport === transport) e.handler = handler;
  }

  /** @internal */
  close(addr: string, transport: SimTransport): void {
    const e = this.endpoints.get(addr);
    if (e && e.transport === transport) {
      e.up = false;
      e.handler = null;
    }
  }

  /** @internal */
  send(from: SimTransport, to: string, message: WireMessage): void {
    const src = this.endpoints.get(from.address);
    if (!src || !src.up || src.transport !== from) return; // a crashed node's leftovers: never sent
    // Every message counted as sent ends up delivered, lost or undeliverable.
    this.stats.sent++;
    if (this.loss > 0 && this.random.next() < this.loss) {
      this.stats.lost++;
      return;
    }
    const dst = this.endpoints.get(to);
    if (!dst) {
      this.stats.undeliverable++;
      return;
    }
    let payload = message;
    let size = 0;
    if (this.codec) {
      const bytes = encodeMessage(message);
      size = bytes.length;
      payload = decodeMessage(bytes);
    }
    from.stats.messagesOut++;
    from.stats.bytesOut += size;
    const base = this.latency(src.addr, to);
    const delay = this.jitter > 0 ? base + this.random.exponential(this.jitter) : base;
    // Delivered only if sender and receiver share a group both when it is sent and when it
    // arrives: a partition made while a message is in flight cuts it, whichever side is listed.
    const sameGroupAtSend = src.group === dst.group;
    const fromAddr = src.addr;
    this.scheduler.schedule(delay, () => {
      const target = this.endpoints.get(to);
      const sender = this.endpoints.get(fromAddr);
      if (!target || !target.up || target.handler === null || !sameGroupAtSend || sender?.group !== target.group) {
        this.stats.undeliverable++;
        return;
      }
      this.stats.delivered++;
      target.transport.stats.messagesIn++;
      target.transport.stats.bytesIn += size;
      target.handler(payload, fromAddr);
    });
  }
}

/** One node's view of the simulated network. */
export class SimTransport implements Transport {
  readonly stats: TransportStats = emptyStats();

  constructor(
    private readonly network: SimNetwork,
    readonly address: string,
  ) {}

  setHandler(handler: MessageHandler): void {
    this.network.setHandler(this.address, this, handler);
  }

  send(addr: string, message: WireMessage): void {
    this.network.send(this, addr, message);
  }

  async close(): Promise<void> {
    this.network.close(this.address, this);
  }
}
