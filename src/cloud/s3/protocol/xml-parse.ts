/**
 * Safe parsing of S3 request bodies into a small element tree.
 *
 * fast-xml-parser does the tokenising with entity processing turned off; this module decodes the
 * five predefined entities and numeric character references itself and refuses any document with
 * a DOCTYPE, so no entity can expand. Every failure — bytes that are not UTF-8, malformed XML,
 * an unexpected root, a document too deep or too large — becomes an {@link S3Error} with the
 * caller's code (`MalformedXML`, `MalformedACLError`, …); nothing throws anything else.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error, type S3ErrorCode } from './errors.ts';
import { decodeUtf8 } from './utf8.ts';

/** An element of a parsed document. */
export interface XmlElement {
  /** Local name (namespace prefix removed). */
  name: string;
  /** Attributes by local name, entity-decoded. */
  attributes: Record<string, string>;
  /** Child elements, in document order. */
  children: XmlElement[];
  /** Character data directly inside the element (text and CDATA, decoded, whitespace kept). */
  text: string;
}

/** Default limit on a request document: 4 MiB (DeleteObjects with 1000 long keys fits). */
export const DEFAULT_MAX_XML_BYTES = 4 * 1024 * 1024;

/**
 * Most attributes on one element. S3's documents use at most `xmlns`, `xmlns:xsi` and `xsi:type`
 * (an ACL Grantee); 8 leaves room for other namespace declarations. Each attribute costs far
 * more to parse than its bytes: 150,000 of them on one element took 0.8 s and 150 MiB.
 */
export const MAX_XML_ATTRIBUTES = 8;

/**
 * Most elements in one document. The largest S3 documents: a CompleteMultipartUpload of 10,000
 * parts, each Part with PartNumber, ETag and a checksum (40,001 elements; within the 2 MiB a
 * request body may have, at most about 5 per part fit: 50,001), a DeleteObjects of 1,000 objects
 * with Key, VersionId and ETag (4,001), a lifecycle configuration of 1,000 rules (some 20 each).
 * 100,000 is twice the largest; a 2 MiB body of `<a/>` would otherwise hold 500,000.
 */
export const MAX_XML_ELEMENTS = 100_000;

const parser = new XMLParser({
  preserveOrder: true,
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  removeNSPrefix: true,
  cdataPropName: '#cdata',
  commentPropName: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const ENTITY = /&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
// XML 1.0 Char production: tab, LF, CR, and from U+0020 (surrogates in pairs are fine in JS).
// eslint-disable-next-line no-control-regex
const INVALID_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

class Malformed extends Error {}

function decodeEntities(raw: string): string {
  if (!raw.includes('&')) return raw;
  const out = raw.replace(ENTITY, (_m, body: string) => {
    if (body.startsWith('#')) {
      const code = body[1] === 'x' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (
        !Number.isSafeInteger(code) ||
        code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff) ||
        (code < 0x20 && code !== 0x9 && code !== 0xa && code !== 0xd) ||
        code === 0xfffe ||
        code === 0xffff
      ) {
        throw new Malformed(`invalid character reference &${body};`);
      }
      return String.fromCodePoint(code);
    }
    const named = NAMED[body];
    if (named === undefined) throw new Malformed(`undefined entity &${body};`);
    return named;
  });
  return out;
}

/**
 * Whether a document stays within {@link MAX_XML_ELEMENTS} and {@link MAX_XML_ATTRIBUTES}, from a
 * linear scan of its start tags before the (costlier) validator and parser see it, so a hostile
 * document is refused after one cheap pass. Comments, CDATA sections and processing instructions
 * are skipped; whatever is malformed is left to the validator (true).
 */
function withinShapeLimits(text: string): boolean {
  let elements = 0;
  let i = text.indexOf('<');
  while (i >= 0) {
    let skipTo: number;
    const next = text.charCodeAt(i + 1);
    if (text.startsWith('<!--', i)) skipTo = endOf(text, '-->', i + 4);
    else if (text.startsWith('<![CDATA[', i)) skipTo = endOf(text, ']]>', i + 9);
    else if (next === 0x3f /* ? */) skipTo = endOf(text, '?>', i + 2);
    else if (next === 0x2f /* / */ || next === 0x21 /* ! */) skipTo = i + 2;
    else {
      // A start tag: its attributes are its `=` outside quoted values.
      if (++elements > MAX_XML_ELEMENTS) return false;
      let attributes = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        const c = text.charCodeAt(j);
        if (c === 0x3e /* > */ || c === 0x3c /* < */) break;
        if (c === 0x22 || c === 0x27) {
          const close = text.indexOf(text[j]!, j + 1);
          if (close < 0) return true;
          j = close;
        } else if (c === 0x3d /* = */ && ++attributes > MAX_XML_ATTRIBUTES) {
          return false;
        }
      }
      skipTo = j;
    }
    if (skipTo < 0) return true;
    i = text.indexOf('<', skipTo);
  }
  return true;
}

