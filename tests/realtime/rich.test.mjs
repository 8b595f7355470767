// Rich messages (API.md, "Rich messages"): edits, deletions, reactions and replies over REST and
// the native protocol, their events to members, the classic shapes, and `sync`'s changes for a
// client that was away while they happened (docs/PROTOCOL.md, "Changes while away").
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, send, history, api, uniq, nativeClient, classicClient, once,
  never, collect, callOk, callErr, sendNative, assertLean, ms, sleep, ISO_RE, fakeId,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

const patch = (user, id, body) => api(fx.url, 'PATCH', `/api/message/${id}`, { token: user.token, body });
const remove = (user, id) => api(fx.url, 'DELETE', `/api/message/${id}`, { token: user.token });
const reactRest = (user, id, emoji, on = true) => api(fx.url, on ? 'PUT' : 'DELETE',
  `/api/message/${id}/reactions/${encodeURIComponent(emoji)}`, { token: user.token });

async function trio() {
  const [a, b, c] = await registerMany(fx.url, [uniq('Ann'), uniq('Ben'), uniq('Cat')]);
  const group = await createGroup(fx.url, a, [b, c]);
  return { a, b, c, group };
}

describe('edit', () => {
  test('the sender edits over the socket; members hear message:updated; others are refused', async () => {
    const { a, b, c, group } = await trio();
    const [sa, sb, sc] = await Promise.all([a, b, c].map((u) => nativeClient(fx.url, u.token)));
    const m = await sendNative(sb, group._id, 'helo');
    const heard = [once(sa, 'message:updated'), once(sc, 'message:updated')];
    const ack = await callOk(sb, 'message:edit', { chatId: group._id, messageId: m._id, content: 'hello' });
    assertLean(ack.message, { _id: m._id, seq: m.seq, content: 'hello' });
    assert.match(ack.message.editedAt, ISO_RE);
    assert.ok(ack.message.rev > 0);
    for (const [update] of await Promise.all(heard)) {
      assert.equal(update.message._id, m._id);
      assert.equal(update.message.content, 'hello');
      assert.equal(update.message.editedAt, ack.message.editedAt);
    }
    await callErr(sa, 'message:edit', { chatId: group._id, messageId: m._id, content: 'mine now' }, 'forbidden');
    await callErr(sb, 'message:edit', { chatId: group._id, messageId: m._id, content: '   ' }, 'invalid_input');
    await callErr(sb, 'message:edit', { chatId: group._id, messageId: fakeId(), content: 'x' }, 'not_found');
    await callErr(sb, 'message:edit', { chatId: group._id, messageId: m._id }, 'invalid_input');
    // Classic clients see the edit in history (REST classic shape).
    const page = await history(fx.url, a, group._id);
    const stored = page.find((x) => x._id === m._id);
    assert.equal(stored.content, 'hello');
    assert.match(stored.editedAt, ISO_RE);
  });

  test('PATCH /api/message/:id edits and answers the classic shape; outsiders get 403/404', async () => {
    const { a, b, group } = await trio();
    const [outsider] = await registerMany(fx.url, [uniq('Out')]);
    const m = await send(fx.url, a, group._id, 'first');
    const r = await patch(a, m._id, { content: 'second' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.content, 'second');
    assert.equal(r.json.chat._id, group._id);
    assert.match(r.json.editedAt, ISO_RE);
    assert.equal((await patch(b, m._id, { content: 'x' })).json.code, 'forbidden');
    assert.equal((await patch(outsider, m._id, { content: 'x' })).status, 403);
    assert.equal((await patch(a, fakeId(), { content: 'x' })).status, 404);
    assert.equal((await patch(a, 'not-an-id', { content: 'x' })).status, 404);
    const bad = await patch(a, m._id, { content: 42 });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.json).sort(), ['code', 'message']);
    assert.equal((await api(fx.url, 'PATCH', `/api/message/${m._id}`, { body: { content: 'x' } })).status, 401);
  });
});

