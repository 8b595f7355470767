// Forwarding: no sticky sessions. Two sio-conformance nodes ("a" and "b", each the other's peer)
// behind a round-robin TCP load balancer written here (each new connection goes to the next
// node, as HAProxy's `balance roundrobin`). A polling client opens a new connection per request,
// so its requests land on both nodes; the one that does not own the sid forwards them to the one
// that does, and a WebSocket upgrade that lands on the wrong node is relayed to the owner.
// A third node ("c") has fake peers written here: one that answers (what reaches the owner and
// what comes back) and one that never does (the reply timeout).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import crypto from "node:crypto";
import { startServer, io, RawPolling, connected, emitAck, once, ms, sleep, waitUntil } from "./harness.mjs";

// ---------------------------------------------------------------------------------------------
// A TCP load balancer on loopback

// Sends each new connection to the next of `backends` ({node, port}) in turn and notes the first
// request line of each: which node got which session's requests, over which transport.
function roundRobin(backends) {
  const balancer = { backends, next: 0, requests: [], sockets: new Set() };
  balancer.server = net.createServer((client) => {
    const backend = balancer.backends[balancer.next++ % balancer.backends.length];
    const upstream = net.connect(backend.port, "127.0.0.1");
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      balancer.sockets.add(socket);
      socket.on("close", () => balancer.sockets.delete(socket));
      socket.on("error", kill);
    }
    // end(), not destroy(): what one side still has to write to the other gets there first.
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.end());
    client.once("data", (chunk) => noteRequest(balancer, backend, chunk));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  balancer.listening = new Promise((resolve) =>
    balancer.server.listen(0, "127.0.0.1", () => {
      balancer.port = balancer.server.address().port;
      balancer.url = `http://127.0.0.1:${balancer.port}`;
      resolve(balancer);
    }),
  );
  balancer.close = () => {
    balancer.server.close();
    for (const socket of balancer.sockets) socket.destroy();
  };
  return balancer;
}

function noteRequest(balancer, backend, chunk) {
  const line = chunk.toString("latin1").split("\r\n", 1)[0];
  const match = line.match(/^([A-Z]+) (\S+) HTTP/);
  if (!match) return;
  const query = new URL(match[2], "http://x").searchParams;
  balancer.requests.push({
    node: backend.node,
    method: match[1],
    sid: query.get("sid"),
    transport: query.get("transport"),
  });
}

// ---------------------------------------------------------------------------------------------
// The cluster

const cluster = { nodes: {}, stopped: new Set(), clients: [] };

// A node of the cluster, started with `args`; stop() asserts a clean exit.
async function startNode(id, args) {
  const server = await startServer(["--node-id", id, ...args]);
  cluster.nodes[id] = server;
  return server;
}

async function stopNode(id) {
  const server = cluster.nodes[id];
  if (!server || cluster.stopped.has(id)) return;
  cluster.stopped.add(id);
  const status = await server.stop();
  assert.deepEqual(status, { code: 0, signal: null }, `node ${id} exit; stderr:\n${server.stderr()}`);
}

// A fake owner: answers every request itself and notes what reached it; accepts an upgrade and
// then echoes every byte.
function fakeOwner() {
  const owner = { requests: [], upgrades: [], connections: 0, sockets: new Set() };
  owner.server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      owner.requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(201, { "Content-Type": "text/x-owner", "X-Owner": "fake" });
      res.end(`owner saw ${req.method} ${body}`);
    });
  });
  // Closes a connection idle for 300 ms (Node's own keep-alive timeout adds a second): the
  // forwarder must not reuse one the owner closed.
  owner.server.on("request", (req, res) => {
    clearTimeout(req.socket.idleTimer);
    res.on("finish", () => (req.socket.idleTimer = setTimeout(() => req.socket.end(), 300)));
  });
  owner.server.on("connection", (socket) => {
    owner.connections++;
    owner.sockets.add(socket);
    socket.on("close", () => owner.sockets.delete(socket));
  });
  owner.server.on("upgrade", (req, socket) => {
    owner.upgrades.push({ url: req.url, headers: req.headers });
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    socket.pipe(socket);
  });
  return owner;
}

