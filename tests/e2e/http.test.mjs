// HTTP layer: error format, routing, CORS, keep-alive, size limits, slowloris protection.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, startServer, api, register, registerMany, uniqueEmail, assertError, assertNoLeak, oneToOne,
  history, rawConnect, rawRequest, sleep,
  stopClean,
} from './harness.mjs';

const fx = serverFixture();
before(fx.start);
after(fx.stop);

describe('health', () => {
  test('GET /healthz answers while the process serves, without a token', async () => {
    const r = await api(fx.url, 'GET', '/healthz');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ok' });
  });

  test('GET /readyz: the store answers, Redis is off on a single node', async () => {
    const r = await api(fx.url, 'GET', '/readyz');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { status: 'ready', store: 'ok', redis: 'off' });
  });
});

describe('security headers', () => {
  const JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

  test('every reply says nosniff and no-referrer; JSON replies, errors included, forbid running anything', async () => {
    const u = await register(fx.url, 'Header User');
    const replies = [
      await api(fx.url, 'GET', '/api/chat', { token: u.token }),
      await api(fx.url, 'GET', '/api/nope'),
      await api(fx.url, 'GET', '/api/chat'),
      await api(fx.url, 'POST', '/api/user/login', { rawBody: '{not json' }),
      await api(fx.url, 'GET', '/healthz'),
    ];
    for (const r of replies) {
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${r.status} ${r.text}`);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(r.headers.get('content-security-policy'), JSON_CSP);
    }
  });

  test('an Engine.IO polling reply carries them too', async () => {
    const r = await api(fx.url, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  });
});

describe('errors and routing', () => {
  test('unknown route → 404 {"message":"Not Found - /api/nope","code":"not_found"}', async () => {
    const r = await api(fx.url, 'GET', '/api/nope');
    assertError(r, 404, 'not_found');
    assert.deepEqual(r.json, { message: 'Not Found - /api/nope', code: 'not_found' });
  });

  test('unknown routes under known prefixes are JSON 404s too', async () => {
    const u = await register(fx.url, 'Route User');
    for (const [m, p] of [['GET', '/api/user/nope/deeper'], ['DELETE', '/api/chat'], ['POST', '/api/nope'], ['GET', '/api']]) {
      const r = await api(fx.url, m, p, { token: u.token });
      assert.ok(r.status === 404 || r.status === 405, `${m} ${p}: ${r.status} ${r.text}`);
      assertError(r, r.status, r.status === 404 ? 'not_found' : undefined);
    }
  });

  test('paths are case-insensitive and accept a trailing slash', async () => {
    const u = await register(fx.url, 'Path User');
    let r = await api(fx.url, 'POST', '/API/User/Login/', { body: { email: u.email, password: u.password } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json._id, u._id);
    r = await api(fx.url, 'POST', '/api/user/login/', { body: { email: u.email, password: u.password } });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'GET', '/API/CHAT/', { token: u.token });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'POST', '/Api/User/', { body: { name: 'Slash', email: uniqueEmail('slash'), password: 'password123' } });
    assert.equal(r.status, 201, r.text);
    r = await api(fx.url, 'GET', '/api/USER/?search=Path%20User', { token: u.token });
    assert.equal(r.status, 200, r.text);
    const [a, b] = await registerMany(fx.url, ['Slash A', 'Slash B']);
    const c = await oneToOne(fx.url, a, b);
    r = await api(fx.url, 'POST', '/API/Message/', { token: a.token, body: { chatId: c._id, content: 'via caps' } });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'GET', `/API/MESSAGE/${c._id}/`, { token: b.token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.length, 1);
    r = await api(fx.url, 'PUT', '/API/CHAT/GROUPRENAME/', { token: a.token, body: { chatId: c._id, chatName: 'x' } });
    assert.equal(r.status, 400, 'routed (1:1 rename is a 400, not a 404)');
  });

  test('malformed JSON body → 400 invalid_input', async () => {
    for (const raw of ['{', '{"name": }', '{"a":1}}', 'nope', '{"email":"a@b.c","password":"x",}', "{'a':1}"]) {
      const r = await api(fx.url, 'POST', '/api/user/login', { rawBody: raw });
      assertError(r, 400, 'invalid_input');
    }
  });

  test('an empty body on a JSON route → 400', async () => {
    const r = await api(fx.url, 'POST', '/api/user/login', { rawBody: '' });
    assertError(r, 400, 'invalid_input');
  });

  test('invalid UTF-8 inside a JSON string → 400, nothing stored', async () => {
    const email = uniqueEmail('utf');
    const raw = Buffer.concat([
      Buffer.from('{"name":"bad'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`","email":"${email}","password":"password123"}`),
    ]);
    const r = await api(fx.url, 'POST', '/api/user', { rawBody: raw });
    assertError(r, 400, 'invalid_input');
    const l = await api(fx.url, 'POST', '/api/user/login', { body: { email, password: 'password123' } });
    assertError(l, 401, 'unauthorized');
    // overlong encoding of "/" and a lone continuation byte
    for (const bytes of [[0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80]]) {
      const [a, b] = await registerMany(fx.url, ['Utf A', 'Utf B']);
      const c = await oneToOne(fx.url, a, b);
      const body = Buffer.concat([Buffer.from(`{"chatId":"${c._id}","content":"x`), Buffer.from(bytes), Buffer.from('"}')]);
      const m = await api(fx.url, 'POST', '/api/message', { token: a.token, rawBody: body });
      assertError(m, 400, 'invalid_input');
      assert.deepEqual(await history(fx.url, a, c._id), []);
    }
  });

  test('valid UTF-8 and JSON escapes are decoded', async () => {
    const r = await api(fx.url, 'POST', '/api/user', { rawBody: `{"name":"\\u00e9t\\u00e9 \\ud83d\\ude00","email":"${uniqueEmail('esc')}","password":"password123"}` });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'été 😀');
  });

  test('a ~2 MB body → 413 too_large (default limit 1 MiB)', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), email: uniqueEmail('big'), password: 'password123' });
    let r;
    try {
      r = await api(fx.url, 'POST', '/api/user', { rawBody: big });
    } catch (e) {
      assert.fail(`the client should receive the 413 response, but the request failed: ${e.cause?.code ?? e.message}`);
    }
    assertError(r, 413, 'too_large');
  });

  test('a ~2 MB body sent in full on a raw socket → the 413 response reaches the client', async () => {
    const body = 'x'.repeat(2 * 1024 * 1024);
    const c = await rawConnect(fx.srv.port);
    try {
      c.sock.write(`POST /api/user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      c.sock.write(body);
      const r = await c.next(5000).catch(() => null);
      assert.ok(r, 'the 413 must not be lost (e.g. by closing with unread input, which resets the connection)');
      assert.equal(r.status, 413);
      assert.equal(JSON.parse(r.body).code, 'too_large');
    } finally {
      c.destroy();
    }
  });

  test('a body just under 1 MiB is accepted by the HTTP layer (then validated)', async () => {
    const a = await register(fx.url, 'Near Limit');
    const body = JSON.stringify({ content: 'y'.repeat(1024 * 1024 - 200), chatId: '0'.repeat(24) });
    assert.ok(body.length <= 1048576);
    const r = await api(fx.url, 'POST', '/api/message', { token: a.token, rawBody: body });
    assert.ok(r.status === 400 || r.status === 404, `not a 413: ${r.status} ${r.text.slice(0, 200)}`);
    assertError(r, r.status);
  });

  test('error bodies never carry a stack trace or SQL', async () => {
    const u = await register(fx.url, 'Leak User');
    const probes = [
      ['GET', "/api/message/' OR 1=1 --"],
      ['GET', '/api/message/%00%00'],
      ['GET', `/api/message/${'a'.repeat(5000)}`],
      ['GET', '/api/user?search=%27%22%3B--&limit=1e999'],
      ['GET', '/api/user?limit=99999999999999999999999'],
    ];
    for (const [m, p] of probes) {
      const r = await api(fx.url, m, p, { token: u.token });
      assert.ok(r.status < 500, `${m} ${p}: ${r.status} ${r.text}`);
      assertNoLeak(r.text);
      if (r.status >= 400) assertError(r, r.status);
    }
    const r = await api(fx.url, 'POST', '/api/chat/group', { token: u.token, rawBody: '{"name":"x","users":"[\\"\'; DROP TABLE users; --\\", \\"x\\"]"}' });
    assert.ok(r.status === 400 || r.status === 404, r.text);
    assertNoLeak(r.text);
  });
});

describe('CORS (default: any origin)', () => {
  test('Origin is reflected in Access-Control-Allow-Origin', async () => {
    const r = await api(fx.url, 'GET', '/api/nope', { headers: { Origin: 'http://localhost:3000' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const u = await register(fx.url, 'Cors User');
    const r2 = await api(fx.url, 'GET', '/api/chat', { token: u.token, headers: { Origin: 'http://localhost:3000' } });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const r3 = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password }, headers: { Origin: 'https://app.example' } });
    assert.equal(r3.status, 200);
    assert.equal(r3.headers.get('access-control-allow-origin'), 'https://app.example');
  });

  test('preflight OPTIONS → 204 with allow-methods and allow-headers', async () => {
    const r = await api(fx.url, 'OPTIONS', '/api/chat/group', {
      headers: {
        Origin: 'http://localhost:3000',
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const methods = (r.headers.get('access-control-allow-methods') ?? '').toUpperCase();
    for (const m of ['GET', 'POST', 'PUT']) assert.ok(methods.includes(m) || methods === '*', `allow-methods has ${m}: ${methods}`);
    const hdrs = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'content-type']) assert.ok(hdrs.includes(h) || hdrs === '*', `allow-headers has ${h}: ${hdrs}`);
    assert.equal(r.text, '');
  });

  test('a preflight needs no token', async () => {
    const r = await api(fx.url, 'OPTIONS', '/api/message', {
      headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(r.status, 204);
  });
});

describe('HTTP/1.1 connection handling', () => {
  test('keep-alive: several requests on one raw socket', async () => {
    const u = await register(fx.url, 'KA User');
    const c = await rawConnect(fx.srv.port);
    try {
      for (let i = 0; i < 3; i += 1) {
        await c.write(`GET /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${u.token}\r\n\r\n`);
        const r = await c.next();
        assert.equal(r.status, 200, r.body);
        assert.deepEqual(JSON.parse(r.body), []);
      }
      const login = JSON.stringify({ email: u.email, password: u.password });
      await c.write(`POST /api/user/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(login)}\r\n\r\n${login}`);
      const r = await c.next();
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body)._id, u._id);
      await c.write('GET /api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const r2 = await c.next();
      assert.equal(r2.status, 404);
      assert.equal(c.isClosed(), false, 'connection still open after 5 requests');
    } finally {
      c.destroy();
    }
  });

  test('pipelined requests are answered in order', async () => {
    const c = await rawConnect(fx.srv.port);
    try {
      await c.write('GET /api/nope1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/nope2 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/nope3 HTTP/1.1\r\nHost: x\r\n\r\n');
      for (const n of [1, 2, 3]) {
        const r = await c.next();
        assert.equal(r.status, 404);
        assert.equal(JSON.parse(r.body).message, `Not Found - /api/nope${n}`);
      }
    } finally {
      c.destroy();
    }
  });

  test('Connection: close is honoured', async () => {
    const c = await rawConnect(fx.srv.port);
    await c.write('GET /api/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const r = await c.next();
    assert.equal(r.status, 404);
    const ms = await Promise.race([c.closed, sleep(3000).then(() => 'open')]);
    c.destroy();
    assert.notEqual(ms, 'open', 'server closed the connection');
  });

  test('headers over --max-header-bytes (default 16384) → 413', async () => {
    const r = await rawRequest(fx.srv.port, `GET /api/nope HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
    assert.ok(r, 'a response is sent before closing');
    assert.equal(r.status, 413, r.statusLine);
    // the server still works afterwards
    const ok = await api(fx.url, 'GET', '/api/nope');
    assert.equal(ok.status, 404);
  });

  test('many small headers over the limit → 413 too', async () => {
    let h = '';
    for (let i = 0; i < 400; i += 1) h += `X-H${i}: ${'v'.repeat(50)}\r\n`;
    const r = await rawRequest(fx.srv.port, `GET /api/nope HTTP/1.1\r\nHost: x\r\n${h}\r\n`);
    assert.ok(r, 'a response is sent before closing');
    assert.equal(r.status, 413, r.statusLine);
  });

  test('headers just under the limit are fine', async () => {
    const r = await rawRequest(fx.srv.port, `GET /api/nope HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(12000)}\r\n\r\n`);
    assert.equal(r.status, 404);
  });

  test('a declared Content-Length over the limit → 413 without sending the body', async () => {
    const c = await rawConnect(fx.srv.port);
    try {
      await c.write('POST /api/user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{"a":');
      const r = await c.next(5000);
      assert.ok(r, 'a response before close');
      assert.equal(r.status, 413);
      assert.equal(JSON.parse(r.body).code, 'too_large');
    } finally {
      c.destroy();
    }
  });

  test('garbage instead of HTTP gets a 400 or a close, and the server survives', async () => {
    const c = await rawConnect(fx.srv.port);
    await c.write('\x00\x01\x02 NOT HTTP AT ALL\r\n\r\n');
    const r = await Promise.race([c.next(3000).catch(() => null), c.closed.then(() => null)]);
    if (r) assert.equal(r.status, 400);
    c.destroy();
    assert.equal((await api(fx.url, 'GET', '/api/nope')).status, 404);
  });
});

