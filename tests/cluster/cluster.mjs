// A local chatd cluster for end-to-end tests: PostgreSQL, Redis, N chatd nodes and HAProxy in
// front, all on loopback, run by scripts/cluster.sh in a temporary CLUSTER_DIR, HAProxy on a free
// port. Whatever a test does, every cluster made here is brought down when the process exits.
//
// Run: CHATD_BIN=/abs/path/to/chatd node --test --test-concurrency=1 tests/cluster/
//   CHATD_TIME_SCALE   multiplies the time each process gets to become ready (as in the harness)
//   CHATD_THREADS      if set, every node runs with `--threads $CHATD_THREADS`
//   CHATD_CLUSTER_KEEP=1 (or CHATD_E2E_KEEP=1) keeps the cluster's directory after down()
//
//   import { startCluster } from '../cluster/cluster.mjs';
//   const cluster = await startCluster({ nodes: 3 });   // resolves once HAProxy serves /healthz
//   cluster.url                                          // http://127.0.0.1:<port>, through HAProxy
//   cluster.nodeUrl('node2')                             // one node, directly
//   await cluster.kill('node2');                         // SIGKILL (also stop(): SIGTERM, graceful)
//   await cluster.start('node2');                        // back on the same port, /readyz 200
//   cluster.processes()                                  // [{name, pid, port}] of the running ones
//   await cluster.down();
//
// Names: postgres, redis, node1..nodeN, haproxy. Node arguments pass through CHATD_ARGS, which
// cluster.sh splits on blanks, so no argument may contain one.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatdBin, FAST_ARGS, NO_LIMIT_ARGS, mkTmpDir, sleep } from '../e2e/harness.mjs';

export const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/cluster.sh');
const SCALE = Number(process.env.CHATD_TIME_SCALE ?? 1) || 1;
const KEEP = Boolean(process.env.CHATD_CLUSTER_KEEP || process.env.CHATD_E2E_KEEP);

