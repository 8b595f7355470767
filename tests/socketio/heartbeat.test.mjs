// 8. Heartbeat (pingInterval 300 ms, pingTimeout 200 ms): the server pings, the client answers and
// stays connected; a client that never answers is closed by the server.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, connected, emitAck, collect, sleep, rawWebSocket, nextPacket, RawPolling,
} from "./harness.mjs";

const ctx = serverFixture(before, after);

async function officialClients() {
  const sockets = ["polling", "websocket"].map((transport) =>
    ctx.client(ctx.url, { transports: [transport] }),
  );
  await Promise.all(sockets.map((s) => connected(s)));
  const ids = sockets.map((s) => s.io.engine.id);
  const pings = sockets.map((s) => collect(s.io.engine, "ping"));
  const disconnects = sockets.map((s) => collect(s, "disconnect"));
  await sleep(2200);
  for (const [i, s] of sockets.entries()) {
    const name = s.io.engine.transport.name;
    assert.deepEqual(disconnects[i], [], `${name}: no disconnect`);
    assert.equal(s.connected, true, `${name}: connected`);
    assert.equal(s.io.engine.id, ids[i], `${name}: same session`);
    // ~7 pings in 2.2 s at one per 300 ms.
    assert.ok(pings[i].length >= 4, `${name}: ${pings[i].length} pings in 2.2 s`);
    assert.ok(pings[i].length <= 9, `${name}: ${pings[i].length} pings in 2.2 s`);
    assert.deepEqual(await emitAck(s, "message-with-ack", "alive"), ["alive"]);
  }
}

async function rawAnswering() {
  const ws = ctx.track(rawWebSocket(ctx.url));
  await ws.opened;
  ws.on("packet", (p) => {
    if (p === "2") ws.send("3");
  });
  await nextPacket(ws, { filter: (p) => p.startsWith("0{") });
  ws.send("40");
  await nextPacket(ws, { filter: (p) => p.startsWith("40") });
  await sleep(1500);
  assert.equal(ws.readyState, ws.OPEN);
  const pings = ws.messages.filter((p) => p === "2").length;
  assert.ok(pings >= 3, `${pings} pings in 1.5 s`);
  ws.send('42["message","still"]');
  assert.equal(
    await nextPacket(ws, { filter: (p) => p.startsWith("42") && p.includes("message-back") }),
    '42["message-back","still"]',
  );
  ws.close();
}

// The checks are independent (one connection each) and mostly wait: run them side by side.
describe("heartbeat", { concurrency: true }, () => {
  test("clients answering pings stay connected for > 2 s (client over both transports, raw WebSocket)",
    async () => {
      await Promise.all([officialClients(), rawAnswering()]);
    });

  test("a WebSocket client that never answers pings is closed after pingInterval + pingTimeout",
    async () => {
      const ws = ctx.track(rawWebSocket(ctx.url));
      const openedAt = await ws.opened;
      const open = await nextPacket(ws);
      assert.match(open, /^0\{/);
      const handshake = JSON.parse(open.slice(1));
      assert.equal(handshake.pingInterval, 300);
      assert.equal(handshake.pingTimeout, 200);
      assert.deepEqual(handshake.upgrades, [], "no upgrades over WebSocket");
      // Join "/" so that only the heartbeat (not connectTimeout, 1000 ms) can close us.
      ws.send("40");
      const connect = await nextPacket(ws, { filter: (p) => p.startsWith("40") });
      assert.match(connect, /^40\{"sid":"[^"]+"\}$/);
      const firstPing = await nextPacket(ws, { filter: (p) => p === "2", timeout: 2000 });
      assert.equal(firstPing, "2");
      const pingAt = Date.now();
      const { at } = await Promise.race([
        ws.closed,
        sleep(3000).then(() => ({ at: null })),
      ]);
      assert.notEqual(at, null, "the server did not close a client that never answered its ping");
      const sincePing = at - pingAt;
      const sinceOpen = at - openedAt;
      // Closed pingTimeout (200 ms) after the unanswered ping; generous slack for slow builds.
      assert.ok(sincePing >= 100, `closed ${sincePing} ms after the ping, expected ~200`);
      assert.ok(sinceOpen <= 500 + 1000, `closed ${sinceOpen} ms after open, expected ~500`);
      assert.equal(ws.messages.filter((p) => p === "2").length, 1, "one unanswered ping, then close");
    });

  test("a polling client that stops polling is timed out", async () => {
    const client = new RawPolling(ctx.url, "/engine.io/");
    await client.handshake();
    // Neither GET nor POST: the ping cannot even be delivered, so no pong can come.
    await sleep(1000);
    const r = await client.get();
    assert.equal(r.status, 400, `GET after 1 s of silence: ${r.status} ${r.text}`);
    assert.deepEqual(JSON.parse(r.text), { code: 1, message: "Session ID unknown" });
  });

  test("a polling client that receives pings but never answers is timed out", async () => {
    const client = new RawPolling(ctx.url, "/engine.io/");
    await client.handshake();
    const start = Date.now();
    const first = await client.get();
    assert.equal(first.text, "2", "the first GET carries the ping");
    const closed = await client.waitClosed(3000);
    assert.ok(["close packet", "unknown sid"].includes(closed));
    assert.ok(Date.now() - start < 2000, `closed after ${Date.now() - start} ms`);
  });
});
