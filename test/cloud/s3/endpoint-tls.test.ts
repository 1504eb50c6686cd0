/**
 * The S3 endpoint's certificate files (endpoint-tls.ts): what stops the application at start
 * (named files), and what a re-read does with unchanged, renewed and broken files.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EndpointTls, EndpointTlsError } from '../../../src/cloud/s3/endpoint-tls.ts';
import { createNodeCert } from '../../../src/node/certs.ts';
import { ringCa, tempDir } from '../../node/fixtures.ts';
import { runCleanups } from '../../helpers/cleanup.ts';

describe('the S3 endpoint certificate files', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    await runCleanups(cleanups);
  });

  async function issue(name: string): Promise<{ certPem: string; keyPem: string }> {
    const ca = await ringCa();
    return createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name, hosts: ['localhost', '127.0.0.1'] });
  }

  function refusedWith(pattern: RegExp): (err: unknown) => boolean {
    return (err) => err instanceof EndpointTlsError && err.code === 'S3TlsInvalid' && pattern.test(err.message);
  }

  test('a missing file, a certificate that is not PEM, or a key that is not the certificate\'s is refused, naming the file', async () => {
    const dir = await tempDir((fn) => cleanups.push(fn), 'pi-endpoint-tls-');
    const [certFile, keyFile, otherKey, junk] = ['c.pem', 'k.pem', 'other.pem', 'junk.pem'].map((f) => join(dir, f)) as [string, string, string, string];
    const one = await issue('one');
    await writeFile(certFile, one.certPem);
    await writeFile(keyFile, one.keyPem);
    await writeFile(otherKey, (await issue('two')).keyPem);
    await writeFile(junk, 'not a certificate\n');

    assert.throws(() => EndpointTls.load({ certFile: join(dir, 'missing.pem'), keyFile }), refusedWith(/certificate file .*missing\.pem/));
    assert.throws(() => EndpointTls.load({ certFile, keyFile: join(dir, 'gone.pem') }), refusedWith(/private key file .*gone\.pem/));
    assert.throws(() => EndpointTls.load({ certFile: junk, keyFile }), refusedWith(/junk\.pem is not a PEM certificate/));
    assert.throws(() => EndpointTls.load({ certFile, keyFile: otherKey }), refusedWith(/other\.pem cannot be used with the certificate/));

    const tls = EndpointTls.load({ certFile, keyFile });
    assert.match(tls.summary.subject, /CN=one/);
    assert.match(tls.summary.altNames ?? '', /DNS:localhost/);
    assert.ok(tls.summary.notAfter > Date.now());
  });

  test('a re-read: unchanged files change nothing, a renewed pair is taken, a broken one is refused and the pair in use stays', async () => {
    const dir = await tempDir((fn) => cleanups.push(fn), 'pi-endpoint-tls-');
    const certFile = join(dir, 'c.pem');
    const keyFile = join(dir, 'k.pem');
    const one = await issue('one');
    await writeFile(certFile, one.certPem);
    await writeFile(keyFile, one.keyPem);
    const tls = EndpointTls.load({ certFile, keyFile });
    const first = tls.summary.fingerprint256;

    assert.equal(await tls.refresh(), undefined);

    const two = await issue('two');
    await writeFile(certFile, two.certPem);
    // The certificate renewed, its key not yet: refused, the first pair stays.
    await assert.rejects(tls.refresh(), refusedWith(/cannot be used with the certificate/));
    assert.equal(tls.summary.fingerprint256, first);
    assert.equal(tls.pair.cert.toString(), one.certPem);

    await writeFile(keyFile, two.keyPem);
    const renewed = await tls.refresh();
    assert.ok(renewed, 'the renewed pair is taken');
    assert.equal(renewed.cert.toString(), two.certPem);
    assert.notEqual(tls.summary.fingerprint256, first);
    assert.match(tls.summary.subject, /CN=two/);
    assert.equal(await tls.refresh(), undefined, 'and is the pair in use');
  });
});
