// Presence (online on the first socket, offline with lastSeen when the last one goes; to users who
// share a chat; presence:get snapshots) and native typing (start/stop, no re-emit while typing,
// server-side expiry after ~5 s, rate limit).
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, oneToOne, createGroup, fakeId, ISO_RE, nativeClient, once, never, collect, firsts, flush,
  call, callOk, sleep, ms, SCALE, range,
} from './harness.mjs';

const fx = fixture({ before, after, afterEach });

describe('presence', () => {
  test('online with the first socket, offline with lastSeen when the last one goes; only to chat partners', async () => {
    const [a, b, stranger] = await registerMany(fx.url, ['Pres A', 'Pres B', 'Pres Stranger']);
    await oneToOne(fx.url, a, b);
    const sa = await nativeClient(fx.url, a.token);
    const ss = await nativeClient(fx.url, stranger.token);
    const strangerSaw = collect(ss, 'presence');

    const online = once(sa, 'presence', { filter: (p) => p?.userId === b._id && p.online === true });
    const b1 = await nativeClient(fx.url, b.token);
    const [on] = await online;
    assert.deepEqual(on, { userId: b._id, online: true, lastSeen: null });

    // a second socket of b: still online, nothing new
    const quiet = never(sa, 'presence', 400, (p) => p?.userId === b._id);
    const b2 = await nativeClient(fx.url, b.token, { transports: ['polling'] });
    await quiet;
    // one of two goes: still online
    const quiet2 = never(sa, 'presence', 400, (p) => p?.userId === b._id);
    b1.disconnect();
    await quiet2;

    let r = await callOk(sa, 'presence:get', { userIds: [b._id] });
    assert.deepEqual(r.users, [{ userId: b._id, online: true, lastSeen: null }]);

    const t0 = Date.now();
    const offline = once(sa, 'presence', { filter: (p) => p?.userId === b._id && p.online === false });
    b2.disconnect();
    const [off] = await offline;
    assert.deepEqual(Object.keys(off).sort(), ['lastSeen', 'online', 'userId']);
    assert.match(off.lastSeen, ISO_RE);
    const seen = Date.parse(off.lastSeen);
    assert.ok(seen >= t0 - 2000 && seen <= Date.now() + 2000, `lastSeen ${off.lastSeen} is about now`);

    // snapshot: b offline with that lastSeen, a (the caller) online, strangers and unknown ids omitted
    r = await callOk(sa, 'presence:get', { userIds: [b._id, a._id, stranger._id, fakeId()] });
    const byId = Object.fromEntries(r.users.map((u) => [u.userId, u]));
    assert.deepEqual(Object.keys(byId).sort(), [a._id, b._id].sort(), JSON.stringify(r.users));
    assert.deepEqual(byId[b._id], { userId: b._id, online: false, lastSeen: off.lastSeen });
    assert.deepEqual(byId[a._id], { userId: a._id, online: true, lastSeen: null });

    // the stranger shares no chat with b: no presence about b, and presence:get omits b
    assert.equal(firsts(strangerSaw).filter((p) => p.userId === b._id).length, 0);
    r = await callOk(ss, 'presence:get', { userIds: [b._id] });
    assert.deepEqual(r.users, []);

    // back online
    const back = once(sa, 'presence', { filter: (p) => p?.userId === b._id && p.online === true });
    await nativeClient(fx.url, b.token);
    assert.deepEqual((await back)[0], { userId: b._id, online: true, lastSeen: null });
  });

  test('presence reaches every user sharing a chat (a group)', async () => {
    const [a, b, c] = await registerMany(fx.url, ['PG A', 'PG B', 'PG C']);
    await createGroup(fx.url, a, [b, c]);
    const [sa, sb] = await Promise.all([nativeClient(fx.url, a.token), nativeClient(fx.url, b.token)]);
    const w = [sa, sb].map((s) => once(s, 'presence', { filter: (p) => p?.userId === c._id && p.online === true }));
    const sc = await nativeClient(fx.url, c.token);
    await Promise.all(w);
    const off = [sa, sb].map((s) => once(s, 'presence', { filter: (p) => p?.userId === c._id && p.online === false }));
    sc.disconnect();
    await Promise.all(off);
  });
});

