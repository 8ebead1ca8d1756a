// Tests of NoProxyList: curl's and wget's NO_PROXY spellings (names and suffixes, IPs, CIDRs, ports, `*`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NoProxyList } from './no-proxy-list.ts';

const direct = (list: NoProxyList, url: string) => list.matches(new URL(url));

test('a name covers itself and every name under it, with or without a leading dot or *.', () => {
  for (const entry of ['mirror.example', '.mirror.example', '*.mirror.example', 'MIRROR.example.']) {
    const list = new NoProxyList([entry]);
    assert.ok(direct(list, 'http://mirror.example/debian'), entry);
    assert.ok(direct(list, 'https://a.b.mirror.example/x'), entry);
    assert.ok(!direct(list, 'http://notmirror.example/'), entry);
    assert.ok(!direct(list, 'http://mirror.example.org/'), entry);
  }
});

test('IP literals match as written, CIDRs match IP literals inside them, names are never resolved to match', () => {
  const list = new NoProxyList(['192.0.2.7, 10.0.0.0/8', 'fd00::/8', '[::1]']);
  assert.ok(direct(list, 'http://192.0.2.7/'));
  assert.ok(!direct(list, 'http://192.0.2.8/'));
  assert.ok(direct(list, 'http://10.1.2.3:8080/'));
  assert.ok(direct(list, 'http://[fd00::5]/'));
  assert.ok(direct(list, 'http://[::1]:3142/'));
  assert.ok(!direct(list, 'http://[::2]/'));
  assert.ok(!direct(list, 'http://localhost/'));
});

test('a port narrows an entry to that port; the URL default port counts', () => {
  const list = new NoProxyList(['mirror.example:8080', '127.0.0.1:443', '[::1]:80']);
  assert.ok(direct(list, 'http://mirror.example:8080/'));
  assert.ok(!direct(list, 'http://mirror.example/'));
  assert.ok(direct(list, 'https://127.0.0.1/'));
  assert.ok(!direct(list, 'http://127.0.0.1/'));
  assert.ok(direct(list, 'http://[::1]/'));
});

test('* alone sends everything direct; empty entries and white space are ignored', () => {
  assert.ok(direct(new NoProxyList(['*']), 'https://anything.example/'));
  const list = new NoProxyList([' a.example ,, b.example\tc.example ']);
  assert.equal(list.size, 3);
  assert.ok(direct(list, 'http://c.example/'));
  assert.ok(!direct(new NoProxyList([]), 'http://a.example/'));
  // `*` inside a name is not a wildcard (curl and wget agree): no accidental catch-all.
  assert.ok(!direct(new NoProxyList(['*example']), 'http://a.example/'));
});