/** A TCP port free on 127.0.0.1 right now (the kernel's choice; someone may take it later). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Clean-up on exit: 'exit' handlers must be synchronous, hence spawnSync. Signals that would end
// the process without an 'exit' event get the same clean-up, then end it as they would have.

const live = new Set();
let hooked = false;

function downAllSync() {
  for (const c of live) c.downSync();
}

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', downAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      downAllSync();
      process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------

export class Cluster {
  /**
   * @param {object} [opts]
   * @param {number} [opts.nodes=3]        chatd nodes (CLUSTER_NODES; 0: PostgreSQL, Redis, HAProxy)
   * @param {string} [opts.chatdBin]       default: $CHATD_BIN
   * @param {string[]} [opts.chatdArgs]    extra node arguments (default: cheap Argon2id, as the harness)
   * @param {number} [opts.port]           HAProxy's port (default: a free one)
   * @param {number} [opts.readyTimeoutS]  per process (default 30, times CHATD_TIME_SCALE)
   * @param {object} [opts.env]            more environment for cluster.sh and the processes
   */
  constructor(opts = {}) {
    this.nodes = opts.nodes ?? 3;
    this.chatdBin = this.nodes > 0 ? (opts.chatdBin ?? chatdBin()) : (opts.chatdBin ?? process.env.CHATD_BIN ?? '');
    const args = [...(opts.chatdArgs ?? [...FAST_ARGS, ...NO_LIMIT_ARGS])];
    const threads = process.env.CHATD_THREADS;
    if (threads && !args.some((a) => a === '--threads' || String(a).startsWith('--threads='))) args.push('--threads', threads);
    const blank = args.find((a) => /\s/.test(String(a)) || String(a) === '');
    if (blank !== undefined) throw new Error(`chatd argument ${JSON.stringify(blank)}: cluster.sh splits CHATD_ARGS on blanks`);
    this.chatdArgs = args.map(String);
    this.port = opts.port ?? null;
    this.readyTimeoutS = Math.round((opts.readyTimeoutS ?? 30) * SCALE);
    this.extraEnv = opts.env ?? {};
    this.dir = mkTmpDir('chatd-cluster-');
    // PostgreSQL runs as the `postgres` user, which must traverse this directory (mkdtemp: 0700).
    fs.chmodSync(this.dir, 0o711);
    this.isUp = false;
  }

  /** HAProxy's URL: what clients use. */
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Names of the node processes: node1..nodeN. */
  get nodeNames() {
    return Array.from({ length: this.nodes }, (_, i) => `node${i + 1}`);
  }

  env() {
    return {
      ...process.env,
      ...this.extraEnv,
      CLUSTER_DIR: this.dir,
      CLUSTER_PORT: String(this.port),
      CLUSTER_NODES: String(this.nodes),
      CLUSTER_READY_TIMEOUT: String(this.readyTimeoutS),
      CHATD_BIN: this.chatdBin,
      CHATD_ARGS: this.chatdArgs.join(' '),
    };
  }

  /**
   * Runs `cluster.sh ...args`; resolves {code, stdout, stderr}. A non-zero exit rejects, with
   * cluster.sh's stderr (which names the process and quotes its log) in the message, unless
   * `okCodes` lists it.
   */
  run(args, { okCodes = [0] } = {}) {
    return new Promise((resolve, reject) => {
      const p = spawn('bash', [SCRIPT, ...args], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      p.on('error', reject);
      p.on('close', (code, signal) => {
        if (okCodes.includes(code)) resolve({ code, stdout, stderr });
        else reject(new Error(`cluster.sh ${args.join(' ')} failed (${signal ?? `exit ${code}`}) in ${this.dir}:\n${stderr}`));
      });
    });
  }

  /**
   * Starts the cluster; resolves with the load balancer's URL once HAProxy answers /healthz
   * through to a node. A port taken by someone else between our pick and HAProxy's bind gets
   * replaced (twice at most).
   */
  async up() {
    hookExit();
    live.add(this);
    for (let attempt = 1; ; attempt++) {
      this.port ??= await freePort();
      try {
        await this.run(['up']);
        this.isUp = true;
        return this.url;
      } catch (err) {
        if (attempt >= 3 || !/CLUSTER_PORT\) is in use|cannot bind socket/.test(err.message)) throw err;
        this.port = null;
      }
    }
  }

  /** Stops every process of the cluster and removes its directory (unless kept). Idempotent. */
  /**
   * Stops everything. Rejects when a node's log holds a sanitizer report (ASan, UBSan, TSan):
   * a node that reported at exit would otherwise go unnoticed.
   */
  async down() {
    if (!live.has(this)) return;
    let reports = [];
    try {
      await this.run(['down']);
      reports = this.sanitizerReports();
    } finally {
      this.forget();
    }
    if (reports.length) throw new Error(`sanitizer reports:\n${reports.join('\n\n')}`);
  }

  /** The sanitizer reports in the nodes' logs, each with its log's name. */
  sanitizerReports() {
    const reports = [];
    for (let i = 1; i <= this.nodes; i++) {
      const log = this.log(`node${i}`);
      const at = log.search(/(ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error):/);
      if (at >= 0) reports.push(`node${i}: ${log.slice(at, at + 4000)}`);
    }
    return reports;
  }

  /** down() for the 'exit' handler: synchronous, never throws. */
  downSync() {
    if (!live.has(this)) return;
    try {
      spawnSync('bash', [SCRIPT, 'down'], { env: this.env(), stdio: 'ignore', timeout: 120000 });
    } catch { /* nothing more to do on the way out */ }
    this.forget();
  }

  forget() {
    live.delete(this);
    this.isUp = false;
    if (!KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  kill(name) { return this.run(['kill', name]); }

  /** Graceful stop (chatd: SIGTERM and drain). Resolves once the process is gone. */
  stop(name) { return this.run(['stop', name]); }

  /** Starts a stopped or killed process again on its old port; resolves once it is ready. */
  start(name) { return this.run(['start', name]); }

  /** cluster.sh status: one line per process; never rejects for dead processes. */
  async status() {
    return (await this.run(['status'], { okCodes: [0, 3] })).stdout;
  }

  /** The running processes, from $CLUSTER_DIR/processes: [{name, pid, port}]. */
  processes() {
    let text;
    try {
      text = fs.readFileSync(path.join(this.dir, 'processes'), 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') return [];
      throw err;
    }
    return text.split('\n').filter(Boolean).map((line) => {
      const [name, pid, port] = line.split(' ');
      return { name, pid: Number(pid), port: Number(port) };
    });
  }

  /** A process's port (running or not): nodes keep theirs across kill/start. */
  portOf(name) {
    const file = name === 'postgres' ? 'postgres/port' : `${name}/port`;
    return Number(fs.readFileSync(path.join(this.dir, file), 'utf8').trim());
  }

  /** One node's own URL, bypassing HAProxy. */
  nodeUrl(name) {
    return `http://127.0.0.1:${this.portOf(name)}`;
  }

  /** The PostgreSQL URL the nodes use. */
  databaseUrl() {
    return `postgresql://chatd@127.0.0.1:${this.portOf('postgres')}/chatd`;
  }

  /** The Redis URL the nodes use. */
  redisUrl() {
    return `redis://127.0.0.1:${this.portOf('redis')}`;
  }

  /**
   * The nodes Redis lists as holding a client of `userId` (keys.h's presence hash): a node's
   * connect acknowledgement goes out before its presence reaches Redis, so tests that race a
   * client against presence wait for this.
   */
  presenceNodes(userId) {
    const out = spawnSync('redis-cli', ['-p', String(this.portOf('redis')), '--raw', 'HKEYS',
      `chatd:presence:${userId}`], { encoding: 'utf8', timeout: 10000 });
    if (out.status !== 0) throw new Error(`redis-cli: ${out.stderr}`);
    return out.stdout.split('\n').filter(Boolean).sort();
  }

  /** A process's log (all of it), for diagnostics. */
  log(name) {
    const file = name === 'postgres' ? 'postgres/postgres.log' : `${name}/${name}.log`;
    try {
      return fs.readFileSync(path.join(this.dir, file), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * HAProxy's view of the nodes, from its admin socket: {node1: 'UP', node2: 'DOWN', ...}
   * ('UP', 'DOWN', 'MAINT', or a transition such as 'UP 1/2').
   */
  lbStates() {
    return this.lbStat('status');
  }

  /** HTTP requests HAProxy sent to each node so far: {node1: 12, ...}. */
  async lbRequests() {
    const totals = await this.lbStat('req_tot');
    return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Number(v)]));
  }

  /** One column of HAProxy's `show stat` for each server of the `nodes` backend. */
  lbStat(column) {
    const sock = path.join(this.dir, 'haproxy', 'admin.sock');
    return new Promise((resolve, reject) => {
      const c = net.connect(sock);
      let out = '';
      c.on('connect', () => c.end('show stat\n'));
      c.on('data', (d) => { out += d; });
      c.on('error', reject);
      c.on('close', () => {
        const lines = out.split('\n').filter(Boolean);
        const head = (lines.shift() ?? '').replace(/^# /, '').split(',');
        const [px, sv, st] = ['pxname', 'svname', column].map((k) => head.indexOf(k));
        const states = {};
        for (const l of lines) {
          const f = l.split(',');
          if (f[px] === 'nodes' && f[sv] !== 'BACKEND') states[f[sv]] = f[st];
        }
        resolve(states);
      });
    });
  }

  /** Waits until HAProxy sees node `name` in `state` ('UP' or 'DOWN'). */
  async waitLb(name, state, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs * SCALE;
    let last;
    while (Date.now() < deadline) {
      last = (await this.lbStates())[name];
      if (last === state) return;
      await sleep(100);
    }
    throw new Error(`HAProxy did not see ${name} ${state} within ${timeoutMs * SCALE} ms (last: ${last})`);
  }
}

/** new Cluster(opts) and up(); resolves with the cluster. */
export async function startCluster(opts = {}) {
  const cluster = new Cluster(opts);
  await cluster.up();
  return cluster;
}
