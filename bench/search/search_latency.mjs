#!/usr/bin/env node
// Message search and history latency as the store grows (issue 12, point 6), on the real chatd
// with its embedded SQLite store:
//
//   node bench/search/search_latency.mjs [--sizes 10000,100000,1000000] [--queries 200]
//
// For each size: chatd creates its schema and three users (Ann, Ben, Cat) in 20 groups; chatd stops;
// sqlite3 inserts `size` messages into those groups in one transaction (chatd's own triggers
// index each one, as they do for a send); chatd starts again and Ann runs --queries searches of
// each kind one at a time over REST, then as many history pages. Every message is in a chat Ann
// is in, the worst case for a search, which ranks every match in the caller's chats.
//
// Contents are eight words: one of 10 ("c0".."c9", each in a tenth of the messages), one of 100
// ("m0".."m99"), six of 5000 ("r0".."r4999"). Query kinds: rare (one r word), common (one c word),
// two words (c and r), prefix ("r12*"), phrase (two adjacent r words of a stored message).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ROOT, NO_LIMIT_ARGS, startChatd, tmpBase, call } from "../common/bench.mjs";

const CHATD = process.env.CHATD_BIN || path.join(ROOT, "build/release/chatd");
const CHATS = 20;

const opt = { sizes: "10000,100000,1000000", queries: 200 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = key === "sizes" ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

const chatdArgs = (dir) => ["--host", "127.0.0.1", "--port", "0", "--data-dir", dir,
  "--log-level", "warn", "--password-hash-ops", "1", "--password-hash-memory-kib", "8",
  ...NO_LIMIT_ARGS];

const register = (url, name) => call(url, "POST", "/api/user", null,
  { name, email: `${name}@bench.test`, password: "bench-password" });

function sql(dir, text) {
  return execFileSync("sqlite3", ["-cmd", ".timeout 5000", path.join(dir, "chatd.db"), text],
    { maxBuffer: 1 << 26 }).toString().trim();
}

// `size` messages spread over the chats (seqs gapless per chat), sent by Ann and Ben in turn.
function seed(dir, chats, ann, ben, size) {
  const ids = chats.map((c) => `'${c}'`).join(",");
  const r = (n) => `'r' || (abs(random()) % ${n})`;
  sql(dir, `BEGIN;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${size}),
chat(k, id) AS (SELECT row_number() OVER () - 1, value FROM json_each('[${chats.map((c) => `"${c}"`).join(",")}]'))
INSERT INTO messages (chat_id, seq, id, sender_id, content, created_at)
  SELECT chat.id, n.i / ${chats.length} + 1, printf('%024x', n.i + 1099511627776),
         CASE n.i % 2 WHEN 0 THEN '${ann}' ELSE '${ben}' END,
         'c' || (abs(random()) % 10) || ' m' || (abs(random()) % 100) || ' ' || ${r(5000)} || ' ' ||
         ${r(5000)} || ' ' || ${r(5000)} || ' ' || ${r(5000)} || ' ' || ${r(5000)} || ' ' || ${r(5000)},
         1700000000000 + n.i
    FROM n JOIN chat ON chat.k = n.i % ${chats.length};
UPDATE chats SET last_seq = (SELECT max(seq) FROM messages WHERE chat_id = chats.id) WHERE id IN (${ids});
COMMIT;`);
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function timed(n, request) {
  const latencies = [];
  for (let i = 0; i < n; i += 1) {
    const started = performance.now();
    await request(i);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

async function measure(size) {
  const dir = fs.mkdtempSync(path.join(tmpBase(), "chatd-search-bench-"));
  try {
    let srv = await startChatd(CHATD, chatdArgs(dir));
    const ann = await register(srv.url, "ann");
    const ben = await register(srv.url, "ben");
    const cat = await register(srv.url, "cat");
    const chats = [];
    for (let i = 0; i < CHATS; i += 1) {
      const users = JSON.stringify([ben._id, cat._id]);
      chats.push((await call(srv.url, "POST", "/api/chat/group", ann.token, { name: `group${i}`, users }))._id);
    }
    await srv.stop();
    const seeding = performance.now();
    seed(dir, chats, ann._id, ben._id, size);
    const seedSeconds = (performance.now() - seeding) / 1000;
    const bytes = fs.statSync(path.join(dir, "chatd.db")).size;
    const phrase = sql(dir, "SELECT content FROM messages WHERE seq = 1 LIMIT 1").split(" ").slice(2, 4).join(" ");

    srv = await startChatd(CHATD, chatdArgs(dir));
    const token = ann.token;
    const search = (q) => call(srv.url, "GET", `/api/message/search?q=${encodeURIComponent(q)}&limit=20`, token);
    const kinds = {
      rare: (i) => search(`r${(i * 7919) % 5000}`),
      common: (i) => search(`c${i % 10}`),
      "two words": (i) => search(`c${i % 10} r${(i * 7919) % 5000}`),
      prefix: (i) => search(`r${10 + (i % 90)}*`),
      phrase: () => search(`"${phrase}"`),
    };
    const row = { size, seedSeconds, mb: bytes / 1e6 };
    for (const [kind, request] of Object.entries(kinds)) {
      await timed(10, request);  // warm-up
      row[kind] = await timed(opt.queries, request);
    }
    const perChat = Math.floor(size / CHATS);
    row.history = await timed(opt.queries, (i) => call(srv.url, "GET",
      `/api/message/${chats[i % CHATS]}?limit=50&before=${1 + ((i * 7919) % Math.max(1, perChat))}`, token));
    await srv.stop();
    return row;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const f = (v) => v.toFixed(2);
console.log(`search latency, ${opt.queries} queries of each kind, one at a time (ms, p50 / p99)`);
console.log("| messages | db MB | seed s | rare | common | two words | prefix | phrase | history page |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const size of opt.sizes.split(",").map(Number)) {
  const r = await measure(size);
  const cell = (k) => `${f(r[k].p50)} / ${f(r[k].p99)}`;
  console.log(`| ${size.toLocaleString("en-US")} | ${r.mb.toFixed(0)} | ${r.seedSeconds.toFixed(1)} | ${cell("rare")} | ` +
    `${cell("common")} | ${cell("two words")} | ${cell("prefix")} | ${cell("phrase")} | ${cell("history")} |`);
}
