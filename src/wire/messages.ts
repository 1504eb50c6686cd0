/**
 * The messages nodes exchange, and the checks a decoded message must pass before anything acts
 * on it. Every message is a plain object with a numeric type `t`; ids are {@link Id} instances
 * (a msgpack extension on the wire, see codec.ts).
 */
import type { Id } from '../id/index.ts';

/** Wire protocol version, checked in the connection handshake. */
export const PROTOCOL_VERSION = 1;
/** Name sent in the handshake so a stray client of another protocol is told apart. */
export const PROTOCOL_NAME = 'pi';

/** Message type codes. */
export const MessageType = {
  /** Transport handshake (first frame on a connection, both ways). */
  HELLO: 1,
  /** Handshake refusal, followed by closing the connection. */
  HELLO_REJECT: 2,
  /** An application message routed hop by hop toward a key. */
  ROUTE: 10,
  /** An application message sent straight to one node. */
  DIRECT: 11,
  /** Acknowledges receipt of ROUTE/DIRECT/JOIN hops so the sender need not re-route them. */
  HOP_ACK: 12,
  /** A joining node's request, routed toward the joiner's id. */
  JOIN: 20,
  /** The root's answer to a JOIN: leaf set and the routing rows collected on the way. */
  JOIN_REPLY: 21,
  /** Liveness / RTT probe; the reply carries the responder's leaf set. */
  PROBE: 30,
  PROBE_REPLY: 31,
  /** Periodic liveness signal to ring neighbours. */
  HEARTBEAT: 32,
  /** Ask for / send a leaf set (repair and consistency). */
  LEAFSET_REQUEST: 33,
  LEAFSET: 34,
  /** A neighbour reports nodes it found dead. */
  FAILED_NOTICE: 35,
  /** Graceful departure announcement. */
  LEAVE: 36,
  /** Routing-table maintenance: ask for / send one row. */
  ROW_REQUEST: 40,
  ROW_REPLY: 41,
  /** A joined node announces itself to the nodes in its routing table. */
  ANNOUNCE: 42,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));
/** Human-readable name of a type code, for logs and metrics. */
export function messageTypeName(t: number): string {
  return TYPE_NAMES.get(t) ?? `UNKNOWN(${t})`;
}

/** A node's identity and where to reach it. */
export interface NodeHandle {
  readonly id: Id;
  /** Transport address, `host:port` over TCP, `sim:N` in the simulator. */
  readonly addr: string;
}

/** CRUD verbs of Pi messages. */
export type Method = 'GET' | 'CREATE' | 'UPDATE' | 'DELETE';
export const METHODS: readonly Method[] = ['GET', 'CREATE', 'UPDATE', 'DELETE'];
/** HTTP-like response codes of Pi messages. */
export type ResponseCode = 200 | 403 | 404 | 409 | 500;
export const RESPONSE_CODES: readonly ResponseCode[] = [200, 403, 404, 409, 500];

/**
 * An application-level Pi message, carried inside ROUTE and DIRECT. The framework fills the ids;
 * applications see method, code and body.
 */
export interface AppMessage {
  /** Name of the application that receives it. */
  app: string;
  /** Unique message id (`<node-short>-<counter>`). */
  mid: string;
  /** Id of the request this message answers. */
  corr?: string;
  /** Transaction id shared by related messages across nodes; carried into every log line. */
  tx?: string;
  /**
   * Application that receives the answer to this request, when it is not `app` (a request one
   * application sends to another).
   */
  replyTo?: string;
  method?: Method;
  code?: ResponseCode;
  /** Application-defined kind of message (e.g. `dht.put`). */
  kind?: string;
  body?: unknown;
}

export interface HelloMessage {
  t: typeof MessageType.HELLO;
  proto: string;
  v: number;
  /** The sender's listening address (how to reach it back). */
  addr: string;
  id?: Id;
}
export interface HelloRejectMessage {
  t: typeof MessageType.HELLO_REJECT;
  reason: string;
}

