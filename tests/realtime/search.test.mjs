// Message search (API.md, "Search"): GET /api/message/search and the native socket's `search`.
// What matches (every word, phrases, prefixes, case and accents ignored, sender names), for whom
// (only the caller's chats), that deletions and edits leave the index at once, the snippet's
// marks and escaping, paging with `next`, and that no text the user types is an error.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, send, api, uniq, nativeClient, callOk, callErr,
  assertLean, fakeId,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

const search = (user, params) => {
  const query = new URLSearchParams(params).toString();
  return api(fx.url, 'GET', `/api/message/search?${query}`, { token: user.token });
};
const contents = (r) => r.json.results.map((hit) => hit.message.content);

/** A word no other test's message holds, so that each test sees only its own messages. */
const word = () => uniq('w').replace(/[^a-z0-9]/gi, '').toLowerCase();

async function trio() {
  const [a, b, c] = await registerMany(fx.url, [uniq('Ann'), uniq('Ben'), uniq('Cat')]);
  const group = await createGroup(fx.url, a, [b, c]);
  return { a, b, c, group };
}

describe('GET /api/message/search', () => {
  test('every word must match, in any case and with or without accents; phrases and prefixes', async () => {
    const { a, b, group } = await trio();
    const w = word();
    await send(fx.url, a, group._id, `Crème brûlée ${w} tonight`);
    await send(fx.url, b, group._id, `${w} is cancelled`);
    let r = await search(b, { q: `CREME ${w.toUpperCase()}` });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(contents(r), [`Crème brûlée ${w} tonight`]);
    assert.deepEqual(contents(await search(b, { q: `brulee ${w}` })), [`Crème brûlée ${w} tonight`]);
    assert.equal((await search(b, { q: w })).json.results.length, 2);
    assert.deepEqual(contents(await search(b, { q: `${w} cancel*` })), [`${w} is cancelled`]);
    assert.deepEqual(contents(await search(b, { q: `${w} cancel` })), []);
    assert.deepEqual(contents(await search(b, { q: `"${w} tonight"` })), [`Crème brûlée ${w} tonight`]);
    assert.deepEqual(contents(await search(b, { q: `"tonight ${w}"` })), []);
  });

  test('a result is the lean message with chatName, and a snippet with <mark>ed, escaped text', async () => {
    const { a, b, group } = await trio();
    const w = word();
    const m = await send(fx.url, a, group._id, `<b>bold</b> & ${w} "quoted"`);
    const r = await search(b, { q: w });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results.length, 1);
    const [hit] = r.json.results;
    assertLean(hit.message, { _id: m._id, seq: m.seq, content: m.content });
    assert.equal(hit.message.chatId, group._id);
    assert.equal(hit.message.chatName, group.chatName);
    assert.equal(hit.message.sender._id, a._id);
    // The text around the hit, HTML-escaped; where it starts and ends is the backend's
    // (PostgreSQL's headline starts and ends at a word).
    assert.match(hit.snippet, new RegExp(`bold&lt;/b&gt; &amp; <mark>${w}</mark> &quot;quoted`));
    assert.doesNotMatch(hit.snippet, /<(?!\/?mark>)/);
    assert.equal(r.json.next, null);
  });

  test('only the caller\'s chats, or the one chatId names', async () => {
    const { a, b, c, group } = await trio();
    const w = word();
    const direct = await oneToOne(fx.url, a, b);
    const other = await oneToOne(fx.url, c, a);
    await send(fx.url, a, group._id, `${w} shared`);
    await send(fx.url, a, direct._id, `${w} private`);
    await send(fx.url, c, other._id, `${w} another`);
    assert.equal((await search(a, { q: w })).json.results.length, 3);
    assert.deepEqual(contents(await search(b, { q: w })).sort(), [`${w} private`, `${w} shared`]);
    assert.deepEqual(contents(await search(c, { q: w })).sort(), [`${w} another`, `${w} shared`]);
    assert.deepEqual(contents(await search(a, { q: w, chatId: direct._id })), [`${w} private`]);
    // A chat the caller is not in: 403 as for its history; an unknown one 404.
    const outside = await search(c, { q: w, chatId: direct._id });
    assert.equal(outside.status, 403, outside.text);
    assert.equal(outside.json.code, 'not_member');
    assert.equal((await search(c, { q: w, chatId: fakeId() })).status, 404);
    // Who leaves a group no longer finds its messages.
    const left = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId: group._id, userId: c._id } });
    assert.equal(left.status, 200, left.text);
    assert.deepEqual(contents(await search(c, { q: w })), [`${w} another`]);
  });

  test('a deleted message never matches; an edited one matches its new words only', async () => {
    const { a, b, group } = await trio();
    const [w, old, fresh] = [word(), word(), word()];
    const edited = await send(fx.url, a, group._id, `${w} ${old}`);
    const deleted = await send(fx.url, b, group._id, `${w} doomed`);
    assert.equal((await api(fx.url, 'PATCH', `/api/message/${edited._id}`, { token: a.token, body: { content: `${w} ${fresh}` } })).status, 200);
    assert.equal((await api(fx.url, 'DELETE', `/api/message/${deleted._id}`, { token: b.token })).status, 200);
    assert.deepEqual(contents(await search(a, { q: w })), [`${w} ${fresh}`]);
    assert.deepEqual(contents(await search(a, { q: old })), []);
    assert.deepEqual(contents(await search(a, { q: 'doomed' })), []);
    const [hit] = (await search(a, { q: fresh })).json.results;
    assert.ok(hit.message.editedAt);
  });

  test('the sender\'s name matches, as it is now', async () => {
    const { a, b, group } = await trio();
    const w = word();
    await send(fx.url, b, group._id, `${w} lunch`);
    await send(fx.url, a, group._id, `${w} dinner`);
    const first = b.name.split(' ')[0];
    assert.deepEqual(contents(await search(a, { q: `${first} ${w}` })), [`${w} lunch`]);
    const renamed = uniq('Renamed');
    assert.equal((await api(fx.url, 'PUT', '/api/user/me', { token: b.token, body: { name: renamed } })).status, 200);
    assert.deepEqual(contents(await search(a, { q: `${renamed} ${w}` })), [`${w} lunch`]);
  });

  test('ranked by relevance, then newest; `next` pages through every hit once', async () => {
    const { a, b, group } = await trio();
    const w = word();
    for (let i = 0; i < 7; i++) await send(fx.url, a, group._id, `${w} ${i}`);
    await send(fx.url, a, group._id, `${w} ${w} ${w} weekly`);
    const seen = [];
    let next;
    let pages = 0;
    do {
      const r = await search(b, { q: w, limit: '3', ...(next ? { before: next } : {}) });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.results.length <= 3);
      seen.push(...contents(r));
      next = r.json.next;
      pages += 1;
    } while (next && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [`${w} ${w} ${w} weekly`, ...[6, 5, 4, 3, 2, 1, 0].map((i) => `${w} ${i}`)]);
  });

  test('bad input is a 400 with a code; no text is ever an error of the database', async () => {
    const { a, group } = await trio();
    const w = word();
    await send(fx.url, a, group._id, `NEAR OR AND NOT ${w} col`);
    for (const q of ['', '   ', '"', '***', '""', '(', '-', "'", '\\', '&|', '%']) {
      const r = await search(a, { q });
      assert.equal(r.status, 400, `${JSON.stringify(q)}: ${r.text}`);
      assert.equal(r.json.code, 'invalid_input');
      assert.ok(r.json.message);
    }
    assert.equal((await api(fx.url, 'GET', '/api/message/search', { token: a.token })).status, 400);
    for (const q of ['NEAR(', 'a OR', `-${w}`, `col:${w}`, `^${w}`, `${w})`, `(${w}`, 'a:*',
      `!${w}`, 'x<->y', `${w}"*`, '\u0000x', '\u0002x\u0003', 'a'.repeat(200), '😀 ✓', 'ｗｉｄｅ']) {
      const r = await search(a, { q });
      assert.equal(r.status, 200, `${JSON.stringify(q)}: ${r.text}`);
    }
    assert.deepEqual(contents(await search(a, { q: `near or ${w}` })), [`NEAR OR AND NOT ${w} col`]);
    for (const limit of ['0', '-1', 'x', '1.5']) {
      assert.equal((await search(a, { q: w, limit })).status, 400, limit);
    }
    for (const before of ['x', 'e30', '!!!', Buffer.from('{"s":"x"}').toString('base64url')]) {
      const r = await search(a, { q: w, before });
      assert.equal(r.status, 400, `${before}: ${r.text}`);
      assert.equal(r.json.code, 'invalid_input');
    }
    assert.equal((await search(a, { q: 'x'.repeat(1001) })).status, 400);
    assert.equal((await api(fx.url, 'GET', `/api/message/search?q=${w}`)).status, 401);
  });
});

describe('socket search', () => {
  test('answers like REST, in the ack', async () => {
    const { a, b, group } = await trio();
    const w = word();
    await send(fx.url, a, group._id, `${w} over the socket`);
    const sb = await nativeClient(fx.url, b.token);
    try {
      const ack = await callOk(sb, 'search', { q: w });
      assert.equal(ack.results.length, 1);
      assert.equal(ack.results[0].message.content, `${w} over the socket`);
      assert.equal(ack.results[0].snippet, `<mark>${w}</mark> over the socket`);
      assert.equal(ack.next, null);
      const paged = await callOk(sb, 'search', { q: w, chatId: group._id, limit: 1 });
      assert.equal(paged.results.length, 1);
      await callErr(sb, 'search', { q: '' }, 'invalid_input');
      await callErr(sb, 'search', {}, 'invalid_input');
      await callErr(sb, 'search', { q: w, limit: 'x' }, 'invalid_input');
    } finally {
      sb.close();
    }
  });
});
