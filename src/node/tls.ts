/**
 * Loading and checking a node's TLS credentials at start: a node whose own certificate is
 * missing, unreadable, expired, not matching its key or not issued by the configured CA refuses
 * to start, with a message naming the setting and the fix, instead of failing every handshake.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TlsCredentials } from '../transport/index.ts';

/** A certificate problem found at start. */
export class TlsSetupError extends Error {
  readonly code = 'InvalidCertificate';
  constructor(message: string) {
    super(message);
    this.name = 'TlsSetupError';
  }
}

/** File paths of the credentials (the `tls.*` settings). */
export interface TlsPaths {
  ca: string;
  cert: string;
  key: string;
}

/** What the node reports about its certificate. */
export interface CertificateSummary {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

const HINT = 'create them with `pi cert create-ca` and `pi cert create-node NAME --out <dataDir>/tls`, or run with --insecure for local development';

function read(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsSetupError(`setting "${setting}": cannot read ${path} (${code ?? (err as Error).message}); ${HINT}`);
  }
}

/**
 * Reads the CA certificate, node certificate and key, and checks them against each other and the
 * clock (`now`, ms). Returns the credentials for the transport and a summary for the ops API.
 */
export function loadTlsCredentials(paths: TlsPaths, now: number): { credentials: TlsCredentials; summary: CertificateSummary } {
  const caPem = read('tls.ca', paths.ca);
  const certPem = read('tls.cert', paths.cert);
  const keyPem = read('tls.key', paths.key);
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(caPem);
  } catch (err) {
    throw new TlsSetupError(`setting "tls.ca": ${paths.ca} is not a PEM certificate (${(err as Error).message})`);
  }
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new TlsSetupError(`setting "tls.cert": ${paths.cert} is not a PEM certificate (${(err as Error).message})`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsSetupError(`setting "tls.key": ${paths.key} is not a PEM private key (${(err as Error).message})`);
  }
  if (!ca.ca) throw new TlsSetupError(`setting "tls.ca": ${paths.ca} is not a CA certificate (${ca.subject})`);
  if (!cert.checkPrivateKey(key)) throw new TlsSetupError(`settings "tls.cert" and "tls.key": the key in ${paths.key} does not belong to the certificate in ${paths.cert}`);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new TlsSetupError(`setting "tls.cert": ${paths.cert} (${cert.subject}) is not signed by the ring CA in ${paths.ca} (${ca.subject}); ${HINT}`);
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now < from) throw new TlsSetupError(`setting "tls.cert": ${paths.cert} is not valid before ${cert.validFrom} (check the clock)`);
  if (now > to) throw new TlsSetupError(`setting "tls.cert": ${paths.cert} expired on ${cert.validTo}; issue a new one with \`pi cert create-node\``);
  if (now > Date.parse(ca.validTo)) throw new TlsSetupError(`setting "tls.ca": the ring CA ${paths.ca} expired on ${ca.validTo}`);
  return {
    credentials: { ca: caPem, cert: certPem, key: keyPem },
    summary: { subject: cert.subject, issuer: cert.issuer, validFrom: cert.validFrom, validTo: cert.validTo, fingerprint256: cert.fingerprint256 },
  };
}
