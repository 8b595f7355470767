// Forwarding with TLS: two sio-conformance nodes ("a" and "b", each the other's peer) that serve
// HTTPS and WSS (--tls-cert/--tls-key), behind a TCP proxy that sends each new connection where the
// test says. A client's session opens on "a"; every later connection goes to "b", which forwards
// the polling requests to "a" and relays the upgraded WebSocket to it: the client's TLS ends at
// "b", and "b" reaches "a" over TLS of its own. The client verifies the certificate (its CA is
// the self-signed certificate itself).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startServer, io, connected, emitAck, ms, sleep, waitUntil } from "./harness.mjs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sio-tls-"));
const cert = path.join(dir, "cert.pem");
const key = path.join(dir, "key.pem");
let ca;
const nodes = {};
const clients = [];
let proxy;

// A TCP proxy: each new connection goes to `proxy.target` (a port) as it is then.
function switchingProxy() {
  const p = { target: 0, sockets: new Set(), connections: [] };
  p.server = net.createServer((client) => {
    const port = p.target;
    p.connections.push(port);
    const upstream = net.connect(port, "127.0.0.1");
    for (const socket of [client, upstream]) {
      p.sockets.add(socket);
      socket.on("close", () => p.sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.end());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  p.listening = new Promise((resolve) =>
    p.server.listen(0, "127.0.0.1", () => {
      p.url = `https://127.0.0.1:${p.server.address().port}`;
      resolve();
    }),
  );
  p.close = () => {
    p.server.close();
    for (const socket of p.sockets) socket.destroy();
  };
  return p;
}

before(async () => {
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt",
    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  ca = fs.readFileSync(cert);
  const tls = ["--tls-cert", cert, "--tls-key", key];
  // "a" starts first, with "b"'s address behind a link that gets b's port once b is up.
  const link = switchingProxy();
  await link.listening;
  nodes.link = link;
  nodes.a = await startServer(["--node-id", "a", "--peer", `b=127.0.0.1:${link.server.address().port}`, ...tls]);
  nodes.b = await startServer(["--node-id", "b", "--peer", `a=127.0.0.1:${nodes.a.port}`, ...tls]);
  link.target = nodes.b.port;
  assert.match(nodes.a.url, /^https:/);
  proxy = switchingProxy();
  await proxy.listening;
});

after(async () => {
  for (const socket of clients.splice(0)) socket.disconnect();
  proxy?.close();
  nodes.link?.close();
  for (const id of ["a", "b"]) {
    if (!nodes[id]) continue;
    const status = await nodes[id].stop();
    assert.deepEqual(status, { code: 0, signal: null }, `node ${id}; stderr:\n${nodes[id].stderr()}`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

// A client whose session opens on "a" and whose every later connection goes to "b".
function clientOpenedOnA(transports) {
  proxy.target = nodes.a.port;
  const socket = io(proxy.url, { ca, forceNew: true, reconnection: false, agent: false, transports });
  socket.io.engine.once("handshake", () => (proxy.target = nodes.b.port));
  clients.push(socket);
  return socket;
}

// `n` echoes and `n` acks, in order.
async function exchange(socket, n) {
  const echoed = [];
  const onEcho = (i) => echoed.push(i);
  socket.on("message-back", onEcho);
  const acks = [];
  for (let i = 0; i < n; i++) {
    socket.emit("message", i);
    acks.push(emitAck(socket, "message-with-ack", { i, text: "é✓".repeat(i % 3) }));
  }
  const replies = await Promise.all(acks);
  assert.deepEqual(replies.map(([reply]) => reply.i), [...Array(n).keys()]);
  await waitUntil(() => echoed.length >= n, { message: `${n} echoes (got ${echoed.length})` });
  socket.off("message-back", onEcho);
  assert.deepEqual(echoed, [...Array(n).keys()]);
}

test("polling over HTTPS: a session on one node, its requests at the other, forwarded over TLS", async () => {
  const socket = clientOpenedOnA(["polling"]);
  await connected(socket);
  assert.match(socket.io.engine.id, /^a\./);
  const before = proxy.connections.length;
  await exchange(socket, 40);
  await sleep(ms(700)); // heartbeats (every 300 ms) through the forwarding
  assert.equal(socket.connected, true);
  await exchange(socket, 10);
  const later = proxy.connections.slice(before);
  assert.ok(later.length >= 10 && later.every((port) => port === nodes.b.port), `b got them all: ${JSON.stringify(later)} b=${nodes.b.port}`);
  socket.disconnect();
});

test("polling upgraded to WSS at the other node: the WebSocket is relayed to the owner over TLS", async () => {
  const socket = clientOpenedOnA(["polling", "websocket"]);
  await connected(socket);
  assert.match(socket.io.engine.id, /^a\./);
  await waitUntil(() => socket.io.engine.transport.name === "websocket", { message: "the upgrade" });
  assert.equal(proxy.connections.at(-1), nodes.b.port, "the WebSocket went to b");
  await exchange(socket, 50);
  // 200 kB each way, many TLS records: {"i": ...} echoes its payload.
  const big = "x".repeat(200_000);
  const [reply] = await emitAck(socket, "message-with-ack", { i: -1, big });
  assert.equal(reply.big.length, big.length);
  await sleep(ms(700)); // heartbeats over the relayed WebSocket
  assert.equal(socket.connected, true);
  await exchange(socket, 10);
  socket.disconnect();
});

test("a WebSocket straight to a node over WSS", async () => {
  proxy.target = nodes.b.port;
  const socket = io(proxy.url, { ca, forceNew: true, reconnection: false, transports: ["websocket"] });
  clients.push(socket);
  await connected(socket);
  assert.match(socket.io.engine.id, /^b\./);
  await exchange(socket, 20);
  socket.disconnect();
});
