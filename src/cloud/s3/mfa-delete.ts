/**
 * MFA delete: a bucket whose versioning configuration has MfaDelete Enabled takes a permanent
 * deletion of an object version (DeleteObject with `versionId`, DeleteObjects naming versions)
 * and every change of its versioning configuration only from its owner with a valid
 * `x-amz-mfa: <serial> <code>` over HTTPS; setting MfaDelete (either way) needs it too. The code
 * is checked against the owner's virtual MFA device (a TOTP authenticator, `pi user mfa create`),
 * read afresh from the ring for every such request, and is good once: the device records the
 * time step of the last code accepted, and a code of that step or an older one is refused.
 *
 * S3 says MFA delete cannot be used with lifecycle configurations: here a bucket with lifecycle
 * rules cannot enable it, and a bucket with it enabled takes no lifecycle configuration
 * (`InvalidRequest` both ways), so the expirer never deletes versions of such a bucket.
 */
import type { Env } from '../../env/index.ts';
import { S3Error, getHeader, parseMfaHeader, totpStep, base32Decode } from './protocol/index.ts';
import type { Catalog } from './catalog.ts';
import type { S3Request } from './http.ts';
import type { BucketEntry } from './model.ts';

/** The header that carries the device serial and code. */
export const MFA_HEADER = 'x-amz-mfa';

/** Whether `bucket` has MFA delete enabled. */
export function mfaDeleteEnabled(bucket: BucketEntry): boolean {
  return bucket.mfa === 'Enabled';
}

/** `InvalidRequest` for a lifecycle configuration on a bucket with MFA delete, or the reverse. */
export function mfaLifecycleConflict(): S3Error {
  return new S3Error('InvalidRequest', 'MFA delete cannot be used with lifecycle configurations: a bucket has one or the other.');
}

/** Checks `x-amz-mfa` requests against the bucket owner's virtual MFA device. */
export class MfaAuthenticator {
  constructor(
    private readonly env: Env,
    private readonly catalog: Catalog,
  ) {}

  /**
   * Resolves when `r` is the owner of `bucket` and carries a valid code of the owner's device
   * over HTTPS; otherwise `AccessDenied` (no header, not the owner, a wrong serial or code) or
   * `InvalidRequest` (over plain HTTP).
   */
  async authenticate(r: S3Request, bucket: BucketEntry): Promise<void> {
    const header = getHeader(r.headers, MFA_HEADER);
    if (header === undefined) throw new S3Error('AccessDenied', 'Mfa Authentication must be used for this request');
    if (!r.secure) throw new S3Error('InvalidRequest', 'Requests that include x-amz-mfa must use HTTPS.');
    const { serial, code } = parseMfaHeader(header);
    if (r.principal === undefined || r.principal.id !== bucket.owner) throw new S3Error('AccessDenied');
    const device = await this.catalog.mfaDeviceOf(bucket.owner);
    const secret = device && device.serial === serial ? base32Decode(device.secret) : undefined;
    const step = secret === undefined ? undefined : totpStep(secret, code, this.env.now());
    // A code counts once, and none older than the last one used (RFC 6238 §5.2): a replayed code is refused.
    if (step === undefined || !(await this.catalog.useMfaCode(bucket.owner, serial, step))) {
      throw new S3Error('AccessDenied', 'MultiFactorAuthentication failed with invalid MFA one time pass code.');
    }
  }
}
