// The native protocol: handshake authentication (auth {token} or the Authorization header), the
// send path (message:send ack after commit, message:new to every other socket of every member),
// receipts (delivered/read reports, clamping, monotonicity, coalescing) and the status endpoint.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, send, history, api, signJwt, nowS, fakeId, uniq,
  nativeClient, connectError, classicClient, once, never, collect, firsts, flush, call, callOk, sendNative,
  assertLean, messageStatus, waitUntil, pool, range, sleep, ms,
} from './harness.mjs';

const SECRET = 'realtime-native-test-secret-0123456789';
const fx = fixture({ before, after, afterEach }, ['--jwt-secret', SECRET]);

const FAILED = 'Not authorized, token failed';

describe('handshake', () => {
  test('a bad, expired or foreign token is a connect_error (unauthorized), never a classic socket', async () => {
    const [u] = await registerMany(fx.url, ['Handshake']);
    const bad = {
      garbage: 'garbage',
      'three dots': 'a.b.c',
      'bad signature': signJwt({ id: u._id, iat: nowS(), exp: nowS() + 3600 }, `${SECRET}-wrong`),
      expired: signJwt({ id: u._id, iat: nowS() - 7200, exp: nowS() - 3600 }, SECRET),
      'unknown user': signJwt({ id: fakeId(), iat: nowS(), exp: nowS() + 3600 }, SECRET),
      'tampered': `${u.token.slice(0, -2)}${u.token.endsWith('AA') ? 'BB' : 'AA'}`,
      'not a string': 12345,
    };
    for (const [label, token] of Object.entries(bad)) {
      for (const transports of [['websocket'], ['polling']]) {
        const err = await connectError(fx.url, { auth: { token }, transports });
        assert.equal(err.message, FAILED, `${label} over ${transports}: ${err.message}`);
        assert.equal(err.data?.code, 'unauthorized', `${label} over ${transports}: data ${JSON.stringify(err.data)}`);
      }
    }
    // the same through the Authorization header
    const err = await connectError(fx.url, { transports: ['polling'], extraHeaders: { Authorization: 'Bearer garbage' } });
    assert.equal(err.message, FAILED);
    assert.equal(err.data?.code, 'unauthorized');
    // and the good token still works
    const s = await nativeClient(fx.url, u.token);
    assert.ok(s.connected);
  });

  for (const transports of [['polling'], ['websocket']]) {
    test(`Authorization: Bearer header authenticates a native socket over ${transports}`, async () => {
      const [a, b] = await registerMany(fx.url, ['Header A', 'Header B']);
      const chat = await oneToOne(fx.url, a, b);
      const sa = await nativeClient(fx.url, null, { transports, extraHeaders: { Authorization: `Bearer ${a.token}` } });
      const sb = await nativeClient(fx.url, b.token);
      const got = once(sb, 'message:new');
      const m = await sendNative(sa, chat._id, `over ${transports}`);
      assert.equal(m.sender._id, a._id, 'the socket is a\'s');
      const [nm] = await got;
      assert.deepEqual(nm, m);
      // it is native: no `setup` needed, and it does not get the classic event
      await flush(fx.url, b, chat._id, { natives: [sa] });
    });
  }
});

