/**
 * TOTP for MFA delete: RFC 6238's SHA-1 test vectors, base32 round trips, the accepted window,
 * and the `x-amz-mfa` header's form.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { S3Error, base32Decode, base32Encode, otpauthUri, parseMfaHeader, totp, totpMatches, totpStep } from '../../../../src/cloud/s3/protocol/index.ts';

describe('S3 protocol: MFA (TOTP)', () => {
  const rfcSecret = Buffer.from('12345678901234567890');

  test("RFC 6238's SHA-1 test vectors (8 digits), and their 6-digit codes", () => {
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [seconds, code] of vectors) {
      assert.equal(totp(rfcSecret, seconds * 1000, 8), code, `T = ${seconds}`);
      assert.equal(totp(rfcSecret, seconds * 1000), code.slice(2), `6 digits at T = ${seconds}`);
    }
  });

  test('a code is accepted one step either side of its own, not two; only six digits', () => {
    const at = 1_700_000_000_000;
    const code = totp(rfcSecret, at);
    assert.ok(totpMatches(rfcSecret, code, at));
    assert.ok(totpMatches(rfcSecret, code, at + 30_000));
    assert.ok(totpMatches(rfcSecret, code, at - 30_000));
    // (at is 20 s into its step: +61 s and -61 s are two steps away.)
    assert.ok(!totpMatches(rfcSecret, code, at + 61_000));
    assert.ok(!totpMatches(rfcSecret, code, at - 61_000));
    assert.ok(!totpMatches(rfcSecret, ` ${code}`, at));
    assert.ok(!totpMatches(rfcSecret, `${code}0`, at));
    // The step a code is of (what replay protection records).
    const step = Math.floor(at / 30_000);
    assert.equal(totpStep(rfcSecret, code, at + 30_000), step);
    assert.equal(totpStep(rfcSecret, totp(rfcSecret, at + 30_000), at), step + 1);
    assert.equal(totpStep(rfcSecret, code, at + 61_000), undefined);
  });

  test('base32 round trips; the RFC 4648 examples; malformed text refused', () => {
    assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
    assert.equal(base32Encode(Buffer.from('f')), 'MY');
    assert.deepEqual(base32Decode('mzxw 6ytb oi======'), Buffer.from('foobar'));
    assert.equal(base32Decode('MZ1W'), undefined);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => assert.deepEqual(base32Decode(base32Encode(bytes)), Buffer.from(bytes))));
  });

  test('x-amz-mfa: the serial (which may hold spaces) and the code after the last space', () => {
    assert.deepEqual(parseMfaHeader('arn:pi:iam:::mfa/alice 123456'), { serial: 'arn:pi:iam:::mfa/alice', code: '123456' });
    assert.deepEqual(parseMfaHeader('  my device  654321 '), { serial: 'my device', code: '654321' });
    for (const bad of ['123456', '', ' 123456']) assert.throws(() => parseMfaHeader(bad), (e: unknown) => e instanceof S3Error && e.code === 'InvalidArgument', bad);
  });

  test('otpauth URI for authenticator apps', () => {
    const uri = new URL(otpauthUri('alice', 'MZXW6YTBOI'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), 'MZXW6YTBOI');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
  });
});
