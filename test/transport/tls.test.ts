/** Mutual TLS between nodes: only certificates signed by the ring's CA get in, either way. */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { createCa, createNodeCert } from '../../src/node/certs.ts';
import type { KeyAndCert } from '../../src/node/certs.ts';
import type { TlsCredentials } from '../../src/transport/index.ts';
import type { DirectMessage } from '../../src/wire/index.ts';
import { RawPeer, direct, logged, startNode, waitFor } from './fixtures.ts';

let ring: KeyAndCert;
let other: KeyAndCert;
let good: TlsCredentials[];
/** Certificate from another CA, trusting only that CA. */
let stranger: TlsCredentials;
/** Certificate from another CA, but trusting the ring's CA (so it accepts ring servers). */
let impostor: TlsCredentials;

function creds(kc: KeyAndCert, ca: KeyAndCert): TlsCredentials {
  return { key: kc.keyPem, cert: kc.certPem, ca: ca.certPem };
}

before(async () => {
  ring = await createCa({ commonName: 'ring CA' });
  other = await createCa({ commonName: 'other CA' });
  const issue = (ca: KeyAndCert, name: string): Promise<KeyAndCert> =>
    createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name, hosts: ['127.0.0.1'] });
  good = [creds(await issue(ring, 'node-a'), ring), creds(await issue(ring, 'node-b'), ring)];
  stranger = creds(await issue(other, 'stranger'), other);
  impostor = creds(await issue(other, 'impostor'), ring);
});