// A peer that accepts connections and never answers.
function silentPeer() {
  const peer = { sockets: new Set(), closed: 0 };
  peer.server = net.createServer((socket) => {
    peer.sockets.add(socket);
    socket.on("close", () => {
      peer.sockets.delete(socket);
      peer.closed++;
    });
    socket.on("error", () => {});
    socket.resume(); // reads (and drops) the request, so that its end is seen
  });
  return peer;
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

let balancer;
let link;
let owner;
let silent;

before(async () => {
  // "a" and "b" are each other's peers. Both listen on port 0, so "a" starts first with a link
  // (a one-backend balancer) standing for "b", which gets b's port once b is up.
  link = roundRobin([]);
  await link.listening;
  const a = await startNode("a", ["--peer", `b=127.0.0.1:${link.port}`]);
  const b = await startNode("b", ["--peer", `a=127.0.0.1:${a.port}`]);
  link.backends.push({ node: "b", port: b.port });
  balancer = roundRobin([
    { node: "a", port: a.port },
    { node: "b", port: b.port },
  ]);
  await balancer.listening;

  owner = fakeOwner();
  silent = silentPeer();
  const ownerPort = await listen(owner.server);
  const silentPort = await listen(silent.server);
  await startNode("c", [
    "--threads", "1", // one network thread: one pool of idle connections to the fake owner
    "--peer", `f=127.0.0.1:${ownerPort}`,
    "--peer", `s=127.0.0.1:${silentPort}`,
  ]);
});

after(async () => {
  for (const socket of cluster.clients.splice(0)) socket.disconnect();
  balancer?.close();
  link?.close();
  for (const id of Object.keys(cluster.nodes)) await stopNode(id);
  for (const peer of [owner, silent]) {
    if (!peer) continue;
    peer.server.close();
    for (const socket of peer.sockets) socket.destroy();
  }
});

// A Socket.IO client through the balancer. `agent: false`: every polling request on a new TCP
// connection, as a browser behind a proxy may do; with keep-alive, the first connection would
// carry the whole session to one node and prove nothing.
function client(transports, extra = {}) {
  const socket = io(balancer.url, {
    forceNew: true,
    reconnection: false,
    agent: false,
    transports,
    ...extra,
  });
  cluster.clients.push(socket);
  return socket;
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

// `n` of each, in bursts: acked emits (client -> server), echoed events (server -> client) and
// server emits that the client acks (request-ack -> server-ack -> ack-result). Everything must
// arrive, in the order it was sent.
async function exchange(socket, n) {
  const echoed = [];
  const results = [];
  const ackOrder = [];
  const onEcho = (i) => echoed.push(i);
  const onServerAck = (i, ack) => ack(i * 2);
  const onResult = (value) => results.push(value);
  socket.on("message-back", onEcho);
  socket.on("server-ack", onServerAck);
  socket.on("ack-result", onResult);
  const acks = [];
  for (const i of range(n)) {
    socket.emit("message", i);
    const payload = { i, text: "é✓".repeat(i % 5) };
    acks.push(emitAck(socket, "message-with-ack", payload).then((reply) => {
      ackOrder.push(i);
      assert.deepEqual(reply, [payload]);
    }));
    socket.emit("request-ack", i);
    if (i % 10 === 9) await sleep(5);
  }
  await Promise.all(acks);
  await waitUntil(() => echoed.length >= n && results.length >= n, {
    timeout: 10_000,
    message: `${n} echoes and ack results (got ${echoed.length} and ${results.length})`,
  });
  await sleep(50); // nothing more (no duplicates) arrives
  socket.off("message-back", onEcho);
  socket.off("server-ack", onServerAck);
  socket.off("ack-result", onResult);
  assert.deepEqual(ackOrder, range(n), "acks in order");
  assert.deepEqual(echoed, range(n), "server -> client events in order");
  assert.deepEqual(results, range(n).map((i) => i * 2), "client acks in order");
}

// The session's requests the balancer sent to each node.
function spread(sid) {
  const mine = balancer.requests.filter((r) => r.sid === sid);
  const ownerNode = sid.split(".")[0];
  return {
    atOwner: mine.filter((r) => r.node === ownerNode),
    forwarded: mine.filter((r) => r.node !== ownerNode),
  };
}

// ---------------------------------------------------------------------------------------------
// Through the balancer, with the official client

test("polling only: requests land on both nodes, the owner serves them all", async () => {
  const socket = client(["polling"]);
  await connected(socket);
  const sid = socket.io.engine.id;
  assert.match(sid, /^[ab]\.[A-Za-z0-9_-]{20}$/);
  await exchange(socket, 100);
  await sleep(ms(700)); // heartbeats (every 300 ms) through the forwarding
  assert.equal(socket.connected, true);
  await exchange(socket, 20);
  assert.equal(socket.io.engine.transport.name, "polling");
  const { atOwner, forwarded } = spread(sid);
  assert.ok(forwarded.length >= 10, `forwarded requests: ${forwarded.length}`);
  assert.ok(atOwner.length >= 10, `requests at the owner: ${atOwner.length}`);
  assert.ok(forwarded.some((r) => r.method === "GET") && forwarded.some((r) => r.method === "POST"));
  socket.disconnect();
});

test("polling only: several clients at once, sessions on both nodes", async () => {
  const sockets = range(4).map(() => client(["polling"]));
  await Promise.all(sockets.map((s) => connected(s)));
  const owners = new Set(sockets.map((s) => s.io.engine.id.split(".")[0]));
  assert.deepEqual([...owners].sort(), ["a", "b"]);
  await Promise.all(sockets.map((s) => exchange(s, 40)));
  for (const s of sockets) assert.ok(spread(s.io.engine.id).forwarded.length > 0);
  for (const s of sockets) s.disconnect();
});

test("websocket only: each connection is a new session, served where it lands", async () => {
  const sockets = [client(["websocket"]), client(["websocket"])];
  await Promise.all(sockets.map((s) => connected(s)));
  const owners = sockets.map((s) => s.io.engine.id.split(".")[0]);
  assert.deepEqual([...owners].sort(), ["a", "b"]);
  for (const s of sockets) {
    assert.equal(s.io.engine.transport.name, "websocket");
    await exchange(s, 50);
    assert.equal(spread(s.io.engine.id).forwarded.length, 0);
  }
  for (const s of sockets) s.disconnect();
});

// One connection through the balancer that sends nothing: the next one goes to the other node.
function skipANode() {
  const socket = net.connect(balancer.port, "127.0.0.1");
  socket.on("connect", () => socket.end());
  socket.on("error", () => {});
}

// One client of the default transports: polling, upgraded to WebSocket; emits all through the
// upgrade. Resolves with whether the WebSocket landed on the owner or was relayed. A client opens
// its first connections in the same order every time (handshake, POST, WebSocket, GET): its
// WebSocket lands on the owner unless another connection comes between (`skip`).
async function upgradedClient({ skip }) {
  const socket = client(["polling", "websocket"]);
  if (skip) socket.io.engine.once("handshake", skipANode);
  const echoed = [];
  socket.on("message-back", (i) => echoed.push(i));
  await connected(socket);
  const sid = socket.io.engine.id;
  // Emits all through the upgrade: none lost, none out of order.
  for (const i of range(60)) {
    socket.emit("message", i);
    if (i % 5 === 0) await sleep(2);
  }
  await waitUntil(() => socket.io.engine.transport.name === "websocket", { message: "the upgrade" });
  await waitUntil(() => echoed.length >= 60, { message: `60 echoes (got ${echoed.length})` });
  assert.deepEqual(echoed, range(60));
  socket.off("message-back");
  await exchange(socket, 50);
  await sleep(ms(700)); // heartbeats over the (maybe relayed) WebSocket
  assert.equal(socket.connected, true);
  await exchange(socket, 10);
  socket.disconnect();
  const upgrade = balancer.requests.find((r) => r.sid === sid && r.transport === "websocket");
  assert.ok(upgrade, "the balancer saw the upgrade");
  return upgrade.node === sid.split(".")[0] ? "at the owner" : "relayed";
}

test("polling then upgrade: a WebSocket on the wrong node is relayed to the owner", async () => {
  const seen = [];
  for (let attempt = 0; attempt < 16; attempt++) {
    seen.push(await upgradedClient({ skip: attempt % 2 === 1 }));
    if (seen.filter((s) => s === "relayed").length >= 2 && seen.includes("at the owner")) break;
  }
  assert.ok(seen.filter((s) => s === "relayed").length >= 2, `upgrades: ${seen.join(", ")}`);
  assert.ok(seen.includes("at the owner"), `upgrades: ${seen.join(", ")}`);
});

// ---------------------------------------------------------------------------------------------
// Raw requests

test("the loop guard: a forwarded request is never forwarded again", async () => {
  const session = new RawPolling(cluster.nodes.a.url);
  await session.handshake();
  assert.match(session.sid, /^a\./);
  const target = `${cluster.nodes.b.url}/socket.io/?EIO=4&transport=polling&sid=${session.sid}`;
  const post = (headers) => fetch(target, { method: "POST", headers, body: "40" });
  const guarded = await post({ "X-Chatd-Forwarded-By": "z" });
  assert.equal(guarded.status, 400);
  assert.deepEqual(await guarded.json(), { code: 1, message: "Session ID unknown" });
  const plain = await post({});
  assert.equal(plain.status, 200);
  assert.equal(await plain.text(), "ok");
});

test("a sid of a node nobody knows is unknown", async () => {
  const started = Date.now();
  const res = await fetch(`${cluster.nodes.a.url}/socket.io/?EIO=4&transport=polling&sid=zz.abc`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 1, message: "Session ID unknown" });
  assert.ok(Date.now() - started < ms(1000));
});

test("the owner's answer comes back as it was; what reaches the owner", async () => {
  const c = cluster.nodes.c;
  const url = `${c.url}/socket.io/?EIO=4&transport=polling&t=x1&sid=f.abc`;
  const res = await fetch(url, {
    method: "POST",
    headers: {
      Origin: "https://app.example",
      "Content-Type": "text/plain;charset=UTF-8",
      "X-Forwarded-For": "198.51.100.7",
      Cookie: "io=f.abc",
    },
    body: "42[\"hi\"]",
  });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("content-type"), "text/x-owner");
  assert.equal(res.headers.get("x-owner"), "fake");
  assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(await res.text(), 'owner saw POST 42["hi"]');
  const seen = owner.requests.at(-1);
  assert.equal(seen.method, "POST");
  assert.equal(seen.url, "/socket.io/?EIO=4&transport=polling&t=x1&sid=f.abc");
  assert.equal(seen.body, '42["hi"]');
  assert.equal(seen.headers.origin, "https://app.example");
  assert.equal(seen.headers.cookie, "io=f.abc");
  assert.equal(seen.headers["content-type"], "text/plain;charset=UTF-8");
  assert.equal(seen.headers["x-chatd-forwarded-by"], "c");
  // The forwarding node appends the client as it saw it (here the test, on loopback): the owner,
  // trusting its peers as proxies, finds the same client.
  assert.equal(seen.headers["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
  assert.equal(seen.headers.connection, undefined, "this hop's headers stay here");
});

test("forwarded requests reuse an idle connection, but not one the owner closed", async () => {
  const get = async () => {
    const res = await fetch(`${cluster.nodes.c.url}/socket.io/?EIO=4&transport=polling&sid=f.abc`);
    assert.equal(res.status, 201);
    assert.equal(await res.text(), "owner saw GET ");
  };
  await sleep(ms(500)); // past the fake owner's keep-alive: earlier connections are closed
  const before = owner.connections;
  await get();
  await get();
  await get();
  assert.equal(owner.connections - before, 1, "one connection for three requests");
  await sleep(ms(500)); // the owner closes it
  await get();
  assert.equal(owner.connections - before, 2);
});

test("an owner that never answers: 'Session ID unknown' after the longest poll", async () => {
  const started = Date.now();
  const res = await fetch(`${cluster.nodes.c.url}/socket.io/?EIO=4&transport=polling&sid=s.abc`);
  const took = Date.now() - started;
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 1, message: "Session ID unknown" });
  // ping interval + ping timeout + connect timeout: 300 + 200 + 1000 ms
  assert.ok(took >= 1400 && took < ms(5000), `answered after ${took} ms`);
  await waitUntil(() => silent.sockets.size === 0, { message: "the silent peer's connection closed" });
});

