// Shared helpers for the end-to-end tests of chatd's Socket.IO server (examples/sio_conformance.cpp)
// driven by the official client. Every test file starts its own server on port 0 and stops it at
// the end, asserting a clean exit.
//
//   SIO_BIN          the server binary (default: ../../build/release/sio-conformance)
//   SIO_TIME_SCALE   multiplies the waiting times (default 1; the ASan build is ~3x slower)

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";
import WebSocket from "ws";

export { io, Manager, WebSocket };

const here = path.dirname(fileURLToPath(import.meta.url));
export const SIO_BIN =
  process.env.SIO_BIN ?? path.resolve(here, "../../build/release/sio-conformance");
export const SCALE = Number(process.env.SIO_TIME_SCALE ?? 1) || 1;

// A waiting time scaled for slow (sanitizer) builds.
export const ms = (n) => Math.round(n * SCALE);
export const sleep = (n) => new Promise((resolve) => setTimeout(resolve, n));

// ---------------------------------------------------------------------------------------------
// The server process

// Starts sio-conformance with `args`; resolves once it prints its address.
export async function startServer(args = []) {
  const proc = spawn(SIO_BIN, ["--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => (stderr += d));
  proc.stdout.setEncoding("utf8");
  const exited = new Promise((resolve) => {
    proc.on("exit", (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${SIO_BIN} did not start within 10 s; stderr: ${stderr}`)),
      10_000,
    );
    proc.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/listening on (https?:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${SIO_BIN} exited (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
  const { port, hostname } = new URL(url);
  return {
    url,
    port: Number(port),
    host: hostname,
    proc,
    stderr: () => stderr,
    // Is the process still running?
    alive: () => proc.exitCode === null && proc.signalCode === null,
    // SIGTERM, then the exit status ({code, signal}); SIGKILL after 15 s.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const killer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      const status = await exited;
      clearTimeout(killer);
      return status;
    },
  };
}

// The usual before()/after() pair: `ctx.server` is set in before(); after() closes every client
// made with ctx.client()/ctx.manager()/ctx.track(), stops the server and asserts exit code 0.
export function serverFixture(before, after, args = []) {
  const ctx = {
    server: null,
    url: null,
    closers: [],
    // A Socket.IO client (reconnection off unless asked) that after() closes.
    client(uri, opts = {}) {
      const socket = io(uri ?? ctx.url, { forceNew: true, reconnection: false, ...opts });
      recordDisconnects(socket);
      ctx.closers.push(() => {
        socket.disconnect();
        socket.io.engine?.close();
      });
      return socket;
    },
    manager(uri, opts = {}) {
      const m = new Manager(uri ?? ctx.url, { reconnection: false, ...opts });
      ctx.closers.push(() => {
        for (const s of Object.values(m.nsps)) s.disconnect();
        m.engine?.close();
      });
      return m;
    },
    // Registers any closable thing (ws.WebSocket, engine.io Socket, function).
    track(thing) {
      ctx.closers.push(() => (typeof thing === "function" ? thing() : thing.close?.()));
      return thing;
    },
    closeClients() {
      for (const close of ctx.closers.splice(0)) {
        try {
          close();
        } catch {
          // already closed
        }
      }
    },
  };
  before(async () => {
    ctx.server = await startServer(args);
    ctx.url = ctx.server.url;
  });
  after(async () => {
    ctx.closeClients();
    if (!ctx.server) return;
    const status = await ctx.server.stop();
    assert.deepEqual(
      status,
      { code: 0, signal: null },
      `server exit status on SIGTERM; stderr:\n${ctx.server.stderr()}`,
    );
  });
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Events

// Resolves with the arguments (an array) of the next `event` for which `filter(...args)` holds.
export function once(emitter, event, { timeout = 5000, filter } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out after ${timeout} ms waiting for "${event}"`));
    }, ms(timeout));
    emitter.on(event, handler);
  });
}

// Rejects if `event` fires within `duration` ms.
export function never(emitter, event, duration) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      clearTimeout(timer);
      emitter.off(event, handler);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args)}`));
    };
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      resolve();
    }, duration);
    emitter.on(event, handler);
  });
}

// Records the arguments of every `event` into the returned array.
export function collect(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

// Polls `predicate` until true, or throws `message` after `timeout` ms.
export async function waitUntil(predicate, { timeout = 5000, message = "condition" } = {}) {
  const deadline = Date.now() + ms(timeout);
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await sleep(10);
  }
}

// Resolves once `socket` is connected; rejects with the connect_error.
export function connected(socket, timeout = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`socket ${socket.nsp} did not connect within ${timeout} ms`));
    }, ms(timeout));
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

// Resolves with the connect_error of `socket` (rejects if it connects instead).
export function connectError(socket, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    const onConnect = () => {
      cleanup();
      reject(new Error(`socket ${socket.nsp} connected; a connect_error was expected`));
    };
    const onError = (err) => {
      cleanup();
      resolve(err);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no connect_error on ${socket.nsp} within ${timeout} ms`));
    }, ms(timeout));
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

// Keeps the reasons `socket` was disconnected (for error messages) in socket.disconnects.
export function recordDisconnects(socket) {
  socket.disconnects = [];
  socket.on("disconnect", (reason, details) => {
    const why = details?.description ?? details?.message;
    socket.disconnects.push(why ? `${reason} (${why})` : reason);
  });
  return socket;
}

