// Sessions (API.md, "Sessions, 2FA, limits"): refresh tokens that rotate, reuse detection, logout
// and logout-all, the session list, revocation that cuts live sockets at once, password change,
// and the audit trail. Real binary, official client.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, api, register, nativeClient, classicClient, once, waitUntil, ms, connectError,
  startServer, stopClean, signJwt, nowS, ISO_RE,
} from './harness.mjs';
import { decodeJwt } from '../e2e/harness.mjs';

const SECRET = 'sessions-test-secret';
const FAILED = 'Not authorized, token failed';
const fx = fixture({ before, after, afterEach }, ['--jwt-secret', SECRET]);

async function login(user, headers = {}) {
  const r = await api(fx.url, 'POST', '/api/user/login',
    { body: { email: user.email, password: user.password }, headers });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function assertTokenFails(token, label) {
  const r = await api(fx.url, 'GET', '/api/chat', { token });
  assert.equal(r.status, 401, `${label}: ${r.text}`);
  assert.deepEqual(r.json, { message: FAILED, code: 'unauthorized' }, label);
}

async function assertTokenWorks(token, label) {
  const r = await api(fx.url, 'GET', '/api/chat', { token });
  assert.equal(r.status, 200, `${label}: ${r.text}`);
}

function disconnected(socket) {
  return once(socket, 'disconnect', { timeout: 5000 });
}

describe('sessions', () => {
  test('register and login answer a refresh token, and the JWT names the session', async () => {
    const u = await register(fx.url, 'Sess Shape');
    assert.match(u.refreshToken, /^[A-Za-z0-9_-]{43}$/);
    const { payload } = decodeJwt(u.token);
    assert.equal(payload.id, u._id);
    assert.equal(typeof payload.sid, 'string');
    const again = await login(u);
    assert.notEqual(decodeJwt(again.token).payload.sid, payload.sid, 'each login is a session');
    assert.notEqual(again.refreshToken, u.refreshToken);
  });

  test('refresh rotates: the new pair works, the old refresh token is spent', async () => {
    const u = await register(fx.url, 'Sess Rotate');
    const r = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['refreshToken', 'token']);
    assert.equal(decodeJwt(r.json.token).payload.sid, decodeJwt(u.token).payload.sid, 'same session');
    await assertTokenWorks(r.json.token, 'refreshed token');
    await assertTokenWorks(u.token, 'the first access token lives until it expires or is revoked');
    const next = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: r.json.refreshToken } });
    assert.equal(next.status, 200, next.text);
  });

  test('a spent refresh token presented again revokes the session and cuts its sockets', async () => {
    const u = await register(fx.url, 'Sess Theft');
    const other = await login(u);  // another device: untouched
    const socket = await nativeClient(fx.url, u.token);
    const gone = disconnected(socket);
    const first = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(first.status, 200);
    const reuse = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(reuse.status, 401, reuse.text);
    assert.equal(reuse.json.code, 'unauthorized');
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    await assertTokenFails(u.token, 'the stolen session\'s first token');
    await assertTokenFails(first.json.token, 'the thief\'s refreshed token');
    const thief = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: first.json.refreshToken } });
    assert.equal(thief.status, 401, 'the rotated token dies with its session');
    await assertTokenWorks(other.token, 'another session of the user');
    const audit = await api(fx.url, 'GET', '/api/auth/audit', { token: other.token });
    assert.ok(audit.json.some((e) => e.type === 'refresh_reuse'), JSON.stringify(audit.json));
  });

  test('refresh refuses garbage and missing tokens cleanly', async () => {
    for (const body of [{}, { refreshToken: '' }, { refreshToken: 'x'.repeat(43) }, { refreshToken: 42 }]) {
      const r = await api(fx.url, 'POST', '/api/auth/refresh', { body });
      assert.ok(r.status === 400 || r.status === 401, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message']);
    }
  });

  test('logout revokes at once: REST 401 and live native and classic sockets disconnected', async () => {
    const u = await register(fx.url, 'Sess Logout');
    const keep = await login(u);
    const native = await nativeClient(fx.url, u.token);
    const classic = await classicClient(fx.url, u);
    const survivor = await nativeClient(fx.url, keep.token);
    const nativeGone = disconnected(native);
    const classicGone = disconnected(classic);
    const r = await api(fx.url, 'POST', '/api/auth/logout', { token: u.token });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    await assertTokenFails(u.token, 'logged-out token');
    await Promise.all([nativeGone, classicGone]);
    assert.equal(survivor.connected, true, 'the other session keeps its socket');
    const err = await connectError(fx.url, { auth: { token: u.token } });
    assert.equal(err.message, FAILED);
    const refresh = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(refresh.status, 401, 'a logged-out session cannot be refreshed');
  });

  test('logout-all revokes every other session and keeps the caller\'s', async () => {
    const u = await register(fx.url, 'Sess All');
    const b = await login(u);
    const c = await login(u);
    const sb = await nativeClient(fx.url, b.token);
    const gone = disconnected(sb);
    const r = await api(fx.url, 'POST', '/api/auth/logout-all', { token: u.token });
    assert.equal(r.status, 204, r.text);
    await gone;
    await assertTokenFails(b.token, 'b');
    await assertTokenFails(c.token, 'c');
    await assertTokenWorks(u.token, 'the caller');
    const list = await api(fx.url, 'GET', '/api/auth/sessions', { token: u.token });
    assert.equal(list.json.length, 1);
    assert.equal(list.json[0].current, true);
  });

  test('the session list shows each live session; DELETE revokes one of the caller\'s only', async () => {
    const u = await register(fx.url, 'Sess List', {});
    const phone = await login(u, { 'user-agent': 'PhoneApp/1.0' });
    const list = await api(fx.url, 'GET', '/api/auth/sessions', { token: u.token });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.length, 2);
    for (const s of list.json) {
      assert.deepEqual(Object.keys(s).sort(), ['_id', 'createdAt', 'current', 'ip', 'lastUsedAt', 'userAgent']);
      assert.match(s.createdAt, ISO_RE);
      assert.match(s.lastUsedAt, ISO_RE);
      assert.equal(s.ip, '127.0.0.1');
    }
    const mine = list.json.find((s) => s.current);
    assert.equal(mine._id, decodeJwt(u.token).payload.sid);
    const phoneSession = list.json.find((s) => !s.current);
    assert.equal(phoneSession.userAgent, 'PhoneApp/1.0');

    const stranger = await register(fx.url, 'Sess Stranger');
    const notTheirs = await api(fx.url, 'DELETE', `/api/auth/sessions/${phoneSession._id}`, { token: stranger.token });
    assert.equal(notTheirs.status, 404, notTheirs.text);
    await assertTokenWorks(phone.token, 'a stranger cannot revoke it');

    const socket = await nativeClient(fx.url, phone.token);
    const gone = disconnected(socket);
    const del = await api(fx.url, 'DELETE', `/api/auth/sessions/${phoneSession._id}`, { token: u.token });
    assert.equal(del.status, 204, del.text);
    await gone;
    await assertTokenFails(phone.token, 'revoked from the list');
    const after = await api(fx.url, 'GET', '/api/auth/sessions', { token: u.token });
    assert.deepEqual(after.json.map((s) => s._id), [mine._id]);
    const unknown = await api(fx.url, 'DELETE', '/api/auth/sessions/nope', { token: u.token });
    assert.equal(unknown.status, 404);
  });

  test('a password change needs the current one and revokes every other session', async () => {
    const u = await register(fx.url, 'Sess Password');
    const other = await login(u);
    const wrong = await api(fx.url, 'PUT', '/api/user/password',
      { token: u.token, body: { currentPassword: 'not-it-at-all', newPassword: 'new-password-1' } });
    assert.equal(wrong.status, 401, wrong.text);
    const short = await api(fx.url, 'PUT', '/api/user/password',
      { token: u.token, body: { currentPassword: u.password, newPassword: 'short' } });
    assert.equal(short.status, 400, short.text);
    await assertTokenWorks(other.token, 'nothing changed by refused attempts');

    const socket = await nativeClient(fx.url, other.token);
    const gone = disconnected(socket);
    const ok = await api(fx.url, 'PUT', '/api/user/password',
      { token: u.token, body: { currentPassword: u.password, newPassword: 'new-password-1' } });
    assert.equal(ok.status, 204, ok.text);
    await gone;
    await assertTokenFails(other.token, 'the other session');
    await assertTokenWorks(u.token, 'the caller\'s session');
    const old = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password } });
    assert.equal(old.status, 401);
    const fresh = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: 'new-password-1' } });
    assert.equal(fresh.status, 200, fresh.text);
  });

  test('the audit trail lists the caller\'s security events, newest first, and no one else\'s', async () => {
    const u = await register(fx.url, 'Sess Audit');
    const bad = await api(fx.url, 'POST', '/api/user/login',
      { body: { email: u.email, password: 'wrong-password' }, headers: { 'user-agent': 'Guesser' } });
    assert.equal(bad.status, 401);
    const second = await login(u);
    await api(fx.url, 'POST', '/api/auth/logout', { token: second.token });
    const r = await api(fx.url, 'GET', '/api/auth/audit', { token: u.token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.map((e) => e.type), ['logout', 'login', 'login_failed', 'login']);
    for (const e of r.json) {
      assert.deepEqual(Object.keys(e).sort(), ['_id', 'at', 'ip', 'type', 'userAgent']);
      assert.match(e.at, ISO_RE);
      assert.equal(e.ip, '127.0.0.1');
    }
    assert.equal(r.json[2].userAgent, 'Guesser');
    const page = await api(fx.url, 'GET', `/api/auth/audit?limit=2&before=${r.json[1]._id}`, { token: u.token });
    assert.deepEqual(page.json.map((e) => e.type), ['login_failed', 'login']);
    const stranger = await register(fx.url, 'Sess Audit Other');
    const theirs = await api(fx.url, 'GET', '/api/auth/audit', { token: stranger.token });
    assert.deepEqual(theirs.json.map((e) => e.type), ['login']);
    const anon = await api(fx.url, 'GET', '/api/auth/audit');
    assert.equal(anon.status, 401);
  });

  test('tokens without a session are refused unless --accept-sessionless-tokens', async () => {
    const u = await register(fx.url, 'Sess Legacy');
    const classic = signJwt({ id: u._id, iat: nowS(), exp: nowS() + 3600 }, SECRET);
    await assertTokenFails(classic, 'sessionless by default');
    const forged = signJwt({ id: u._id, sid: 'not-a-session', iat: nowS(), exp: nowS() + 3600 }, SECRET);
    await assertTokenFails(forged, 'unknown session');
    const stolen = signJwt({ id: 'someone-else', sid: decodeJwt(u.token).payload.sid, iat: nowS(), exp: nowS() + 3600 }, SECRET);
    await assertTokenFails(stolen, 'a session paired with another user');

    const legacy = await startServer(['--jwt-secret', SECRET, '--accept-sessionless-tokens'],
      { dataDir: undefined });
    try {
      const v = await register(legacy.url, 'Legacy User');
      const t = signJwt({ id: v._id, iat: nowS(), exp: nowS() + 3600 }, SECRET);
      const r = await api(legacy.url, 'GET', '/api/chat', { token: t });
      assert.equal(r.status, 200, r.text);
    } finally {
      await stopClean(legacy);
    }
  });

  test('revocation reaches every network thread (sockets spread over threads)', async () => {
    const u = await register(fx.url, 'Sess Threads');
    const sockets = [];
    for (let i = 0; i < 8; i += 1) sockets.push(await nativeClient(fx.url, u.token));
    const gone = sockets.map(disconnected);
    const r = await api(fx.url, 'POST', '/api/auth/logout', { token: u.token });
    assert.equal(r.status, 204);
    await Promise.all(gone);
    await waitUntil(() => sockets.every((s) => !s.connected), { timeout: ms(2000) });
  });
});
