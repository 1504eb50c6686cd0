/**
 * The OwnershipControls document (PutBucketOwnershipControls, GetBucketOwnershipControls) and the
 * `x-amz-object-ownership` header of CreateBucket: one rule naming the bucket's Object Ownership.
 */
import { S3Error } from './errors.ts';
import { emptyDocumentXml } from './xml.ts';
import { childElements, parseXmlDocument } from './xml-parse.ts';

/** S3's Object Ownership settings. */
export const OBJECT_OWNERSHIPS = ['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter'] as const;
export type ObjectOwnership = (typeof OBJECT_OWNERSHIPS)[number];

/** Checks an Object Ownership value (`InvalidArgument` otherwise, naming `argument`). */
export function parseObjectOwnership(value: string, argument = 'x-amz-object-ownership'): ObjectOwnership {
  if (!(OBJECT_OWNERSHIPS as readonly string[]).includes(value)) {
    throw new S3Error('InvalidArgument', 'Invalid Object Ownership value', { fields: { ArgumentName: argument, ArgumentValue: value } });
  }
  return value as ObjectOwnership;
}

/** Parses an OwnershipControls document: exactly one Rule with one ObjectOwnership (`MalformedXML` otherwise). */
export function parseOwnershipControls(body: string | Uint8Array): ObjectOwnership {
  const doc = parseXmlDocument(body, 'OwnershipControls');
  const rules = childElements(doc, 'Rule');
  if (rules.length !== 1 || doc.children.length !== 1) throw new S3Error('MalformedXML');
  const rule = rules[0]!;
  if (rule.children.length !== 1 || rule.children[0]!.name !== 'ObjectOwnership' || rule.children[0]!.children.length > 0) throw new S3Error('MalformedXML');
  const value = rule.children[0]!.text.trim();
  if (!(OBJECT_OWNERSHIPS as readonly string[]).includes(value)) throw new S3Error('MalformedXML');
  return value as ObjectOwnership;
}

/** An OwnershipControls document. */
export function ownershipControlsXml(ownership: ObjectOwnership): string {
  return emptyDocumentXml('OwnershipControls', `<Rule><ObjectOwnership>${ownership}</ObjectOwnership></Rule>`);
}
