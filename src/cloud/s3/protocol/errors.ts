/**
 * S3 errors: the table of standard error codes (HTTP status and default message as AWS documents
 * them), the {@link S3Error} class every protocol module throws, and the renderer of the S3 error
 * XML document.
 *
 * Error document (AWS order: Code, Message, code-specific fields, Resource, RequestId, HostId):
 * `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>…</Message>
 * <Key>…</Key><RequestId>…</RequestId><HostId>…</HostId></Error>`
 */
import { SELECT_ERRORS } from './select-errors.ts';
import { escapeXml } from './xml-escape.ts';

/** Status and default message of one S3 error code. */
export interface S3ErrorSpec {
  readonly status: number;
  readonly message: string;
}

/**
 * The standard S3 error codes with their HTTP status and AWS's default message.
 * Source: the "Error responses" list of the Amazon S3 API reference.
 */
export const S3_ERRORS = {
  AccessControlListNotSupported: { status: 400, message: 'The bucket does not allow ACLs' },
  AccessDenied: { status: 403, message: 'Access Denied' },
  /** A refused CORS preflight (not in AWS's table; what S3 answers on the wire). */
  AccessForbidden: { status: 403, message: 'CORSResponse: This CORS request is not allowed.' },
  AccountProblem: {
    status: 403,
    message:
      'There is a problem with your AWS account that prevents the action from completing successfully.',
  },
  AmbiguousGrantByEmailAddress: {
    status: 400,
    message: 'The email address you provided is associated with more than one account.',
  },
  AuthorizationHeaderMalformed: { status: 400, message: 'The authorization header that you provided is not valid.' },
  AuthorizationQueryParametersError: {
    status: 400,
    message: 'Error parsing the X-Amz-Credential parameter; the Credential is mal-formed.',
  },
  BadDigest: { status: 400, message: 'The Content-MD5 you specified did not match what we received.' },
  BadRequest: { status: 400, message: 'Bad Request' },
  BucketAlreadyExists: {
    status: 409,
    message:
      'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.',
  },
  BucketAlreadyOwnedByYou: {
    status: 409,
    message: 'Your previous request to create the named bucket succeeded and you already own it.',
  },
  BucketNotEmpty: { status: 409, message: 'The bucket you tried to delete is not empty' },
  ConditionalRequestConflict: {
    status: 409,
    message: 'A conflicting operation occurred. If using PutObject you can retry the request.',
  },
  CredentialsNotSupported: { status: 400, message: 'This request does not support credentials.' },
  /** PutBucketLogging to a target bucket of another region (S3's spelling). */
  CrossLocationLoggingProhibitted: { status: 403, message: 'Cross S3 location logging not allowed.' },
  EntityTooLarge: { status: 400, message: 'Your proposed upload exceeds the maximum allowed size' },
  EntityTooSmall: { status: 400, message: 'Your proposed upload is smaller than the minimum allowed object size.' },
  ExpiredToken: { status: 400, message: 'The provided token has expired.' },
  IllegalLocationConstraintException: {
    status: 400,
    message: 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.',
  },
  IllegalVersioningConfigurationException: {
    status: 400,
    message: 'The versioning configuration specified in the request is invalid.',
  },
  IncompleteBody: {
    status: 400,
    message: 'You did not provide the number of bytes specified by the Content-Length HTTP header',
  },
  IncorrectNumberOfFilesInPostRequest: { status: 400, message: 'POST requires exactly one file upload per request.' },
  InternalError: { status: 500, message: 'We encountered an internal error. Please try again.' },
  InvalidAccessKeyId: {
    status: 403,
    message: 'The AWS Access Key Id you provided does not exist in our records.',
  },
  InvalidArgument: { status: 400, message: 'Invalid Argument' },
  /** SSE-KMS with a key that is disabled (KMS's DisabledException, as S3 relays it). */
  'KMS.DisabledException': { status: 400, message: 'The KMS key is disabled.' },
  /** SSE-KMS with a key that does not exist (KMS's NotFoundException, as S3 relays it). */
  'KMS.NotFoundException': { status: 400, message: 'Invalid keyId' },
  InvalidBucketAclWithObjectOwnership: {
    status: 400,
    message: 'Bucket cannot have ACLs set with ObjectOwnership\'s BucketOwnerEnforced setting',
  },
  InvalidBucketName: { status: 400, message: 'The specified bucket is not valid.' },
  InvalidBucketState: { status: 409, message: 'The request is not valid with the current state of the bucket.' },
  InvalidChecksum: { status: 400, message: 'The checksum you specified is not valid.' },
  InvalidDigest: { status: 400, message: 'The Content-MD5 you specified is not valid.' },
  InvalidEncryptionAlgorithmError: {
    status: 400,
    message: 'The encryption request that you specified is not valid. The valid value is AES256.',
  },
  InvalidLocationConstraint: { status: 400, message: 'The specified location constraint is not valid.' },
  InvalidObjectState: { status: 403, message: 'The operation is not valid for the current state of the object.' },
  InvalidPart: {
    status: 400,
    message:
      'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.',
  },
  InvalidPartNumber: { status: 416, message: 'The requested partnumber is not satisfiable' },
  InvalidPartOrder: {
    status: 400,
    message: 'The list of parts was not in ascending order. Parts must be ordered by part number.',
  },
  InvalidPayer: { status: 403, message: 'All access to this object has been disabled.' },
  InvalidPolicyDocument: {
    status: 400,
    message: 'The content of the form does not meet the conditions specified in the policy document.',
  },
  InvalidRange: { status: 416, message: 'The requested range is not satisfiable' },
  InvalidRequest: { status: 400, message: 'Invalid Request' },
  InvalidSecurity: { status: 403, message: 'The provided security credentials are not valid.' },
  InvalidStorageClass: { status: 400, message: 'The storage class you specified is not valid' },
  InvalidTag: { status: 400, message: 'The tag provided was not a valid tag.' },
  InvalidTargetBucketForLogging: {
    status: 400,
    message: 'The target bucket for logging does not exist, is not owned by you, or does not have the appropriate grants for the log-delivery group.',
  },
  InvalidToken: { status: 400, message: 'The provided token is malformed or otherwise invalid.' },
  InvalidURI: { status: 400, message: "Couldn't parse the specified URI." },
  KeyTooLongError: { status: 400, message: 'Your key is too long' },
  MalformedACLError: {
    status: 400,
    message: 'The XML you provided was not well-formed or did not validate against our published schema',
  },
  MalformedPOSTRequest: {
    status: 400,
    message: 'The body of your POST request is not well-formed multipart/form-data.',
  },
  MalformedPolicy: { status: 400, message: 'Policies must be valid JSON and the first byte must be \'{\'' },
  MalformedXML: {
    status: 400,
    message: 'The XML you provided was not well-formed or did not validate against our published schema',
  },
  MaxMessageLengthExceeded: { status: 400, message: 'Your request was too big.' },
  MaxPostPreDataLengthExceededError: { status: 400, message: 'Your POST request fields preceding the upload file were too large.' },
  MetadataTooLarge: { status: 400, message: 'Your metadata headers exceed the maximum allowed metadata size.' },
  MethodNotAllowed: { status: 405, message: 'The specified method is not allowed against this resource.' },
  MissingContentLength: { status: 411, message: 'You must provide the Content-Length HTTP header.' },
  MissingRequestBodyError: { status: 400, message: 'Request Body is empty' },
  MissingSecurityHeader: { status: 400, message: 'Your request is missing a required header.' },
  NoSuchBucket: { status: 404, message: 'The specified bucket does not exist' },
  NoSuchBucketPolicy: { status: 404, message: 'The bucket policy does not exist' },
  NoSuchCORSConfiguration: { status: 404, message: 'The CORS configuration does not exist' },
  NoSuchConfiguration: { status: 404, message: 'The specified configuration does not exist.' },
  NoSuchKey: { status: 404, message: 'The specified key does not exist.' },
  NoSuchLifecycleConfiguration: { status: 404, message: 'The lifecycle configuration does not exist' },
  NoSuchPublicAccessBlockConfiguration: { status: 404, message: 'The public access block configuration was not found' },
  NoSuchTagSet: { status: 404, message: 'The TagSet does not exist' },
  NoSuchUpload: {
    status: 404,
    message:
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  },
  NoSuchObjectLockConfiguration: { status: 404, message: 'The specified object does not have a ObjectLock configuration' },
  NoSuchVersion: { status: 404, message: 'The specified version does not exist.' },
  NoSuchWebsiteConfiguration: { status: 404, message: 'The specified bucket does not have a website configuration' },
  NotImplemented: { status: 501, message: 'A header you provided implies functionality that is not implemented' },
  NotModified: { status: 304, message: 'Not Modified' },
  ObjectLockConfigurationNotFoundError: {
    status: 404,
    message: 'Object Lock configuration does not exist for this bucket',
  },
  OperationAborted: {
    status: 409,
    message: 'A conflicting conditional operation is currently in progress against this resource. Please try again.',
  },
  OwnershipControlsNotFoundError: { status: 404, message: 'The bucket ownership controls were not found' },
  PermanentRedirect: {
    status: 301,
    message:
      'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
  },
  PreconditionFailed: { status: 412, message: 'At least one of the pre-conditions you specified did not hold' },
  ReplicationConfigurationNotFoundError: { status: 404, message: 'The replication configuration was not found' },
  RequestHeaderSectionTooLarge: { status: 400, message: 'Your request header section exceeds the maximum allowed size.' },
  RequestTimeout: {
    status: 400,
    message: 'Your socket connection to the server was not read from or written to within the timeout period.',
  },
  RequestTimeTooSkewed: {
    status: 403,
    message: "The difference between the request time and the server's time is too large.",
  },
  ServerSideEncryptionConfigurationNotFoundError: {
    status: 404,
    message: 'The server side encryption configuration was not found',
  },
  ServiceUnavailable: { status: 503, message: 'Service is unable to handle request.' },
  SignatureDoesNotMatch: {
    status: 403,
    message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  },
  SlowDown: { status: 503, message: 'Please reduce your request rate.' },
  TemporaryRedirect: { status: 307, message: 'Please re-send this request to the specified temporary endpoint.' },
  TooManyBuckets: { status: 400, message: 'You have attempted to create more buckets than allowed' },
  UnexpectedContent: { status: 400, message: 'This request does not support content' },
  UnresolvableGrantByEmailAddress: {
    status: 400,
    message: 'The email address you provided does not match any account on record.',
  },
  UserKeyMustBeSpecified: {
    status: 400,
    message: 'The bucket POST must contain the specified field name. If it is specified, check the order of the fields.',
  },
  XAmzContentSHA256Mismatch: {
    status: 400,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  },
  /**
   * Not in AWS's table (S3 never runs out of disk): the code MinIO answers, with 507 Insufficient
   * Storage, when its drives are below their free-space threshold, which S3 tools and
   * applications in the wild recognise. Pi answers it when the nodes that would store a write are
   * out of disk space (their storage reserve is reached): see docs/s3.md.
   */
  XMinioStorageFull: {
    status: 507,
    message: 'The nodes that would store this data are out of disk space (their storage reserve is reached). Delete objects or add capacity, then retry.',
  },
  /** SelectObjectContent's own codes (select-errors.ts). */
  ...SELECT_ERRORS,
} as const satisfies Record<string, S3ErrorSpec>;

