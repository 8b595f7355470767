#!/usr/bin/env node
// What erasing a user and applying retention cost (issue 11, point 7), on the real chatd, on
// SQLite and on PostgreSQL (a throwaway server from scripts/pg.sh):
//
//   erasure    one user with --messages messages in 12 chats (10 1:1 chats, 2 groups), and as
//              many from others, then DELETE /api/user/me: its wall time, messages erased per
//              second, chatd's CPU per erased message; meanwhile another user sends one message
//              at a time in a chat of their own, and the p50/p99 of those sends, against the same
//              sends measured just before, show how long the store's writer is held.
//   retention  --messages messages in one chat aged by two days (sqlite3 / psql on created_at),
//              then a chat retention of one day with the housekeeping job every 100 ms: the time
//              until the last one is a tombstone, and messages per second.
//
//   node bench/security/erasure_cost.mjs [--messages N] [--backends sqlite,postgres]
//
// On PostgreSQL every sent message is still in the change log (it keeps ten minutes), which is
// the worst case for erasure: each batch searches the log for copies to rewrite.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { ROOT, NO_LIMIT_ARGS, startChatd, procTimes, call } from "../common/bench.mjs";

const CHATD = process.env.CHATD_BIN || path.join(ROOT, "build/release/chatd");

const opt = { messages: 20000, backends: "sqlite,postgres" };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = key === "backends" ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

const chatdArgs = (dir, databaseUrl) => ["--host", "127.0.0.1", "--port", "0", "--data-dir", dir,
  "--log-level", "warn", "--password-hash-ops", "1", "--password-hash-memory-kib", "8",
  "--housekeeping-interval-ms", "100", ...(databaseUrl ? ["--database-url", databaseUrl] : []),
  ...NO_LIMIT_ARGS];

const user = (url, name) => call(url, "POST", "/api/user", null,
  { name, email: `${name}-${crypto.randomBytes(4).toString("hex")}@bench.test`, password: "bench-password" });

// Runs `task(i)` for i in [0, n) with `width` in flight.
async function pool(n, width, task) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await task(next++);
  }));
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

// One message at a time until `stop()` says so: the latency of each send, in ms.
function sendLoop(url, token, chatId, stop) {
  const latencies = [];
  const done = (async () => {
    while (!stop()) {
      const started = performance.now();
      await call(url, "POST", "/api/message", token, { chatId, content: "probe" });
      latencies.push(performance.now() - started);
    }
    return latencies.sort((a, b) => a - b);
  })();
  return done;
}

function age(backend, dir, databaseUrl, chatId, days) {
  const sql = `UPDATE messages SET created_at = created_at - ${days * 86400000} WHERE chat_id = '${chatId}'`;
  if (backend === "sqlite") {
    execFileSync("sqlite3", ["-cmd", ".timeout 5000", path.join(dir, "chatd.db"), sql]);
  } else {
    execFileSync("psql", ["-X", "-q", "-d", databaseUrl, "-c", sql]);
  }
}

