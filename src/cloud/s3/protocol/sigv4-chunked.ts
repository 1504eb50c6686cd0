/**
 * Decoder of `aws-chunked` request bodies (SigV4 streaming uploads), as a Node Transform that
 * takes the wire bytes in any split and emits the object's bytes.
 *
 * Grammar (signed variants; the unsigned variant has no `;chunk-signature=`):
 *
 *     chunk   = hex-size ";chunk-signature=" 64HEX CRLF data CRLF
 *     final   = "0" [";chunk-signature=" 64HEX] CRLF
 *     trailer = *( name ":" value CRLF ) [ "x-amz-trailer-signature:" 64HEX CRLF ]
 *     body    = *chunk final trailer CRLF
 *
 * Chunk signatures chain from the seed signature (the request's own) and are checked at the end
 * of each chunk; the trailer signature chains from the final chunk's. Data is passed on as it
 * arrives, without buffering a chunk, so a bad signature or checksum fails the stream *after*
 * the chunk's bytes went downstream but *before* the stream ends: the consumer must commit the
 * object only on a clean end (which it must do anyway, since a trailing checksum is only known at
 * the end).
 *
 * In the unsigned variant an `x-amz-trailer-signature` line is accepted and ignored.
 *
 * Also checks `x-amz-decoded-content-length`, that announced trailers (`x-amz-trailer`) arrive,
 * and — given {@link AwsChunkedOptions.expected} — Content-MD5 and the flexible checksum, whose
 * value may come in the trailer. Errors: bad signatures `SignatureDoesNotMatch`, truncation or a
 * wrong length `IncompleteBody`, malformed framing `InvalidRequest`, checksum mismatch
 * `BadDigest`.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './errors.ts';
import {
  BodyDigests,
  checksumHeaderName,
  verifyDigests,
  type DigestAlgorithm,
  type ExpectedDigests,
} from './checksums.ts';
import {
  EMPTY_SHA256,
  canonicalTrailer,
  chunkStringToSign,
  signHex,
  signaturesEqual,
  trailerStringToSign,
} from './sigv4-signing.ts';

/** Signing context of a signed aws-chunked body (from a verified request). */
export interface ChunkSigningContext {
  signingKey: Buffer;
  /** The request's signature, first link of the chain. */
  seedSignature: string;
  scope: string;
  amzDate: string;
}

/** Options of {@link AwsChunkedDecoder}. */
export interface AwsChunkedOptions {
  /** For the signed variants; omit for `STREAMING-UNSIGNED-PAYLOAD-TRAILER`. */
  signing?: ChunkSigningContext;
  /** Whether a trailer section may follow the final chunk (the `-TRAILER` variants). */
  trailer: boolean;
  /** Trailer names announced by `x-amz-trailer` (lower-case); each must arrive. */
  announcedTrailers?: readonly string[];
  /** `x-amz-decoded-content-length`, if sent: the decoded body must have exactly this size. */
  decodedContentLength?: number;
  /** Integrity to check on the decoded bytes (Content-MD5, header or trailer checksum). */
  expected?: ExpectedDigests;
  /** Further digests to compute on the decoded bytes (e.g. `MD5` for the ETag). */
  compute?: Iterable<DigestAlgorithm>;
}

/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4096;
/** Most trailer lines accepted. */
const MAX_TRAILERS = 32;

