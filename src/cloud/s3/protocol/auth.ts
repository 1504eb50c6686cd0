/**
 * Request authentication: which signing scheme a request uses, and its two pure steps —
 * {@link parseRequestAuth} (no secret needed) then, once the caller has fetched the access key's
 * secret, {@link verifyRequestAuth}. SigV4 (`sigv4.ts`) is always accepted; SigV2 (`sigv2.ts`)
 * when `signatureV2` is on (the default), otherwise it is refused as before (`InvalidRequest`,
 * "The authorization mechanism you have provided is not supported").
 */
import { getHeader } from './headers.ts';
import {
  isSigV2Authorization,
  isSigV2Query,
  parseSigV2Header,
  parseSigV2Query,
  verifySigV2,
  SIGV2_SCHEME,
  type ParsedSigV2Auth,
  type VerifiedSigV2Auth,
} from './sigv2.ts';
import { isSigV4Query, multipleAuthMechanisms, parseAuth, verify, type AuthResult, type SigV4Options, type SigV4Request, type VerifiedAuth } from './sigv4.ts';
import { SIGV4_ALGORITHM } from './sigv4-signing.ts';

/** A request's authentication once verified: SigV4, SigV2 or none. */
export type RequestAuth = VerifiedAuth | VerifiedSigV2Auth | { kind: 'anonymous' };

/** A request's authentication once parsed, awaiting its secret key. */
export type ParsedRequestAuth = AuthResult | ParsedSigV2Auth;

/** Options of {@link parseRequestAuth}. */
export interface RequestAuthOptions extends SigV4Options {
  /** Accept AWS Signature Version 2 (default true). */
  signatureV2?: boolean;
  /** The bucket named by the Host header of a virtual-hosted-style request (SigV2 signs `/bucket`). */
  virtualHostedBucket?: string | undefined;
}

/**
 * Reads a request's authentication — SigV4 or SigV2, header or query — validating everything
 * that does not need the secret key. `now` is the server time in ms since the epoch. Both an
 * `Authorization` header and query authentication is `InvalidArgument`, whatever the schemes.
 */
export function parseRequestAuth(request: SigV4Request, now: number, options: RequestAuthOptions = {}): ParsedRequestAuth {
  if (options.signatureV2 ?? true) {
    const header = getHeader(request.headers, 'authorization')?.trim();
    const authorization = header === '' ? undefined : header;
    const v2Query = isSigV2Query(request.query);
    const v2Options = { ...(options.maxSkewMs === undefined ? {} : { maxSkewMs: options.maxSkewMs }), virtualHostedBucket: options.virtualHostedBucket };
    if (authorization !== undefined && v2Query) throw multipleAuthMechanisms(authorization);
    if (!isSigV4Query(request.query)) {
      if (authorization !== undefined && isSigV2Authorization(authorization)) return parseSigV2Header(request, authorization, now, v2Options);
      if (authorization === undefined && v2Query) return parseSigV2Query(request, now, v2Options);
    }
  }
  return parseAuth(request, now, options);
}

/**
 * Checks the signature of a parsed request with the access key's secret: `verify` for SigV4,
 * `verifySigV2` for SigV2 (`SignatureDoesNotMatch` either way when it does not match).
 */
export function verifyRequestAuth(parsed: Exclude<ParsedRequestAuth, { kind: 'anonymous' }>, secretKey: string): Exclude<RequestAuth, { kind: 'anonymous' }> {
  return 'scheme' in parsed ? verifySigV2(parsed, secretKey) : verify(parsed, secretKey);
}

/** The signing scheme of a request: `AWS4-HMAC-SHA256`, `AWS` (SigV2), or undefined when anonymous (`s3:signatureversion`). */
export function signatureVersionOf(auth: RequestAuth): typeof SIGV4_ALGORITHM | typeof SIGV2_SCHEME | undefined {
  if (auth.kind === 'anonymous') return undefined;
  return auth.scheme === SIGV2_SCHEME ? SIGV2_SCHEME : SIGV4_ALGORITHM;
}

/** A short label of a request's authentication for metrics and logs: `sigv4-header`, `sigv2-presigned`, `anonymous`, … */
export function authLabel(auth: RequestAuth): string {
  if (auth.kind === 'anonymous') return 'anonymous';
  return `${auth.scheme === SIGV2_SCHEME ? 'sigv2' : 'sigv4'}-${auth.kind}`;
}
