// 2-4. Auth payloads, the "/protected" middleware, unknown namespaces, and two namespaces
// multiplexed over one Engine.IO connection.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, io, connected, connectError, emitAck, once, never, collect, sleep, waitUntil,
} from "./harness.mjs";

const ctx = serverFixture(before, after);

for (const transport of ["polling", "websocket"]) {
  test(`the auth object arrives in the "auth" event (${transport})`, async () => {
    const auth = { token: "abc", user: { id: 7, tags: ["x", "ü"] }, flag: true, nothing: null };
    const socket = ctx.client(ctx.url, { transports: [transport], auth });
    const got = once(socket, "auth");
    await connected(socket);
    assert.deepEqual(await got, [auth]);
    socket.disconnect();
  });
}

test("no auth object: the auth event carries an empty object", async () => {
  const socket = ctx.client(ctx.url, { transports: ["websocket"] });
  const got = once(socket, "auth");
  await connected(socket);
  assert.deepEqual(await got, [{}]);
  socket.disconnect();
});

test("/protected accepts {token: \"secret\"}", async () => {
  const socket = ctx.client(`${ctx.url}/protected`, { auth: { token: "secret" } });
  const got = once(socket, "auth");
  await connected(socket);
  assert.deepEqual(await got, [{ token: "secret" }]);
  assert.deepEqual(await emitAck(socket, "message-with-ack", "in"), ["in"]);
  socket.disconnect();
});

for (const [label, auth] of [
  ["a wrong token", { token: "guess" }],
  ["no auth", undefined],
  ["a non-string token", { token: 1 }],
]) {
  test(`/protected refuses ${label} with "unauthorized"`, async () => {
    const socket = ctx.client(`${ctx.url}/protected`, auth ? { auth } : {});
    const err = await connectError(socket);
    assert.equal(err.message, "unauthorized");
    assert.deepEqual(err.data, { reason: "bad token" });
    assert.equal(socket.connected, false);
    socket.disconnect();
  });
}

test("a refused namespace does not affect the other namespaces of the connection", async () => {
  const manager = ctx.manager(ctx.url, { transports: ["websocket"] });
  const main = manager.socket("/");
  await connected(main);
  const denied = manager.socket("/protected", { auth: { token: "nope" } });
  const err = await connectError(denied);
  assert.equal(err.message, "unauthorized");
  assert.equal(main.connected, true);
  assert.deepEqual(await emitAck(main, "message-with-ack", 1), [1]);
  // The same connection can then join /protected with the right token.
  denied.auth = { token: "secret" };
  denied.connect();
  await connected(denied);
  assert.deepEqual(await emitAck(denied, "message-with-ack", 2), [2]);
  assert.equal(manager.engine.transport.name, "websocket");
});

for (const transport of ["polling", "websocket"]) {
  test(`an unknown namespace gets connect_error "Invalid namespace" (${transport})`, async () => {
    const socket = ctx.client(`${ctx.url}/does-not-exist`, { transports: [transport] });
    const err = await connectError(socket);
    assert.equal(err.message, "Invalid namespace");
    assert.equal(socket.connected, false);
    socket.disconnect();
  });
}

test("two namespaces share one Manager and one Engine.IO connection", async () => {
  // io(url) and io(url + "/custom") without forceNew share the cached Manager.
  const main = io(ctx.url, { reconnection: false });
  const custom = io(`${ctx.url}/custom`, { reconnection: false });
  ctx.track(() => { main.disconnect(); custom.disconnect(); });
  assert.equal(main.io, custom.io, "one Manager");
  const mainAuth = once(main, "auth");
  const customAuth = once(custom, "auth");
  await Promise.all([connected(main), connected(custom)]);
  assert.deepEqual(await mainAuth, [{}]);
  assert.deepEqual(await customAuth, [{}]);
  const engineId = main.io.engine.id;
  assert.notEqual(main.id, custom.id);
  assert.notEqual(main.id, engineId, "the Socket.IO id is not the Engine.IO sid");
  assert.notEqual(custom.id, engineId, "the Socket.IO id is not the Engine.IO sid");

  // Events stay in their namespace.
  const mainBacks = collect(main, "message-back");
  const customBacks = collect(custom, "message-back");
  main.emit("message", "for main");
  custom.emit("message", "for custom");
  await waitUntil(() => mainBacks.length && customBacks.length, { message: "both echoes" });
  assert.deepEqual(await emitAck(main, "message-with-ack", "m"), ["m"]);
  assert.deepEqual(await emitAck(custom, "message-with-ack", "c"), ["c"]);
  await sleep(100);
  assert.deepEqual(mainBacks, [["for main"]]);
  assert.deepEqual(customBacks, [["for custom"]]);

  // A namespace-wide broadcast in /custom reaches /custom only.
  const mainAnnouncements = collect(main, "announcement");
  const customAnnouncement = once(custom, "announcement");
  assert.deepEqual(await emitAck(custom, "broadcast-all", "only custom"), [true]);
  assert.deepEqual(await customAnnouncement, ["only custom"]);
  await sleep(150);
  assert.deepEqual(mainAnnouncements, []);

  // Leaving /custom keeps / connected on the same engine.
  custom.disconnect();
  await sleep(100);
  assert.equal(main.connected, true);
  assert.equal(main.io.engine.id, engineId);
  assert.deepEqual(await emitAck(main, "message-with-ack", "still"), ["still"]);
  main.disconnect();
});

test("namespaces are isolated between connections too", async () => {
  const a = ctx.client(ctx.url, { transports: ["websocket"] });
  const b = ctx.client(`${ctx.url}/custom`, { transports: ["websocket"] });
  await Promise.all([connected(a), connected(b)]);
  const quiet = never(b, "announcement", 200);
  const got = once(a, "announcement");
  assert.deepEqual(await emitAck(a, "broadcast-all", "main only"), [true]);
  assert.deepEqual(await got, ["main only"]);
  await quiet;
});
