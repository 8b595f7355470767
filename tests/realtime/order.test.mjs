// Per-chat total order across network threads: three members of one group, each with two devices
// (websocket, polling and polling-then-upgrade connections, spread over the network threads
// round-robin), all send at once. Every socket must see the chat's messages in seq order, each
// once, and exactly those it did not send itself; the acks and the history hold seqs 1..3N.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixture, registerMany, createGroup, uniq, nativeClient, collect, firsts, fullHistory, waitUntil,
  range, sleep, ms,
} from './harness.mjs';

const N = 200; // messages per member

// A member's devices: [websocket only, polling only], [default (polling, then upgrade), websocket], ...
const DEVICES = [
  ['A', [{ transports: ['websocket'] }, { transports: ['polling'] }]],
  ['B', [{ upgrade: true }, { transports: ['websocket'] }]],
  ['C', [{ transports: ['polling'] }, { transports: ['websocket'] }]],
];

const transportOf = (socket) => socket.io.engine?.transport?.name;

/**
 * Waits for a default-transports socket to finish its upgrade: chatd answers every GET at once
 * while an upgrade is under way, so it never waits for the next ping (25 s).
 */
async function settleUpgrade(socket) {
  await waitUntil(() => transportOf(socket) === 'websocket', { timeout: ms(3000), message: 'the upgrade' });
  return transportOf(socket);
}

/** Indexes i where seqs[i] is not greater than seqs[i - 1]. */
function inversions(seqs) {
  const out = [];
  for (let i = 1; i < seqs.length; i++) if (seqs[i] <= seqs[i - 1]) out.push(i);
  return out;
}

/** How many seqs arrived after a higher one. */
function late(seqs) {
  let max = -Infinity;
  let n = 0;
  for (const q of seqs) {
    if (q < max) n += 1;
    else max = q;
  }
  return n;
}

const CONFIGS = [
  ['--threads 4', ['--threads', '4']],
  [process.env.CHATD_THREADS ? `CHATD_THREADS=${process.env.CHATD_THREADS}` : 'default threads', []],
];

