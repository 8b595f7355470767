// Malformed payloads on the native events: wrong types, missing or oversize fields, values out of
// range. Each is answered {ok:false, error:{code:'invalid_input'}} (never a disconnect or a crash)
// and the socket keeps working; boundaries that are valid are accepted.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, history, uniq, nativeClient, classicClient, call, callOk, callErr, sendNative,
  assertLean,
  collect, flush, firsts, ms,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

let a; let b; let chat; let sa; let sb;

async function setUp() {
  [a, b] = await registerMany(fx.url, ['Input A', 'Input B']);
  chat = await oneToOne(fx.url, a, b);
  sa = await nativeClient(fx.url, a.token);
  sb = await nativeClient(fx.url, b.token);
}

/** The socket still answers, and nothing was stored by the bad calls. */
async function stillWorks() {
  assert.ok(sa.connected, `still connected (disconnects: ${sa.disconnects.join(', ')})`);
  await sendNative(sa, chat._id, 'still works');
}

describe('message:send', () => {
  test('bad payloads are invalid_input; nothing is stored; the socket keeps working', async () => {
    await setUp();
    const newOnB = collect(sb, 'message:new');
    const id = () => chat._id;
    const cases = {
      'chatId a number': { chatId: 12345, clientMsgId: uniq('k'), content: 'x' },
      'chatId missing': { clientMsgId: uniq('k'), content: 'x' },
      'content an object': { chatId: id(), clientMsgId: uniq('k'), content: { $gt: '' } },
      'content a number': { chatId: id(), clientMsgId: uniq('k'), content: 42 },
      'content missing': { chatId: id(), clientMsgId: uniq('k') },
      'content empty': { chatId: id(), clientMsgId: uniq('k'), content: '' },
      'content 4001 characters': { chatId: id(), clientMsgId: uniq('k'), content: 'x'.repeat(4001) },
      'clientMsgId missing': { chatId: id(), content: 'x' },
      'clientMsgId empty': { chatId: id(), clientMsgId: '', content: 'x' },
      'clientMsgId of 65 characters': { chatId: id(), clientMsgId: 'k'.repeat(65), content: 'x' },
      'clientMsgId a number': { chatId: id(), clientMsgId: 7, content: 'x' },
      'clientMsgId null': { chatId: id(), clientMsgId: null, content: 'x' },
      'payload a string': 'hello',
      'payload an array': [id(), 'x'],
      'payload null': null,
    };
    for (const [label, payload] of Object.entries(cases)) {
      const r = await call(sa, 'message:send', payload);
      assert.equal(r?.ok, false, `${label}: ${JSON.stringify(r)}`);
      assert.equal(r.error?.code, 'invalid_input', `${label}: ${JSON.stringify(r)}`);
      assert.equal(typeof r.error.message, 'string', label);
    }
    // no payload at all
    const r = await sa.timeout(ms(5000)).emitWithAck('message:send');
    assert.equal(r?.error?.code, 'invalid_input', JSON.stringify(r));
    // a chatId that is not an id at all
    await callErr(sa, 'message:send', { chatId: 'not-an-id', clientMsgId: uniq('k'), content: 'x' }, ['invalid_input', 'not_found']);

    assert.deepEqual(await history(fx.url, b, chat._id), [], 'nothing stored');
    await stillWorks();
    await flush(fx.url, a, chat._id, { natives: [sb] });
    assert.deepEqual(firsts(newOnB).map((m) => m.content).filter((c) => !c.startsWith('marker-')), ['still works']);
  });

  test('boundaries: content of 4000 characters and a clientMsgId of 64 are accepted; unicode is kept', async () => {
    await setUp();
    const key = 'k'.repeat(64);
    const long = 'é'.repeat(4000);
    const m = await sendNative(sa, chat._id, long, key);
    assert.equal(m.content, long);
    const emoji = 'hi 👋 <b>&amp;</b> "quotes" \\ \u2028';
    const m2 = await sendNative(sa, chat._id, emoji);
    assertLean(m2, { content: emoji });
    const h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.map((x) => x.content), [long, emoji]);
  });
});

describe('receipts, typing, sync, presence', () => {
  test('bad payloads are invalid_input and the socket keeps working', async () => {
    await setUp();
    await sendNative(sa, chat._id, 'one');
    const id = chat._id;
    const cases = [
      ['message:delivered', { chatId: id, seq: -1 }],
      ['message:delivered', { chatId: id, seq: '3' }],
      ['message:delivered', { chatId: id, seq: 1.5 }],
      ['message:delivered', { chatId: id }],
      ['message:delivered', { chatId: 5, seq: 1 }],
      ['message:read', { chatId: id, seq: -3 }],
      ['message:read', { chatId: id, seq: 'all' }],
      ['message:read', { chatId: id, seq: null }],
      ['message:read', { chatId: [id], seq: 1 }],
      ['message:read', 'nope'],
      ['typing:start', { chatId: 5 }],
      ['typing:start', {}],
      ['typing:stop', { chatId: { $ne: null } }],
      ['typing:start', null],
      ['sync', { cursors: 'all' }],
      ['sync', { cursors: [1, 2] }],
      ['sync', { cursors: { [id]: -1 } }],
      ['sync', { cursors: { [id]: 'x' } }],
      ['sync', { limit: 'ten' }],
      ['sync', 'now'],
      ['presence:get', { userIds: 'everyone' }],
      ['presence:get', { userIds: [1, 2] }],
    ];
    for (const [event, payload] of cases) {
      const r = await call(sb, event, payload);
      assert.equal(r?.ok, false, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(r)}`);
      assert.equal(r.error?.code, 'invalid_input', `${event} ${JSON.stringify(payload)}: ${JSON.stringify(r)}`);
    }
    assert.ok(sb.connected, `still connected (disconnects: ${sb.disconnects.join(', ')})`);
    // nothing moved
    const ok = await callOk(sb, 'message:delivered', { chatId: id, seq: 0 });
    assert.equal(ok.deliveredSeq, 0);
    await callOk(sb, 'sync', {});
    await callOk(sb, 'presence:get', { userIds: [a._id] });
    await stillWorks();
  });

  test('events without an ack callback, unknown events and junk do not break the socket', async () => {
    await setUp();
    sa.emit('message:send', { chatId: 1 });
    sa.emit('message:send', { chatId: chat._id, clientMsgId: uniq('k'), content: 'no ack wanted' });
    sa.emit('typing:start');
    sa.emit('sync', { limit: 'x' });
    sa.emit('no:such:event', { a: 1 });
    sa.emit('setup', a);
    sa.emit('join chat', chat._id);
    sa.emit('message:read', { chatId: chat._id, seq: Number.MAX_SAFE_INTEGER });
    sa.emit('message:send', { chatId: chat._id, clientMsgId: uniq('k'), content: 'x' }, 'extra', 'args');
    await stillWorks();
    const h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.map((m) => m.content).filter((c) => c !== 'x').sort(), ['no ack wanted', 'still works']);
    assert.ok(h.filter((m) => m.content === 'x').length <= 1);
  });

  test('an unknown event that asks for an ack is answered not_found at once, on either dialect', async () => {
    await setUp();
    const r = await call(sa, 'no:such:event', { a: 1 });
    assert.equal(r?.ok, false, JSON.stringify(r));
    assert.equal(r.error.code, 'not_found');
    assert.match(r.error.message, /no:such:event/);
    const classic = await classicClient(fx.url, a);
    const c = await call(classic, 'join chats', chat._id);
    assert.equal(c?.error?.code, 'not_found', JSON.stringify(c));
    await stillWorks();
  });
});
