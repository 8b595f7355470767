// Small pieces the Node benchmark drivers share (bench/cluster/cluster_bench.mjs; the same shapes as
// bench/product/product_bench.mjs): building the C++ tools, running one and parsing its `RESULT`
// line, starting a chatd on a free port, CPU time from /proc, the machine's description, number
// formats, and replacing a generated block of docs/BENCHMARKS.md.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TOOLS = path.join(ROOT, "build/bench");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tmpBase = () => process.env.TMPDIR || "/tmp";

// Builds bench/<source> with g++ into build/bench/<name> when the binary is older than its source
// or the shared client header (as product_bench.mjs does).
export function buildTool(name, source, { libs = [], log = () => {} } = {}) {
  fs.mkdirSync(TOOLS, { recursive: true });
  const out = path.join(TOOLS, name);
  const src = path.join(ROOT, source);
  const stale = !fs.existsSync(out) || fs.statSync(out).mtimeMs < Math.max(
    fs.statSync(src).mtimeMs, fs.statSync(path.join(ROOT, "bench/common/sio_client.h")).mtimeMs);
  if (stale) {
    log(`building ${name}`);
    execFileSync("g++", ["-O2", "-std=c++20", src, "-o", out, "-pthread", ...libs],
      { stdio: "inherit" });
  }
  return out;
}

// Children (tools, servers) that must not outlive the driver: killed (SIGKILL) on any exit.
const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

// `RESULT k=v k=v ...` -> {k: v} (numbers as numbers).
export function parseResult(line) {
  const r = {};
  for (const kv of line.slice(7).trim().split(/\s+/)) {
    const at = kv.indexOf("=");
    const v = kv.slice(at + 1);
    r[kv.slice(0, at)] = v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v;
  }
  return r;
}

// Runs a tool to completion; resolves {code, stdout, stderr, result} with result the parsed last
// RESULT line of stdout. onStderr(chunk) sees stderr as it comes; rawFile, when given, gets the
// whole transcript.
export function runTool(cmd, args, { cwd = ROOT, env, onStderr, rawFile } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env } });
    children.add(child);
    child.on("exit", () => children.delete(child));
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (onStderr) onStderr(String(d));
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (rawFile) fs.writeFileSync(rawFile, `$ ${cmd} ${args.join(" ")}\n${stdout}\n--- stderr\n${stderr}`);
      const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith("RESULT "));
      resolve({ code, stdout, stderr, result: line ? parseResult(line) : null });
    });
  });
}


// Every rate limit off: a benchmark drives a few users and addresses far beyond what a person
// does (docs/SECURITY.md); bench/security/session_cost.mjs measures what the limits cost.
export const NO_LIMIT_ARGS = ["--rate-login-ip", "--rate-login-account", "--rate-login-known-ip",
  "--rate-register-ip", "--rate-otp-account", "--rate-send-user", "--rate-rest-ip",
  "--rate-socket-connect-ip", "--rate-socket-events"].flatMap((flag) => [flag, "off"]);

