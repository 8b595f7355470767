#!/usr/bin/env node
// Prepares a benchmark's users and chats over REST (shared/API.md; works against chatd and
// bench/product/node-reference) and writes the plan file that bench/send/send_load.cpp reads.
//
//   node bench/product/setup.mjs --url http://127.0.0.1:PORT --out PLAN --layout L [options]
//     --layout groups  --groups G --members M --senders S   (defaults 4, 50, 1)
//         G*M users; G group chats, each created by its first member with the other M-1; the
//         first S members of each group are senders, the rest receivers.
//     --layout direct  --pairs N   (default 64)
//         2N users; N 1:1 chats, each created by its sender with its receiver.
//     --layout users   --users N   (default 100)
//         N users, written as `user <userId> <token>` lines (for an idle-socket tool).
//     --concurrency C   parallel requests (default 32)
//     --tag T           makes the emails unique: b<T>-<n>@bench.test (default random)
//
// Plan lines (after one `#` comment line): `chat <i> <chatId> 0`, then `sender|receiver <i>
// <userId> <token>`; a fresh chat has no messages, so its seq base is 0. Any refused request
// prints its status and body and exits 1. Stdout gets one JSON line: {layout, users, chats,
// token, userId, seconds} (token/userId of the first user).
import { randomBytes } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";

const PASSWORD = "bench-password-1";
const REQUEST_TIMEOUT_MS = 120_000;

function usage(problem) {
  if (problem) console.error(`setup: ${problem}`);
  console.error(
    "usage: node bench/product/setup.mjs --url http://HOST:PORT --out PLAN --layout groups|direct|users\n" +
      "       [--groups G] [--members M] [--senders S] [--pairs N] [--users N]\n" +
      "       [--concurrency C] [--tag T]");
  process.exit(problem ? 2 : 0);
}

function parseArgs(argv) {
  const o = { groups: 4, members: 50, senders: 1, pairs: 64, users: 100, concurrency: 32 };
  const ints = ["groups", "members", "senders", "pairs", "users", "concurrency"];
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") usage();
    if (!arg.startsWith("--")) usage(`unexpected argument: ${arg}`);
    const key = arg.slice(2);
    if (i + 1 >= argv.length) usage(`${arg} needs a value`);
    const value = argv[++i];
    if (ints.includes(key)) {
      if (!/^\d+$/.test(value) || Number(value) < 1) usage(`${arg} must be a positive integer`);
      o[key] = Number(value);
    } else if (["url", "out", "layout", "tag"].includes(key)) {
      o[key] = value;
    } else {
      usage(`unknown option: ${arg}`);
    }
  }
  if (!o.url) usage("--url is required");
  if (!o.out) usage("--out is required");
  if (!["groups", "direct", "users"].includes(o.layout)) usage("--layout must be groups, direct or users");
  o.url = o.url.replace(/\/+$/, "");
  if (!/^https?:\/\//.test(o.url)) o.url = `http://${o.url}`;
  if (!URL.canParse(o.url)) usage(`bad --url: ${o.url}`);
  o.tag ??= randomBytes(4).toString("hex");
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(o.tag)) usage("--tag must be 1-40 of A-Z a-z 0-9 _ -");
  if (o.layout === "groups") {
    // The servers want at least 2 members besides the creator.
    if (o.members < 3) usage("--members must be at least 3 (a group needs 2 members besides its creator)");
    if (o.members > 1000) usage("--members must be at most 1000 (the servers' group limit)");
    if (o.senders > o.members) usage("--senders must be at most --members");
  }
  return o;
}

function fail(message) {
  console.error(`setup: FAIL: ${message}`);
  process.exit(1);
}

