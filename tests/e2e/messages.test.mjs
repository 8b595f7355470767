// /api/message: send, idempotency, history paging, readBy, delivery status.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, api, register, registerMany, uniq, assertError, assertMessage, assertSender, assertPublicUser,
  assertChat, oneToOne, createGroup, send, history, chatList, fakeId, sortedIds, ids,
} from './harness.mjs';

const fx = serverFixture();
before(fx.start);
after(fx.stop);

async function pair(tag = 'Msg') {
  const [a, b] = await registerMany(fx.url, [`${tag} A`, `${tag} B`]);
  const chat = await oneToOne(fx.url, a, b);
  return { a, b, chat };
}

describe('POST /api/message', () => {
  test('returns the full message shape; seq starts at 1 and is gapless', async () => {
    const { a, b, chat } = await pair('Shape');
    const r = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'hello', chatId: chat._id } });
    assert.equal(r.status, 200, r.text);
    const m = r.json;
    assertMessage(m);
    assert.equal(m.seq, 1);
    assert.equal(m.content, 'hello');
    assertSender(m.sender, a);
    assert.deepEqual(Object.keys(m.sender).sort(), ['_id', 'email', 'name', 'pic']);
    assert.deepEqual(m.readBy, []);
    assert.ok(!('clientMsgId' in m) || m.clientMsgId === null || m.clientMsgId === undefined);
    assertChat(m.chat, { group: false });
    assert.equal(m.chat._id, chat._id);
    assert.equal(m.chat.chatName, 'sender');
    assert.deepEqual(sortedIds(m.chat.users), [a._id, b._id].sort());
    for (const u of m.chat.users) assertPublicUser(u, u._id === a._id ? a : b);

    const m2 = await send(fx.url, b, chat._id, 'hi back');
    const m3 = await send(fx.url, a, chat._id, 'third');
    assert.deepEqual([m2.seq, m3.seq], [2, 3]);
    assert.equal(new Set([m._id, m2._id, m3._id]).size, 3);
  });

  test('in a group, chat carries groupAdmin and full users', async () => {
    const [a, b, c] = await registerMany(fx.url, ['GM A', 'GM B', 'GM C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const m = await send(fx.url, b, g._id, 'group hello');
    assertMessage(m);
    assertChat(m.chat, { group: true });
    assertPublicUser(m.chat.groupAdmin, a);
    assert.equal(m.chat.chatName, g.chatName);
    assert.equal(m.chat.users.length, 3);
  });

  test('chatId may be the whole chat object (classic clients)', async () => {
    const { a, chat } = await pair('Obj');
    const r = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'as object', chatId: chat } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.chat._id, chat._id);
    assert.equal(r.json.seq, 1);
    const r2 = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'minimal object', chatId: { _id: chat._id } } });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.seq, 2);
  });

  test('content is stored verbatim (unicode, markup, newlines)', async () => {
    const { a, b, chat } = await pair('Verb');
    const content = 'héllo 👋 世界\n<script>alert(1)</script> "quoted" \\ back\ttab';
    const m = await send(fx.url, a, chat._id, content);
    assert.equal(m.content, content);
    const h = await history(fx.url, b, chat._id);
    assert.equal(h[0].content, content);
  });

  test('content of 4000 characters is accepted; 4001 → 400', async () => {
    const { a, b, chat } = await pair('Len');
    const ok = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'x'.repeat(4000), chatId: chat._id } });
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
    assert.equal(ok.json.content.length, 4000);
    const bad = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'x'.repeat(4001), chatId: chat._id } });
    assertError(bad, 400, 'invalid_input');
    const h = await history(fx.url, b, chat._id);
    assert.equal(h.length, 1, 'the refused message was not stored');
  });

  test('content length counts characters, not bytes (4000 × "é" is accepted)', async () => {
    const { a, chat } = await pair('LenU');
    const ok = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'é'.repeat(4000), chatId: chat._id } });
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
    assert.equal(ok.json.content, 'é'.repeat(4000));
    const bad = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'é'.repeat(4001), chatId: chat._id } });
    assertError(bad, 400, 'invalid_input');
  });

  for (const [label, body] of [
    ['empty content', (c) => ({ content: '', chatId: c })],
    ['whitespace-only content', (c) => ({ content: ' \n\t  ', chatId: c })],
    ['missing content', (c) => ({ chatId: c })],
    ['content as a number', (c) => ({ content: 12, chatId: c })],
    ['content as an object', (c) => ({ content: { $gt: '' }, chatId: c })],
    ['missing chatId', () => ({ content: 'x' })],
    ['chatId as a number', () => ({ content: 'x', chatId: 5 })],
    ['chatId as an object without _id', () => ({ content: 'x', chatId: { foo: 'bar' } })],
    ['clientMsgId as a number', (c) => ({ content: 'x', chatId: c, clientMsgId: 5 })],
  ]) {
    test(`${label} → 400 invalid_input, nothing stored`, async () => {
      const { a, b, chat } = await pair('Bad');
      const r = await api(fx.url, 'POST', '/api/message', { token: a.token, body: body(chat._id) });
      assertError(r, 400, 'invalid_input');
      assert.deepEqual(await history(fx.url, b, chat._id), []);
    });
  }

  test('non-member → 403 not_member, nothing stored', async () => {
    const { a, chat } = await pair('NM');
    const out = await register(fx.url, 'NM Outsider');
    const r = await api(fx.url, 'POST', '/api/message', { token: out.token, body: { content: 'intrude', chatId: chat._id } });
    assertError(r, 403, 'not_member');
    assert.deepEqual(await history(fx.url, a, chat._id), []);
  });

  test('unknown chat → 404 not_found', async () => {
    const a = await register(fx.url, 'UC A');
    const r = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'void', chatId: fakeId() } });
    assertError(r, 404, 'not_found');
  });

  test('concurrent sends to one chat get distinct gapless seqs', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Conc A', 'Conc B', 'Conc C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const senders = [a, b, c];
    const ms = await Promise.all(Array.from({ length: 30 }, (_, i) => send(fx.url, senders[i % 3], g._id, `c${i}`)));
    assert.deepEqual(ms.map((m) => m.seq).sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
    const h = await history(fx.url, a, g._id);
    assert.deepEqual(h.map((m) => m.seq), Array.from({ length: 30 }, (_, i) => i + 1));
    const bySeq = new Map(ms.map((m) => [m.seq, m]));
    for (const m of h) {
      assert.equal(m._id, bySeq.get(m.seq)._id);
      assert.equal(m.content, bySeq.get(m.seq).content);
    }
  });

  test('seq is per chat', async () => {
    const [a, b, c] = await registerMany(fx.url, ['PerChat A', 'PerChat B', 'PerChat C']);
    const c1 = await oneToOne(fx.url, a, b);
    const c2 = await oneToOne(fx.url, a, c);
    assert.equal((await send(fx.url, a, c1._id, '1')).seq, 1);
    assert.equal((await send(fx.url, a, c1._id, '2')).seq, 2);
    assert.equal((await send(fx.url, a, c2._id, '1')).seq, 1);
  });
});

