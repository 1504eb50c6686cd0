/**
 * Matching for S3 bucket policies: the `*` / `?` wildcards of Action, Resource and the
 * StringLike / ArnLike condition operators, without regular expressions (a policy's patterns are
 * user input: no backtracking blow-up, linear in practice), and IP address ranges (IpAddress /
 * NotIpAddress) with node's BlockList.
 */
import { BlockList, isIP } from 'node:net';

/**
 * Whether `text` matches `pattern`, where `*` matches any run of characters (none included) and
 * `?` exactly one; every other character matches itself. Case-sensitive (lower-case both sides
 * for a case-insensitive match). Greedy with a single backtrack point (the last `*`), so at worst
 * O(|pattern| × |text|).
 *
 * `literal`, when given, marks the positions of `pattern` whose `*` or `?` is a character, not a
 * wildcard (nonzero at that index): what a policy variable or a `${*}` / `${?}` put there.
 */
export function globMatch(pattern: string, text: string, literal?: Uint8Array): boolean {
  const wild = (i: number, code: number): boolean => pattern.charCodeAt(i) === code && (literal === undefined || literal[i] !== 1);
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && !wild(p, 42 /* * */) && (wild(p, 63 /* ? */) || pattern.charCodeAt(p) === text.charCodeAt(t))) {
      p++;
      t++;
    } else if (p < pattern.length && wild(p, 42)) {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && wild(p, 42)) p++;
  return p === pattern.length;
}

/** Whether `pattern` holds a wildcard (`*` or `?`). */
export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** An IP address as requests carry it: IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) become IPv4. */
export function normalizeIp(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/**
 * A set of address ranges from condition values (`203.0.113.0/24`, `2001:db8::/32`, or single
 * addresses); undefined when a value is not an address or a CIDR range.
 */
export function ipRanges(values: readonly string[]): BlockList | undefined {
  const list = new BlockList();
  for (const v of values) {
    const slash = v.indexOf('/');
    const address = slash < 0 ? v : v.slice(0, slash);
    const family = isIP(address);
    if (family === 0) return undefined;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    const bits = slash < 0 ? max : /^\d{1,3}$/.test(v.slice(slash + 1)) ? Number(v.slice(slash + 1)) : -1;
    if (bits < 0 || bits > max) return undefined;
    list.addSubnet(address, bits, type);
  }
  return list;
}

/** Whether `address` lies in `ranges` (false for anything that is not an address). */
export function inRanges(ranges: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return ranges.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
