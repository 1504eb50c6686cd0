/**
 * Structural validation of decoded messages. A peer can send anything; nothing acts on a message
 * before it has passed these checks. Hand-written (no schema library) because it runs on every
 * frame.
 */
import { Id } from '../id/index.ts';
import { METHODS, MessageType, RESPONSE_CODES } from './messages.ts';
import type { AppMessage, NodeHandle, WireMessage } from './messages.ts';

/** Stable error codes of the wire layer. */
export type WireErrorCode = 'MalformedFrame' | 'FrameTooLarge' | 'MalformedMessage' | 'UnknownMessageType' | 'ProtocolMismatch';

/** A frame or message that cannot be accepted. The connection that sent it is closed. */
export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

const MAX_ROWS = 40;
const MAX_LIST = 4096;
const MAX_ADDR = 300;
const MAX_NAME = 200;

function fail(what: string): never {
  throw new WireError('MalformedMessage', what);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkId(x: unknown, field: string): Id {
  if (!(x instanceof Id)) fail(`${field} must be an id`);
  return x;
}

function checkInt(x: unknown, field: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) fail(`${field} must be an integer`);
  return x;
}

function checkString(x: unknown, field: string, max: number): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > max) fail(`${field} must be a non-empty string of at most ${max} characters`);
  return x;
}

function checkOptionalBoolean(x: unknown, field: string): void {
  if (x !== undefined && typeof x !== 'boolean') fail(`${field} must be a boolean`);
}

/** Checks a node handle in place. */
export function checkHandle(x: unknown, field: string): NodeHandle {
  if (!isObject(x)) fail(`${field} must be a node handle`);
  checkId(x.id, `${field}.id`);
  checkString(x.addr, `${field}.addr`, MAX_ADDR);
  return x as unknown as NodeHandle;
}

function checkHandles(x: unknown, field: string): NodeHandle[] {
  if (!Array.isArray(x) || x.length > MAX_LIST) fail(`${field} must be a list of node handles`);
  for (let i = 0; i < x.length; i++) checkHandle(x[i], `${field}[${i}]`);
  return x as NodeHandle[];
}

function checkRow(x: unknown, field: string): void {
  if (!Array.isArray(x) || x.length > 16) fail(`${field} must be a routing-table row`);
  for (let i = 0; i < x.length; i++) if (x[i] !== null) checkHandle(x[i], `${field}[${i}]`);
}

function checkRows(x: unknown, field: string): void {
  if (!Array.isArray(x) || x.length > MAX_ROWS) fail(`${field} must be a list of routing-table rows`);
  for (let i = 0; i < x.length; i++) checkRow(x[i], `${field}[${i}]`);
}

function checkHopList(x: unknown, field: string): void {
  if (!Array.isArray(x) || x.length === 0 || x.length > MAX_LIST) fail(`${field} must be a non-empty list of hop numbers`);
  for (let i = 0; i < x.length; i++) checkInt(x[i], `${field}[${i}]`);
}

/** Checks an application message. */
export function checkAppMessage(x: unknown, field = 'msg'): AppMessage {
  if (!isObject(x)) fail(`${field} must be an application message`);
  checkString(x.app, `${field}.app`, MAX_NAME);
  checkString(x.mid, `${field}.mid`, MAX_NAME);
  if (x.corr !== undefined) checkString(x.corr, `${field}.corr`, MAX_NAME);
  if (x.tx !== undefined) checkString(x.tx, `${field}.tx`, MAX_NAME);
  if (x.replyTo !== undefined) checkString(x.replyTo, `${field}.replyTo`, MAX_NAME);
  if (x.kind !== undefined) checkString(x.kind, `${field}.kind`, MAX_NAME);
  if (x.method !== undefined && !METHODS.includes(x.method as never)) fail(`${field}.method must be one of ${METHODS.join(', ')}`);
  if (x.code !== undefined && !RESPONSE_CODES.includes(x.code as never)) fail(`${field}.code must be one of ${RESPONSE_CODES.join(', ')}`);
  return x as unknown as AppMessage;
}

