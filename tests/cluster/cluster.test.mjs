// A cluster of three chatd nodes on PostgreSQL + Redis behind HAProxy (scripts/cluster.sh):
// clients on different nodes hear each other in commit order, presence and typing cross nodes,
// and the failures of DESIGN.md ("Failure semantics") lose and duplicate nothing.
//
// Run: CHATD_BIN=/abs/path/to/chatd node --test --test-concurrency=1 tests/cluster/

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './cluster.mjs';
import {
  api, registerMany, oneToOne, createGroup, nativeClient, classicClient, call, callOk, once,
  collect, waitUntil, closeSockets, sleep, ms, uniq, fullHistory, send,
} from '../realtime/harness.mjs';
import { Member, sendAll } from './members.mjs';

let cluster;
before(async () => { cluster = await startCluster({ nodes: 3 }); });
after(async () => {
  closeSockets();
  await cluster?.down();
});

const node = (n) => cluster.nodeUrl(`node${n}`);

describe('across nodes', () => {
  test('members on three nodes hear every message of a chat once, in commit order', async () => {
    const [a, b, c] = await registerMany(cluster.url, ['Ann', 'Ben', 'Cat']);
    const group = await createGroup(cluster.url, a, [b, c]);
    const sa = await nativeClient(node(1), a.token);
    const sb = await nativeClient(node(2), b.token);
    const sc = await nativeClient(node(3), c.token);
    const heard = [collect(sb, 'message:new'), collect(sc, 'message:new')];
    // Senders on two nodes at once: seqs interleave, and every node must deliver them in order.
    const fromA = Array.from({ length: 60 }, (_, i) => call(sa, 'message:send',
      { chatId: group._id, clientMsgId: uniq('a'), content: `a${i}` }));
    const fromB = Array.from({ length: 60 }, (_, i) => call(sb, 'message:send',
      { chatId: group._id, clientMsgId: uniq('b'), content: `b${i}` }));
    const acks = await Promise.all([...fromA, ...fromB]);
    for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
    const seqs = (seen) => seen.map(([m]) => m.seq);
    await waitUntil(() => heard[1].length === 120, { message: 'Cat hears all 120' });
    assert.deepEqual(seqs(heard[1]), Array.from({ length: 120 }, (_, i) => i + 1));
    await waitUntil(() => heard[0].length === 60, { message: "Ben hears Ann's 60" });
    const fromAnn = seqs(heard[0]);
    assert.deepEqual(fromAnn, [...fromAnn].sort((x, y) => x - y), 'Ben hears them in seq order');
  });

  test('presence is cluster-wide: online while any node holds a client', async () => {
    const [a, b] = await registerMany(cluster.url, ['Pia', 'Pol']);
    await oneToOne(cluster.url, a, b);
    const watcher = await nativeClient(node(1), a.token);
    const events = collect(watcher, 'presence');
    const onNode2 = await nativeClient(node(2), b.token);
    await waitUntil(() => events.some(([p]) => p.userId === b._id && p.online));
    const onNode3 = await nativeClient(node(3), b.token);
    await waitUntil(() => cluster.presenceNodes(b._id).length === 2, { message: 'node3 registered' });
    onNode2.close();
    await sleep(ms(500));
    let asked = await callOk(watcher, 'presence:get', { userIds: [b._id] });
    assert.equal(asked.users[0].online, true, 'still on node3');
    assert.equal(events.filter(([p]) => p.userId === b._id && !p.online).length, 0);
    onNode3.close();
    await waitUntil(() => events.some(([p]) => p.userId === b._id && !p.online));
    asked = await callOk(watcher, 'presence:get', { userIds: [b._id] });
    assert.equal(asked.users[0].online, false);
    assert.ok(asked.users[0].lastSeen);
  });

  test('typing crosses nodes', async () => {
    const [a, b] = await registerMany(cluster.url, ['Tia', 'Tom']);
    const chat = await oneToOne(cluster.url, a, b);
    const sa = await nativeClient(node(1), a.token);
    const sb = await nativeClient(node(3), b.token);
    const typing = once(sb, 'typing');
    await callOk(sa, 'typing:start', { chatId: chat._id });
    const [t] = await typing;
    assert.deepEqual(t, { chatId: chat._id, userId: a._id, typing: true });
  });

  for (const transports of [['polling'], ['polling', 'websocket']]) {
    test(`${transports.join(' then ')} through the round-robin balancer: no sticky sessions needed`, async () => {
      const [a, b] = await registerMany(cluster.url, ['Lou', 'Lea']);
      const chat = await oneToOne(cluster.url, a, b);
      const before = await cluster.lbRequests();
      // agent: false: a new TCP connection per request, so nothing pins a session to a node.
      const opts = { transports, socket: { agent: false, upgrade: transports.length > 1 } };
      const [ma, mb] = await Promise.all([Member.join(cluster.url, a, [chat._id], opts),
        Member.join(cluster.url, b, [chat._id], opts)]);
      const [ra, rb] = await Promise.all([sendAll(ma, chat._id, 25, 'lou'), sendAll(mb, chat._id, 25, 'lea')]);
      assert.equal(ra.failed.length + rb.failed.length, 0);
      await ma.settle(chat._id, 50, { sync: false });
      await mb.settle(chat._id, 50, { sync: false });
      for (const m of [ma, mb]) {
        assert.deepEqual(m.liveDuplicates, []);
        assert.deepEqual(m.outOfOrder, []);
        assert.equal(m.reconnects, 0);
        m.close();
      }
      // Polling spreads every request; after an upgrade the WebSocket carries everything, so
      // only the handshake's few requests spread.
      const least = transports.length === 1 ? 5 : 1;
      const after = await cluster.lbRequests();
      for (const n of ['node1', 'node2', 'node3']) {
        assert.ok(after[n] - before[n] >= least, `${n} took requests: ${JSON.stringify({ before, after })}`);
      }
    });
  }

  test('a classic MERN client through the balancer: setup, join chat, typing and message recieved across nodes', async () => {
    const [a, b] = await registerMany(cluster.url, ['Cam', 'Cid']);
    const chat = await oneToOne(cluster.url, a, b);
    // The classic frontends' default transports (polling, then the upgrade), new connections per
    // request: their requests land on every node.
    const opts = { transports: ['polling', 'websocket'], agent: false };
    const ca = await classicClient(cluster.url, a, opts);
    const cb = await classicClient(node(2), b, opts);
    ca.emit('join chat', chat._id);
    cb.emit('join chat', chat._id);
    await sleep(ms(300));
    const typing = once(ca, 'typing');
    cb.emit('typing', chat._id);
    await typing;
    const heard = collect(cb, 'message recieved');
    for (let i = 0; i < 10; i++) await send(cluster.url, a, chat._id, `classic ${i}`);
    await waitUntil(() => heard.length === 10, { message: 'Cid hears all 10' });
    assert.deepEqual(heard.map(([m]) => m.content), Array.from({ length: 10 }, (_, i) => `classic ${i}`));
    assert.deepEqual(heard[0][0].chat.users.map((u) => u._id).sort(), [a._id, b._id].sort());
  });

  test('REST and sockets agree whichever node answers', async () => {
    const [a, b] = await registerMany(cluster.url, ['Rex', 'Roy']);
    const chat = await oneToOne(cluster.url, a, b);
    const sb = await nativeClient(node(2), b.token);
    const heard = once(sb, 'message:new');
    const r = await api(node(3), 'POST', '/api/message', { token: a.token, body: { chatId: chat._id, content: 'via REST' } });
    assert.equal(r.status, 200, r.text);
    const [m] = await heard;
    assert.equal(m.content, 'via REST');
    const page = await fullHistory(node(1), b, chat._id);
    assert.deepEqual(page.map((x) => x.content), ['via REST']);
  });

  test('an attachment uploaded on one node is sent on a second and downloaded on a third', async () => {
    const [a, b] = await registerMany(cluster.url, ['Ula', 'Uma']);
    const chat = await oneToOne(cluster.url, a, b);
    const bytes = Buffer.from(`shared across nodes ${Date.now()}\n`.repeat(1000));
    const up = await fetch(`${node(1)}/api/attachment?name=notes.txt`, {
      method: 'POST', headers: { Authorization: `Bearer ${a.token}` }, body: bytes,
    });
    assert.equal(up.status, 201, await up.clone().text());
    const uploaded = await up.json();
    const sent = await api(node(2), 'POST', '/api/message', {
      token: a.token, body: { chatId: chat._id, content: '', attachments: [uploaded._id] },
    });
    assert.equal(sent.status, 200, sent.text);
    const [carried] = sent.json.attachments;
    const byLink = await fetch(`${node(3)}${carried.url}`);
    assert.equal(byLink.status, 200);
    assert.ok(Buffer.from(await byLink.arrayBuffer()).equals(bytes), 'the same bytes on node 3');
    const byToken = await fetch(`${node(3)}/api/attachment/${uploaded._id}`, {
      headers: { Authorization: `Bearer ${b.token}`, Range: 'bytes=0-9' },
    });
    assert.equal(byToken.status, 206);
    assert.equal(await byToken.text(), bytes.subarray(0, 10).toString());
  });
});

