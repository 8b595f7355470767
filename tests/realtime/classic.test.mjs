// The classic MERN socket events, which existing frontends use unchanged: `setup` (the REST user
// object with its token) -> `connected`; `join chat`; `typing` / `stop typing` relayed with no
// arguments; `message recieved` (sic) pushed by the server for every committed message to every
// member but the sender. Plus the rules around them: setup verifies the token, a socket that does
// not set up in time is dropped, events before setup do nothing, classic and native never mix.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, startServer, stopClean, closeSockets, api, register, registerMany, oneToOne, createGroup, send,
  classicClient, classicTypingReaches, nativeClient, rawSocket, connected, once, never, collect, firsts, flush, call, callOk,
  sendNative, messageStatus, assertMessage, waitUntil, sleep, ms, uniq,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

/** Two users, their 1:1 chat and a classic socket each that joined it. */
async function classicPair() {
  const [a, b] = await registerMany(fx.url, ['Classic A', 'Classic B']);
  const chat = await oneToOne(fx.url, a, b);
  const ca = await classicClient(fx.url, a);
  const cb = await classicClient(fx.url, b);
  ca.emit('join chat', chat._id);
  cb.emit('join chat', chat._id);
  return { a, b, chat, ca, cb };
}

describe('classic flow', () => {
  test('setup -> connected; join chat; typing and stop typing reach the other user with no args', async () => {
    const { a, b, chat, ca, cb } = await classicPair();
    const typingA = collect(ca, 'typing');
    const stopA = collect(ca, 'stop typing');
    const typingB = collect(cb, 'typing');

    // Joining is not acknowledged: typing is repeated until it arrives.
    const args = await classicTypingReaches(cb, ca, chat._id);
    assert.deepEqual(args, [], '`typing` carries no arguments');

    const gotStop = once(ca, 'stop typing');
    cb.emit('stop typing', chat._id);
    assert.deepEqual(await gotStop, [], '`stop typing` carries no arguments');

    await flush(fx.url, a, chat._id, { classics: [cb] });
    await flush(fx.url, b, chat._id, { classics: [ca] });
    assert.equal(typingB.length, 0, 'the typing user does not get their own typing');
    for (const x of typingA) assert.deepEqual(x, []);
    assert.ok(typingA.length >= 1, `typing events: ${typingA.length}`);
    assert.deepEqual(stopA, [[]]);
  });

  test('a REST send reaches the other user as `message recieved` (classic shape) and not the sender', async () => {
    const { a, b, chat, ca, cb } = await classicPair();
    const gotA = collect(ca, 'message recieved');
    const got = once(cb, 'message recieved');
    const m = await send(fx.url, a, chat._id, 'hello over REST');
    const [msg] = await got;
    assertMessage(msg);
    assert.equal(msg._id, m._id);
    assert.equal(msg.seq, m.seq);
    assert.equal(msg.content, 'hello over REST');
    assert.equal(msg.sender._id, a._id);
    assert.equal(msg.sender.name, a.name);
    assert.equal(msg.sender.email, a.email);
    assert.equal(msg.chat._id, chat._id);
    assert.equal(msg.chat.isGroupChat, false);
    assert.deepEqual(msg.chat.users.map((u) => u._id).sort(), [a._id, b._id].sort(), 'chat.users are full user objects');

    // b answers: a gets it, b does not.
    await flush(fx.url, b, chat._id, { classics: [ca] });
    assert.deepEqual(gotA.map(([x]) => x.sender._id), [b._id], 'the sender never gets its own message');
  });

  test('every member but the sender gets `message recieved` once, joined to the room or not', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Grp A', 'Grp B', 'Grp C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const [ca, cb, cc] = await Promise.all([classicClient(fx.url, a), classicClient(fx.url, b), classicClient(fx.url, c)]);
    ca.emit('join chat', g._id);
    cb.emit('join chat', g._id); // c only did setup
    const seen = [ca, cb, cc].map((s) => collect(s, 'message recieved'));
    const m = await send(fx.url, a, g._id, 'to the group');
    await flush(fx.url, b, g._id, { classics: [ca, cc] });
    await flush(fx.url, c, g._id, { classics: [ca, cb] });
    const ofM = (arr) => arr.filter(([x]) => x._id === m._id);
    assert.equal(ofM(seen[0]).length, 0, 'not to the sender');
    assert.equal(ofM(seen[1]).length, 1, 'b (joined) once');
    assert.equal(ofM(seen[2]).length, 1, 'c (not joined) once');
    assert.equal(ofM(seen[2])[0][0].chat.isGroupChat, true);
    assert.equal(ofM(seen[2])[0][0].chat.groupAdmin._id, a._id);
  });

  test('a message sent over a native socket reaches classic sockets as `message recieved`', async () => {
    const { a, b, chat, ca, cb } = await classicPair();
    const na = await nativeClient(fx.url, a.token);
    const gotA = collect(ca, 'message recieved');
    const got = once(cb, 'message recieved');
    const lean = await sendNative(na, chat._id, 'native to classic');
    const [msg] = await got;
    assertMessage(msg);
    assert.equal(msg._id, lean._id);
    assert.equal(msg.seq, lean.seq);
    assert.equal(msg.content, 'native to classic');
    await flush(fx.url, b, chat._id, { classics: [ca] });
    assert.equal(gotA.filter(([x]) => x._id === lean._id).length, 0, "not to the sender's classic socket");
  });

  test('`new message` from a client is not relayed (the server already pushed on commit)', async () => {
    const { a, b, chat, ca, cb } = await classicPair();
    const pushed = once(cb, 'message recieved', { filter: (x) => x.content === 'once only' });
    const m = await send(fx.url, a, chat._id, 'once only');
    await pushed;  // the push on commit; it may land after the REST answer
    const seen = collect(cb, 'message recieved');
    ca.emit('new message', { ...m, content: 'relayed copy', _id: m._id });
    ca.emit('new message', m);
    await flush(fx.url, a, chat._id, { classics: [cb] });
    assert.equal(seen.filter(([x]) => x.content === 'relayed copy' || x._id === m._id).length, 0,
      `client relays are ignored: ${JSON.stringify(seen.map(([x]) => x.content))}`);
    const h = await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: b.token });
    assert.equal(h.json.filter((x) => x.content === 'relayed copy').length, 0, '`new message` stores nothing');
  });

  test('a classic socket counts as delivery: the status goes to delivered without any report', async () => {
    const { a, chat, cb } = await classicPair();
    const got = once(cb, 'message recieved');
    const m = await send(fx.url, a, chat._id, 'delivered by writing it');
    await got;
    await waitUntil(async () => (await messageStatus(fx.url, a, chat._id, m._id)).members[0].delivered === true,
      { timeout: 5000, message: 'delivered status after a classic socket received the message' });
    const s = await messageStatus(fx.url, a, chat._id, m._id);
    assert.ok(['delivered', 'read'].includes(s.status), s.status);
  });
});

