// Exactly-once sends: the key is (sender, clientMsgId). A repeat in the same chat returns the
// original message (same _id and seq, its content ignored), over the socket or REST, one after the
// other or all at once; recipients see one message:new. The same key in another chat is a conflict;
// another sender's equal key is unrelated.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, api, history, uniq, nativeClient, collect, firsts, flush, call,
  callOk, callErr, assertLean, fullHistory, range,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

const post = (user, chatId, content, clientMsgId) =>
  api(fx.url, 'POST', '/api/message', { token: user.token, body: { chatId, content, clientMsgId } });

describe('clientMsgId', () => {
  test('repeated retries over the socket and REST return the original message', async () => {
    const [a, b] = await registerMany(fx.url, ['Idem A', 'Idem B']);
    const chat = await oneToOne(fx.url, a, b);
    const sa = await nativeClient(fx.url, a.token);
    const sb = await nativeClient(fx.url, b.token);
    const seenB = collect(sb, 'message:new');
    const key = uniq('retry-');

    const r1 = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId: key, content: 'original' });
    assertLean(r1.message, { clientMsgId: key, content: 'original', seq: 1 });
    for (let i = 0; i < 5; i++) {
      const r = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId: key, content: `retry ${i}` });
      assert.deepEqual(r.message, r1.message, `socket retry ${i} returns the original`);
    }
    const rest = await post(a, chat._id, 'rest retry', key);
    assert.equal(rest.status, 200, rest.text);
    assert.equal(rest.json._id, r1.message._id);
    assert.equal(rest.json.seq, 1);
    assert.equal(rest.json.content, 'original');
    assert.equal(rest.json.clientMsgId, key);

    // a key first used over REST, retried over the socket
    const key2 = uniq('rest-first-');
    const p = await post(a, chat._id, 'rest original', key2);
    assert.equal(p.status, 200, p.text);
    const r2 = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId: key2, content: 'socket retry' });
    assert.equal(r2.message._id, p.json._id);
    assert.equal(r2.message.seq, p.json.seq);
    assert.equal(r2.message.content, 'rest original');

    await flush(fx.url, a, chat._id, { natives: [sb] });
    const got = firsts(seenB).filter((m) => m.clientMsgId === key || m.clientMsgId === key2);
    assert.deepEqual(got.map((m) => m.clientMsgId), [key, key2], 'one message:new per message');
    const h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.filter((m) => !m.content.startsWith('marker-')).map((m) => [m.seq, m.content]),
      [[1, 'original'], [2, 'rest original']]);
  });

  test('20 concurrent retries from two devices plus REST make one message; one message:new per recipient socket', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Conc A', 'Conc B', 'Conc C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const [a1, a2, a3, sb, sc] = await Promise.all([a, a, a, b, c].map((u) => nativeClient(fx.url, u.token)));
    const watchers = [a3, sb, sc].map((s) => collect(s, 'message:new'));
    const key = uniq('conc-');
    const results = await Promise.all([
      ...range(1, 10).map((i) => call(a1, 'message:send', { chatId: g._id, clientMsgId: key, content: `d1 try ${i}` })),
      ...range(1, 10).map((i) => call(a2, 'message:send', { chatId: g._id, clientMsgId: key, content: `d2 try ${i}` })),
      ...range(1, 5).map((i) => post(a, g._id, `rest try ${i}`, key)),
    ]);
    const socketAcks = results.slice(0, 20);
    const restAcks = results.slice(20);
    for (const r of socketAcks) assert.equal(r?.ok, true, JSON.stringify(r));
    for (const r of restAcks) assert.equal(r.status, 200, r.text);
    const ids = new Set([...socketAcks.map((r) => r.message._id), ...restAcks.map((r) => r.json._id)]);
    const seqs = new Set([...socketAcks.map((r) => r.message.seq), ...restAcks.map((r) => r.json.seq)]);
    const contents = new Set([...socketAcks.map((r) => r.message.content), ...restAcks.map((r) => r.json.content)]);
    assert.equal(ids.size, 1, `one _id: ${[...ids]}`);
    assert.deepEqual([...seqs], [1]);
    assert.equal(contents.size, 1, 'every retry returns the one stored content');

    await flush(fx.url, b, g._id, { natives: [a3, sb, sc] });
    for (const [i, w] of watchers.entries()) {
      assert.equal(firsts(w).filter((m) => m.clientMsgId === key).length, 1, `watcher ${i}: exactly one message:new`);
    }
    const h = await fullHistory(fx.url, c, g._id);
    assert.equal(h.filter((m) => m.clientMsgId === key).length, 1);
    assert.deepEqual(h.map((m) => m.seq), range(1, h.length), 'no gap left by the retries');
  });

  test('the same key in another chat is a conflict; another sender\'s equal key is unrelated', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Key A', 'Key B', 'Key C']);
    const c1 = await oneToOne(fx.url, a, b);
    const c2 = await oneToOne(fx.url, a, c);
    const sa = await nativeClient(fx.url, a.token);
    const sb = await nativeClient(fx.url, b.token);
    const key = uniq('k-');
    const m = (await callOk(sa, 'message:send', { chatId: c1._id, clientMsgId: key, content: 'in c1' })).message;
    await callErr(sa, 'message:send', { chatId: c2._id, clientMsgId: key, content: 'in c2' }, 'conflict');
    const r = await post(a, c2._id, 'in c2 over REST', key);
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json?.code, 'conflict');
    assert.deepEqual(await history(fx.url, c, c2._id), [], 'nothing stored in c2');

    const mb = (await callOk(sb, 'message:send', { chatId: c1._id, clientMsgId: key, content: 'b too' })).message;
    assert.notEqual(mb._id, m._id);
    assert.equal(mb.seq, 2);
    assert.equal(mb.content, 'b too');
    // and the socket still works
    await callOk(sa, 'message:send', { chatId: c2._id, clientMsgId: uniq('k-'), content: 'fine' });
  });
});
