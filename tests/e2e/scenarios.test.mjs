// End-to-end stories the way a classic MERN frontend drives the API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, api, uniq, uniqueEmail, assertError, assertMessage, assertChat, assertPublicUser, assertSender,
  assertNoSecrets, sortedIds, ids, GROUP_TEXT_ERROR,
} from './harness.mjs';

const fx = serverFixture();
before(fx.start);
after(fx.stop);

async function signUp(name) {
  const email = uniqueEmail(name.toLowerCase().replace(/\W/g, ''));
  const password = `pw-${uniq('p')}`;
  const r = await api(fx.url, 'POST', '/api/user', { body: { name, email, password } });
  assert.equal(r.status, 201, r.text);
  // the frontend logs in again later with the same credentials
  const l = await api(fx.url, 'POST', '/api/user/login', { body: { email, password } });
  assert.equal(l.status, 200, l.text);
  assert.equal(l.json._id, r.json._id);
  return { ...l.json, password };
}

test('two users: register, find each other, open a chat, talk, read the history', async () => {
  const tag = uniq('duo');
  const alice = await signUp(`Alice ${tag}`);
  const bob = await signUp(`Bob ${tag}`);

  // Alice searches for Bob
  const s = await api(fx.url, 'GET', `/api/user?search=${encodeURIComponent(`bob ${tag}`)}`, { token: alice.token });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.length, 1);
  assertPublicUser(s.json[0], bob);

  // Alice opens the chat (accessChat), Bob sees it in his list
  const open = await api(fx.url, 'POST', '/api/chat', { token: alice.token, body: { userId: s.json[0]._id } });
  assert.equal(open.status, 200, open.text);
  const chat = open.json;
  assertChat(chat, { group: false });
  let bl = await api(fx.url, 'GET', '/api/chat', { token: bob.token });
  assert.deepEqual(ids(bl.json), [chat._id]);

  // The conversation; the classic client sends the chat object as chatId
  const lines = [[alice, 'Hi Bob!'], [bob, 'Hey Alice 👋'], [alice, 'How are you?'], [alice, 'Long time no see.'], [bob, 'Great, thanks!']];
  const sent = [];
  for (const [who, text] of lines) {
    const r = await api(fx.url, 'POST', '/api/message', { token: who.token, body: { content: text, chatId: chat } });
    assert.equal(r.status, 200, r.text);
    assertMessage(r.json);
    assertSender(r.json.sender, who);
    assert.equal(r.json.chat._id, chat._id);
    sent.push(r.json);
  }
  assert.deepEqual(sent.map((m) => m.seq), [1, 2, 3, 4, 5]);

  // Both read the same history, in order
  for (const who of [alice, bob]) {
    const h = await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: who.token });
    assert.equal(h.status, 200, h.text);
    assert.deepEqual(h.json.map((m) => m.content), lines.map(([, t]) => t));
    assert.deepEqual(h.json.map((m) => m.sender._id), lines.map(([w]) => w._id));
    assert.deepEqual(h.json.map((m) => m._id), ids(sent));
    for (const m of h.json) assertMessage(m);
    assertNoSecrets(h.json);
  }

  // The chat list shows the latest message for both
  bl = await api(fx.url, 'GET', '/api/chat', { token: bob.token });
  const al = await api(fx.url, 'GET', '/api/chat', { token: alice.token });
  for (const l of [al, bl]) {
    assert.equal(l.json.length, 1);
    assert.equal(l.json[0].latestMessage._id, sent[4]._id);
    assert.equal(l.json[0].latestMessage.content, 'Great, thanks!');
  }

  // Bob answered last, so everything up to 5 is read by Bob; Alice read up to 4
  const h = (await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: alice.token })).json;
  assert.deepEqual(h.map((m) => m.readBy), [[bob._id], [alice._id], [bob._id], [bob._id], []]);
  const st = await api(fx.url, 'GET', `/api/message/${chat._id}/${sent[3]._id}/status`, { token: alice.token });
  assert.equal(st.json.status, 'read');
  const st5 = await api(fx.url, 'GET', `/api/message/${chat._id}/${sent[4]._id}/status`, { token: bob.token });
  assert.equal(st5.json.status, 'sent');
});

