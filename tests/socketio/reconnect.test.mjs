// 9. Server-side disconnects: a closed transport (the client reconnects by itself), and a
// Socket.IO DISCONNECT (reason "io server disconnect", no reconnection).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, startServer, io, RawPolling, connected, emitAck, once, never, collect, sleep, waitUntil,
} from "./harness.mjs";

const ctx = serverFixture(before, after);

const fast = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 };

for (const transport of ["polling", "websocket"]) {
  test(`disconnect-me(true): the transport closes and the client reconnects (${transport})`,
    async () => {
      const socket = ctx.client(ctx.url, { transports: [transport], ...fast });
      await connected(socket);
      const firstId = socket.id;
      const firstEngine = socket.io.engine.id;
      const reason = once(socket, "disconnect");
      const reconnected = once(socket.io, "reconnect", { timeout: 5000 });
      const auth = once(socket, "auth", { timeout: 5000 });
      socket.emit("disconnect-me", true);
      const [why] = await reason;
      assert.ok(["transport close", "transport error"].includes(why), `disconnect reason: ${why}`);
      await reconnected;
      await connected(socket);
      await auth; // the new connection ran the connection handler again
      assert.notEqual(socket.id, firstId);
      assert.notEqual(socket.io.engine.id, firstEngine);
      assert.deepEqual(await emitAck(socket, "message-with-ack", "again"), ["again"]);
      const back = once(socket, "message-back");
      socket.emit("message", "after reconnect");
      assert.deepEqual(await back, ["after reconnect"]);
      socket.disconnect();
    });

  test(`disconnect-me(false): "io server disconnect", no reconnection (${transport})`, async () => {
    const socket = ctx.client(ctx.url, { transports: [transport], ...fast });
    await connected(socket);
    const reason = once(socket, "disconnect");
    const noReconnect = never(socket.io, "reconnect_attempt", 700);
    const noConnect = never(socket, "connect", 700);
    socket.emit("disconnect-me", false);
    assert.deepEqual((await reason).slice(0, 1), ["io server disconnect"]);
    assert.equal(socket.active, false);
    await Promise.all([noReconnect, noConnect]);
    assert.equal(socket.connected, false);
    // A manual connect works.
    socket.connect();
    await connected(socket);
    assert.deepEqual(await emitAck(socket, "message-with-ack", "manual"), ["manual"]);
    socket.disconnect();
  });
}

test("disconnect-me(false) in one namespace leaves the others on the connection", async () => {
  const manager = ctx.manager(ctx.url, { transports: ["websocket"], ...fast });
  const main = manager.socket("/");
  const custom = manager.socket("/custom");
  await Promise.all([connected(main), connected(custom)]);
  const engineId = manager.engine.id;
  const mainDisconnects = collect(main, "disconnect");
  const reason = once(custom, "disconnect");
  custom.emit("disconnect-me", false);
  assert.deepEqual((await reason).slice(0, 1), ["io server disconnect"]);
  await sleep(200);
  assert.deepEqual(mainDisconnects, []);
  assert.equal(main.connected, true);
  assert.equal(manager.engine.id, engineId);
  assert.deepEqual(await emitAck(main, "message-with-ack", "main ok"), ["main ok"]);
  // And /custom can come back on the same connection.
  custom.connect();
  await connected(custom);
  assert.equal(manager.engine.id, engineId);
  assert.deepEqual(await emitAck(custom, "message-with-ack", "custom ok"), ["custom ok"]);
});

test("disconnect-me(true) drops every namespace of the connection; all reconnect", async () => {
  const manager = ctx.manager(ctx.url, { transports: ["websocket"], ...fast });
  const main = manager.socket("/");
  const custom = manager.socket("/custom");
  await Promise.all([connected(main), connected(custom)]);
  const gone = [once(main, "disconnect"), once(custom, "disconnect")];
  main.emit("disconnect-me", true);
  await Promise.all(gone);
  await waitUntil(() => main.connected && custom.connected, { message: "both namespaces back" });
  assert.deepEqual(await emitAck(main, "message-with-ack", 1), [1]);
  assert.deepEqual(await emitAck(custom, "message-with-ack", 2), [2]);
});

test("the client buffers emits while reconnecting and sends them once back", async () => {
  const socket = ctx.client(ctx.url, { transports: ["websocket"], ...fast });
  await connected(socket);
  const gone = once(socket, "disconnect");
  socket.emit("disconnect-me", true);
  await gone;
  const back = once(socket, "message-back", { timeout: 5000 });
  socket.emit("message", "buffered");
  assert.deepEqual(await back, ["buffered"]);
});

test("SIGTERM with clients connected: exit 0, clients see the transport close", async () => {
  const server = await startServer();
  const clients = ["polling", "websocket"].map((transport) =>
    io(server.url, { forceNew: true, reconnection: false, transports: [transport] }),
  );
  try {
    await Promise.all(clients.map((c) => connected(c)));
    const raw = new RawPolling(server.url, "/engine.io/");
    await raw.handshake();
    const pendingGet = raw.get().then((r) => r, (err) => ({ status: `error: ${err.message}` }));
    await sleep(50);
    const gone = clients.map((c) => once(c, "disconnect", { timeout: 5000 }));
    const status = await server.stop();
    assert.deepEqual(status, { code: 0, signal: null }, `exit status; stderr:\n${server.stderr()}`);
    for (const [reason] of await Promise.all(gone)) {
      assert.ok(["transport close", "transport error"].includes(reason), reason);
    }
    const r = await pendingGet;
    assert.ok(r.status === 200 || String(r.status).startsWith("error"), `pending GET: ${r.status}`);
  } finally {
    for (const c of clients) c.disconnect();
    await server.stop();
  }
});