for (const [label, args] of CONFIGS) {
  describe(`per-chat order with ${label}`, () => {
    const fx = fixture({ before, after, afterEach }, args);

    test(`3 members x 2 devices, ${N} concurrent sends each: every socket sees seq order`, async () => {
      const users = await registerMany(fx.url, DEVICES.map(([name]) => `Order ${name}`));
      const g = await createGroup(fx.url, users[0], users.slice(1));
      const chatId = g._id;

      // Connect one at a time so that round-robin spreads the connections over the threads.
      const members = [];
      for (const [i, [name, devices]] of DEVICES.entries()) {
        const sockets = [];
        for (const [d, dev] of devices.entries()) {
          const { upgrade, ...opts } = dev;
          if (upgrade) opts.transports = ['polling', 'websocket'];
          const s = await nativeClient(fx.url, users[i].token, { forceNew: true, ...opts });
          const at = upgrade ? await settleUpgrade(s) : null;
          s.label = `${name}${d + 1} (${upgrade ? `polling+upgrade, ${at} at the start` : opts.transports.join(',')})`;
          sockets.push(s);
        }
        members.push({ name, user: users[i], sockets });
      }
      const all = members.flatMap((m) => m.sockets);
      // Listeners before the first send: every message:new, in arrival order.
      const seen = new Map(all.map((s) => [s, collect(s, 'message:new')]));

      // Every send issued at once; a member's sends alternate over its devices.
      const sent = new Map(all.map((s) => [s, new Set()])); // clientMsgId sent per socket
      const pending = [];
      for (let k = 0; k < N; k++) {
        for (const m of members) {
          const s = m.sockets[k % m.sockets.length];
          const clientMsgId = uniq('o');
          const content = `${m.name} ${k}`;
          sent.get(s).add(clientMsgId);
          pending.push(
            s.timeout(ms(30000)).emitWithAck('message:send', { chatId, clientMsgId, content })
              .then((r) => ({ s, clientMsgId, content, r }), (err) => ({ s, clientMsgId, content, err })),
          );
        }
      }
      const acks = await Promise.all(pending);

      const failed = acks.filter((a) => a.err || a.r?.ok !== true);
      assert.deepEqual(failed.slice(0, 5).map((a) => `${a.s.label} ${a.content}: ${a.err?.message ?? JSON.stringify(a.r)}`), [],
        `${failed.length} of ${acks.length} sends not acked ok`);
      for (const { clientMsgId, content, r } of acks) {
        assert.equal(r.message.chatId, chatId);
        assert.equal(r.message.clientMsgId, clientMsgId);
        assert.equal(r.message.content, content);
      }
      const total = acks.length;
      const byId = new Map(acks.map((a) => [a.r.message._id, a.r.message]));
      assert.equal(byId.size, total, 'every ack names a distinct message');
      assert.deepEqual(acks.map((a) => a.r.message.seq).sort((x, y) => x - y), range(1, total), 'acked seqs are 1..total');

      // What each socket must get: every message but the ones it sent itself.
      const expected = new Map(all.map((s) => [s, new Set(
        acks.filter((a) => !sent.get(s).has(a.clientMsgId)).map((a) => a.r.message._id),
      )]));
      const complete = (s) => {
        const have = new Set(firsts(seen.get(s)).map((m) => m._id));
        return [...expected.get(s)].every((id) => have.has(id));
      };
      try {
        await waitUntil(() => all.every(complete), { timeout: 20000, message: 'every expected message:new' });
      } catch { /* reported below, per socket */ }
      await sleep(ms(300)); // late duplicates or strays

      const problems = [];
      for (const s of all) {
        const got = firsts(seen.get(s));
        const seqs = got.map((m) => m.seq);
        const inv = inversions(seqs);
        if (inv.length) {
          const i = inv[0];
          problems.push(`${s.label}: ${inv.length} inversions (${late(seqs)} late) in ${seqs.length} message:new; the first at #${i}: `
            + `seq ${seqs[i - 1]} then ${seqs[i]} (around it: ${seqs.slice(Math.max(0, i - 3), i + 4).join(', ')})`);
        }
        const ids = got.map((m) => m._id);
        const have = new Set(ids);
        const dups = ids.length - have.size;
        if (dups) problems.push(`${s.label}: ${dups} duplicate message:new`);
        const exp = expected.get(s);
        const missing = [...exp].filter((id) => !have.has(id));
        const extra = [...have].filter((id) => !exp.has(id));
        if (missing.length) {
          problems.push(`${s.label}: ${missing.length} of ${exp.size} missing (seqs ${missing.slice(0, 10).map((id) => byId.get(id)?.seq).join(', ')}...)`);
        }
        if (extra.length) {
          const own = extra.filter((id) => byId.has(id));
          problems.push(`${s.label}: ${extra.length} unexpected (${own.length} of its own sends; seqs ${extra.slice(0, 10).map((id) => byId.get(id)?.seq ?? id).join(', ')})`);
        }
        // What arrived is the acked lean message.
        for (const m of got) {
          const a = byId.get(m._id);
          if (a && (m.seq !== a.seq || m.content !== a.content || m.clientMsgId !== a.clientMsgId || m.chatId !== chatId)) {
            problems.push(`${s.label}: message:new ${JSON.stringify(m)} differs from the ack ${JSON.stringify(a)}`);
            break;
          }
        }
      }
      assert.deepEqual(problems, [], `fan-out order/completeness with ${label}:\n  ${problems.join('\n  ')}`);

      // The history is the same sequence.
      const h = await fullHistory(fx.url, users[1], chatId);
      assert.deepEqual(h.map((m) => m.seq), range(1, total), 'history seqs are 1..total');
      for (const m of h) assert.equal(byId.get(m._id)?.seq, m.seq, `history message ${m._id} is the acked one`);
    });
  });
}
