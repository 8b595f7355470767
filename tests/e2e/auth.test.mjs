// Tokens and the authorization matrix: every protected route x every bad token, non-members, non-admins.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  serverFixture, api, register, registerMany, uniq, assertError, oneToOne, createGroup, send, history, chatList,
  signJwt, algNoneJwt, nowS, fakeId, sortedIds, ids, b64url, decodeJwt,
} from './harness.mjs';

const SECRET = `e2e-secret-${crypto.randomBytes(8).toString('hex')}`;
const fx = serverFixture(['--jwt-secret', SECRET]);
before(fx.start);
after(fx.stop);

const NO_TOKEN = 'Not authorized, no token';
const FAILED = 'Not authorized, token failed';

function assertUnauthorized(r, message, label) {
  assertError(r, 401, 'unauthorized', message);
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${label}: no data beside the error: ${r.text}`);
}

describe('tokens', () => {
  let u;
  before(async () => { u = await register(fx.url, 'Tok Owner'); });

  test('a forged token with the right secret works (HS256 {id, sid, iat, exp})', async () => {
    const t = signJwt({ id: u._id, sid: decodeJwt(u.token).payload.sid, iat: nowS(), exp: nowS() + 3600 }, SECRET);
    const r = await api(fx.url, 'GET', '/api/chat', { token: t });
    assert.equal(r.status, 200, r.text);
  });

  test('the issued token is signed with --jwt-secret', async () => {
    const [h, p, sig] = u.token.split('.');
    const expect = crypto.createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
    assert.equal(sig, expect);
    assert.equal(decodeJwt(u.token).payload.id, u._id);
  });

  const bad = () => ({
    'no Authorization header': [undefined, NO_TOKEN],
    'malformed token': ['not-a-jwt', FAILED],
    'three garbage parts': ['abc.def.ghi', FAILED],
    'bad signature': [signJwt({ id: u._id, iat: nowS(), exp: nowS() + 3600 }, 'wrong-secret'), FAILED],
    'tampered payload': [(() => { const [h, , s] = u.token.split('.'); return `${h}.${b64url({ id: fakeId(), iat: nowS(), exp: nowS() + 3600 })}.${s}`; })(), FAILED],
    'alg none': [algNoneJwt({ id: u._id, iat: nowS(), exp: nowS() + 3600 }), FAILED],
    'alg none with the valid signature kept': [(() => { const [, p, s] = u.token.split('.'); return `${b64url({ alg: 'none', typ: 'JWT' })}.${p}.${s}`; })(), FAILED],
    'alg HS512 with the right secret': [signJwt({ id: u._id, iat: nowS(), exp: nowS() + 3600 }, SECRET, { alg: 'HS512', typ: 'JWT' }, 'sha512'), FAILED],
    expired: [signJwt({ id: u._id, iat: nowS() - 7200, exp: nowS() - 3600 }, SECRET), FAILED],
    'valid signature, unknown user id': [signJwt({ id: fakeId(), iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
    'valid signature, id not a string': [signJwt({ id: 12345, iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
    'valid signature, no id': [signJwt({ iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
    'valid signature, no exp': [signJwt({ id: u._id, iat: nowS() }, SECRET), null],
  });

  test('every bad token → 401 with the right message', async () => {
    for (const [label, [token, message]] of Object.entries(bad())) {
      const r = await api(fx.url, 'GET', '/api/chat', { token });
      if (message === null) {
        // a token without exp: accepting it is a policy choice, but if refused it must be a clean 401
        if (r.status !== 200) assertUnauthorized(r, FAILED, label);
        continue;
      }
      assert.equal(r.status, 401, `${label}: ${r.text}`);
      assertUnauthorized(r, message, label);
    }
  });

  test('Authorization header variants', async () => {
    let r = await api(fx.url, 'GET', '/api/chat', { headers: { authorization: `bearer ${u.token}` } });
    assert.ok(r.status === 200 || r.status === 401, r.text);
    r = await api(fx.url, 'GET', '/api/chat', { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    assertError(r, 401, 'unauthorized');
    r = await api(fx.url, 'GET', '/api/chat', { headers: { authorization: 'Bearer' } });
    assertError(r, 401, 'unauthorized');
    r = await api(fx.url, 'GET', '/api/chat', { headers: { authorization: 'Bearer ' } });
    assertError(r, 401, 'unauthorized');
    r = await api(fx.url, 'GET', '/api/chat', { headers: { authorization: `Bearer ${u.token}x` } });
    assertUnauthorized(r, FAILED, 'trailing junk');
  });

  test('public routes need no token', async () => {
    const r = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password } });
    assert.equal(r.status, 200, r.text);
  });
});

describe('authorization matrix', () => {
  // Fixture: a (admin) with b, c in group g; a and b in 1:1 chat one; n is in neither; messages exist in both.
  let a; let b; let c; let n; let victim; let g; let one; let gm; let om; let revoked;

  before(async () => {
    [a, b, c, n, victim] = await registerMany(fx.url, ['Mx Admin', 'Mx Member', 'Mx Member2', 'Mx Outsider', 'Mx Victim']);
    // A token of a's that was logged out: valid signature, live user, revoked session.
    const other = await api(fx.url, 'POST', '/api/user/login', { body: { email: a.email, password: a.password } });
    revoked = other.json.token;
    assert.equal((await api(fx.url, 'POST', '/api/auth/logout', { token: revoked })).status, 204);
    g = await createGroup(fx.url, a, [b, c], uniq('Matrix group'));
    one = await oneToOne(fx.url, a, b);
    gm = await send(fx.url, a, g._id, 'group message');
    om = await send(fx.url, b, one._id, 'one message');
  });

  // Every protected route; chatScoped routes also get the non-member check; adminOnly ones the
  // non-admin (group) check; serverAdmin ones the non-admin (server) check.
  const routes = () => [
    { name: 'GET /api/user', method: 'GET', path: '/api/user?search=Mx' },
    { name: 'POST /api/chat', method: 'POST', path: '/api/chat', body: { userId: victim._id } },
    { name: 'GET /api/chat', method: 'GET', path: '/api/chat' },
    { name: 'POST /api/chat/group', method: 'POST', path: '/api/chat/group', body: { name: 'evil', users: JSON.stringify([b._id, victim._id]) } },
    { name: 'PUT /api/chat/rename', method: 'PUT', path: '/api/chat/rename', body: { chatId: g._id, chatName: 'pwned' }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/grouprename', method: 'PUT', path: '/api/chat/grouprename', body: { chatId: g._id, chatName: 'pwned' }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/groupRename', method: 'PUT', path: '/api/chat/groupRename', body: { chatId: g._id, chatName: 'pwned' }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/groupadd', method: 'PUT', path: '/api/chat/groupadd', body: { chatId: g._id, userId: victim._id }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/groupremove', method: 'PUT', path: '/api/chat/groupremove', body: { chatId: g._id, userId: c._id }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/groupadmin', method: 'PUT', path: '/api/chat/groupadmin', body: { chatId: g._id, userId: b._id, admin: true }, chatScoped: true, adminOnly: true },
    { name: 'POST /api/message (group)', method: 'POST', path: '/api/message', body: { chatId: g._id, content: 'injected' }, chatScoped: true },
    { name: 'POST /api/message (1:1)', method: 'POST', path: '/api/message', body: { chatId: one._id, content: 'injected' }, chatScoped: true },
    { name: 'GET /api/message/:chatId', method: 'GET', path: `/api/message/${g._id}`, chatScoped: true },
    { name: 'GET /api/message/:chatId (1:1)', method: 'GET', path: `/api/message/${one._id}`, chatScoped: true },
    { name: 'GET /api/message/:chatId/:messageId/status', method: 'GET', path: `/api/message/${g._id}/${gm._id}/status`, chatScoped: true },
    { name: 'GET status (1:1)', method: 'GET', path: `/api/message/${one._id}/${om._id}/status`, chatScoped: true },
    { name: 'POST /api/auth/logout', method: 'POST', path: '/api/auth/logout' },
    { name: 'POST /api/auth/logout-all', method: 'POST', path: '/api/auth/logout-all' },
    { name: 'GET /api/auth/sessions', method: 'GET', path: '/api/auth/sessions' },
    { name: 'DELETE /api/auth/sessions/:id', method: 'DELETE', path: `/api/auth/sessions/${decodeJwt(a.token).payload.sid}` },
    { name: 'PUT /api/user/password', method: 'PUT', path: '/api/user/password', body: { currentPassword: 'password123', newPassword: 'taken-over-1' } },
    { name: 'GET /api/auth/audit', method: 'GET', path: '/api/auth/audit' },
    { name: 'POST /api/auth/2fa/setup', method: 'POST', path: '/api/auth/2fa/setup' },
    { name: 'POST /api/auth/2fa/enable', method: 'POST', path: '/api/auth/2fa/enable', body: { code: '123456' } },
    { name: 'POST /api/auth/2fa/disable', method: 'POST', path: '/api/auth/2fa/disable', body: { password: 'password123', code: '123456' } },
    { name: 'GET /api/user/me', method: 'GET', path: '/api/user/me' },
    { name: 'PUT /api/user/me', method: 'PUT', path: '/api/user/me', body: { name: 'pwned', pic: 'https://evil.example/p.png' } },
    { name: 'DELETE /api/user/me', method: 'DELETE', path: '/api/user/me', body: { password: 'password123' } },
    { name: 'GET /api/user/me/export', method: 'GET', path: '/api/user/me/export' },
    { name: 'PUT /api/chat/retention', method: 'PUT', path: '/api/chat/retention', body: { chatId: g._id, days: 1 }, chatScoped: true, adminOnly: true },
    { name: 'PUT /api/chat/retention (1:1)', method: 'PUT', path: '/api/chat/retention', body: { chatId: one._id, days: 1 }, chatScoped: true },
    { name: 'GET /api/admin/users', method: 'GET', path: '/api/admin/users', serverAdmin: true },
    { name: 'PUT /api/admin/users/:id', method: 'PUT', path: `/api/admin/users/${victim._id}`, body: { disabled: true }, serverAdmin: true },
    { name: 'DELETE /api/admin/users/:id', method: 'DELETE', path: `/api/admin/users/${victim._id}`, serverAdmin: true },
    { name: 'GET /api/admin/audit', method: 'GET', path: '/api/admin/audit', serverAdmin: true },
  ];

  // Each names a's live session, so that only what the label says is wrong.
  const badTokens = () => {
    const sid = decodeJwt(a.token).payload.sid;
    return {
      'no token': [undefined, NO_TOKEN],
      'malformed token': ['eyJhbGciOi.malformed', FAILED],
      'bad signature': [signJwt({ id: a._id, sid, iat: nowS(), exp: nowS() + 3600 }, `${SECRET}-not`), FAILED],
      'alg none': [algNoneJwt({ id: a._id, sid, iat: nowS(), exp: nowS() + 3600 }), FAILED],
      expired: [signJwt({ id: a._id, sid, iat: nowS() - 100, exp: nowS() - 10 }, SECRET), FAILED],
      'unknown user': [signJwt({ id: fakeId(), sid, iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
      'revoked session': [revoked, FAILED],
      'unknown session': [signJwt({ id: a._id, sid: fakeId(), iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
      'no session': [signJwt({ id: a._id, iat: nowS(), exp: nowS() + 3600 }, SECRET), FAILED],
    };
  };

  async function snapshot() {
    const gh = await history(fx.url, a, g._id);
    const oh = await history(fx.url, a, one._id);
    const la = await chatList(fx.url, a);
    const gl = la.find((x) => x._id === g._id);
    const vl = await chatList(fx.url, victim);
    const nl = await chatList(fx.url, n);
    const gs = await api(fx.url, 'GET', `/api/message/${g._id}/${gm._id}/status`, { token: a.token });
    const ol = la.find((x) => x._id === one._id);
    const me = async (u) => {
      const r = await api(fx.url, 'GET', '/api/user/me', { token: u.token });
      return [r.status, r.json];
    };
    // b's admin rights (b must still be unable to rename)
    return {
      groupHistory: gh.map((m) => [m._id, m.seq, m.content]),
      oneHistory: oh.map((m) => [m._id, m.seq, m.content]),
      groupName: gl.chatName,
      groupUsers: sortedIds(gl.users),
      groupAdmin: gl.groupAdmin._id,
      aChats: ids(la).sort(),
      victimChats: ids(vl),
      outsiderChats: ids(nl),
      groupStatus: gs.json,
      groupRetention: gl.retentionDays ?? null,
      oneRetention: ol.retentionDays ?? null,
      // profiles: a's untouched, and the victim neither disabled (401) nor erased
      profiles: [await me(a), await me(victim)],
    };
  }

  async function assertBNotAdmin() {
    const r = await api(fx.url, 'PUT', '/api/chat/rename', { token: b.token, body: { chatId: g._id, chatName: 'b-probe' } });
    assertError(r, 403, 'forbidden');
  }

  test('every protected route x every bad token → 401, no data, nothing changed', async () => {
    const before1 = await snapshot();
    let count = 0;
    for (const route of routes()) {
      for (const [label, [token, message]] of Object.entries(badTokens())) {
        const r = await api(fx.url, route.method, route.path, { token, body: route.body });
        assert.equal(r.status, 401, `${route.name} with ${label}: expected 401, got ${r.status} ${r.text}`);
        assertUnauthorized(r, message, `${route.name} with ${label}`);
        count += 1;
      }
    }
    assert.equal(count, 35 * 9);
    assert.deepEqual(await snapshot(), before1, 'refused requests changed nothing');
    const sessions = await api(fx.url, 'GET', '/api/auth/sessions', { token: a.token });
    assert.equal(sessions.json.length, 1, 'a\'s session survived every refused logout');
    const login = await api(fx.url, 'POST', '/api/user/login', { body: { email: a.email, password: a.password } });
    assert.equal(login.status, 200, 'the password was not changed');
    await api(fx.url, 'POST', '/api/auth/logout', { token: login.json.token });
    await assertBNotAdmin();
  });

  test('chat-scoped routes x non-member → 403 not_member, nothing changed', async () => {
    const before1 = await snapshot();
    for (const route of routes().filter((x) => x.chatScoped)) {
      const r = await api(fx.url, route.method, route.path, { token: n.token, body: route.body });
      assertError(r, 403, 'not_member');
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${route.name}: no data leaked`);
      assert.ok(!r.text.includes('group message') && !r.text.includes('one message'), `${route.name}: no content leaked`);
    }
    // c is a member of the group but not of the 1:1 chat
    for (const route of routes().filter((x) => x.chatScoped && /1:1/.test(x.name))) {
      const r = await api(fx.url, route.method, route.path, { token: c.token, body: route.body });
      assertError(r, 403, 'not_member');
    }
    assert.deepEqual(await snapshot(), before1, 'refused requests changed nothing');
    await assertBNotAdmin();
  });

  test('group-admin routes x non-admin member → 403 forbidden, nothing changed', async () => {
    const before1 = await snapshot();
    for (const route of routes().filter((x) => x.adminOnly)) {
      for (const member of [b, c]) {
        const body = { ...route.body };
        if (route.name === 'PUT /api/chat/groupremove' && member === c) body.userId = b._id; // c removing b
        if (route.name === 'PUT /api/chat/groupadmin') body.userId = member._id; // self-promotion
        const r = await api(fx.url, route.method, route.path, { token: member.token, body });
        assertError(r, 403, 'forbidden');
        assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message']);
      }
    }
    assert.deepEqual(await snapshot(), before1, 'refused requests changed nothing');
    await assertBNotAdmin();
  });

  test('server-admin routes x valid non-admin token → 403 forbidden, nothing changed', async () => {
    const before1 = await snapshot();
    const adminRoutes = routes().filter((x) => x.serverAdmin);
    assert.equal(adminRoutes.length, 4);
    for (const route of adminRoutes) {
      // a is a group admin, b and c members, n in no chat: none of them is a server admin
      for (const [who, user] of [['a', a], ['b', b], ['c', c], ['n', n]]) {
        const r = await api(fx.url, route.method, route.path, { token: user.token, body: route.body });
        assertError(r, 403, 'forbidden');
        assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${route.name} as ${who}: no data leaked`);
        assert.ok(!r.text.includes(victim.email), `${route.name} as ${who}: no user data`);
      }
    }
    assert.deepEqual(await snapshot(), before1, 'refused requests changed nothing');
    // the victim was neither disabled nor erased: it can still log in and is still found by name
    const login = await api(fx.url, 'POST', '/api/user/login', { body: { email: victim.email, password: victim.password } });
    assert.equal(login.status, 200, `the victim can still log in: ${login.text}`);
    await api(fx.url, 'POST', '/api/auth/logout', { token: login.json.token });
    const found = await api(fx.url, 'GET', `/api/user?search=${encodeURIComponent(victim.email)}`, { token: n.token });
    assert.deepEqual(ids(found.json), [victim._id], found.text);
    assert.equal(found.json[0].name, victim.name);
  });

  test('members can still do what they may (sanity check of the fixture)', async () => {
    for (const u of [a, b, c]) {
      const r = await api(fx.url, 'GET', `/api/message/${g._id}`, { token: u.token });
      assert.equal(r.status, 200, r.text);
      const s = await api(fx.url, 'GET', `/api/message/${g._id}/${gm._id}/status`, { token: u.token });
      assert.equal(s.status, 200, s.text);
    }
    const r = await api(fx.url, 'PUT', '/api/chat/rename', { token: a.token, body: { chatId: g._id, chatName: 'admin may' } });
    assert.equal(r.status, 200, r.text);
    // the group admin may set the group's retention, and either member that of a 1:1 chat
    const gr = await api(fx.url, 'PUT', '/api/chat/retention', { token: a.token, body: { chatId: g._id, days: 30 } });
    assert.equal(gr.status, 200, gr.text);
    assert.equal(gr.json.retentionDays, 30);
    const or = await api(fx.url, 'PUT', '/api/chat/retention', { token: b.token, body: { chatId: one._id, days: 7 } });
    assert.equal(or.status, 200, or.text);
    const seen = await chatList(fx.url, c);
    assert.equal(seen.find((x) => x._id === g._id).retentionDays, 30, 'another member sees the retention');
  });
});

describe('no cross-user data exposure', () => {
  test('a user never sees another user\'s chats or messages through any listing', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Priv X', 'Priv Y', 'Priv Z']);
    const c = await oneToOne(fx.url, x, y);
    await send(fx.url, x, c._id, 'secret between x and y');
    const lz = await api(fx.url, 'GET', '/api/chat', { token: z.token });
    assert.equal(lz.status, 200);
    assert.ok(!lz.text.includes('secret between x and y'));
    assert.ok(!lz.text.includes(c._id));
  });

  test('setting someone else\'s id in the body does not impersonate them', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Imp X', 'Imp Y', 'Imp Z']);
    const c = await oneToOne(fx.url, x, y);
    const r = await api(fx.url, 'POST', '/api/message', { token: z.token, body: { chatId: c._id, content: 'spoof', sender: x._id, userId: x._id } });
    assertError(r, 403, 'not_member');
    const m = await send(fx.url, y, c._id, 'real', { sender: x._id });
    assert.equal(m.sender._id, y._id, 'sender comes from the token');
  });
});
