/**
 * 160-bit identifiers on the Pi ring.
 *
 * An {@link Id} is immutable and canonically held as 40 lower-case hex digits, most significant
 * first. Because every id has the same length, comparing the hex strings compares the numbers,
 * and a Pastry digit (b = 4) is one hex character, so the hot routing operations (compare, digit,
 * shared prefix) never leave string land. Ring arithmetic uses a lazily cached bigint.
 */

/** Number of bits in an id. */
export const ID_BITS = 160;
/** Bits per Pastry routing digit (b). */
export const DIGIT_BITS = 4;
/** Number of Pastry digits in an id (160 / b). */
export const ID_DIGITS = ID_BITS / DIGIT_BITS;
/** Number of possible values of one digit (2^b). */
export const DIGIT_BASE = 1 << DIGIT_BITS;
/** Size of the id space, 2^160. */
export const RING_SIZE = 1n << BigInt(ID_BITS);
const HALF_RING = RING_SIZE >> 1n;
const MAX_ID = RING_SIZE - 1n;

const HEX_RE = /^[0-9a-f]{40}$/;
const HEX_DIGIT_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_DIGIT_VALUES['0123456789abcdef'.charCodeAt(i)] = i;

/** Thrown for malformed ids; `code` is stable for callers and logs. */
export class InvalidIdError extends Error {
  readonly code = 'InvalidId';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidIdError';
  }
}

/** An immutable 160-bit ring identifier. */
export class Id {
  /** 40 lower-case hex digits. */
  readonly hex: string;
  // An ES private field, so that two equal ids stay deep-equal whether or not one has computed it.
  #big: bigint | undefined;
  #top: number | undefined;

  private constructor(hex: string, big?: bigint) {
    this.hex = hex;
    this.#big = big;
  }

  /**
   * Parses 40 hex digits (either case). Throws {@link InvalidIdError} with the reason otherwise.
   */
  static parse(text: string): Id {
    if (typeof text !== 'string') throw new InvalidIdError(`id must be a string of 40 hex digits, got ${typeof text}`);
    const hex = text.toLowerCase();
    if (!HEX_RE.test(hex)) {
      const shown = text.length > 48 ? `${text.slice(0, 48)}…` : text;
      throw new InvalidIdError(`id must be exactly 40 hex digits, got "${shown}" (${text.length} characters)`);
    }
    return new Id(hex);
  }

  /** Like {@link Id.parse} but returns undefined instead of throwing. */
  static tryParse(text: unknown): Id | undefined {
    if (typeof text !== 'string') return undefined;
    const hex = text.toLowerCase();
    return HEX_RE.test(hex) ? new Id(hex) : undefined;
  }

  /** Builds an id from a non-negative bigint below 2^160. */
  static fromBigInt(value: bigint): Id {
    if (typeof value !== 'bigint') throw new InvalidIdError(`id value must be a bigint, got ${typeof value}`);
    if (value < 0n || value > MAX_ID) throw new InvalidIdError(`id value out of range: ${value}`);
    return new Id(value.toString(16).padStart(ID_DIGITS, '0'), value);
  }

