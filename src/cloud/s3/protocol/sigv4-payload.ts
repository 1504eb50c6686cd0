/**
 * Verification of a request body according to its authentication: the one place that chooses,
 * from the verified signature and the headers, how the body must be read —
 *
 * - hex `x-amz-content-sha256`: a hashing pass-through that fails with
 *   `XAmzContentSHA256Mismatch` at the end if the SHA-256 differs ({@link PayloadVerifier});
 * - `STREAMING-…` values: the aws-chunked decoder, with chunk signatures checked for the signed
 *   variants ({@link AwsChunkedDecoder});
 * - `UNSIGNED-PAYLOAD`, presigned URLs, anonymous requests: a pass-through.
 *
 * In every case Content-MD5 and the flexible checksum headers / trailers are checked
 * (`BadDigest`), and the digests asked for (e.g. MD5 for the ETag) are computed in the same pass.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './errors.ts';
import { getHeader, type HeaderMap } from './headers.ts';
import { BodyDigests, checksumAlgorithmFromHeader, parseExpectedDigests, verifyDigests, type DigestAlgorithm, type ExpectedDigests } from './checksums.ts';
import { AwsChunkedDecoder } from './sigv4-chunked.ts';
import { payloadModeOf, type PayloadMode } from './sigv4.ts';
import type { RequestAuth } from './auth.ts';

/** Options of {@link PayloadVerifier}. */
export interface PayloadVerifierOptions {
  /** Hex SHA-256 the body must have (`x-amz-content-sha256`). */
  contentSha256?: string;
  /** Content-MD5 / flexible checksum to check. */
  expected?: ExpectedDigests;
  /** Further digests to compute. */
  compute?: Iterable<DigestAlgorithm>;
}

/**
 * Pass-through for a plain (not aws-chunked) body: computes the digests and, at the end, checks
 * the `x-amz-content-sha256` hash (→ `XAmzContentSHA256Mismatch`, with both hashes in the error
 * document as AWS writes them) and then Content-MD5 / checksum (→ `BadDigest`).
 */
export class PayloadVerifier extends Transform {
  /** Digests of the body, complete once the stream has ended. */
  readonly digests: BodyDigests;
  /** Always empty: plain bodies have no trailers. */
  readonly trailers: Record<string, string> = {};
  private readonly contentSha256: string | undefined;
  private readonly expected: ExpectedDigests;

  constructor(options: PayloadVerifierOptions = {}) {
    super();
    this.contentSha256 = options.contentSha256?.toLowerCase();
    this.expected = options.expected ?? {};
    const algorithms: DigestAlgorithm[] = [...(options.compute ?? [])];
    if (this.contentSha256 !== undefined) algorithms.push('SHA256');
    if (this.expected.contentMd5 !== undefined) algorithms.push('MD5');
    if (this.expected.checksum !== undefined) algorithms.push(this.expected.checksum.algorithm);
    this.digests = new BodyDigests(algorithms);
  }

  /** Number of body bytes so far. */
  get decodedLength(): number {
    return this.digests.length;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digests.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.contentSha256 !== undefined) {
        const computed = this.digests.finish().get('SHA256')!.toString('hex');
        if (computed !== this.contentSha256) {
          throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
            fields: { ClientComputedContentSHA256: this.contentSha256, S3ComputedContentSHA256: computed },
          });
        }
      }
      verifyDigests(this.digests, this.expected);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/** A body verifier: a Transform from wire bytes to object bytes, with what it learnt. */
export type BodyVerifier = PayloadVerifier | AwsChunkedDecoder;

/** Options of {@link createBodyVerifier}. */
export interface BodyVerifierOptions {
  /** Digests to compute besides those the request asks to check (e.g. `['MD5']` for the ETag). */
  compute?: Iterable<DigestAlgorithm>;
}

function decodedContentLength(headers: HeaderMap): number | undefined {
  const value = getHeader(headers, 'x-amz-decoded-content-length');
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) {
    throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length must be a non-negative integer', {
      fields: { ArgumentName: 'x-amz-decoded-content-length', ArgumentValue: value },
    });
  }
  return Number(value.trim());
}

