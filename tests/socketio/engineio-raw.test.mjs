// 12a. Raw Engine.IO v4 protocol checks with fetch and a bare WebSocket (PROTOCOL-NOTES.md):
// handshake, error codes, payload framing, binary over polling, one GET at a time, client close,
// upgrade, and clean WebSocket closes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  serverFixture, RawPolling, rawWebSocket, nextPacket, sleep, ms,
} from "./harness.mjs";

// Default timings (pingInterval 300, pingTimeout 200) for the handshake checks...
const ctx = serverFixture(before, after);
// ...and a server whose heartbeat cannot interfere with timing-sensitive checks.
const quiet = serverFixture(before, after, ["--ping-interval-ms", "20000", "--ping-timeout-ms", "20000"]);

const q = (query, path = "/socket.io/") => `${ctx.url}${path}?${query}`;

async function expectError(res, code, label) {
  const text = await res.text();
  assert.equal(res.status, 400, `${label}: status (body ${text})`);
  let body;
  assert.doesNotThrow(() => (body = JSON.parse(text)), `${label}: JSON body, got ${text}`);
  assert.equal(body.code, code, `${label}: error code in ${text}`);
  assert.equal(typeof body.message, "string", `${label}: error message in ${text}`);
  return body;
}

for (const path of ["/socket.io/", "/engine.io/"]) {
  test(`handshake over polling (${path})`, async () => {
    const res = await fetch(q("EIO=4&transport=polling&t=N8hyd6w", path));
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.match(text, /^0\{/);
    const open = JSON.parse(text.slice(1));
    assert.equal(typeof open.sid, "string");
    assert.ok(open.sid.length > 0);
    assert.deepEqual(open, {
      sid: open.sid, upgrades: ["websocket"], pingInterval: 300, pingTimeout: 200, maxPayload: 1000000,
    });
    assert.equal(text, `0{"sid":"${open.sid}","upgrades":["websocket"],"pingInterval":300,` +
      `"pingTimeout":200,"maxPayload":1000000}`);
    // Unknown query parameters are ignored; every handshake is a new session.
    const again = await fetch(q("EIO=4&transport=polling&foo=bar&b64=1", path));
    const other = JSON.parse((await again.text()).slice(1));
    assert.notEqual(other.sid, open.sid);
  });
}

test("handshake over websocket: upgrades is empty", async () => {
  const ws = quiet.track(rawWebSocket(quiet.url, "/engine.io/"));
  await ws.opened;
  const open = JSON.parse((await nextPacket(ws)).slice(1));
  assert.deepEqual(open, {
    sid: open.sid, upgrades: [], pingInterval: 20000, pingTimeout: 20000, maxPayload: 1000000,
  });
  ws.close();
});

test("bad EIO: 400 code 5", async () => {
  for (const query of [
    "transport=polling", "EIO=3&transport=polling", "EIO=abc&transport=polling",
    "EIO=5&transport=polling", "EIO=&transport=polling",
  ]) {
    const body = await expectError(await fetch(q(query)), 5, query);
    if (query === "transport=polling") assert.equal(body.message, "Unsupported protocol version");
  }
});

test("bad transport: 400 code 0", async () => {
  for (const query of ["EIO=4&transport=foo", "EIO=4", "EIO=4&transport="]) {
    const body = await expectError(await fetch(q(query)), 0, query);
    if (query === "EIO=4&transport=foo") assert.equal(body.message, "Transport unknown");
  }
});

test("unknown sid: 400 {code 1, Session ID unknown} for GET and POST", async () => {
  for (const method of ["GET", "POST"]) {
    const res = await fetch(q("EIO=4&transport=polling&sid=nope123"), {
      method, body: method === "POST" ? "4x" : undefined,
    });
    assert.equal(res.status, 400, method);
    assert.deepEqual(await res.json(), { code: 1, message: "Session ID unknown" });
  }
});

test("POST without sid: 400 code 2", async () => {
  const res = await fetch(q("EIO=4&transport=polling"), { method: "POST", body: "4hello" });
  const body = await expectError(res, 2, "POST without sid");
  assert.equal(body.message, "Bad handshake method");
});

test("a WebSocket with a bad EIO, transport or sid is refused", async () => {
  for (const query of [
    "EIO=3&transport=websocket", "transport=websocket", "EIO=4&transport=websocket&sid=unknown42",
  ]) {
    const ws = quiet.track(rawWebSocket(quiet.url, "/engine.io/", query));
    let outcome;
    try {
      await ws.opened;
      const { code } = await Promise.race([ws.closed, sleep(ms(2000)).then(() => ({ code: null }))]);
      outcome = code === null ? "open" : "closed";
    } catch (err) {
      outcome = `refused: ${err.message}`;
    }
    assert.notEqual(outcome, "open", `${query}: the WebSocket stayed open`);
    assert.equal(ws.messages.some((p) => typeof p === "string" && p.startsWith("0")), false,
      `${query}: no open packet`);
    if (outcome.startsWith("refused: HTTP")) assert.equal(outcome, "refused: HTTP 400", query);
  }
});

test("POST answers ok, text/plain; charset=UTF-8", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  const r = await c.post("4hello");
  assert.equal(r.status, 200);
  assert.equal(r.text, "ok");
  assert.equal(r.headers.get("content-type"), "text/plain; charset=UTF-8");
});