// Emits `event` with `args` and an ack callback; resolves with ALL the ack's arguments.
export function emitAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms(5000)).emit(event, ...args, (err, ...reply) => {
      if (err) {
        const seen = socket.disconnects?.length ? `; disconnects: ${socket.disconnects.join(", ")}` : "";
        reject(new Error(`no ack for "${event}": ${err.message}${seen}`));
      } else {
        resolve(reply);
      }
    });
  });
}

// Deep copy turning every binary value (Buffer, ArrayBuffer, typed array) into a Buffer, so that
// what the client received can be compared with deepEqual to what was sent.
export function normalize(value) {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalize(v);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Raw Engine.IO over HTTP long-polling

// One raw polling client of a path ("/socket.io/" or "/engine.io/") of `base`.
export class RawPolling {
  constructor(base, path = "/socket.io/") {
    this.base = base;
    this.path = path;
    this.sid = null;
    this.open = null;
  }

  url(query) {
    return `${this.base}${this.path}?${query}`;
  }

  // Handshake; returns the parsed open packet.
  async handshake() {
    const res = await fetch(this.url(`EIO=4&transport=polling&t=${Date.now().toString(36)}`));
    const text = await res.text();
    assert.equal(res.status, 200, `handshake status (body ${text})`);
    assert.equal(text[0], "0", `handshake body starts with the open packet: ${text}`);
    this.open = JSON.parse(text.slice(1));
    this.sid = this.open.sid;
    return this.open;
  }

  // GET: {status, text, headers}; `signal` to abort.
  async get({ signal } = {}) {
    const res = await fetch(this.url(`EIO=4&transport=polling&sid=${this.sid}`), { signal });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  async post(body) {
    const res = await fetch(this.url(`EIO=4&transport=polling&sid=${this.sid}`), {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body,
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  // POSTs and asserts "ok".
  async send(...packets) {
    const r = await this.post(packets.join("\x1e"));
    assert.equal(r.status, 200, `POST ${JSON.stringify(packets)} status (body ${r.text})`);
    assert.equal(r.text, "ok");
    return r;
  }

  // GETs until packets arrive; returns them (split on \x1e). Answers pings when `pong`.
  async receive({ pong = true } = {}) {
    for (;;) {
      const r = await this.get();
      assert.equal(r.status, 200, `GET status (body ${r.text})`);
      const packets = r.text.split("\x1e");
      const rest = [];
      for (const p of packets) {
        if (p === "2" && pong) await this.send("3");
        else if (p !== "6" || packets.length > 1) rest.push(p);
      }
      if (rest.length) return rest;
    }
  }

  // Polls until the session reports closed: a "1" packet, or 400 {"code":1}. Resolves with how
  // it ended; rejects after `timeout`.
  async waitClosed(timeout = 5000) {
    const deadline = Date.now() + ms(timeout);
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`session ${this.sid} still open after ${timeout} ms`);
      let r;
      try {
        r = await this.get({ signal: AbortSignal.timeout(left) });
      } catch (err) {
        if (err.name === "TimeoutError")
          throw new Error(`session ${this.sid} still open after ${timeout} ms`);
        throw err;
      }
      if (r.status === 400) {
        assert.deepEqual(JSON.parse(r.text), { code: 1, message: "Session ID unknown" });
        return "unknown sid";
      }
      assert.equal(r.status, 200, `GET status (body ${r.text})`);
      if (r.text.split("\x1e").includes("1")) return "close packet";
    }
  }
}

// A raw WebSocket to `path` of the server; `messages` collects what arrives (text as strings,
// binary as Buffers), `closed` resolves with {code, at} when the socket closes.
export function rawWebSocket(base, path = "/socket.io/", query = "EIO=4&transport=websocket") {
  const url = `${base.replace(/^http/, "ws")}${path}?${query}`;
  const ws = new WebSocket(url);
  ws.messages = [];
  ws.on("message", (data, isBinary) => {
    ws.messages.push(isBinary ? Buffer.from(data) : data.toString());
    ws.emit("packet", isBinary ? Buffer.from(data) : data.toString());
  });
  ws.on("error", () => {}); // reported through `closed`
  ws.closed = new Promise((resolve) => ws.on("close", (code) => resolve({ code, at: Date.now() })));
  ws.opened = new Promise((resolve, reject) => {
    ws.on("open", () => resolve(Date.now()));
    ws.on("unexpected-response", (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on("close", () => reject(new Error("closed before open")));
  });
  return ws;
}

// The next packet (from `ws.messages`, in order) satisfying `filter`.
export async function nextPacket(ws, { timeout = 5000, filter = () => true, from = 0 } = {}) {
  let seen = from;
  const deadline = Date.now() + ms(timeout);
  for (;;) {
    while (seen < ws.messages.length) {
      const p = ws.messages[seen++];
      if (filter(p)) return p;
    }
    if (ws.readyState >= WebSocket.CLOSING && seen >= ws.messages.length)
      throw new Error("socket closed while waiting for a packet");
    if (Date.now() > deadline) throw new Error(`no packet within ${timeout} ms`);
    await sleep(5);
  }
}