describe('1:1', () => {
  test('message:send is acked with the stored lean message; message:new reaches every other socket', async () => {
    const [a, b] = await registerMany(fx.url, ['One A', 'One B']);
    const chat = await oneToOne(fx.url, a, b);
    const a1 = await nativeClient(fx.url, a.token);
    const a2 = await nativeClient(fx.url, a.token, { transports: ['polling'] });
    const b1 = await nativeClient(fx.url, b.token);
    const seen = [a1, a2, b1].map((s) => collect(s, 'message:new'));

    const key = uniq('k');
    const r = await callOk(a1, 'message:send', { chatId: chat._id, clientMsgId: key, content: 'first' });
    assertLean(r.message, { chatId: chat._id, sender: a, content: 'first', clientMsgId: key, seq: 1 });
    // committed before the ack
    const h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.map((m) => [m._id, m.seq, m.content, m.clientMsgId]), [[r.message._id, 1, 'first', key]]);

    const m2 = await sendNative(b1, chat._id, 'reply');
    assert.equal(m2.seq, 2);
    assertLean(m2, { sender: b });
    const m3 = await send(fx.url, a, chat._id, 'over REST');
    assert.equal(m3.seq, 3);

    await flush(fx.url, b, chat._id, { natives: [a1, a2, b1] });
    const contents = (i) => firsts(seen[i]).filter((m) => !m.content.startsWith('marker-')).map((m) => m.content);
    assert.deepEqual(contents(0), ['reply', 'over REST'], 'a1: not its own socket send; REST sends reach the sender\'s sockets');
    assert.deepEqual(contents(1), ['first', 'reply', 'over REST'], 'a2 (the sender\'s other device) gets everything');
    assert.deepEqual(contents(2), ['first', 'over REST'], 'b1: not its own socket send');
    assert.deepEqual(firsts(seen[2])[0], r.message, 'message:new is the acked lean message');
    const rest = firsts(seen[2])[1];
    assertLean(rest, { _id: m3._id, seq: 3, sender: a, chatId: chat._id });
    for (const i of [0, 1, 2]) {
      const seqs = firsts(seen[i]).map((m) => m.seq);
      assert.deepEqual(seqs, seqs.slice().sort((x, y) => x - y), 'in seq order');
    }
  });

  test('receipts: acks carry the stored positions; clamped, read implies delivered, never decreasing', async () => {
    const [a, b] = await registerMany(fx.url, ['Rcpt A', 'Rcpt B']);
    const chat = await oneToOne(fx.url, a, b);
    const sa = await nativeClient(fx.url, a.token);
    const sb = await nativeClient(fx.url, b.token);
    const onA = collect(sa, 'receipt');
    const onB = collect(sb, 'receipt');
    const ofB = (arr) => firsts(arr).filter((x) => x.userId === b._id);
    const receiptOn = (s, d, r) => once(s, 'receipt', {
      filter: (x) => x.userId === b._id && x.deliveredSeq === d && x.readSeq === r,
    });

    const m1 = await sendNative(sa, chat._id, 'm1');
    assert.equal((await messageStatus(fx.url, a, chat._id, m1._id)).status, 'sent');

    let wA = receiptOn(sa, 1, 0);
    let wB = receiptOn(sb, 1, 0);
    let r = await callOk(sb, 'message:delivered', { chatId: chat._id, seq: 1 });
    assert.equal(r.deliveredSeq, 1);
    assert.equal(r.readSeq, 0);
    const [rc] = await wA;
    assert.deepEqual(rc, { chatId: chat._id, userId: b._id, deliveredSeq: 1, readSeq: 0 });
    await wB; // the reporter's own sockets get it too
    let s = await messageStatus(fx.url, a, chat._id, m1._id);
    assert.equal(s.status, 'delivered');
    assert.deepEqual(s.members, [{ userId: b._id, deliveredSeq: 1, readSeq: 0, delivered: true, read: false }]);

    wA = receiptOn(sa, 1, 1);
    r = await callOk(sb, 'message:read', { chatId: chat._id, seq: 1 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [1, 1]);
    await wA;
    s = await messageStatus(fx.url, b, chat._id, m1._id);
    assert.equal(s.status, 'read');

    // beyond the last seq: clamped; nothing grew, nothing emitted
    r = await callOk(sb, 'message:delivered', { chatId: chat._id, seq: 999 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [1, 1]);
    r = await callOk(sb, 'message:read', { chatId: chat._id, seq: 1 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [1, 1]);

    await sendNative(sa, chat._id, 'm2');
    const m3 = await sendNative(sa, chat._id, 'm3');
    wA = receiptOn(sa, 3, 3);
    r = await callOk(sb, 'message:read', { chatId: chat._id, seq: 3 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [3, 3], 'read implies delivered');
    await wA;
    r = await callOk(sb, 'message:delivered', { chatId: chat._id, seq: 2 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [3, 3], 'never decreases');
    r = await callOk(sb, 'message:read', { chatId: chat._id, seq: 0 });
    assert.deepEqual([r.deliveredSeq, r.readSeq], [3, 3]);
    s = await messageStatus(fx.url, a, chat._id, m3._id);
    assert.equal(s.status, 'read');

    // (the marker comes from a: a sender's own positions move when they send)
    await flush(fx.url, a, chat._id, { natives: [sa, sb] });
    for (const [name, arr] of [['a', onA], ['b', onB]]) {
      const list = ofB(arr);
      for (const x of list) assert.deepEqual(Object.keys(x).sort(), ['chatId', 'deliveredSeq', 'readSeq', 'userId']);
      for (let i = 1; i < list.length; i++) {
        assert.ok(list[i].deliveredSeq >= list[i - 1].deliveredSeq && list[i].readSeq >= list[i - 1].readSeq,
          `${name}: receipts never go back: ${JSON.stringify(list)}`);
        assert.ok(list[i].deliveredSeq > list[i - 1].deliveredSeq || list[i].readSeq > list[i - 1].readSeq,
          `${name}: a receipt only when a value grew: ${JSON.stringify(list)}`);
      }
      assert.deepEqual(list.at(-1), { chatId: chat._id, userId: b._id, deliveredSeq: 3, readSeq: 3 });
      assert.ok(list[0].deliveredSeq >= 1);
    }
  });

  test('a burst of 100 delivered reports is coalesced; the last receipt says 100', async () => {
    const [a, b] = await registerMany(fx.url, ['Burst A', 'Burst B']);
    const chat = await oneToOne(fx.url, a, b);
    await pool(range(1, 100), 10, (i) => send(fx.url, a, chat._id, `burst ${i}`));
    const sa = await nativeClient(fx.url, a.token);
    const sb = await nativeClient(fx.url, b.token);
    const seen = collect(sa, 'receipt');
    const ofB = () => firsts(seen).filter((x) => x.userId === b._id && x.chatId === chat._id);
    const acks = await Promise.all(range(1, 100).map((seq) => call(sb, 'message:delivered', { chatId: chat._id, seq })));
    for (const r of acks) assert.equal(r?.ok, true, JSON.stringify(r));
    assert.equal(Math.max(...acks.map((r) => r.deliveredSeq)), 100);
    await waitUntil(() => ofB().some((x) => x.deliveredSeq === 100), { message: 'a receipt with deliveredSeq 100' });
    await sleep(ms(500));
    const list = ofB();
    assert.ok(list.length < 50, `coalesced: ${list.length} receipt events for 100 reports`);
    assert.equal(list.at(-1).deliveredSeq, 100, 'the last receipt has the final value');
    for (let i = 1; i < list.length; i++) assert.ok(list[i].deliveredSeq > list[i - 1].deliveredSeq, 'growing');
  });
});

describe('group of 5', () => {
  test('message:new to all; status goes sent -> delivered -> read as members report; receipts per member', async () => {
    const users = await registerMany(fx.url, ['G5 A', 'G5 B', 'G5 C', 'G5 D', 'G5 E']);
    const [a, ...others] = users;
    const g = await createGroup(fx.url, a, others);
    const sockets = await Promise.all(users.map((u) => nativeClient(fx.url, u.token)));
    const [sa, ...os] = sockets;
    const news = sockets.map((s) => collect(s, 'message:new'));
    const receiptsOnB = collect(os[0], 'receipt');

    const m = await sendNative(sa, g._id, 'hello five');
    const status = async () => messageStatus(fx.url, a, g._id, m._id);
    await flush(fx.url, a, g._id, { natives: os });
    for (const [i, arr] of news.entries()) {
      const got = firsts(arr).filter((x) => x._id === m._id);
      assert.equal(got.length, i === 0 ? 0 : 1, `socket ${i} got ${got.length}`);
      if (i) assert.deepEqual(got[0], m);
    }
    let s = await status();
    assert.equal(s.status, 'sent');
    assert.deepEqual(s.members.map((x) => x.userId).sort(), others.map((u) => u._id).sort());
    assert.ok(s.members.every((x) => !x.delivered && !x.read));

    // Three of four report delivery: still "sent".
    for (const [i, sock] of os.entries()) {
      const u = others[i];
      const wait = once(sa, 'receipt', { filter: (x) => x.userId === u._id && x.deliveredSeq >= m.seq });
      const r = await callOk(sock, 'message:delivered', { chatId: g._id, seq: m.seq });
      assert.ok(r.deliveredSeq >= m.seq);
      const [rc] = await wait;
      assert.equal(rc.chatId, g._id);
      s = await status();
      if (i < 3) {
        assert.equal(s.status, 'sent', `after ${i + 1} of 4 delivered`);
        assert.equal(s.members.find((x) => x.userId === u._id).delivered, true);
      } else {
        assert.equal(s.status, 'delivered', 'every other member has it');
      }
    }
    // Reads: "read" only once everybody read.
    for (const [i, sock] of os.entries()) {
      const u = others[i];
      const wait = once(sa, 'receipt', { filter: (x) => x.userId === u._id && x.readSeq >= m.seq });
      await callOk(sock, 'message:read', { chatId: g._id, seq: m.seq });
      await wait;
      s = await status();
      assert.equal(s.status, i < 3 ? 'delivered' : 'read', `after ${i + 1} of 4 read`);
    }
    assert.ok(s.members.every((x) => x.delivered && x.read && x.readSeq >= m.seq));
    // a member's view of the status is the same
    assert.equal((await messageStatus(fx.url, others[2], g._id, m._id)).status, 'read');
    // every member's sockets get the others' receipts (and their own)
    await waitUntil(() => others.every((u) => firsts(receiptsOnB).some((x) => x.userId === u._id && x.readSeq >= m.seq)),
      { message: "every member's read receipt on b's socket" });
  });
});
