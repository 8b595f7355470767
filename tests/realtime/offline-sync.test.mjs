// The offline queue is "messages in my chats above my cursor": a member who was away while 500
// messages arrived reconnects and gets every one exactly once, in order, through `sync` in bounded
// batches; then reports delivery and the sender sees the receipt.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, send, api, uniq, nativeClient, once, collect, firsts, call, callOk,
  sendNative, assertLean, messageStatus, pool, range, ms, sleep,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

function assertSyncShape(r) {
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 300));
  assert.ok(Array.isArray(r.messages), 'messages is an array');
  assert.ok(Array.isArray(r.receipts), 'receipts is an array');
  assert.ok(Array.isArray(r.removed), 'removed is an array');
  assert.equal(typeof r.more, 'boolean', 'more is a boolean');
}

describe('offline member', () => {
  test('500 messages while offline: all, once, in order, via sync batches of 100; then a delivered receipt', async () => {
    const N = 500;
    const [a, b] = await registerMany(fx.url, ['Away A', 'Away B']);
    const chat = await oneToOne(fx.url, a, b);
    const sa = await nativeClient(fx.url, a.token);

    // b is online for the first message, reports it delivered, and goes away.
    let sb = await nativeClient(fx.url, b.token);
    const first = once(sb, 'message:new');
    const m0 = await sendNative(sa, chat._id, 'before going away');
    await first;
    await callOk(sb, 'message:delivered', { chatId: chat._id, seq: m0.seq });
    sb.disconnect();
    await sleep(ms(100));

    // 500 messages arrive while b is offline (REST, 10 in flight, each with its own key).
    const sent = await pool(range(1, N), 10, (i) =>
      send(fx.url, a, chat._id, `offline ${i}`, { clientMsgId: `off-${i}` }));
    const seqs = sent.map((m) => m.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, range(m0.seq + 1, m0.seq + N), 'the sender got gapless seqs');

    // b comes back. A first sync without cursors starts from b's stored deliveredSeq, default limit 100.
    sb = await nativeClient(fx.url, b.token);
    const live = collect(sb, 'message:new');
    const received = [];
    const batchSizes = [];
    let r = await callOk(sb, 'sync', {});
    assertSyncShape(r);
    assert.equal(r.messages.length, 100, 'the default limit is 100');
    assert.equal(r.more, true);
    assert.equal(r.messages[0].seq, m0.seq + 1, 'starts right after the stored deliveredSeq');
    received.push(...r.messages);
    batchSizes.push(r.messages.length);
    const ra = r.receipts.filter((x) => x.chatId === chat._id);
    assert.ok(ra.some((x) => x.userId === a._id), `receipts hold the other member: ${JSON.stringify(r.receipts)}`);
    assert.ok(!r.receipts.some((x) => x.userId === b._id), 'receipts do not hold the caller');
    for (const x of ra) for (const k of ['deliveredSeq', 'readSeq']) assert.ok(Number.isInteger(x[k]));

    // Then named cursors, limit 100, while more.
    for (let round = 0; r.more; round++) {
      assert.ok(round < 20, 'sync terminates');
      const cursor = received.at(-1).seq;
      r = await callOk(sb, 'sync', { cursors: { [chat._id]: cursor }, limit: 100 });
      assertSyncShape(r);
      assert.ok(r.messages.length <= 100, `a batch of ${r.messages.length} > limit`);
      assert.ok(r.more === false || r.messages.length > 0, 'more:true with an empty batch');
      received.push(...r.messages);
      batchSizes.push(r.messages.length);
    }
    assert.deepEqual(r.removed, []);
    assert.equal(received.length, N, `batches ${batchSizes.join(',')}`);
    assert.deepEqual(received.map((m) => m.seq), range(m0.seq + 1, m0.seq + N), 'every seq once, ascending');
    assert.deepEqual(new Set(received.map((m) => m._id)).size, N, 'no duplicates');
    const byId = new Map(sent.map((m) => [m._id, m]));
    for (const m of received) {
      assertLean(m, { chatId: chat._id, sender: a });
      const orig = byId.get(m._id);
      assert.ok(orig, `synced message ${m._id} was sent`);
      assert.equal(m.seq, orig.seq);
      assert.equal(m.content, orig.content);
      assert.equal(m.clientMsgId, orig.clientMsgId);
    }
    assert.equal(firsts(live).filter((m) => byId.has(m._id)).length, 0, 'old messages come by sync, not as message:new');

    // Nothing left.
    r = await callOk(sb, 'sync', { cursors: { [chat._id]: received.at(-1).seq } });
    assertSyncShape(r);
    assert.deepEqual(r.messages, []);
    assert.equal(r.more, false);

    // limit up to 1000 takes all 500 at once
    r = await callOk(sb, 'sync', { cursors: { [chat._id]: m0.seq }, limit: 1000 });
    assertSyncShape(r);
    assert.equal(r.messages.length, N);
    assert.equal(r.more, false);

    // b reports delivery of everything: a gets the receipt, the status is delivered.
    const last = received.at(-1);
    const got = once(sa, 'receipt', { filter: (x) => x.userId === b._id && x.deliveredSeq === last.seq });
    const ack = await callOk(sb, 'message:delivered', { chatId: chat._id, seq: last.seq });
    assert.equal(ack.deliveredSeq, last.seq);
    const [rc] = await got;
    assert.equal(rc.chatId, chat._id);
    const st = await messageStatus(fx.url, a, chat._id, last._id);
    assert.equal(st.status, 'delivered');

    // Now an unnamed sync starts at the new deliveredSeq: nothing.
    r = await callOk(sb, 'sync', {});
    assert.deepEqual(r.messages.filter((m) => m.chatId === chat._id), []);
  });

  test('sync across chats: ascending by (chatId, seq), limit counts across chats, cursors advance', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Multi A', 'Multi B', 'Multi C']);
    const c1 = await oneToOne(fx.url, a, b);
    const g = await createGroup(fx.url, a, [b, c]);
    await pool(range(1, 30), 5, (i) => send(fx.url, a, c1._id, `one ${i}`));
    await pool(range(1, 30), 5, (i) => send(fx.url, c, g._id, `grp ${i}`));
    const sb = await nativeClient(fx.url, b.token);
    const cursors = { [c1._id]: 0, [g._id]: 0 };
    const got = [];
    for (let round = 0; ; round++) {
      assert.ok(round < 20);
      const r = await callOk(sb, 'sync', { cursors, limit: 7 });
      assert.ok(r.messages.length <= 7);
      // ordered by (chatId, seq): each chat's messages form one run, ascending by seq
      // (how chats compare is the server's business: ids are opaque)
      const runs = [];
      for (let i = 0; i < r.messages.length; i++) {
        const p = r.messages[i - 1];
        const q = r.messages[i];
        if (!p || p.chatId !== q.chatId) runs.push(q.chatId);
        else assert.equal(q.seq, p.seq + 1, 'ascending, gapless within a chat');
      }
      assert.equal(new Set(runs).size, runs.length, `one run per chat: ${JSON.stringify(r.messages.map((m) => [m.chatId, m.seq]))}`);
      for (const m of r.messages) cursors[m.chatId] = Math.max(cursors[m.chatId], m.seq);
      got.push(...r.messages);
      if (!r.more) break;
    }
    const per = (id) => got.filter((m) => m.chatId === id).map((m) => m.seq);
    assert.deepEqual(per(c1._id), range(1, 30));
    assert.deepEqual(per(g._id), range(1, 30));
    assert.equal(got.length, 60);
  });

  test('a member who was removed gets their named chat in `removed`, and nothing of it', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Rm A', 'Rm B', 'Rm C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const one = await oneToOne(fx.url, b, c);
    await send(fx.url, a, g._id, 'before removal');
    const r0 = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId: g._id, userId: c._id } });
    assert.equal(r0.status, 200, r0.text);
    await send(fx.url, a, g._id, 'after removal');
    await send(fx.url, b, one._id, 'still here');
    const sc = await nativeClient(fx.url, c.token);
    const r = await callOk(sc, 'sync', { cursors: { [g._id]: 0, [one._id]: 0 } });
    assertSyncShape(r);
    assert.deepEqual(r.removed, [g._id]);
    assert.equal(r.messages.filter((m) => m.chatId === g._id).length, 0, 'nothing of the removed chat');
    assert.deepEqual(r.messages.map((m) => m.content), ['still here']);
    assert.equal(r.receipts.some((x) => x.chatId === g._id), false, 'no receipts of the removed chat');
  });
});