describe('setup', () => {
  test('setup uses the token\'s user, whatever `_id` says', async () => {
    const [a, b, mallory] = await registerMany(fx.url, ['Spoof A', 'Spoof B', 'Mallory']);
    const chat = await oneToOne(fx.url, a, b);
    const cb = await classicClient(fx.url, b);
    cb.emit('join chat', chat._id);
    // mallory claims to be b but holds her own token
    const cm = await classicClient(fx.url, { ...b, token: mallory.token });
    cm.emit('join chat', chat._id);
    const seenM = collect(cm, 'message recieved');
    const typingM = collect(cm, 'typing');
    await sleep(ms(100));
    await flush(fx.url, a, chat._id, { classics: [cb] });
    const ca = await classicClient(fx.url, a);
    ca.emit('join chat', chat._id);
    await classicTypingReaches(ca, cb, chat._id);
    await flush(fx.url, a, chat._id, { classics: [cb] });
    assert.deepEqual(seenM, [], 'a spoofed _id does not receive the other user\'s messages');
    assert.deepEqual(typingM, [], 'nor their typing');
  });

  test('setup with a bad token: the server disconnects the socket', async () => {
    const [u] = await registerMany(fx.url, ['Bad Setup']);
    for (const token of ['garbage', `${u.token}x`, '', undefined]) {
      const s = await connected(rawSocket(fx.url));
      const gone = once(s, 'disconnect', { timeout: 5000 });
      const conn = never(s, 'connected', 300);
      s.emit('setup', { ...u, token });
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect', `token ${JSON.stringify(token)}`);
      await conn;
    }
    // a setup without a user object at all
    const s = await connected(rawSocket(fx.url));
    const gone = once(s, 'disconnect', { timeout: 5000 });
    s.emit('setup');
    assert.equal((await gone)[0], 'io server disconnect');
  });

  test('events before setup are ignored; acked ones get unauthorized', async () => {
    const { a, b, chat, cb } = await classicPair();
    const s = await connected(rawSocket(fx.url));
    const typingB = collect(cb, 'typing');
    s.emit('join chat', chat._id);
    s.emit('typing', chat._id);
    s.emit('new message', { content: 'x', chat });
    const r = await call(s, 'join chat', chat._id);
    assert.equal(r?.ok, false, JSON.stringify(r));
    assert.equal(r.error?.code, 'unauthorized', JSON.stringify(r));
    const r2 = await call(s, 'message:send', { chatId: chat._id, clientMsgId: uniq('k'), content: 'sneaky' });
    assert.equal(r2?.ok, false, JSON.stringify(r2));
    assert.equal(r2.error?.code, 'unauthorized', JSON.stringify(r2));
    const seen = collect(s, 'message recieved');
    await flush(fx.url, a, chat._id, { classics: [cb] });
    assert.deepEqual(seen, [], 'a socket that has not set up receives nothing');
    assert.deepEqual(typingB, [], 'no typing relayed before setup');
    const h = await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: b.token });
    assert.equal(h.json.some((m) => m.content === 'sneaky'), false);
    // setup still works afterwards
    const ok = once(s, 'connected');
    s.emit('setup', b);
    await ok;
  });
});

