// /api/chat: 1:1 chats, chat list, groups and their administration.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, api, register, registerMany, uniq, assertError, assertChat, assertPublicUser, assertSender,
  assertNoSecrets, oneToOne, createGroup, send, chatList, fakeId, sortedIds, ids, ISO_RE, GROUP_TEXT_ERROR, sleep,
} from './harness.mjs';

const fx = serverFixture();
before(fx.start);
after(fx.stop);

describe('POST /api/chat (1:1)', () => {
  test('creates the chat: chatName "sender", isGroupChat false, full users, no password', async () => {
    const [a, b] = await registerMany(fx.url, ['One A', 'One B']);
    const r = await api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId: b._id } });
    assert.equal(r.status, 200, r.text);
    const c = r.json;
    assertChat(c, { group: false });
    assert.equal(c.chatName, 'sender');
    assert.equal(c.isGroupChat, false);
    assert.deepEqual(sortedIds(c.users), [a._id, b._id].sort());
    for (const u of c.users) assertPublicUser(u, u._id === a._id ? a : b);
    assertNoSecrets(c);
    assert.ok(!('latestMessage' in c) || c.latestMessage === null || c.latestMessage === undefined, 'new chat has no latestMessage');
  });

  test('repeated calls, from either side, return the same chat', async () => {
    const [a, b] = await registerMany(fx.url, ['Same A', 'Same B']);
    const c1 = await oneToOne(fx.url, a, b);
    const c2 = await oneToOne(fx.url, a, b);
    const c3 = await oneToOne(fx.url, b, a);
    assert.equal(c2._id, c1._id);
    assert.equal(c3._id, c1._id);
    const list = await chatList(fx.url, a);
    assert.equal(list.filter((c) => c._id === c1._id).length, 1);
    assert.equal(list.filter((c) => !c.isGroupChat).length, 1, 'only one 1:1 chat exists');
  });

  test('concurrent creation from both sides yields one chat', async () => {
    const [a, b] = await registerMany(fx.url, ['Race A', 'Race B']);
    const rs = await Promise.all([
      ...Array.from({ length: 5 }, () => api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId: b._id } })),
      ...Array.from({ length: 5 }, () => api(fx.url, 'POST', '/api/chat', { token: b.token, body: { userId: a._id } })),
    ]);
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(rs.map((r) => r.json._id)).size, 1, 'a single chat id');
    const list = await chatList(fx.url, a);
    assert.equal(list.length, 1);
  });

  test('the returned chat keeps a message as latestMessage', async () => {
    const [a, b] = await registerMany(fx.url, ['LM A', 'LM B']);
    const c = await oneToOne(fx.url, a, b);
    const m = await send(fx.url, a, c._id, 'hello latest');
    const again = await oneToOne(fx.url, b, a);
    assert.equal(again._id, c._id);
    if (again.latestMessage) assert.equal(again.latestMessage._id, m._id);
  });

  test('missing userId → 400 invalid_input', async () => {
    const a = await register(fx.url, 'Miss A');
    assertError(await api(fx.url, 'POST', '/api/chat', { token: a.token, body: {} }), 400, 'invalid_input');
  });

  for (const [label, userId] of [['a number', 42], ['an object', { $gt: '' }], ['an array', ['x']]]) {
    test(`userId as ${label} → 400 invalid_input`, async () => {
      const a = await register(fx.url, 'Type A');
      assertError(await api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId } }), 400, 'invalid_input');
      assert.deepEqual(await chatList(fx.url, a), []);
    });
  }

  test('malformed userId → 404 not_found', async () => {
    const a = await register(fx.url, 'Malf A');
    for (const userId of ['nope', '123', 'zzzzzzzzzzzzzzzzzzzzzzzz', "' OR 1=1 --"]) {
      const r = await api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId } });
      assertError(r, 404, 'not_found');
    }
    assert.deepEqual(await chatList(fx.url, a), []);
  });

  test('unknown userId → 404 not_found', async () => {
    const a = await register(fx.url, 'Unk A');
    assertError(await api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId: fakeId() } }), 404, 'not_found');
    assert.deepEqual(await chatList(fx.url, a), []);
  });

  test('with yourself → 400', async () => {
    const a = await register(fx.url, 'Self A');
    assertError(await api(fx.url, 'POST', '/api/chat', { token: a.token, body: { userId: a._id } }), 400, 'invalid_input');
    assert.deepEqual(await chatList(fx.url, a), []);
  });
});