describe('idempotency (clientMsgId)', () => {
  test('a retry returns the original message (content of the retry ignored)', async () => {
    const { a, b, chat } = await pair('Idem');
    const key = uniq('cm');
    const r1 = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'original', chatId: chat._id, clientMsgId: key } });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.clientMsgId, key);
    const r2 = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'retry text', chatId: chat._id, clientMsgId: key } });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json._id, r1.json._id);
    assert.equal(r2.json.seq, r1.json.seq);
    assert.equal(r2.json.content, 'original');
    assert.equal(r2.json.clientMsgId, key);
    assert.equal(r2.json.createdAt, r1.json.createdAt);
    const h = await history(fx.url, b, chat._id);
    assert.equal(h.length, 1);
    assert.equal(h[0].content, 'original');
    assert.equal(h[0].clientMsgId, key);
    // the next new message still gets seq 2 (no gap from the retry)
    assert.equal((await send(fx.url, a, chat._id, 'next')).seq, 2);
  });

  test('10 concurrent sends with one clientMsgId → one message', async () => {
    const { a, b, chat } = await pair('IdemC');
    const key = uniq('cc');
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: `try ${i}`, chatId: chat._id, clientMsgId: key } })));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(rs.map((r) => r.json._id)).size, 1, 'one _id');
    assert.equal(new Set(rs.map((r) => r.json.seq)).size, 1, 'one seq');
    assert.equal(new Set(rs.map((r) => r.json.content)).size, 1, 'one content');
    const h = await history(fx.url, b, chat._id);
    assert.equal(h.length, 1, 'history has one message');
    assert.equal(h[0]._id, rs[0].json._id);
    assert.equal(h[0].seq, 1);
  });

  test('the same clientMsgId in another chat → 409 conflict', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Conf A', 'Conf B', 'Conf C']);
    const c1 = await oneToOne(fx.url, a, b);
    const c2 = await oneToOne(fx.url, a, c);
    const key = uniq('cx');
    await send(fx.url, a, c1._id, 'first', { clientMsgId: key });
    const r = await api(fx.url, 'POST', '/api/message', { token: a.token, body: { content: 'elsewhere', chatId: c2._id, clientMsgId: key } });
    assertError(r, 409, 'conflict');
    assert.deepEqual(await history(fx.url, c, c2._id), []);
  });

  test('another sender\'s equal clientMsgId is unrelated', async () => {
    const { a, b, chat } = await pair('Other');
    const key = uniq('co');
    const m1 = await send(fx.url, a, chat._id, 'from a', { clientMsgId: key });
    const m2 = await send(fx.url, b, chat._id, 'from b', { clientMsgId: key });
    assert.notEqual(m1._id, m2._id);
    assert.equal(m2.seq, 2);
    assert.equal(m2.content, 'from b');
    assert.equal((await history(fx.url, a, chat._id)).length, 2);
  });
});

