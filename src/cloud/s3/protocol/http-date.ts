/**
 * HTTP dates (RFC 9110 §5.6.7): formatting as IMF-fixdate (`Last-Modified`, `Expires`…) and
 * parsing of the three formats a recipient must accept — IMF-fixdate, the obsolete RFC 850 form
 * and asctime — plus ISO 8601, which some S3 clients send in conditional headers. Parsing never
 * depends on the local time zone.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Formats ms since the epoch as IMF-fixdate: `Mon, 01 Jan 2024 00:00:00 GMT`. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
const RFC850 = /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) gmt$/;
const ASCTIME = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
const ISO8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

function build(year: number, monthName: string, day: number, h: number, m: number, s: number): number | undefined {
  const month = MONTHS.indexOf(monthName);
  if (month < 0 || h > 23 || m > 59 || s > 60) return undefined;
  const ms = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  const check = new Date(ms);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return undefined;
  return ms;
}

/** Parses an HTTP date to ms since the epoch; `undefined` when it is not a valid date. */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim().toLowerCase();
  let m = IMF_FIXDATE.exec(text);
  if (m !== null) return build(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850.exec(text);
  if (m !== null) {
    const yy = Number(m[3]);
    return build(yy < 70 ? 2000 + yy : 1900 + yy, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(text);
  if (m !== null) return build(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  if (ISO8601.test(value.trim())) {
    const ms = Date.parse(value.trim());
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}
