/**
 * Certificate tooling for a ring's mutual TLS: one private certificate authority per ring, and a
 * certificate per node signed by it. A peer is trusted when its certificate chains to the ring's
 * CA (peers are addressed by IP, so host names are not checked by the transport).
 *
 * Keys are ECDSA P-256; private keys are exported as PKCS#8 PEM ("BEGIN PRIVATE KEY"), which is
 * what Node's `tls` module accepts.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import './reflect-shim.ts'; // must run before @peculiar/x509 loads
import * as x509 from '@peculiar/x509';
import { RealEnv, silentLogger } from '../env/index.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const subtle = webcrypto.subtle;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start being valid a little in the past, so peers with skewed clocks accept them. */
const BACKDATE_MS = 60 * 60 * 1000;

/** A private key and its certificate, both PEM. */
export interface KeyAndCert {
  /** PKCS#8 private key ("-----BEGIN PRIVATE KEY-----"). */
  keyPem: string;
  /** X.509 certificate ("-----BEGIN CERTIFICATE-----"). */
  certPem: string;
}

/** Options of {@link createCa}. */
export interface CreateCaOptions {
  /** Subject common name. Default "Pi ring CA". */
  commonName?: string;
  /** Validity in days. Default 3650. */
  validDays?: number;
  /** Issue time in ms since the epoch. Default: the wall clock. */
  now?: number;
}

/** Options of {@link createNodeCert}. */
export interface CreateNodeCertOptions {
  /** The CA's private key (PKCS#8 PEM). */
  caKeyPem: string;
  /** The CA's certificate (PEM). */
  caCertPem: string;
  /** Subject common name, e.g. the node's name or id. */
  name: string;
  /** DNS names and IP addresses for the subjectAltName extension. */
  hosts?: string[];
  /** Validity in days. Default 825. */
  validDays?: number;
  /** Issue time in ms since the epoch. Default: the wall clock. */
  now?: number;
}

/** Thrown for unusable inputs (bad PEM, a CA certificate that does not match its key, …). */
export class CertificateError extends Error {
  readonly code = 'InvalidCertificate';
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

function wallClock(): number {
  return new RealEnv({ logger: silentLogger }).now();
}

/** A positive 128-bit serial number, as hex (RFC 5280: positive, at most 20 octets). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and without a leading zero octet
  return bytes.toString('hex');
}

function validity(now: number | undefined, days: number): { notBefore: Date; notAfter: Date } {
  if (!(days > 0) || !Number.isFinite(days)) throw new CertificateError(`validDays must be a positive number, got ${days}`);
  const start = now ?? wallClock();
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(start + days * DAY_MS) };
}

/** Escapes a value for an RFC 4514 distinguished name. */
function dnValue(value: string): string {
  if (value.length === 0) throw new CertificateError('a certificate name must not be empty');
  return value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(pem);
  } catch (err) {
    throw new CertificateError(`CA key is not PEM: ${(err as Error).message}`);
  }
  try {
    return await subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new CertificateError(`CA key is not a PKCS#8 ECDSA P-256 key: ${(err as Error).message}`);
  }
}

/**
 * Creates a self-signed certificate authority for a ring: basicConstraints CA:true (critical),
 * keyUsage keyCertSign + cRLSign (critical).
 */
export async function createCa(options: CreateCaOptions = {}): Promise<KeyAndCert> {
  const keys = await generateKeys();
  const { notBefore, notAfter } = validity(options.now, options.validDays ?? 3650);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${dnValue(options.commonName ?? 'Pi ring CA')}`,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: cert.toString('pem') };
}

/**
 * Creates a node certificate signed by the ring's CA, usable both as a TLS server and a TLS client
 * certificate (extendedKeyUsage serverAuth + clientAuth). `hosts` go into subjectAltName, each as
 * an IP address entry if it parses as one, as a DNS name otherwise.
 */
export async function createNodeCert(options: CreateNodeCertOptions): Promise<KeyAndCert> {
  let caCert: x509.X509Certificate;
  try {
    caCert = new x509.X509Certificate(options.caCertPem);
  } catch (err) {
    throw new CertificateError(`CA certificate is not a PEM certificate: ${(err as Error).message}`);
  }
  const caKey = await importPrivateKey(options.caKeyPem);
  const caPublic = await caCert.publicKey.export();
  const keys = await generateKeys();
  const { notBefore, notAfter } = validity(options.now, options.validDays ?? 825);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caPublic),
  ];
  const hosts = options.hosts ?? [];
  if (hosts.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) !== 0 ? 'ip' : 'dns', value: h }))),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${dnValue(options.name)}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  // Catch a key that does not belong to the CA certificate now rather than at the first handshake.
  if (!(await cert.verify({ publicKey: caPublic, signatureOnly: true }))) {
    throw new CertificateError('the CA key does not match the CA certificate');
  }
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: cert.toString('pem') };
}
