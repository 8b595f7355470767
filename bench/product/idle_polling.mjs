// idle_polling: holds many idle, authenticated Engine.IO long-polling sessions open against a
// server (chatd, or the Node reference in bench/product/node-reference), so that a script can read
// the server's memory per session (product benchmark, issue 9). idle_sockets.cpp does the same
// over WebSocket. Node 20, no npm packages.
//
//   node idle_polling.mjs --url http://HOST:PORT --users FILE [--sockets N] [--concurrency C]
//                         [--hold S] [--connect-timeout S] [--path P]
//
// The users file has one line per user, `user <userId> <token>` (lines starting with # are
// comments); sessions go round-robin over the users. Each session (native protocol,
// /work/shared/API.md): GET /socket.io/?EIO=4&transport=polling -> `0{"sid":...}`; POST
// `40{"token":"<jwt>"}`; GETs until the `40{"sid":...}` CONNECT reply (`44` refused: an error).
// From then on one GET is pending at all times (a new one as each returns), and each ping `2` is
// answered by a POST of `3`. Sessions open C at a time (default 64).
// Once all N are ready: `READY sockets=N seconds=<connect time>` on stdout. Then they are held for
// --hold seconds, or without --hold until stdin reaches EOF (--hold leaves stdin alone: a command
// put in the background with & by a non-interactive shell reads /dev/null, at EOF at once), and
// `RESULT ok=1 sockets=N disconnects=D ...` is printed (ok=0 when a session was lost during the
// hold); exit 0, or 1 when not every session became ready or one was lost.
//
// Every pending GET holds a TCP connection on both sides, and up to 256 more carry the POSTs.
// Each process here may open 20000 descriptors (ulimit -n) and chatd closes connections beyond
// --max-connections (10000 by default), so with chatd started with --max-connections 20000 about
// 19700 sessions fit; the default N, 19000, leaves room (19000 and 19600 were held here through
// two pings each).
import http from "node:http";
import { readFileSync } from "node:fs";

const RECORD_SEPARATOR = "\x1e"; // joins the packets of one polling payload

function usage(problem) {
  if (problem) console.error(`idle_polling: error: ${problem}`);
  console.error(
    "usage: node idle_polling.mjs --url http://HOST:PORT --users FILE [--sockets N]\n" +
      "       [--concurrency C] [--hold S] [--connect-timeout S] [--path P]",
  );
  process.exit(problem ? 1 : 0);
}

function parseArgs(argv) {
  const o = {
    url: "",
    users: "",
    sockets: 19000,
    concurrency: 64,
    hold: 0,
    connectTimeout: 120,
    path: "/socket.io/",
  };
  const numbers = {
    "--sockets": "sockets",
    "--concurrency": "concurrency",
    "--hold": "hold",
    "--connect-timeout": "connectTimeout",
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (key === "-h" || key === "--help") usage();
    if (i + 1 >= argv.length) usage(`missing value for ${key}`);
    const value = argv[i + 1];
    if (key === "--url") o.url = value;
    else if (key === "--users") o.users = value;
    else if (key === "--path") o.path = value;
    else if (key in numbers) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`bad number for ${key}: ${value}`);
      o[numbers[key]] = n;
    } else usage(`unknown option ${key}`);
  }
  if (!o.url || !o.users) usage("--url and --users are required");
  if (o.sockets < 1 || o.concurrency < 1 || o.connectTimeout <= 0) {
    usage("bad --sockets, --concurrency or --connect-timeout");
  }
  return o;
}

function loadUsers(file) {
  const users = [];
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "" || line.startsWith("#")) return;
      const [kind, id, token] = line.trim().split(/\s+/);
      if (kind !== "user" || !id || !token) usage(`${file}:${i + 1}: bad line: ${line}`);
      users.push({ id, token });
    });
  if (users.length === 0) usage(`the users file ${file} has no users`);
  return users;
}

const opt = parseArgs(process.argv.slice(2));
const users = loadUsers(opt.users);
const target = new URL(opt.url.includes("://") ? opt.url : `http://${opt.url}`);
// The POSTs of a burst of pongs would each open a connection beside the N pending GETs, past the
// descriptor limit: beyond N + SPARE_CONNECTIONS, requests wait for a connection instead.
const SPARE_CONNECTIONS = 256;
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: opt.sockets + SPARE_CONNECTIONS,
  maxFreeSockets: SPARE_CONNECTIONS,
});

let closing = false;
let ready = 0;
let disconnects = 0;
let pings = 0;
let firstError = "";
const noteError = (e) => {
  if (!firstError) firstError = e;
};

// One HTTP exchange; resolves {status, body}. A request sent on a kept-alive connection that the
// server closed meanwhile fails with ECONNRESET before any answer: it is sent again, once.
function request(method, query, body, retried = false) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "Content-Type": "text/plain;charset=UTF-8" };
    const req = http.request(
      { host: target.hostname, port: target.port, method, path: opt.path + query, agent, headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode, body: text }));
        res.on("error", reject);
      },
    );
    req.on("error", (err) => {
      if (req.reusedSocket && err.code === "ECONNRESET" && !retried) {
        request(method, query, body, true).then(resolve, reject);
      } else reject(err);
    });
    req.end(body);
  });
}

class Session {
  constructor(index, user) {
    this.index = index;
    this.user = user;
    this.ready = false;
    this.lost = false;
  }

  get query() {
    return `?EIO=4&transport=polling&sid=${encodeURIComponent(this.sid)}`;
  }

