// Retention (API.md, "Privacy"): PUT /api/chat/retention {chatId, days|null} (group admins, either
// member of a 1:1) and the server-wide --retention-days, applied by the background job every
// --housekeeping-interval-ms: messages older than the retention (the chat's, the server's, or the
// shorter of both) become tombstones in history and `sync`, and members' native sockets get
// `message:deleted`. Messages are made old by moving their created_at back in the database itself
// (sqlite3 on the data dir's chatd.db, or psql on the server's PostgreSQL database). Real binary,
// official Socket.IO client.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  startServer, stopClean, api, register, registerMany, oneToOne, createGroup, send, history,
  nativeClient, once, collect, firsts, waitUntil, callOk, closeSockets, assertLean, uniq, ID_RE,
} from '../realtime/harness.mjs';
import {
  assertError, assertChat, chatList, databaseUrlOf, assertTombstone,
} from './harness.mjs';

const DAY_MS = 86400000;
const HOUSEKEEPING = ['--housekeeping-interval-ms', '200'];
const ERASE_TIMEOUT = 15000;  // ms, scaled by CHATD_TIME_SCALE in waitUntil

/**
 * Moves the created_at of every message of `chatId` back by `days`, in the server's own database,
 * while it runs. Returns the number of messages changed.
 */
function age(srv, chatId, days) {
  assert.match(chatId, ID_RE);
  const where = `WHERE chat_id = '${chatId}'`;
  const shift = Math.round(days * DAY_MS);
  const pgUrl = databaseUrlOf(srv.dataDir);
  let r;
  if (pgUrl) {
    const sql = `WITH u AS (UPDATE messages SET created_at = created_at - ${shift} ${where} RETURNING 1) SELECT count(*) FROM u`;
    r = spawnSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', pgUrl, '-c', sql], { encoding: 'utf8' });
  } else {
    const sql = `UPDATE messages SET created_at = created_at - ${shift} ${where}; SELECT changes();`;
    r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', path.join(srv.dataDir, 'chatd.db'), sql], { encoding: 'utf8' });
  }
  assert.equal(r.status, 0, `aging ${chatId}: ${r.error ?? r.stderr}`);
  return Number(r.stdout.trim());
}

/** Ages a chat and asserts every one of its `n` messages was moved. */
function ageAll(srv, chatId, days, n) {
  assert.equal(age(srv, chatId, days), n, `messages of ${chatId} aged by ${days} days`);
}

function assertRetentionTombstone(m, orig, where) {
  assertTombstone(m, orig, where);
  assert.equal(m.sender._id, orig.sender._id, `${where}: still the sender's`);
  assert.equal(m.sender.name, orig.sender.name, `${where}: retention does not anonymize the sender`);
}

function assertIntact(m, orig, where) {
  assert.equal(m._id, orig._id, where);
  assert.equal(m.seq, orig.seq, where);
  assert.equal(m.content, orig.content, `${where}: content kept`);
  assert.ok(!m.deleted, `${where}: not deleted: ${JSON.stringify(m)}`);
  if (orig.clientMsgId !== undefined) assert.equal(m.clientMsgId, orig.clientMsgId, `${where}: clientMsgId kept`);
}

/** The chat's history (as `user`) matches `sent` seq by seq: erased ones are tombstones, the rest intact. */
async function assertHistory(url, user, chatId, sent, erased, label) {
  const h = await history(url, user, chatId);
  assert.deepEqual(h.map((m) => m.seq), sent.map((m) => m.seq), `${label}: the same gapless seqs`);
  for (const [i, orig] of sent.entries()) {
    if (erased(orig)) assertRetentionTombstone(h[i], orig, `${label} seq ${orig.seq}`);
    else assertIntact(h[i], orig, `${label} seq ${orig.seq}`);
  }
}

/** Waits until every message of `sent` in the chat's history is a tombstone. */
async function waitErased(url, user, chatId, sent, label) {
  const want = new Set(sent.map((m) => m._id));
  let last = [];
  await waitUntil(async () => {
    last = await history(url, user, chatId);
    return last.filter((m) => want.has(m._id) && m.deleted === true && m.content === '').length === want.size;
  }, {
    timeout: ERASE_TIMEOUT,
    message: `${label}: all ${want.size} messages erased (now: ${JSON.stringify(last.map((m) => [m.seq, !!m.deleted]))})`,
  });
}

/** Sends `n` messages alternately from `users` (every other with a clientMsgId). */
async function sendSome(url, users, chatId, n, tag) {
  const out = [];
  for (let i = 0; i < n; i += 1) {
    const extra = i % 2 === 0 ? { clientMsgId: uniq(`${tag}-cid`) } : {};
    out.push(await send(url, users[i % users.length], chatId, uniq(`${tag}-content`), extra));
  }
  return out;
}

