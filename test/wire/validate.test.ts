import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, WireError, checkAppMessage, checkHandle, decodeMessage, encodeMessage, messageTypeName, validateMessage } from '../../src/wire/index.ts';
import type { WireErrorCode, WireMessage } from '../../src/wire/index.ts';
import { idA, nodeA, samples } from './samples.ts';

const DELETE = Symbol('delete');
type Path = (string | number)[];

/** A deep copy of `message` with the value at `path` replaced (or deleted). */
function mutate(message: WireMessage, path: Path, value: unknown): Record<string, unknown> {
  const copy = structuredCloneKeepingIds(message) as Record<string, unknown>;
  let target = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === DELETE) delete target[last];
  else target[last] = value;
  return copy;
}

/** Copies plain objects and arrays; keeps Ids and Buffers as they are. */
function structuredCloneKeepingIds(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(structuredCloneKeepingIds);
  if (x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, structuredCloneKeepingIds(v)]));
  }
  return x;
}

function assertWireError(fn: () => unknown, code: WireErrorCode, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WireError, `expected WireError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.name, 'WireError');
    assert.match(err.message, message);
    return true;
  });
}

describe('validateMessage accepts', () => {
  test('every valid sample, returning the same object', () => {
    for (const [name, m] of Object.entries(samples())) {
      assert.equal(validateMessage(m), m, name);
      assert.equal(messageTypeName(m.t), name);
    }
  });

  test('optional fields left out', () => {
    const s = samples();
    validateMessage(mutate(s.HELLO, ['id'], DELETE));
    validateMessage(mutate(s.PROBE, ['joining'], DELETE));
    for (const field of ['corr', 'tx', 'replyTo', 'method', 'code', 'kind', 'body']) validateMessage(mutate(s.ROUTE, ['msg', field], DELETE));
    validateMessage({ ...s.LEAFSET, leafSet: [] });
    validateMessage({ ...s.JOIN, rows: [] });
    validateMessage({ ...s.ROW_REPLY, entries: [], row: 0 });
    validateMessage({ ...s.ROW_REPLY, row: 39 });
  });

  test('limits exactly at their bounds', () => {
    const s = samples();
    validateMessage({ ...s.HELLO, addr: 'a'.repeat(300), proto: 'p'.repeat(16) });
    validateMessage({ ...s.HELLO_REJECT, reason: 'r'.repeat(1000) });
    validateMessage({ ...s.LEAFSET, leafSet: new Array(4096).fill(nodeA) });
    validateMessage({ ...s.JOIN, rows: new Array(40).fill([]) });
    validateMessage({ ...s.ROW_REPLY, entries: new Array(16).fill(null) });
    validateMessage(mutate(s.DIRECT, ['msg', 'app'], 'x'.repeat(200)));
    validateMessage({ ...s.HOP_ACK, hops: [Number.MAX_SAFE_INTEGER] });
    validateMessage({ ...s.HOP_ACK, hops: [-1] });
  });
});

describe('validateMessage rejects', () => {
  const s = samples();
  const notId = idA.hex; // an id's hex is not an id
  // [sample, path, bad value, the error must name]
  const cases: [keyof ReturnType<typeof samples>, Path, unknown, RegExp][] = [
    ['HELLO', ['proto'], DELETE, /^proto must be a non-empty string/],
    ['HELLO', ['proto'], '', /^proto must be a non-empty string/],
    ['HELLO', ['proto'], 'p'.repeat(17), /^proto must be .* at most 16 characters/],
    ['HELLO', ['v'], DELETE, /^v must be an integer/],
    ['HELLO', ['v'], '1', /^v must be an integer/],
    ['HELLO', ['v'], 1.5, /^v must be an integer/],
    ['HELLO', ['v'], NaN, /^v must be an integer/],
    ['HELLO', ['v'], 2 ** 53, /^v must be an integer/],
    ['HELLO', ['addr'], 42, /^addr must be a non-empty string/],
    ['HELLO', ['addr'], 'a'.repeat(301), /^addr must be .* at most 300 characters/],
    ['HELLO', ['id'], notId, /^id must be an id/],
    ['HELLO', ['id'], null, /^id must be an id/],
    ['HELLO_REJECT', ['reason'], DELETE, /^reason must be a non-empty string/],
    ['HELLO_REJECT', ['reason'], 'r'.repeat(1001), /^reason must be .* at most 1000 characters/],
    ['ROUTE', ['key'], DELETE, /^key must be an id/],
    ['ROUTE', ['key'], notId, /^key must be an id/],
    ['ROUTE', ['key'], { hex: notId }, /^key must be an id/],
    ['ROUTE', ['origin'], DELETE, /^origin must be a node handle/],
    ['ROUTE', ['origin'], [nodeA], /^origin must be a node handle/],
    ['ROUTE', ['origin', 'id'], DELETE, /^origin\.id must be an id/],
    ['ROUTE', ['from', 'addr'], '', /^from\.addr must be a non-empty string/],
    ['ROUTE', ['from'], 'sim:1', /^from must be a node handle/],
    ['ROUTE', ['hop'], DELETE, /^hop must be an integer/],
    ['ROUTE', ['hops'], '2', /^hops must be an integer/],
    ['ROUTE', ['msg'], DELETE, /^msg must be an application message/],
    ['ROUTE', ['msg'], 'text', /^msg must be an application message/],
    ['ROUTE', ['msg', 'app'], DELETE, /^msg\.app must be a non-empty string/],
    ['ROUTE', ['msg', 'app'], 'x'.repeat(201), /^msg\.app must be .* at most 200 characters/],
    ['ROUTE', ['msg', 'mid'], 7, /^msg\.mid must be a non-empty string/],
    ['ROUTE', ['msg', 'corr'], '', /^msg\.corr must be a non-empty string/],
    ['ROUTE', ['msg', 'tx'], null, /^msg\.tx must be a non-empty string/],
    ['ROUTE', ['msg', 'replyTo'], '', /^msg\.replyTo must be a non-empty string/],
    ['ROUTE', ['msg', 'replyTo'], 'x'.repeat(201), /^msg\.replyTo must be .* at most 200 characters/],
    ['ROUTE', ['msg', 'kind'], 5, /^msg\.kind must be a non-empty string/],
    ['ROUTE', ['msg', 'method'], 'PATCH', /^msg\.method must be one of GET, CREATE, UPDATE, DELETE/],
    ['ROUTE', ['msg', 'method'], 'get', /^msg\.method must be one of/],
    ['ROUTE', ['msg', 'code'], 201, /^msg\.code must be one of 200, 403, 404, 409, 500/],
    ['ROUTE', ['msg', 'code'], '200', /^msg\.code must be one of/],
    ['DIRECT', ['from'], DELETE, /^from must be a node handle/],
    ['DIRECT', ['hop'], 0.5, /^hop must be an integer/],
    ['DIRECT', ['msg', 'app'], '', /^msg\.app must be a non-empty string/],
    ['HOP_ACK', ['from', 'id'], 'x', /^from\.id must be an id/],
    ['HOP_ACK', ['hops'], DELETE, /^hops must be a non-empty list/],
    ['HOP_ACK', ['hops'], [], /^hops must be a non-empty list/],
    ['HOP_ACK', ['hops'], [0.5], /^hops\[0\] must be an integer/],
    ['JOIN', ['joiner'], DELETE, /^joiner must be a node handle/],
    ['JOIN', ['from'], DELETE, /^from must be a node handle/],
    ['JOIN', ['rows'], DELETE, /^rows must be a list of routing-table rows/],
    ['JOIN', ['rows'], new Array(41).fill([]), /^rows must be a list of routing-table rows/],
    ['JOIN', ['rows', 1], 'row', /^rows\[1\] must be a routing-table row/],
    ['JOIN', ['rows', 0], new Array(17).fill(null), /^rows\[0\] must be a routing-table row/],
    ['JOIN', ['rows', 0, 2, 'addr'], DELETE, /^rows\[0\]\[2\]\.addr must be a non-empty string/],
    ['JOIN', ['rows', 0, 1], undefined, /^rows\[0\]\[1\] must be a node handle/],
    ['JOIN', ['hop'], DELETE, /^hop must be an integer/],
    ['JOIN', ['hops'], DELETE, /^hops must be an integer/],
    ['JOIN_REPLY', ['rows', 0, 1, 'id'], 1, /^rows\[0\]\[1\]\.id must be an id/],
    ['JOIN_REPLY', ['leafSet'], DELETE, /^leafSet must be a list of node handles/],
    ['JOIN_REPLY', ['leafSet'], { 0: nodeA }, /^leafSet must be a list of node handles/],
    ['JOIN_REPLY', ['leafSet', 1], null, /^leafSet\[1\] must be a node handle/],
    ['PROBE', ['nonce'], DELETE, /^nonce must be an integer/],
    ['PROBE', ['joining'], 'yes', /^joining must be a boolean/],
    ['PROBE', ['from'], null, /^from must be a node handle/],
    ['PROBE_REPLY', ['leafSet', 0, 'addr'], 'a'.repeat(301), /^leafSet\[0\]\.addr must be/],
    ['PROBE_REPLY', ['nonce'], '1', /^nonce must be an integer/],
    ['HEARTBEAT', ['from'], DELETE, /^from must be a node handle/],
    ['LEAFSET_REQUEST', ['from', 'id'], DELETE, /^from\.id must be an id/],
    ['ANNOUNCE', ['from', 'addr'], DELETE, /^from\.addr must be/],
    ['LEAFSET', ['leafSet'], new Array(4097).fill(nodeA), /^leafSet must be a list of node handles/],
    ['LEAFSET', ['leafSet', 1, 'id'], DELETE, /^leafSet\[1\]\.id must be an id/],
    ['LEAVE', ['leafSet'], null, /^leafSet must be a list of node handles/],
    ['LEAVE', ['from'], DELETE, /^from must be a node handle/],
    ['FAILED_NOTICE', ['failed'], DELETE, /^failed must be a list of node handles/],
    ['FAILED_NOTICE', ['failed', 0], {}, /^failed\[0\]\.id must be an id/],
    ['ROW_REQUEST', ['row'], DELETE, /^row must be an integer/],
    ['ROW_REQUEST', ['row'], -1, /^row out of range/],
    ['ROW_REQUEST', ['row'], 40, /^row out of range/],
    ['ROW_REPLY', ['row'], 40, /^row out of range/],
    ['ROW_REPLY', ['entries'], DELETE, /^entries must be a routing-table row/],
    ['ROW_REPLY', ['entries', 1, 'addr'], 3, /^entries\[1\]\.addr must be/],
  ];

  for (const [name, path, value, expected] of cases) {
    const shown = value === DELETE ? 'missing' : typeof value === 'string' && value.length > 20 ? `"${value.slice(0, 8)}…"` : String(value);
    test(`${name} with ${path.join('.')} ${shown}`, () => {
      const bad = mutate(s[name], path, value);
      assertWireError(() => validateMessage(bad), 'MalformedMessage', expected);
    });
  }

  test('every required top-level field of every type, when missing', () => {
    const optional = new Set(['HELLO.id', 'PROBE.joining']);
    let checked = 0;
    for (const [name, m] of Object.entries(samples())) {
      for (const field of Object.keys(m)) {
        if (field === 't' || optional.has(`${name}.${field}`)) continue;
        const bad = mutate(m, [field], DELETE);
        assertWireError(() => validateMessage(bad), 'MalformedMessage', new RegExp(`^${field}\\b`));
        checked++;
      }
    }
    assert.ok(checked >= 40, `only ${checked} fields checked`);
  });

  test('non-map messages', () => {
    for (const bad of [null, undefined, 42, 'HELLO', [MessageType.HELLO], true]) {
      assertWireError(() => validateMessage(bad), 'MalformedMessage', /^message must be a map/);
    }
  });

  test('unknown message types', () => {
    for (const t of [0, 3, 99, -1]) {
      assertWireError(() => validateMessage({ t, from: nodeA }), 'UnknownMessageType', new RegExp(`unknown message type ${String(t)}`));
    }
    assert.equal(messageTypeName(99), 'UNKNOWN(99)');
  });

  test('a missing or mistyped message type is a malformed message, not an unknown type', () => {
    for (const [t, shown] of [[undefined, 'none'], ['10', '"10"'], [10.5, '10.5'], [null, 'null'], [true, 'true'], [NaN, 'NaN']] as const) {
      assertWireError(() => validateMessage({ t, from: nodeA }), 'MalformedMessage', new RegExp(`^t must be an integer message type, got ${shown}$`));
    }
    assertWireError(() => validateMessage({ from: nodeA }), 'MalformedMessage', /^t must be an integer message type, got none$/);
  });

  test('malformed messages fail the same way after a trip through the codec', () => {
    const bad = mutate(samples().ROUTE, ['msg', 'method'], 'PATCH');
    assertWireError(() => decodeMessage(encodeMessage(bad as unknown as WireMessage)), 'MalformedMessage', /msg\.method/);
    assertWireError(
      () => decodeMessage(encodeMessage({ t: 77 } as unknown as WireMessage)),
      'UnknownMessageType',
      /unknown message type 77/,
    );
  });
});

describe('exported field checkers', () => {
  test('checkHandle and checkAppMessage name the field they were given', () => {
    assert.equal(checkHandle(nodeA, 'peer'), nodeA);
    assertWireError(() => checkHandle({ id: idA }, 'peer'), 'MalformedMessage', /^peer\.addr must be/);
    const app = { app: 'a', mid: 'm' };
    assert.equal(checkAppMessage(app), app);
    assertWireError(() => checkAppMessage({ app: 'a' }, 'reply'), 'MalformedMessage', /^reply\.mid must be/);
    assertWireError(() => checkAppMessage(null), 'MalformedMessage', /^msg must be an application message/);
  });
});
