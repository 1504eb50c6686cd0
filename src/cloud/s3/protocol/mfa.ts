/**
 * Multi-factor authentication for MFA delete: virtual devices are TOTP authenticators (RFC 6238:
 * HMAC-SHA1 over 30-second steps, 6 digits, the codes authenticator apps show), and requests
 * carry `x-amz-mfa: <device serial> <code>`. Pure functions: the caller passes the time.
 */
import { createHmac } from 'node:crypto';
import { S3Error } from './errors.ts';

/** Seconds per TOTP step. */
export const TOTP_STEP_SECONDS = 30;
/** Digits of a code. */
export const TOTP_DIGITS = 6;
/** Steps before and after the current one whose codes are accepted (clock drift, typing time). */
export const TOTP_WINDOW = 1;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (how authenticator apps take secrets). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case-insensitive, padding and spaces ignored); undefined if malformed. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const v = BASE32.indexOf(c);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The HOTP code (RFC 4226) of `secret` at `counter`, `digits` long (zero-padded). */
export function hotp(secret: Uint8Array, counter: number, digits = TOTP_DIGITS): string {
  const message = Buffer.alloc(8);
  message.writeUInt32BE(Math.floor(counter / 2 ** 32), 0);
  message.writeUInt32BE(counter >>> 0, 4);
  const mac = createHmac('sha1', secret).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The TOTP code (RFC 6238) of `secret` at `nowMs`. */
export function totp(secret: Uint8Array, nowMs: number, digits = TOTP_DIGITS): string {
  return hotp(secret, Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS), digits);
}

/**
 * The time step whose code `code` is, within {@link TOTP_WINDOW} steps of `nowMs` (the latest
 * when several match); undefined when none is.
 */
export function totpStep(secret: Uint8Array, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const step = Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS);
  for (let d = TOTP_WINDOW; d >= -TOTP_WINDOW; d--) if (hotp(secret, step + d) === code) return step + d;
  return undefined;
}

/** Whether `code` is `secret`'s code at `nowMs`, give or take {@link TOTP_WINDOW} steps. */
export function totpMatches(secret: Uint8Array, code: string, nowMs: number): boolean {
  return totpStep(secret, code, nowMs) !== undefined;
}

/** The serial number and code of an `x-amz-mfa` header. */
export interface MfaHeader {
  serial: string;
  code: string;
}

/** Parses `x-amz-mfa: <serial> <code>` (the code after the last space); `InvalidArgument` if malformed. */
export function parseMfaHeader(value: string): MfaHeader {
  const text = value.trim();
  const at = text.lastIndexOf(' ');
  if (at <= 0) throw new S3Error('InvalidArgument', 'x-amz-mfa must be the device serial number, a space, and the authentication code.', { fields: { ArgumentName: 'x-amz-mfa' } });
  return { serial: text.slice(0, at).trim(), code: text.slice(at + 1) };
}

/** The `otpauth://` URI authenticator apps take (often as a QR code) for a device. */
export function otpauthUri(label: string, secretBase32: string, issuer = 'Pi S3'): string {
  const params = new URLSearchParams({ secret: secretBase32, issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_STEP_SECONDS) });
  return `otpauth://totp/${encodeURIComponent(`${issuer}:${label}`)}?${params.toString()}`;
}
