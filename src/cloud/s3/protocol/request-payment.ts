/**
 * Requester Pays: the RequestPaymentConfiguration document (PutBucketRequestPayment,
 * GetBucketRequestPayment) and a request's acknowledgement that it pays (`x-amz-request-payer:
 * requester`, or the same query parameter of a presigned URL).
 */
import { S3Error } from './errors.ts';
import { getHeader } from './headers.ts';
import type { HeaderMap } from './headers.ts';
import { emptyDocumentXml } from './xml.ts';
import { leafText, parseXmlDocument, uniqueChildren } from './xml-parse.ts';

/** Who pays for requests to a bucket. */
export type Payer = 'BucketOwner' | 'Requester';

/** Parses a RequestPaymentConfiguration document: one Payer, `BucketOwner` or `Requester` (`MalformedXML` otherwise). */
export function parseRequestPaymentConfiguration(body: string | Uint8Array): Payer {
  const doc = parseXmlDocument(body, 'RequestPaymentConfiguration');
  const payer = uniqueChildren(doc, ['Payer']).get('Payer');
  if (!payer) throw new S3Error('MalformedXML');
  const value = leafText(payer).trim();
  if (value !== 'BucketOwner' && value !== 'Requester') throw new S3Error('MalformedXML');
  return value;
}

/** A RequestPaymentConfiguration document. */
export function requestPaymentXml(payer: Payer): string {
  return emptyDocumentXml('RequestPaymentConfiguration', `<Payer>${payer}</Payer>`);
}

/** Whether the request says its sender pays for it (the header, or the query parameter of a presigned URL). */
export function acknowledgesCharges(headers: HeaderMap, query: URLSearchParams): boolean {
  const value = getHeader(headers, 'x-amz-request-payer') ?? query.get('x-amz-request-payer') ?? undefined;
  return value?.toLowerCase() === 'requester';
}
