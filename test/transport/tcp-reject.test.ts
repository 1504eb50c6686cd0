/** Bad input from peers: each is logged once with its code, closes that connection only. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MessageType, PROTOCOL_VERSION, frameHeader, encodeMessage } from '../../src/wire/index.ts';
import type { HelloRejectMessage } from '../../src/wire/index.ts';
import { RawPeer, direct, logged, startNode, waitFor } from './fixtures.ts';
import { HELLO_MAX_FRAME_BYTES } from '../../src/transport/connection.ts';
import type { Node } from './fixtures.ts';

/** A raw peer connected to `server` (destroyed with the test) that has sent its HELLO as `addr`. */
async function helloPeer(t: { after(fn: () => void): void }, server: Node, addr: string): Promise<RawPeer> {
  const raw = await RawPeer.connect(server.t.address);
  t.after(() => raw.destroy());
  raw.sendHello(addr);
  return raw;
}

/** After a rejection the transport still serves a well-behaved peer. */
async function stillServes(server: Node, cleanup: (fn: () => Promise<void>) => void): Promise<void> {
  const other = await startNode(cleanup);
  const before = server.received.length;
  other.t.send(server.t.address, direct(42));
  await waitFor(() => server.received.length === before + 1, { what: 'a good peer to be served' });
}