describe('GET /api/message/:chatId (history)', () => {
  let a; let b; let chat; let all;
  const N = 230;
  before(async () => {
    ({ a, b, chat } = await pair('Hist'));
    all = [];
    // batches of concurrent sends; seq order is whatever the server committed, which the checks below use
    for (let i = 0; i < N; i += 23) {
      all.push(...await Promise.all(Array.from({ length: Math.min(23, N - i) }, (_, j) => send(fx.url, (i + j) % 2 ? b : a, chat._id, `h${i + j}`))));
    }
    all.sort((x, y) => x.seq - y.seq);
    assert.deepEqual(all.map((m) => m.seq), Array.from({ length: N }, (_, i) => i + 1));
  });

  const seqs = (ms) => ms.map((m) => m.seq);
  const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

  test('default: the newest 50, ascending, full message shape', async () => {
    const h = await history(fx.url, a, chat._id);
    assert.deepEqual(seqs(h), range(N - 49, N));
    for (const m of h) {
      assertMessage(m);
      assert.equal(m.chat._id, chat._id);
      assert.equal(m._id, all[m.seq - 1]._id);
      assert.equal(m.content, all[m.seq - 1].content);
      assertSender(m.sender, all[m.seq - 1].sender._id === a._id ? a : b);
    }
  });

  test('limit', async () => {
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?limit=10')), range(N - 9, N));
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?limit=1')), [N]);
    assert.deepEqual(seqs(await history(fx.url, b, chat._id, '?limit=200')), range(N - 199, N));
  });

  test('limit above 200 is clamped to 200 (or refused with 400)', async () => {
    const r = await api(fx.url, 'GET', `/api/message/${chat._id}?limit=1000`, { token: a.token });
    if (r.status === 200) assert.deepEqual(seqs(r.json), range(N - 199, N));
    else assertError(r, 400, 'invalid_input');
  });

  test('before=seq → the newest limit below seq', async () => {
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?before=20&limit=5')), range(15, 19));
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?before=3&limit=5')), [1, 2]);
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?before=1')), []);
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?before=100')), range(50, 99));
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, `?before=${N + 100}&limit=3`)), range(N - 2, N));
  });

  test('after=seq → the oldest limit above seq', async () => {
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?after=5&limit=3')), [6, 7, 8]);
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, `?after=${N - 5}`)), range(N - 4, N));
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?after=0&limit=4')), [1, 2, 3, 4]);
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, '?after=0')), range(1, 50));
    assert.deepEqual(seqs(await history(fx.url, a, chat._id, `?after=${N}`)), []);
  });

  test('paging backwards with before reaches every message exactly once', async () => {
    const got = [];
    let before = null;
    for (;;) {
      const page = await history(fx.url, b, chat._id, `?limit=37${before ? `&before=${before}` : ''}`);
      if (page.length === 0) break;
      got.unshift(...page);
      before = page[0].seq;
    }
    assert.deepEqual(seqs(got), range(1, N));
  });

  test('before and after together → 400', async () => {
    const r = await api(fx.url, 'GET', `/api/message/${chat._id}?before=10&after=2`, { token: a.token });
    assertError(r, 400, 'invalid_input');
  });

  for (const qs of ['?limit=abc', '?before=x', '?after=1.5x', '?limit=-1', '?before=-3']) {
    test(`bad query ${qs} → 400`, async () => {
      const r = await api(fx.url, 'GET', `/api/message/${chat._id}${qs}`, { token: a.token });
      assertError(r, 400, 'invalid_input');
    });
  }

  test('non-member → 403 not_member; unknown chat → 404', async () => {
    const out = await register(fx.url, 'Hist Out');
    assertError(await api(fx.url, 'GET', `/api/message/${chat._id}`, { token: out.token }), 403, 'not_member');
    assertError(await api(fx.url, 'GET', `/api/message/${fakeId()}`, { token: a.token }), 404, 'not_found');
  });

  test('a malformed chat id or message id is a clean 4xx', async () => {
    for (const p of [`/api/message/nope`, `/api/message/${'z'.repeat(24)}`, `/api/message/${chat._id}/nope/status`, '/api/message/nope/nope/status']) {
      const r = await api(fx.url, 'GET', p, { token: a.token });
      assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status} ${r.text}`);
      assertError(r, r.status);
    }
  });

  test('an empty chat has an empty history', async () => {
    const p = await pair('Empty');
    assert.deepEqual(await history(fx.url, p.a, p.chat._id), []);
  });
});

describe('readBy and status', () => {
  test('readBy: the sender\'s read position advances when they send', async () => {
    const { a, b, chat } = await pair('Read');
    const m1 = await send(fx.url, a, chat._id, 'm1');
    const m2 = await send(fx.url, a, chat._id, 'm2');
    assert.deepEqual(m2.readBy, []);
    let h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.map((m) => m.readBy), [[], []], 'nobody has read yet');
    const m3 = await send(fx.url, b, chat._id, 'm3');
    assert.deepEqual(m3.readBy, [], 'a new message is read by nobody else');
    h = await history(fx.url, b, chat._id);
    assert.deepEqual(h.map((m) => m.seq), [1, 2, 3]);
    assert.deepEqual(h[0].readBy, [b._id], 'b read m1 by sending m3');
    assert.deepEqual(h[1].readBy, [b._id]);
    assert.deepEqual(h[2].readBy, [], 'the sender is never in readBy; a has not read m3');
    await send(fx.url, a, chat._id, 'm4');
    h = await history(fx.url, b, chat._id);
    assert.deepEqual(h[2].readBy, [a._id]);
    assert.deepEqual(h[3].readBy, []);
    assert.ok(m1);
  });

  test('status: a fresh message is "sent"; per-member positions', async () => {
    const { a, b, chat } = await pair('Stat');
    const m = await send(fx.url, a, chat._id, 'status me');
    const r = await api(fx.url, 'GET', `/api/message/${chat._id}/${m._id}/status`, { token: a.token });
    assert.equal(r.status, 200, r.text);
    const s = r.json;
    assert.equal(s.messageId, m._id);
    assert.equal(s.chatId, chat._id);
    assert.equal(s.seq, m.seq);
    assert.equal(s.status, 'sent');
    assert.equal(s.members.length, 1, 'members other than the sender');
    const mb = s.members[0];
    assert.equal(mb.userId, b._id);
    assert.ok(Number.isInteger(mb.deliveredSeq) && Number.isInteger(mb.readSeq));
    assert.ok(mb.deliveredSeq < m.seq && mb.readSeq < m.seq);
    assert.equal(mb.delivered, false);
    assert.equal(mb.read, false);
    // any member may ask
    const r2 = await api(fx.url, 'GET', `/api/message/${chat._id}/${m._id}/status`, { token: b.token });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.status, 'sent');
  });

  test('status becomes "read" once the other member sends (read implies delivered)', async () => {
    const { a, b, chat } = await pair('Stat2');
    const m = await send(fx.url, a, chat._id, 'will be read');
    const reply = await send(fx.url, b, chat._id, 'reply');
    const r = await api(fx.url, 'GET', `/api/message/${chat._id}/${m._id}/status`, { token: a.token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'read');
    assert.deepEqual(r.json.members, [{ userId: b._id, deliveredSeq: reply.seq, readSeq: reply.seq, delivered: true, read: true }]);
  });

  test('group status: sent until every other member has read; a member added later starts at the last seq', async () => {
    const [a, b, c, d] = await registerMany(fx.url, ['GS A', 'GS B', 'GS C', 'GS D']);
    const g = await createGroup(fx.url, a, [b, c]);
    const m = await send(fx.url, a, g._id, 'group status');
    const st = async () => {
      const r = await api(fx.url, 'GET', `/api/message/${g._id}/${m._id}/status`, { token: b.token });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    let s = await st();
    assert.equal(s.status, 'sent');
    assert.deepEqual(sortedIds(s.members.map((x) => ({ _id: x.userId }))), [b._id, c._id].sort());
    await send(fx.url, b, g._id, 'b read it');
    s = await st();
    assert.equal(s.status, 'sent', 'c has not read');
    const mb = s.members.find((x) => x.userId === b._id);
    const mc = s.members.find((x) => x.userId === c._id);
    assert.equal(mb.read, true);
    assert.equal(mb.delivered, true);
    assert.equal(mc.read, false);
    assert.equal(mc.delivered, false);
    let h = await history(fx.url, c, g._id);
    assert.deepEqual(h[0].readBy, [b._id]);

    await send(fx.url, c, g._id, 'c read it');
    s = await st();
    assert.equal(s.status, 'read');
    h = await history(fx.url, c, g._id);
    assert.deepEqual(h[0].readBy.slice().sort(), [b._id, c._id].sort());

    // d joins after: starts at the chat's last seq, so old messages stay "read"
    const r = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: a.token, body: { chatId: g._id, userId: d._id } });
    assert.equal(r.status, 200, r.text);
    s = await st();
    assert.equal(s.status, 'read');
    const md = s.members.find((x) => x.userId === d._id);
    assert.ok(md, 'd is listed as a current member');
    assert.equal(md.readSeq, 3);
    assert.equal(md.deliveredSeq, 3);
    assert.equal(md.read, true);
    // history is readable by d
    h = await history(fx.url, d, g._id);
    assert.deepEqual(h.map((x) => x.seq), [1, 2, 3]);
    assert.ok(h[0].readBy.includes(d._id));

    // a removed member no longer counts
    const m2 = await send(fx.url, a, g._id, 'after d');
    await send(fx.url, b, g._id, 'b again');
    await send(fx.url, d, g._id, 'd here');
    const rr = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId: g._id, userId: c._id } });
    assert.equal(rr.status, 200, rr.text);
    const r2 = await api(fx.url, 'GET', `/api/message/${g._id}/${m2._id}/status`, { token: a.token });
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(r2.json.members.map((x) => x.userId).sort(), [b._id, d._id].sort());
    assert.equal(r2.json.status, 'read');
  });

  test('status errors: unknown message 404, message of another chat 404, non-member 403', async () => {
    const { a, b, chat } = await pair('StatErr');
    const other = await pair('StatErr2');
    const m = await send(fx.url, a, chat._id, 'x');
    const om = await send(fx.url, other.a, other.chat._id, 'y');
    assertError(await api(fx.url, 'GET', `/api/message/${chat._id}/${fakeId()}/status`, { token: a.token }), 404, 'not_found');
    assertError(await api(fx.url, 'GET', `/api/message/${chat._id}/${om._id}/status`, { token: a.token }), 404, 'not_found');
    assertError(await api(fx.url, 'GET', `/api/message/${chat._id}/${m._id}/status`, { token: other.a.token }), 403, 'not_member');
    assertError(await api(fx.url, 'GET', `/api/message/${fakeId()}/${m._id}/status`, { token: a.token }), 404, 'not_found');
    assert.ok(b);
  });
});

describe('chat list reflects messages', () => {
  test('latestMessage follows the newest message', async () => {
    const { a, b, chat } = await pair('Latest');
    await send(fx.url, a, chat._id, 'one');
    const m2 = await send(fx.url, b, chat._id, 'two');
    const c = (await chatList(fx.url, a)).find((x) => x._id === chat._id);
    assert.equal(c.latestMessage._id, m2._id);
    assert.equal(c.latestMessage.content, 'two');
    assertSender(c.latestMessage.sender, b);
    assert.deepEqual(ids([c]), [chat._id]);
  });
});
