// 11. 500 concurrent WebSocket clients (one Manager each); one broadcast-all reaches each of them
// exactly once. Once on the default server, once on a server with 4 network threads (the clients
// spread over threads, so the broadcast crosses them).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, startServer, io, connected, emitAck, sleep, waitUntil,
} from "./harness.mjs";

// The heartbeat and connect timeout are not under test here: relaxed, so that a loaded machine
// (500 clients in one Node process, a sanitizer build) cannot drop clients for a late pong.
const RELAXED = ["--ping-interval-ms", "5000", "--ping-timeout-ms", "10000", "--connect-timeout-ms", "20000"];
const ctx = serverFixture(before, after, RELAXED);
const N = 500;

async function fanOut(url) {
  const clients = [];
  for (let i = 0; i < N; i++) {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
    socket.count = 0;
    socket.payloads = [];
    socket.on("announcement", (...args) => {
      socket.count++;
      socket.payloads.push(args);
    });
    clients.push(socket);
  }
  try {
    await Promise.all(clients.map((c) => connected(c, 30_000)));
    const disconnects = [];
    clients.forEach((c, i) => c.on("disconnect", (reason) => disconnects.push([i, reason])));
    assert.equal(new Set(clients.map((c) => c.io.engine.id)).size, N, "N distinct sessions");
    assert.equal(new Set(clients.map((c) => c.id)).size, N, "N distinct socket ids");

    const sender = clients[Math.floor(N / 2)];
    assert.deepEqual(await emitAck(sender, "broadcast-all", "hello all", { n: N }), [true]);
    await waitUntil(() => clients.every((c) => c.count >= 1), {
      timeout: 15_000,
      message: `the announcement on all ${N} clients`,
    }).catch((err) => {
      const missing = clients.filter((c) => c.count === 0).length;
      throw new Error(`${err.message}: ${missing} of ${N} got nothing`);
    });
    await sleep(500); // duplicates would show up by now
    assert.deepEqual(disconnects, [], "clients disconnected during the test");
    const counts = new Map();
    for (const c of clients) counts.set(c.count, (counts.get(c.count) ?? 0) + 1);
    assert.deepEqual([...counts], [[1, N]], "announcements per client: [count, clients]");
    for (const c of clients) assert.deepEqual(c.payloads[0], ["hello all", { n: N }]);
    assert.equal(clients.every((c) => c.connected), true);
  } finally {
    for (const c of clients) c.disconnect();
  }
}

test(`${N} clients each receive one announcement exactly once`, { timeout: 60_000 }, async () => {
  await fanOut(ctx.url);
});

test(`${N} clients on a 4-thread server`, { timeout: 60_000 }, async () => {
  const server = await startServer(["--threads", "4", ...RELAXED]);
  try {
    await fanOut(server.url);
  } finally {
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, signal: null }, `exit status; stderr:\n${server.stderr()}`);
  }
});
