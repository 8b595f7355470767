// Membership drives delivery: chat:updated to every member (an added one included) after a group
// change; chat:removed to a removed or leaving member, whose sockets (native and classic) stop
// receiving anything of that chat at once; non-members can neither join, send, read, sync nor type.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, send, api, fakeId, uniq, assertChat, nativeClient, classicClient, classicTypingReaches,
  once, never, collect, firsts, flush, call, callOk, callErr, sendNative, sleep, ms,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

const put = (user, p, body) => api(fx.url, 'PUT', p, { token: user.token, body });

async function putOk(user, p, body) {
  const r = await put(user, p, body);
  assert.equal(r.status, 200, `${p}: ${r.status} ${r.text}`);
  return r.json;
}

/** Waits for chat:updated about `chatId` (satisfying `pred`) on every socket; returns the payloads. */
function updatedOn(sockets, chatId, pred = () => true) {
  return Promise.all(sockets.map((s) => once(s, 'chat:updated', {
    filter: (p) => p?.chat?._id === chatId && pred(p.chat),
  }).then(([p]) => p)));
}

describe('chat:updated', () => {
  test('on create, rename, add (the added member included), admin change and remove', async () => {
    const [a, b, c, d] = await registerMany(fx.url, ['Upd A', 'Upd B', 'Upd C', 'Upd D']);
    const [sa, sb, sc, sd] = await Promise.all([a, b, c, d].map((u) => nativeClient(fx.url, u.token)));

    // create: every member, the creator included
    const name = uniq('grp');
    let w = Promise.all([sa, sb, sc].map((s) => once(s, 'chat:updated', { filter: (p) => p?.chat?.chatName === name })));
    const dNever = never(sd, 'chat:updated', 300, (p) => p?.chat?.chatName === name);
    const g = await createGroup(fx.url, a, [b, c], name);
    for (const [p] of await w) {
      assert.deepEqual(Object.keys(p), ['chat']);
      assertChat(p.chat, { group: true });
      assert.equal(p.chat._id, g._id);
    }
    await dNever;

    // rename
    const renamed = uniq('renamed');
    w = updatedOn([sa, sb, sc], g._id, (ch) => ch.chatName === renamed);
    await putOk(a, '/api/chat/rename', { chatId: g._id, chatName: renamed });
    await w;

    // add d: d (newly a member) gets it too, with d among the users
    w = updatedOn([sa, sb, sc, sd], g._id, (ch) => ch.users.some((u) => u._id === d._id));
    await putOk(a, '/api/chat/groupadd', { chatId: g._id, userId: d._id });
    for (const p of await w) {
      assertChat(p.chat, { group: true });
      assert.deepEqual(p.chat.users.map((u) => u._id).sort(), [a, b, c, d].map((u) => u._id).sort());
      assert.equal(p.chat.chatName, renamed);
    }
    // d now receives the chat's messages
    const got = once(sd, 'message:new', { filter: (m) => m.chatId === g._id });
    await sendNative(sa, g._id, 'welcome d');
    await got;

    // admin change
    w = updatedOn([sa, sb, sc, sd], g._id);
    await putOk(a, '/api/chat/groupadmin', { chatId: g._id, userId: b._id, admin: true });
    await w;

    // remove c: the others get chat:updated without c, c gets chat:removed
    w = updatedOn([sa, sb, sd], g._id, (ch) => !ch.users.some((u) => u._id === c._id));
    const removed = once(sc, 'chat:removed', { filter: (p) => p?.chatId === g._id });
    await putOk(a, '/api/chat/groupremove', { chatId: g._id, userId: c._id });
    await w;
    const [rp] = await removed;
    assert.deepEqual(rp, { chatId: g._id });
  });

  test('a member who leaves gets chat:removed on every socket; the rest get chat:updated', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Leave A', 'Leave B', 'Leave C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const [sa, sb, c1, c2] = await Promise.all([a, b, c, c].map((u) => nativeClient(fx.url, u.token)));
    const w = updatedOn([sa, sb], g._id, (ch) => !ch.users.some((u) => u._id === c._id));
    const r = Promise.all([c1, c2].map((s) => once(s, 'chat:removed', { filter: (p) => p?.chatId === g._id })));
    await putOk(c, '/api/chat/groupremove', { chatId: g._id, userId: c._id });
    await w;
    await r;
    await callErr(c1, 'message:send', { chatId: g._id, clientMsgId: uniq('k'), content: 'gone' }, 'not_member');
  });
});

