import { randomBytes as cryptoRandomBytes, randomFillSync, randomInt as cryptoRandomInt } from 'node:crypto';
import type { Random } from './types.ts';

/** 128-bit string hash (cyrb128) used to turn seeds and labels into generator state. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

abstract class BaseRandom implements Random {
  abstract next(): number;
  abstract bytes(n: number): Uint8Array;
  abstract fork(label: string): Random;

  int(maxExclusive: number): number {
    if (!(maxExclusive > 0)) throw new RangeError(`int(max) needs max > 0, got ${maxExclusive}`);
    return Math.floor(this.next() * maxExclusive);
  }

  hex(n: number): string {
    return Buffer.from(this.bytes(n)).toString('hex');
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty array');
    return items[this.int(items.length)]!;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }

  jitter(base: number, fraction: number): number {
    return base * (1 - fraction + 2 * fraction * this.next());
  }

  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}

/**
 * Deterministic generator (xoshiro128**): same seed, same sequence, on every machine.
 */
export class SeededRandom extends BaseRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string | number) {
    super();
    [this.a, this.b, this.c, this.d] = hash128(String(seed));
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  private nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  next(): number {
    // 53 bits of randomness, like Math.random.
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let v = this.nextUint32();
      for (let j = i; j < Math.min(n, i + 4); j++) {
        out[j] = v & 0xff;
        v >>>= 8;
      }
    }
    return out;
  }

  fork(label: string): Random {
    return new SeededRandom(`${this.seed}/${label}`);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Bytes of the pool {@link CryptoRandom} hands small requests out of. */
const POOL_BYTES = 8192;
/** Requests up to this size come from the pool; larger ones get their own call. */
const POOLED_MAX = 256;

/**
 * Cryptographically strong randomness for production nodes (keys, tokens, node ids). Small
 * requests (request and version ids, several per operation) are served from a pool filled by
 * the CSPRNG a few kilobytes at a time — one call per request cost about 1 % of a node's CPU
 * under load. Each pooled byte is handed out once.
 */
export class CryptoRandom extends BaseRandom {
  private readonly pool = Buffer.allocUnsafeSlow(POOL_BYTES);
  private used = POOL_BYTES;

  /** Offset of `n` fresh bytes in the pool (refilled when too few are left). */
  private take(n: number): number {
    if (this.used + n > POOL_BYTES) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const at = this.used;
    this.used += n;
    return at;
  }

  override hex(n: number): string {
    if (n > POOLED_MAX) return super.hex(n);
    const at = this.take(n);
    return this.pool.toString('hex', at, at + n);
  }

  next(): number {
    return cryptoRandomInt(0, 2 ** 48 - 1) / 2 ** 48;
  }

  override int(maxExclusive: number): number {
    if (!(maxExclusive > 0)) throw new RangeError(`int(max) needs max > 0, got ${maxExclusive}`);
    if (maxExclusive <= 2 ** 48 - 1 && Number.isInteger(maxExclusive)) return cryptoRandomInt(0, maxExclusive);
    return Math.floor(this.next() * maxExclusive);
  }

  bytes(n: number): Uint8Array {
    if (n > POOLED_MAX) return cryptoRandomBytes(n);
    const at = this.take(n);
    return Buffer.from(this.pool.subarray(at, at + n));
  }

  fork(): Random {
    return this;
  }
}
