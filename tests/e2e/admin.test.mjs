// Server admins (API.md, "Privacy"): the user list, disabling and enabling accounts (which cuts
// every session at once, live sockets included), erasure by an admin, the audit trail of every
// user, the role granted and revoked with `chatd admin grant|revoke EMAIL` and read from the store
// on every request, and --admin-allow-ip. The bad-token and non-admin rows of these routes are in
// auth.test.mjs (authorization matrix). Real binary; sockets through the official client.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  fixture, api, register, nativeClient, connectError, once, pool, range, startServer, stopClean,
  oneToOne, createGroup, send, history, uniq, fakeId, ID_RE, ISO_RE,
} from '../realtime/harness.mjs';
import {
  chatdBin, databaseUrlOf, assertError, assertNoSecrets, chatList,
} from './harness.mjs';

const FAILED = 'Not authorized, token failed';
const ADMIN_USER_KEYS = ['_id', 'createdAt', 'disabled', 'email', 'isAdmin', 'name', 'pic'];
const ADMIN_AUDIT_KEYS = ['_id', 'at', 'ip', 'type', 'userAgent', 'userId'];

const fx = fixture({ before, after, afterEach });

/** `chatd admin grant|revoke EMAIL` on the store of the server that ran on `dataDir`. */
function adminCli(verb, email, dataDir) {
  const url = databaseUrlOf(dataDir);
  const where = url ? ['--database-url', url] : ['--data-dir', dataDir];
  const r = spawnSync(chatdBin(), ['admin', verb, email, ...where],
    { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
  assert.equal(r.status, 0, `chatd admin ${verb} ${email}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
}

async function newAdmin(name, srv = fx.srv) {
  const u = await register(srv.url, name);
  adminCli('grant', u.email, srv.dataDir);
  return u;
}

async function login(user, headers = {}) {
  return api(fx.url, 'POST', '/api/user/login', { body: { email: user.email, password: user.password }, headers });
}

async function assertTokenFails(token, label) {
  const r = await api(fx.url, 'GET', '/api/chat', { token });
  assert.equal(r.status, 401, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(r.json, { message: FAILED, code: 'unauthorized' }, label);
}

async function assertTokenWorks(token, label) {
  const r = await api(fx.url, 'GET', '/api/chat', { token });
  assert.equal(r.status, 200, `${label}: ${r.status} ${r.text}`);
}

/** GET /api/admin/users with `query` (an object); asserts 200 and the admin shape of each entry. */
async function listUsers(admin, query = {}) {
  const qs = new URLSearchParams(query).toString();
  const r = await api(fx.url, 'GET', `/api/admin/users${qs ? `?${qs}` : ''}`, { token: admin.token });
  assert.equal(r.status, 200, `admin users ${qs}: ${r.status} ${r.text}`);
  assert.ok(Array.isArray(r.json), `an array: ${r.text.slice(0, 300)}`);
  for (const u of r.json) assertAdminUser(u);
  return r.json;
}

function assertAdminUser(u, expected) {
  assert.deepEqual(Object.keys(u).sort(), ADMIN_USER_KEYS, `admin user shape: ${JSON.stringify(u)}`);
  assert.match(u._id, ID_RE);
  assert.equal(typeof u.name, 'string');
  assert.equal(typeof u.email, 'string');
  assert.equal(typeof u.pic, 'string');
  assert.equal(typeof u.isAdmin, 'boolean');
  assert.equal(typeof u.disabled, 'boolean');
  assert.match(u.createdAt, ISO_RE);
  assertNoSecrets(u, 'admin user');
  if (expected) {
    for (const k of Object.keys(expected)) assert.deepEqual(u[k], expected[k], `${k} of ${JSON.stringify(u)}`);
  }
}

async function adminAudit(admin, query) {
  const r = await api(fx.url, 'GET', `/api/admin/audit${query ? `?${query}` : ''}`, { token: admin.token });
  assert.equal(r.status, 200, `admin audit ${query}: ${r.status} ${r.text}`);
  assert.ok(Array.isArray(r.json), r.text);
  for (const e of r.json) {
    assert.deepEqual(Object.keys(e).sort(), ADMIN_AUDIT_KEYS, `admin audit event shape: ${JSON.stringify(e)}`);
    assert.equal(typeof e._id, 'string');
    assert.equal(typeof e.type, 'string');
    assert.match(e.at, ISO_RE);
  }
  return r.json;
}

/** The expected admin-list order: name case-insensitively, then id. */
function byNameThenId(a, b) {
  const x = a.name.toLowerCase();
  const y = b.name.toLowerCase();
  if (x !== y) return x < y ? -1 : 1;
  return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
}

describe('server admins', () => {
  let boss;
  before(async () => { boss = await newAdmin('Admin Boss'); });

  test('a grant takes effect at once on a token issued before it; the admin lists themself', async () => {
    const u = await register(fx.url, uniq('Granted '));
    assert.equal(u.isAdmin, false);
    const refused = await api(fx.url, 'GET', '/api/admin/users', { token: u.token });
    assertError(refused, 403, 'forbidden');
    adminCli('grant', u.email, fx.srv.dataDir);
    const list = await listUsers(u, { search: u.email });
    assert.equal(list.length, 1, JSON.stringify(list));
    assertAdminUser(list[0], { _id: u._id, name: u.name, email: u.email, pic: u.pic, isAdmin: true, disabled: false });
    const audit = await api(fx.url, 'GET', '/api/admin/audit?limit=1', { token: u.token });
    assert.equal(audit.status, 200, 'the same token, without a new login');
    const everyone = await listUsers(u, { limit: 100 });
    assert.ok(everyone.some((x) => x._id === boss._id && x.isAdmin === true), 'the other admin is listed as one');
  });

  test('the user list: by name case-insensitively then id, search on name or email, limit and offset', async () => {
    const T = uniq('Lst');
    const names = [`${T} bravo`, `${T} Alpha`, `${T} charlie`, `${T} alpha`, `${T} ALPHA`, `${T} Bravo`];
    const users = [];
    for (const n of names) users.push(await register(fx.url, n));
    const expected = users.slice().sort(byNameThenId).map((u) => u._id);

    const all = await listUsers(boss, { search: T });
    assert.deepEqual(all.map((u) => u._id), expected, `order: ${all.map((u) => u.name).join(', ')}`);
    for (const u of all) {
      const reg = users.find((x) => x._id === u._id);
      assertAdminUser(u, { name: reg.name, email: reg.email, pic: reg.pic, isAdmin: false, disabled: false });
    }
    const upper = await listUsers(boss, { search: T.toUpperCase() });
    assert.deepEqual(upper.map((u) => u._id), expected, 'the search ignores case');
    const bravo = await listUsers(boss, { search: `${T} BRAVO` });
    assert.deepEqual(bravo.map((u) => u.name).sort(), [`${T} Bravo`, `${T} bravo`]);

    const page = await listUsers(boss, { search: T, limit: 2, offset: 1 });
    assert.deepEqual(page.map((u) => u._id), expected.slice(1, 3));
    const tail = await listUsers(boss, { search: T, offset: 5 });
    assert.deepEqual(tail.map((u) => u._id), expected.slice(5));
    assert.deepEqual(await listUsers(boss, { search: T, offset: 6 }), []);

    // the email matches too, in any case, while the name does not hold the term
    const E = uniq('mailonly');
    const byMail = await register(fx.url, 'Plain Person', { email: `${E}@admin-search.example` });
    const found = await listUsers(boss, { search: `${E.toUpperCase()}@ADMIN-SEARCH` });
    assert.deepEqual(found.map((u) => u._id), [byMail._id]);
    assert.equal(found[0].email, byMail.email);

    // an erased user is not listed
    const gone = await register(fx.url, `${T} delta`);
    assert.ok((await listUsers(boss, { search: T })).some((u) => u._id === gone._id), 'listed before erasure');
    const erase = await api(fx.url, 'DELETE', '/api/user/me', { token: gone.token, body: { password: gone.password } });
    assert.equal(erase.status, 204, erase.text);
    assert.deepEqual((await listUsers(boss, { search: T })).map((u) => u._id), expected, 'not listed once erased');
    assert.deepEqual(await listUsers(boss, { search: 'Deleted user' }), [], 'not under the erased name either');
  });

  test('% and _ in the search are literal characters', async () => {
    const W = uniq('Wild');
    const [pct, pctLike, und, undLike] = [
      await register(fx.url, `${W} 100%off`), await register(fx.url, `${W} 100xoff`),
      await register(fx.url, `${W} a_b`), await register(fx.url, `${W} axb`),
    ];
    assert.equal((await listUsers(boss, { search: W })).length, 4, 'the fixture');
    assert.deepEqual((await listUsers(boss, { search: `${W} 100%` })).map((u) => u._id), [pct._id], '% is literal');
    assert.deepEqual((await listUsers(boss, { search: `${W} a_b` })).map((u) => u._id), [und._id], '_ is literal');
    assert.deepEqual((await listUsers(boss, { search: `${W} 100x` })).map((u) => u._id), [pctLike._id]);
    assert.deepEqual((await listUsers(boss, { search: `${W} ax` })).map((u) => u._id), [undLike._id]);
    assert.deepEqual(await listUsers(boss, { search: `${W}%` }), [], 'no user holds "%" right after the tag');
  });

  test('limit: 50 by default, 100 at most; bad limits and offsets are refused', async () => {
    const L = uniq('Lim');
    const users = await pool(range(0, 100), 8,
      (i) => register(fx.url, `${L} n${String(i).padStart(3, '0')}`));
    const expected = users.slice().sort(byNameThenId).map((u) => u._id);
    assert.equal(expected.length, 101);
    assert.deepEqual((await listUsers(boss, { search: L })).map((u) => u._id), expected.slice(0, 50), 'default 50');
    assert.deepEqual((await listUsers(boss, { search: L, limit: 100 })).map((u) => u._id), expected.slice(0, 100));
    assert.deepEqual((await listUsers(boss, { search: L, limit: 1000 })).map((u) => u._id), expected.slice(0, 100),
      'a limit over 100 gives 100');
    assert.deepEqual((await listUsers(boss, { search: L, limit: 100, offset: 100 })).map((u) => u._id), expected.slice(100));
    for (const q of ['limit=0', 'limit=-1', 'offset=-1', 'limit=abc']) {
      const r = await api(fx.url, 'GET', `/api/admin/users?search=${L}&${q}`, { token: boss.token });
      assertError(r, 400, 'invalid_input');
    }
  });

  test('disabling cuts every session at once (REST 401, live socket dropped), login 403; enabling lets them back in', async () => {
    const target = await register(fx.url, uniq('Disabled '));
    const second = (await login(target)).json;
    const bystander = await register(fx.url, uniq('Bystander '));
    const socket = await nativeClient(fx.url, target.token);
    const otherSocket = await nativeClient(fx.url, second.token);
    const bystanderSocket = await nativeClient(fx.url, bystander.token);
    const gone = once(socket, 'disconnect');
    const otherGone = once(otherSocket, 'disconnect');

    const r = await api(fx.url, 'PUT', `/api/admin/users/${target._id}`, { token: boss.token, body: { disabled: true } });
    assert.equal(r.status, 200, r.text);
    assertAdminUser(r.json, { _id: target._id, name: target.name, email: target.email, pic: target.pic, isAdmin: false, disabled: true });

    await assertTokenFails(target.token, 'the first session');
    await assertTokenFails(second.token, 'the second session');
    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    await otherGone;
    assert.equal(bystanderSocket.connected, true, 'another user keeps their socket');
    await assertTokenWorks(bystander.token, 'another user');
    const err = await connectError(fx.url, { auth: { token: target.token } });
    assert.equal(err.message, FAILED);
    const refresh = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: second.refreshToken } });
    assert.ok(refresh.status === 401 || refresh.status === 403, `refresh of a disabled user's session: ${refresh.status} ${refresh.text}`);
    const refused = await login(target);
    assertError(refused, 403, 'forbidden');
    assert.deepEqual(Object.keys(refused.json).sort(), ['code', 'message'], 'no token for a disabled account');
    const wrongPassword = await api(fx.url, 'POST', '/api/user/login', { body: { email: target.email, password: 'not-the-password' } });
    assert.equal(wrongPassword.status, 401, 'a wrong password is still just a wrong password');
    const listed = await listUsers(boss, { search: target.email });
    assertAdminUser(listed[0], { _id: target._id, disabled: true });

    const enable = await api(fx.url, 'PUT', `/api/admin/users/${target._id}`, { token: boss.token, body: { disabled: false } });
    assert.equal(enable.status, 200, enable.text);
    assertAdminUser(enable.json, { _id: target._id, email: target.email, isAdmin: false, disabled: false });
    await assertTokenFails(target.token, 'old tokens stay dead');
    await assertTokenFails(second.token, 'old tokens stay dead (second)');
    const oldRefresh = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: target.refreshToken } });
    assert.equal(oldRefresh.status, 401, `an old refresh token stays dead: ${oldRefresh.text}`);
    const back = await login(target);
    assert.equal(back.status, 200, back.text);
    await assertTokenWorks(back.json.token, 'a new login');
    const s = await nativeClient(fx.url, back.json.token);
    assert.equal(s.connected, true);

    // both events, in the user's own trail and in the admin's
    const own = await api(fx.url, 'GET', '/api/auth/audit', { token: back.json.token });
    assert.equal(own.status, 200, own.text);
    const types = own.json.map((e) => e.type);
    const iEnabled = types.indexOf('account_enabled');
    const iDisabled = types.indexOf('account_disabled');
    assert.ok(iEnabled >= 0 && iDisabled > iEnabled, `own audit, newest first: ${types.join(', ')}`);
    const all = await adminAudit(boss, 'limit=100');
    const mine = all.filter((e) => e.userId === target._id).map((e) => e.type);
    assert.ok(mine.includes('account_disabled') && mine.includes('account_enabled'), `admin audit: ${mine.join(', ')}`);
    assert.ok(mine.indexOf('account_enabled') < mine.indexOf('account_disabled'), `admin audit order: ${mine.join(', ')}`);
  });

  test('PUT /api/admin/users/:id refuses bad input, unknown ids and disabling oneself, changing nothing', async () => {
    const target = await register(fx.url, uniq('Untouched '));
    for (const body of [{}, { disabled: 'true' }, { disabled: 1 }, { disabled: null }, { disabled: [true] }, { enabled: false }]) {
      const r = await api(fx.url, 'PUT', `/api/admin/users/${target._id}`, { token: boss.token, body });
      assertError(r, 400, 'invalid_input');
    }
    for (const id of [fakeId(), 'not-an-id', `${target._id.slice(0, 23)}z`]) {
      const r = await api(fx.url, 'PUT', `/api/admin/users/${id}`, { token: boss.token, body: { disabled: true } });
      assertError(r, 404, 'not_found');
    }
    const self = await api(fx.url, 'PUT', `/api/admin/users/${boss._id}`, { token: boss.token, body: { disabled: true } });
    assertError(self, 400, 'invalid_input');
    await assertTokenWorks(boss.token, 'the admin is not disabled');
    await assertTokenWorks(target.token, 'the target is not disabled');
    assertAdminUser((await listUsers(boss, { search: target.email }))[0], { _id: target._id, disabled: false });
    assertAdminUser((await listUsers(boss, { search: boss.email }))[0], { _id: boss._id, disabled: false, isAdmin: true });
  });

  test('DELETE /api/admin/users/:id erases: "Deleted user" to others, tombstones in history, tokens dead', async () => {
    const target = await register(fx.url, uniq('Erased '));
    const [w, x] = [await register(fx.url, uniq('Witness ')), await register(fx.url, uniq('Third '))];
    const one = await oneToOne(fx.url, w, target);
    const g = await createGroup(fx.url, w, [target, x]);
    const kept = await send(fx.url, w, one._id, 'the witness speaks');
    const m1 = await send(fx.url, target, one._id, 'secret words of the target');
    const m2 = await send(fx.url, target, g._id, 'more secret words in the group');

    const r = await api(fx.url, 'DELETE', `/api/admin/users/${target._id}`, { token: boss.token });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    await assertTokenFails(target.token, 'the erased user\'s token');
    const relogin = await login(target);
    assert.notEqual(relogin.status, 200, `an erased user cannot log in: ${relogin.text}`);

    for (const [chatId, mine] of [[one._id, m1], [g._id, m2]]) {
      const h = await history(fx.url, w, chatId);
      const tomb = h.find((m) => m._id === mine._id);
      assert.ok(tomb, `the message stays in history as a tombstone: ${JSON.stringify(h).slice(0, 500)}`);
      assert.equal(tomb.content, '');
      assert.equal(tomb.deleted, true);
      assert.equal(tomb.sender._id, target._id);
      assert.equal(tomb.sender.name, 'Deleted user');
      assert.equal(typeof tomb.sender.pic, 'string');
      const text = JSON.stringify(h);
      assert.ok(!text.includes('secret words'), `no content left: ${text.slice(0, 500)}`);
      assert.ok(!text.includes(target.email) && !text.includes(target.name), 'neither the email nor the name is left');
    }
    const witnessed = (await history(fx.url, w, one._id)).find((m) => m._id === kept._id);
    assert.equal(witnessed.content, 'the witness speaks', 'other people\'s messages are untouched');
    assert.notEqual(witnessed.deleted, true);

    const chats = await chatList(fx.url, w);
    const c1 = chats.find((y) => y._id === one._id);
    assert.ok(c1, 'the 1:1 chat is still listed for the witness');
    const shown = c1.users.find((u) => u._id === target._id);
    assert.deepEqual(shown, { _id: target._id, name: 'Deleted user', pic: shown?.pic }, JSON.stringify(c1.users));
    assert.equal(typeof shown.pic, 'string');
    // in the group the erased user may have left it; if still a member, only as "Deleted user"
    const cg = chats.find((y) => y._id === g._id);
    assert.ok(cg, 'the group is still listed for the witness');
    for (const u of cg.users.filter((y) => y._id === target._id)) assert.deepEqual(Object.keys(u).sort(), ['_id', 'name', 'pic']);
    const listed = JSON.stringify(chats);
    assert.ok(!listed.includes(target.email) && !listed.includes(target.name) && !listed.includes('secret words'),
      `nothing of the erased user is left in the chat list: ${listed.slice(0, 500)}`);
    assert.deepEqual(await listUsers(boss, { search: target.email }), [], 'not in the admin list');

    const again = await api(fx.url, 'DELETE', `/api/admin/users/${target._id}`, { token: boss.token });
    assert.equal(again.status, 204, `erasing an erased user again: ${again.text}`);
    const own = await api(fx.url, 'DELETE', `/api/admin/users/${boss._id}`, { token: boss.token });
    assertError(own, 400, 'invalid_input');
    await assertTokenWorks(boss.token, 'the admin did not erase themself');
    for (const id of [fakeId(), 'nope']) {
      const unknown = await api(fx.url, 'DELETE', `/api/admin/users/${id}`, { token: boss.token });
      assertError(unknown, 404, 'not_found');
    }
    await assertTokenWorks(w.token, 'the witness is untouched');
  });

  test('the admin audit lists every user\'s events, newest first, and pages with before', async () => {
    const tag = uniq('ua');
    const p = await register(fx.url, uniq('Audit P '));
    const q = await register(fx.url, uniq('Audit Q '));
    const failed = await login({ ...p, password: 'wrong-password' }, { 'user-agent': `${tag}-failed` });
    assert.equal(failed.status, 401);
    const ok = await login(q, { 'user-agent': `${tag}-login` });
    assert.equal(ok.status, 200);

    const all = await adminAudit(boss, 'limit=100');
    const eFailed = all.findIndex((e) => e.userAgent === `${tag}-failed`);
    const eLogin = all.findIndex((e) => e.userAgent === `${tag}-login`);
    assert.ok(eFailed >= 0 && eLogin >= 0, `both events listed: ${JSON.stringify(all.slice(0, 5))}`);
    assert.deepEqual({ ...all[eFailed], _id: 0, at: 0 },
      { _id: 0, at: 0, type: 'login_failed', ip: '127.0.0.1', userAgent: `${tag}-failed`, userId: p._id });
    assert.deepEqual({ ...all[eLogin], _id: 0, at: 0 },
      { _id: 0, at: 0, type: 'login', ip: '127.0.0.1', userAgent: `${tag}-login`, userId: q._id });
    assert.ok(eLogin < eFailed, 'the newer event comes first');
    for (let i = 1; i < all.length; i += 1) assert.ok(all[i - 1].at >= all[i].at, `newest first at ${i}: ${all[i - 1].at} < ${all[i].at}`);
    assert.ok(new Set(all.map((e) => e.userId)).size >= 3, 'events of several users');
    assert.equal(new Set(all.map((e) => e._id)).size, all.length, 'ids are unique');

    const ten = await adminAudit(boss, 'limit=10');
    assert.equal(ten.length, 10);
    assert.deepEqual(ten.map((e) => e._id), all.slice(0, 10).map((e) => e._id));
    const page1 = await adminAudit(boss, 'limit=4');
    const page2 = await adminAudit(boss, `limit=4&before=${encodeURIComponent(page1[3]._id)}`);
    assert.deepEqual(page1.map((e) => e._id), ten.slice(0, 4).map((e) => e._id));
    assert.deepEqual(page2.map((e) => e._id), ten.slice(4, 8).map((e) => e._id), 'before= pages older');
    const last = await adminAudit(boss, `limit=100&before=${encodeURIComponent(all[eFailed]._id)}`);
    assert.ok(!last.some((e) => e.userAgent === `${tag}-failed` || e.userAgent === `${tag}-login`), 'strictly older');
    for (const limit of ['0', '-3']) {
      const r = await api(fx.url, 'GET', `/api/admin/audit?limit=${limit}`, { token: boss.token });
      assertError(r, 400, 'invalid_input');
    }
  });

  test('a revoked role is refused at the next request, and the refused request changes nothing', async () => {
    const ex = await newAdmin(uniq('Ex Admin '));
    const target = await register(fx.url, uniq('Ex Target '));
    assert.equal((await listUsers(ex, { search: target.email })).length, 1, 'an admin before the revoke');
    adminCli('revoke', ex.email, fx.srv.dataDir);
    const checks = [
      ['GET', '/api/admin/users'],
      ['GET', '/api/admin/audit'],
      ['PUT', `/api/admin/users/${target._id}`, { disabled: true }],
      ['DELETE', `/api/admin/users/${target._id}`],
    ];
    for (const [method, path, body] of checks) {
      const r = await api(fx.url, method, path, { token: ex.token, body });
      assertError(r, 403, 'forbidden');
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], `${method} ${path}: no data`);
    }
    await assertTokenWorks(target.token, 'the target is neither disabled nor erased');
    assertAdminUser((await listUsers(boss, { search: target.email }))[0],
      { _id: target._id, name: target.name, disabled: false });
    assertAdminUser((await listUsers(boss, { search: ex.email }))[0], { _id: ex._id, isAdmin: false, disabled: false });
    await assertTokenWorks(ex.token, 'the ex-admin is still a user');
  });
});

