// 6. Binary attachments both ways, nested anywhere, several per packet, empty, and large; over
// polling (base64 "b" packets) and over WebSocket (binary frames).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { serverFixture, connected, emitAck, once, normalize } from "./harness.mjs";

const ctx = serverFixture(before, after);

const bytes = (...b) => Buffer.from(b);

// Payloads: [label, args]
const cases = [
  ["one top-level buffer", [bytes(1, 2, 3)]],
  ["an empty buffer", [Buffer.alloc(0)]],
  ["buffers nested in objects and arrays", [
    { file: bytes(0, 255, 128), meta: { name: "a.bin", parts: [bytes(9), { deeper: bytes(7, 7) }] } },
    "text between",
    [bytes(4), [bytes(5, 6)], 3],
  ]],
  ["several buffers, mixed with JSON, including an empty one", [
    bytes(0), Buffer.alloc(0), { x: bytes(1, 1), y: null }, "s", 5, [Buffer.from("\x1e4b", "latin1")],
  ]],
  ["a Uint8Array and an ArrayBuffer", [new Uint8Array([10, 20, 30]), new Uint8Array([40, 50]).buffer]],
  ["a 200 KiB random buffer", [randomBytes(200 * 1024)]],
  ["plain JSON that looks like a placeholder (no attachments)", [{ _placeholder: true, num: 0 }]],
  ["bytes that look like Engine.IO packets", [Buffer.from("4hello\x1eb"), Buffer.from("2probe")]],
];

for (const transport of ["polling", "websocket"]) {
  test(`binary echo and ack (${transport})`, async (t) => {
    const socket = ctx.client(ctx.url, { transports: [transport] });
    await connected(socket);
    assert.equal(socket.io.engine.transport.name, transport);
    for (const [label, args] of cases) {
      await t.test(label, async () => {
        const expected = normalize(args);
        const back = once(socket, "message-back");
        socket.emit("message", ...args);
        assert.deepEqual(normalize(await back), expected, "message -> message-back");
        assert.deepEqual(
          normalize(await emitAck(socket, "message-with-ack", ...args)), expected,
          "message-with-ack",
        );
      });
    }
    await t.test("the server sends binary to the client and gets a binary ack back", async () => {
      const args = [{ blob: bytes(1, 2) }, bytes(3), "t"];
      let asked;
      socket.on("server-ack", (...a) => {
        const ack = a.pop();
        asked = normalize(a);
        ack({ reply: Buffer.from([0xde, 0xad]) }, Buffer.alloc(0), [Buffer.from([0xbe, 0xef])]);
      });
      const result = once(socket, "ack-result");
      socket.emit("request-ack", ...args);
      assert.deepEqual(normalize(await result), normalize([
        { reply: bytes(0xde, 0xad) }, Buffer.alloc(0), [bytes(0xbe, 0xef)],
      ]));
      assert.deepEqual(asked, normalize(args));
      socket.off("server-ack");
    });
    await t.test("binary and text events interleave in order", async () => {
      const got = [];
      socket.on("message-back", (v) => got.push(normalize(v)));
      const sent = [];
      for (let i = 0; i < 30; i++) {
        const v = i % 3 === 0 ? Buffer.from([i]) : i % 3 === 1 ? `t${i}` : { b: Buffer.from([i, i]) };
        sent.push(normalize(v));
        socket.emit("message", v);
      }
      const deadline = Date.now() + 5000;
      while (got.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, sent);
      socket.off("message-back");
    });
    socket.disconnect();
  });
}

test("binary broadcast reaches another client intact", async () => {
  const a = ctx.client(ctx.url, { transports: ["websocket"] });
  const b = ctx.client(ctx.url, { transports: ["polling"] });
  await Promise.all([connected(a), connected(b)]);
  const payload = { img: randomBytes(1000), list: [Buffer.alloc(0), bytes(1)] };
  const got = once(b, "broadcast-message");
  assert.deepEqual(await emitAck(a, "broadcast", payload, "x"), [true]);
  assert.deepEqual(normalize(await got), normalize([payload, "x"]));
});