describe('setup timeout', () => {
  let srv;
  after(async () => { closeSockets(); if (srv) await stopClean(srv); });

  test('a socket that does not set up within --classic-setup-timeout-ms is dropped; one that does stays', async () => {
    const timeoutMs = 1500;
    srv = await startServer(['--classic-setup-timeout-ms', String(timeoutMs)]);
    const u = await register(srv.url, 'Timely');
    const idle = await connected(rawSocket(srv.url));
    const t0 = Date.now();
    const setUp = await classicClient(srv.url, u);
    const native = await nativeClient(srv.url, u.token);
    const keep1 = never(setUp, 'disconnect', timeoutMs * 2);
    const keep2 = never(native, 'disconnect', timeoutMs * 2);
    const [reason] = await once(idle, 'disconnect', { timeout: timeoutMs + 5000 });
    const took = Date.now() - t0;
    assert.equal(reason, 'io server disconnect');
    assert.ok(took >= timeoutMs - 300, `dropped after ${took} ms, before the ${timeoutMs} ms timeout`);
    await keep1;
    await keep2;
    assert.ok(setUp.connected && native.connected);
  });
});

describe('classic and native never mix', () => {
  test('classic sockets get only classic events, native sockets only native events', async () => {
    const [a, b] = await registerMany(fx.url, ['Mix A', 'Mix B']);
    const chat = await oneToOne(fx.url, a, b);
    const [ca, cb] = await Promise.all([classicClient(fx.url, a), classicClient(fx.url, b)]);
    const [na, nb] = await Promise.all([nativeClient(fx.url, a.token), nativeClient(fx.url, b.token)]);
    ca.emit('join chat', chat._id);
    cb.emit('join chat', chat._id);
    const NATIVE = ['message:new', 'receipt', 'presence', 'chat:updated', 'chat:removed'];
    const CLASSIC = ['message recieved', 'stop typing', 'connected'];
    const leaks = [];
    for (const s of [ca, cb]) for (const e of NATIVE) s.on(e, (...x) => leaks.push(`classic got ${e} ${JSON.stringify(x)}`));
    for (const s of [na, nb]) for (const e of CLASSIC) s.on(e, (...x) => leaks.push(`native got ${e} ${JSON.stringify(x)}`));
    // `typing` exists in both: no-arg on classic sockets, {chatId,userId,typing} on native ones.
    for (const s of [ca, cb]) s.on('typing', (...x) => { if (x.length) leaks.push(`classic got a native typing ${JSON.stringify(x)}`); });
    for (const s of [na, nb]) s.on('typing', (...x) => { if (typeof x[0] !== 'object' || x[0] === null) leaks.push(`native got a classic typing ${JSON.stringify(x)}`); });

    const nativeTyping = once(na, 'typing', { filter: (p) => p?.typing === true && p.userId === b._id });
    await callOk(nb, 'typing:start', { chatId: chat._id });
    await nativeTyping;
    await classicTypingReaches(cb, ca, chat._id);
    await callOk(nb, 'typing:stop', { chatId: chat._id });
    cb.emit('stop typing', chat._id);

    const newOnA = once(na, 'message:new', { filter: (m) => m.content === 'rest send' });
    const newOnOwn = once(nb, 'message:new', { filter: (m) => m.content === 'rest send' });
    const recOnA = once(ca, 'message recieved', { filter: (m) => m.content === 'rest send' });
    await send(fx.url, b, chat._id, 'rest send');
    await Promise.all([newOnA, newOnOwn, recOnA]);
    await sendNative(na, chat._id, 'native send');
    await callOk(nb, 'message:delivered', { chatId: chat._id, seq: 2 });
    await flush(fx.url, a, chat._id, { natives: [nb], classics: [cb] });
    await flush(fx.url, b, chat._id, { natives: [na], classics: [ca] });
    assert.deepEqual(leaks, []);
  });
});