describe('GET /api/chat', () => {
  test('lists only the caller\'s chats, most recently changed first, with latestMessage', async () => {
    const [me, b, c, d, e, outsider] = await registerMany(fx.url, ['List Me', 'List B', 'List C', 'List D', 'List E', 'List Out']);
    const c1 = await oneToOne(fx.url, me, b);
    await sleep(5);
    const c2 = await oneToOne(fx.url, me, c);
    await sleep(5);
    const g = await createGroup(fx.url, me, [d, e], uniq('List group'));
    await sleep(5);
    const foreign = await oneToOne(fx.url, outsider, b);

    let list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [g._id, c2._id, c1._id], 'newest first');
    assert.ok(!ids(list).includes(foreign._id), 'other people\'s chats are not listed');
    for (const ch of list) assertChat(ch);
    const lg = list.find((x) => x._id === g._id);
    assert.equal(lg.isGroupChat, true);
    assertPublicUser(lg.groupAdmin, me);

    // a new message moves c1 to the top and shows as latestMessage
    await sleep(5);
    const m = await send(fx.url, b, c1._id, 'bump c1');
    list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [c1._id, g._id, c2._id]);
    const lm = list[0].latestMessage;
    assert.ok(lm, 'latestMessage present');
    assert.equal(lm._id, m._id);
    assert.equal(lm.content, 'bump c1');
    assertSender(lm.sender, b);
    assert.match(lm.createdAt, ISO_RE);
    assertNoSecrets(list);

    // a rename moves the group up
    await sleep(5);
    let r = await api(fx.url, 'PUT', '/api/chat/rename', { token: me.token, body: { chatId: g._id, chatName: 'renamed' } });
    assert.equal(r.status, 200, r.text);
    list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [g._id, c1._id, c2._id]);

    // a message in c2 moves c2 up
    await sleep(5);
    await send(fx.url, me, c2._id, 'bump c2');
    list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [c2._id, g._id, c1._id]);

    // add moves the group up
    await sleep(5);
    r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: me.token, body: { chatId: g._id, userId: outsider._id } });
    assert.equal(r.status, 200, r.text);
    list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [g._id, c2._id, c1._id]);

    // a message in c1 then a remove in g
    await sleep(5);
    await send(fx.url, me, c1._id, 'bump c1 again');
    list = await chatList(fx.url, me);
    assert.equal(list[0]._id, c1._id);
    await sleep(5);
    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: me.token, body: { chatId: g._id, userId: outsider._id } });
    assert.equal(r.status, 200, r.text);
    list = await chatList(fx.url, me);
    assert.deepEqual(ids(list), [g._id, c1._id, c2._id]);

    // the outsider no longer sees the group, but still sees their own chat
    const olist = await chatList(fx.url, outsider);
    assert.deepEqual(ids(olist), [foreign._id]);
  });

  test('a fresh user has no chats', async () => {
    const u = await register(fx.url, 'Empty List');
    assert.deepEqual(await chatList(fx.url, u), []);
  });
});