/** A standard S3 error code (a key of {@link S3_ERRORS}). */
export type S3ErrorCode = keyof typeof S3_ERRORS;

/** Optional parts of an {@link S3Error}. */
export interface S3ErrorOptions {
  /** Value of `<Resource>` (e.g. `/bucket/key`); the renderer's context may also supply it. */
  resource?: string;
  /**
   * Code-specific elements AWS adds after `<Message>` (e.g. `BucketName`, `Key`, `Condition`,
   * `ArgumentName`/`ArgumentValue`), rendered in insertion order.
   */
  fields?: Record<string, string | number | undefined>;
  /** Extra response headers that go with the error (e.g. `Content-Range` for InvalidRange). */
  headers?: Record<string, string>;
  /** Overrides the table's status (rarely needed). */
  status?: number;
  /** The underlying error, for logs. */
  cause?: unknown;
}

/** An S3 protocol error: code, HTTP status, message and the extra fields of the error document. */
export class S3Error extends Error {
  /** The S3 error code, e.g. `NoSuchKey`. */
  readonly code: S3ErrorCode;
  /** The HTTP status of the response. */
  readonly status: number;
  /** Code-specific elements of the error document, in order. */
  readonly fields: Record<string, string>;
  /** Extra response headers. */
  readonly headers: Record<string, string>;
  /** `<Resource>` value, if known. */
  resource: string | undefined;

