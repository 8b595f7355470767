// Data fidelity: JSON values sent by the official client come back exactly as the reference
// (Node) server would return them (JSON.parse / JSON.stringify).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverFixture, connected, emitAck, collect } from "./harness.mjs";

const ctx = serverFixture(before, after);

let nested = "bottom";
for (let i = 0; i < 20; i++) nested = i % 2 ? [nested] : { k: nested };

const cases = [
  ["integers", [0, -1, 42, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 2 ** 63, 2 ** 64]],
  ["doubles needing all 17 significant digits", [123456789.12345679, 0.1 + 0.2, 1 / 3, Math.PI,
    -2.718281828459045, 4.35, 1234.5678901234567]],
  ["extreme doubles", [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21, 1.5e-7]],
  ["strings with escapes", ["\u0000\u001f\"\\/\b\f\n\r\t", "\u2028\u2029", "\u007f\u0080\u00ff"]],
  ["non-ASCII strings", ["héllo", "日本語", "😀👍🏽", "\uffff", "\ud83d\ude00"]],
  ["objects", [{ "": "", "a.b": [null], "ключ": { "😀": true }, dup: 1, Dup: 2 }]],
  ["20 levels of nesting", [nested]],
  ["empty containers", [[], {}, "", [[]], { a: {} }]],
  ["100 arguments", Array.from({ length: 100 }, (_, i) => (i % 2 ? i : `s${i}`))],
  ["a 500 kB string", ["x".repeat(500_000)]],
];

for (const transport of ["websocket", "polling"]) {
  test(`JSON values round-trip exactly (${transport})`, async (t) => {
    const socket = ctx.client(ctx.url, { transports: [transport] });
    await connected(socket);
    const disconnects = collect(socket, "disconnect");
    for (const [label, args] of cases) {
      await t.test(label, async () => {
        const reply = await emitAck(socket, "message-with-ack", ...args);
        assert.equal(JSON.stringify(reply), JSON.stringify(args));
        assert.deepEqual(disconnects, []);
      });
    }
    socket.disconnect();
  });
}

// JSON.stringify escapes a lone surrogate ("\ud800"), so the packet is valid UTF-8 and valid
// JSON; the reference server echoes it back. A C++ server may substitute U+FFFD, but it must
// not drop the connection (a client that truncates text mid-emoji would otherwise be cut off).
test("a lone UTF-16 surrogate in a string does not break the connection", async (t) => {
  for (const value of ["\ud800", "a\udc00b", "😀".slice(0, 1)]) {
    await t.test(JSON.stringify(value), async () => {
      const socket = ctx.client(ctx.url, { transports: ["websocket"] });
      await connected(socket);
      const disconnects = collect(socket, "disconnect");
      let reply;
      try {
        reply = await emitAck(socket, "message-with-ack", value, "next");
      } catch (err) {
        assert.fail(`${err.message}; disconnects: ${JSON.stringify(disconnects)}`);
      }
      assert.deepEqual(disconnects, []);
      assert.equal(reply[1], "next");
      assert.ok(reply[0] === value || reply[0] === value.replace(/[\ud800-\udfff]/g, "\ufffd"),
        `echoed as ${JSON.stringify(reply[0])}`);
      socket.disconnect();
    });
  }
});
