/**
 * Small request and response bodies of the S3 operations: XML documents and empty answers out,
 * XML request documents in (read whole, through the request's body verifier).
 */
import { pipeline } from 'node:stream/promises';
import { S3Error, requireIntegrityHeader } from './protocol/index.ts';
import type { BodyVerifier } from './protocol/index.ts';
import type { S3Request } from './http.ts';

/** Largest XML request body read (DeleteObjects of 1000 long keys fits). */
export const MAX_XML_BODY = 2 * 1024 * 1024;

/** Answers with an XML document. */
export function sendXml(r: S3Request, xml: string, status = 200, headers: Record<string, string> = {}): void {
  r.res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)) });
  r.res.end(xml);
}

/** Answers without a body. */
export function sendEmpty(r: S3Request, status: number, headers: Record<string, string> = {}): void {
  r.res.writeHead(status, { ...headers, 'content-length': '0' });
  r.res.end();
}

/** Reads a small request body (XML documents) whole, through the body verifier. */
export async function readSmallBody(r: S3Request, verifier: BodyVerifier): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  verifier.on('data', (b: Buffer) => {
    size += b.length;
    if (size > MAX_XML_BODY) verifier.destroy(new S3Error('MaxMessageLengthExceeded'));
    else parts.push(b);
  });
  await pipeline(r.req, verifier);
  return Buffer.concat(parts);
}

/**
 * The body of a request S3 requires an integrity header for (Content-MD5 or a checksum: the
 * configuration documents, tagging, Object Lock settings, DeleteObjects), read as
 * {@link readSmallBody} reads it; `InvalidRequest` without the header, before any byte is read.
 */
export async function readCheckedBody(r: S3Request, verifier: BodyVerifier): Promise<Buffer> {
  requireIntegrityHeader(r.headers);
  return readSmallBody(r, verifier);
}

/** A bucket sub-resource operation: its name (metrics, error logs) and how to run it. */
export interface Operation {
  name: string;
  run: () => Promise<void>;
}

/**
 * The operation a request to a bucket sub-resource is, chosen by its method from `byMethod`
 * (operation name and handler); any other method is `MethodNotAllowed` under `resource`'s name.
 */
export function subresourceOperation(r: S3Request, resource: string, byMethod: Partial<Record<'GET' | 'PUT' | 'DELETE', [string, () => Promise<void>]>>): Operation {
  const chosen = byMethod[r.method as 'GET' | 'PUT' | 'DELETE'];
  if (chosen !== undefined) return { name: chosen[0], run: chosen[1] };
  return { name: resource, run: () => Promise.reject(new S3Error('MethodNotAllowed', undefined, { fields: { Method: r.method, ResourceType: 'BUCKET' } })) };
}
