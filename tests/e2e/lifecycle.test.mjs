// Process lifecycle: restart persistence, the generated JWT secret, logging, signals, token lifetime.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  startServer, api, register, registerMany, oneToOne, send, history, chatList, mkTmpDir, uniqueEmail, assertError,
  decodeJwt, signJwt, nowS, sleep, chatdBin, rawConnect,
  stopClean,
} from './harness.mjs';

const dirs = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
function tmp() { const d = mkTmpDir(); dirs.push(d); return d; }

describe('restart', () => {
  test('data and tokens survive a restart with the same data dir; jwt_secret is 0600', async () => {
    const dataDir = tmp();
    let srv = await startServer([], { dataDir });
    const password = `pw-${crypto.randomBytes(6).toString('hex')}`;
    const [a, b] = await Promise.all([
      register(srv.url, 'Persist A', { password }),
      register(srv.url, 'Persist B', { password }),
    ]);
    const chat = await oneToOne(srv.url, a, b);
    const m1 = await send(srv.url, a, chat._id, 'before restart', { clientMsgId: 'persist-1' });
    await stopClean(srv);

    const secretPath = path.join(dataDir, 'jwt_secret');
    assert.ok(fs.existsSync(secretPath), 'a generated secret is stored in <data-dir>/jwt_secret');
    const st = fs.statSync(secretPath);
    assert.equal(st.mode & 0o777, 0o600, `jwt_secret mode is ${(st.mode & 0o777).toString(8)}`);
    const secret1 = fs.readFileSync(secretPath);
    assert.ok(secret1.length >= 16, 'the secret is not trivially short');

    srv = await startServer([], { dataDir });
    try {
      // login works
      const l = await api(srv.url, 'POST', '/api/user/login', { body: { email: a.email.toUpperCase(), password } });
      assert.equal(l.status, 200, l.text);
      assert.equal(l.json._id, a._id);
      // the old token still works
      const list = await chatList(srv.url, a);
      assert.deepEqual(list.map((c) => c._id), [chat._id]);
      assert.equal(list[0].latestMessage._id, m1._id);
      // history persists, seq continues
      const h = await history(srv.url, b, chat._id);
      assert.deepEqual(h.map((m) => [m._id, m.seq, m.content]), [[m1._id, 1, 'before restart']]);
      const m2 = await send(srv.url, b, chat._id, 'after restart');
      assert.equal(m2.seq, 2);
      // the clientMsgId is remembered across the restart
      const retry = await send(srv.url, a, chat._id, 'retry after restart', { clientMsgId: 'persist-1' });
      assert.equal(retry._id, m1._id);
      assert.equal(retry.seq, 1);
      assert.equal(retry.content, 'before restart');
      // duplicate email is still refused
      const dup = await api(srv.url, 'POST', '/api/user', { body: { name: 'Dup', email: a.email, password } });
      assertError(dup, 400, 'invalid_input', 'User already exists');
      assert.deepEqual(fs.readFileSync(secretPath), secret1, 'the secret is reused, not regenerated');
    } finally {
      await stopClean(srv);
    }
  });

  test('with an explicit --jwt-secret, tokens signed with it work across restarts', async () => {
    const dataDir = tmp();
    const secret = `explicit-${crypto.randomBytes(8).toString('hex')}`;
    let srv = await startServer(['--jwt-secret', secret], { dataDir });
    const u = await register(srv.url, 'Explicit');
    await stopClean(srv);
    srv = await startServer(['--jwt-secret', secret], { dataDir });
    try {
      assert.equal((await api(srv.url, 'GET', '/api/chat', { token: u.token })).status, 200);
      const forged = signJwt({ id: u._id, sid: decodeJwt(u.token).payload.sid, iat: nowS(), exp: nowS() + 60 }, secret);
      assert.equal((await api(srv.url, 'GET', '/api/chat', { token: forged })).status, 200);
    } finally {
      await stopClean(srv);
    }
    // a different secret invalidates old tokens
    srv = await startServer(['--jwt-secret', `${secret}-rotated`], { dataDir });
    try {
      const r = await api(srv.url, 'GET', '/api/chat', { token: u.token });
      assertError(r, 401, 'unauthorized', 'Not authorized, token failed');
    } finally {
      await stopClean(srv);
    }
  });

  test('JWT_SECRET in the environment is used as the secret', async () => {
    const secret = `env-${crypto.randomBytes(8).toString('hex')}`;
    const srv = await startServer([], { env: { JWT_SECRET: secret } });
    try {
      const u = await register(srv.url, 'Env Secret');
      const [h, p, sig] = u.token.split('.');
      assert.equal(sig, crypto.createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url'));
      const forged = signJwt({ id: u._id, sid: decodeJwt(u.token).payload.sid, iat: nowS(), exp: nowS() + 60 }, secret);
      assert.equal((await api(srv.url, 'GET', '/api/chat', { token: forged })).status, 200);
    } finally {
      await stopClean(srv);
    }
  });
});

describe('--jwt-lifetime-s', () => {
  test('tokens expire after the configured lifetime', async () => {
    // iat and exp are whole seconds: a 1 s token issued at x.999 s is stale a millisecond later,
    // so the lifetime leaves room for the first request on a loaded machine.
    const srv = await startServer(['--jwt-lifetime-s', '3']);
    try {
      const u = await register(srv.url, 'Short Lived');
      const { payload } = decodeJwt(u.token);
      assert.equal(payload.exp - payload.iat, 3);
      assert.equal((await api(srv.url, 'GET', '/api/chat', { token: u.token })).status, 200);
      await sleep(4200);
      const r = await api(srv.url, 'GET', '/api/chat', { token: u.token });
      assertError(r, 401, 'unauthorized', 'Not authorized, token failed');
      // logging in again issues a fresh token
      const l = await api(srv.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password } });
      assert.equal(l.status, 200, l.text);
      assert.equal((await api(srv.url, 'GET', '/api/chat', { token: l.json.token })).status, 200);
    } finally {
      await stopClean(srv);
    }
  });
});