// node:http with a keep-alive pool rather than fetch: fetch costs about 4x the client CPU per
// request, and the client was the bottleneck when registering thousands of users.
let agent, transport;
function request(method, path, payload, headers) {
  return new Promise((resolve, reject) => {
    const req = transport.request(options.url + path, { method, headers, agent }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode, text }));
      res.on("error", reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

// One REST call; anything but the expected status (or a network error) ends the run.
async function call(method, path, body, token, expect) {
  const payload = JSON.stringify(body);
  const headers = {
    "Content-Type": "application/json", Accept: "application/json",
    "Content-Length": Buffer.byteLength(payload),
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await request(method, path, payload, headers);
  } catch (e) {
    fail(`${method} ${path}: ${e.message}`);
  }
  const { status, text } = res;
  if (status !== expect) fail(`${method} ${path}: status ${status} (expected ${expect}): ${text}`);
  try {
    return JSON.parse(text);
  } catch {
    fail(`${method} ${path}: status ${status} but the body is not JSON: ${text.slice(0, 500)}`);
  }
}

// Runs fn(i) for i in [0, n) with at most `concurrency` in flight; results in index order.
async function pool(n, concurrency, fn) {
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}

async function registerUsers(n) {
  return pool(n, options.concurrency, async (i) => {
    const u = await call("POST", "/api/user",
                         { name: `u${i}`, email: `b${options.tag}-${i}@bench.test`, password: PASSWORD },
                         null, 201);
    if (typeof u._id !== "string" || typeof u.token !== "string") {
      fail(`POST /api/user: no _id/token in ${JSON.stringify(u)}`);
    }
    return { id: u._id, token: u.token };
  });
}

// The plan's seq base of 0 is only right for a chat without messages.
function checkChat(chat, what, members) {
  if (typeof chat._id !== "string") fail(`${what}: no _id in ${JSON.stringify(chat).slice(0, 500)}`);
  if (chat.latestMessage) fail(`${what}: chat ${chat._id} already has messages (seq base would not be 0)`);
  if (!Array.isArray(chat.users) || chat.users.length !== members) {
    fail(`${what}: chat ${chat._id} has ${chat.users?.length} members, expected ${members}`);
  }
  return chat._id;
}

async function setupGroups() {
  const { groups: G, members: M, senders: S } = options;
  const users = await registerUsers(G * M);
  const chats = await pool(G, options.concurrency, async (g) => {
    const members = users.slice(g * M, (g + 1) * M);
    const chat = await call("POST", "/api/chat/group",
                            { name: `g${g}`, users: JSON.stringify(members.slice(1).map((u) => u.id)) },
                            members[0].token, 200);
    return checkChat(chat, "POST /api/chat/group", M);
  });
  const lines = chats.map((id, g) => `chat ${g} ${id} 0`);
  for (let g = 0; g < G; ++g) {
    for (let m = 0; m < M; ++m) {
      const u = users[g * M + m];
      lines.push(`${m < S ? "sender" : "receiver"} ${g} ${u.id} ${u.token}`);
    }
  }
  return { users, chats, lines };
}

async function setupDirect() {
  const N = options.pairs;
  const users = await registerUsers(2 * N); // 2i sends, 2i+1 receives
  const chats = await pool(N, options.concurrency, async (i) => {
    const chat = await call("POST", "/api/chat", { userId: users[2 * i + 1].id }, users[2 * i].token, 200);
    return checkChat(chat, "POST /api/chat", 2);
  });
  const lines = chats.map((id, i) => `chat ${i} ${id} 0`);
  chats.forEach((_, i) => {
    lines.push(`sender ${i} ${users[2 * i].id} ${users[2 * i].token}`);
    lines.push(`receiver ${i} ${users[2 * i + 1].id} ${users[2 * i + 1].token}`);
  });
  return { users, chats, lines };
}

async function setupUsers() {
  const users = await registerUsers(options.users);
  return { users, chats: [], lines: users.map((u) => `user ${u.id} ${u.token}`) };
}

const options = parseArgs(process.argv.slice(2));
transport = options.url.startsWith("https:") ? https : http;
agent = new transport.Agent({ keepAlive: true, maxSockets: options.concurrency });
const started = performance.now();
const setup = { groups: setupGroups, direct: setupDirect, users: setupUsers }[options.layout];
const { users, chats, lines } = await setup();
const seconds = (performance.now() - started) / 1000;

// Written whole then renamed, so a reader never sees half a plan.
const header = `# setup.mjs layout=${options.layout} tag=${options.tag} url=${options.url} users=${users.length} chats=${chats.length}`;
const tmp = `${options.out}.tmp-${process.pid}`;
writeFileSync(tmp, [header, ...lines].join("\n") + "\n");
renameSync(tmp, options.out);
agent.destroy(); // idle keep-alive sockets would hold the process open

console.log(JSON.stringify({
  layout: options.layout, users: users.length, chats, token: users[0].token, userId: users[0].id,
  seconds: Math.round(seconds * 1000) / 1000,
}));