  constructor(code: S3ErrorCode, message?: string, options: S3ErrorOptions = {}) {
    const spec: S3ErrorSpec = S3_ERRORS[code];
    super(message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'S3Error';
    this.code = code;
    this.status = options.status ?? spec.status;
    this.resource = options.resource;
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.fields ?? {})) {
      if (value !== undefined) fields[name] = String(value);
    }
    this.fields = fields;
    this.headers = { ...(options.headers ?? {}) };
  }
}

/** True when `value` is an {@link S3Error}. */
export function isS3Error(value: unknown): value is S3Error {
  return value instanceof S3Error;
}

/**
 * Returns `err` if it is an {@link S3Error}, otherwise wraps it as `InternalError` (keeping it as
 * `cause` for logs, never exposing its message to the client).
 */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  return new S3Error('InternalError', undefined, { cause: err });
}

/** Context of a rendered error: ids of the request and, optionally, the resource. */
export interface ErrorRenderContext {
  requestId: string;
  /** `x-amz-id-2`; defaults to the empty string. */
  hostId?: string;
  /** `<Resource>` when the error itself does not carry one. */
  resource?: string;
}

/** Renders the S3 error XML document (including the XML declaration). */
export function renderErrorXml(err: S3Error, ctx: ErrorRenderContext): string {
  let out = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${escapeXml(err.message)}</Message>`;
  for (const [name, value] of Object.entries(err.fields)) {
    out += `<${name}>${escapeXml(value)}</${name}>`;
  }
  const resource = err.resource ?? ctx.resource;
  if (resource !== undefined) out += `<Resource>${escapeXml(resource)}</Resource>`;
  out += `<RequestId>${escapeXml(ctx.requestId)}</RequestId><HostId>${escapeXml(ctx.hostId ?? '')}</HostId></Error>`;
  return out;
}

/** A complete HTTP error response. */
export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** The XML document, or `undefined` when the response must not have a body. */
  body: string | undefined;
}

/**
 * Builds the HTTP response for an error: no body for `304 Not Modified` and for `HEAD` requests
 * (AWS answers HEAD errors with the status alone), otherwise the XML document with
 * `Content-Type: application/xml`. Request-id headers are included.
 */
export function errorResponse(err: S3Error, ctx: ErrorRenderContext, method = 'GET'): ErrorResponse {
  const headers: Record<string, string> = {
    ...err.headers,
    'x-amz-request-id': ctx.requestId,
    'x-amz-id-2': ctx.hostId ?? '',
  };
  if (err.status === 304 || method.toUpperCase() === 'HEAD') {
    return { status: err.status, headers, body: undefined };
  }
  headers['content-type'] = 'application/xml';
  return { status: err.status, headers, body: renderErrorXml(err, ctx) };
}