test('three users: a group from creation through messages, rename, add, remove and leave', async () => {
  const tag = uniq('trio');
  const ann = await signUp(`Ann ${tag}`);
  const ben = await signUp(`Ben ${tag}`);
  const cat = await signUp(`Cat ${tag}`);
  const dan = await signUp(`Dan ${tag}`);

  // Ann finds the others and tries with just one: the classic plain-text refusal
  const found = (await api(fx.url, 'GET', `/api/user?search=${encodeURIComponent(tag)}`, { token: ann.token })).json;
  assert.deepEqual(sortedIds(found), [ben._id, cat._id, dan._id].sort());
  const tooFew = await api(fx.url, 'POST', '/api/chat/group', { token: ann.token, body: { name: 'Trio', users: JSON.stringify([ben._id]) } });
  assert.equal(tooFew.status, 400);
  assert.equal(tooFew.text, GROUP_TEXT_ERROR);

  // Create the group the classic way (users as a JSON string)
  const cr = await api(fx.url, 'POST', '/api/chat/group', { token: ann.token, body: { name: `Trio ${tag}`, users: JSON.stringify([ben._id, cat._id]) } });
  assert.equal(cr.status, 200, cr.text);
  const g = cr.json;
  assertChat(g, { group: true });
  assertPublicUser(g.groupAdmin, ann);
  assert.deepEqual(sortedIds(g.users), [ann._id, ben._id, cat._id].sort());

  // Messages from all three, some concurrent
  const seq1 = (await api(fx.url, 'POST', '/api/message', { token: ann.token, body: { content: 'Welcome!', chatId: g._id } })).json;
  const seq2 = (await api(fx.url, 'POST', '/api/message', { token: ben.token, body: { content: 'Thanks Ann', chatId: g } })).json;
  const seq3 = (await api(fx.url, 'POST', '/api/message', { token: cat.token, body: { content: 'Hi all', chatId: g._id } })).json;
  assert.deepEqual([seq1.seq, seq2.seq, seq3.seq], [1, 2, 3]);
  const burst = await Promise.all([ann, ben, cat].map((u, i) =>
    api(fx.url, 'POST', '/api/message', { token: u.token, body: { content: `burst ${i}`, chatId: g._id, clientMsgId: `b-${i}` } })));
  for (const r of burst) assert.equal(r.status, 200, r.text);
  assert.deepEqual(burst.map((r) => r.json.seq).sort(), [4, 5, 6]);

  let h = (await api(fx.url, 'GET', `/api/message/${g._id}`, { token: cat.token })).json;
  assert.deepEqual(h.map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(h.slice(0, 3).map((m) => [m.sender._id, m.content]), [[ann._id, 'Welcome!'], [ben._id, 'Thanks Ann'], [cat._id, 'Hi all']]);
  for (const m of h) {
    assertMessage(m);
    assertPublicUser(m.chat.groupAdmin, ann);
  }

  // Dan is not in yet: refused, and nothing leaks
  assertError(await api(fx.url, 'GET', `/api/message/${g._id}`, { token: dan.token }), 403, 'not_member');

  // Rename (admin) — Ben may not
  assertError(await api(fx.url, 'PUT', '/api/chat/rename', { token: ben.token, body: { chatId: g._id, chatName: 'Bens' } }), 403, 'forbidden');
  const rn = await api(fx.url, 'PUT', '/api/chat/rename', { token: ann.token, body: { chatId: g._id, chatName: `Quartet ${tag}` } });
  assert.equal(rn.status, 200, rn.text);
  assert.equal(rn.json.chatName, `Quartet ${tag}`);

  // Add Dan: he sees the group and its history, and can talk
  const add = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: ann.token, body: { chatId: g._id, userId: dan._id } });
  assert.equal(add.status, 200, add.text);
  assert.deepEqual(sortedIds(add.json.users), [ann._id, ben._id, cat._id, dan._id].sort());
  const dl = (await api(fx.url, 'GET', '/api/chat', { token: dan.token })).json;
  assert.equal(dl[0]._id, g._id);
  assert.equal(dl[0].chatName, `Quartet ${tag}`);
  h = (await api(fx.url, 'GET', `/api/message/${g._id}`, { token: dan.token })).json;
  assert.equal(h.length, 6);
  const dm = (await api(fx.url, 'POST', '/api/message', { token: dan.token, body: { content: 'Dan here', chatId: g._id } })).json;
  assert.equal(dm.seq, 7);
  assert.equal(dm.chat.users.length, 4);

  // Remove Ben (admin)
  const rm = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: ann.token, body: { chatId: g._id, userId: ben._id } });
  assert.equal(rm.status, 200, rm.text);
  assert.deepEqual(sortedIds(rm.json.users), [ann._id, cat._id, dan._id].sort());
  assertError(await api(fx.url, 'POST', '/api/message', { token: ben.token, body: { content: 'let me in', chatId: g._id } }), 403, 'not_member');
  assert.ok(!ids((await api(fx.url, 'GET', '/api/chat', { token: ben.token })).json).includes(g._id));

  // Cat leaves
  const lv = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: cat.token, body: { chatId: g._id, userId: cat._id } });
  assert.equal(lv.status, 200, lv.text);
  assert.ok(!ids((await api(fx.url, 'GET', '/api/chat', { token: cat.token })).json).includes(g._id));

  // Ann (the only admin) leaves: Dan, the longest-standing remaining member, becomes admin
  const al = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: ann.token, body: { chatId: g._id, userId: ann._id } });
  assert.equal(al.status, 200, al.text);
  const dg = (await api(fx.url, 'GET', '/api/chat', { token: dan.token })).json.find((c) => c._id === g._id);
  assert.deepEqual(ids(dg.users), [dan._id]);
  assertPublicUser(dg.groupAdmin, dan);

  // The history is complete and ordered for the last member
  h = (await api(fx.url, 'GET', `/api/message/${g._id}`, { token: dan.token })).json;
  assert.deepEqual(h.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(h[6].content, 'Dan here');
  const fin = await api(fx.url, 'PUT', '/api/chat/rename', { token: dan.token, body: { chatId: g._id, chatName: 'Solo' } });
  assert.equal(fin.status, 200, fin.text);
});
