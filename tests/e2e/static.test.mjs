// --web-root: static files, SPA fallback, no escape from the root.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, api, assertError, rawRequest, mkTmpDir, stopClean,
} from './harness.mjs';

const base = mkTmpDir('chatd-e2e-web-');
const root = path.join(base, 'www');
const SECRET_TEXT = 'TOP-SECRET-OUTSIDE-THE-ROOT-7f3a';
const INDEX = '<!doctype html><html><body>chatd e2e index</body></html>';
const APP_JS = 'console.log("chatd e2e app");';
const CSS = 'body { color: red; }';

let srv;
before(async () => {
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), INDEX);
  fs.writeFileSync(path.join(root, 'assets', 'app.js'), APP_JS);
  fs.writeFileSync(path.join(root, 'assets', 'style.css'), CSS);
  fs.writeFileSync(path.join(base, 'secret.txt'), SECRET_TEXT);
  fs.writeFileSync(path.join(base, 'secret'), SECRET_TEXT);
  fs.mkdirSync(path.join(base, 'www2'), { recursive: true });
  fs.writeFileSync(path.join(base, 'www2', 'leak.txt'), SECRET_TEXT); // sibling dir sharing the root's prefix
  srv = await startServer(['--web-root', root]);
});
after(async () => {
  await stopClean(srv);
  fs.rmSync(base, { recursive: true, force: true });
});

describe('static files', () => {
  test('GET / → index.html as text/html', async () => {
    const r = await api(srv.url, 'GET', '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(r.text, INDEX);
    // The frontend's own policy is its business; nosniff and no-referrer hold for every file.
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(r.headers.get('content-security-policy'), null);
  });

  test('GET /index.html → index.html', async () => {
    const r = await api(srv.url, 'GET', '/index.html');
    assert.equal(r.status, 200);
    assert.equal(r.text, INDEX);
  });

  test('GET /assets/app.js → text/javascript', async () => {
    const r = await api(srv.url, 'GET', '/assets/app.js');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(r.text, APP_JS);
  });

  test('GET /assets/style.css → text/css; a query string is ignored', async () => {
    const r = await api(srv.url, 'GET', '/assets/style.css?v=123');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal(r.text, CSS);
  });

  test('SPA fallback: a client route without an extension → index.html', async () => {
    for (const p of ['/some/client/route', '/chats', '/chats/', '/chats?x=1']) {
      const r = await api(srv.url, 'GET', p);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(r.text, INDEX, p);
    }
  });

  test('a missing file with an extension → 404', async () => {
    for (const p of ['/missing.js', '/assets/nope.css', '/favicon.ico']) {
      const r = await api(srv.url, 'GET', p);
      assert.equal(r.status, 404, `${p}: ${r.status}`);
      assert.notEqual(r.text, INDEX);
    }
  });

  test('/api/... unknown is still a JSON 404, never index.html', async () => {
    const r = await api(srv.url, 'GET', '/api/nope');
    assertError(r, 404, 'not_found', 'Not Found - /api/nope');
    const r2 = await api(srv.url, 'GET', '/api/some/client/route');
    assertError(r2, 404, 'not_found');
  });

  test('the REST API still works beside the web root', async () => {
    const r = await api(srv.url, 'POST', '/api/user/login', { body: { email: 'x@y.z', password: 'password123' } });
    assertError(r, 401, 'unauthorized');
  });
});

describe('path traversal (raw sockets: fetch would normalize)', () => {
  const attempts = [
    '/../secret.txt',
    '/../secret',
    '/../../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%2fsecret.txt',
    '/..%2Fsecret',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/%252e%252e/secret.txt',
    '/..\\secret.txt',
    '/..%5csecret.txt',
    '/%2e%2e%5csecret.txt',
    '/.%2e/secret.txt',
    '/assets/%2e%2e%2f%2e%2e%2fsecret',
    '//../secret.txt',
    `/${encodeURIComponent(path.join(base, 'secret.txt'))}`,
    '/../www2/leak.txt',
    '/%2e%2e/www2/leak.txt',
    '/secret.txt%00.js',
    '/../secret.txt%00',
  ];
  for (const p of attempts) {
    test(`GET ${p} never returns the file outside the root`, async () => {
      const r = await rawRequest(srv.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      if (r === null) return; // closed without an answer: acceptable
      assert.ok(!r.body.includes(SECRET_TEXT), `${p} leaked the secret file (status ${r.status})`);
      assert.ok(r.status < 500, `${p}: ${r.status}`);
      assert.ok([200, 400, 403, 404].includes(r.status), `${p}: ${r.status}`);
      if (r.status === 200) assert.equal(r.body, INDEX, `${p}: a 200 can only be the SPA index`);
    });
  }

  test('an absolute-form request target does not escape either', async () => {
    const r = await rawRequest(srv.port, `GET http://127.0.0.1:${srv.port}/../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    if (r) assert.ok(!r.body.includes(SECRET_TEXT));
  });

  test('a symlink inside the root that points outside is not followed out', async () => {
    try {
      fs.symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'assets', 'link.txt'));
    } catch {
      return; // no symlinks here
    }
    const r = await rawRequest(srv.port, 'GET /assets/link.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    if (r) assert.ok(!r.body.includes(SECRET_TEXT), `symlink escape: status ${r.status}`);
  });
});