/** The index after `terminator` from `from` on, or -1 without one. */
function endOf(text: string, terminator: string, from: number): number {
  const at = text.indexOf(terminator, from);
  return at < 0 ? -1 : at + terminator.length;
}

type OrderedNode = Record<string, unknown>;

function convert(node: OrderedNode): XmlElement | string | undefined {
  if ('#text' in node) return decodeEntities(String(node['#text']));
  if ('#cdata' in node) {
    const inner = node['#cdata'] as OrderedNode[];
    return inner.map((n) => String(n['#text'] ?? '')).join('');
  }
  const name = Object.keys(node).find((k) => k !== ':@');
  if (name === undefined) return undefined;
  const attributes: Record<string, string> = {};
  const rawAttributes = (node[':@'] ?? {}) as Record<string, unknown>;
  for (const [attr, value] of Object.entries(rawAttributes)) attributes[attr] = decodeEntities(String(value));
  const element: XmlElement = { name, attributes, children: [], text: '' };
  for (const child of node[name] as OrderedNode[]) {
    const converted = convert(child);
    if (converted === undefined) continue;
    if (typeof converted === 'string') element.text += converted;
    else element.children.push(converted);
  }
  return element;
}

/** Options of {@link parseXmlDocument}. */
export interface ParseXmlOptions {
  /** Error code for any failure; defaults to `MalformedXML`. */
  errorCode?: S3ErrorCode;
  /** Maximum document size in bytes; defaults to {@link DEFAULT_MAX_XML_BYTES}. */
  maxBytes?: number;
}

/**
 * Parses an S3 request document and returns its root element, which must be named `rootName`.
 * Throws an {@link S3Error} (`MalformedXML` unless `options.errorCode` says otherwise) for
 * anything else: empty, bytes that are not UTF-8, not well-formed, a DOCTYPE, characters XML
 * forbids, several roots, too large, too deep (fast-xml-parser's 100 levels), more than
 * {@link MAX_XML_ELEMENTS} elements or an element with more than {@link MAX_XML_ATTRIBUTES}
 * attributes.
 */
export function parseXmlDocument(body: string | Uint8Array, rootName: string, options: ParseXmlOptions = {}): XmlElement {
  const code = options.errorCode ?? 'MalformedXML';
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > maxBytes) throw new S3Error(code);
  // Bytes that are not UTF-8 are refused: replacing them (U+FFFD) would read another document.
  let text = typeof body === 'string' ? body : decodeUtf8(body);
  if (text === undefined) throw new S3Error(code);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '' || /<!DOCTYPE|<!ENTITY/i.test(text) || INVALID_CHAR.test(text)) throw new S3Error(code);
  if (!withinShapeLimits(text)) throw new S3Error(code);
  try {
    if (XMLValidator.validate(text) !== true) throw new S3Error(code);
    const nodes = parser.parse(text) as OrderedNode[];
    const roots: XmlElement[] = [];
    for (const node of nodes) {
      const converted = convert(node);
      if (converted === undefined) continue;
      if (typeof converted === 'string') {
        if (converted.trim() !== '') throw new S3Error(code);
        continue;
      }
      roots.push(converted);
    }
    if (roots.length !== 1 || roots[0]!.name !== rootName) throw new S3Error(code);
    return roots[0]!;
  } catch (err) {
    if (err instanceof S3Error) throw err;
    throw new S3Error(code, undefined, { cause: err });
  }
}

/** The first child element named `name`, if any. */
export function childElement(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** All child elements named `name`. */
export function childElements(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** Text of the first child named `name` (exact, whitespace kept), or `undefined`. */
export function childText(element: XmlElement, name: string): string | undefined {
  return childElement(element, name)?.text;
}

/**
 * The children of `el` by name, each allowed at most once and only among `allowed`, with no text
 * beside them (`MalformedXML` otherwise, as S3 answers an element its schema does not have).
 */
export function uniqueChildren(el: XmlElement, allowed: readonly string[]): Map<string, XmlElement> {
  const out = new Map<string, XmlElement>();
  for (const child of el.children) {
    if (!allowed.includes(child.name) || out.has(child.name)) throw new S3Error('MalformedXML');
    out.set(child.name, child);
  }
  if (el.text.trim() !== '') throw new S3Error('MalformedXML');
  return out;
}

/** The text of an element that must have no children (`MalformedXML` otherwise), as written. */
export function leafText(el: XmlElement): string {
  if (el.children.length > 0) throw new S3Error('MalformedXML');
  return el.text;
}
