// 12b. Raw Socket.IO v5 protocol checks over polling (fetch) and a bare WebSocket
// (PROTOCOL-NOTES.md): CONNECT replies, namespaces, acks, binary framing, invalid packets,
// connectTimeout, and DISCONNECT.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, RawPolling, rawWebSocket, nextPacket, sleep, ms, connected, collect,
} from "./harness.mjs";

// The heartbeat is slowed down so that only what is under test can close a session.
const ctx = serverFixture(before, after, ["--ping-interval-ms", "20000", "--ping-timeout-ms", "20000"]);

const SID = /^[A-Za-z0-9_-]+$/;

// A polling session on /socket.io/.
async function session() {
  const c = new RawPolling(ctx.url, "/socket.io/");
  await c.handshake();
  return c;
}

// Receives until `count` packets have arrived.
async function receiveN(c, count) {
  const packets = [];
  while (packets.length < count) packets.push(...(await c.receive()));
  return packets;
}

// Connects `c` to `nsp` ("" for "/"), returns the CONNECT reply's sid (checks the auth event).
async function connect(c, nsp = "", auth) {
  const prefix = nsp ? `${nsp},` : "";
  await c.send(`40${prefix}${auth ? JSON.stringify(auth) : ""}`);
  const [reply, event] = await receiveN(c, 2);
  const m = reply.match(new RegExp(`^40${prefix.replace("/", "\\/")}(\\{.*\\})$`));
  assert.ok(m, `CONNECT reply: ${reply}`);
  const body = JSON.parse(m[1]);
  assert.deepEqual(Object.keys(body), ["sid"], `CONNECT reply body: ${m[1]}`);
  assert.match(body.sid, SID);
  assert.notEqual(body.sid, c.sid, "the Socket.IO sid is not the Engine.IO sid");
  assert.equal(event, `42${prefix}["auth",${JSON.stringify(auth ?? {})}]`);
  return body.sid;
}

test('CONNECT "/": 40{"sid":...} then the auth event', async () => {
  const c = await session();
  await c.send("40");
  const packets = await receiveN(c, 2);
  assert.match(packets[0], /^40\{"sid":"[A-Za-z0-9_-]+"\}$/);
  assert.notEqual(JSON.parse(packets[0].slice(2)).sid, c.sid);
  assert.equal(packets[1], '42["auth",{}]');
});

test("CONNECT with an auth payload", async () => {
  const c = await session();
  await connect(c, "", { token: "abc", n: [1, { x: null }] });
});

test('CONNECT "/custom": with and without the trailing comma', async () => {
  const c = await session();
  await c.send("40/custom,");
  const packets = await receiveN(c, 2);
  assert.match(packets[0], /^40\/custom,\{"sid":"[A-Za-z0-9_-]+"\}$/);
  assert.equal(packets[1], '42/custom,["auth",{}]');

  const d = await session();
  await d.send("40/custom");
  const [reply, event] = await receiveN(d, 2);
  assert.match(reply, /^40\/custom,\{"sid":"[A-Za-z0-9_-]+"\}$/);
  assert.equal(event, '42/custom,["auth",{}]');

  const e = await session();
  await connect(e, "/custom", { token: 1 });
});

test("two namespaces on one session get distinct sids", async () => {
  const c = await session();
  const a = await connect(c);
  const b = await connect(c, "/custom");
  assert.notEqual(a, b);
  await c.send('42["message","main"]', '42/custom,["message","custom"]');
  const packets = await receiveN(c, 2);
  assert.deepEqual(packets.sort(), ['42/custom,["message-back","custom"]', '42["message-back","main"]'].sort());
});

test("CONNECT errors: unknown namespace, refused by middleware", async () => {
  const c = await session();
  await c.send("40/nope,");
  assert.deepEqual(await c.receive(), ['44/nope,{"message":"Invalid namespace"}']);
  await c.send('40/protected,{"token":"wrong"}');
  const [err] = await c.receive();
  assert.match(err, /^44\/protected,/);
  assert.deepEqual(JSON.parse(err.slice("44/protected,".length)), {
    message: "unauthorized", data: { reason: "bad token" },
  });
  // The session survives both and can still join.
  await connect(c, "/protected", { token: "secret" });
});

test("events with ack ids, in and out of a namespace", async () => {
  const c = await session();
  await connect(c);
  await connect(c, "/custom");
  await c.send('421["message-with-ack","a",{"b":[1]}]');
  assert.deepEqual(await c.receive(), ['431["a",{"b":[1]}]']);
  await c.send('42/custom,77["message-with-ack",1]');
  assert.deepEqual(await c.receive(), ["43/custom,77[1]"]);
  await c.send('4212345678["message-with-ack"]');
  assert.deepEqual(await c.receive(), ["4312345678[]"]);
  // A numeric event name is valid (and unhandled here): the session stays open.
  await c.send('42[1,"x"]', '42["message","after"]');
  assert.deepEqual(await c.receive(), ['42["message-back","after"]']);
});