/** A short rendering of a bad `t` for an error message. */
function describeType(t: unknown): string {
  if (t === undefined) return 'none';
  if (typeof t === 'string') return JSON.stringify(t.length > 20 ? `${t.slice(0, 20)}…` : t);
  if (t === null || typeof t === 'number' || typeof t === 'boolean') return String(t);
  return Array.isArray(t) ? 'a list' : typeof t === 'object' ? 'an object' : `a ${typeof t}`;
}

/**
 * Validates a decoded value as a {@link WireMessage}. Throws {@link WireError} with code
 * `MalformedMessage` and a reason naming the bad field (a value that is not a map, or a map
 * without an integer `t`, included), or `UnknownMessageType` for an integer `t` that names no type.
 */
export function validateMessage(x: unknown): WireMessage {
  if (!isObject(x)) fail('message must be a map');
  const t = x.t;
  if (typeof t !== 'number' || !Number.isSafeInteger(t)) {
    fail(`t must be an integer message type, got ${describeType(t)}`);
  }
  switch (t) {
    case MessageType.HELLO:
      checkString(x.proto, 'proto', 16);
      checkInt(x.v, 'v');
      checkString(x.addr, 'addr', MAX_ADDR);
      if (x.id !== undefined) checkId(x.id, 'id');
      break;
    case MessageType.HELLO_REJECT:
      checkString(x.reason, 'reason', 1000);
      break;
    case MessageType.ROUTE:
      checkOptionalBoolean(x.leaving, 'leaving');
      checkId(x.key, 'key');
      checkHandle(x.origin, 'origin');
      checkHandle(x.from, 'from');
      checkInt(x.hop, 'hop');
      checkInt(x.hops, 'hops');
      checkAppMessage(x.msg);
      if (x.acks !== undefined) checkHopList(x.acks, 'acks');
      break;
    case MessageType.DIRECT:
      checkHandle(x.from, 'from');
      checkInt(x.hop, 'hop');
      checkAppMessage(x.msg);
      if (x.acks !== undefined) checkHopList(x.acks, 'acks');
      break;
    case MessageType.HOP_ACK:
      checkHandle(x.from, 'from');
      checkHopList(x.hops, 'hops');
      break;
    case MessageType.JOIN:
      checkOptionalBoolean(x.leaving, 'leaving');
      checkHandle(x.joiner, 'joiner');
      checkHandle(x.from, 'from');
      checkRows(x.rows, 'rows');
      checkInt(x.hop, 'hop');
      checkInt(x.hops, 'hops');
      break;
    case MessageType.JOIN_REPLY:
      checkHandle(x.from, 'from');
      checkRows(x.rows, 'rows');
      checkHandles(x.leafSet, 'leafSet');
      break;
    case MessageType.PROBE:
      checkHandle(x.from, 'from');
      checkInt(x.nonce, 'nonce');
      if (x.joining !== undefined && typeof x.joining !== 'boolean') fail('joining must be a boolean');
      break;
    case MessageType.PROBE_REPLY:
      checkHandle(x.from, 'from');
      checkInt(x.nonce, 'nonce');
      checkHandles(x.leafSet, 'leafSet');
      break;
    case MessageType.HEARTBEAT:
    case MessageType.LEAFSET_REQUEST:
    case MessageType.ANNOUNCE:
      checkHandle(x.from, 'from');
      break;
    case MessageType.LEAFSET:
    case MessageType.LEAVE:
      checkHandle(x.from, 'from');
      checkHandles(x.leafSet, 'leafSet');
      break;
    case MessageType.FAILED_NOTICE:
      checkHandle(x.from, 'from');
      checkHandles(x.failed, 'failed');
      break;
    case MessageType.ROW_REQUEST:
      checkHandle(x.from, 'from');
      if (checkInt(x.row, 'row') < 0 || (x.row as number) >= MAX_ROWS) fail('row out of range');
      break;
    case MessageType.ROW_REPLY:
      checkHandle(x.from, 'from');
      if (checkInt(x.row, 'row') < 0 || (x.row as number) >= MAX_ROWS) fail('row out of range');
      checkRow(x.entries, 'entries');
      break;
    default:
      throw new WireError('UnknownMessageType', `unknown message type ${String(t)}`);
  }
  return x as unknown as WireMessage;
}