describe('delete', () => {
  test('the sender or a group admin deletes: a tombstone everywhere, message:deleted to members', async () => {
    const { a, b, c, group } = await trio();
    const [sa, sc] = await Promise.all([a, c].map((u) => nativeClient(fx.url, u.token)));
    const mine = await send(fx.url, b, group._id, 'secret', { clientMsgId: 'del-1' });
    await callErr(sc, 'message:delete', { chatId: group._id, messageId: mine._id }, 'forbidden');
    const heard = once(sc, 'message:deleted');
    // Ann owns the group: an admin deletes others' messages.
    const ack = await callOk(sa, 'message:delete', { chatId: group._id, messageId: mine._id });
    assert.equal(ack.message.deleted, true);
    assert.equal(ack.message.content, '');
    assert.equal(ack.message.clientMsgId, undefined);
    const [event] = await heard;
    assert.deepEqual(event, { chatId: group._id, messageId: mine._id, seq: mine.seq });
    // Repeating is harmless; editing or reacting to a tombstone is a conflict.
    assert.equal((await remove(b, mine._id)).status, 200);
    assert.equal((await patch(b, mine._id, { content: 'back' })).json.code, 'conflict');
    assert.equal((await reactRest(c, mine._id, '👍')).json.code, 'conflict');
    // A retried send of the deleted message finds the tombstone, not a new message.
    const retry = await send(fx.url, b, group._id, 'secret', { clientMsgId: 'del-1' });
    assert.equal(retry._id, mine._id);
    assert.equal(retry.deleted, true);
    const page = await history(fx.url, b, group._id);
    const stored = page.find((x) => x._id === mine._id);
    assert.equal(stored.deleted, true);
    assert.equal(stored.content, '');
    assert.equal(JSON.stringify(page).includes('secret'), false);
  });

  test('in a 1:1 chat only the sender deletes', async () => {
    const [a, b] = await registerMany(fx.url, [uniq('One'), uniq('Two')]);
    const chat = await oneToOne(fx.url, a, b);
    const m = await send(fx.url, a, chat._id, 'mine');
    assert.equal((await remove(b, m._id)).status, 403);
    assert.equal((await remove(a, m._id)).status, 200);
  });
});

describe('reactions', () => {
  test('members react over both roads; reaction events; grouped by emoji; limits', async () => {
    const { a, b, c, group } = await trio();
    const [sa, sb] = await Promise.all([a, b].map((u) => nativeClient(fx.url, u.token)));
    const m = await send(fx.url, a, group._id, 'vote');
    const events = collect(sa, 'reaction');
    const ack = await callOk(sb, 'message:react', { chatId: group._id, messageId: m._id, emoji: '👍', on: true });
    assert.deepEqual(ack.message.reactions, { '👍': [b._id] });
    const r = await reactRest(c, m._id, '👍');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.reactions, { '👍': [b._id, c._id] });
    assert.equal((await reactRest(c, m._id, ':party:')).status, 200);
    // Twice is once; removing what is not there changes nothing.
    assert.equal((await reactRest(c, m._id, '👍')).status, 200);
    assert.deepEqual((await reactRest(a, m._id, '❤', false)).json.reactions,
      { '👍': [b._id, c._id], ':party:': [c._id] });
    await callOk(sb, 'message:react', { chatId: group._id, messageId: m._id, emoji: '👍', on: false });
    await new Promise((resolve) => setTimeout(resolve, ms(200)));
    assert.deepEqual(events.map(([e]) => [e.emoji, e.userId, e.on]),
      [['👍', b._id, true], ['👍', c._id, true], [':party:', c._id, true], ['👍', b._id, false]]);
    assert.ok(events.every(([e]) => e.chatId === group._id && e.messageId === m._id));
    const page = await history(fx.url, a, group._id);
    assert.deepEqual(page.find((x) => x._id === m._id).reactions, { '👍': [c._id], ':party:': [c._id] });

    for (const emoji of ['', 'a b', 'x'.repeat(17), '\u0007']) {
      await callErr(sb, 'message:react', { chatId: group._id, messageId: m._id, emoji, on: true }, 'invalid_input');
    }
    assert.equal((await reactRest(a, m._id, '%E2%28')).status, 400, 'not UTF-8 once decoded');
    const [outsider] = await registerMany(fx.url, [uniq('Out')]);
    assert.equal((await reactRest(outsider, m._id, '👍')).status, 403);
    // At most 20 different emojis on one message.
    for (let i = 0; i < 18; i++) assert.equal((await reactRest(a, m._id, `e${i}`)).status, 200);
    const over = await reactRest(a, m._id, 'one-too-many');
    assert.equal(over.status, 400);
    assert.match(over.json.message, /at most 20/);
  });
});

describe('replies', () => {
  test('a reply quotes a message of its chat, as that message is now', async () => {
    const { a, b, group } = await trio();
    const sb = await nativeClient(fx.url, b.token);
    const original = await send(fx.url, a, group._id, 'q'.repeat(300));
    const ack = await callOk(sb, 'message:send',
      { chatId: group._id, clientMsgId: uniq('r'), content: 'agreed', replyTo: original._id });
    const quote = ack.message.replyTo;
    assert.equal(quote._id, original._id);
    assert.equal(quote.seq, original.seq);
    assert.equal(quote.sender._id, a._id);
    assert.equal(quote.content, 'q'.repeat(200));
    // REST takes replyTo too; a message of another chat, or garbage, is refused and nothing is written.
    const rest = await send(fx.url, a, group._id, 'also', { replyTo: original._id });
    assert.equal(rest.replyTo._id, original._id);
    const [x] = await registerMany(fx.url, [uniq('X')]);
    const other = await oneToOne(fx.url, a, x);
    const elsewhere = await send(fx.url, a, other._id, 'elsewhere');
    const before = (await history(fx.url, a, group._id)).length;
    for (const replyTo of [elsewhere._id, fakeId(), 'zzz', 42]) {
      const r = await api(fx.url, 'POST', '/api/message',
        { token: a.token, body: { chatId: group._id, content: 'no', replyTo } });
      assert.equal(r.status, 400, `${replyTo}: ${r.text}`);
    }
    assert.equal((await history(fx.url, a, group._id)).length, before);
    // The quote follows the original's edits and deletion.
    await patch(a, original._id, { content: 'short' });
    let page = await history(fx.url, b, group._id);
    assert.equal(page.find((m) => m._id === ack.message._id).replyTo.content, 'short');
    await remove(a, original._id);
    page = await history(fx.url, b, group._id);
    const gone = page.find((m) => m._id === ack.message._id).replyTo;
    assert.equal(gone.deleted, true);
    assert.equal(gone.content, '');
  });
});