describe('timeouts (separate server with short timeouts)', () => {
  let srv;
  before(async () => { srv = await startServer(['--read-timeout-ms', '500', '--idle-timeout-ms', '1000']); });
  after(async () => {
    await stopClean(srv);
  });

  test('half a request then a stall → disconnected after --read-timeout-ms', async () => {
    const c = await rawConnect(srv.port);
    await c.write('GET /api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const ms = await Promise.race([c.closed, sleep(4000).then(() => 'open')]);
    c.destroy();
    assert.notEqual(ms, 'open', 'the stalled connection must be closed within a few seconds');
    assert.ok(ms >= 300, `not closed before the timeout (${ms} ms)`);
  });

  test('slowloris: dripping a byte every 100 ms does not keep the connection alive', async () => {
    const c = await rawConnect(srv.port);
    let sent = 0;
    const drip = setInterval(() => { if (!c.isClosed()) { c.write('X'); sent += 1; } }, 100);
    await c.write('GET /api/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ');
    const ms = await Promise.race([c.closed, sleep(4000).then(() => 'open')]);
    clearInterval(drip);
    c.destroy();
    assert.notEqual(ms, 'open', `dripping connection must be cut (sent ${sent} bytes)`);
  });

  test('a slow body is cut too', async () => {
    const c = await rawConnect(srv.port);
    await c.write('POST /api/user/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":');
    const ms = await Promise.race([c.closed, sleep(4000).then(() => 'open')]);
    c.destroy();
    assert.notEqual(ms, 'open');
  });

  test('an idle keep-alive connection is closed after --idle-timeout-ms', async () => {
    const c = await rawConnect(srv.port);
    await c.write('GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await c.next();
    assert.equal(r.status, 404);
    const ms = await Promise.race([c.closed, sleep(5000).then(() => 'open')]);
    c.destroy();
    assert.notEqual(ms, 'open', 'idle connection closed');
  });

  test('a prompt request on the short-timeout server still works', async () => {
    const r = await api(srv.url, 'GET', '/api/nope');
    assert.equal(r.status, 404);
  });
});

describe('--max-body-bytes', () => {
  let srv;
  before(async () => { srv = await startServer(['--max-body-bytes', '1000']); });
  after(async () => {
    await stopClean(srv);
  });

  test('a body over the configured limit → 413 too_large, nothing stored', async () => {
    const email = uniqueEmail('lim');
    const r = await api(srv.url, 'POST', '/api/user', { body: { name: 'n'.repeat(1100), email, password: 'password123' } });
    assertError(r, 413, 'too_large');
    const ok = await api(srv.url, 'POST', '/api/user', { body: { name: 'Small', email, password: 'password123' } });
    assert.equal(ok.status, 201, ok.text);
  });
});

describe('CORS allowlist (--cors-origin)', () => {
  let srv;
  before(async () => { srv = await startServer(['--cors-origin', 'https://a.example,https://b.example']); });
  after(async () => {
    await stopClean(srv);
  });

  test('an allowed origin is reflected', async () => {
    for (const origin of ['https://a.example', 'https://b.example']) {
      const r = await api(srv.url, 'GET', '/api/nope', { headers: { Origin: origin } });
      assert.equal(r.headers.get('access-control-allow-origin'), origin);
    }
  });

  test('another origin gets no Access-Control-Allow-Origin', async () => {
    for (const origin of ['http://localhost:3000', 'https://evil.example', 'https://a.example.evil.example', 'https://A.example.', 'null']) {
      const r = await api(srv.url, 'GET', '/api/nope', { headers: { Origin: origin } });
      const acao = r.headers.get('access-control-allow-origin');
      assert.ok(acao === null || acao !== origin, `${origin} must not be allowed (got ${acao})`);
      assert.notEqual(acao, '*');
    }
  });

  test('preflight from an allowed origin → 204 with CORS headers; from another → no allow-origin', async () => {
    const ok = await api(srv.url, 'OPTIONS', '/api/user/login', { headers: { Origin: 'https://a.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://a.example');
    assert.ok(ok.headers.get('access-control-allow-methods'));
    const bad = await api(srv.url, 'OPTIONS', '/api/user/login', { headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    const acao = bad.headers.get('access-control-allow-origin');
    assert.ok(acao === null || (acao !== 'https://evil.example' && acao !== '*'), `evil preflight got ${acao}`);
  });

  test('requests without an Origin header still work (non-browser clients)', async () => {
    const r = await api(srv.url, 'POST', '/api/user', { body: { name: 'No Origin', email: uniqueEmail('noorigin'), password: 'password123' } });
    assert.equal(r.status, 201, r.text);
  });
});