// Starts `bin ...args` (a chatd with --port 0) and resolves once it prints its URL:
// {child, pid, url, hostPort, stop()}. stop() sends SIGTERM, SIGKILL after 5 s.
// A JSON REST call to chatd; anything but 2xx throws with the status and body.
export async function call(url, method, p, token, body) {
  const res = await fetch(url + p, {
    method, body: body && JSON.stringify(body),
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function startChatd(bin, args, { timeoutMs = 30000 } = {}) {
  const child = spawn(bin, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chatd did not start: ${out}`)), timeoutMs);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/chatd listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", (code) => reject(new Error(`chatd exited (${code}): ${out}`)));
  });
  child.stdout.removeAllListeners("data");
  child.stdout.resume();
  child.stderr.removeAllListeners("data");
  child.stderr.resume();
  return {
    child, url, pid: child.pid, hostPort: url.replace("http://", ""),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

// Users and chats over REST (bench/product/setup.mjs); resolves {plan, info}.
export async function setupPlan(url, plan, args) {
  const r = await runTool("node", [path.join(ROOT, "bench/product/setup.mjs"), "--url", url,
    "--out", plan, ...args]);
  if (r.code !== 0) throw new Error(`set-up on ${url} failed: ${r.stderr}${r.stdout}`);
  return { plan, info: JSON.parse(r.stdout.trim().split("\n").pop()) };
}

// send_load checks that each chat's acked seqs start right after the plan's base: before every
// run the bases are brought up to the chats' newest seq (read over REST, as a member).
export async function refreshPlan(url, plan) {
  const lines = fs.readFileSync(plan, "utf8").split("\n");
  const tokens = {};
  for (const l of lines) {
    const [kind, chat, , token] = l.split(" ");
    if ((kind === "sender" || kind === "receiver") && !tokens[chat]) tokens[chat] = token;
  }
  const out = [];
  for (const l of lines) {
    const [kind, index, id] = l.split(" ");
    if (kind !== "chat") {
      out.push(l);
      continue;
    }
    const res = await fetch(`${url}/api/message/${id}?limit=1`,
      { headers: { Authorization: `Bearer ${tokens[index]}` } });
    if (!res.ok) throw new Error(`history of ${id} at ${url}: ${res.status} ${await res.text()}`);
    const page = await res.json();
    out.push(`chat ${index} ${id} ${page.length ? page[page.length - 1].seq : 0}`);
  }
  fs.writeFileSync(plan, out.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// CPU time from /proc (seconds).
export const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

// {cpu: utime+stime, children: cutime+cstime (reaped children), ppid}, or null when gone.
export function procTimes(pid) {
  let f;
  try {
    f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return {
    ppid: Number(x[1]), cpu: (Number(x[11]) + Number(x[12])) / CLK_TCK,
    children: (Number(x[13]) + Number(x[14])) / CLK_TCK,
  };
}

// `root` and every process below it (e.g. a postmaster and its backends).
export function processTree(root) {
  const byParent = new Map();
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const t = procTimes(e);
    if (!t) continue;
    if (!byParent.has(t.ppid)) byParent.set(t.ppid, []);
    byParent.get(t.ppid).push(Number(e));
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]) || []));
  return out;
}

// The machine's busy and total CPU time (seconds, all cores) from /proc/stat.
export function machineTimes() {
  const v = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0) / CLK_TCK;
  return { total, busy: total - (v[3] + v[4]) / CLK_TCK };
}

// A group's CPU clock: `pids()` names its processes at each sample (so a tree picks up new
// members); a process that exits between two samples still counts through its parent's reaped
// children's time when `withChildren` (its parent is in the group).
export function cpuGroup(pids, { withChildren = false } = {}) {
  return {
    sample() {
      const s = new Map();
      for (const pid of pids()) {
        const t = procTimes(pid);
        if (t) s.set(pid, t.cpu + (withChildren ? t.children : 0));
      }
      return s;
    },
    // CPU seconds between two samples: processes born in between count from zero.
    // With withChildren, one that exited in between is taken back out at its first sample: its
    // whole life reappears in its parent's reaped-children time.
    delta(a, b) {
      let d = 0;
      for (const [pid, v] of b) d += v - (a.get(pid) ?? 0);
      if (withChildren) for (const [pid, v] of a) if (!b.has(pid)) d -= v;
      return d;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Report helpers.
export const f0 = (v) => (v == null || Number.isNaN(v) ? "-" : Math.round(v).toLocaleString("en-US"));
export const f1 = (v) => (v == null || Number.isNaN(v) ? "-" : v.toFixed(1));
export const f2 = (v) => (v == null || Number.isNaN(v) ? "-" : v.toFixed(2));
export const ms = (us) => (us == null ? "-" : (us / 1000).toFixed(2));
export const verdict = (ok) => (ok ? "**met**" : "**not met**");

function sh(cmd) {
  try {
    return execFileSync("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return "";
  }
}

// "2 CPUs (AMD EPYC), 24 GiB RAM, Linux ..." (nproc, the CPU model from /proc/cpuinfo, RAM).
export function machine() {
  const info = fs.readFileSync("/proc/cpuinfo", "utf8");
  const model = (info.match(/^model name\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0]?.model || "?";
  const nproc = sh("nproc") || String(os.cpus().length);
  return `${nproc} CPUs (${model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ` +
    `Linux ${os.release()}, Node ${process.version}`;
}

export function gitCommit() {
  const c = sh(`git -C '${ROOT}' rev-parse --short HEAD`);
  const dirty = sh(`git -C '${ROOT}' status --porcelain --untracked-files=no`);
  return c ? `${c}${dirty ? " + uncommitted changes" : ""}` : "?";
}

export const shell = sh;

// Replaces the text between `begin` and `end` in `file` with `md`; when the markers are not there
// yet, `insert(doc, block)` places the new block.
export function writeBlock(file, begin, end, md, insert) {
  const doc = fs.readFileSync(file, "utf8");
  const block = `${begin}\n${md}\n${end}`;
  const at = doc.indexOf(begin), stop = doc.indexOf(end);
  fs.writeFileSync(file, at >= 0 && stop > at
    ? doc.slice(0, at) + block + doc.slice(stop + end.length)
    : insert(doc, block));
}
