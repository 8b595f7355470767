// kill -9 in the middle of a stream of message:send: every message that was acked is in the history
// after a restart, exactly once, with the seq it was acked with; seqs stay gapless and no clientMsgId
// appears twice. (An ack is sent only after commit; SQLite runs with synchronous=FULL.)
import { test, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  startServer, stopClean, closeSockets, mkTmpDir, registerMany, createGroup, nativeClient, callOk, sendNative,
  fullHistory, range, sleep, ms,
} from './harness.mjs';

const dirs = [];
let srv = null;
afterEach(() => closeSockets());
after(async () => {
  closeSockets();
  if (srv && srv.proc.exitCode === null && srv.proc.signalCode === null) await stopClean(srv);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('SIGKILL durability', () => {
  test('every acked message survives kill -9 mid-stream, once, with its seq; seqs gapless; no duplicate clientMsgId', async () => {
    const dataDir = mkTmpDir('chatd-realtime-kill-');
    dirs.push(dataDir);
    srv = await startServer([], { dataDir });
    const users = await registerMany(srv.url, ['Kill A', 'Kill B', 'Kill C', 'Kill D']);
    const g = await createGroup(srv.url, users[0], users.slice(1));
    const sockets = await Promise.all(users.map((u) => nativeClient(srv.url, u.token)));

    const KILL_AFTER = 300; // acks before the kill
    const LANES = 4; // sends in flight per socket
    const acked = [];
    const refused = [];
    let stopping = false;
    let reachKill;
    const enoughAcks = new Promise((resolve) => { reachKill = resolve; });

    // Each lane sends one message at a time with a fresh key; a rate-limited send is retried with
    // the same key (that is what the key is for).
    async function lane(sock, userIdx, laneIdx) {
      for (let n = 0; !stopping; n++) {
        const clientMsgId = `kill-${userIdx}-${laneIdx}-${n}`;
        const payload = { chatId: g._id, clientMsgId, content: `user ${userIdx} lane ${laneIdx} #${n}` };
        for (;;) {
          let r;
          try {
            r = await sock.timeout(ms(15000)).emitWithAck('message:send', payload);
          } catch {
            return; // the connection went down with the server
          }
          if (r?.ok) {
            acked.push({ _id: r.message._id, seq: r.message.seq, clientMsgId, sender: users[userIdx]._id });
            if (acked.length >= KILL_AFTER) reachKill();
            break;
          }
          if (r?.error?.code === 'rate_limited' && !stopping) { await sleep(50); continue; }
          refused.push(r);
          return;
        }
      }
    }
    const streams = sockets.flatMap((s, i) => range(1, LANES).map((l) => lane(s, i, l)));
    await Promise.race([enoughAcks, sleep(ms(20000))]);
    const ackedAtKill = acked.length;
    srv.proc.kill('SIGKILL');
    stopping = true;
    const exit = await srv.exited;
    assert.equal(exit.signal, 'SIGKILL', `chatd was killed (exit ${JSON.stringify(exit)})`);
    await Promise.all(streams);
    closeSockets();
    assert.deepEqual(refused, [], 'no send was refused');
    assert.ok(ackedAtKill >= 50, `only ${ackedAtKill} acks within 20 s: the stream is too slow to test anything`);

    // Restart on the same data dir: the stored JWT secret keeps the old tokens valid.
    srv = await startServer([], { dataDir });
    const h = await fullHistory(srv.url, users[1], g._id, 200);
    const N = h.length;
    assert.ok(N >= acked.length, `history has ${N} messages, ${acked.length} were acked`);
    assert.deepEqual(h.map((m) => m.seq), range(1, N), 'seqs are 1..N without gaps');
    assert.equal(new Set(h.map((m) => m._id)).size, N, 'no message twice');
    const keys = h.map((m) => m.clientMsgId);
    assert.ok(keys.every((k) => typeof k === 'string'), 'every message kept its clientMsgId');
    assert.equal(new Set(keys).size, N, 'no clientMsgId twice');
    const byId = new Map(h.map((m) => [m._id, m]));
    const missing = [];
    for (const x of acked) {
      const m = byId.get(x._id);
      if (!m) { missing.push(x); continue; }
      assert.equal(m.seq, x.seq, `message ${x._id} kept its acked seq`);
      assert.equal(m.clientMsgId, x.clientMsgId);
      assert.equal(m.sender._id, x.sender);
    }
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acked messages were lost`);
    assert.equal(new Set(acked.map((x) => x.seq)).size, acked.length, 'no two acks with one seq');

    // After the restart: retries of acked keys return the original; new sends continue the sequence.
    const s0 = await nativeClient(srv.url, users[0].token);
    const old = acked.find((x) => x.sender === users[0]._id);
    if (old) {
      const r = await callOk(s0, 'message:send', { chatId: g._id, clientMsgId: old.clientMsgId, content: 'retry after crash' });
      assert.equal(r.message._id, old._id);
      assert.equal(r.message.seq, old.seq);
    }
    const next = await sendNative(s0, g._id, 'after the crash');
    assert.equal(next.seq, N + 1);
  });
});
