#!/usr/bin/env node
// What sessions and rate limiting cost on the hot REST paths (issue 11, point 10): a page of
// history (GET /api/message/:chatId?limit=50) and a send (POST /api/message), measured with wrk
// against the real chatd, three configurations in one run, interleaved round by round so that the
// machine's drift hits them alike:
//
//   before     a token without a session, accepted with --accept-sessionless-tokens: the request
//              path chatd had before sessions (the user read from the store on every request),
//              rate limits off;
//   sessions   a session token (checked against the in-memory session cache), rate limits off;
//   +limits    a session token with every rate limit on, budgets set too high to refuse anything:
//              the cost of the checks themselves (per-IP REST budget, per-user send budget).
//
//   node bench/security/session_cost.mjs [--seconds S] [--rounds R] [--connections C]
//
// Prints a markdown table: requests/s and chatd's CPU time per request (utime+stime of the
// process from /proc, all threads), the median of the rounds; and the change against `before`.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import crypto from "node:crypto";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const CHATD = process.env.CHATD_BIN || path.join(ROOT, "build/release/chatd");
const WRK = process.env.WRK || "wrk";
const SECRET = "session-cost-bench-secret";

const opt = { seconds: 8, rounds: 3, connections: 32 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = Number(process.argv[i + 1]);
}

const OFF = ["--rate-login-ip", "--rate-login-account", "--rate-login-known-ip", "--rate-register-ip",
  "--rate-otp-account", "--rate-send-user", "--rate-rest-ip", "--rate-socket-connect-ip",
  "--rate-socket-events"];
const limitsOff = OFF.flatMap((flag) => [flag, "off"]);
const limitsHigh = OFF.flatMap((flag) => [flag, "100000000/s"]);

const CONFIGS = [
  { name: "before", args: ["--accept-sessionless-tokens", ...limitsOff], sessionless: true },
  { name: "sessions", args: limitsOff, sessionless: false },
  { name: "+limits", args: limitsHigh, sessionless: false },
];

const ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

async function startChatd(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "session-cost-"));
  const child = spawn(CHATD, ["--host", "127.0.0.1", "--port", "0", "--data-dir", dir,
    "--log-level", "warn", "--jwt-secret", SECRET, "--sqlite-synchronous", "normal",
    "--password-hash-ops", "1", "--password-hash-memory-kib", "8", ...args],
  { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => reject(new Error(`chatd exited ${code}: ${out}`)));
  });
  return {
    url, pid: child.pid,
    async stop() {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await gone;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function call(url, method, p, token, body) {
  const res = await fetch(url + p, {
    method, body: body && JSON.stringify(body),
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function b64url(x) { return Buffer.from(JSON.stringify(x)).toString("base64url"); }
function sessionlessToken(userId) {
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ id: userId, iat: now, exp: now + 3600 })}`;
  return `${head}.${crypto.createHmac("sha256", SECRET).update(head).digest("base64url")}`;
}

async function seed(url, sessionless) {
  const user = async (name) => call(url, "POST", "/api/user", null,
    { name, email: `${name}-${crypto.randomBytes(4).toString("hex")}@bench.test`, password: "bench-password" });
  const a = await user("alice");
  const b = await user("bob");
  const chat = await call(url, "POST", "/api/chat", a.token, { userId: b._id });
  for (let i = 0; i < 100; i += 1) await call(url, "POST", "/api/message", a.token, { chatId: chat._id, content: `seed ${i}` });
  return { token: sessionless ? sessionlessToken(a._id) : a.token, chatId: chat._id };
}

function wrk(url, script, env) {
  const out = execFileSync(WRK, ["-t2", `-c${opt.connections}`, `-d${opt.seconds}s`, "-s", script, url],
    { env: { ...process.env, ...env } }).toString();
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return { rps, requests };
}

async function measure(config) {
  const srv = await startChatd(config.args);
  try {
    const { token, chatId } = await seed(srv.url, config.sessionless);
    const result = {};
    for (const [name, script, env] of [
      ["history", path.join(ROOT, "bench/history.lua"), { BENCH_PATH: `/api/message/${chatId}?limit=50`, BENCH_TOKEN: token }],
      ["send", path.join(ROOT, "bench/send.lua"), { BENCH_BODY: JSON.stringify({ chatId, content: "hello from wrk" }), BENCH_TOKEN: token }],
    ]) {
      wrk(srv.url, script, env);  // warm-up (caches, page cache), discarded
      const before = cpuSeconds(srv.pid);
      const run = wrk(srv.url, script, env);
      const cpu = cpuSeconds(srv.pid) - before;
      result[name] = { rps: run.rps, cpuUs: (cpu * 1e6) / run.requests };
    }
    return result;
  } finally {
    await srv.stop();
  }
}

const median = (xs) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const runs = Object.fromEntries(CONFIGS.map((c) => [c.name, []]));
for (let round = 0; round < opt.rounds; round += 1) {
  for (const config of CONFIGS) {
    runs[config.name].push(await measure(config));
    process.stderr.write(`round ${round + 1} ${config.name}: ${JSON.stringify(runs[config.name].at(-1))}\n`);
  }
}

const lines = [
  `| path | configuration | requests/s | chatd CPU per request | vs before |`,
  `|---|---|---|---|---|`,
];
for (const pathName of ["history", "send"]) {
  const base = median(runs.before.map((r) => r[pathName].rps));
  for (const config of CONFIGS) {
    const rps = median(runs[config.name].map((r) => r[pathName].rps));
    const cpu = median(runs[config.name].map((r) => r[pathName].cpuUs));
    const change = config.name === "before" ? "" : `${(((rps - base) / base) * 100).toFixed(1)}%`;
    lines.push(`| ${pathName} | ${config.name} | ${rps.toFixed(0)} | ${cpu.toFixed(1)} µs | ${change} |`);
  }
}
console.log(lines.join("\n"));
console.log(`\n${opt.rounds} rounds of ${opt.seconds} s per configuration and path (median), wrk -t2 -c${opt.connections}; ` +
  `${os.cpus().length} cores (${os.cpus()[0].model}), ${new Date().toISOString().slice(0, 10)}.`);
