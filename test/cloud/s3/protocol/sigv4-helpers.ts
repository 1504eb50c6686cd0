/**
 * Test helpers for SigV4: signing with the AWS SDK's own signer (@smithy/signature-v4), an
 * aws-chunked encoder written independently of the code under test (straight node:crypto), and
 * stream utilities.
 */
import { createHash, createHmac } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/core/protocols';
import { buildQueryString } from '@smithy/core/protocols';
import type { SigV4Request } from '../../../../src/cloud/s3/protocol/sigv4.ts';

export const AKID = 'AKIDEXAMPLE';
export const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

/** A request to sign: decoded path and query as the SDK would hold them. */
export interface PlainRequest {
  method: string;
  host: string;
  /** Path, already percent-encoded as it goes on the wire. */
  path: string;
  query?: Record<string, string | string[] | null>;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

function signer(region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
}

function toHttpRequest(req: PlainRequest): HttpRequest {
  return new HttpRequest({
    method: req.method,
    protocol: 'http:',
    hostname: req.host,
    path: req.path,
    query: req.query ?? {},
    headers: { host: req.host, ...(req.headers ?? {}) },
    ...(req.body === undefined ? {} : { body: req.body }),
  });
}

function toServerView(signed: HttpRequest): SigV4Request {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return {
    method: signed.method,
    path: signed.path,
    query: buildQueryString(signed.query as Record<string, string | string[] | null>),
    headers,
  };
}

/** Signs with the Authorization header (SDK signer) and returns the server's view. */
export async function signHeader(req: PlainRequest, date: Date, region?: string): Promise<SigV4Request> {
  const signed = (await signer(region).sign(toHttpRequest(req), { signingDate: date })) as HttpRequest;
  return toServerView(signed);
}

/**
 * Presigns as the SDK's S3 presigner does (`x-amz-content-sha256: UNSIGNED-PAYLOAD` added, then
 * hoisted into the query with the other `x-amz-*` headers) and returns the server's view.
 */
export async function presign(req: PlainRequest, date: Date, expiresIn: number, region?: string): Promise<SigV4Request> {
  const withHash: PlainRequest = { ...req, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(req.headers ?? {}) } };
  const signed = (await signer(region).presign(toHttpRequest(withHash), { signingDate: date, expiresIn, unsignableHeaders: new Set(['content-type']) })) as HttpRequest;
  return toServerView(signed);
}

/** Epoch ms of an `x-amz-date` value. */
export function amzDateMs(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) throw new Error(`bad date ${value}`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

// ---------------------------------------------------------------------------------------------
// Independent aws-chunked encoder.

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Signing key computed here, independently. */
export function testSigningKey(secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
}

/** Builds a signed aws-chunked body. */
export function encodeSignedChunked(options: {
  secret: string;
  amzDate: string;
  region: string;
  seedSignature: string;
  chunks: Buffer[];
  trailers?: [string, string][];
}): Buffer {
  const date = options.amzDate.slice(0, 8);
  const scope = `${date}/${options.region}/s3/aws4_request`;
  const key = testSigningKey(options.secret, date, options.region);
  const empty = hex('');
  let previous = options.seedSignature;
  const out: Buffer[] = [];
  for (const chunk of [...options.chunks, Buffer.alloc(0)]) {
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${options.amzDate}\n${scope}\n${previous}\n${empty}\n${hex(chunk)}`;
    previous = createHmac('sha256', key).update(sts).digest('hex');
    out.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`));
    if (chunk.length > 0) out.push(chunk, Buffer.from('\r\n'));
  }
  if (options.trailers === undefined) {
    out.push(Buffer.from('\r\n'));
  } else {
    let canonical = '';
    for (const [name, value] of options.trailers) {
      out.push(Buffer.from(`${name}:${value}\r\n`));
      canonical += `${name}:${value}\n`;
    }
    const sts = `AWS4-HMAC-SHA256-TRAILER\n${options.amzDate}\n${scope}\n${previous}\n${hex(canonical)}`;
    out.push(Buffer.from(`x-amz-trailer-signature:${createHmac('sha256', key).update(sts).digest('hex')}\r\n\r\n`));
  }
  return Buffer.concat(out);
}

/** Builds an unsigned aws-chunked body with trailers. */
export function encodeUnsignedChunked(chunks: Buffer[], trailers: [string, string][]): Buffer {
  const out: Buffer[] = [];
  for (const chunk of chunks) out.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  out.push(Buffer.from('0\r\n'));
  for (const [name, value] of trailers) out.push(Buffer.from(`${name}:${value}\r\n`));
  out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// Streams

/** Splits `data` into pieces of `size` bytes (the last may be shorter). */
export function split(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

/** Splits `data` at pseudo-random points (deterministic from `seed`). */
export function randomSplit(data: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let state = seed >>> 0 || 1;
  let i = 0;
  while (i < data.length) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const size = 1 + (state % 9000);
    out.push(data.subarray(i, i + size));
    i += size;
  }
  return out;
}

/** Pipes `pieces` through `transform` and collects the output. */
export async function runThrough(transform: Transform, pieces: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}