export interface RouteMessage {
  t: typeof MessageType.ROUTE;
  key: Id;
  /** Node that originated the message. */
  origin: NodeHandle;
  /** This hop's sender. */
  from: NodeHandle;
  /** Hop sequence number, unique per sender; echoed in HOP_ACK. */
  hop: number;
  /** Hops taken so far. */
  hops: number;
  msg: AppMessage;
  /** Set when the sender is leaving the ring and only handing the message on. */
  leaving?: boolean;
  /** Hops of the receiver's that this sender acknowledges here instead of in a HOP_ACK. */
  acks?: number[];
}

export interface DirectMessage {
  t: typeof MessageType.DIRECT;
  from: NodeHandle;
  /** Hop sequence number, echoed in an acknowledgement; 0 when no acknowledgement is wanted. */
  hop: number;
  msg: AppMessage;
  /** Hops of the receiver's that this sender acknowledges here instead of in a HOP_ACK. */
  acks?: number[];
}

export interface HopAckMessage {
  t: typeof MessageType.HOP_ACK;
  from: NodeHandle;
  /** Hop sequence numbers acknowledged (all received from the same sender in one turn). */
  hops: number[];
}

export interface JoinMessage {
  t: typeof MessageType.JOIN;
  joiner: NodeHandle;
  /** Routing-table rows collected on the way: rows[i] is row i. */
  rows: (NodeHandle | null)[][];
  from: NodeHandle;
  hop: number;
  hops: number;
  /** Set when the sender is leaving the ring and only handing the message on. */
  leaving?: boolean;
}

export interface JoinReplyMessage {
  t: typeof MessageType.JOIN_REPLY;
  from: NodeHandle;
  rows: (NodeHandle | null)[][];
  leafSet: readonly NodeHandle[];
}

export interface ProbeMessage {
  t: typeof MessageType.PROBE;
  from: NodeHandle;
  /** Echoed so the prober can match the reply and measure RTT. */
  nonce: number;
  /** True while the sender is still joining (it wants the responder's leaf set). */
  joining?: boolean;
}

export interface ProbeReplyMessage {
  t: typeof MessageType.PROBE_REPLY;
  from: NodeHandle;
  nonce: number;
  leafSet: readonly NodeHandle[];
}

export interface HeartbeatMessage {
  t: typeof MessageType.HEARTBEAT;
  from: NodeHandle;
}

export interface LeafSetRequestMessage {
  t: typeof MessageType.LEAFSET_REQUEST;
  from: NodeHandle;
}

export interface LeafSetMessage {
  t: typeof MessageType.LEAFSET;
  from: NodeHandle;
  leafSet: readonly NodeHandle[];
}

export interface FailedNoticeMessage {
  t: typeof MessageType.FAILED_NOTICE;
  from: NodeHandle;
  failed: NodeHandle[];
}

export interface LeaveMessage {
  t: typeof MessageType.LEAVE;
  from: NodeHandle;
  leafSet: readonly NodeHandle[];
}

export interface RowRequestMessage {
  t: typeof MessageType.ROW_REQUEST;
  from: NodeHandle;
  row: number;
}

export interface RowReplyMessage {
  t: typeof MessageType.ROW_REPLY;
  from: NodeHandle;
  row: number;
  entries: (NodeHandle | null)[];
}

export interface AnnounceMessage {
  t: typeof MessageType.ANNOUNCE;
  from: NodeHandle;
}

/** Any message of the node-to-node protocol. */
export type WireMessage =
  | HelloMessage
  | HelloRejectMessage
  | RouteMessage
  | DirectMessage
  | HopAckMessage
  | JoinMessage
  | JoinReplyMessage
  | ProbeMessage
  | ProbeReplyMessage
  | HeartbeatMessage
  | LeafSetRequestMessage
  | LeafSetMessage
  | FailedNoticeMessage
  | LeaveMessage
  | RowRequestMessage
  | RowReplyMessage
  | AnnounceMessage;

/** Overlay messages: everything except the transport handshake. */
export type OverlayMessage = Exclude<WireMessage, HelloMessage | HelloRejectMessage>;
