import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { CertificateError, createCa, createNodeCert } from '../../src/node/certs.ts';

const DAY = 24 * 60 * 60 * 1000;

describe('certificates', () => {
  test('createCa makes a self-signed CA with a PKCS#8 P-256 key', async () => {
    const now = Date.UTC(2030, 0, 1);
    const ca = await createCa({ commonName: 'Test ring', validDays: 10, now });
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n/);
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=Test ring');
    assert.equal(cert.issuer, 'CN=Test ring');
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.ok(cert.checkPrivateKey(createPrivateKey(ca.keyPem)));
    const key = createPrivateKey(ca.keyPem);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(new Date(cert.validTo).getTime(), Math.floor((now + 10 * DAY) / 1000) * 1000);
    assert.ok(new Date(cert.validFrom).getTime() < now);
    assert.match(cert.serialNumber, /^[0-9A-F]{32}$/i);
  });

  test('createCa defaults: name and a fresh serial each time', async () => {
    const [a, b] = await Promise.all([createCa(), createCa()]);
    const ca = new X509Certificate(a.certPem);
    assert.equal(ca.subject, 'CN=Pi ring CA');
    assert.notEqual(ca.serialNumber, new X509Certificate(b.certPem).serialNumber);
    assert.ok(new Date(ca.validTo).getTime() - Date.now() > 3000 * DAY);
  });

  test('createNodeCert issues a CA-signed client+server certificate with SANs', async () => {
    const ca = await createCa();
    const node = await createNodeCert({
      caKeyPem: ca.keyPem,
      caCertPem: ca.certPem,
      name: 'node-7',
      hosts: ['10.1.2.3', '::1', 'node7.ring.local'],
    });
    assert.match(node.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const cert = new X509Certificate(node.certPem);
    const caCert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, false);
    assert.equal(cert.subject, 'CN=node-7');
    assert.equal(cert.issuer, 'CN=Pi ring CA');
    assert.ok(cert.checkIssued(caCert));
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(node.keyPem)));
    assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.checkIP('10.1.2.3'), '10.1.2.3');
    assert.equal(cert.checkHost('node7.ring.local'), 'node7.ring.local');
    assert.match(cert.subjectAltName ?? '', /IP Address:0:0:0:0:0:0:0:1|IP Address:::1/i);
  });

  test('names with DN special characters are escaped, not interpreted', async () => {
    const ca = await createCa({ commonName: 'ring, with comma' });
    const node = await createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: 'a=b+c' });
    // The certificate holds the plain value (Node's subject string escapes it again for display).
    assert.equal(new X509Certificate(ca.certPem).toLegacyObject().subject.CN, 'ring, with comma');
    assert.equal(new X509Certificate(node.certPem).toLegacyObject().subject.CN, 'a=b+c');
  });

  test('a CA key that does not match the CA certificate is refused', async () => {
    const ca = await createCa();
    const other = await createCa();
    await assert.rejects(createNodeCert({ caKeyPem: other.keyPem, caCertPem: ca.certPem, name: 'x' }), (err: unknown) => {
      assert.ok(err instanceof CertificateError);
      assert.equal(err.code, 'InvalidCertificate');
      assert.match(err.message, /does not match/);
      return true;
    });
  });

  test('bad PEM input gives a CertificateError', async () => {
    const ca = await createCa();
    await assert.rejects(createNodeCert({ caKeyPem: 'nonsense', caCertPem: ca.certPem, name: 'x' }), CertificateError);
    await assert.rejects(createNodeCert({ caKeyPem: ca.keyPem, caCertPem: 'nonsense', name: 'x' }), CertificateError);
    await assert.rejects(createNodeCert({ caKeyPem: ca.certPem, caCertPem: ca.certPem, name: 'x' }), CertificateError);
    await assert.rejects(createNodeCert({ caKeyPem: ca.keyPem, caCertPem: ca.certPem, name: '' }), CertificateError);
    await assert.rejects(createCa({ validDays: 0 }), CertificateError);
  });
});