describe('POST /api/chat/group', () => {
  test('users as a JSON string: creator is groupAdmin and a member', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Grp A', 'Grp B', 'Grp C']);
    const name = uniq('Team');
    const r = await api(fx.url, 'POST', '/api/chat/group', {
      token: a.token, body: { name, users: JSON.stringify([b._id, c._id]) },
    });
    assert.equal(r.status, 200, r.text);
    const g = r.json;
    assertChat(g, { group: true });
    assert.equal(g.chatName, name);
    assert.equal(g.isGroupChat, true);
    assert.deepEqual(sortedIds(g.users), [a._id, b._id, c._id].sort());
    assertPublicUser(g.groupAdmin, a);
    for (const u of g.users) assertPublicUser(u, [a, b, c].find((x) => x._id === u._id));
    // every member sees it
    for (const u of [a, b, c]) assert.ok(ids(await chatList(fx.url, u)).includes(g._id));
  });

  test('users as a real array works too, and naming the creator is harmless', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Arr A', 'Arr B', 'Arr C']);
    const r = await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'arr', users: [b._id, c._id, a._id] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(sortedIds(r.json.users), [a._id, b._id, c._id].sort());
    assertPublicUser(r.json.groupAdmin, a);
  });

  for (const [label, users] of [
    ['one other user (string)', (b) => JSON.stringify([b._id])],
    ['one other user (array)', (b) => [b._id]],
    ['no users', () => '[]'],
    ['one other user plus the creator', (b, a) => JSON.stringify([b._id, a._id])],
    ['the same other user twice', (b) => JSON.stringify([b._id, b._id])],
  ]) {
    test(`${label} → 400 plain text "${GROUP_TEXT_ERROR}"`, async () => {
      const [a, b] = await registerMany(fx.url, ['Few A', 'Few B']);
      const r = await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'few', users: users(b, a) } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.text, GROUP_TEXT_ERROR);
      assert.doesNotMatch(r.headers.get('content-type') ?? '', /json/i, 'the one plain-text error');
      assert.deepEqual(await chatList(fx.url, a), [], 'nothing created');
    });
  }

  test('missing name → 400 JSON', async () => {
    const [a, b, c] = await registerMany(fx.url, ['NoName A', 'NoName B', 'NoName C']);
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { users: JSON.stringify([b._id, c._id]) } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: '', users: JSON.stringify([b._id, c._id]) } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: '   ', users: JSON.stringify([b._id, c._id]) } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x'.repeat(101), users: JSON.stringify([b._id, c._id]) } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 42, users: JSON.stringify([b._id, c._id]) } }), 400, 'invalid_input');
    assert.deepEqual(await chatList(fx.url, a), []);
  });

  test('missing or malformed users → 400 JSON', async () => {
    const a = await register(fx.url, 'BadUsers A');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x' } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x', users: 'not json' } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x', users: '{"a":1}' } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x', users: 7 } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x', users: [1, 2] } }), 400, 'invalid_input');
    assert.deepEqual(await chatList(fx.url, a), []);
  });

  test('an unknown user id → 404 not_found and nothing created', async () => {
    const [a, b] = await registerMany(fx.url, ['UnkG A', 'UnkG B']);
    const r = await api(fx.url, 'POST', '/api/chat/group', { token: a.token, body: { name: 'x', users: JSON.stringify([b._id, fakeId()]) } });
    assertError(r, 404, 'not_found');
    assert.deepEqual(await chatList(fx.url, a), []);
    assert.deepEqual(await chatList(fx.url, b), []);
  });

  test('chat name of 100 characters is accepted', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Long A', 'Long B', 'Long C']);
    const g = await createGroup(fx.url, a, [b, c], 'G'.repeat(100));
    assert.equal(g.chatName, 'G'.repeat(100));
  });
});

