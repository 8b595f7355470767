// 1. Transports: polling only, WebSocket only, polling upgraded to WebSocket; each does a round trip.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverFixture, connected, emitAck, once, sleep, waitUntil } from "./harness.mjs";

const ctx = serverFixture(before, after);

async function roundTrip(socket) {
  const args = [1, "two", { three: [3, null, true] }];
  assert.deepEqual(await emitAck(socket, "message-with-ack", ...args), args);
  const back = once(socket, "message-back");
  socket.emit("message", "héllo ✓", { n: 42 });
  assert.deepEqual(await back, ["héllo ✓", { n: 42 }]);
}

test("polling only", async () => {
  const socket = ctx.client(ctx.url, { transports: ["polling"] });
  await connected(socket);
  assert.equal(socket.io.engine.transport.name, "polling");
  await roundTrip(socket);
  await sleep(400); // past a heartbeat: still polling, still connected
  assert.equal(socket.io.engine.transport.name, "polling");
  assert.equal(socket.connected, true);
  await roundTrip(socket);
  socket.disconnect();
});

test("websocket only", async () => {
  const socket = ctx.client(ctx.url, { transports: ["websocket"] });
  await connected(socket);
  assert.equal(socket.io.engine.transport.name, "websocket");
  await roundTrip(socket);
  socket.disconnect();
});

test("polling, then upgrade to websocket", async () => {
  const socket = ctx.client(ctx.url, { transports: ["polling", "websocket"], upgrade: true });
  const engine = socket.io.engine;
  let upgradeError = null;
  engine.on("upgradeError", (err) => (upgradeError = err));
  const upgraded = once(engine, "upgrade", { timeout: 5000 });
  await connected(socket);
  assert.equal(engine.transport.name === "polling" || engine.transport.name === "websocket", true);
  // The upgrade may already be done by now.
  if (engine.transport.name !== "websocket") await upgraded;
  await waitUntil(() => engine.transport.name === "websocket", { message: "the upgrade" });
  assert.equal(upgradeError, null);
  assert.equal(socket.io.engine.transport.name, "websocket");
  await roundTrip(socket);
  socket.disconnect();
});

test("emits during the upgrade (text and binary) all arrive, in order", async () => {
  const socket = ctx.client(ctx.url, { transports: ["polling", "websocket"] });
  const got = [];
  socket.on("message-back", (n, bin) => got.push([n, bin && Buffer.from(bin)]));
  await connected(socket);
  // Fire events throughout the upgrade; every third carries a buffer.
  const sent = [];
  for (let i = 0; i < 60; i++) {
    const item = i % 3 === 0 ? [i, Buffer.from([i, 255 - i])] : [i, undefined];
    sent.push(item);
    if (item[1]) socket.emit("message", i, item[1]);
    else socket.emit("message", i);
    if (i % 5 === 0) await sleep(2);
  }
  await waitUntil(() => got.length >= 60, { message: "60 message-back" });
  await sleep(100);
  assert.deepEqual(got, sent);
  await waitUntil(() => socket.io.engine.transport.name === "websocket", { message: "upgrade" });
  socket.disconnect();
});
