// 5. Acknowledgements both ways: client -> server (emitWithAck), server -> client (request-ack ->
// server-ack -> ack-result), and the server's ack timeout when the client never answers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverFixture, connected, emitAck, once, never, sleep } from "./harness.mjs";

const ctx = serverFixture(before, after);

for (const transport of ["polling", "websocket"]) {
  test(`client -> server acks (${transport})`, async () => {
    const socket = ctx.client(ctx.url, { transports: [transport] });
    await connected(socket);
    assert.deepEqual(await emitAck(socket, "message-with-ack", "one"), ["one"]);
    assert.deepEqual(await socket.timeout(5000).emitWithAck("message-with-ack", { a: [1, 2] }), {
      a: [1, 2],
    }, `disconnects: ${socket.disconnects.join(", ")}`);
    // Every argument comes back, and so does an ack with no arguments.
    const args = ["x", 2, null, false, { deep: { er: ["y"] } }, [[]], 1.5, -3, "\u2028\u0000\"\\"];
    assert.deepEqual(await emitAck(socket, "message-with-ack", ...args), args);
    assert.deepEqual(await emitAck(socket, "message-with-ack"), []);
    // Many acks in flight at once each get their own answer.
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => socket.emitWithAck("message-with-ack", i)),
    ).catch((err) => {
      throw new Error(`${err.message}; disconnects: ${socket.disconnects.join(", ")}`);
    });
    assert.deepEqual(replies, [...Array(100).keys()]);
    socket.disconnect();
  });

  test(`server -> client acks (${transport})`, async () => {
    const socket = ctx.client(ctx.url, { transports: [transport] });
    const asked = [];
    socket.on("server-ack", (...args) => {
      const ack = args.pop();
      assert.equal(typeof ack, "function", "server-ack comes with an ack callback");
      asked.push(args);
      ack(...args);
    });
    await connected(socket);
    const args = ["hello", 42, { nested: [true, null] }];
    const result = once(socket, "ack-result");
    socket.emit("request-ack", ...args);
    assert.deepEqual(await result, args);
    assert.deepEqual(asked, [args]);

    // Several at once: each answer is matched to its own request.
    const results = [];
    socket.on("ack-result", (n) => results.push(n));
    for (let i = 0; i < 20; i++) socket.emit("request-ack", i);
    const deadline = Date.now() + 5000;
    while (results.length < 20 && Date.now() < deadline) await sleep(10);
    assert.deepEqual([...results].sort((a, b) => a - b), [...Array(20).keys()]);
    socket.disconnect();
  });
}

test("the client acks with different arguments than it was sent", async () => {
  const socket = ctx.client(ctx.url, { transports: ["websocket"] });
  socket.on("server-ack", (question, ack) => ack({ answer: question * 2 }, "extra"));
  await connected(socket);
  const result = once(socket, "ack-result");
  socket.emit("request-ack", 21);
  assert.deepEqual(await result, [{ answer: 42 }, "extra"]);
  socket.disconnect();
});

// Both run at once (each takes the server's 2 s ack timeout).
test("server ack timeout (2 s): a client that never acks, and one that acks too late", async () => {
  const silent = ctx.client(ctx.url, { transports: ["websocket"] });
  silent.on("server-ack", () => {}); // never calls the ack
  const late = ctx.client(ctx.url, { transports: ["polling"] });
  late.on("server-ack", (...args) => {
    const ack = args.pop();
    setTimeout(() => ack("late"), 2300);
  });
  await Promise.all([connected(silent), connected(late)]);

  const check = async (socket) => {
    const noResult = never(socket, "ack-result", 3000);
    const start = Date.now();
    const timeout = once(socket, "ack-timeout", { timeout: 6000 });
    socket.emit("request-ack", "ignored");
    await timeout;
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 1800, `ack-timeout after ${elapsed} ms, expected about 2000`);
    await noResult; // the late ack (after the timeout) is ignored
    assert.equal(socket.connected, true);
    assert.deepEqual(await emitAck(socket, "message-with-ack", "alive"), ["alive"]);
  };
  await Promise.all([check(silent), check(late)]);
  silent.disconnect();
  late.disconnect();
});
