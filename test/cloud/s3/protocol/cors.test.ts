/**
 * The CORS protocol module: parsing a CORSConfiguration with S3's limits and errors, the
 * GetBucketCors document, wildcard matching, rule evaluation and the response headers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CORS_NOT_ALLOWED,
  CORS_VARY,
  S3Error,
  corsConfigurationXml,
  corsForbidden,
  corsResponseHeaders,
  matchCorsRule,
  parseAccessControlRequestHeaders,
  parseCorsConfiguration,
  renderErrorXml,
  wildcardMatch,
} from '../../../../src/cloud/s3/protocol/index.ts';
import type { CorsRule, S3ErrorCode } from '../../../../src/cloud/s3/protocol/index.ts';

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function doc(rules: string, ns = true): string {
  return `<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration${ns ? ` xmlns="${NS}"` : ''}>${rules}</CORSConfiguration>`;
}

function rule(inner: string): string {
  return `<CORSRule>${inner}</CORSRule>`;
}

const MINIMAL = '<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>';

function refused(body: string | Uint8Array, code: S3ErrorCode, message?: string): void {
  assert.throws(
    () => parseCorsConfiguration(body),
    (err: unknown) => {
      assert.ok(err instanceof S3Error, `an S3Error, got ${String(err)}`);
      assert.equal(err.code, code);
      if (message !== undefined) assert.equal(err.message, message);
      return true;
    },
  );
}

describe('parseCorsConfiguration', () => {
  test('reads every element, keeps rule and value order and the case of values, trims whitespace', () => {
    const rules = parseCorsConfiguration(
      doc(
        rule(
          '<ID> uploads </ID><AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedOrigin>http://*.example.org</AllowedOrigin>' +
            '<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader>' +
            '<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds>',
        ) +
          rule('<AllowedMethod>\n  GET\n</AllowedMethod><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod>') +
          rule('<AllowedOrigin></AllowedOrigin><AllowedMethod>DELETE</AllowedMethod><MaxAgeSeconds>0</MaxAgeSeconds>'),
      ),
    );
    assert.deepEqual(rules, [
      {
        id: 'uploads',
        allowedMethods: ['PUT', 'POST'],
        allowedOrigins: ['https://app.example.com', 'http://*.example.org'],
        allowedHeaders: ['Content-Type', 'x-amz-*'],
        exposeHeaders: ['ETag', 'x-amz-request-id'],
        maxAgeSeconds: 3000,
      },
      { allowedMethods: ['GET', 'HEAD'], allowedOrigins: ['*'] },
      { allowedMethods: ['DELETE'], allowedOrigins: [''], maxAgeSeconds: 0 },
    ]);
  });

  test('accepts a root without the S3 namespace, 100 rules, an ID of 255 characters, the largest MaxAgeSeconds', () => {
    assert.equal(parseCorsConfiguration(doc(rule(MINIMAL), false)).length, 1);
    assert.equal(parseCorsConfiguration(doc(rule(MINIMAL).repeat(100))).length, 100);
    assert.equal(parseCorsConfiguration(doc(rule(`<ID>${'i'.repeat(255)}</ID>${MINIMAL}`)))[0]!.id!.length, 255);
    assert.equal(parseCorsConfiguration(doc(rule(`${MINIMAL}<MaxAgeSeconds>2147483647</MaxAgeSeconds>`)))[0]!.maxAgeSeconds, 2147483647);
  });

  test('a document that does not validate is MalformedXML', () => {
    refused(doc(''), 'MalformedXML'); // no rule
    refused(doc(rule('')), 'MalformedXML');
    refused(doc(rule('<AllowedMethod>GET</AllowedMethod>')), 'MalformedXML'); // no origin
    refused(doc(rule('<AllowedOrigin>*</AllowedOrigin>')), 'MalformedXML'); // no method
    refused(doc(rule(`${MINIMAL}<AllowedOrigins>*</AllowedOrigins>`)), 'MalformedXML'); // unknown element
    refused(doc(rule(MINIMAL) + '<Other/>'), 'MalformedXML');
    refused(doc(rule(`<ID>a</ID><ID>b</ID>${MINIMAL}`)), 'MalformedXML');
    refused(doc(rule(`${MINIMAL}<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2</MaxAgeSeconds>`)), 'MalformedXML');
    for (const age of ['', 'soon', '1.5', '-1', '2147483648', '99999999999']) refused(doc(rule(`${MINIMAL}<MaxAgeSeconds>${age}</MaxAgeSeconds>`)), 'MalformedXML');
    refused(doc(rule('<AllowedOrigin><x/></AllowedOrigin><AllowedMethod>GET</AllowedMethod>')), 'MalformedXML');
    refused(`<CORSRules>${rule(MINIMAL)}</CORSRules>`, 'MalformedXML');
    refused('<CORSConfiguration><CORSRule>', 'MalformedXML');
    refused(`<!DOCTYPE x [<!ENTITY a "b">]>${doc(rule(MINIMAL))}`, 'MalformedXML');
  });

  test('methods other than GET, PUT, POST, DELETE and HEAD are InvalidRequest, named as S3 names them', () => {
    for (const method of ['PATCH', 'OPTIONS', 'get', '*', '']) {
      refused(doc(rule(`<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>${method}</AllowedMethod>`)), 'InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${method}`);
    }
  });

  test('wildcards: one per AllowedOrigin and AllowedHeader, none in ExposeHeader', () => {
    refused(doc(rule('<AllowedOrigin>https://*.example.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>')), 'InvalidRequest', 'AllowedOrigin "https://*.example.*" can not have more than one wildcard.');
    refused(doc(rule(`${MINIMAL}<AllowedHeader>x-*-*</AllowedHeader>`)), 'InvalidRequest', 'AllowedHeader "x-*-*" can not have more than one wildcard.');
    refused(doc(rule(`${MINIMAL}<ExposeHeader>x-amz-*</ExposeHeader>`)), 'InvalidRequest', 'ExposeHeader "x-amz-*" contains wildcard. We currently do not support wildcard for ExposeHeader.');
    assert.deepEqual(parseCorsConfiguration(doc(rule(`${MINIMAL}<AllowedHeader>*</AllowedHeader>`)))[0]!.allowedHeaders, ['*']);
  });

  test('limits: more than 100 rules, an ID over 255 characters, a document over 64 KB', () => {
    refused(doc(rule(MINIMAL).repeat(101)), 'InvalidRequest', 'The number of CORS rules should not exceed allowed limit of 100 rules.');
    refused(doc(rule(`<ID>${'i'.repeat(256)}</ID>${MINIMAL}`)), 'InvalidRequest');
    const origins = Array.from({ length: 1200 }, (_, i) => `<AllowedOrigin>https://host-${i}.example.com</AllowedOrigin>`).join('');
    const big = doc(rule(`${origins}<AllowedMethod>GET</AllowedMethod>`));
    assert.ok(Buffer.byteLength(big) > 64 * 1024);
    refused(big, 'MaxMessageLengthExceeded');
    refused(Buffer.from(big), 'MaxMessageLengthExceeded');
  });
});

describe('corsConfigurationXml', () => {
  test('writes the rules back in order, escaped, and parses to the same rules', () => {
    const rules: CorsRule[] = [
      { id: 'a & <b>', allowedMethods: ['GET', 'HEAD'], allowedOrigins: ['https://x.example?a=1&b="2"'], allowedHeaders: ['*'], exposeHeaders: ['ETag'], maxAgeSeconds: 60 },
      { allowedMethods: ['DELETE'], allowedOrigins: ['*'] },
    ];
    const xml = corsConfigurationXml(rules);
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'));
    assert.ok(xml.includes('<ID>a &amp; &lt;b&gt;</ID>'));
    assert.ok(
      xml.includes(
        '<CORSRule><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>https://x.example?a=1&amp;b=&quot;2&quot;</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><ID>a &amp; &lt;b&gt;</ID><MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>',
      ),
    );
    assert.deepEqual(parseCorsConfiguration(xml), rules);
  });
});

describe('matching', () => {
  test('wildcardMatch: one * for any run of characters, the empty one included, anchored at both ends', () => {
    assert.ok(wildcardMatch('start*end', 'startend'));
    assert.ok(wildcardMatch('start*end', 'start12end'));
    assert.ok(!wildcardMatch('start*end', '0start12end'));
    assert.ok(!wildcardMatch('start*end', 'start12end0'));
    assert.ok(!wildcardMatch('start*end', 'startnd'), 'prefix and suffix may not overlap');
    assert.ok(wildcardMatch('*suffix', 'foo.suffix'));
    assert.ok(!wildcardMatch('*suffix', 'foo.suffix.get'));
    assert.ok(wildcardMatch('prefix*', 'prefix'));
    assert.ok(!wildcardMatch('prefix*', 'bla.prefix'));
    assert.ok(wildcardMatch('*', ''));
    assert.ok(wildcardMatch('http://*.example.com', 'http://a.b.example.com'));
    assert.ok(wildcardMatch('https://a.example', 'https://a.example'));
    assert.ok(!wildcardMatch('https://a.example', 'https://a.example/'));
    assert.ok(!wildcardMatch('https://a.example', 'https://A.example'), 'case-sensitive');
  });

  test('parseAccessControlRequestHeaders: trimmed, lower-cased, empty entries dropped, in order', () => {
    assert.deepEqual(parseAccessControlRequestHeaders(undefined), []);
    assert.deepEqual(parseAccessControlRequestHeaders(''), []);
    assert.deepEqual(parseAccessControlRequestHeaders(' X-Amz-Date,content-type, ,Authorization '), ['x-amz-date', 'content-type', 'authorization']);
  });

  const rules: CorsRule[] = [
    { allowedMethods: ['PUT', 'DELETE'], allowedOrigins: ['https://app.example.com', 'https://*.example.org'], allowedHeaders: ['Content-Type', 'x-amz-*'], exposeHeaders: ['ETag', 'x-amz-request-id'], maxAgeSeconds: 600 },
    { allowedMethods: ['GET', 'HEAD'], allowedOrigins: ['*'] },
    { allowedMethods: ['GET'], allowedOrigins: ['https://app.example.com'], allowedHeaders: ['*'] },
    { allowedMethods: ['POST'], allowedOrigins: ['*', 'https://post.example'] },
  ];

  test('the first rule allowing origin, method and every requested header wins', () => {
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'PUT' })?.rule, rules[0]);
    assert.equal(matchCorsRule(rules, { origin: 'https://a.b.example.org', method: 'DELETE', headers: ['content-type', 'x-amz-date'] })?.rule, rules[0]);
    // Rule 1 allows GET from anywhere but no requested header; rule 3 allows any header.
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'GET' })?.rule, rules[1]);
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'GET', headers: ['range'] })?.rule, rules[2]);
    assert.equal(matchCorsRule(rules, { origin: 'https://other.example', method: 'GET', headers: ['range'] }), undefined);
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'PUT', headers: ['x-custom'] }), undefined);
    assert.equal(matchCorsRule(rules, { origin: 'http://app.example.com', method: 'PUT' }), undefined, 'scheme differs');
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com:443', method: 'PUT' }), undefined, 'port differs');
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'put' }), undefined, 'methods are case-sensitive');
    assert.equal(matchCorsRule(rules, { origin: 'https://app.example.com', method: 'PATCH' }), undefined);
    assert.equal(matchCorsRule([], { origin: 'https://app.example.com', method: 'GET' }), undefined);
  });

  test('the answered origin: the request\'s for a specific pattern, * when only a bare * allows it', () => {
    assert.equal(matchCorsRule(rules, { origin: 'https://x.example.org', method: 'PUT' })?.allowOrigin, 'https://x.example.org');
    assert.equal(matchCorsRule(rules, { origin: 'https://anywhere.example', method: 'GET' })?.allowOrigin, '*');
    assert.equal(matchCorsRule(rules, { origin: 'https://post.example', method: 'POST' })?.allowOrigin, 'https://post.example');
    assert.equal(matchCorsRule(rules, { origin: 'https://else.example', method: 'POST' })?.allowOrigin, '*');
  });

  test('corsResponseHeaders: everything the rule has, credentials only for an echoed origin, requested headers for a preflight', () => {
    const preflight = matchCorsRule(rules, { origin: 'https://app.example.com', method: 'PUT', headers: ['content-type', 'x-amz-date'] })!;
    assert.deepEqual(corsResponseHeaders(preflight, ['content-type', 'x-amz-date']), {
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'PUT, DELETE',
      'access-control-allow-headers': 'content-type, x-amz-date',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '600',
      'access-control-allow-credentials': 'true',
      vary: CORS_VARY,
    });
    assert.deepEqual(corsResponseHeaders(matchCorsRule(rules, { origin: 'https://anywhere.example', method: 'HEAD' })!), {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD',
      vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
    });
  });

  test('a refused preflight is 403 AccessForbidden naming the method and the resource type', () => {
    const err = corsForbidden(CORS_NOT_ALLOWED, 'PUT', 'OBJECT');
    assert.equal(err.status, 403);
    assert.equal(err.code, 'AccessForbidden');
    const xml = renderErrorXml(err, { requestId: 'R1', hostId: 'H1' });
    assert.equal(
      xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessForbidden</Code><Message>' +
        'CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource\'s CORS spec.' +
        '</Message><Method>PUT</Method><ResourceType>OBJECT</ResourceType><RequestId>R1</RequestId><HostId>H1</HostId></Error>',
    );
  });
});