describe('TcpTransport: rejecting bad input', () => {
  test('an oversized frame header is rejected as soon as it is read (FrameTooLarge)', async (t) => {
    const s = await startNode((fn) => t.after(fn), { maxFrameBytes: 1024 * 1024 });
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    raw.write(frameHeader(1024 * 1024 + 1)); // only the header: nothing else is needed to refuse it
    await waitFor(() => raw.closed, { what: 'the connection to be closed' });
    const lines = logged(s.store, 'FrameTooLarge');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 'warn');
    assert.match(String(lines[0]!['peer']), /^127\.0\.0\.1:\d+$/);
    assert.match(String(lines[0]!['reason']), /exceeds the limit/);
    assert.equal(s.t.stats.rejected, 1);
    assert.equal(s.received.length, 0);
    await stillServes(s, (fn) => t.after(fn));
  });

  test('before its HELLO a peer may not announce a frame beyond a HELLO\'s size, however large the frame limit', async (t) => {
    // With the 16 MiB limit alone, connections that announced 16 MiB and sent it slowly held that
    // much memory each until the handshake timeout.
    const s = await startNode((fn) => t.after(fn), { maxFrameBytes: 16 * 1024 * 1024 });
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    raw.write(frameHeader(HELLO_MAX_FRAME_BYTES + 1));
    await waitFor(() => raw.closed, { what: 'the connection to be closed' });
    const lines = logged(s.store, 'FrameTooLarge');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /first frame of 4097 bytes exceeds the limit of 4096/);
    await stillServes(s, (fn) => t.after(fn));
  });

  test('a peer that stops in the middle of a frame is closed (FrameStalled); one sending a frame slowly is not', async (t) => {
    const s = await startNode((fn) => t.after(fn), { frameStallTimeoutMs: 300 });
    const slow = await helloPeer(t, s, '127.0.0.1:8');
    await waitFor(() => slow.frames.length === 1);
    // A whole frame, a byte every 10 ms (well past 300 ms in all): it is received.
    const frame = Buffer.concat([frameHeader(encodeMessage(direct(7)).length), encodeMessage(direct(7))]);
    assert.ok(frame.length * 10 > 3 * 300, `${frame.length} bytes`);
    for (const byte of frame) {
      slow.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await waitFor(() => s.received.length === 1, { what: 'the slow frame' });
    const stalled = await helloPeer(t, s, '127.0.0.1:9');
    await waitFor(() => stalled.frames.length === 1);
    stalled.write(Buffer.concat([frameHeader(1000), Buffer.alloc(10)]));
    await waitFor(() => stalled.closed, { what: 'the stalled connection to be closed' });
    const lines = logged(s.store, 'FrameStalled');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /nothing received for 300 ms in the middle of a frame \(14 bytes held\)/);
    assert.equal(slow.closed, false, 'the slow peer keeps its connection');
  });

  test('inbound connections beyond the limit are closed at once, logged once (TooManyConnections)', async (t) => {
    const s = await startNode((fn) => t.after(fn), { maxInboundConnections: 2 });
    const peers: RawPeer[] = [];
    t.after(() => peers.forEach((p) => p.destroy()));
    for (let i = 0; i < 2; i++) {
      const p = await RawPeer.connect(s.t.address);
      peers.push(p);
      p.sendHello(`127.0.0.1:${20 + i}`);
      await waitFor(() => p.frames.length === 1, { what: 'the HELLO answered' });
    }
    for (let i = 0; i < 3; i++) peers.push(await RawPeer.connect(s.t.address));
    await waitFor(() => peers.slice(2).every((p) => p.closed), { what: 'the connections beyond the limit to be closed' });
    assert.equal(peers[0]!.closed || peers[1]!.closed, false, 'the first two stay');
    assert.equal(logged(s.store, 'TooManyConnections').length, 1);
    assert.equal(s.t.stats.rejected, 3);
  });

  test('an oversized frame after the handshake names the peer by its advertised address', async (t) => {
    const s = await startNode((fn) => t.after(fn), { maxFrameBytes: 1024 });
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    // Wait for the answer, so the HELLO is processed before the bad header arrives (in the same
    // chunk, the decoder's FrameTooLarge would discard the frames before it).
    await waitFor(() => raw.frames.length === 1);
    assert.equal(raw.frames[0]!.t, MessageType.HELLO, 'the server answered the HELLO');
    raw.write(frameHeader(2048));
    await waitFor(() => raw.closed);
    const lines = logged(s.store, 'FrameTooLarge');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['peer'], '127.0.0.1:7');
  });

  test('garbage bytes are rejected (MalformedFrame)', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    raw.sendFrame(Buffer.from([0xc1, 0xc1, 0xc1, 0xc1])); // 0xc1 is never valid msgpack
    await waitFor(() => raw.closed);
    assert.equal(logged(s.store, 'MalformedFrame').length, 1);
    assert.equal(s.t.stats.rejected, 1);
    assert.equal(s.store.entries.filter((e) => e.level === 'warn').length, 1, 'exactly one line');
    await stillServes(s, (fn) => t.after(fn));
  });

  test('a body of the single byte 0xc1 is a MalformedFrame, not an unknown message type', async (t) => {
    // msgpackr decodes a lone 0xc1 to a marker object rather than throwing.
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    raw.sendFrame(Buffer.from([0xc1]));
    await waitFor(() => raw.closed);
    const lines = logged(s.store, 'MalformedFrame');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /0xc1 is not valid msgpack/);
    assert.equal(logged(s.store, 'UnknownMessageType').length, 0);
    assert.equal(s.t.stats.rejected, 1);
    await stillServes(s, (fn) => t.after(fn));
  });

  test('a map without a numeric t is a MalformedMessage naming t, not an unknown message type', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    raw.send({ t: 'ROUTE', from: 'x' });
    await waitFor(() => raw.closed);
    const lines = logged(s.store, 'MalformedMessage');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /^t must be an integer message type, got "ROUTE"$/);
    assert.equal(logged(s.store, 'UnknownMessageType').length, 0);
    assert.equal(s.received.length, 0);
  });

  test('a valid frame with an unknown type is rejected (UnknownMessageType)', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    raw.send({ t: 99, from: 'x' });
    await waitFor(() => raw.closed);
    assert.equal(logged(s.store, 'UnknownMessageType').length, 1);
    assert.equal(s.received.length, 0);
    await stillServes(s, (fn) => t.after(fn));
  });

  test('a structurally invalid message is rejected (MalformedMessage) with the bad field named', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, '127.0.0.1:7');
    raw.send({ ...direct(1), hop: 'one' });
    await waitFor(() => raw.closed);
    const lines = logged(s.store, 'MalformedMessage');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /hop/);
    assert.equal(s.received.length, 0);
  });

  test('valid messages before a bad one are delivered; nothing after it', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    const frame = (m: unknown): Buffer => {
      const body = encodeMessage(m as never);
      return Buffer.concat([frameHeader(body.length), body]);
    };
    // All in one write, so they arrive in one chunk.
    raw.write(
      Buffer.concat([
        frame({ t: MessageType.HELLO, proto: 'pi', v: PROTOCOL_VERSION, addr: '127.0.0.1:7' }),
        frame(direct(1)),
        frame({ t: 77 }),
        frame(direct(2)),
      ]),
    );
    await waitFor(() => raw.closed);
    assert.deepEqual(
      s.received.map((r) => r.from),
      ['127.0.0.1:7'],
    );
    assert.equal(logged(s.store, 'UnknownMessageType').length, 1);
  });

  test('a HELLO with the wrong version gets HELLO_REJECT, then the connection is closed', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    raw.sendHello('127.0.0.1:7', PROTOCOL_VERSION + 1);
    await waitFor(() => raw.closed);
    assert.equal(raw.frames.length, 1);
    assert.equal(raw.frames[0]!.t, MessageType.HELLO_REJECT);
    assert.match((raw.frames[0] as HelloRejectMessage).reason, /^ProtocolMismatch: /);
    assert.equal(logged(s.store, 'ProtocolMismatch').length, 1);
    assert.equal(s.t.stats.rejected, 1);
  });

  test('a HELLO of another protocol is rejected the same way', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    raw.sendHello('127.0.0.1:7', PROTOCOL_VERSION, 'http');
    await waitFor(() => raw.closed);
    assert.equal(raw.frames[0]!.t, MessageType.HELLO_REJECT);
    assert.equal(logged(s.store, 'ProtocolMismatch').length, 1);
  });

  test('a HELLO whose addr is not host:port is rejected', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await helloPeer(t, s, 'nonsense');
    await waitFor(() => raw.closed);
    assert.equal(raw.frames[0]!.t, MessageType.HELLO_REJECT);
    assert.equal(logged(s.store, 'MalformedMessage').length, 1);
  });

  test('messages before HELLO are rejected and not delivered', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    raw.send(direct(1));
    await waitFor(() => raw.closed);
    assert.equal(s.received.length, 0);
    assert.equal(raw.frames[0]!.t, MessageType.HELLO_REJECT);
    assert.equal(logged(s.store, 'HandshakeRequired').length, 1);
    assert.equal(s.t.stats.rejected, 1);
  });

  test('a truncated frame followed by close is logged, without a crash', async (t) => {
    const s = await startNode((fn) => t.after(fn));
    const raw = await RawPeer.connect(s.t.address);
    raw.sendHello('127.0.0.1:7');
    raw.write(Buffer.concat([frameHeader(100), Buffer.alloc(10)]));
    raw.socket.end();
    await waitFor(() => raw.closed);
    await waitFor(() => logged(s.store, 'MalformedFrame').length === 1);
    assert.match(String(logged(s.store, 'MalformedFrame')[0]!['reason']), /middle of a frame/);
    await stillServes(s, (fn) => t.after(fn));
  });

  test('a connection that never says HELLO is closed after the handshake timeout', async (t) => {
    const s = await startNode((fn) => t.after(fn), { handshakeTimeoutMs: 100 });
    const raw = await RawPeer.connect(s.t.address);
    t.after(() => raw.destroy());
    await waitFor(() => raw.closed);
    assert.equal(logged(s.store, 'HandshakeTimeout').length, 1);
  });

  test('a server answering with the wrong version is refused by the dialler, logged once', async (t) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        const body = encodeMessage({ t: MessageType.HELLO, proto: 'pi', v: PROTOCOL_VERSION + 1, addr: '127.0.0.1:9' });
        socket.write(Buffer.concat([frameHeader(body.length), body]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const addr = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const a = await startNode((fn) => t.after(fn));
    a.t.send(addr, direct(1));
    await waitFor(() => a.t.stats.dialFailures === 1);
    assert.equal(logged(a.store, 'ProtocolMismatch').length, 1);
    assert.equal(a.store.entries.filter((e) => e.level === 'warn').length, 1, 'one line, not one per layer');
    assert.equal(a.t.stats.rejected, 1);
    assert.equal(a.t.stats.dropped, 1);
  });

  test('a peer refusing our HELLO: logged with its code, messages dropped, backoff', async (t) => {
    // A raw "server" that answers every HELLO with a rejection.
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        const body = encodeMessage({ t: MessageType.HELLO_REJECT, reason: 'ProtocolMismatch: expected pi v9, got pi v1' });
        socket.end(Buffer.concat([frameHeader(body.length), body]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const addr = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const a = await startNode((fn) => t.after(fn));
    a.t.send(addr, direct(1));
    await waitFor(() => a.t.stats.dialFailures === 1);
    const lines = logged(a.store, 'ProtocolMismatch');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /expected pi v9/);
    assert.equal(a.t.stats.dropped, 1);
    a.t.send(addr, direct(2));
    assert.equal(a.t.stats.dials, 1, 'in backoff');
  });
});
