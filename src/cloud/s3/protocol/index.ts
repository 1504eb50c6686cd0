/**
 * The S3 protocol layer of Pi Cloud: everything about the S3 wire protocol that does not depend
 * on the storage back end. See README.md in this directory for how a server wires it.
 */
export * from './errors.ts';
export * from './headers.ts';
export * from './uri.ts';
export * from './xml-escape.ts';
export * from './xml-parse.ts';
export * from './utf8.ts';
export * from './xml.ts';
export * from './checksums.ts';
export * from './sigv4-signing.ts';
export * from './sigv4.ts';
export * from './sigv4-chunked.ts';
export * from './sigv4-payload.ts';
export * from './sigv2.ts';
export * from './auth.ts';
export * from './request.ts';
export * from './sse.ts';
export * from './sse-kms.ts';
export * from './listing.ts';
export * from './post-policy.ts';
export * from './cors.ts';
export * from './lifecycle.ts';
export * from './public-access.ts';
export * from './ownership.ts';
export * from './request-payment.ts';
export * from './object-lock.ts';
export * from './website.ts';
export * from './mfa.ts';
export * from './replication.ts';
export * from './notification.ts';
