/**
 * TIMESTAMP values of S3 Select: parsing Ion's text form (`2007T` … `2007-02-23T12:14:33.079-08:00`),
 * ordering, the date parts of EXTRACT / DATE_ADD / DATE_DIFF, and TO_STRING's format patterns.
 * Date parts are read in the timestamp's own offset (EXTRACT(HOUR FROM `…T03:04+07:08`) is 3).
 */
import { SelectError } from '../../protocol/select-errors.ts';
import { TIMESTAMP, type SqlTimestamp } from '../values.ts';

type Precision = SqlTimestamp['precision'];

/** A date part of EXTRACT, DATE_ADD and DATE_DIFF. */
export type DatePart = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'timezone_hour' | 'timezone_minute';

const RANK: Record<Precision, number> = { year: 0, month: 1, day: 2, minute: 3, second: 4, fraction: 5 };
const MS = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const MAX_FRACTION_DIGITS = 9;

/** Milliseconds since the epoch of a UTC date and time (years 0–99 included, which Date.UTC maps to 19xx). */
function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcMs(year, month + 1, 0)).getUTCDate();
}

function digits(s: string, at: number, count: number): number | undefined {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const c = s.charCodeAt(i);
    if (!(c >= 48 && c <= 57)) return undefined;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Parses Ion's timestamp text: `YYYYT`, `YYYY-MMT`, `YYYY-MM-DD[T]`, `YYYY-MM-DDThh:mm[:ss[.f…]]±hh:mm|Z`.
 * Dates carry no offset (they read as UTC and keep the "unknown" offset -0); times must have one.
 * Fractions beyond nanoseconds are truncated. Returns undefined when `s` is not such a timestamp.
 */
export function parseTimestamp(s: string): SqlTimestamp | undefined {
  const year = digits(s, 0, 4);
  if (year === undefined || year < 1) return undefined;
  if (s.length === 5 && s[4] === 'T') return { kind: TIMESTAMP, ms: utcMs(year, 1, 1), offsetMinutes: -0, precision: 'year' };
  if (s[4] !== '-') return undefined;
  const month = digits(s, 5, 2);
  if (month === undefined || month < 1 || month > 12) return undefined;
  if (s.length === 8 && s[7] === 'T') return { kind: TIMESTAMP, ms: utcMs(year, month, 1), offsetMinutes: -0, precision: 'month' };
  if (s[7] !== '-') return undefined;
  const day = digits(s, 8, 2);
  if (day === undefined || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (s.length === 10 || (s.length === 11 && s[10] === 'T')) {
    return { kind: TIMESTAMP, ms: utcMs(year, month, day), offsetMinutes: -0, precision: 'day' };
  }
  if (s[10] !== 'T' || s[13] !== ':') return undefined;
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  if (hour === undefined || minute === undefined || hour > 23 || minute > 59) return undefined;
  let at = 16;
  let precision: Precision = 'minute';
  let second = 0;
  let fraction: string | undefined;
  if (s[at] === ':') {
    const sec = digits(s, at + 1, 2);
    if (sec === undefined || sec > 59) return undefined;
    second = sec;
    precision = 'second';
    at += 3;
    if (s[at] === '.') {
      let end = at + 1;
      while (end < s.length && s.charCodeAt(end) >= 48 && s.charCodeAt(end) <= 57) end++;
      if (end === at + 1) return undefined;
      fraction = s.slice(at + 1, Math.min(end, at + 1 + MAX_FRACTION_DIGITS));
      precision = 'fraction';
      at = end;
    }
  }
  let offset: number;
  if (s[at] === 'Z' && s.length === at + 1) {
    offset = 0;
  } else if ((s[at] === '+' || s[at] === '-') && s.length === at + 6 && s[at + 3] === ':') {
    const oh = digits(s, at + 1, 2);
    const om = digits(s, at + 4, 2);
    if (oh === undefined || om === undefined || oh > 23 || om > 59) return undefined;
    const total = oh * 60 + om;
    offset = s[at] === '-' ? -total : total;
  } else {
    return undefined;
  }
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  const local = utcMs(year, month, day, hour, minute, second, ms);
  const t: SqlTimestamp = { kind: TIMESTAMP, ms: local - offset * MS.minute, offsetMinutes: offset, precision };
  return fraction === undefined ? t : { ...t, fraction };
}

/** Nanoseconds below the millisecond, from the written fraction. */
function subMillisecond(t: SqlTimestamp): number {
  const f = t.fraction;
  return f === undefined || f.length <= 3 ? 0 : Number(f.slice(3).padEnd(6, '0'));
}

/** Orders two timestamps by the instant they denote (negative, 0, positive). */
export function compareTimestamps(a: SqlTimestamp, b: SqlTimestamp): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  return Math.sign(subMillisecond(a) - subMillisecond(b));
}

/** The timestamp's wall-clock fields in its own offset. */
interface Local {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

function local(t: SqlTimestamp, offsetMinutes = t.offsetMinutes): Local {
  const d = new Date(t.ms + offsetMinutes * MS.minute);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    ms: d.getUTCMilliseconds(),
  };
}

/** EXTRACT(part FROM t). */
export function extractPart(part: DatePart, t: SqlTimestamp): number {
  const off = t.offsetMinutes;
  switch (part) {
    case 'timezone_hour':
      return Math.trunc(off / 60) + 0;
    case 'timezone_minute':
      return (off % 60) + 0;
    default:
      return local(t)[part];
  }
}

const PART_PRECISION: Record<string, Precision> = { year: 'year', month: 'month', day: 'day', hour: 'minute', minute: 'minute', second: 'second' };

function checkRange(ms: number): number {
  // Ion timestamps have 4-digit years.
  if (!Number.isFinite(ms) || ms < utcMs(1, 1, 1) || ms >= utcMs(10000, 1, 1)) throw new SelectError('IntegerOverflow', 'The timestamp is out of range.');
  return ms;
}

/**
 * DATE_ADD(part, n, t): calendar arithmetic for years and months (the day clamped to the month's
 * end), exact arithmetic for the rest. The result gains precision as needed (`2010T` + 1 month is
 * `2010-02T`; a date plus hours is a time with an unknown offset).
 */
export function dateAdd(part: DatePart, n: number, t: SqlTimestamp): SqlTimestamp {
  let ms: number;
  if (part === 'year' || part === 'month') {
    const l = local(t);
    const months = l.year * 12 + (l.month - 1) + (part === 'year' ? n * 12 : n);
    const year = Math.floor(months / 12);
    const month = months - year * 12 + 1;
    if (year < 1 || year > 9999) throw new SelectError('IntegerOverflow', 'The timestamp is out of range.');
    const day = Math.min(l.day, daysInMonth(year, month));
    ms = utcMs(year, month, day, l.hour, l.minute, l.second, l.ms) - t.offsetMinutes * MS.minute;
  } else {
    ms = t.ms + n * MS[part as 'day' | 'hour' | 'minute' | 'second'];
  }
  const wanted = PART_PRECISION[part]!;
  const precision = RANK[wanted] > RANK[t.precision] ? wanted : t.precision;
  return { ...t, ms: checkRange(ms), precision };
}

/**
 * DATE_DIFF(part, a, b): whole parts from a to b (negative when b is earlier). Days and smaller
 * count elapsed time (23:00 to 01:00 the next day is 0 days); months and years count calendar
 * months completed, reading both in a's offset.
 */
export function dateDiff(part: DatePart, a: SqlTimestamp, b: SqlTimestamp): number {
  if (part === 'year' || part === 'month') {
    const x = local(a);
    const y = local(b, a.offsetMinutes);
    let months = (y.year - x.year) * 12 + (y.month - x.month);
    const rest = (l: Local, t: SqlTimestamp): number[] => [l.day, l.hour, l.minute, l.second, l.ms, subMillisecond(t)];
    const cmp = compareArrays(rest(y, b), rest(x, a));
    if (months > 0 && cmp < 0) months--;
    else if (months < 0 && cmp > 0) months++;
    return part === 'year' ? Math.trunc(months / 12) + 0 : months;
  }
  const unit = MS[part as 'day' | 'hour' | 'minute' | 'second'];
  const nanos = (b.ms - a.ms) * 1e6 + (subMillisecond(b) - subMillisecond(a));
  return Math.trunc(nanos / (unit * 1e6)) + 0;
}

function compareArrays(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** A compiled TO_STRING pattern. */
export type TimestampFormatter = (t: SqlTimestamp) => string;

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const PATTERN_LETTERS = /[A-Za-z]/;
/** Letter → how many repetitions are valid. */
const VALID_COUNTS: Record<string, (n: number) => boolean> = {
  y: (n) => n <= 9,
  M: (n) => n <= 5,
  d: (n) => n <= 2,
  a: (n) => n === 1,
  h: (n) => n <= 2,
  H: (n) => n <= 2,
  m: (n) => n <= 2,
  s: (n) => n <= 2,
  S: (n) => n <= 9,
  n: (n) => n === 1,
  X: (n) => n <= 5,
  x: (n) => n <= 5,
};

function pad(v: number, width: number): string {
  return String(v).padStart(width, '0');
}

function nanos(t: SqlTimestamp, l: Local): string {
  return t.fraction !== undefined ? t.fraction.padEnd(9, '0') : pad(l.ms, 3).padEnd(9, '0');
}

function offsetText(off: number, letters: number, zulu: boolean): string {
  if (zulu && off === 0) return 'Z';
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const hh = pad(Math.floor(abs / 60), 2);
  const mm = pad(abs % 60, 2);
  if (letters === 1) return mm === '00' ? `${sign}${hh}` : `${sign}${hh}${mm}`;
  if (letters === 2 || letters === 4) return `${sign}${hh}${mm}`;
  return `${sign}${hh}:${mm}`;
}

function field(letter: string, count: number): (t: SqlTimestamp, l: Local) => string {
  switch (letter) {
    case 'y':
      return count === 2 ? (_t, l) => pad(l.year % 100, 2) : (_t, l) => pad(l.year, count);
    case 'M':
      if (count === 3) return (_t, l) => MONTHS[l.month - 1]!.slice(0, 3);
      if (count === 4) return (_t, l) => MONTHS[l.month - 1]!;
      if (count === 5) return (_t, l) => MONTHS[l.month - 1]![0]!;
      return (_t, l) => pad(l.month, count);
    case 'd':
      return (_t, l) => pad(l.day, count);
    case 'a':
      return (_t, l) => (l.hour < 12 ? 'AM' : 'PM');
    case 'h':
      return (_t, l) => pad(l.hour % 12 === 0 ? 12 : l.hour % 12, count);
    case 'H':
      return (_t, l) => pad(l.hour, count);
    case 'm':
      return (_t, l) => pad(l.minute, count);
    case 's':
      return (_t, l) => pad(l.second, count);
    case 'S':
      return (t, l) => nanos(t, l).slice(0, count);
    case 'n':
      return (t, l) => String(Number(nanos(t, l)));
    case 'X':
      return (t) => offsetText(t.offsetMinutes, count, true);
    default:
      return (t) => offsetText(t.offsetMinutes, count, false);
  }
}

/**
 * Compiles a TO_STRING pattern: `y yy yyyy M MM MMM MMMM MMMMM d dd a h hh H HH m mm s ss S…
 * n X… x…`; text in single quotes is literal (`''` is a quote); other characters print as they are.
 * Throws EvaluatorInvalidTimestampFormatPatternSymbol for an unknown letter,
 * EvaluatorInvalidTimestampFormatPattern for a letter repeated more than it may be, and
 * EvaluatorUnterminatedTimestampFormatPatternToken for an unclosed quote.
 */
export function compileTimestampFormat(pattern: string): TimestampFormatter {
  const parts: (string | ((t: SqlTimestamp, l: Local) => string))[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "'") {
      if (pattern[i + 1] === "'") {
        parts.push("'");
        i += 2;
        continue;
      }
      let text = '';
      let j = i + 1;
      for (;;) {
        if (j >= pattern.length) throw new SelectError('EvaluatorUnterminatedTimestampFormatPatternToken');
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += pattern[j];
        j++;
      }
      parts.push(text);
      i = j + 1;
      continue;
    }
    if (PATTERN_LETTERS.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      const count = j - i;
      const valid = VALID_COUNTS[c];
      if (valid === undefined) throw new SelectError('EvaluatorInvalidTimestampFormatPatternSymbol', `Invalid symbol '${c}' in the timestamp format pattern.`);
      if (!valid(count)) throw new SelectError('EvaluatorInvalidTimestampFormatPattern', `Invalid token '${c.repeat(count)}' in the timestamp format pattern.`);
      parts.push(field(c, count));
      i = j;
      continue;
    }
    parts.push(c);
    i++;
  }
  return (t) => {
    const l = local(t);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(t, l);
    return out;
  };
}

/** A TIMESTAMP for `ms` since the epoch, in UTC with millisecond precision (UTCNOW). */
export function timestampFromMs(ms: number): SqlTimestamp {
  const frac = pad(((ms % 1000) + 1000) % 1000, 3);
  return { kind: TIMESTAMP, ms, offsetMinutes: 0, precision: 'fraction', fraction: frac };
}