describe('typing (native)', () => {
  test('typing:start / typing:stop reach the other members; a repeated start does not re-emit', async () => {
    const [a, b, c] = await registerMany(fx.url, ['Typ A', 'Typ B', 'Typ C']);
    const g = await createGroup(fx.url, a, [b, c]);
    const [sa, sb, sc] = await Promise.all([a, b, c].map((u) => nativeClient(fx.url, u.token)));
    const onA = collect(sa, 'typing');
    const onB = collect(sb, 'typing');
    const onC = collect(sc, 'typing');

    const w = [sb, sc].map((s) => once(s, 'typing', { filter: (p) => p?.userId === a._id && p.typing === true }));
    const r = await callOk(sa, 'typing:start', { chatId: g._id });
    assert.deepEqual(r, { ok: true });
    for (const [p] of await Promise.all(w)) assert.deepEqual(p, { chatId: g._id, userId: a._id, typing: true });
    await callOk(sa, 'typing:start', { chatId: g._id });
    await callOk(sa, 'typing:start', { chatId: g._id });
    await sleep(ms(300));
    const stop = [sb, sc].map((s) => once(s, 'typing', { filter: (p) => p?.userId === a._id && p.typing === false }));
    await callOk(sa, 'typing:stop', { chatId: g._id });
    for (const [p] of await Promise.all(stop)) assert.deepEqual(p, { chatId: g._id, userId: a._id, typing: false });
    await flush(fx.url, a, g._id, { natives: [sb, sc] });
    for (const [name, arr] of [['b', onB], ['c', onC]]) {
      assert.deepEqual(firsts(arr).filter((p) => p.userId === a._id).map((p) => p.typing), [true, false],
        `${name}: one start, one stop`);
    }
    assert.equal(firsts(onA).filter((p) => p.userId === a._id).length, 0, 'the typing user\'s socket gets nothing');
  });

  test('a typing that is not refreshed ends by itself after about 5 s', async () => {
    const [a, b] = await registerMany(fx.url, ['Exp A', 'Exp B']);
    const chat = await oneToOne(fx.url, a, b);
    const [sa, sb] = await Promise.all([nativeClient(fx.url, a.token), nativeClient(fx.url, b.token)]);
    const started = once(sb, 'typing', { filter: (p) => p?.userId === a._id && p.typing === true });
    const ended = once(sb, 'typing', { timeout: 10000, filter: (p) => p?.userId === a._id && p.typing === false });
    const t0 = Date.now();
    await callOk(sa, 'typing:start', { chatId: chat._id });
    await started;
    const [p] = await ended;
    const took = Date.now() - t0;
    assert.deepEqual(p, { chatId: chat._id, userId: a._id, typing: false });
    assert.ok(took >= 3000, `ended after ${took} ms: too early for ~5 s`);
    assert.ok(took <= 5000 + 3000 * SCALE, `ended after ${took} ms: too late for ~5 s`);
  });

  test('a burst of 50 typing:start is rate limited; the socket keeps working', async () => {
    const [a, b] = await registerMany(fx.url, ['Rate A', 'Rate B']);
    const chat = await oneToOne(fx.url, a, b);
    const sa = await nativeClient(fx.url, a.token);
    const acks = await Promise.all(range(1, 50).map(() => call(sa, 'typing:start', { chatId: chat._id })));
    for (const r of acks) assert.ok(r?.ok === true || r?.error?.code === 'rate_limited', JSON.stringify(r));
    const limited = acks.filter((r) => r.ok === false);
    assert.ok(limited.length >= 1, 'at least one rate_limited');
    assert.equal(typeof limited[0].error.message, 'string');
    assert.ok(acks[0].ok, 'the first one passes');
    assert.ok(sa.connected, 'not disconnected');
    const r = await callOk(sa, 'presence:get', { userIds: [b._id] });
    assert.ok(Array.isArray(r.users));
  });
});
