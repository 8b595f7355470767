// 7. Rooms and broadcasts: join/leave, to-room (members but the sender), broadcast (everyone but
// the sender, once), broadcast-all (everyone); across polling and WebSocket clients.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverFixture, connected, emitAck, collect, sleep, waitUntil } from "./harness.mjs";

const ctx = serverFixture(before, after);

// Connects clients A (websocket), B (polling), C (websocket), D (polling) with their receipts.
async function four(nsp = "") {
  const clients = ["websocket", "polling", "websocket", "polling"].map((transport) =>
    ctx.client(`${ctx.url}${nsp}`, { transports: [transport] }),
  );
  await Promise.all(clients.map((c) => connected(c)));
  for (const c of clients) {
    c.roomMessages = collect(c, "room-message");
    c.broadcasts = collect(c, "broadcast-message");
    c.announcements = collect(c, "announcement");
  }
  return clients;
}

// Waits until every client has seen `n` announcements: everything the server sent to them
// before the announcement (on the same connection) has arrived by then. Then a little more.
async function settle(sender, clients, tag) {
  assert.deepEqual(await emitAck(sender, "broadcast-all", tag), [true]);
  await waitUntil(
    () => clients.every((c) => c.announcements.some(([t]) => t === tag)),
    { message: `announcement ${tag} on every client` },
  );
  await sleep(50);
}

test("to-room reaches the room's other members only; leave stops delivery", async () => {
  const [a, b, c, d] = await four();
  const all = [a, b, c, d];
  assert.deepEqual(await emitAck(a, "join", "r1"), [true]);
  assert.deepEqual(await emitAck(b, "join", "r1"), [true]);
  assert.deepEqual(await emitAck(c, "join", "r1"), [true]);
  assert.deepEqual(await emitAck(d, "join", "other"), [true]);

  assert.deepEqual(await emitAck(a, "to-room", "r1", "hello", { n: 1 }), [true]);
  await settle(a, all, "s1");
  assert.deepEqual(a.roomMessages, [], "the sender does not get its own room message");
  assert.deepEqual(b.roomMessages, [["hello", { n: 1 }]]);
  assert.deepEqual(c.roomMessages, [["hello", { n: 1 }]]);
  assert.deepEqual(d.roomMessages, [], "a non-member gets nothing");

  // A non-member may send to the room: all members get it.
  assert.deepEqual(await emitAck(d, "to-room", "r1", "from outside"), [true]);
  await settle(d, all, "s2");
  assert.deepEqual(a.roomMessages, [["from outside"]]);
  assert.deepEqual(b.roomMessages.at(-1), ["from outside"]);
  assert.deepEqual(c.roomMessages.at(-1), ["from outside"]);
  assert.equal(d.roomMessages.length, 0);

  // B leaves: it no longer receives.
  assert.deepEqual(await emitAck(b, "leave", "r1"), [true]);
  assert.deepEqual(await emitAck(a, "to-room", "r1", "after leave"), [true]);
  await settle(a, all, "s3");
  assert.deepEqual(b.roomMessages, [["hello", { n: 1 }], ["from outside"]]);
  assert.deepEqual(c.roomMessages.at(-1), ["after leave"]);
  assert.equal(a.roomMessages.length, 1);

  // Joining twice delivers once; leaving a room one is not in is harmless.
  assert.deepEqual(await emitAck(c, "join", "r1"), [true]);
  assert.deepEqual(await emitAck(b, "leave", "never-joined"), [true]);
  assert.deepEqual(await emitAck(a, "to-room", "r1", "once"), [true]);
  await settle(a, all, "s4");
  assert.deepEqual(c.roomMessages.filter(([m]) => m === "once"), [["once"]]);

  // An empty room: nobody gets anything, the sender still gets its ack.
  assert.deepEqual(await emitAck(a, "to-room", "empty-room", "void"), [true]);
  await settle(a, all, "s5");
  for (const x of all) assert.equal(x.roomMessages.some(([m]) => m === "void"), false);
});

test("a disconnected member leaves its rooms", async () => {
  const [a, b, c] = await four();
  for (const x of [a, b, c]) assert.deepEqual(await emitAck(x, "join", "gone"), [true]);
  b.disconnect();
  await sleep(100);
  assert.deepEqual(await emitAck(a, "to-room", "gone", "still here?"), [true]);
  await settle(a, [a, c], "g1");
  assert.deepEqual(c.roomMessages, [["still here?"]]);
  assert.deepEqual(b.roomMessages, []);
});

test("rooms belong to their namespace", async () => {
  const [a, b] = await four();
  const [x, y] = await four("/custom");
  for (const s of [a, b, x, y]) assert.deepEqual(await emitAck(s, "join", "shared-name"), [true]);
  assert.deepEqual(await emitAck(a, "to-room", "shared-name", "main"), [true]);
  await settle(a, [a, b], "n1");
  await settle(x, [x, y], "n2");
  assert.deepEqual(b.roomMessages, [["main"]]);
  assert.deepEqual(x.roomMessages, []);
  assert.deepEqual(y.roomMessages, []);
});

test("broadcast reaches everyone else exactly once; broadcast-all includes the sender", async () => {
  const clients = await four();
  const [a] = clients;
  assert.deepEqual(await emitAck(a, "broadcast", "to all but me", 2), [true]);
  await settle(a, clients, "b1");
  assert.deepEqual(a.broadcasts, [], "the sender is excluded");
  for (const c of clients.slice(1)) assert.deepEqual(c.broadcasts, [["to all but me", 2]]);

  for (const c of clients) c.announcements.length = 0;
  assert.deepEqual(await emitAck(a, "broadcast-all", "everyone", { x: 1 }), [true]);
  await waitUntil(() => clients.every((c) => c.announcements.length >= 1), {
    message: "the announcement everywhere",
  });
  await sleep(200);
  for (const c of clients) assert.deepEqual(c.announcements, [["everyone", { x: 1 }]]);
});

test("broadcasts keep their order per receiver", async () => {
  const clients = await four();
  const [a, b, c, d] = clients;
  for (let i = 0; i < 40; i++) a.emit("broadcast", i);
  await waitUntil(() => [b, c, d].every((x) => x.broadcasts.length >= 40), {
    message: "40 broadcasts on each receiver",
  });
  await sleep(100);
  for (const x of [b, c, d]) assert.deepEqual(x.broadcasts.map(([n]) => n), [...Array(40).keys()]);
  assert.deepEqual(a.broadcasts, []);
});