/**
 * The trailer names `x-amz-trailer` announces. Only a flexible checksum (`x-amz-checksum-*` of a
 * known algorithm) may travel in an aws-chunked trailer: S3's "Signature calculations for trailing
 * headers" and "Checking object integrity" describe no other, and a trailer is not signed in an
 * unsigned body, so anything else would be unchecked input. Refused as S3 answers it
 * (`InvalidRequest`, "The value specified in the x-amz-trailer header is not supported").
 */
function announcedTrailers(headers: HeaderMap): string[] {
  const names = (getHeader(headers, 'x-amz-trailer') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (names.some((name) => checksumAlgorithmFromHeader(name) === undefined)) {
    throw new S3Error('InvalidRequest', 'The value specified in the x-amz-trailer header is not supported');
  }
  return names;
}

/**
 * Builds the Transform that reads a request body for `auth` (a verified SigV4 or SigV2 request,
 * or `{ kind: 'anonymous' }`; a SigV2 request signs no body, its payload is that of an unsigned
 * one). Header errors (malformed Content-MD5 or checksum headers, a missing or invalid
 * `x-amz-decoded-content-length` on an aws-chunked body (`MissingContentLength`,
 * `InvalidArgument`), an `x-amz-trailer` naming anything but a checksum (`InvalidRequest`), a
 * signed streaming body on an anonymous request) are thrown here, before any byte is read; body
 * errors fail the stream.
 */
export function createBodyVerifier(
  auth: RequestAuth,
  headers: HeaderMap,
  options: BodyVerifierOptions = {},
): BodyVerifier {
  const expected = parseExpectedDigests(headers);
  let payload: PayloadMode;
  if (auth.kind === 'anonymous') {
    const value = getHeader(headers, 'x-amz-content-sha256')?.trim();
    payload = value === undefined ? { kind: 'unsigned' } : payloadModeOf(value);
    if (payload.kind === 'streaming' && payload.signed) {
      throw new S3Error('AccessDenied', 'A signed streaming payload requires a signed request');
    }
  } else {
    payload = auth.payload;
  }
  switch (payload.kind) {
    case 'unsigned':
      return new PayloadVerifier({ expected, ...(options.compute ? { compute: options.compute } : {}) });
    case 'sha256':
      return new PayloadVerifier({ contentSha256: payload.sha256, expected, ...(options.compute ? { compute: options.compute } : {}) });
    case 'streaming': {
      // S3's "Transferring payload in multiple chunks" requires x-amz-decoded-content-length on
      // every aws-chunked request: without it the object's size is unknown until the body ends and
      // the decoded body cannot be checked against a length the client committed to. S3 answers
      // 411 MissingContentLength (the AWS SDKs' PutObject of a stream of unknown length gets it).
      const length = decodedContentLength(headers);
      if (length === undefined) {
        throw new S3Error('MissingContentLength', 'You must provide the x-amz-decoded-content-length HTTP header with an aws-chunked payload.');
      }
      return new AwsChunkedDecoder({
        ...(payload.signed && auth.kind !== 'anonymous' && auth.scheme !== 'AWS'
          ? { signing: { signingKey: auth.signingKey, seedSignature: auth.seedSignature, scope: auth.scope, amzDate: auth.amzDate } }
          : {}),
        trailer: payload.trailer,
        announcedTrailers: payload.trailer ? announcedTrailers(headers) : [],
        decodedContentLength: length,
        expected,
        ...(options.compute ? { compute: options.compute } : {}),
      });
    }
  }
}

/**
 * `Content-Encoding` to store for an object uploaded with `aws-chunked`: the header without the
 * `aws-chunked` coding (`undefined` when nothing else remains).
 */
export function storedContentEncoding(contentEncoding: string | undefined): string | undefined {
  if (contentEncoding === undefined) return undefined;
  const rest = contentEncoding
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked');
  return rest.length === 0 ? undefined : rest.join(', ');
}