describe('a removed member', () => {
  test('receives nothing of the chat afterwards: no message:new, no typing, no message recieved', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Rmv A', 'Rmv B', 'Rmv C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const [sa, sb, sc] = await Promise.all([a, b, c].map((u) => nativeClient(fx.url, u.token)));
    const [ca, cb, cc] = await Promise.all([a, b, c].map((u) => classicClient(fx.url, u)));
    for (const s of [ca, cb, cc]) s.emit('join chat', g._id);

    // before: c gets everything (and its classic socket is in the room)
    const beforeNative = once(sc, 'message:new', { filter: (m) => m.content === 'before' });
    const beforeClassic = once(cc, 'message recieved', { filter: (m) => m.content === 'before' });
    await classicTypingReaches(cb, cc, g._id);
    await classicTypingReaches(cb, ca, g._id);
    await sendNative(sa, g._id, 'before');
    await beforeNative;
    await beforeClassic;

    const removed = once(sc, 'chat:removed', { filter: (p) => p?.chatId === g._id });
    await putOk(a, '/api/chat/groupremove', { chatId: g._id, userId: c._id });
    await removed;

    const leaks = [];
    for (const e of ['message:new', 'typing', 'receipt']) sc.on(e, (...x) => leaks.push(`native ${e} ${JSON.stringify(x)}`));
    for (const e of ['message recieved', 'typing', 'stop typing']) cc.on(e, (...x) => leaks.push(`classic ${e} ${JSON.stringify(x)}`));

    // b is still typing from the classic socket: end it, so that the native start is a change
    const bStopped = once(sa, 'typing', { filter: (p) => p?.userId === b._id && p.typing === false });
    cb.emit('stop typing', g._id);
    await bStopped;

    // everything that would have reached c
    const bTyping = once(sa, 'typing', { filter: (p) => p?.userId === b._id && p.typing === true });
    await callOk(sb, 'typing:start', { chatId: g._id });
    await bTyping;
    await classicTypingReaches(cb, ca, g._id);
    cb.emit('stop typing', g._id);
    await send(fx.url, a, g._id, 'after over REST');
    await sendNative(sb, g._id, 'after over the socket');
    await callOk(sb, 'message:read', { chatId: g._id, seq: 3 });
    await callOk(sb, 'typing:stop', { chatId: g._id });
    await flush(fx.url, a, g._id, { natives: [sb], classics: [cb] });
    await flush(fx.url, b, g._id, { natives: [sa], classics: [ca] });
    assert.deepEqual(leaks, []);

    // and c can no longer act on it
    await callErr(sc, 'message:send', { chatId: g._id, clientMsgId: uniq('k'), content: 'let me in' }, 'not_member');
    await callErr(sc, 'typing:start', { chatId: g._id }, 'not_member');
    await callErr(sc, 'message:read', { chatId: g._id, seq: 1 }, 'not_member');
    // re-joining the room over the classic socket is refused (ignored)
    cc.emit('join chat', g._id);
    await sleep(ms(100));
    cb.emit('typing', g._id);
    await send(fx.url, a, g._id, 'after rejoin attempt');
    await flush(fx.url, b, g._id, { natives: [sa], classics: [ca] });
    assert.deepEqual(leaks, []);
  });
});