describe('accounts across nodes', () => {
  test('a logout on one node refuses the session on every node and cuts its sockets there', async () => {
    const [u] = await registerMany(cluster.url, ['Rev Owner']);
    const onNode2 = await nativeClient(node(2), u.token);
    const onNode3 = await nativeClient(node(3), u.token);
    const gone = [once(onNode2, 'disconnect'), once(onNode3, 'disconnect')];
    // Each node has the session cached as live before the logout.
    for (const n of [1, 2, 3]) {
      assert.equal((await api(node(n), 'GET', '/api/chat', { token: u.token })).status, 200);
    }
    const r = await api(node(1), 'POST', '/api/auth/logout', { token: u.token });
    assert.equal(r.status, 204, r.text);
    assert.equal((await api(node(1), 'GET', '/api/chat', { token: u.token })).status, 401, 'at once where it committed');
    await Promise.all(gone);
    for (const n of [2, 3]) {
      await waitUntil(async () => (await api(node(n), 'GET', '/api/chat', { token: u.token })).status === 401,
        { message: `node${n} refuses the session` });
    }
  });

  test('a spent refresh token is recognized on another node', async () => {
    const [u] = await registerMany(cluster.url, ['Rev Refresh']);
    const first = await api(node(1), 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(first.status, 200, first.text);
    const reuse = await api(node(2), 'POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
    assert.equal(reuse.status, 401, reuse.text);
    await waitUntil(async () => (await api(node(3), 'GET', '/api/chat', { token: first.json.token })).status === 401,
      { message: 'the stolen session is refused everywhere' });
  });
});

describe('failures', () => {
  test('a node killed under a stream of sends: every acked message once, in order, to every member', async () => {
    const users = await registerMany(cluster.url, ['K1', 'K2', 'K3', 'K4']);
    const group = await createGroup(cluster.url, users[0], users.slice(1));
    // Each member connects through the load balancer (spread over the nodes) and behaves as the
    // protocol asks: retry unacked sends with the same clientMsgId, sync after every reconnect.
    const members = await Promise.all(users.map((u) => Member.join(cluster.url, u, [group._id])));
    const sending = members.map((m, i) => sendAll(m, group._id, 40, `k${i}`, { gapMs: 25 }));
    await sleep(ms(400));
    await cluster.kill('node2');
    const results = await Promise.all(sending);
    for (const r of results) assert.equal(r.failed.length, 0, `unacked: ${JSON.stringify(r.failed)}`);
    const acked = results.flatMap((r) => r.acked);
    const last = Math.max(...acked.map((m) => m.seq));
    for (const m of members) await m.settle(group._id, last);
    const stored = await fullHistory(cluster.url, users[0], group._id);
    assert.equal(stored.length, acked.length, 'exactly the acked messages are stored');
    assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: last }, (_, i) => i + 1));
    for (const m of members) {
      assert.deepEqual(m.seqs(group._id), stored.map((x) => x.seq), `${m.user.name} has every message once, in order`);
      assert.deepEqual(m.liveDuplicates, [], `${m.user.name}: a connection heard a seq twice`);
      assert.deepEqual(m.outOfOrder, [], `${m.user.name}: a connection heard seqs out of order`);
    }
    assert.ok(members.some((m) => m.reconnects > 0), 'some member was on the killed node');
    for (const m of members) m.close();
    await cluster.start('node2');
  });

  test('a killed node does not leave its users online: another node reaps it and announces them offline', async () => {
    const [a, b] = await registerMany(cluster.url, ['Dee', 'Dan']);
    await oneToOne(cluster.url, a, b);
    const watcher = await nativeClient(node(1), a.token);
    const events = collect(watcher, 'presence');
    await nativeClient(node(3), b.token);
    await waitUntil(() => events.some(([p]) => p.userId === b._id && p.online));
    await cluster.kill('node3');
    // Node 3's alive key lapses after 10 s; a living node's next refresh (every 2 s) reaps it.
    await waitUntil(() => events.some(([p]) => p.userId === b._id && !p.online),
      { timeout: 20_000, message: 'Dan announced offline' });
    const asked = await callOk(watcher, 'presence:get', { userIds: [b._id] });
    assert.equal(asked.users[0].online, false);
    assert.ok(asked.users[0].lastSeen);
    await cluster.start('node3');
  });

  test('Redis stopped for 30 s under load: sends acked, connected clients get everything without reconnecting', async () => {
    const users = await registerMany(cluster.url, ['R1', 'R2', 'R3']);
    const group = await createGroup(cluster.url, users[0], users.slice(1));
    // Straight to the nodes, one member on each: nothing but Redis carries messages between them.
    const members = await Promise.all(users.map((u, i) => Member.join(node(i + 1), u, [group._id])));
    const sending = members.map((m, i) => sendAll(m, group._id, 30, `r${i}`, { gapMs: 1000 }));
    await sleep(ms(1500));
    await cluster.stop('redis');
    const down = await api(node(1), 'GET', '/readyz');
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json.redis, 'unavailable');
    await sleep(30_000);
    await cluster.start('redis');
    const results = await Promise.all(sending);
    for (const r of results) assert.equal(r.failed.length, 0, `unacked: ${JSON.stringify(r.failed)}`);
    const acked = results.flatMap((r) => r.acked);
    const last = Math.max(...acked.map((m) => m.seq));
    for (const m of members) await m.settle(group._id, last, { sync: false, timeout: 10_000 });
    for (const m of members) {
      assert.deepEqual(m.seqs(group._id), Array.from({ length: last }, (_, i) => i + 1), `${m.user.name} heard everything live`);
      assert.deepEqual(m.liveDuplicates, []);
      assert.deepEqual(m.outOfOrder, []);
      assert.equal(m.reconnects, 0, `${m.user.name} did not reconnect`);
      m.close();
    }
    await waitUntil(async () => (await api(node(1), 'GET', '/readyz')).status === 200, { timeout: 10_000 });
  });

  test('PostgreSQL stopped: sends fail fast with unavailable, nothing half-written, service resumes', async () => {
    const [a, b] = await registerMany(cluster.url, ['P1', 'P2']);
    const chat = await oneToOne(cluster.url, a, b);
    const sa = await nativeClient(node(1), a.token);
    await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId: uniq('p'), content: 'before' });
    await cluster.stop('postgres');
    const started = Date.now();
    const refused = await call(sa, 'message:send', { chatId: chat._id, clientMsgId: 'during', content: 'during' }, 10_000);
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, 'unavailable');
    assert.ok(Date.now() - started < ms(5000), `refused within 5 s, took ${Date.now() - started} ms`);
    const rest = await api(node(2), 'POST', '/api/message', { token: a.token, body: { chatId: chat._id, content: 'during' } });
    assert.equal(rest.status, 503, rest.text);
    assert.equal(rest.json.code, 'unavailable');
    const ready = await api(node(3), 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.json.store, 'unavailable');
    await cluster.start('postgres');
    await waitUntil(async () => (await api(node(1), 'GET', '/readyz')).status === 200, { timeout: 20_000 });
    // The refused send was never written: retried with its clientMsgId it is written now, once.
    const retried = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId: 'during', content: 'during' });
    assert.equal(retried.message.seq, 2);
    const page = await fullHistory(cluster.url, b, chat._id);
    assert.deepEqual(page.map((m) => m.content), ['before', 'during']);
  });
});