// tests/realtime/limits.test.mjs checks that --admin-allow-ip leaves the other routes alone; here an
// admin (the role would let them in) is refused from outside the allowed networks.
test('--admin-allow-ip refuses an admin who calls from another network', async () => {
  const srv = await startServer(['--admin-allow-ip', '10.0.0.0/8']);
  try {
    const a = await newAdmin('Far Admin', srv);
    const relogin = await api(srv.url, 'POST', '/api/user/login', { body: { email: a.email, password: a.password } });
    assert.equal(relogin.json?.isAdmin, true, 'the grant went through');
    const other = await register(srv.url, 'Far Target');
    for (const [method, path, body] of [
      ['GET', '/api/admin/users'],
      ['GET', '/api/admin/audit'],
      ['PUT', `/api/admin/users/${other._id}`, { disabled: true }],
      ['DELETE', `/api/admin/users/${other._id}`],
    ]) {
      const r = await api(srv.url, method, path, { token: a.token, body });
      assertError(r, 403, 'forbidden');
    }
    const mine = await api(srv.url, 'GET', '/api/chat', { token: other.token });
    assert.equal(mine.status, 200, 'the target was neither disabled nor erased');
    const chats = await api(srv.url, 'GET', '/api/chat', { token: a.token });
    assert.equal(chats.status, 200, 'the other routes stay open');
  } finally {
    await stopClean(srv);
  }
});