test("payloads: packets joined by \\x1e both ways", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  await c.send("4a", "4b");
  const r = await c.get();
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "text/plain; charset=UTF-8");
  assert.equal(r.text, "4a\x1e4b");
});

test("binary over polling: b + base64 both ways", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  await c.send("bAQID");
  assert.equal((await c.get()).text, "bAQID");
  // Mixed text and binary, an empty binary message, non-ASCII text, an empty text message.
  const packets = ["4héllo €😀", "b", "bAP+A", "b////AQ==", "4", "4x\u2028y"];
  await c.send(...packets);
  const r = await c.get();
  assert.deepEqual(r.text.split("\x1e"), packets);
});

test("a second concurrent GET is a 400 and closes the session", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  const first = c.get({ signal: AbortSignal.timeout(ms(5000)) }).then(
    (r) => r, (err) => ({ status: `error: ${err.name}` }),
  );
  await sleep(100); // the first GET is now pending
  const second = await c.get();
  assert.equal(second.status, 400, `second GET: ${second.status} ${second.text}`);
  // The pending GET is released (not left hanging until its timeout)...
  const r1 = await first;
  assert.notEqual(r1.status, "error: TimeoutError", "the first GET was left hanging");
  // ...and the session is gone.
  const later = await c.get();
  assert.equal(later.status, 400);
  assert.deepEqual(JSON.parse(later.text), { code: 1, message: "Session ID unknown" });
});

test("client close packet: the pending GET returns 6 and the session is closed", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  const pending = c.get({ signal: AbortSignal.timeout(ms(5000)) });
  await sleep(100);
  await c.send("1");
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.text, "6");
  const later = await c.get();
  assert.equal(later.status, 400);
  assert.deepEqual(JSON.parse(later.text), { code: 1, message: "Session ID unknown" });
});

test("a client aborting its GET closes the session", async () => {
  const c = new RawPolling(quiet.url, "/engine.io/");
  await c.handshake();
  const controller = new AbortController();
  const pending = c.get({ signal: controller.signal }).catch(() => null);
  await sleep(100);
  controller.abort();
  await pending;
  await sleep(200);
  const later = await c.get({ signal: AbortSignal.timeout(ms(2000)) }).catch((e) => ({ status: e.name }));
  assert.equal(later.status, 400, `GET after an aborted GET: ${later.status} ${later.text ?? ""}`);
});

test("polling heartbeat: the server pings on the GET, a pong keeps the session", async () => {
  const c = new RawPolling(ctx.url, "/engine.io/");
  await c.handshake();
  const start = Date.now();
  let pings = 0;
  while (Date.now() - start < 1200) {
    const r = await c.get();
    assert.equal(r.status, 200, `GET: ${r.status} ${r.text}`);
    for (const p of r.text.split("\x1e")) {
      if (p === "2") {
        pings++;
        await c.send("3");
      }
    }
  }
  assert.ok(pings >= 2, `${pings} pings in 1.2 s`);
  await c.send("4still");
  assert.deepEqual(await c.receive(), ["4still"]);
});

test("upgrade: 2probe/3probe, noop to the pending GET, 5, queue flushed over the WebSocket",
  async () => {
    const c = new RawPolling(quiet.url, "/engine.io/");
    await c.handshake();
    const pending = c.get({ signal: AbortSignal.timeout(ms(5000)) });
    await sleep(50);
    const ws = quiet.track(rawWebSocket(quiet.url, "/engine.io/", `EIO=4&transport=websocket&sid=${c.sid}`));
    await ws.opened;
    ws.send("2probe");
    assert.equal(await nextPacket(ws), "3probe");
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.text, "6", "the pending GET is answered with a noop");
    // Still polling until "5": what the server sends now is queued.
    await c.send("4queued");
    await sleep(50);
    ws.send("5");
    assert.equal(await nextPacket(ws, { from: 1 }), "4queued", "the queue is flushed over the WebSocket");
    ws.send("4over-ws");
    assert.equal(await nextPacket(ws, { from: 2 }), "4over-ws");
    ws.send(Buffer.from([1, 2, 3]));
    assert.deepEqual(await nextPacket(ws, { from: 3 }), Buffer.from([1, 2, 3]), "binary frames, no prefix");
    // Polling on the upgraded session is refused.
    const get = await c.get();
    assert.equal(get.status, 400, `GET after the upgrade: ${get.status} ${get.text}`);
    const post = await c.post("4late");
    assert.equal(post.status, 400, `POST after the upgrade: ${post.status} ${post.text}`);
    // A second WebSocket with the same sid is refused, and the first one keeps working.
    const ws2 = quiet.track(rawWebSocket(quiet.url, "/engine.io/", `EIO=4&transport=websocket&sid=${c.sid}`));
    const second = await ws2.opened.then(
      () => Promise.race([ws2.closed.then(() => "closed"), sleep(ms(2000)).then(() => "open")]),
      (err) => `refused: ${err.message}`,
    );
    assert.notEqual(second, "open", "a second WebSocket for an upgraded sid stayed open");
    ws.send("4still-first");
    assert.equal(await nextPacket(ws, { from: 4 }), "4still-first");
    ws.close();
  });

