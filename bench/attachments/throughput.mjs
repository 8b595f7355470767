#!/usr/bin/env node
// Attachment throughput on the real chatd (issue 12, point 6), embedded SQLite, files in the data
// directory:
//
//   node bench/attachments/throughput.mjs [--mib 20] [--files 12] [--concurrency 2]
//        [--images 60] [--width 1600] [--height 1200] [--thumbnail-threads 1,2]
//
// Uploads: --files raw uploads of --mib MiB each (random bytes, each file different, so nothing is
// deduplicated), --concurrency at a time. Downloads: every file read back whole, then as many
// 1 MiB ranges at random offsets. Thumbnails: --images PNGs of --width x --height uploaded one
// after another, for each --thumbnail-threads value (a chatd per value). For each phase: MB/s
// (MiB per second of wall time) and chatd's CPU time per MiB or per image (from /proc). The
// client runs on the same 2 cores, so the figures include its competition.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ROOT, NO_LIMIT_ARGS, startChatd, tmpBase, call, procTimes, machine, f1, f2 } from
  "../common/bench.mjs";
import { makePng } from "../../tests/realtime/test_files.mjs";

const CHATD = process.env.CHATD_BIN || path.join(ROOT, "build/release/chatd");
const MIB = 1 << 20;

const opt = { mib: 20, files: 12, concurrency: 2, images: 60, width: 1600, height: 1200,
  "thumbnail-threads": "1,2" };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "");
  if (!(key in opt)) throw new Error(`unknown option ${process.argv[i]}`);
  opt[key] = key === "thumbnail-threads" ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

async function start(extra = []) {
  const dir = fs.mkdtempSync(path.join(tmpBase(), "chatd-attach-bench-"));
  const server = await startChatd(CHATD, ["--host", "127.0.0.1", "--port", "0", "--data-dir", dir,
    "--log-level", "warn", "--password-hash-ops", "1", "--password-hash-memory-kib", "8",
    "--max-attachment-bytes", String(Math.max(opt.mib, 1) * MIB * 2), ...NO_LIMIT_ARGS, ...extra]);
  const user = await call(server.url, "POST", "/api/user", null,
    { name: "Bench", email: "bench@bench.test", password: "bench-password" });
  return { server, dir, token: user.token };
}

async function stop({ server, dir }) {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

// Runs `job(i)` for i < count, `concurrency` at a time; resolves {seconds, cpu} (chatd's CPU).
async function measure(pid, count, concurrency, job) {
  const cpu0 = procTimes(pid).cpu;
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, cpu: procTimes(pid).cpu - cpu0 };
}

async function upload(url, token, body, name) {
  const r = await fetch(`${url}/api/attachment?name=${encodeURIComponent(name)}`, {
    method: "POST", headers: { authorization: `Bearer ${token}` }, body,
  });
  if (r.status !== 201) throw new Error(`upload ${name}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function download(url, token, id, range) {
  const headers = { authorization: `Bearer ${token}`, ...(range ? { range } : {}) };
  const r = await fetch(`${url}/api/attachment/${id}`, { headers });
  if (r.status !== (range ? 206 : 200)) throw new Error(`download ${id}: ${r.status}`);
  return (await r.arrayBuffer()).byteLength;
}

async function files() {
  const run = await start();
  const { server, token } = run;
  const base = crypto.randomBytes(opt.mib * MIB);
  const bodies = Array.from({ length: opt.files }, (_, i) => {
    const body = Buffer.from(base);
    body.writeUInt32BE(i, 0);  // each file its own bytes: no dedupe
    return body;
  });
  const ids = [];
  const up = await measure(server.pid, opt.files, opt.concurrency, async (i) => {
    ids[i] = (await upload(server.url, token, bodies[i], `file-${i}.bin`))._id;
  });
  let bytes = 0;
  const whole = await measure(server.pid, opt.files, opt.concurrency, async (i) => {
    const read = await download(server.url, token, ids[i]);
    bytes += read;
  });
  if (bytes !== opt.files * opt.mib * MIB) throw new Error(`read ${bytes} bytes back`);
  const ranges = opt.files * opt.mib;
  const ranged = await measure(server.pid, ranges, opt.concurrency, async (i) => {
    const first = crypto.randomInt(opt.mib * MIB - MIB);
    await download(server.url, token, ids[i % ids.length], `bytes=${first}-${first + MIB - 1}`);
  });
  await stop(run);
  const total = opt.files * opt.mib;
  const row = (what, m) =>
    `| ${what} | ${f1(total / m.seconds)} | ${f2((m.cpu * 1000) / total)} |`;
  return [
    `| phase (${opt.files} files of ${opt.mib} MiB, ${opt.concurrency} at a time) | MiB/s | chatd CPU ms per MiB |`,
    "|---|---|---|",
    row("upload (raw body, streamed to disk, SHA-256, libmagic)", up),
    row("download, whole files", whole),
    row(`download, ${ranges} random 1 MiB ranges`, ranged),
  ].join("\n");
}

async function thumbnails(threads) {
  const run = await start(["--thumbnail-threads", String(threads)]);
  const { server, token } = run;
  const images = Array.from({ length: opt.images }, () => makePng(opt.width, opt.height));
  const mib = images.reduce((n, b) => n + b.length, 0) / MIB;
  const m = await measure(server.pid, opt.images, Math.max(threads, 1), async (i) => {
    const a = await upload(server.url, token, images[i], `image-${i}.png`);
    if (!a.thumbnail) throw new Error("no thumbnail");
  });
  await stop(run);
  return `| ${threads} | ${opt.images} PNGs ${opt.width}x${opt.height} (${f1(mib)} MiB) | ` +
    `${f1(opt.images / m.seconds)} | ${f1((m.cpu * 1000) / opt.images)} |`;
}

const out = [`Machine: ${machine()}; ${new Date().toISOString().slice(0, 10)}`, "", await files(), "",
  "| thumbnail threads | images | uploads with thumbnail / s | chatd CPU ms per image |",
  "|---|---|---|---|"];
for (const threads of String(opt["thumbnail-threads"]).split(",").map(Number)) {
  out.push(await thumbnails(threads));
}
console.log(out.join("\n"));
