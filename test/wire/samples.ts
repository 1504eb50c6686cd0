/** One hand-written valid message of every type, shared by the wire tests. */
import { Id } from '../../src/id/index.ts';
import { MessageType } from '../../src/wire/index.ts';
import type { NodeHandle, WireMessage } from '../../src/wire/index.ts';

export const idA = Id.parse('0123456789abcdef0123456789abcdef01234567');
export const idB = Id.parse('fedcba9876543210fedcba9876543210fedcba98');
export const idC = Id.parse('8'.repeat(40));
export const nodeA: NodeHandle = { id: idA, addr: '10.0.0.1:4524' };
export const nodeB: NodeHandle = { id: idB, addr: 'sim:2' };
export const nodeC: NodeHandle = { id: idC, addr: 'sim:3' };

/** Samples keyed by type name; every field the type allows is present. */
export function samples(): Record<keyof typeof MessageType, WireMessage> {
  return {
    HELLO: { t: MessageType.HELLO, proto: 'pi', v: 1, addr: '10.0.0.1:4524', id: idA },
    HELLO_REJECT: { t: MessageType.HELLO_REJECT, reason: 'protocol version 2 not supported' },
    ROUTE: {
      t: MessageType.ROUTE,
      key: idC,
      origin: nodeA,
      from: nodeB,
      hop: 17,
      hops: 2,
      msg: {
        app: 'dht',
        mid: 'abcd-1',
        corr: 'abcd-0',
        tx: 'tx-9',
        replyTo: 'app:client',
        method: 'UPDATE',
        code: 200,
        kind: 'dht.put',
        body: { key: 'bucket:x', version: 3, value: Buffer.from([1, 2, 3]), owner: idB, list: [1, 'two', null, true] },
      },
    },
    DIRECT: { t: MessageType.DIRECT, from: nodeA, hop: 1, msg: { app: 'scribe', mid: 'm-1', body: 'hi' } },
    HOP_ACK: { t: MessageType.HOP_ACK, from: nodeB, hops: [17, 18] },
    JOIN: { t: MessageType.JOIN, joiner: nodeC, rows: [[nodeA, null, nodeB], []], from: nodeA, hop: 3, hops: 1 },
    JOIN_REPLY: { t: MessageType.JOIN_REPLY, from: nodeA, rows: [[null, nodeB]], leafSet: [nodeB, nodeC] },
    PROBE: { t: MessageType.PROBE, from: nodeA, nonce: 123456789, joining: true },
    PROBE_REPLY: { t: MessageType.PROBE_REPLY, from: nodeB, nonce: 123456789, leafSet: [nodeA] },
    HEARTBEAT: { t: MessageType.HEARTBEAT, from: nodeA },
    LEAFSET_REQUEST: { t: MessageType.LEAFSET_REQUEST, from: nodeA },
    LEAFSET: { t: MessageType.LEAFSET, from: nodeA, leafSet: [nodeB, nodeC] },
    FAILED_NOTICE: { t: MessageType.FAILED_NOTICE, from: nodeA, failed: [nodeC] },
    LEAVE: { t: MessageType.LEAVE, from: nodeC, leafSet: [nodeA, nodeB] },
    ROW_REQUEST: { t: MessageType.ROW_REQUEST, from: nodeA, row: 4 },
    ROW_REPLY: { t: MessageType.ROW_REPLY, from: nodeB, row: 4, entries: [null, nodeA, null] },
    ANNOUNCE: { t: MessageType.ANNOUNCE, from: nodeC },
  };
}