test("a WebSocket for a sid that is already on WebSocket is refused", async () => {
  const ws = quiet.track(rawWebSocket(quiet.url, "/engine.io/"));
  await ws.opened;
  const open = JSON.parse((await nextPacket(ws)).slice(1));
  const ws2 = quiet.track(rawWebSocket(quiet.url, "/engine.io/", `EIO=4&transport=websocket&sid=${open.sid}`));
  const second = await ws2.opened.then(
    () => Promise.race([ws2.closed.then(() => "closed"), sleep(ms(2000)).then(() => "open")]),
    (err) => `refused: ${err.message}`,
  );
  assert.notEqual(second, "open");
  ws.send("4first");
  assert.equal(await nextPacket(ws, { from: 1 }), "4first");
  ws.close();
});

test("CORS: a cross-origin request is allowed", async () => {
  const res = await fetch(q("EIO=4&transport=polling"), { headers: { origin: "http://example.com" } });
  await res.text();
  const allow = res.headers.get("access-control-allow-origin");
  assert.ok(allow === "*" || allow === "http://example.com", `Access-Control-Allow-Origin: ${allow}`);
  const pre = await fetch(q("EIO=4&transport=polling"), {
    method: "OPTIONS",
    headers: {
      origin: "http://example.com", "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  await pre.text();
  assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
  const preAllow = pre.headers.get("access-control-allow-origin");
  assert.ok(preAllow === "*" || preAllow === "http://example.com", `preflight allow-origin: ${preAllow}`);
});

// RFC 6455 7.1.1: the server sends a Close frame before dropping TCP (the reference server does,
// through ws). Without one the client sees 1006 and anything it sent last may be reset.
test("server-initiated WebSocket closes use the closing handshake (not an abrupt 1006)",
  { concurrency: true }, async (t) => {
    const joined = async (server) => {
      const ws = server.track(rawWebSocket(server.url, "/socket.io/"));
      await ws.opened;
      ws.on("packet", (p) => p === "2" && ws.send("3"));
      ws.send("40");
      await nextPacket(ws, { filter: (p) => typeof p === "string" && p.startsWith("40") });
      return ws;
    };
    const causes = {
      // The default server: the client never answers the ping.
      "ping timeout": async () => ctx.track(rawWebSocket(ctx.url, "/engine.io/")),
      "server-side close (disconnect-me true)": async () => {
        const ws = await joined(quiet);
        ws.send('42["disconnect-me",true]');
        return ws;
      },
      "invalid Socket.IO packet": async () => {
        const ws = await joined(quiet);
        ws.send('42["connect"]');
        return ws;
      },
      "connect timeout": async () => quiet.track(rawWebSocket(quiet.url, "/socket.io/")),
    };
    await Promise.all(Object.entries(causes).map(([name, open]) => t.test(name, async () => {
      const ws = await open();
      const { code } = await Promise.race([ws.closed, sleep(ms(3000)).then(() => ({ code: "open" }))]);
      assert.notEqual(code, "open", "not closed");
      assert.notEqual(code, 1006, "no Close frame before the TCP close");
    })));
  });

test("a client that aborts its waiting GET ends the session", async () => {
  const raw = new RawPolling(quiet.url);
  await raw.handshake();
  const controller = new AbortController();
  const waiting = raw.get({ signal: controller.signal }).catch((e) => e);
  await sleep(ms(200));
  controller.abort();
  assert.equal((await waiting).name, "AbortError");
  let after;
  for (let i = 0; i < 20; i++) {
    await sleep(ms(100));
    after = await raw.post("6");
    if (after.status === 400) break;
  }
  assert.equal(after.status, 400, `session still open after the GET was aborted: ${after.text}`);
  assert.deepEqual(JSON.parse(after.text), { code: 1, message: "Session ID unknown" });
});