  /** Builds an id from exactly 20 bytes, big-endian. */
  static fromBytes(bytes: Uint8Array): Id {
    if (!(bytes instanceof Uint8Array)) throw new InvalidIdError('id bytes must be a Uint8Array of 20 bytes');
    if (bytes.length !== ID_BITS / 8) throw new InvalidIdError(`id must be 20 bytes, got ${bytes.length}`);
    return new Id(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'));
  }

  /** The numeric value (cached). */
  get big(): bigint {
    if (this.#big === undefined) this.#big = BigInt('0x' + this.hex);
    return this.#big;
  }

  /**
   * The top 48 bits as a number (cached). Distances computed on these are within ±1 of the true
   * distance divided by 2^112, which settles almost every comparison without bigint arithmetic.
   */
  get top48(): number {
    if (this.#top === undefined) this.#top = parseInt(this.hex.slice(0, 12), 16);
    return this.#top;
  }

  /** 20 bytes, big-endian. */
  toBytes(): Buffer {
    return Buffer.from(this.hex, 'hex');
  }

  /** The i-th Pastry digit (0 = most significant), 0..15. */
  digit(i: number): number {
    const value = HEX_DIGIT_VALUES[this.hex.charCodeAt(i)];
    if (value === undefined) throw new RangeError(`digit index must be an integer 0..${ID_DIGITS - 1}, got ${i}`);
    return value;
  }

  /** Number of leading digits shared with `other` (0..40). */
  sharedPrefixLength(other: Id): number {
    const a = this.hex;
    const b = other.hex;
    let i = 0;
    while (i < ID_DIGITS && a.charCodeAt(i) === b.charCodeAt(i)) i++;
    return i;
  }

  /** Numeric comparison: negative, zero or positive. */
  compare(other: Id): number {
    return this.hex < other.hex ? -1 : this.hex > other.hex ? 1 : 0;
  }

  equals(other: Id | undefined | null): boolean {
    return other !== undefined && other !== null && this.hex === other.hex;
  }

  /** Short form for logs: the first 8 digits. */
  short(): string {
    return this.hex.slice(0, 8);
  }

  toString(): string {
    return this.hex;
  }

  toJSON(): string {
    return this.hex;
  }
}

/** (b - a) mod 2^160: how far `b` lies clockwise (increasing ids) from `a`. */
export function clockwiseDistance(a: Id, b: Id): bigint {
  const d = b.big - a.big;
  return d >= 0n ? d : d + RING_SIZE;
}

/** Shortest distance between two ids around the ring (wraps at 2^160). */
export function ringDistance(a: Id, b: Id): bigint {
  const d = clockwiseDistance(a, b);
  return d > HALF_RING ? RING_SIZE - d : d;
}

const TOP_RANGE = 2 ** 48;
const TOP_HALF = 2 ** 47;
/** Approximations closer than this may be misordered; compare exactly. */
const APPROX_MARGIN = 3;

/** Approximate ring distance in units of 2^112 (error below 2 units), no allocation. */
export function approxRingDistance(a: Id, b: Id): number {
  let d = b.top48 - a.top48;
  if (d < 0) d += TOP_RANGE;
  return d > TOP_HALF ? TOP_RANGE - d : d;
}

/**
 * Approximate clockwise distance from `a` to `b` in units of 2^112: within 2 units of the truth,
 * modulo 2^48 (so a true distance just below the full ring may read as nearly 0).
 */
export function approxClockwiseDistance(a: Id, b: Id): number {
  const d = b.top48 - a.top48;
  return d < 0 ? d + TOP_RANGE : d;
}

/**
 * Compares the ring distances of `a` and `b` from `key`: negative when `a` is nearer, 0 when
 * equal. Exact; uses bigints only when the 48-bit approximation cannot decide.
 */
export function compareDistance(key: Id, a: Id, b: Id): number {
  const da = approxRingDistance(key, a);
  const db = approxRingDistance(key, b);
  if (da + APPROX_MARGIN < db) return -1;
  if (db + APPROX_MARGIN < da) return 1;
  const ea = ringDistance(key, a);
  const eb = ringDistance(key, b);
  return ea < eb ? -1 : ea > eb ? 1 : 0;
}

/**
 * Compares clockwise distances from `from` to `a` and to `b`: negative when `a` comes first.
 * Exact; bigints only on near-ties.
 */
export function compareClockwise(from: Id, a: Id, b: Id): number {
  const da = approxClockwiseDistance(from, a);
  const db = approxClockwiseDistance(from, b);
  // Near zero the approximation may be on the wrong side of the wrap-around: compare exactly.
  const settled = da > APPROX_MARGIN && db > APPROX_MARGIN && da < TOP_RANGE - APPROX_MARGIN && db < TOP_RANGE - APPROX_MARGIN;
  if (settled && da + APPROX_MARGIN < db) return -1;
  if (settled && db + APPROX_MARGIN < da) return 1;
  const ea = clockwiseDistance(from, a);
  const eb = clockwiseDistance(from, b);
  return ea < eb ? -1 : ea > eb ? 1 : 0;
}

/**
 * Orders `a` and `b` by closeness to `key`: negative when `a` is closer. Equal distances are broken
 * by the smaller id, so every node agrees on one numerically closest node.
 */
export function compareCloseness(key: Id, a: Id, b: Id): number {
  if (a.hex === b.hex) return 0;
  return compareDistance(key, a, b) || a.compare(b);
}

/** The candidate numerically closest to `key` (ties: smaller id), or undefined if none. */
export function closestTo<T extends { readonly id: Id }>(key: Id, candidates: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const c of candidates) {
    if (best === undefined || compareCloseness(key, c.id, best.id) < 0) best = c;
  }
  return best;
}

/** The `n` candidates closest to `key`, closest first (ties: smaller id). */
export function nClosestTo<T extends { readonly id: Id }>(key: Id, candidates: Iterable<T>, n: number): T[] {
  const withDistance: { c: T; d: bigint }[] = [];
  for (const c of candidates) withDistance.push({ c, d: ringDistance(key, c.id) });
  withDistance.sort((x, y) => (x.d < y.d ? -1 : x.d > y.d ? 1 : x.c.id.compare(y.c.id)));
  return withDistance.slice(0, n).map((x) => x.c);
}

/**
 * True when `x` lies on the clockwise arc from `from` to `to`, both ends included.
 * An arc whose ends are equal is the single point.
 */
export function inClockwiseArc(x: Id, from: Id, to: Id): boolean {
  return compareClockwise(from, x, to) <= 0;
}
