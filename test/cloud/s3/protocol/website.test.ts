/**
 * The website protocol module: parsing a WebsiteConfiguration with S3's validation (every
 * refusal and its code), the GetBucketWebsite document, routing-rule matching, redirect targets
 * and the HTML error page of the website endpoint.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error, matchRoutingRule, parseWebsiteConfiguration, routingRedirect, websiteConfigurationXml, websiteErrorHtml } from '../../../../src/cloud/s3/protocol/index.ts';
import type { S3ErrorCode, WebsiteConfiguration, WebsiteRoutingRule } from '../../../../src/cloud/s3/protocol/index.ts';

function doc(inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</WebsiteConfiguration>`;
}

function refused(inner: string, code: S3ErrorCode, message?: RegExp): void {
  assert.throws(
    () => parseWebsiteConfiguration(doc(inner)),
    (err: unknown) => {
      assert.ok(err instanceof S3Error, String(err));
      assert.equal(err.code, code, `${inner}: ${err.message}`);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

const INDEX = '<IndexDocument><Suffix>index.html</Suffix></IndexDocument>';

describe('WebsiteConfiguration documents', () => {
  test('a full configuration parses and serialises back to the same configuration', () => {
    const config = parseWebsiteConfiguration(
      doc(
        `${INDEX}<ErrorDocument><Key>errors/404.html</Key></ErrorDocument><RoutingRules>` +
          '<RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition><Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith></Redirect></RoutingRule>' +
          '<RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition><Redirect><HostName>ex.com</HostName><Protocol>https</Protocol><HttpRedirectCode>302</HttpRedirectCode><ReplaceKeyWith>missing.html</ReplaceKeyWith></Redirect></RoutingRule>' +
          '<RoutingRule><Redirect><ReplaceKeyPrefixWith></ReplaceKeyPrefixWith></Redirect></RoutingRule>' +
          '</RoutingRules>',
      ),
    );
    const expected: WebsiteConfiguration = {
      indexSuffix: 'index.html',
      errorKey: 'errors/404.html',
      routingRules: [
        { condition: { keyPrefixEquals: 'docs/' }, redirect: { replaceKeyPrefixWith: 'documents/' } },
        { condition: { httpErrorCodeReturnedEquals: '404' }, redirect: { hostName: 'ex.com', protocol: 'https', httpRedirectCode: '302', replaceKeyWith: 'missing.html' } },
        { redirect: { replaceKeyPrefixWith: '' } },
      ],
    };
    assert.deepEqual(config, expected);
    assert.deepEqual(parseWebsiteConfiguration(websiteConfigurationXml(config)), expected, 'round trip');
    const all = parseWebsiteConfiguration(doc('<RedirectAllRequestsTo><HostName>example.com</HostName><Protocol>https</Protocol></RedirectAllRequestsTo>'));
    assert.deepEqual(all, { redirectAll: { hostName: 'example.com', protocol: 'https' } });
    assert.equal(
      websiteConfigurationXml(all),
      '<?xml version="1.0" encoding="UTF-8"?>\n<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><RedirectAllRequestsTo><HostName>example.com</HostName><Protocol>https</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>',
    );
    // Entities and whitespace around elements are fine; key values keep their characters.
    assert.deepEqual(parseWebsiteConfiguration(doc(`\n  <IndexDocument>\n <Suffix>a&amp;b.html</Suffix> </IndexDocument>\n`)), { indexSuffix: 'a&b.html' });
    assert.match(websiteConfigurationXml({ indexSuffix: 'a&b.html' }), /<Suffix>a&amp;b.html<\/Suffix>/);
  });

  test('malformed documents are MalformedXML', () => {
    for (const body of ['', 'not xml', '<WebsiteConfiguration>', '<Other/>', '<!DOCTYPE x><WebsiteConfiguration/>']) {
      assert.throws(() => parseWebsiteConfiguration(body), (e: unknown) => e instanceof S3Error && e.code === 'MalformedXML', body);
    }
    refused(`${INDEX}<Unknown/>`, 'MalformedXML');
    refused(`${INDEX}${INDEX}`, 'MalformedXML');
    refused('<IndexDocument><Suffix>a</Suffix><Suffix>b</Suffix></IndexDocument>', 'MalformedXML');
    refused('<IndexDocument></IndexDocument>', 'MalformedXML');
    refused('<IndexDocument><Suffix><b/></Suffix></IndexDocument>', 'MalformedXML');
    refused(`${INDEX}<ErrorDocument></ErrorDocument>`, 'MalformedXML');
    refused(`${INDEX}<RoutingRules></RoutingRules>`, 'MalformedXML');
    refused(`${INDEX}<RoutingRules><RoutingRule><Condition><KeyPrefixEquals>a</KeyPrefixEquals></Condition></RoutingRule></RoutingRules>`, 'MalformedXML');
    refused(`${INDEX}<RoutingRules><Rule><Redirect><HostName>h</HostName></Redirect></Rule></RoutingRules>`, 'MalformedXML');
    refused(`${INDEX}<RoutingRules><RoutingRule><Redirect><Host>h</Host></Redirect></RoutingRule></RoutingRules>`, 'MalformedXML');
    refused('<RedirectAllRequestsTo><Protocol>https</Protocol></RedirectAllRequestsTo>', 'MalformedXML');
  });

  test('configurations S3 refuses are InvalidArgument', () => {
    refused('', 'InvalidArgument', /IndexDocument Suffix must be provided/);
    refused('<ErrorDocument><Key>e.html</Key></ErrorDocument>', 'InvalidArgument', /IndexDocument Suffix must be provided/);
    refused('<IndexDocument><Suffix></Suffix></IndexDocument>', 'InvalidArgument', /Suffix is not well formed/);
    refused('<IndexDocument><Suffix>a/index.html</Suffix></IndexDocument>', 'InvalidArgument', /Suffix is not well formed/);
    refused(`${INDEX}<ErrorDocument><Key></Key></ErrorDocument>`, 'InvalidArgument', /ErrorDocument Key/);
    refused(`<RedirectAllRequestsTo><HostName>h</HostName></RedirectAllRequestsTo>${INDEX}`, 'InvalidArgument', /RedirectAllRequestsTo cannot be provided/);
    refused('<RedirectAllRequestsTo><HostName>h</HostName><Protocol>ftp</Protocol></RedirectAllRequestsTo>', 'InvalidArgument', /Invalid protocol/);
    refused('<RedirectAllRequestsTo><HostName> </HostName></RedirectAllRequestsTo>', 'InvalidArgument', /HostName/);
    const rule = (inner: string): string => `${INDEX}<RoutingRules><RoutingRule>${inner}</RoutingRule></RoutingRules>`;
    refused(rule('<Redirect><ReplaceKeyWith>a</ReplaceKeyWith><ReplaceKeyPrefixWith>b</ReplaceKeyPrefixWith></Redirect>'), 'InvalidArgument', /ReplaceKeyPrefix or ReplaceKey but not both/);
    refused(rule('<Redirect><HttpRedirectCode>200</HttpRedirectCode></Redirect>'), 'InvalidArgument', /redirect code \(200\)/);
    refused(rule('<Redirect><HttpRedirectCode>300</HttpRedirectCode></Redirect>'), 'InvalidArgument', /3XX except 300/);
    refused(rule('<Redirect><Protocol>gopher</Protocol></Redirect>'), 'InvalidArgument', /Invalid protocol/);
    refused(rule('<Redirect></Redirect>'), 'InvalidArgument', /Redirect must contain/);
    refused(rule('<Condition></Condition><Redirect><HostName>h</HostName></Redirect>'), 'InvalidArgument', /Condition cannot be empty/);
    refused(rule('<Condition><HttpErrorCodeReturnedEquals>302</HttpErrorCodeReturnedEquals></Condition><Redirect><HostName>h</HostName></Redirect>'), 'InvalidArgument', /4XX or 5XX/);
    const ok = '<RoutingRule><Redirect><HostName>h</HostName></Redirect></RoutingRule>';
    assert.equal(parseWebsiteConfiguration(doc(`${INDEX}<RoutingRules>${ok.repeat(50)}</RoutingRules>`)).routingRules?.length, 50);
    refused(`${INDEX}<RoutingRules>${ok.repeat(51)}</RoutingRules>`, 'InvalidArgument', /limit of 50/);
  });
});

describe('website routing', () => {
  const rules: WebsiteRoutingRule[] = [
    { condition: { keyPrefixEquals: 'docs/' }, redirect: { replaceKeyPrefixWith: 'documents/' } },
    { condition: { httpErrorCodeReturnedEquals: '404', keyPrefixEquals: 'img/' }, redirect: { hostName: 'cdn.example.com', protocol: 'https' } },
    { condition: { httpErrorCodeReturnedEquals: '404' }, redirect: { replaceKeyWith: 'not-found.html', httpRedirectCode: '307' } },
  ];
  const request = { host: 'site.s3-website.localhost:9090', protocol: 'http' as const };

  test('prefix rules apply before the read, error rules after it, the first match wins', () => {
    assert.equal(matchRoutingRule(rules, 'docs/a.html'), rules[0]);
    assert.equal(matchRoutingRule(rules, 'img/a.png'), undefined, 'an error rule needs the error');
    assert.equal(matchRoutingRule(rules, 'img/a.png', 404), rules[1]);
    assert.equal(matchRoutingRule(rules, 'other', 404), rules[2]);
    assert.equal(matchRoutingRule(rules, 'other', 403), undefined);
    assert.equal(matchRoutingRule(rules, 'docs/x', 404), rules[2], 'a prefix-only rule is not tried again on error');
    assert.equal(matchRoutingRule(undefined, 'x'), undefined);
  });

  test('redirect targets replace the prefix or the key, keep host and protocol by default', () => {
    assert.deepEqual(routingRedirect(rules[0]!, 'docs/a b.html', request), { status: 301, location: 'http://site.s3-website.localhost:9090/documents/a%20b.html' });
    assert.deepEqual(routingRedirect(rules[1]!, 'img/a.png', request), { status: 301, location: 'https://cdn.example.com/img/a.png' });
    assert.deepEqual(routingRedirect(rules[2]!, 'x/y', request), { status: 307, location: 'http://site.s3-website.localhost:9090/not-found.html' });
    assert.deepEqual(routingRedirect({ redirect: { replaceKeyPrefixWith: 'new/' } }, 'a', request).location, 'http://site.s3-website.localhost:9090/new/a');
  });

  test('the HTML error page names the status, code, details and request ids, escaped', () => {
    const html = websiteErrorHtml(404, { code: 'NoSuchKey', message: 'The specified key does not exist.', fields: { Key: '<script>' } }, { requestId: 'R1', hostId: 'H1' });
    assert.match(html, /<title>404 Not Found<\/title>/);
    assert.match(html, /<li>Code: NoSuchKey<\/li>/);
    assert.match(html, /<li>Key: &lt;script&gt;<\/li>/);
    assert.match(html, /<li>RequestId: R1<\/li>/);
    assert.doesNotMatch(html, /Custom Error Document/);
    const withDoc = websiteErrorHtml(403, { code: 'AccessDenied', message: 'Access Denied' }, { requestId: 'R', hostId: 'H' }, { code: 'NoSuchKey', message: 'gone' });
    assert.match(withDoc, /403 Forbidden/);
    assert.match(withDoc, /An Error Occurred While Attempting to Retrieve a Custom Error Document<\/h3>\n<ul>\n<li>Code: NoSuchKey/);
  });
});