describe('sync of changes', () => {
  test('a member away during edits, deletions and reactions gets each changed message once, in order', async () => {
    const { a, b, c, group } = await trio();
    const sent = [];
    for (let i = 1; i <= 6; i++) sent.push(await send(fx.url, a, group._id, `m${i}`));
    // Cat has everything, syncs once to learn the change cursor, then goes away.
    let sc = await nativeClient(fx.url, c.token);
    let r = await callOk(sc, 'sync', { cursors: { [group._id]: 6 }, changeCursors: {} });
    assert.deepEqual(r.changes, []);
    let changeCursors = r.changeCursors;
    sc.disconnect();

    await patch(a, sent[1]._id, { content: 'm2 edited' });       // seq 2
    await reactRest(b, sent[0]._id, '👍');                        // seq 1
    await remove(a, sent[2]._id);                                 // seq 3
    await patch(a, sent[1]._id, { content: 'm2 edited twice' });  // seq 2 again: one change
    await reactRest(b, sent[4]._id, '🎉');                        // seq 5
    await send(fx.url, a, group._id, 'm7');                       // a new message

    sc = await nativeClient(fx.url, c.token);
    const changes = [];
    const messages = [];
    let cursors = { [group._id]: 6 };
    for (let round = 0; round < 10; round++) {
      r = await callOk(sc, 'sync', { cursors, changeCursors, limit: 2 });
      assert.ok(r.messages.length + r.changes.length <= 2, 'bounded batches');
      changes.push(...r.changes);
      messages.push(...r.messages);
      for (const m of r.messages) cursors[m.chatId] = Math.max(cursors[m.chatId] ?? 0, m.seq);
      changeCursors = { ...changeCursors, ...r.changeCursors };
      if (!r.more) break;
    }
    assert.deepEqual(changes.map((m) => m.seq), [1, 3, 2, 5], 'each changed message once, by rev');
    const revs = changes.map((m) => m.rev);
    assert.deepEqual(revs, [...revs].sort((x, y) => x - y));
    assert.equal(changes[2].content, 'm2 edited twice');
    assert.equal(changes[1].deleted, true);
    assert.deepEqual(changes[0].reactions, { '👍': [b._id] });
    assert.deepEqual(messages.map((m) => m.content), ['m7']);
    // Nothing more until something changes again.
    r = await callOk(sc, 'sync', { cursors, changeCursors });
    assert.deepEqual([r.changes, r.messages, r.more], [[], [], false]);
    await reactRest(a, sent[5]._id, '❤');
    r = await callOk(sc, 'sync', { cursors, changeCursors });
    assert.deepEqual(r.changes.map((m) => m.seq), [6]);
  });

  test('clients that send no changeCursors get the answer they always got', async () => {
    const { a, c, group } = await trio();
    const m = await send(fx.url, a, group._id, 'x');
    await patch(a, m._id, { content: 'y' });
    const sc = await nativeClient(fx.url, c.token);
    const r = await callOk(sc, 'sync', { cursors: { [group._id]: 0 } });
    assert.equal(r.changes, undefined);
    assert.equal(r.changeCursors, undefined);
    assert.equal(r.messages[0].content, 'y');
    await callErr(sc, 'sync', { changeCursors: [] }, 'invalid_input');
    await callErr(sc, 'sync', { changeCursors: { [group._id]: -1 } }, 'invalid_input');
  });

  test('classic sockets hear none of the new events', async () => {
    const { a, b, group } = await trio();
    const classic = await classicClient(fx.url, b);
    const m = await send(fx.url, a, group._id, 'classic');
    const quiet = Promise.all(['message:updated', 'message:deleted', 'reaction'].map((e) => never(classic, e, ms(400))));
    await patch(a, m._id, { content: 'edited' });
    await reactRest(b, m._id, '👍');
    await remove(a, m._id);
    await quiet;
    await sleep(ms(10));
  });
});