// A raw upgrade request for `sid` to `base`; resolves with the socket and the response head.
function rawUpgrade(base, sid, headers = {}) {
  const { port } = new URL(base);
  const socket = net.connect(port, "127.0.0.1");
  const lines = [
    `GET /socket.io/?EIO=4&transport=websocket&sid=${sid} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}`,
    "Sec-WebSocket-Version: 13",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      resolve({ socket, head: head.subarray(0, end).toString(), rest: head.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.on("error", reject);
    socket.on("close", () => reject(new Error("closed before the response head")));
  });
}

test("an upgrade is relayed byte for byte, both ways, with backpressure", async () => {
  const { socket, head, rest } = await rawUpgrade(cluster.nodes.c.url, "f.abc", {
    "X-Forwarded-For": "198.51.100.7",
  });
  socket.on("close", () => {});
  assert.match(head, /^HTTP\/1\.1 101 /);
  const seen = owner.upgrades.at(-1);
  assert.equal(seen.url, "/socket.io/?EIO=4&transport=websocket&sid=f.abc");
  assert.equal(seen.headers["x-chatd-forwarded-by"], "c");
  assert.equal(seen.headers["x-forwarded-for"], "198.51.100.7, 127.0.0.1");
  assert.equal(seen.headers.upgrade, "websocket");
  // 4 MB through the relay's 16 kB chunks and back, read slowly at first: the echo holds back.
  const sent = crypto.randomBytes(4 << 20);
  let received = [rest];
  let count = rest.length;
  socket.pause();
  socket.on("data", (d) => {
    received.push(d);
    count += d.length;
  });
  socket.write(sent);
  await sleep(200); // unscaled: well under the relay's write timeout (500 ms here)
  socket.resume();
  await waitUntil(() => count >= sent.length, { timeout: 10_000, message: "the echo" });
  assert.ok(Buffer.concat(received).equals(sent), "the bytes came back unchanged");
  received = [];
  const closed = new Promise((resolve) => socket.on("close", resolve));
  const ownerSockets = owner.sockets.size;
  socket.end();
  await closed; // the relay closed the owner's side, which closed ours
  await waitUntil(() => owner.sockets.size < ownerSockets, { message: "the owner's side closed" });
});

test("an upgrade for a sid no node owns is closed", async () => {
  await assert.rejects(rawUpgrade(cluster.nodes.a.url, "zz.abc"), /closed before the response/);
});

test("a dead owner: 'Session ID unknown' at once", async () => {
  const session = new RawPolling(cluster.nodes.a.url);
  await session.handshake();
  await stopNode("a"); // "b" reaches "a" directly: its port now refuses connections
  const started = Date.now();
  const res = await fetch(`${cluster.nodes.b.url}/socket.io/?EIO=4&transport=polling&sid=${session.sid}`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 1, message: "Session ID unknown" });
  assert.ok(Date.now() - started < ms(1000), `answered after ${Date.now() - started} ms`);
  await assert.rejects(rawUpgrade(cluster.nodes.b.url, session.sid), /closed before the response/);
});