describe('group administration', () => {
  let a; let b; let c; let d; let g;
  before(async () => {
    [a, b, c, d] = await registerMany(fx.url, ['Adm A', 'Adm B', 'Adm C', 'Adm D']);
    g = await createGroup(fx.url, a, [b, c], uniq('Admin group'));
  });

  for (const p of ['/api/chat/rename', '/api/chat/grouprename', '/api/chat/groupRename']) {
    test(`PUT ${p} renames (admin)`, async () => {
      const name = uniq('Renamed');
      const r = await api(fx.url, 'PUT', p, { token: a.token, body: { chatId: g._id, chatName: name } });
      assert.equal(r.status, 200, r.text);
      assertChat(r.json, { group: true });
      assert.equal(r.json._id, g._id);
      assert.equal(r.json.chatName, name);
      assertPublicUser(r.json.groupAdmin, a);
      const seen = (await chatList(fx.url, b)).find((x) => x._id === g._id);
      assert.equal(seen.chatName, name);
    });
  }

  test('rename validation: missing/empty/too-long chatName → 400, nothing changed', async () => {
    const before1 = (await chatList(fx.url, a)).find((x) => x._id === g._id).chatName;
    for (const body of [{ chatId: g._id }, { chatId: g._id, chatName: '' }, { chatId: g._id, chatName: '  ' },
      { chatId: g._id, chatName: 'x'.repeat(101) }, { chatId: g._id, chatName: 5 }, { chatName: 'no chat id' }]) {
      const r = await api(fx.url, 'PUT', '/api/chat/rename', { token: a.token, body });
      assertError(r, 400, 'invalid_input');
    }
    assert.equal((await chatList(fx.url, a)).find((x) => x._id === g._id).chatName, before1);
  });

  test('rename by a non-admin member → 403 forbidden; by a non-member → 403 not_member', async () => {
    const name = (await chatList(fx.url, a)).find((x) => x._id === g._id).chatName;
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: b.token, body: { chatId: g._id, chatName: 'hijack' } }), 403, 'forbidden');
    assertError(await api(fx.url, 'PUT', '/api/chat/grouprename', { token: d.token, body: { chatId: g._id, chatName: 'hijack' } }), 403, 'not_member');
    assert.equal((await chatList(fx.url, a)).find((x) => x._id === g._id).chatName, name);
  });

  test('rename/add/remove/admin on a 1:1 chat → 400', async () => {
    const one = await oneToOne(fx.url, a, b);
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: a.token, body: { chatId: one._id, chatName: 'x' } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: a.token, body: { chatId: one._id, userId: c._id } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId: one._id, userId: b._id } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: a.token, body: { chatId: one._id, userId: b._id, admin: true } }), 400, 'invalid_input');
    const after1 = (await chatList(fx.url, a)).find((x) => x._id === one._id);
    assert.equal(after1.chatName, 'sender');
    assert.deepEqual(sortedIds(after1.users), [a._id, b._id].sort());
  });

  test('unknown chat → 404 not_found on every admin route', async () => {
    const chatId = fakeId();
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: a.token, body: { chatId, chatName: 'x' } }), 404, 'not_found');
    assertError(await api(fx.url, 'PUT', '/api/chat/grouprename', { token: a.token, body: { chatId, chatName: 'x' } }), 404, 'not_found');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: a.token, body: { chatId, userId: d._id } }), 404, 'not_found');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId, userId: b._id } }), 404, 'not_found');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: a.token, body: { chatId, userId: b._id, admin: true } }), 404, 'not_found');
  });

  test('groupadd: admin adds; adding twice is a no-op; unknown user → 404; non-admin → 403', async () => {
    const [x, y, z, w] = await registerMany(fx.url, ['Add X', 'Add Y', 'Add Z', 'Add W']);
    const grp = await createGroup(fx.url, x, [y, z]);
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: y.token, body: { chatId: grp._id, userId: w._id } }), 403, 'forbidden');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: w.token, body: { chatId: grp._id, userId: w._id } }), 403, 'not_member');
    assert.ok(!ids(await chatList(fx.url, w)).includes(grp._id), 'refused add changed nothing');

    let r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: w._id } });
    assert.equal(r.status, 200, r.text);
    assertChat(r.json, { group: true });
    assert.deepEqual(sortedIds(r.json.users), [x._id, y._id, z._id, w._id].sort());
    assertPublicUser(r.json.users.find((u) => u._id === w._id), w);
    assert.ok(ids(await chatList(fx.url, w)).includes(grp._id), 'added member sees the group');

    r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: w._id } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.users.length, 4, 'adding twice is a no-op');

    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: fakeId() } }), 404, 'not_found');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: { $ne: null } } }), 400, 'invalid_input');
    const list = (await chatList(fx.url, x)).find((c2) => c2._id === grp._id);
    assert.equal(list.users.length, 4);
  });

  test('concurrent groupadd of one user adds them once', async () => {
    const [x, y, z, w] = await registerMany(fx.url, ['CAdd X', 'CAdd Y', 'CAdd Z', 'CAdd W']);
    const grp = await createGroup(fx.url, x, [y, z]);
    const rs = await Promise.all(Array.from({ length: 6 }, () =>
      api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: w._id } })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const seen = (await chatList(fx.url, w)).find((c2) => c2._id === grp._id);
    assert.deepEqual(sortedIds(seen.users), [x._id, y._id, z._id, w._id].sort());
  });

  test('groupremove: admin removes; removing a non-member is a no-op; non-admin → 403', async () => {
    const [x, y, z, w, v] = await registerMany(fx.url, ['Rm X', 'Rm Y', 'Rm Z', 'Rm W', 'Rm V']);
    const grp = await createGroup(fx.url, x, [y, z, w]);
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: y.token, body: { chatId: grp._id, userId: z._id } }), 403, 'forbidden');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: v.token, body: { chatId: grp._id, userId: z._id } }), 403, 'not_member');
    assert.ok(ids(await chatList(fx.url, z)).includes(grp._id), 'refused remove changed nothing');

    let r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id, userId: z._id } });
    assert.equal(r.status, 200, r.text);
    assertChat(r.json, { group: true });
    assert.deepEqual(sortedIds(r.json.users), [x._id, y._id, w._id].sort());
    assert.ok(!ids(await chatList(fx.url, z)).includes(grp._id), 'removed member no longer sees the group');
    const h = await api(fx.url, 'GET', `/api/message/${grp._id}`, { token: z.token });
    assertError(h, 403, 'not_member');

    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id, userId: v._id } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(sortedIds(r.json.users), [x._id, y._id, w._id].sort(), 'removing a non-member is a no-op');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id } }), 400, 'invalid_input');

    // a removed member can be added back
    r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: z._id } });
    assert.equal(r.status, 200, r.text);
    assert.ok(ids(r.json.users).includes(z._id));
  });

  test('an unknown user id → 404 not_found on groupadd, groupremove and groupadmin ("An unknown user id in a request is 404")', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Unk X', 'Unk Y', 'Unk Z']);
    const grp = await createGroup(fx.url, x, [y, z]);
    for (const p of ['/api/chat/groupadd', '/api/chat/groupremove', '/api/chat/groupadmin']) {
      const r = await api(fx.url, 'PUT', p, { token: x.token, body: { chatId: grp._id, userId: fakeId(), admin: true } });
      assertError(r, 404, 'not_found');
    }
    const seen = (await chatList(fx.url, x)).find((c2) => c2._id === grp._id);
    assert.deepEqual(sortedIds(seen.users), [x._id, y._id, z._id].sort());
  });

  test('groupadmin on an existing user who is not a member → 4xx, nothing changed', async () => {
    const [x, y, z, w] = await registerMany(fx.url, ['NmA X', 'NmA Y', 'NmA Z', 'NmA W']);
    const grp = await createGroup(fx.url, x, [y, z]);
    const r = await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: w._id, admin: true } });
    assert.ok([400, 403, 404].includes(r.status), `${r.status} ${r.text}`);
    assertError(r, r.status);
    assert.ok(!ids(await chatList(fx.url, w)).includes(grp._id), 'w was not added');
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: w.token, body: { chatId: grp._id, chatName: 'w' } }), 403, 'not_member');
  });

  test('a member may leave (remove themself); they lose access', async () => {
    const [x, y, z, w] = await registerMany(fx.url, ['Lv X', 'Lv Y', 'Lv Z', 'Lv W']);
    const grp = await createGroup(fx.url, x, [y, z, w]);
    const r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: y.token, body: { chatId: grp._id, userId: y._id } });
    assert.equal(r.status, 200, r.text);
    assert.ok(!ids(r.json.users ?? []).includes(y._id), 'the leaver is not in users');
    assert.ok(!ids(await chatList(fx.url, y)).includes(grp._id));
    const g2 = (await chatList(fx.url, x)).find((c2) => c2._id === grp._id);
    assert.deepEqual(sortedIds(g2.users), [x._id, z._id, w._id].sort());
    assertPublicUser(g2.groupAdmin, x);
    assertError(await api(fx.url, 'POST', '/api/message', { token: y.token, body: { chatId: grp._id, content: 'still here?' } }), 403, 'not_member');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupremove', { token: y.token, body: { chatId: grp._id, userId: y._id } }), 403, 'not_member');
  });

  test('when the last admin leaves, the longest-standing member becomes groupAdmin', async () => {
    const [x, y, z, w] = await registerMany(fx.url, ['Pr X', 'Pr Y', 'Pr Z', 'Pr W']);
    const grp = await createGroup(fx.url, x, [y, z]);
    await sleep(20);
    let r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: x.token, body: { chatId: grp._id, userId: w._id } });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id, userId: y._id } });
    assert.equal(r.status, 200, r.text);
    // members now: x (admin, creator), z (since creation), w (added later)
    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id, userId: x._id } });
    assert.equal(r.status, 200, r.text);
    const seen = (await chatList(fx.url, z)).find((c2) => c2._id === grp._id);
    assert.deepEqual(sortedIds(seen.users), [z._id, w._id].sort());
    assertPublicUser(seen.groupAdmin, z);
    // z can now administer, w cannot
    r = await api(fx.url, 'PUT', '/api/chat/rename', { token: z.token, body: { chatId: grp._id, chatName: 'z rules' } });
    assert.equal(r.status, 200, r.text);
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: w.token, body: { chatId: grp._id, chatName: 'w rules' } }), 403, 'forbidden');
  });

  test('groupadmin grants and revokes the admin role (admins only)', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Ga X', 'Ga Y', 'Ga Z']);
    const grp = await createGroup(fx.url, x, [y, z]);
    // non-admin cannot grant (not even to themself)
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: y.token, body: { chatId: grp._id, userId: y._id, admin: true } }), 403, 'forbidden');
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: y.token, body: { chatId: grp._id, chatName: 'y1' } }), 403, 'forbidden');
    // invalid input
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: y._id, admin: 'yes' } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: y._id } }), 400, 'invalid_input');

    let r = await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: y._id, admin: true } });
    assert.equal(r.status, 200, r.text);
    assertChat(r.json, { group: true });
    assert.equal(r.json._id, grp._id);
    r = await api(fx.url, 'PUT', '/api/chat/rename', { token: y.token, body: { chatId: grp._id, chatName: 'y2' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.chatName, 'y2');
    // y (admin now) may remove z
    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: y.token, body: { chatId: grp._id, userId: z._id } });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: y.token, body: { chatId: grp._id, userId: z._id } });
    assert.equal(r.status, 200, r.text);

    r = await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: y._id, admin: false } });
    assert.equal(r.status, 200, r.text);
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: y.token, body: { chatId: grp._id, chatName: 'y3' } }), 403, 'forbidden');
    assert.equal((await chatList(fx.url, x)).find((c2) => c2._id === grp._id).chatName, 'y2');
  });

  test('with two admins, the creator leaving keeps the other admin (no promotion needed)', async () => {
    const [x, y, z] = await registerMany(fx.url, ['Two X', 'Two Y', 'Two Z']);
    const grp = await createGroup(fx.url, x, [y, z]);
    let r = await api(fx.url, 'PUT', '/api/chat/groupadmin', { token: x.token, body: { chatId: grp._id, userId: z._id, admin: true } });
    assert.equal(r.status, 200, r.text);
    r = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: x.token, body: { chatId: grp._id, userId: x._id } });
    assert.equal(r.status, 200, r.text);
    const seen = (await chatList(fx.url, y)).find((c2) => c2._id === grp._id);
    assertPublicUser(seen.groupAdmin, z);
    assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: y.token, body: { chatId: grp._id, chatName: 'y' } }), 403, 'forbidden');
    r = await api(fx.url, 'PUT', '/api/chat/rename', { token: z.token, body: { chatId: grp._id, chatName: 'z' } });
    assert.equal(r.status, 200, r.text);
  });
});