describe('non-members', () => {
  test('cannot join, send, read, sync or type; unknown chats are not_found', async () => {
    const [a, b, x] = await registerMany(fx.url, ['Mem A', 'Mem B', 'Outsider']);
    const chat = await oneToOne(fx.url, a, b);
    const [sa, sb, sx] = await Promise.all([a, b, x].map((u) => nativeClient(fx.url, u.token)));
    const [ca, cb, cx] = await Promise.all([a, b, x].map((u) => classicClient(fx.url, u)));
    for (const s of [ca, cb, cx]) s.emit('join chat', chat._id);
    await sendNative(sa, chat._id, 'private');

    const leaks = [];
    for (const e of ['message:new', 'typing', 'receipt']) sx.on(e, (...y) => leaks.push(`native ${e} ${JSON.stringify(y)}`));
    for (const e of ['message recieved', 'typing', 'stop typing']) cx.on(e, (...y) => leaks.push(`classic ${e} ${JSON.stringify(y)}`));
    const typingOnA = collect(ca, 'typing');
    const nativeTypingOnA = collect(sa, 'typing');

    await classicTypingReaches(cb, ca, chat._id); // the members' joins went through
    typingOnA.length = 0;
    await callErr(sx, 'message:send', { chatId: chat._id, clientMsgId: uniq('k'), content: 'intrude' }, 'not_member');
    await callErr(sx, 'message:delivered', { chatId: chat._id, seq: 1 }, 'not_member');
    await callErr(sx, 'message:read', { chatId: chat._id, seq: 1 }, 'not_member');
    await callErr(sx, 'typing:start', { chatId: chat._id }, 'not_member');
    await callErr(sx, 'typing:stop', { chatId: chat._id }, 'not_member');
    cx.emit('typing', chat._id);
    cx.emit('stop typing', chat._id);
    await flush(fx.url, b, chat._id, { natives: [sa], classics: [ca] });
    assert.deepEqual(typingOnA, [], 'the outsider\'s classic typing reaches nobody');

    // sync naming the chat: refused or skipped (listed in removed), never its messages
    const sy = await call(sx, 'sync', { cursors: { [chat._id]: 0 } });
    if (sy?.ok === false) assert.equal(sy.error?.code, 'not_member', JSON.stringify(sy));
    else {
      assert.equal(sy?.ok, true, JSON.stringify(sy));
      assert.deepEqual(sy.messages.filter((m) => m.chatId === chat._id), []);
      assert.deepEqual(sy.removed, [chat._id]);
      assert.equal(sy.receipts.some((r) => r.chatId === chat._id), false);
    }
    const syAll = await callOk(sx, 'sync', {});
    assert.deepEqual(syAll.messages, [], 'an unnamed sync covers only the caller\'s chats');

    // REST reading is refused too
    const h = await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: x.token });
    assert.equal(h.status, 403, h.text);
    assert.equal(h.json?.code, 'not_member');

    // unknown chat
    const ghost = fakeId();
    await callErr(sx, 'message:send', { chatId: ghost, clientMsgId: uniq('k'), content: 'void' }, 'not_found');
    await callErr(sx, 'message:read', { chatId: ghost, seq: 1 }, 'not_found');
    await callErr(sx, 'typing:start', { chatId: ghost }, 'not_found');

    await callOk(sb, 'typing:start', { chatId: chat._id });
    await callOk(sb, 'message:read', { chatId: chat._id, seq: 1 });
    await flush(fx.url, b, chat._id, { natives: [sa], classics: [ca] });
    await flush(fx.url, a, chat._id, { natives: [sb], classics: [cb] });
    assert.deepEqual(leaks, []);
    assert.equal(firsts(nativeTypingOnA).filter((p) => p.userId === x._id).length, 0);
    // the outsider's sockets still work
    const own = await oneToOne(fx.url, x, a);
    await sendNative(sx, own._id, 'hello from outside');
  });
});
