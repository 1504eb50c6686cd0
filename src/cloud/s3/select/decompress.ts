/**
 * Decompression for S3 Select (`CompressionType` GZIP or BZIP2), streaming. GZIP is Node's zlib;
 * Node has no bzip2, so BZIP2 is `unbzip2-stream` (a pure-JavaScript streaming decoder). Damaged
 * or truncated input becomes S3 Select's `TruncatedInput`, not an exception of the library's.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import bz2 from 'unbzip2-stream';
import { SelectError } from '../protocol/select-errors.ts';

/** The decompressed bytes of `compressed`. */
export function decompress(compressed: AsyncIterable<Buffer>, format: 'GZIP' | 'BZIP2'): AsyncGenerator<Buffer, void, undefined> {
  const source = Readable.from(compressed);
  if (format === 'GZIP') {
    const gunzip = createGunzip();
    source.on('error', (err) => gunzip.destroy(err));
    return decoded(source, source.pipe(gunzip), format);
  }
  // `through` streams are old-style: wrapped for async iteration and error propagation.
  const decoder = bz2();
  source.on('error', (err) => decoder.emit('error', err));
  return decoded(source, new Readable().wrap(source.pipe(decoder)), format);
}

/** The decoder's output; a read error passes through, a decoding error becomes `TruncatedInput`. */
async function* decoded(source: Readable, output: AsyncIterable<unknown>, format: string): AsyncGenerator<Buffer, void, undefined> {
  let readFailed: unknown;
  source.on('error', (err) => (readFailed = err));
  try {
    for await (const piece of output) yield Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
  } catch (err) {
    if (readFailed !== undefined) throw readFailed;
    throw new SelectError('TruncatedInput', `The ${format} input could not be decompressed: ${(err as Error)?.message ?? String(err)}`);
  } finally {
    // Stopping early (LIMIT) stops the reads behind the decoder too.
    source.destroy();
  }
}
