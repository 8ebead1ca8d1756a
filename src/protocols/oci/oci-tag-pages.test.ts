// Tag list pages: the query checked, sent upstream, and the upstream's Link rewritten to hoard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHoardError } from '../../errors.ts';
import { grammarCodeOf } from './oci-reference.ts';
import { parseTagPage, rewriteTagsLink, tagPageQuery } from './oci-tag-pages.ts';

test('a page is n and last; neither is the whole list; bad ones are refused with their OCI code', () => {
  assert.equal(parseTagPage(''), undefined);
  assert.equal(parseTagPage('?ns=lab'), undefined);
  assert.deepEqual(parseTagPage('?n=10'), { n: 10, last: undefined });
  assert.deepEqual(parseTagPage('n=0&last=v1.2_x&ns=lab'), { n: 0, last: 'v1.2_x' });
  for (const [query, code] of [
    ['n=', 'PAGINATION_NUMBER_INVALID'],
    ['n=1e3', 'PAGINATION_NUMBER_INVALID'],
    ['n=10001', 'PAGINATION_NUMBER_INVALID'],
    ['last=a%2Fb', 'MANIFEST_INVALID'],
    [`last=${'a'.repeat(129)}`, 'MANIFEST_INVALID'],
  ] as const) {
    assert.throws(
      () => parseTagPage(query),
      (err) => isHoardError(err, 'HOARD_ERR_OCI_NAME_INVALID') && grammarCodeOf(err) === code,
      query,
    );
  }
  assert.equal(tagPageQuery({ n: 5, last: 'b' }), '?n=5&last=b');
  assert.equal(tagPageQuery({ last: 'b' }), '?last=b');
});

test("the upstream's Link becomes one to hoard in the client's spelling; anything else in it is dropped", () => {
  const upstream = '</v2/team/app/tags/list?last=t2&n=2>; rel="next"';
  assert.equal(rewriteTagsLink(upstream, '/v2/lab/team/app/tags/list', undefined), '</v2/lab/team/app/tags/list?n=2&last=t2>; rel="next"');
  assert.equal(rewriteTagsLink(upstream, '/v2/team/app/tags/list', 'lab'), '</v2/team/app/tags/list?n=2&last=t2&ns=lab>; rel="next"');
  // An absolute URL on another host (Docker Hub sends relative ones, others absolute): only n and last are kept.
  assert.equal(
    rewriteTagsLink('<https://images.example/v2/x/tags/list?n=2&last=t2&token=secret>; rel=next', '/v2/x/tags/list', undefined),
    '</v2/x/tags/list?n=2&last=t2>; rel="next"',
  );
  assert.equal(rewriteTagsLink(undefined, '/v2/x/tags/list', undefined), undefined);
  assert.equal(rewriteTagsLink('</v2/x/tags/list?n=2&last=t2>; rel="prev"', '/v2/x/tags/list', undefined), undefined);
  assert.equal(rewriteTagsLink('</v2/x/tags/list?n=2&last=-bad>; rel="next"', '/v2/x/tags/list', undefined), undefined);
  assert.equal(rewriteTagsLink('garbage', '/v2/x/tags/list', undefined), undefined);
});
