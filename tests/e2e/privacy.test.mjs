// Privacy (API.md, "Privacy"): the caller's own account (GET/PUT /api/user/me), the data export
// (GET /api/user/me/export, streamed) and erasure (DELETE /api/user/me): tokens and sockets cut,
// the account shown as "Deleted user", messages left as tombstones (REST history, native events
// and `sync`), groups handed over, and nothing of the person left in the database files (SQLite)
// or in a pg_dump of the database (PostgreSQL). Real binary, official Socket.IO client.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  api, register, registerMany, oneToOne, createGroup, send, history, nativeClient, once, collect,
  firsts, waitUntil, callOk, pool, range, assertLean, closeSockets, uniq, ID_RE, ISO_RE, sleep,
} from '../realtime/harness.mjs';
import {
  serverFixture, assertError, assertPublicUser, chatList, databaseUrlOf, decodeJwt, totp, nowStep,
  assertTombstone,
} from './harness.mjs';

const fx = serverFixture();
/** The pic of a user who registered without one. */
let defaultPic;
before(async () => {
  await fx.start();
  defaultPic = (await register(fx.url, 'Default Pic Probe')).pic;
  assert.match(defaultPic, /^https?:\/\//);
});
after(async () => {
  closeSockets();
  await fx.stop();
});

const hex = (n = 8) => crypto.randomBytes(n).toString('hex');
/** A unique string that is one token for any word splitter (so an index copy would be caught too). */
const unique = (prefix) => `${prefix}${hex(10)}`;
const FAILED = 'Not authorized, token failed';


/** Registers with the given fields and User-Agent; returns the 201 body plus the password and UA. */
async function registerAs({ name, email, pic, userAgent }) {
  const body = { name, email, password: 'password123' };
  if (pic !== undefined) body.pic = pic;
  const r = await api(fx.url, 'POST', '/api/user', { body, headers: { 'user-agent': userAgent } });
  assert.equal(r.status, 201, `register failed: ${r.status} ${r.text}`);
  return { ...r.json, password: body.password, userAgent };
}

/** An API call as `user`, with the user's own User-Agent (if any). */
function as(user, method, p, body) {
  const headers = user.userAgent ? { 'user-agent': user.userAgent } : {};
  return api(fx.url, method, p, { token: user.token, body, headers });
}

async function me(user) {
  const r = await api(fx.url, 'GET', '/api/user/me', { token: user.token });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function login(email, password, userAgent) {
  return api(fx.url, 'POST', '/api/user/login',
    { body: { email, password }, headers: userAgent ? { 'user-agent': userAgent } : {} });
}

async function groupCall(user, p, body) {
  const r = await as(user, 'PUT', p, body);
  assert.equal(r.status, 200, `${p} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
  return r.json;
}

// ------------------------------------------------------------------ what the store holds

/**
 * The bytes the store holds now: every file of the data dir whose name starts with chatd.db (the
 * database, its -wal and -shm) on SQLite; `pg_dump --data-only` of the server's database on
 * PostgreSQL.
 */
function storeSnapshot(srv) {
  const pgUrl = databaseUrlOf(srv.dataDir);
  if (pgUrl) {
    const r = spawnSync('pg_dump', ['--data-only', '-d', pgUrl], { maxBuffer: 1 << 30 });
    assert.equal(r.status, 0, `pg_dump failed: ${r.error ?? r.stderr}`);
    return [{ name: 'pg_dump --data-only', bytes: r.stdout }];
  }
  const files = fs.readdirSync(srv.dataDir).filter((f) => f.startsWith('chatd.db'));
  assert.ok(files.includes('chatd.db'), `no chatd.db in the data dir: ${files}`);
  return files.map((f) => ({ name: f, bytes: fs.readFileSync(path.join(srv.dataDir, f)) }));
}

/** Where `needle` (UTF-8) occurs in the snapshot: ["file@offset", ...]. */
function occurrences(snapshot, needle) {
  const n = Buffer.from(needle, 'utf8');
  const found = [];
  for (const { name, bytes } of snapshot) {
    for (let i = bytes.indexOf(n); i >= 0; i = bytes.indexOf(n, i + 1)) found.push(`${name}@${i}`);
  }
  return found;
}

function assertAbsent(snapshot, needles) {
  const leaks = [];
  for (const [label, needle] of Object.entries(needles)) {
    const at = occurrences(snapshot, needle);
    if (at.length) leaks.push(`${label} ${JSON.stringify(needle)} found at ${at.slice(0, 5).join(', ')}`);
  }
  assert.deepEqual(leaks, [], `the store still holds data of the erased user:\n${leaks.join('\n')}`);
}

function assertPresent(snapshot, needles) {
  for (const [label, needle] of Object.entries(needles)) {
    assert.ok(occurrences(snapshot, needle).length > 0,
      `${label} ${JSON.stringify(needle)} should be in the store (the scan must be able to see it)`);
  }
}

// ------------------------------------------------------------------ tombstones


function assertIntact(m, orig, where) {
  assert.equal(m._id, orig._id, where);
  assert.equal(m.seq, orig.seq, where);
  assert.equal(m.content, orig.content, `${where}: content untouched`);
  assert.ok(!m.deleted, `${where}: not deleted: ${JSON.stringify(m)}`);
  if (orig.clientMsgId !== undefined) assert.equal(m.clientMsgId, orig.clientMsgId, where);
  assert.equal(m.sender._id, orig.sender._id, where);
}

// ================================================================== GET / PUT /api/user/me

describe('the caller\'s own account', () => {
  test('GET /api/user/me answers {_id, name, email, pic, isAdmin} of the token\'s user; no token is 401', async () => {
    const [u, other] = await registerMany(fx.url, ['Me Myself', 'Me Other']);
    const r = await api(fx.url, 'GET', '/api/user/me', { token: u.token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['_id', 'email', 'isAdmin', 'name', 'pic']);
    assertPublicUser(r.json, u);
    assert.equal(r.json.isAdmin, false);
    assert.equal((await me(other))._id, other._id, 'each token answers its own user');
    assertError(await api(fx.url, 'GET', '/api/user/me'), 401, 'unauthorized');
    assertError(await api(fx.url, 'GET', '/api/user/me', { token: 'garbage' }), 401, 'unauthorized');
  });

  test('PUT /api/user/me renames (trimmed) and sets or resets the pic; others see the new name', async () => {
    const [u, friend] = await registerMany(fx.url, ['Before Rename', 'Rename Friend']);
    const chat = await oneToOne(fx.url, friend, u);
    const m = await send(fx.url, u, chat._id, 'said before the rename');

    const newName = unique('Renamed ');
    let r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { name: `  ${newName}\t ` } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { _id: u._id, name: newName, email: u.email, pic: defaultPic, isAdmin: false });
    assert.deepEqual(await me(u), r.json);

    const pic = `https://pics.example/${hex()}.png`;
    r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { pic } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { _id: u._id, name: newName, email: u.email, pic, isAdmin: false }, 'a pic alone keeps the name');

    // Others see the new name and pic: in their chat list, in message senders and in user search.
    const seen = (await chatList(fx.url, friend)).find((c) => c._id === chat._id);
    const there = seen.users.find((x) => x._id === u._id);
    assert.equal(there.name, newName);
    assert.equal(there.pic, pic);
    const [h] = await history(fx.url, friend, chat._id);
    assert.equal(h._id, m._id);
    assert.equal(h.sender.name, newName, 'the sender of an older message carries the new name');
    const found = await api(fx.url, 'GET', `/api/user?search=${encodeURIComponent(newName)}`, { token: friend.token });
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(found.json.map((x) => x._id), [u._id]);

    // Exactly 100 characters after trimming is allowed.
    const hundred = 'n'.repeat(100);
    r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { name: `  ${hundred}  ` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, hundred);
    assert.equal(r.json.pic, pic, 'a name alone keeps the pic');

    // pic "" goes back to the default pic.
    r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { name: newName, pic: '' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { _id: u._id, name: newName, email: u.email, pic: defaultPic, isAdmin: false });
    assert.deepEqual(await me(u), r.json);
  });

  test('PUT /api/user/me refuses a blank, too long or non-string name or pic with 400 invalid_input and changes nothing', async () => {
    const u = await register(fx.url, 'Strict Name');
    const pic = `https://pics.example/${hex()}.png`;
    const set = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { pic } });
    assert.equal(set.status, 200, set.text);
    const before = await me(u);
    const bad = [
      { name: '' }, { name: '   ' }, { name: '\t\n' }, { name: 'x'.repeat(101) }, { name: ` ${'y'.repeat(101)} ` },
      { name: 42 }, { name: ['Array'] }, { name: { first: 'Obj' } }, { name: true },
      { pic: 42 }, { pic: ['https://a.example/p.png'] }, { pic: {} },
      { name: 'Fine Name', pic: 7 }, { name: 7, pic: 'https://b.example/p.png' },
    ];
    const wrong = [];
    for (const body of bad) {
      const r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body });
      if (r.status !== 400 || r.json?.code !== 'invalid_input') wrong.push(`${JSON.stringify(body)} -> ${r.status} ${r.text}`);
      else assertError(r, 400, 'invalid_input');
      const now = await me(u);
      if (JSON.stringify(now) !== JSON.stringify(before)) wrong.push(`${JSON.stringify(body)} changed the user to ${JSON.stringify(now)}`);
      await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body: { name: before.name, pic: before.pic } });
    }
    assert.deepEqual(wrong, [], `PUT /api/user/me should answer 400 invalid_input and change nothing:\n${wrong.join('\n')}`);
    assertError(await api(fx.url, 'PUT', '/api/user/me', { body: { name: 'No Token' } }), 401, 'unauthorized');
  });

  test('PUT /api/user/me reads a null name or pic as not given (as every optional field)', async () => {
    const u = await register(fx.url, 'Null Name');
    const before = await me(u);
    for (const body of [{ name: null }, { pic: null }, { name: null, pic: null }]) {
      const r = await api(fx.url, 'PUT', '/api/user/me', { token: u.token, body });
      assert.equal(r.status, 200, `PUT /api/user/me ${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.deepEqual(r.json, before);
      assert.deepEqual(await me(u), before);
    }
  });
});

// ================================================================== export

async function exportOf(user) {
  const res = await fetch(`${fx.url}/api/user/me/export`, { headers: { authorization: `Bearer ${user.token}` } });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch (e) { assert.fail(`the export is not JSON (${e.message}): ${text.slice(0, 300)}`); }
  return { res, text, json };
}

describe('the data export', () => {
  test('a chunked JSON attachment with the caller\'s user, sessions, chats, receipts and audit, newest event first', async () => {
    const ua1 = `ExportAgentOne/${hex()}`;
    const ua2 = `ExportAgentTwo/${hex()}`;
    const x = await registerAs({ name: 'Export Shape', email: `${uniq('exp')}@test.example`, userAgent: ua1 });
    const [y, z] = await registerMany(fx.url, ['Export Y', 'Export Z']);
    const bad = await login(x.email, 'wrong-password', ua2);
    assert.equal(bad.status, 401);
    const second = await login(x.email, x.password, ua2);
    assert.equal(second.status, 200, second.text);
    const one = await oneToOne(fx.url, x, y);
    const group = await createGroup(fx.url, y, [x, z]);
    const sent = await send(fx.url, x, one._id, 'one message', { clientMsgId: `cid-${hex()}` });
    await send(fx.url, y, one._id, 'a reply that is not x\'s');

    const sessions = await api(fx.url, 'GET', '/api/auth/sessions', { token: x.token });
    const audit = await api(fx.url, 'GET', '/api/auth/audit', { token: x.token });
    assert.equal(audit.status, 200, audit.text);
    const { res, text, json } = await exportOf(x);
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename="chatd-export.json"');
    assert.match(res.headers.get('transfer-encoding') ?? '', /chunked/, 'streamed with chunked encoding');
    assert.equal(res.headers.get('content-length'), null);

    assert.deepEqual(Object.keys(json).sort(), ['attachments', 'audit', 'chats', 'messages', 'receipts', 'sessions', 'user']);
    assert.deepEqual(json.user, await me(x));

    // sessions: both of x's, each with its own User-Agent; the one of the token asking is current.
    assert.equal(json.sessions.length, 2, JSON.stringify(json.sessions));
    for (const s of json.sessions) {
      assert.deepEqual(Object.keys(s).sort(), ['_id', 'createdAt', 'current', 'ip', 'lastUsedAt', 'userAgent']);
      assert.match(s.createdAt, ISO_RE);
      assert.match(s.lastUsedAt, ISO_RE);
      assert.equal(s.ip, '127.0.0.1');
    }
    assert.deepEqual(json.sessions.map((s) => s._id).sort(), sessions.json.map((s) => s._id).sort());
    const current = json.sessions.find((s) => s.current);
    assert.equal(current._id, decodeJwt(x.token).payload.sid);
    assert.equal(current.userAgent, ua1);
    const other = json.sessions.find((s) => !s.current);
    assert.equal(other._id, decodeJwt(second.json.token).payload.sid);
    assert.equal(other.userAgent, ua2);

    // chats: both, with their members' ids and names and the caller's joinedAt.
    assert.deepEqual(json.chats.map((c) => c._id).sort(), [one._id, group._id].sort());
    for (const c of json.chats) {
      assert.deepEqual(Object.keys(c).sort(), ['_id', 'chatName', 'isGroupChat', 'joinedAt', 'members']);
      assert.equal(typeof c.chatName, 'string');
      assert.match(c.joinedAt, ISO_RE);
      for (const mb of c.members) assert.deepEqual(Object.keys(mb).sort(), ['_id', 'name']);
    }
    const byId = Object.fromEntries(json.chats.map((c) => [c._id, c]));
    assert.equal(byId[one._id].isGroupChat, false);
    assert.deepEqual(byId[one._id].members.map((mb) => [mb._id, mb.name]).sort(),
      [[x._id, x.name], [y._id, y.name]].sort());
    assert.equal(byId[group._id].isGroupChat, true);
    assert.equal(byId[group._id].chatName, group.chatName);
    assert.deepEqual(byId[group._id].members.map((mb) => [mb._id, mb.name]).sort(),
      [[x._id, x.name], [y._id, y.name], [z._id, z.name]].sort());

    // receipts: the caller's cursors, one per chat.
    assert.deepEqual(json.receipts.map((r) => r.chatId).sort(), [one._id, group._id].sort());
    for (const r of json.receipts) {
      assert.deepEqual(Object.keys(r).sort(), ['chatId', 'deliveredSeq', 'readSeq']);
      assert.ok(Number.isInteger(r.deliveredSeq) && Number.isInteger(r.readSeq) && r.readSeq <= r.deliveredSeq,
        JSON.stringify(r));
    }
    assert.deepEqual(json.attachments, []);

    // messages: only x's one message.
    assert.deepEqual(json.messages, [{
      _id: sent._id, chatId: one._id, seq: sent.seq, content: 'one message', clientMsgId: sent.clientMsgId,
      createdAt: sent.createdAt,
    }]);
    assert.ok(!text.includes('a reply that is not'), 'another member\'s message is not exported');

    // audit: the same events as GET /api/auth/audit, newest first.
    assert.deepEqual(json.audit, audit.json);
    assert.deepEqual(json.audit.map((e) => e.type), ['login', 'login_failed', 'login']);
    assert.equal(json.audit[0].userAgent, ua2);
    assert.equal(json.audit[1].userAgent, ua2);
    assert.equal(json.audit[2].userAgent, ua1);

    assertError(await api(fx.url, 'GET', '/api/user/me/export'), 401, 'unauthorized');
  });

  test('every message the caller sent (1,200 in 3 chats, one a group they left) is there once, ordered by chatId then seq; no one else\'s', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Export Many X', 'Export Many Y', 'Export Many Z']);
    const one = await oneToOne(fx.url, x, y);
    const group = await createGroup(fx.url, x, [y, z]);
    const left = await createGroup(fx.url, y, [x, z]);
    const counts = { [one._id]: 620, [group._id]: 330, [left._id]: 250 };  // 1,200: three 500-row pages
    const jobs = [];
    for (const [chatId, n] of Object.entries(counts)) {
      for (let i = 0; i < n; i += 1) {
        // every third with a clientMsgId
        jobs.push({ who: x, chatId, content: `xmsg-${hex(6)}-${i}`, clientMsgId: i % 3 === 0 ? `xc-${hex(8)}` : undefined });
      }
      for (let i = 0; i < 15; i += 1) jobs.push({ who: y, chatId, content: `ymsg-${hex(6)}-${i}` });
    }
    for (let i = 0; i < 10; i += 1) jobs.push({ who: z, chatId: group._id, content: `zmsg-${hex(6)}-${i}` });
    // Interleave the chats and senders.
    for (let i = jobs.length - 1; i > 0; i -= 1) {
      const j = crypto.randomInt(i + 1);
      [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
    }
    const results = await pool(jobs, 16, (j) => send(fx.url, j.who, j.chatId, j.content,
      j.clientMsgId ? { clientMsgId: j.clientMsgId } : {}));
    const mine = results.filter((m) => m.sender._id === x._id);
    assert.equal(mine.length, 1200);

    const r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: left._id, userId: x._id } });
    assert.equal(r.status, 200, r.text);

    const { res, text, json } = await exportOf(x);
    assert.equal(res.status, 200, text.slice(0, 300));
    assert.match(res.headers.get('transfer-encoding') ?? '', /chunked/);
    const cmp = (a, b) => (a.chatId < b.chatId ? -1 : a.chatId > b.chatId ? 1 : a.seq - b.seq);
    const expected = mine.map((m) => {
      const e = { _id: m._id, chatId: m.chat._id, seq: m.seq, content: m.content };
      if (m.clientMsgId !== undefined) e.clientMsgId = m.clientMsgId;
      e.createdAt = m.createdAt;
      return e;
    }).sort(cmp);
    assert.equal(json.messages.length, expected.length,
      `exported ${json.messages.length} messages, sent ${expected.length}`);
    const ids = json.messages.map((m) => m._id);
    assert.equal(new Set(ids).size, ids.length, 'no message twice');
    assert.deepEqual(json.messages, expected, 'every message once, with its chatId, seq, content and clientMsgId, by (chatId, seq)');
    assert.ok(!/[yz]msg-/.test(text), 'no message of another member is exported');
    // The group they left is not among their chats any more, but their messages there are exported.
    assert.deepEqual(json.chats.map((c) => c._id).sort(), [one._id, group._id].sort());
    assert.equal(json.messages.filter((m) => m.chatId === left._id).length, 250);
  });
});

// ================================================================== erasure

describe('erasure (DELETE /api/user/me)', () => {
  test('a wrong, empty or missing password erases nothing', async () => {
    const [u, friend] = await registerMany(fx.url, ['Keep Me', 'Keep Friend']);
    const chat = await oneToOne(fx.url, u, friend);
    const m = await send(fx.url, u, chat._id, 'still mine', { clientMsgId: `keep-${hex()}` });
    assertError(await api(fx.url, 'DELETE', '/api/user/me', { token: u.token, body: { password: 'wrong-password' } }), 401, 'unauthorized');
    assertError(await api(fx.url, 'DELETE', '/api/user/me', { token: u.token, body: { password: '' } }), 401, 'unauthorized');
    assertError(await api(fx.url, 'DELETE', '/api/user/me', { token: u.token, body: {} }), 400, 'invalid_input');
    assertError(await api(fx.url, 'DELETE', '/api/user/me', { token: u.token, body: { password: 42 } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'DELETE', '/api/user/me', { body: { password: u.password } }), 401, 'unauthorized');

    assert.deepEqual(await me(u), { _id: u._id, name: u.name, email: u.email, pic: u.pic, isAdmin: false });
    const [h] = await history(fx.url, friend, chat._id);
    assertIntact(h, m, 'the message');
    assert.equal(h.sender.name, 'Keep Me');
    assert.equal((await login(u.email, u.password)).status, 200);
  });

  test('with 2FA on: no code is otp_required, a wrong one otp_invalid (nothing erased); the right one erases', async (t) => {
    t.after(closeSockets);
    const email = `TwoFactor.${hex(6)}@Erase.Example`;
    const u = await registerAs({ name: unique('TfaErase'), email, userAgent: `TfaAgent/${hex()}` });
    const friend = await register(fx.url, 'Tfa Friend');
    const setup = await api(fx.url, 'POST', '/api/auth/2fa/setup', { token: u.token });
    assert.equal(setup.status, 200, setup.text);
    const secret = setup.json.secret;
    const enabled = await api(fx.url, 'POST', '/api/auth/2fa/enable', { token: u.token, body: { code: totp(secret) } });
    assert.equal(enabled.status, 200, enabled.text);
    const chat = await oneToOne(fx.url, u, friend);
    const content = unique('tfacontent');
    const m = await send(fx.url, u, chat._id, content);

    const code = totp(secret, nowStep() + 1);  // the enabling code was used: the next step's
    const wrong = code === '123456' ? '654321' : '123456';
    assertError(await as(u, 'DELETE', '/api/user/me', { password: u.password }), 401, 'otp_required');
    assertError(await as(u, 'DELETE', '/api/user/me', { password: u.password, otp: wrong }), 401, 'otp_invalid');
    assert.equal((await me(u))._id, u._id, 'still there');
    assertIntact((await history(fx.url, friend, chat._id))[0], m, 'refused erasure');

    const socket = await nativeClient(fx.url, u.token);
    const gone = once(socket, 'disconnect');
    const r = await as(u, 'DELETE', '/api/user/me', { password: u.password, otp: code });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const snapshot = storeSnapshot(fx.srv);
    assertAbsent(snapshot, {
      'email as typed': email, 'email lower-cased': email.toLowerCase(), name: u.name, content,
      'User-Agent': u.userAgent, '2FA secret': secret,
    });
    assertPresent(snapshot, { 'the friend\'s email': friend.email });

    const [reason] = await gone;
    assert.equal(reason, 'io server disconnect');
    const after = await api(fx.url, 'GET', '/api/user/me', { token: u.token });
    assert.equal(after.status, 401, after.text);
    assert.equal((await login(email, u.password)).status, 401);
    assertTombstone((await history(fx.url, friend, chat._id))[0], m, 'the erased message');
  });

  test('erasing an account', async (t) => {
    t.after(closeSockets);
    // ---- the person to erase: unique email (mixed case), names, pic and User-Agent
    const email = `Erase.Me.${hex(6)}@Privacy.Example`;
    const oldName = unique('OldErasableName');
    const newName = unique('NewErasableName');
    const pic = `https://pics.example/${unique('erasablepic')}.png`;
    const ua = unique('ErasableAgent/');
    const bUa = unique('SurvivorAgent/');
    let e = await registerAs({ name: oldName, email, pic, userAgent: ua });
    const b = await registerAs({ name: unique('SurvivorB'), email: `${uniq('surv')}@test.example`, userAgent: bUa });
    const [c, d, bystander] = await registerMany(fx.url, ['Erasure C', 'Erasure D', 'Erasure Bystander']);
    const renamed = await as(e, 'PUT', '/api/user/me', { name: newName });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal((await login(email, 'not-the-password', ua)).status, 401);  // a login_failed event
    const second = await login(email, e.password, ua);                        // a second session
    assert.equal(second.status, 200, second.text);
    e = { ...e, name: newName };

    // ---- chats
    const one = await oneToOne(fx.url, e, b);
    // g1: e the only admin; b there since creation, d added later, c removed -> b takes over
    const g1 = await createGroup(fx.url, e, [b, c]);
    await sleep(20);
    await groupCall(e, '/api/chat/groupadd', { chatId: g1._id, userId: d._id });
    await groupCall(e, '/api/chat/groupremove', { chatId: g1._id, userId: c._id });
    // g2: e the only admin; d there since creation, b added later, c removed -> d takes over
    const g2 = await createGroup(fx.url, e, [c, d]);
    await sleep(20);
    await groupCall(e, '/api/chat/groupadd', { chatId: g2._id, userId: b._id });
    await groupCall(e, '/api/chat/groupremove', { chatId: g2._id, userId: c._id });
    // g3: b's group, e a member
    const g3 = await createGroup(fx.url, b, [e, c]);
    // g4: e and c both admins -> c stays the admin
    const g4 = await createGroup(fx.url, e, [b, c]);
    await groupCall(e, '/api/chat/groupadmin', { chatId: g4._id, userId: c._id, admin: true });
    // gl: a group e posted in and then left
    const gl = await createGroup(fx.url, b, [e, d]);

    // ---- messages (e's: unique contents and clientMsgIds)
    const eSent = [];
    const others = [];
    const say = async (who, chatId, withId = false) => {
      const isE = who === e;
      const content = unique(isE ? 'erasedcontent' : 'keptcontent');
      const extra = withId ? { clientMsgId: unique(isE ? 'erasedcid' : 'keptcid') } : {};
      const r = await as(who, 'POST', '/api/message', { chatId, content, ...extra });
      assert.equal(r.status, 200, r.text);
      (isE ? eSent : others).push(r.json);
      return r.json;
    };
    await say(e, one._id, true);
    await say(b, one._id, true);
    await say(e, one._id);
    await say(e, one._id, true);
    await say(b, one._id);
    await say(e, g1._id, true);
    await say(b, g1._id);
    await say(e, g1._id);
    await say(d, g1._id, true);
    await say(d, g2._id);
    await say(e, g2._id, true);
    await say(e, g3._id);
    await say(c, g3._id);
    await say(e, g3._id, true);
    await say(e, g4._id, true);
    await say(c, g4._id);
    await say(e, gl._id, true);
    await say(e, gl._id);
    await say(b, gl._id);
    await groupCall(e, '/api/chat/groupremove', { chatId: gl._id, userId: e._id });
    const allChats = [one, g1, g2, g3, g4, gl];

    // search finds e before
    const found = await as(b, 'GET', `/api/user?search=${encodeURIComponent(newName)}`);
    assert.deepEqual(found.json.map((x) => x._id), [e._id], 'the search works before');

    // ---- live sockets
    const se = await nativeClient(fx.url, e.token, { extraHeaders: { 'user-agent': ua } });
    const sb = await nativeClient(fx.url, b.token);
    const sd = await nativeClient(fx.url, d.token);
    const eGone = once(se, 'disconnect');
    const bDeleted = collect(sb, 'message:deleted');
    const dDeleted = collect(sd, 'message:deleted');
    const sx = await nativeClient(fx.url, bystander.token);  // shares no chat with anyone
    const xDeleted = collect(sx, 'message:deleted');
    const bUpdated = collect(sb, 'chat:updated');

    // ---- erase
    const r = await as(e, 'DELETE', '/api/user/me', { password: e.password });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const snapshot = storeSnapshot(fx.srv);

    await t.test('nothing of the person remains in the store right after the 204', () => {
      const needles = {
        'email as typed': email, 'email lower-cased': email.toLowerCase(), 'current name': newName,
        'former name': oldName, 'custom pic': pic, 'User-Agent': ua,
      };
      for (const [i, m] of eSent.entries()) {
        needles[`message ${i} content`] = m.content;
        if (m.clientMsgId) needles[`message ${i} clientMsgId`] = m.clientMsgId;
      }
      assertAbsent(snapshot, needles);
      const control = { 'b\'s email': b.email, 'b\'s name': b.name, 'b\'s User-Agent': bUa };
      for (const [i, m] of others.entries()) control[`another member's message ${i}`] = m.content;
      assertPresent(snapshot, control);
    });

    await t.test('their tokens get 401, their socket is cut, the old login fails', async () => {
      const [reason] = await eGone;
      assert.equal(reason, 'io server disconnect');
      for (const token of [e.token, second.json.token]) {
        for (const [method, p] of [['GET', '/api/user/me'], ['GET', '/api/chat'], ['GET', `/api/message/${one._id}`],
          ['GET', '/api/user/me/export'], ['GET', '/api/auth/sessions']]) {
          const res = await api(fx.url, method, p, { token });
          assert.equal(res.status, 401, `${method} ${p}: ${res.status} ${res.text}`);
          assert.deepEqual(res.json, { message: FAILED, code: 'unauthorized' }, `${method} ${p}`);
        }
      }
      const sendTry = await api(fx.url, 'POST', '/api/message', { token: e.token, body: { chatId: one._id, content: 'ghost' } });
      assert.equal(sendTry.status, 401, sendTry.text);
      const refresh = await api(fx.url, 'POST', '/api/auth/refresh', { body: { refreshToken: e.refreshToken } });
      assert.equal(refresh.status, 401, refresh.text);
      assertError(await login(email, e.password), 401, 'unauthorized');
      assertError(await login(email.toLowerCase(), e.password), 401, 'unauthorized');
    });

    const erased = { _id: e._id, name: 'Deleted user', pic: defaultPic };

    await t.test('others see exactly {_id, name: "Deleted user", pic: default} in chat users and message senders', async () => {
      const list = await chatList(fx.url, b);
      const o = list.find((x) => x._id === one._id);
      assert.ok(o, 'the 1:1 chat stays in the other person\'s list');
      assert.equal(o.isGroupChat, false);
      assert.deepEqual(o.users.find((x) => x._id === e._id), erased);
      assert.deepEqual(o.users.find((x) => x._id === b._id)?.name, b.name);
      for (const chat of allChats) {
        for (const m of await history(fx.url, b, chat._id)) {
          if (m.sender._id === e._id) assert.deepEqual(m.sender, erased, `sender in ${chat.chatName}`);
        }
      }
      assert.ok(!JSON.stringify(list).includes(newName) && !JSON.stringify(list).includes(email.toLowerCase()));
    });

    await t.test('their messages are tombstones (same _id and seq, no content, no clientMsgId); seqs gapless; others untouched', async () => {
      for (const chat of allChats) {
        const h = await history(fx.url, b, chat._id);
        const sentHere = [...eSent, ...others].filter((m) => m.chat._id === chat._id).sort((x, y) => x.seq - y.seq);
        assert.deepEqual(h.map((m) => m.seq), range(1, sentHere.length), `${chat.chatName}: gapless seqs`);
        for (const [i, orig] of sentHere.entries()) {
          const where = `${chat.chatName} seq ${orig.seq}`;
          if (orig.sender._id === e._id) assertTombstone(h[i], orig, where);
          else assertIntact(h[i], orig, where);
        }
      }
      const o = (await chatList(fx.url, b)).find((x) => x._id === one._id);
      const lastOfOne = others.filter((m) => m.chat._id === one._id).at(-1);
      assert.equal(o.latestMessage._id, lastOfOne._id, 'the 1:1 latest message is b\'s');
    });

    await t.test('they left every group; the longest-standing member (or the other admin) administers', async () => {
      const list = await chatList(fx.url, b);
      const get = (id) => list.find((x) => x._id === id);
      const expect = [
        [g1, [b, d], b], [g2, [d, b], d], [g3, [b, c], b], [g4, [b, c], c], [gl, [b, d], b],
      ];
      for (const [g, members, admin] of expect) {
        const seen = get(g._id);
        assert.ok(seen, `${g.chatName} is in b's list`);
        assert.deepEqual(seen.users.map((x) => x._id).sort(), members.map((x) => x._id).sort(), `${g.chatName} members`);
        assert.equal(seen.groupAdmin?._id, admin._id, `${g.chatName} admin`);
      }
      // the promoted admins can administer
      for (const [who, g] of [[b, g1], [d, g2]]) {
        const res = await as(who, 'PUT', '/api/chat/rename', { chatId: g._id, chatName: unique('renamed') });
        assert.equal(res.status, 200, `${who.name} renames ${g.chatName}: ${res.text}`);
      }
      const dChats = await chatList(fx.url, d);
      assert.equal(dChats.find((x) => x._id === g2._id)?.groupAdmin?._id, d._id);
    });

    await t.test('members\' live sockets got message:deleted for each erased message and chat:updated for each group left', async () => {
      const key = (x) => `${x.chatId}/${x.seq}/${x.messageId}`;
      const expectFor = (chatIds) => eSent.filter((m) => chatIds.includes(m.chat._id))
        .map((m) => ({ chatId: m.chat._id, messageId: m._id, seq: m.seq })).sort((x, y) => key(x).localeCompare(key(y)));
      const bExpect = expectFor(allChats.map((x) => x._id));
      const dExpect = expectFor([g1._id, g2._id, gl._id]);
      await waitUntil(() => bDeleted.length >= bExpect.length && dDeleted.length >= dExpect.length,
        { message: `message:deleted (b ${bDeleted.length}/${bExpect.length}, d ${dDeleted.length}/${dExpect.length})` });
      const wantGroups = [g1, g2, g3, g4].map((g) => g._id);
      const lastUpdate = (id) => firsts(bUpdated).filter((x) => x?.chat?._id === id).at(-1)?.chat;
      await waitUntil(() => wantGroups.every((id) => {
        const chat = lastUpdate(id);
        return chat && !chat.users.some((x) => x._id === e._id);
      }), { message: 'chat:updated without the erased member for g1..g4' });
      // Barrier: a message in g1 reaches both sockets after anything sent to them before.
      const marker = unique('barrier');
      const bGot = once(sb, 'message:new', { filter: (m) => m.content === marker });
      const dGot = once(sd, 'message:new', { filter: (m) => m.content === marker });
      await send(fx.url, d, g1._id, marker);
      await Promise.all([bGot, dGot]);
      assert.equal(lastUpdate(g1._id).groupAdmin._id, b._id);
      assert.equal(lastUpdate(g2._id).groupAdmin._id, d._id);
      assert.equal(lastUpdate(g4._id).groupAdmin._id, c._id);
      const sortKeys = (arr) => firsts(arr).sort((x, y) => key(x).localeCompare(key(y)));
      const chatNames = Object.fromEntries([['one', one], ['g1', g1], ['g2', g2], ['g3', g3], ['g4', g4], ['gl', gl]]
        .map(([n, x]) => [x._id, n]));
      const named = (arr) => arr.map((x) => `${chatNames[x.chatId] ?? x.chatId}#${x.seq}`).join(' ');
      assert.deepEqual(sortKeys(bDeleted), bExpect, 'b: one message:deleted per erased message of its chats');
      assert.equal(named(sortKeys(xDeleted)), '',
        'a user who shares no chat with anyone must get no message:deleted (chat#seq listed)');
      assert.deepEqual(sortKeys(dDeleted), dExpect,
        `d (member of g1, g2, gl) should get message:deleted for those chats only; got ${named(sortKeys(dDeleted))}, expected ${named(dExpect)}`);
    });

    await t.test('native sync returns the tombstones as lean messages with deleted: true and no content', async () => {
      const cursors = Object.fromEntries(allChats.map((x) => [x._id, 0]));
      const got = [];
      for (let i = 0; i < 20; i += 1) {
        const res = await callOk(sb, 'sync', { cursors, limit: 1000 });
        got.push(...res.messages);
        for (const m of res.messages) cursors[m.chatId] = Math.max(cursors[m.chatId], m.seq);
        if (!res.more) break;
      }
      for (const orig of eSent) {
        const m = got.find((x) => x._id === orig._id);
        assert.ok(m, `sync has ${orig._id}`);
        assertLean(m, { chatId: orig.chat._id, seq: orig.seq, content: '' });
        assert.equal(m.deleted, true);
        assert.ok(!('clientMsgId' in m), JSON.stringify(m));
        assert.deepEqual(m.sender, erased);
      }
      for (const orig of others) {
        const m = got.find((x) => x._id === orig._id);
        assert.ok(m, `sync has ${orig._id}`);
        assertLean(m, { chatId: orig.chat._id, seq: orig.seq, content: orig.content });
        assert.ok(!m.deleted);
      }
    });

    await t.test('search no longer finds them and a 1:1 with them is 404', async () => {
      for (const q of [newName, oldName, email, email.toLowerCase()]) {
        const res = await as(b, 'GET', `/api/user?search=${encodeURIComponent(q)}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json, [], `search ${q}`);
      }
      assertError(await as(b, 'POST', '/api/chat', { userId: e._id }), 404);
      assertError(await as(c, 'POST', '/api/chat', { userId: e._id }), 404);
    });

    await t.test('the same email registers again as a new, unrelated user', async () => {
      const again = await api(fx.url, 'POST', '/api/user', { body: { name: 'Born Again', email, password: 'another-password-1' } });
      assert.equal(again.status, 201, again.text);
      assert.match(again.json._id, ID_RE);
      assert.notEqual(again.json._id, e._id);
      assert.equal(again.json.email.toLowerCase(), email.toLowerCase());
      assert.deepEqual(await chatList(fx.url, again.json), []);
      assertError(await login(email, e.password), 401, 'unauthorized');
      assert.equal((await login(email, 'another-password-1')).status, 200);
      // the tombstones still read "Deleted user", not the new account
      const [first] = await history(fx.url, b, one._id);
      assert.deepEqual(first.sender, erased);
    });
  });
});