const enum State {
  SizeLine,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

const SIGNED_EXTENSION = /^chunk-signature=([0-9a-f]{64})$/;

function malformed(detail: string): S3Error {
  return new S3Error('InvalidRequest', `Invalid aws-chunked encoding: ${detail}`);
}

function badSignature(): S3Error {
  return new S3Error('SignatureDoesNotMatch');
}

/** Transform from an aws-chunked body to the object bytes; see the module documentation. */
export class AwsChunkedDecoder extends Transform {
  /** Trailing headers received (lower-case names), complete once the stream has ended. */
  readonly trailers: Record<string, string> = {};
  /** Digests of the decoded bytes, complete once the stream has ended. */
  readonly digests: BodyDigests;

  private readonly options: AwsChunkedOptions;
  private state = State.SizeLine;
  private line = '';
  private remaining = 0;
  private decoded = 0;
  private chunkHash: Hash | undefined;
  private chunkSignature = '';
  private previousSignature: string;
  private trailerSignature: string | undefined;
  private trailerCount = 0;

  constructor(options: AwsChunkedOptions) {
    super();
    this.options = options;
    this.previousSignature = options.signing?.seedSignature ?? '';
    const algorithms: DigestAlgorithm[] = [...(options.compute ?? [])];
    if (options.expected?.contentMd5 !== undefined) algorithms.push('MD5');
    if (options.expected?.checksum !== undefined) algorithms.push(options.expected.checksum.algorithm);
    this.digests = new BodyDigests(algorithms);
  }

  /** Number of decoded bytes so far. */
  get decodedLength(): number {
    return this.decoded;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.state === State.Trailer) {
        // Tolerate a body that stops right after the final chunk or the last trailer line,
        // without the closing empty line.
        if (this.line !== '') this.onTrailerLine(this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line);
        if (this.state === State.Trailer) this.finishTrailers();
      }
      if (this.state !== State.Done) {
        throw new S3Error('IncompleteBody', 'The request body terminated unexpectedly');
      }
      const expected = this.options.expected ?? {};
      const checksum = expected.checksum;
      const trailerValue = checksum?.inTrailer ? this.trailers[checksumHeaderName(checksum.algorithm)] : undefined;
      verifyDigests(this.digests, expected, trailerValue);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private consume(buf: Buffer): void {
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      switch (this.state) {
        case State.SizeLine:
        case State.Trailer: {
          const nl = buf.indexOf(0x0a, pos);
          const end = nl < 0 ? n : nl;
          this.line += buf.toString('latin1', pos, end);
          if (this.line.length > MAX_LINE) throw malformed('line too long');
          if (nl < 0) return;
          pos = nl + 1;
          if (!this.line.endsWith('\r')) throw malformed('line not terminated by CRLF');
          const line = this.line.slice(0, -1);
          this.line = '';
          if (this.state === State.SizeLine) this.onSizeLine(line);
          else this.onTrailerLine(line);
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, n - pos);
          const piece = buf.subarray(pos, pos + take);
          pos += take;
          this.remaining -= take;
          this.chunkHash?.update(piece);
          this.digests.update(piece);
          this.decoded += take;
          const limit = this.options.decodedContentLength;
          if (limit !== undefined && this.decoded > limit) {
            throw new S3Error('IncompleteBody', 'The decoded body is longer than x-amz-decoded-content-length');
          }
          this.push(piece);
          if (this.remaining === 0) this.state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (buf[pos] !== 0x0d) throw malformed('chunk data not followed by CRLF');
          pos++;
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (buf[pos] !== 0x0a) throw malformed('chunk data not followed by CRLF');
          pos++;
          this.endChunk();
          this.state = State.SizeLine;
          break;
        case State.Done:
          // Only line breaks may follow the end of the body.
          if (buf[pos] !== 0x0d && buf[pos] !== 0x0a) throw malformed('data after the end of the body');
          pos++;
          break;
      }
    }
  }

  private onSizeLine(line: string): void {
    const semi = line.indexOf(';');
    const hex = semi < 0 ? line : line.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw malformed('invalid chunk size');
    const size = parseInt(hex, 16);
    if (!Number.isSafeInteger(size)) throw malformed('invalid chunk size');
    if (this.options.signing !== undefined) {
      const match = semi < 0 ? null : SIGNED_EXTENSION.exec(line.slice(semi + 1));
      if (match === null) throw badSignature();
      this.chunkSignature = match[1]!;
    }
    if (size === 0) {
      if (this.options.signing !== undefined) this.checkChunkSignature(EMPTY_SHA256);
      this.state = State.Trailer;
      return;
    }
    this.remaining = size;
    this.chunkHash = this.options.signing !== undefined ? createHash('sha256') : undefined;
    this.state = State.Data;
  }

  private endChunk(): void {
    if (this.chunkHash !== undefined) {
      this.checkChunkSignature(this.chunkHash.digest('hex'));
      this.chunkHash = undefined;
    }
  }

  private checkChunkSignature(dataSha256: string): void {
    const signing = this.options.signing!;
    const expected = signHex(signing.signingKey, chunkStringToSign(signing.amzDate, signing.scope, this.previousSignature, dataSha256));
    if (!signaturesEqual(expected, this.chunkSignature)) throw badSignature();
    this.previousSignature = expected;
  }

  private onTrailerLine(line: string): void {
    if (line === '') {
      this.finishTrailers();
      return;
    }
    if (!this.options.trailer) throw malformed('unexpected trailer');
    if (++this.trailerCount > MAX_TRAILERS) throw malformed('too many trailers');
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('invalid trailer line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (this.trailerSignature !== undefined) throw malformed('trailer after x-amz-trailer-signature');
    if (name === 'x-amz-trailer-signature') {
      // Checked for the signed variants; tolerated (and ignored) in an unsigned body, whose
      // data carries no signature anyway.
      this.trailerSignature = value;
      return;
    }
    const announced = this.options.announcedTrailers;
    if (announced !== undefined && !announced.includes(name)) {
      throw new S3Error('InvalidRequest', `The trailer ${name} was not announced in x-amz-trailer`);
    }
    this.trailers[name] = value;
  }

  private finishTrailers(): void {
    const signing = this.options.signing;
    if (signing !== undefined && this.options.trailer) {
      if (this.trailerSignature === undefined) throw badSignature();
      const expected = signHex(
        signing.signingKey,
        trailerStringToSign(signing.amzDate, signing.scope, this.previousSignature, canonicalTrailer(this.trailers)),
      );
      if (!signaturesEqual(expected, this.trailerSignature)) throw badSignature();
    }
    for (const name of this.options.announcedTrailers ?? []) {
      if (this.trailers[name] === undefined) {
        throw new S3Error('IncompleteBody', `The trailer ${name} announced in x-amz-trailer was not sent`);
      }
    }
    const length = this.options.decodedContentLength;
    if (length !== undefined && this.decoded !== length) {
      throw new S3Error('IncompleteBody', 'The decoded body is shorter than x-amz-decoded-content-length');
    }
    this.state = State.Done;
  }
}
