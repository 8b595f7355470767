// Smoke test of the Node reference server: starts it on port 0 with a temporary data dir, drives
// the REST set-up and the native protocol with socket.io-client, and stops it.
// Usage: node smoke.mjs   (exit 0 and "smoke: N passed, 0 failed" on success)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), "node-reference-smoke-"));
const TIMEOUT_MS = 10_000;

let passed = 0;
async function check(name, fn) {
  await fn();
  ++passed;
  console.log(`ok ${passed} - ${name}`);
}

function startServer() {
  const child = spawn(process.execPath,
                      [join(here, "server.mjs"), "--port", "0", "--data-dir", dataDir],
                      { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), TIMEOUT_MS);
    child.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /node-reference listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
      if (m && Number(m[2]) > 0) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.removeAllListeners("exit");
    child.on("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

async function api(url, method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, body: json };
}

function connect(url, token) {
  const socket = io(url, { auth: { token }, reconnection: false, timeout: TIMEOUT_MS });
  socket.received = [];
  socket.receipts = [];
  socket.on("message:new", (m) => socket.received.push(m));
  socket.on("receipt", (r) => socket.receipts.push(r));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

async function until(what, predicate) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const { child, url } = await startServer();
const sockets = [];
let failed = false;
try {
  const users = [];
  await check("register 3 users (201, chatd's shape)", async () => {
    for (const name of ["Ada", "Bob", "Cy"]) {
      const r = await api(url, "POST", "/api/user",
                          { name, email: `${name.toLowerCase()}@example.com`, password: "password123" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(Object.keys(r.body).sort(), ["_id", "email", "isAdmin", "name", "pic", "token"]);
      assert.match(r.body._id, /^[0-9a-f]{24}$/);
      users.push(r.body);
    }
    const login = await api(url, "POST", "/api/user/login",
                            { email: "ADA@example.com", password: "password123" });
    assert.equal(login.status, 200);
    assert.equal(login.body._id, users[0]._id);
    const bad = await api(url, "POST", "/api/user/login",
                          { email: "ada@example.com", password: "wrong-password" });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.message, "Invalid Email or Password");
  });
  const [a, b, c] = users;

  let chat, direct;
  await check("create a group (users as a JSON string)", async () => {
    const r = await api(url, "POST", "/api/chat/group",
                        { name: "smoke", users: JSON.stringify([b._id, c._id]) }, a.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    chat = r.body;
    assert.equal(chat.isGroupChat, true);
    assert.equal(chat.groupAdmin._id, a._id);
    assert.deepEqual(chat.users.map((u) => u._id), [a._id, b._id, c._id]);
    const small = await api(url, "POST", "/api/chat/group", { name: "x", users: [b._id] }, a.token);
    assert.equal(small.status, 400);
    assert.equal(small.body, "More than 2 users are required to form a group chat");
    const r1 = await api(url, "POST", "/api/chat", { userId: b._id }, a.token);
    assert.equal(r1.status, 200);
    direct = r1.body;
    assert.equal(direct.isGroupChat, false);
    assert.equal(direct.chatName, "sender");
    const again = await api(url, "POST", "/api/chat", { userId: a._id }, b.token);
    assert.equal(again.body._id, direct._id);
  });

  await check("a bad or missing token is refused with connect_error", async () => {
    await assert.rejects(connect(url, undefined), /Not authorized, token failed/);
    await assert.rejects(connect(url, "not-a-token"), (err) => {
      assert.equal(err.message, "Not authorized, token failed");
      assert.equal(err.data?.code, "unauthorized");
      return true;
    });
  });

  const [sa, sb, sc] = await Promise.all(users.map((u) => connect(url, u.token)));
  sockets.push(sa, sb, sc);

  const acks = [];
  await check("20 concurrent sends from two sockets: acks ok, seqs 1..20", async () => {
    const sends = [];
    for (let i = 0; i < 10; ++i) {
      for (const [socket, who] of [[sa, "a"], [sb, "b"]]) {
        const clientMsgId = randomUUID();
        sends.push(socket.timeout(TIMEOUT_MS)
          .emitWithAck("message:send", { chatId: chat._id, clientMsgId, content: `${who}${i}` })
          .then((ack) => ({ ack, who, clientMsgId, socket })));
      }
    }
    acks.push(...await Promise.all(sends));
    for (const { ack, clientMsgId, who } of acks) {
      assert.equal(ack.ok, true, JSON.stringify(ack));
      const m = ack.message;
      assert.deepEqual(Object.keys(m),
                       ["_id", "chatId", "seq", "sender", "content", "clientMsgId", "createdAt"]);
      assert.equal(m.chatId, chat._id);
      assert.equal(m.clientMsgId, clientMsgId);
      assert.equal(m.sender._id, who === "a" ? a._id : b._id);
      assert.deepEqual(Object.keys(m.sender), ["_id", "name", "pic"]);
    }
    assert.deepEqual(acks.map((x) => x.ack.message.seq).sort((x, y) => x - y), range(1, 20));
    // Each socket's own sends are committed in the order it emitted them.
    for (const who of ["a", "b"]) {
      const seqs = acks.filter((x) => x.who === who).map((x) => x.ack.message.seq);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    }
  });

  await check("every other socket got message:new once, in seq order", async () => {
    const seqsOf = (who) => acks.filter((x) => x.who === who).map((x) => x.ack.message.seq);
    const expected = new Map([[sa, seqsOf("b")], [sb, seqsOf("a")], [sc, range(1, 20)]]);
    for (const [socket, seqs] of expected) {
      await until("message:new", () => socket.received.length >= seqs.length);
    }
    await sleep(100); // nothing more should arrive
    for (const [socket, seqs] of expected) {
      assert.deepEqual(socket.received.map((m) => m.seq), seqs.sort((x, y) => x - y));
    }
    const byId = new Map(acks.map((x) => [x.ack.message._id, x.ack.message]));
    for (const m of sc.received) assert.deepEqual(m, byId.get(m._id));
  });

  await check("a retried clientMsgId returns the original, and emits nothing", async () => {
    const first = acks.find((x) => x.who === "a");
    const counts = [sa, sb, sc].map((s) => s.received.length);
    const retry = await sa.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: chat._id, clientMsgId: first.clientMsgId, content: "different content" });
    assert.equal(retry.ok, true);
    assert.deepEqual(retry.message, first.ack.message);
    await sleep(200);
    assert.deepEqual([sa, sb, sc].map((s) => s.received.length), counts);
  });

  await check("errors: invalid_input, not_found, not_member, conflict, unknown event", async () => {
    const outsider = await sc.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: direct._id, clientMsgId: "z", content: "hi" });
    assert.equal(outsider.error.code, "not_member");
    const reused = await sa.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: direct._id, clientMsgId: acks.find((x) => x.who === "a").clientMsgId, content: "hi" });
    assert.equal(reused.error.code, "conflict");
    const empty = await sa.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: chat._id, clientMsgId: "x", content: "   " });
    assert.equal(empty.ok, false);
    assert.equal(empty.error.code, "invalid_input");
    const noKey = await sa.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: chat._id, content: "hi" });
    assert.equal(noKey.error.code, "invalid_input");
    const missing = await sa.timeout(TIMEOUT_MS).emitWithAck("message:send",
      { chatId: "0123456789abcdef01234567", clientMsgId: "y", content: "hi" });
    assert.equal(missing.error.code, "not_found");
    const notObject = await sa.timeout(TIMEOUT_MS).emitWithAck("message:read", 42);
    assert.equal(notObject.error.code, "invalid_input");
    const unknown = await sa.timeout(TIMEOUT_MS).emitWithAck("mesage:send", {});
    assert.equal(unknown.error.code, "not_found");
  });

  await check("message:read: cursors clamp, read implies delivered, receipt to every member", async () => {
    const read = await sc.timeout(TIMEOUT_MS).emitWithAck("message:read",
                                                          { chatId: chat._id, seq: 999 });
    assert.deepEqual(read, { ok: true, deliveredSeq: 20, readSeq: 20 });
    const expected = { chatId: chat._id, userId: c._id, deliveredSeq: 20, readSeq: 20 };
    for (const socket of [sa, sb, sc]) {
      await until("receipt", () => socket.receipts.length >= 1);
      assert.deepEqual(socket.receipts, [expected]);
    }
    // Nothing changes: same answer, no receipt.
    const lower = await sc.timeout(TIMEOUT_MS).emitWithAck("message:delivered",
                                                           { chatId: chat._id, seq: 3 });
    assert.deepEqual(lower, { ok: true, deliveredSeq: 20, readSeq: 20 });
    await sleep(100);
    assert.equal(sa.receipts.length, 1);
  });

  await check("REST history holds the 20 messages, ascending, in chatd's shape", async () => {
    const r = await api(url, "GET", `/api/message/${chat._id}`, undefined, b.token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.length, 20);
    assert.deepEqual(r.body.map((m) => m.seq), range(1, 20));
    const byId = new Map(acks.map((x) => [x.ack.message._id, x.ack.message]));
    for (const m of r.body) {
      const acked = byId.get(m._id);
      assert.equal(m.seq, acked.seq);
      assert.equal(m.content, acked.content);
      assert.equal(m.createdAt, acked.createdAt);
      assert.deepEqual(Object.keys(m.sender), ["_id", "name", "pic", "email"]);
      assert.equal(m.chat._id, chat._id);
      assert.ok(m.readBy.includes(c._id));
    }
    const page = await api(url, "GET", `/api/message/${chat._id}?before=11&limit=3`, undefined, a.token);
    assert.deepEqual(page.body.map((m) => m.seq), [8, 9, 10]);
    const after = await api(url, "GET", `/api/message/${chat._id}?after=18`, undefined, a.token);
    assert.deepEqual(after.body.map((m) => m.seq), [19, 20]);
    const noToken = await api(url, "GET", `/api/message/${chat._id}`);
    assert.equal(noToken.status, 401);
  });
} catch (error) {
  failed = true;
  console.error(`not ok ${passed + 1} -`, error);
} finally {
  for (const s of sockets) s.disconnect();
  const code = await stopServer(child);
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`server stopped (exit ${code})`);
}
console.log(`smoke: ${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