describe('logging', () => {
  test('one line per request (METHOD path status time), never a token or password', async () => {
    const srv = await startServer(['--log-level', 'info']);
    const password = `pw-SECRET-${crypto.randomBytes(6).toString('hex')}`;
    let u;
    try {
      u = await register(srv.url, 'Log User', { password });
      const l = await api(srv.url, 'POST', '/api/user/login', { body: { email: u.email, password } });
      assert.equal(l.status, 200);
      await api(srv.url, 'GET', '/api/chat', { token: u.token });
      await api(srv.url, 'GET', '/api/chat', { token: l.json.token });
      await api(srv.url, 'POST', '/api/user/login', { body: { email: u.email, password: `${password}-wrong` } });
      await api(srv.url, 'GET', '/api/nope');
      await sleep(200);
    } finally {
      await stopClean(srv);
    }
    const out = srv.output();
    assert.match(out, /POST \/api\/user 201 \d/);
    assert.match(out, /POST \/api\/user\/login 200 \d/);
    assert.match(out, /POST \/api\/user\/login 401 \d/);
    assert.match(out, /GET \/api\/chat 200 \d/);
    assert.match(out, /GET \/api\/nope 404 \d/);
    assert.ok(!out.includes(password), 'password never logged');
    assert.ok(!out.includes(u.token), 'token never logged');
    assert.ok(!out.includes(u.token.split('.')[2]), 'token signature never logged');
    assert.ok(!out.includes('$argon2'), 'hash never logged');
  });

  test('with no --jwt-secret the generated secret is never logged', async () => {
    const dataDir = tmp();
    const srv = await startServer(['--log-level', 'debug'], { dataDir });
    await register(srv.url, 'Secret Log');
    await stopClean(srv);
    const secret = fs.readFileSync(path.join(dataDir, 'jwt_secret'), 'utf8').trim();
    assert.ok(secret.length > 0);
    assert.ok(!srv.output().includes(secret), 'the secret is not in the log');
  });
});

describe('signals and CLI', () => {
  test('SIGINT → exit code 0', async () => {
    const srv = await startServer();
    await register(srv.url, 'Sigint');
    await stopClean(srv, 'SIGINT');
  });

  test('SIGTERM with an idle keep-alive connection open → exit 0 promptly', async () => {
    const srv = await startServer();
    const c = await rawConnect(srv.port);
    await c.write('GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await c.next()).status, 404);
    const t0 = Date.now();
    await stopClean(srv);
    const ms = Date.now() - t0;
    c.destroy();
    assert.ok(ms < 5000, `shutdown took ${ms} ms with an idle connection`);
  });

  test('SIGTERM right after a burst of writes → exit 0, and every acked message is there after restart', async () => {
    const dataDir = tmp();
    let srv = await startServer([], { dataDir });
    const [a, b] = await registerMany(srv.url, ['Burst A', 'Burst B']);
    const chat = await oneToOne(srv.url, a, b);
    const acked = await Promise.all(Array.from({ length: 40 }, (_, i) => send(srv.url, i % 2 ? a : b, chat._id, `burst ${i}`)));
    await stopClean(srv);
    srv = await startServer([], { dataDir });
    try {
      const h = await history(srv.url, a, chat._id, '?limit=200');
      assert.deepEqual(h.map((m) => m.seq), Array.from({ length: 40 }, (_, i) => i + 1));
      assert.deepEqual(new Set(h.map((m) => m._id)), new Set(acked.map((m) => m._id)));
    } finally {
      await stopClean(srv);
    }
  });

  test('--help prints usage and exits 0', () => {
    const r = spawnSync(chatdBin(), ['--help'], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0);
    const text = r.stdout + r.stderr;
    for (const opt of ['--port', '--data-dir', '--jwt-secret', '--web-root', '--max-body-bytes', '--read-timeout-ms']) {
      assert.ok(text.includes(opt), `--help mentions ${opt}`);
    }
  });

  test('two servers can run side by side on port 0 with separate data dirs', async () => {
    const [s1, s2] = await Promise.all([startServer(), startServer()]);
    try {
      assert.notEqual(s1.port, s2.port);
      const email = uniqueEmail('side');
      const body = { name: 'Side', email, password: 'password123' };
      assert.equal((await api(s1.url, 'POST', '/api/user', { body })).status, 201);
      assert.equal((await api(s2.url, 'POST', '/api/user', { body })).status, 201, 'separate data');
    } finally {
      await stopClean(s1);
      await stopClean(s2);
    }
  });
});
