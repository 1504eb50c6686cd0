/**
 * The S3 endpoint's TLS certificate and key (`s3.tls.cert`, `s3.tls.key`): read and checked at
 * start (a missing file, a file that is not PEM, or a key that does not match the certificate
 * stops the node with the file named), and re-read on demand so that a renewed certificate
 * (an ACME client, cert-manager, a ring CA reissue) is served without a restart. A renewal that
 * does not check out is refused and the certificate in use stays.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/** A certificate chain and its private key, as `https.createServer` takes them. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** What operators see of the certificate in use. */
export interface TlsCertificateSummary {
  subject: string;
  /** The subjectAltName entries, as Node prints them (`DNS:…, IP Address:…`). */
  altNames: string | undefined;
  issuer: string;
  validFrom: string;
  validTo: string;
  /** Expiry in ms since the epoch. */
  notAfter: number;
  fingerprint256: string;
}

/** A certificate or key file that cannot be used; `code` is stable for logs. */
export class EndpointTlsError extends Error {
  readonly code = 'S3TlsInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'EndpointTlsError';
  }
}

/** The files of the endpoint's TLS and the pair last read from them. */
export class EndpointTls {
  private current: TlsPair;
  private summaryValue: TlsCertificateSummary;

  private constructor(
    readonly files: { certFile: string; keyFile: string },
    pair: TlsPair,
  ) {
    this.current = pair;
    this.summaryValue = checkPair(pair, files);
  }

  /** Reads and checks the files (synchronously: this runs once, at start). */
  static load(files: { certFile: string; keyFile: string }): EndpointTls {
    return new EndpointTls(files, { cert: readPem(files.certFile, 'certificate'), key: readPem(files.keyFile, 'private key') });
  }

  /** The pair in use. */
  get pair(): TlsPair {
    return this.current;
  }

  /** The certificate in use. */
  get summary(): TlsCertificateSummary {
    return this.summaryValue;
  }

  /**
   * Re-reads the files. Resolves with the new pair when they changed and check out (it becomes
   * the pair in use), undefined when they did not change; rejects with {@link EndpointTlsError}
   * when they changed into something unusable (the pair in use stays).
   */
  async refresh(): Promise<TlsPair | undefined> {
    let next: TlsPair;
    try {
      next = { cert: await readFile(this.files.certFile), key: await readFile(this.files.keyFile) };
    } catch (err) {
      throw new EndpointTlsError(`cannot read the S3 endpoint's TLS files: ${(err as Error).message}`);
    }
    if (next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return undefined;
    const summary = checkPair(next, this.files);
    this.current = next;
    this.summaryValue = summary;
    return next;
  }
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new EndpointTlsError(`cannot read the S3 endpoint's TLS ${what} file ${path}: ${(err as Error).message}`);
  }
}

/** Parses the certificate and makes a TLS context of the pair, which fails when the key is not the certificate's. */
function checkPair(pair: TlsPair, files: { certFile: string; keyFile: string }): TlsCertificateSummary {
  let x: X509Certificate;
  try {
    x = new X509Certificate(pair.cert);
  } catch (err) {
    throw new EndpointTlsError(`the S3 endpoint's TLS certificate file ${files.certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    createSecureContext({ cert: pair.cert, key: pair.key });
  } catch (err) {
    throw new EndpointTlsError(`the S3 endpoint's TLS key ${files.keyFile} cannot be used with the certificate ${files.certFile}: ${(err as Error).message}`);
  }
  return {
    subject: x.subject.replace(/\n/g, ', '),
    altNames: x.subjectAltName,
    issuer: x.issuer.replace(/\n/g, ', '),
    validFrom: x.validFrom,
    validTo: x.validTo,
    notAfter: Date.parse(x.validTo),
    fingerprint256: x.fingerprint256,
  };
}
