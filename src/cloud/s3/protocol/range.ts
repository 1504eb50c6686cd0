/**
 * Byte ranges: the `Range` header of GetObject / HeadObject as S3 applies RFC 9110 (one range
 * only; a syntactically invalid or multi-range header is ignored and the whole object returned;
 * an unsatisfiable one is `InvalidRange` 416 with `Content-Range: bytes *\/size`), and
 * `x-amz-copy-source-range` of UploadPartCopy (strict `bytes=first-last`).
 */
import { S3Error } from './errors.ts';

/** An inclusive byte range `start..end` within an object. */
export interface ByteRange {
  start: number;
  end: number;
}

const RANGE_HEADER = /^\s*bytes\s*=\s*(.*)$/i;
const RANGE_SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

function unsatisfiable(header: string, size: number): S3Error {
  return new S3Error('InvalidRange', undefined, {
    fields: { RangeRequested: header, ActualObjectSize: size },
    headers: { 'content-range': `bytes */${size}` },
  });
}

/**
 * Resolves a `Range` header against an object of `size` bytes.
 *
 * - absent, not `bytes=`, malformed (`bytes=5-2`, `bytes=x`), or several ranges → `undefined`
 *   (serve the whole object with 200, as S3 does);
 * - `bytes=a-b`, `bytes=a-` → `{start: a, end: min(b, size-1)}`; `bytes=-n` → the last n bytes
 *   (the whole object when n ≥ size);
 * - a first byte at or past the end, a suffix of 0, or any range on an empty object →
 *   `InvalidRange` (416) carrying `Content-Range: bytes *\/size`.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = RANGE_HEADER.exec(header);
  if (m === null) return undefined;
  const specs = m[1]!.split(',').filter((s) => s.trim() !== '');
  if (specs.length !== 1) return undefined;
  const spec = RANGE_SPEC.exec(specs[0]!);
  if (spec === null) return undefined;
  const [, first, last] = spec as unknown as [string, string, string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable(header, size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) throw unsatisfiable(header, size);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}

/** The `Content-Range` value of a partial response: `bytes start-end/size`. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/** Length in bytes of an inclusive range. */
export function rangeLength(range: ByteRange): number {
  return range.end - range.start + 1;
}

const COPY_RANGE = /^bytes=(\d+)-(\d+)$/;

/**
 * Parses `x-amz-copy-source-range` against a source of `size` bytes. The form must be exactly
 * `bytes=first-last` with first ≤ last (else `InvalidArgument` with the AWS message); a range
 * past the end of the source is `InvalidArgument` "Range specified is not valid for source
 * object of size: N", as AWS answers.
 */
export function parseCopySourceRange(value: string, size: number): ByteRange {
  const m = COPY_RANGE.exec(value.trim());
  if (m === null || Number(m[1]) > Number(m[2])) {
    throw new S3Error(
      'InvalidArgument',
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      { fields: { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: value } },
    );
  }
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end >= size) {
    throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${size}`, {
      fields: { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: value },
    });
  }
  return { start, end };
}