async function erasure(srv) {
  const erased = await user(srv.url, "erased");
  const others = [];
  for (let i = 0; i < 10; i += 1) others.push(await user(srv.url, `other${i}`));
  const chats = [];
  for (const o of others) chats.push((await call(srv.url, "POST", "/api/chat", erased.token, { userId: o._id }))._id);
  for (let g = 0; g < 2; g += 1) {
    const users = JSON.stringify(others.slice(g * 5, g * 5 + 5).map((o) => o._id));
    chats.push((await call(srv.url, "POST", "/api/chat/group", erased.token, { name: `group${g}`, users }))._id);
  }
  await pool(opt.messages, 32, (i) => call(srv.url, "POST", "/api/message", erased.token,
    { chatId: chats[i % chats.length], content: `erased message ${i} ${crypto.randomBytes(8).toString("hex")}` }));
  await pool(opt.messages, 32, (i) => call(srv.url, "POST", "/api/message", others[i % 10].token,
    { chatId: chats[i % 10], content: `kept message ${i}` }));

  const probe = await user(srv.url, "probe");
  const peer = await user(srv.url, "peer");
  const probeChat = (await call(srv.url, "POST", "/api/chat", probe.token, { userId: peer._id }))._id;
  let stopBaseline = false;
  const baselineRun = sendLoop(srv.url, probe.token, probeChat, () => stopBaseline);
  await new Promise((r) => setTimeout(r, 3000));
  stopBaseline = true;
  const baseline = await baselineRun;

  let erasing = true;
  const duringRun = sendLoop(srv.url, probe.token, probeChat, () => !erasing);
  const cpuBefore = procTimes(srv.pid).cpu;
  const started = performance.now();
  await call(srv.url, "DELETE", "/api/user/me", erased.token, { password: "bench-password" });
  const seconds = (performance.now() - started) / 1000;
  const cpu = procTimes(srv.pid).cpu - cpuBefore;
  erasing = false;
  const during = await duringRun;
  return {
    seconds, perSecond: opt.messages / seconds, cpuUs: (cpu * 1e6) / opt.messages,
    baseline: [quantile(baseline, 0.5), quantile(baseline, 0.99)],
    during: [quantile(during, 0.5), quantile(during, 0.99), during.length],
  };
}

async function retention(srv, backend, dir, databaseUrl) {
  const a = await user(srv.url, "keeper");
  const b = await user(srv.url, "reader");
  const chatId = (await call(srv.url, "POST", "/api/chat", a.token, { userId: b._id }))._id;
  await pool(opt.messages, 32, (i) => call(srv.url, "POST", "/api/message", a.token, { chatId, content: `old ${i}` }));
  age(backend, dir, databaseUrl, chatId, 2);
  const started = performance.now();
  await call(srv.url, "PUT", "/api/chat/retention", a.token, { chatId, days: 1 });
  for (;;) {
    const page = await call(srv.url, "GET", `/api/message/${chatId}?limit=1`, a.token);
    if (page.length && page[page.length - 1].deleted) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, perSecond: opt.messages / seconds };
}

async function run(backend) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "erasure-cost-"));
  let pgDir = null;
  let databaseUrl = null;
  if (backend === "postgres") {
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), "erasure-cost-pg-"));
    databaseUrl = execFileSync(path.join(ROOT, "scripts/pg.sh"), ["start", pgDir]).toString().trim();
  }
  const srv = await startChatd(CHATD, chatdArgs(dir, databaseUrl));
  try {
    return { erasure: await erasure(srv), retention: await retention(srv, backend, dir, databaseUrl) };
  } finally {
    await srv.stop();
    if (pgDir) execFileSync(path.join(ROOT, "scripts/pg.sh"), ["stop", pgDir]);
    fs.rmSync(dir, { recursive: true, force: true });
    if (pgDir) fs.rmSync(pgDir, { recursive: true, force: true });
  }
}

const fmt = (x, d = 1) => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(`${opt.messages.toLocaleString("en-US")} messages erased per run, ${os.cpus().length} cores, ${new Date().toISOString()}\n`);
console.log("| store | erasure, s | erased msgs/s | chatd CPU µs per erased msg | send p50 / p99 before, ms | send p50 / p99 during, ms (sends) | retention, s | retention msgs/s |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const backend of opt.backends.split(",")) {
  const r = await run(backend);
  const e = r.erasure;
  console.log(`| ${backend} | ${fmt(e.seconds, 2)} | ${fmt(e.perSecond, 0)} | ${fmt(e.cpuUs)} | ` +
    `${fmt(e.baseline[0])} / ${fmt(e.baseline[1])} | ${fmt(e.during[0])} / ${fmt(e.during[1])} (${e.during[2]}) | ` +
    `${fmt(r.retention.seconds, 2)} | ${fmt(r.retention.perSecond, 0)} |`);
}