  async get() {
    const r = await request("GET", this.query);
    if (r.status !== 200) throw new Error(`GET answered ${r.status}: ${r.body.slice(0, 200)}`);
    return r.body.split(RECORD_SEPARATOR);
  }

  async post(payload) {
    const r = await request("POST", this.query, payload);
    if (r.status !== 200 || r.body !== "ok") {
      throw new Error(`POST answered ${r.status}: ${r.body.slice(0, 200)}`);
    }
  }

  // Answers the pings among the Engine.IO packets of one GET (beside the next GET, which must not
  // wait for the pong's POST) and returns the others, noops left out.
  engineio(packets) {
    return packets.filter((p) => {
      if (p === "2") {
        pings++;
        this.post("3").catch((err) => this.lose(err));
      }
      return p !== "2" && p !== "6";
    });
  }

  lose(err) {
    if (closing || this.lost) return;
    this.lost = true;
    if (!this.ready) return; // open() fails the session itself
    disconnects++;
    noteError(`session ${this.index} lost: ${err.message}`);
  }

  async open() {
    const r = await request("GET", "?EIO=4&transport=polling");
    if (r.status !== 200 || !r.body.startsWith("0{")) {
      throw new Error(`handshake answered ${r.status}: ${r.body.slice(0, 200)}`);
    }
    this.sid = JSON.parse(r.body.split(RECORD_SEPARATOR)[0].slice(1)).sid;
    await this.post(`40${JSON.stringify({ token: this.user.token })}`);
    while (!this.ready) {
      if (this.lost) throw new Error("a pong's POST failed");
      for (const p of this.engineio(await this.get())) {
        if (p.startsWith("44")) throw new Error(`CONNECT refused: ${p.slice(0, 200)}`);
        if (p.startsWith("40") && p.includes('"sid"')) this.ready = true;
        else if (p === "1") throw new Error("Engine.IO close packet");
      }
    }
    if (++ready % 5000 === 0) console.error(`idle_polling: ${ready} ready`);
    this.hold();
  }

  // One GET pending until the run ends or the session is lost.
  async hold() {
    try {
      while (!closing && !this.lost) {
        for (const p of this.engineio(await this.get())) {
          if (p === "1") throw new Error("Engine.IO close packet");
          if (p.startsWith("41")) throw new Error("DISCONNECT from server");
        }
      }
    } catch (err) {
      this.lose(err);
    }
  }
}

// Resolves after holdSeconds, or when stdin reaches EOF if holdSeconds is 0.
function waitForEnd(holdSeconds) {
  return new Promise((resolve) => {
    if (holdSeconds > 0) {
      setTimeout(resolve, holdSeconds * 1000);
      return;
    }
    process.stdin.on("end", resolve);
    process.stdin.on("error", resolve);
    process.stdin.resume();
  });
}

// Closes every connection with a TCP reset, so that no TIME_WAIT is left behind.
function resetAll() {
  for (const group of [agent.sockets, agent.freeSockets]) {
    for (const list of Object.values(group)) for (const s of [...list]) s.resetAndDestroy();
  }
}

async function main() {
  const sessions = Array.from(
    { length: opt.sockets },
    (_, i) => new Session(i, users[i % users.length]),
  );
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  const opener = async () => {
    while (next < sessions.length && !failed) {
      const s = sessions[next++];
      try {
        await s.open();
      } catch (err) {
        failed++;
        noteError(`session ${s.index} failed: ${err.message}`);
      }
    }
  };
  const openers = Promise.all(
    Array.from({ length: Math.min(opt.concurrency, opt.sockets) }, opener),
  );
  const timedOut = await Promise.race([
    openers.then(() => false),
    new Promise((resolve) => setTimeout(() => resolve(true), opt.connectTimeout * 1000).unref()),
  ]);
  if (timedOut || failed) {
    console.error(
      `idle_polling: error: not every session became ready (${ready} of ${opt.sockets}): ` +
        (firstError || "connect phase timed out"),
    );
    console.log(`RESULT ok=0 error=connect ready=${ready} failed=${failed} sockets=${opt.sockets}`);
    closing = true;
    resetAll();
    process.exit(1);
  }
  const connectSeconds = (performance.now() - t0) / 1000;
  console.error(
    `idle_polling: ${opt.sockets} polling sessions over ${users.length} users ready in ` +
      `${connectSeconds.toFixed(2)} s`,
  );
  console.log(`READY sockets=${opt.sockets} seconds=${connectSeconds.toFixed(2)}`);

  const tHold = performance.now();
  await waitForEnd(opt.hold);
  const heldSeconds = (performance.now() - tHold) / 1000;
  closing = true;
  resetAll();
  const lost = disconnects;
  const until = opt.hold > 0 ? "--hold" : "stdin EOF";
  console.error(
    `idle_polling: held ${heldSeconds.toFixed(1)} s (until ${until}): ${lost} disconnects, ` +
      `${pings} pings answered`,
  );
  if (firstError) console.error(`idle_polling: first error: ${firstError}`);
  console.log(
    `RESULT ok=${lost === 0 ? 1 : 0} sockets=${opt.sockets} users=${users.length} ` +
      `disconnects=${lost} connect_s=${connectSeconds.toFixed(2)} ` +
      `held_s=${heldSeconds.toFixed(1)} pings=${pings}`,
  );
  process.exit(lost === 0 ? 0 : 1);
}

main();
