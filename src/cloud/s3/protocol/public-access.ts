/**
 * The PublicAccessBlockConfiguration document (PutPublicAccessBlock, GetPublicAccessBlock): four
 * booleans, each `false` when left out.
 */
import { S3Error } from './errors.ts';
import { emptyDocumentXml } from './xml.ts';
import { parseXmlDocument } from './xml-parse.ts';

/** The four settings of a public access block. */
export interface PublicAccessBlockSettings {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

const ELEMENTS: Record<string, keyof PublicAccessBlockSettings> = {
  BlockPublicAcls: 'blockPublicAcls',
  IgnorePublicAcls: 'ignorePublicAcls',
  BlockPublicPolicy: 'blockPublicPolicy',
  RestrictPublicBuckets: 'restrictPublicBuckets',
};

/** Parses a PublicAccessBlockConfiguration (`MalformedXML` for unknown or repeated elements and values other than true / false). */
export function parsePublicAccessBlock(body: string | Uint8Array): PublicAccessBlockSettings {
  const doc = parseXmlDocument(body, 'PublicAccessBlockConfiguration');
  const out: PublicAccessBlockSettings = { blockPublicAcls: false, ignorePublicAcls: false, blockPublicPolicy: false, restrictPublicBuckets: false };
  const seen = new Set<string>();
  for (const el of doc.children) {
    const field = ELEMENTS[el.name];
    if (field === undefined || seen.has(el.name) || el.children.length > 0) throw new S3Error('MalformedXML');
    seen.add(el.name);
    const value = el.text.trim().toLowerCase();
    if (value !== 'true' && value !== 'false') throw new S3Error('MalformedXML');
    out[field] = value === 'true';
  }
  return out;
}

/** A PublicAccessBlockConfiguration document with every setting written. */
export function publicAccessBlockXml(settings: PublicAccessBlockSettings): string {
  let inner = '';
  for (const [name, field] of Object.entries(ELEMENTS)) inner += `<${name}>${settings[field] ? 'true' : 'false'}</${name}>`;
  return emptyDocumentXml('PublicAccessBlockConfiguration', inner);
}
