// 10. maxPayload (server started with --max-payload 1000): an oversize POST gets 413, an oversize
// WebSocket message closes the socket; payloads within the limit pass.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, connected, emitAck, once, sleep, RawPolling, rawWebSocket, nextPacket,
} from "./harness.mjs";

const ctx = serverFixture(before, after, ["--max-payload", "1000"]);
// A server that cuts clients with more than 100 kB queued for them.
const small = serverFixture(before, after, ["--max-buffered-bytes", "100000",
  "--ping-interval-ms", "20000", "--ping-timeout-ms", "20000"]);

test("the handshake announces maxPayload 1000", async () => {
  const client = new RawPolling(ctx.url, "/engine.io/");
  const open = await client.handshake();
  assert.equal(open.maxPayload, 1000);
});

for (const path of ["/engine.io/", "/socket.io/"]) {
  test(`polling: a POST over maxPayload gets 413 (${path})`, async () => {
    const client = new RawPolling(ctx.url, path);
    await client.handshake();
    const body = "4" + "x".repeat(1500);
    const r = await client.post(body);
    assert.equal(r.status, 413, `POST of ${body.length} bytes: ${r.status} ${r.text}`);
  });
}

test("polling: an oversize chunked POST (no Content-Length) is refused", async () => {
  const client = new RawPolling(ctx.url, "/engine.io/");
  await client.handshake();
  const chunks = ["4", "c".repeat(800), "c".repeat(800)];
  const body = new ReadableStream({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
  });
  let status;
  try {
    const res = await fetch(client.url(`EIO=4&transport=polling&sid=${client.sid}`), {
      method: "POST", body, duplex: "half",
    });
    status = res.status;
    await res.text();
  } catch (err) {
    status = `connection error (${err.cause?.code ?? err.message})`;
  }
  assert.ok(status === 413 || String(status).startsWith("connection error"),
    `chunked POST of 1601 bytes: ${status}`);
  assert.notEqual(status, 200);
});

test("polling: a POST within maxPayload is accepted and echoed", async () => {
  const client = new RawPolling(ctx.url, "/engine.io/");
  await client.handshake();
  const message = "4" + "y".repeat(900);
  await client.send(message);
  assert.deepEqual(await client.receive(), [message]);
});

test("polling: maxPayload counts bytes, not characters", async () => {
  const client = new RawPolling(ctx.url, "/engine.io/");
  await client.handshake();
  // 600 characters, 1800 bytes in UTF-8.
  const r = await client.post("4" + "€".repeat(600));
  assert.equal(r.status, 413, `POST of 600 three-byte characters: ${r.status} ${r.text}`);
});

test("websocket: a message over maxPayload closes the socket", async () => {
  const ws = ctx.track(rawWebSocket(ctx.url, "/engine.io/"));
  await ws.opened;
  const open = JSON.parse((await nextPacket(ws)).slice(1));
  assert.equal(open.maxPayload, 1000);
  ws.send("4small");
  assert.equal(await nextPacket(ws, { filter: (p) => p === "4small" }), "4small");
  ws.send("4" + "z".repeat(2000));
  const { at } = await Promise.race([ws.closed, sleep(3000).then(() => ({ at: null }))]);
  assert.notEqual(at, null, "the socket is still open after a 2001-byte message");
  assert.equal(ws.messages.some((p) => typeof p === "string" && p.startsWith("4zzz")), false,
    "the oversize message must not be echoed");
});

test("websocket: an oversize binary message closes the socket", async () => {
  const ws = ctx.track(rawWebSocket(ctx.url, "/engine.io/"));
  await ws.opened;
  await nextPacket(ws);
  ws.send(Buffer.alloc(1500, 7));
  const { at } = await Promise.race([ws.closed, sleep(3000).then(() => ({ at: null }))]);
  assert.notEqual(at, null, "the socket is still open after a 1500-byte binary message");
});

test("websocket: a message within maxPayload passes", async () => {
  const ws = ctx.track(rawWebSocket(ctx.url, "/engine.io/"));
  await ws.opened;
  await nextPacket(ws);
  const message = "4" + "w".repeat(900);
  ws.send(message);
  assert.equal(await nextPacket(ws, { filter: (p) => p.startsWith("4w") }), message);
  ws.close();
});

test("socket.io client over websocket: an oversize emit disconnects it", async () => {
  const socket = ctx.client(ctx.url, { transports: ["websocket"] });
  await connected(socket);
  assert.deepEqual(await emitAck(socket, "message-with-ack", "small"), ["small"]);
  const gone = once(socket, "disconnect", { timeout: 3000 });
  socket.emit("message", "q".repeat(5000));
  const [reason] = await gone;
  assert.equal(reason, "transport close");
});

test("socket.io client over polling: the client splits its batches to respect maxPayload",
  async () => {
    const socket = ctx.client(ctx.url, { transports: ["polling"] });
    await connected(socket);
    const got = [];
    socket.on("message-back", (m) => got.push(m));
    // 10 messages of ~300 bytes emitted together: more than maxPayload in total.
    const sent = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(300, "."));
    for (const m of sent) socket.emit("message", m);
    const deadline = Date.now() + 5000;
    while (got.length < sent.length && Date.now() < deadline) await sleep(10);
    assert.deepEqual(got, sent);
    assert.equal(socket.connected, true);
  });

test("max-buffered-bytes: a polling client that never reads is cut", async () => {
  const c = new RawPolling(small.url, "/engine.io/");
  await c.handshake();
  // 200 echoes of 1000 bytes queued for a client that never GETs: 200 kB > 100 kB.
  const message = "4" + "m".repeat(999);
  const r = await c.post(Array(200).fill(message).join("\x1e"));
  assert.equal(r.status, 200);
  await c.waitClosed(3000);
  const later = await c.get();
  assert.equal(later.status, 400);
});

test("max-buffered-bytes: below the limit nothing is cut", async () => {
  const c = new RawPolling(small.url, "/engine.io/");
  await c.handshake();
  const message = "4" + "k".repeat(999);
  await c.send(...Array(50).fill(message));
  const got = [];
  while (got.length < 50) got.push(...(await c.receive()));
  assert.equal(got.length, 50);
  assert.ok(got.every((p) => p === message));
});