describe('TcpTransport over mutual TLS', () => {
  test('two nodes with CA-signed certificates talk both ways over one connection', async (t) => {
    const a = await startNode((fn) => t.after(fn), { tls: good[0] });
    const b = await startNode((fn) => t.after(fn), { tls: good[1] });
    assert.ok(a.t.secure);
    b.t.setHandler((message, from) => {
      b.received.push({ message, from });
      b.t.send(from, direct((message as DirectMessage).hop + 1));
    });
    for (let i = 0; i < 100; i += 2) a.t.send(b.t.address, direct(i, 'over tls'));
    await waitFor(() => a.received.length === 50, { what: 'replies over TLS' });
    assert.deepEqual(
      a.received.map((r) => (r.message as DirectMessage).hop),
      Array.from({ length: 50 }, (_, i) => 2 * i + 1),
    );
    assert.equal(a.t.stats.dials + b.t.stats.dials, 1);
    assert.equal(a.t.connectionInfo()[0]!.peerCn, 'node-b');
    assert.equal(b.t.connectionInfo()[0]!.peerCn, 'node-a');
    assert.equal(a.t.stats.rejected + b.t.stats.rejected, 0);
  });

  test('a large message crosses TLS intact', async (t) => {
    const a = await startNode((fn) => t.after(fn), { tls: good[0] });
    const b = await startNode((fn) => t.after(fn), { tls: good[1] });
    const big = Buffer.alloc(4 * 1024 * 1024, 0x5a);
    a.t.send(b.t.address, direct(1, big));
    await waitFor(() => b.received.length === 1, { timeoutMs: 10_000 });
    const got = (b.received[0]!.message as DirectMessage).msg.body as Uint8Array;
    assert.ok(Buffer.from(got).equals(big));
  });

  test('a node whose certificate is from another CA cannot connect to the ring, refused on both sides', async (t) => {
    const ringNode = await startNode((fn) => t.after(fn), { tls: good[0] });
    const bad = await startNode((fn) => t.after(fn), { tls: stranger });
    bad.t.send(ringNode.t.address, direct(1));
    await waitFor(() => bad.t.stats.dialFailures === 1, { what: 'the dial to fail' });
    await waitFor(() => logged(ringNode.store, 'TlsRefused').length === 1, { what: 'the server to log the refusal' });
    const clientLines = logged(bad.store, 'TlsRefused');
    assert.equal(clientLines.length, 1);
    assert.match(String(clientLines[0]!['reason']), /certificate|verify/i);
    assert.match(String(logged(ringNode.store, 'TlsRefused')[0]!['remote']), /^127\.0\.0\.1:\d+$/);
    assert.equal(ringNode.received.length, 0);
    assert.equal(bad.t.stats.dropped, 1);
    assert.ok(ringNode.t.stats.rejected >= 1);
  });

  test('a ring node does not connect to a node with a certificate from another CA', async (t) => {
    const ringNode = await startNode((fn) => t.after(fn), { tls: good[0] });
    const bad = await startNode((fn) => t.after(fn), { tls: stranger });
    ringNode.t.send(bad.t.address, direct(1));
    await waitFor(() => ringNode.t.stats.dialFailures === 1);
    await waitFor(() => logged(bad.store, 'TlsRefused').length === 1, { what: 'the stranger to log the refusal' });
    const lines = logged(ringNode.store, 'TlsRefused');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['errCode']), /CERT|ISSUER|SIGNATURE/);
    assert.equal(bad.received.length, 0);
    assert.equal(ringNode.t.stats.rejected, 1, 'the client refused the server certificate');
  });

  test('a client with a foreign certificate that trusts the ring CA is refused by the server, logged on both sides', async (t) => {
    const ringNode = await startNode((fn) => t.after(fn), { tls: good[0] });
    const bad = await startNode((fn) => t.after(fn), { tls: impostor });
    bad.t.send(ringNode.t.address, direct(1));
    await waitFor(() => bad.t.stats.dialFailures === 1);
    const serverLines = logged(ringNode.store, 'TlsRefused');
    assert.equal(serverLines.length, 1);
    assert.match(String(serverLines[0]!['reason']), /certificate not accepted .*CN=impostor/);
    const clientLines = logged(bad.store, 'TlsRefused');
    assert.equal(clientLines.length, 1);
    assert.match(String(clientLines[0]!['reason']), /refused us/);
    assert.equal(ringNode.received.length, 0);
    assert.equal(ringNode.t.stats.rejected, 1);
  });

  test('a client presenting no certificate is refused, and the server says so', async (t) => {
    const server = await startNode((fn) => t.after(fn), { tls: good[0] });
    const [host, port] = server.t.address.split(':') as [string, string];
    // Trusts the ring's CA, so the handshake completes; it simply has no certificate of its own.
    const client = tls.connect({ host, port: Number(port), ca: ring.certPem, minVersion: 'TLSv1.3' });
    let closed = false;
    client.on('error', () => {});
    client.on('close', () => (closed = true));
    client.resume(); // read what the server sends, so that its end is seen
    t.after(() => client.destroy());
    await waitFor(() => logged(server.store, 'TlsRefused').length === 1, { what: 'the server to log the refusal' });
    const line = logged(server.store, 'TlsRefused')[0]!;
    assert.match(String(line['reason']), /^peer certificate not accepted \(no client certificate\)$/);
    assert.doesNotMatch(String(line['reason']), /ISSUER/);
    await waitFor(() => closed, { what: 'the client to be closed' });
    assert.equal(server.received.length, 0);
    assert.equal(server.t.stats.rejected, 1);
  });

  test('a plaintext client against a TLS server is refused', async (t) => {
    const server = await startNode((fn) => t.after(fn), { tls: good[0] });
    const plain = await startNode((fn) => t.after(fn));
    plain.t.send(server.t.address, direct(1));
    await waitFor(() => plain.t.stats.dialFailures === 1);
    await waitFor(() => logged(server.store, 'TlsRefused').length === 1);
    assert.equal(server.received.length, 0);
    assert.equal(plain.t.stats.dropped, 1);
    assert.equal(logged(plain.store, 'HandshakeFailed').length, 1);
  });

  test('a TLS client against a plaintext server is refused, with a hint in the server log', async (t) => {
    const server = await startNode((fn) => t.after(fn));
    const client = await startNode((fn) => t.after(fn), { tls: good[0] });
    client.t.send(server.t.address, direct(1));
    await waitFor(() => client.t.stats.dialFailures === 1);
    const lines = logged(server.store, 'FrameTooLarge');
    assert.equal(lines.length, 1);
    assert.match(String(lines[0]!['reason']), /looks like a TLS handshake/);
    assert.equal(logged(client.store, 'TlsRefused').length, 1);
    assert.equal(server.received.length, 0);
  });

  test('close() does not wait for connections stuck in the TLS handshake', async (t) => {
    const server = await startNode((fn) => t.after(fn), { tls: good[0], handshakeTimeoutMs: 30_000 });
    const raw = await RawPeer.connect(server.t.address);
    t.after(() => raw.destroy());
    const started = Date.now();
    await server.t.close();
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    await waitFor(() => raw.closed);
  });
});