test("valid edge cases keep the connection: 10 attachments, an ack for an unknown id", async () => {
  const c = await session();
  await connect(c);
  const placeholders = Array.from({ length: 10 }, (_, i) => `{"_placeholder":true,"num":${i}}`);
  const buffers = Array.from({ length: 10 }, (_, i) => Buffer.from([i]).toString("base64"));
  await c.send(`4510-5["message-with-ack",${placeholders.join(",")}]`, ...buffers.map((b) => `b${b}`));
  const got = await receiveN(c, 11);
  assert.match(got[0], /^4610-5\[/);
  const args = JSON.parse(got[0].slice("4610-5".length));
  const attachments = got.slice(1).map((p) => Buffer.from(p.slice(1), "base64"));
  assert.deepEqual(args.map((p) => attachments[p.num]), buffers.map((b) => Buffer.from(b, "base64")));
  await c.send('4399["nobody asked"]', '421["message-with-ack","alive"]');
  assert.deepEqual(await c.receive(), ['431["alive"]']);
});

test("server-to-client ack: 42<id>[...] answered by 43<id>[...]", async () => {
  const c = await session();
  await connect(c);
  await c.send('42["request-ack","q"]');
  const [ask] = await c.receive();
  const m = ask.match(/^42(\d+)\["server-ack","q"\]$/);
  assert.ok(m, `server-ack with an ack id: ${ask}`);
  await c.send(`43${m[1]}["answer",2]`);
  assert.deepEqual(await c.receive(), ['42["ack-result","answer",2]']);
});

test("binary events over polling: 45<n>- and 46<n>- with b64 attachments", async () => {
  const c = await session();
  await connect(c);
  await c.send('451-["message",{"_placeholder":true,"num":0}]', "bAQID");
  assert.deepEqual(await receiveN(c, 2), ['451-["message-back",{"_placeholder":true,"num":0}]', "bAQID"]);
  // Two attachments, nested, in reverse order of appearance, with an ack.
  await c.send('452-9["message-with-ack",{"a":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]',
    "bAA==", "b");
  const got = await receiveN(c, 3);
  assert.match(got[0], /^462-9\[/, `binary ack: ${got[0]}`);
  // Re-encoded by the server: attachments may be renumbered, but must resolve to the same data.
  const args = JSON.parse(got[0].slice("462-9".length));
  const attachments = got.slice(1).map((p) => Buffer.from(p.slice(1), "base64"));
  const resolve = (v) => (v && v._placeholder ? attachments[v.num] : v);
  assert.deepEqual(resolve(args[0].a[0]), Buffer.alloc(0));
  assert.deepEqual(resolve(args[1]), Buffer.from([0]));
});

test("binary events over websocket: raw binary frames", async () => {
  const ws = ctx.track(rawWebSocket(ctx.url, "/socket.io/"));
  await ws.opened;
  await nextPacket(ws);
  ws.send("40");
  assert.match(await nextPacket(ws, { filter: (p) => p.startsWith?.("40") }), /^40\{"sid":"[A-Za-z0-9_-]+"\}$/);
  const from = ws.messages.length;
  ws.send('451-["message",{"_placeholder":true,"num":0}]');
  ws.send(Buffer.from([1, 2, 3]));
  const header = await nextPacket(ws, { from, filter: (p) => typeof p === "string" && p.startsWith("45") });
  assert.equal(header, '451-["message-back",{"_placeholder":true,"num":0}]');
  const idx = ws.messages.indexOf(header);
  assert.deepEqual(await nextPacket(ws, { from: idx + 1 }), Buffer.from([1, 2, 3]));
  ws.close();
});

// Each: [label, packets to send after connecting to "/"]
const invalid = [
  ['EVENT named "connect"', ['42["connect"]']],
  ["EVENT with an object payload", ["42{}"]],
  ["EVENT with an empty array", ["42[]"]],
  ["EVENT with a string payload", ['42"x"']],
  ["EVENT with no payload", ["42"]],
  ["EVENT whose name is an object", ['42[{"a":1}]']],
  ...["connect_error", "disconnect", "disconnecting", "newListener", "removeListener"].map((name) => [
    `EVENT named "${name}"`, [`42["${name}"]`],
  ]),
  ["EVENT with malformed JSON", ['42["message",']],
  ["ACK with an object payload", ["431{}"]],
  ["DISCONNECT with a payload", ['41{"x":1}']],
  ["unknown packet type 7", ['47["x"]']],
  ["unknown packet type x", ["4x"]],
  ["BINARY_EVENT with 11 attachments (the reference allows 10)",
    [`4511-["message",${Array.from({ length: 11 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",")}]`,
      ...Array(11).fill("bAA==")]],
  ["BINARY_EVENT with 0 attachments", ['450-["message"]']],
  ["BINARY_EVENT with a placeholder index out of range",
    ['451-["message",{"_placeholder":true,"num":5}]', "bAQID"]],
  ["BINARY_EVENT with a non-numeric placeholder index",
    ['451-["message",{"_placeholder":true,"num":"0"}]', "bAQID"]],
  ["a binary message outside a BINARY_EVENT", ["bAQID"]],
  ["a text packet while attachments are pending",
    ['452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', "bAQ==",
      '42["message","x"]']],
  ["CONNECT with a string payload", ['40/custom,"nope"']],
  ["CONNECT with an array payload", ["40/custom,[1]"]],
];

for (const [label, packets] of invalid) {
  test(`invalid packet closes the connection: ${label} (${packets.join(" ")})`, async () => {
    const c = await session();
    await connect(c);
    await c.send(...packets);
    const how = await c.waitClosed(2000);
    assert.ok(["close packet", "unknown sid"].includes(how));
  });
}

test("a bad placeholder from one client cannot break the other clients (broadcast)", async () => {
  const victim = ctx.client(ctx.url, { transports: ["websocket"] });
  await connected(victim);
  const disconnects = collect(victim, "disconnect");
  const c = await session();
  await connect(c);
  // The reference server refuses this packet (and closes the sender); relayed as is, it makes
  // every receiving client fail to decode ("illegal attachments") and drop its connection.
  await c.post('451-["broadcast",{"_placeholder":true,"num":5}]\x1ebAQID');
  await sleep(300);
  assert.deepEqual(disconnects, [], "the other client was disconnected");
  assert.equal(victim.connected, true);
});

test("invalid packet as the very first packet closes the connection: 40\"x\"", async () => {
  const c = await session();
  await c.send('40"x"');
  await c.waitClosed(3000);
});

test("invalid packet over websocket closes the socket", async () => {
  for (const bad of ['42["connect"]', "42{}"]) {
    const ws = ctx.track(rawWebSocket(ctx.url, "/socket.io/"));
    await ws.opened;
    ws.send("40");
    await nextPacket(ws, { filter: (p) => p.startsWith?.("40") });
    ws.send(bad);
    const { at } = await Promise.race([ws.closed, sleep(ms(3000)).then(() => ({ at: null }))]);
    assert.notEqual(at, null, `still open after ${bad}`);
  }
});

describe("connectTimeout", { concurrency: true }, () => {
  test("no CONNECT within connectTimeout (1000 ms): the session is closed", async () => {
    const c = await session();
    const start = Date.now();
    const how = await c.waitClosed(4000);
    const elapsed = Date.now() - start;
    assert.ok(["close packet", "unknown sid"].includes(how));
    assert.ok(elapsed >= 700, `closed after ${elapsed} ms, before connectTimeout`);
    assert.ok(elapsed <= ms(3000), `closed after ${elapsed} ms`);
  });

  test("no CONNECT within connectTimeout over websocket: closed", async () => {
    const ws = ctx.track(rawWebSocket(ctx.url, "/socket.io/"));
    const openedAt = await ws.opened;
    const { at } = await Promise.race([ws.closed, sleep(ms(4000)).then(() => ({ at: null }))]);
    assert.notEqual(at, null, "still open after 4 s without CONNECT");
    assert.ok(at - openedAt >= 700, `closed after ${at - openedAt} ms, before connectTimeout`);
  });

  test("a session that connected in time outlives connectTimeout", async () => {
    const c = await session();
    await connect(c);
    await sleep(1500);
    await c.send('42["message","late"]');
    assert.deepEqual(await c.receive(), ['42["message-back","late"]']);
  });
});

test("DISCONNECT 41 leaves the Engine.IO session open; a later 40 connects again", async () => {
  const c = await session();
  const first = await connect(c);
  const pending = c.get({ signal: AbortSignal.timeout(ms(5000)) });
  await c.send("41");
  // Nothing comes back for a while: no DISCONNECT echo, no close.
  const early = await Promise.race([pending, sleep(500).then(() => null)]);
  if (early) {
    assert.equal(early.status, 200, `GET after 41: ${early.status} ${early.text}`);
    assert.notEqual(early.text, "1", "the session was closed after 41");
    assert.equal(early.text.split("\x1e").some((p) => p.startsWith("41")), false,
      `the server answered 41 with ${early.text}`);
  }
  await c.send("40");
  let text = early ? "" : (await pending).text;
  const packets = text ? text.split("\x1e") : [];
  while (!packets.some((p) => p.startsWith("40"))) packets.push(...(await c.receive()));
  assert.equal(packets.some((p) => p.startsWith("41")), false, `the server sent ${packets}`);
  const reply = packets.find((p) => p.startsWith("40"));
  assert.match(reply, /^40\{"sid":"[A-Za-z0-9_-]+"\}$/);
  assert.notEqual(JSON.parse(reply.slice(2)).sid, first, "a new Socket.IO sid");
  // And the namespace works again.
  if (!packets.includes('42["auth",{}]')) assert.deepEqual(await c.receive(), ['42["auth",{}]']);
  await c.send('421["message-with-ack","back"]');
  assert.deepEqual(await c.receive(), ['431["back"]']);
});

test("DISCONNECT of one namespace leaves the other connected", async () => {
  const c = await session();
  await connect(c);
  await connect(c, "/custom");
  await c.send("41/custom,", '42["message","main alive"]');
  assert.deepEqual(await c.receive(), ['42["message-back","main alive"]']);
});