const retention = (url, user, body) => api(url, 'PUT', '/api/chat/retention', { token: user.token, body });

const toEvent = (m) => ({ chatId: m.chat._id, messageId: m._id, seq: m.seq });
const eventKey = (x) => `${x.chatId}/${String(x.seq).padStart(6, '0')}/${x.messageId}`;
const sortEvents = (arr) => arr.slice().sort((x, y) => eventKey(x).localeCompare(eventKey(y)));

/**
 * A barrier for the retention job: a fresh chat with a 1-day retention gets a message, aged by two
 * days; once it is a tombstone, a housekeeping pass ran after everything done before.
 */
async function housekeepingBarrier(srv, a, b) {
  const chat = await createGroup(srv.url, a, [b, await register(srv.url, 'Barrier Member')], uniq('barrier'));
  const r = await retention(srv.url, a, { chatId: chat._id, days: 1 });
  assert.equal(r.status, 200, r.text);
  const m = await send(srv.url, a, chat._id, uniq('barrier-content'));
  ageAll(srv, chat._id, 2, 1);
  await waitErased(srv.url, a, chat._id, [m], 'barrier chat');
  return { chat, m };
}

// ================================================================== the retention setting

describe('PUT /api/chat/retention', () => {
  let srv;
  before(async () => { srv = await startServer(HOUSEKEEPING); });
  after(async () => { if (srv) await stopClean(srv); });

  test('a group admin sets and clears it: the REST chat carries retentionDays, absent after null', async () => {
    const [a, b, c] = await registerMany(srv.url, ['Ret Admin', 'Ret B', 'Ret C']);
    const g = await createGroup(srv.url, a, [b, c]);
    assert.ok(!('retentionDays' in g), 'no retention by default');
    for (const days of [7, 1, 36500]) {
      const r = await retention(srv.url, a, { chatId: g._id, days });
      assert.equal(r.status, 200, r.text);
      assertChat(r.json, { group: true });
      assert.equal(r.json._id, g._id);
      assert.equal(r.json.retentionDays, days);
      const seen = (await chatList(srv.url, b)).find((x) => x._id === g._id);
      assert.equal(seen.retentionDays, days, 'members see it in their chat list');
    }
    const r = await retention(srv.url, a, { chatId: g._id, days: null });
    assert.equal(r.status, 200, r.text);
    assertChat(r.json, { group: true });
    assert.ok(!('retentionDays' in r.json), `cleared: ${r.text}`);
    const seen = (await chatList(srv.url, c)).find((x) => x._id === g._id);
    assert.ok(!('retentionDays' in seen), JSON.stringify(seen));
  });

  test('a non-admin member is 403 forbidden, a non-member 403 not_member; either member of a 1:1 may set it', async () => {
    const [a, b, c, stranger] = await registerMany(srv.url, ['Role Admin', 'Role B', 'Role C', 'Role Stranger']);
    const g = await createGroup(srv.url, a, [b, c]);
    assertError(await retention(srv.url, b, { chatId: g._id, days: 3 }), 403, 'forbidden');
    assertError(await retention(srv.url, stranger, { chatId: g._id, days: 3 }), 403, 'not_member');
    assert.ok(!('retentionDays' in (await chatList(srv.url, a)).find((x) => x._id === g._id)), 'refused: unchanged');

    // a member made admin may set it
    const promote = await api(srv.url, 'PUT', '/api/chat/groupadmin', { token: a.token, body: { chatId: g._id, userId: b._id, admin: true } });
    assert.equal(promote.status, 200, promote.text);
    const byB = await retention(srv.url, b, { chatId: g._id, days: 3 });
    assert.equal(byB.status, 200, byB.text);
    assert.equal(byB.json.retentionDays, 3);

    const one = await oneToOne(srv.url, a, c);
    let r = await retention(srv.url, a, { chatId: one._id, days: 5 });
    assert.equal(r.status, 200, r.text);
    assertChat(r.json, { group: false });
    assert.equal(r.json.retentionDays, 5);
    r = await retention(srv.url, c, { chatId: one._id, days: 2 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.retentionDays, 2);
    assert.equal((await chatList(srv.url, a)).find((x) => x._id === one._id).retentionDays, 2);
    assertError(await retention(srv.url, stranger, { chatId: one._id, days: 9 }), 403, 'not_member');
    r = await retention(srv.url, c, { chatId: one._id, days: null });
    assert.equal(r.status, 200, r.text);
    assert.ok(!('retentionDays' in r.json));
    assertError(await api(srv.url, 'PUT', '/api/chat/retention', { body: { chatId: one._id, days: 1 } }), 401, 'unauthorized');
  });

  test('days must be an integer from 1 to 36500 or null: anything else is 400 invalid_input and changes nothing', async () => {
    const [a, b, c] = await registerMany(srv.url, ['Days Admin', 'Days B', 'Days C']);
    const g = await createGroup(srv.url, a, [b, c]);
    const set = await retention(srv.url, a, { chatId: g._id, days: 30 });
    assert.equal(set.status, 200, set.text);
    const wrong = [];
    for (const body of [
      { chatId: g._id, days: 0 }, { chatId: g._id, days: -1 }, { chatId: g._id, days: 36501 },
      { chatId: g._id, days: 1.5 }, { chatId: g._id, days: '2' }, { chatId: g._id, days: true },
      { chatId: g._id, days: [3] }, { chatId: g._id, days: {} }, { chatId: g._id },
      { days: 3 }, { chatId: 42, days: 3 },
    ]) {
      const r = await retention(srv.url, a, body);
      if (r.status !== 400 || r.json?.code !== 'invalid_input') wrong.push(`${JSON.stringify(body)} -> ${r.status} ${r.text}`);
      else assertError(r, 400, 'invalid_input');
    }
    assert.deepEqual(wrong, [], `expected 400 invalid_input:\n${wrong.join('\n')}`);
    assert.equal((await chatList(srv.url, a)).find((x) => x._id === g._id).retentionDays, 30, 'unchanged');
  });
});

// ================================================================== the retention job

describe('the retention job', () => {
  test('a chat\'s retention: its older messages become tombstones (history, sync, message:deleted); other chats keep theirs', async (t) => {
    const srv = await startServer(HOUSEKEEPING);
    t.after(async () => { closeSockets(); await stopClean(srv); });
    const [a, b, c, bystander] = await registerMany(srv.url, ['Chat Ret A', 'Chat Ret B', 'Chat Ret C', 'Chat Ret Bystander']);
    const kept = await oneToOne(srv.url, a, b);              // no retention
    const group = await createGroup(srv.url, a, [b, c]);     // 1 day
    const r = await retention(srv.url, a, { chatId: group._id, days: 1 });
    assert.equal(r.status, 200, r.text);
    const groupSent = await sendSome(srv.url, [a, b, c], group._id, 6, 'grp');
    const keptSent = await sendSome(srv.url, [a, b], kept._id, 4, 'kept');

    const sb = await nativeClient(srv.url, b.token);
    const sc = await nativeClient(srv.url, c.token);
    const sx = await nativeClient(srv.url, bystander.token);
    const bDeleted = collect(sb, 'message:deleted');
    const cDeleted = collect(sc, 'message:deleted');
    const xDeleted = collect(sx, 'message:deleted');

    ageAll(srv, kept._id, 2, keptSent.length);
    ageAll(srv, group._id, 2, groupSent.length);
    await waitErased(srv.url, b, group._id, groupSent, 'the chat with a 1-day retention');
    const fresh = await send(srv.url, c, group._id, uniq('fresh-content'), { clientMsgId: uniq('fresh-cid') });
    await housekeepingBarrier(srv, a, c);

    await assertHistory(srv.url, b, group._id, [...groupSent, fresh], (m) => m._id !== fresh._id, 'retention chat');
    await assertHistory(srv.url, a, kept._id, keptSent, () => false, 'chat without retention');
    assert.equal((await chatList(srv.url, a)).find((x) => x._id === group._id).latestMessage._id, fresh._id);

    // native sync: tombstones as lean messages, then the fresh one
    const s = await callOk(sb, 'sync', { cursors: { [group._id]: 0 }, limit: 100 });
    const synced = s.messages.filter((m) => m.chatId === group._id);
    assert.deepEqual(synced.map((m) => m.seq), [...groupSent, fresh].map((m) => m.seq));
    for (const [i, orig] of groupSent.entries()) {
      assertLean(synced[i], { _id: orig._id, chatId: group._id, seq: orig.seq, content: '' });
      assert.equal(synced[i].deleted, true);
      assert.ok(!('clientMsgId' in synced[i]), JSON.stringify(synced[i]));
    }
    assertLean(synced.at(-1), { _id: fresh._id, content: fresh.content, clientMsgId: fresh.clientMsgId });
    assert.ok(!synced.at(-1).deleted);

    // live sockets: one message:deleted per erased message of the member's chats, no one else's
    const expected = sortEvents(groupSent.map(toEvent));
    await waitUntil(() => bDeleted.length >= expected.length && cDeleted.length >= expected.length + 1,
      { message: `message:deleted on the members' sockets (b ${bDeleted.length}, c ${cDeleted.length})` });
    const marker = uniq('marker');
    const got = [sb, sc].map((sock) => once(sock, 'message:new', { filter: (m) => m.content === marker }));
    await send(srv.url, a, group._id, marker);
    await Promise.all(got);
    assert.deepEqual(sortEvents(firsts(bDeleted)), expected, 'b: the retention chat\'s erased messages, once each');
    assert.deepEqual(sortEvents(firsts(cDeleted)).filter((x) => x.chatId === group._id), expected, 'c: the same');
    assert.equal(firsts(cDeleted).filter((x) => x.chatId !== group._id).length, 1, 'c: and the barrier chat\'s one');
    const leaked = firsts(xDeleted).map((x) => `${x.chatId === group._id ? 'retention chat' : x.chatId}#${x.seq}`);
    assert.deepEqual(leaked, [], 'a user in none of these chats gets no message:deleted (chat#seq listed)');
  });

  test('--retention-days 2 (server-wide): messages aged 3 days become tombstones, those aged 1 day stay', async (t) => {
    const srv = await startServer([...HOUSEKEEPING, '--retention-days', '2']);
    t.after(async () => { closeSockets(); await stopClean(srv); });
    const [a, b, c] = await registerMany(srv.url, ['Srv Ret A', 'Srv Ret B', 'Srv Ret C']);
    const old = await oneToOne(srv.url, a, b);
    const young = await createGroup(srv.url, a, [b, c]);
    const now = await oneToOne(srv.url, b, c);
    const oldSent = await sendSome(srv.url, [a, b], old._id, 5, 'old');
    const youngSent = await sendSome(srv.url, [a, b, c], young._id, 4, 'young');
    const nowSent = await sendSome(srv.url, [b, c], now._id, 2, 'now');
    const sb = await nativeClient(srv.url, b.token);
    const bDeleted = collect(sb, 'message:deleted');

    ageAll(srv, young._id, 1, youngSent.length);
    ageAll(srv, old._id, 3, oldSent.length);
    await waitErased(srv.url, a, old._id, oldSent, 'messages 3 days old');
    await housekeepingBarrier(srv, a, b);

    await assertHistory(srv.url, b, old._id, oldSent, () => true, '3 days old');
    await assertHistory(srv.url, c, young._id, youngSent, () => false, '1 day old');
    await assertHistory(srv.url, c, now._id, nowSent, () => false, 'new');
    await waitUntil(() => firsts(bDeleted).filter((x) => x.chatId === old._id).length >= oldSent.length,
      { message: 'message:deleted for the old chat on b\'s socket' });
    assert.deepEqual(sortEvents(firsts(bDeleted).filter((x) => x.chatId === old._id)), sortEvents(oldSent.map(toEvent)));
    assert.deepEqual(firsts(bDeleted).filter((x) => x.chatId === young._id || x.chatId === now._id), []);
  });

  test('the shorter of the server\'s and the chat\'s retention wins', async (t) => {
    const srv = await startServer([...HOUSEKEEPING, '--retention-days', '5']);
    t.after(async () => { closeSockets(); await stopClean(srv); });
    const [a, b, c] = await registerMany(srv.url, ['Short A', 'Short B', 'Short C']);
    const chats = {};
    const make = async (name, days) => {
      const g = await createGroup(srv.url, a, [b, c], uniq(name));
      if (days !== null) {
        const r = await retention(srv.url, a, { chatId: g._id, days });
        assert.equal(r.status, 200, r.text);
      }
      chats[name] = { chat: g, sent: await sendSome(srv.url, [a, b, c], g._id, 3, name) };
    };
    await make('chat1aged2', 1);     // chat 1 < server 5: 2 days old -> erased
    await make('noneAged2', null);   // server 5 only: 2 days old -> kept
    await make('chat10aged6', 10);   // server 5 < chat 10: 6 days old -> erased
    await make('chat10aged4', 10);   // server 5 < chat 10: 4 days old -> kept
    await make('chat3aged4', 3);     // chat 3 < server 5: 4 days old -> erased

    const ageChat = (name, days) => ageAll(srv, chats[name].chat._id, days, chats[name].sent.length);
    ageChat('noneAged2', 2);
    ageChat('chat10aged4', 4);
    ageChat('chat1aged2', 2);
    ageChat('chat10aged6', 6);
    ageChat('chat3aged4', 4);
    for (const name of ['chat1aged2', 'chat10aged6', 'chat3aged4']) {
      await waitErased(srv.url, b, chats[name].chat._id, chats[name].sent, name);
    }
    await housekeepingBarrier(srv, a, b);
    for (const [name, erased] of [['chat1aged2', true], ['noneAged2', false], ['chat10aged6', true],
      ['chat10aged4', false], ['chat3aged4', true]]) {
      await assertHistory(srv.url, c, chats[name].chat._id, chats[name].sent, () => erased, name);
    }
  });
});
