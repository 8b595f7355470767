// Shared helpers for the chatd black-box end-to-end tests.
//
// Only node built-ins are used (node >= 18): child_process to run the binary, fetch for HTTP,
// node:net for raw-socket HTTP (unnormalized paths, keep-alive, slowloris, oversize headers).
//
// Run: CHATD_BIN=/abs/path/to/chatd node --test --test-concurrency=1 tests/e2e/

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';

export const ISO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const ID_RE = /^[0-9a-f]{24}$/;
export const GROUP_TEXT_ERROR = 'More than 2 users are required to form a group chat';

// Cheap Argon2id so registering hundreds of users stays fast (also under ASan).
export const FAST_ARGS = ['--password-hash-ops', '1', '--password-hash-memory-kib', '8'];
// Every rate limit off: suites register hundreds of users and log in from one address. The rate
// limit tests start their servers with { limits: true } to keep the defaults.
export const NO_LIMIT_ARGS = [
  '--rate-login-ip', 'off', '--rate-login-account', 'off', '--rate-login-known-ip', 'off',
  '--rate-register-ip', 'off', '--rate-otp-account', 'off', '--rate-send-user', 'off',
  '--rate-rest-ip', 'off', '--rate-socket-connect-ip', 'off', '--rate-socket-events', 'off',
];

export function chatdBin() {
  const bin = process.env.CHATD_BIN;
  if (!bin) throw new Error('CHATD_BIN is not set (absolute path to the chatd binary)');
  if (!fs.existsSync(bin)) throw new Error(`CHATD_BIN=${bin} does not exist`);
  return bin;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let uniqCounter = 0;
const runTag = `${process.pid.toString(36)}${crypto.randomBytes(3).toString('hex')}`;
/** A short string unique within this whole test run (safe in names and emails). */
export function uniq(prefix = 'u') {
  uniqCounter += 1;
  return `${prefix}${runTag}x${uniqCounter}`;
}

export function mkTmpDir(prefix = 'chatd-e2e-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const liveProcs = new Set();
process.on('exit', () => {
  for (const p of liveProcs) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const dir of [...databases.keys()]) dropDatabase(dir);
});

// CHATD_TEST_DATABASE_URL (a PostgreSQL server where databases may be created, e.g. what
// `scripts/pg.sh start DIR` prints) runs every server on PostgreSQL (--database-url) instead of
// SQLite: one fresh database per data dir, so that a restart on the same data dir finds its data.
// It is dropped with a data dir the harness made, the rest when the process exits.
const databases = new Map();  // data dir -> database name
function psql(sql) {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', process.env.CHATD_TEST_DATABASE_URL, '-c', sql],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.error ?? r.stderr}`);
}
function databaseUrlFor(dataDir) {
  let name = databases.get(dataDir);
  if (!name) {
    name = `chatd_e2e_${crypto.randomBytes(8).toString('hex')}`;
    psql(`CREATE DATABASE ${name}`);
    databases.set(dataDir, name);
  }
  const url = new URL(process.env.CHATD_TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
function dropDatabase(dataDir) {
  const name = databases.get(dataDir);
  if (!name) return;
  databases.delete(dataDir);
  try { psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } catch { /* the server is gone */ }
}
/** The --database-url of the servers the harness ran on `dataDir` (PostgreSQL runs), else null. */
export function databaseUrlOf(dataDir) {
  return databases.has(dataDir) ? databaseUrlFor(dataDir) : null;
}

/**
 * Starts chatd on a free port with a fresh data dir (unless opts.dataDir is given).
 * Resolves when it logs "listening on http://127.0.0.1:<port>" (https:// with --tls-cert; url
 * follows).
 * @returns {Promise<{url, port, proc, dataDir, stop: (signal?) => Promise<number|string>, output: () => string}>}
 */
export async function startServer(extraArgs = [], opts = {}) {
  const bin = chatdBin();
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkTmpDir();
  const limits = opts.limits ? [] : NO_LIMIT_ARGS;
  const args = ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...FAST_ARGS, ...limits, ...extraArgs];
  // CHATD_THREADS (non-empty) runs every server with that many network threads, unless the test
  // chose its own --threads.
  const threads = process.env.CHATD_THREADS;
  if (threads && !extraArgs.some((a) => a === '--threads' || String(a).startsWith('--threads='))) {
    args.push('--threads', threads);
  }
  if (process.env.CHATD_TEST_DATABASE_URL && !extraArgs.includes('--database-url')) {
    args.push('--database-url', databaseUrlFor(dataDir));
  }
  const env = { ...process.env, ...(opts.env ?? {}) };
  if (!opts.env || !('JWT_SECRET' in opts.env)) delete env.JWT_SECRET;
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  liveProcs.add(proc);
  let out = '';
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      liveProcs.delete(proc);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  let scheme = 'http';
  const port = await new Promise((resolve, reject) => {
    const timeoutMs = opts.startTimeoutMs ?? 20000;
    const timer = setTimeout(() => {
      cleanup();
      try { proc.kill('SIGKILL'); } catch { /* ignore */ }
      reject(new Error(`chatd did not log "listening on" within ${timeoutMs} ms; output:\n${out}`));
    }, timeoutMs);
    const onData = (d) => {
      out += d.toString();
      const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) { cleanup(); scheme = m[1]; resolve(Number(m[2])); }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`chatd exited early (code ${code}, signal ${signal}); output:\n${out}`));
    };
    function cleanup() {
      clearTimeout(timer);
      proc.stdout.off('data', onData);
      proc.stderr.off('data', onData);
      proc.off('exit', onExit);
    }
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', onExit);
  });
  // Keep collecting output (for log assertions and diagnostics) without blocking the pipes.
  proc.stdout.on('data', (d) => { out += d.toString(); });
  proc.stderr.on('data', (d) => { out += d.toString(); });

  const url = `${scheme}://127.0.0.1:${port}`;
  /** Sends a signal (SIGTERM by default) and resolves with the exit code (or the signal name if killed by one). */
  async function stop(signal = 'SIGTERM', timeoutMs = 15000) {
    if (!exitInfo) {
      try { proc.kill(signal); } catch { /* ignore */ }
      let timer;
      const t = new Promise((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
      const r = await Promise.race([exited, t]);
      clearTimeout(timer);
      if (r === 'timeout') {
        try { proc.kill('SIGKILL'); } catch { /* ignore */ }
        await exited;
        return `timeout after ${signal}`;
      }
    }
    // A data dir the harness made is removed once the server is gone (CHATD_E2E_KEEP=1 keeps it).
    if (ownDataDir && !process.env.CHATD_E2E_KEEP) {
      fs.rmSync(dataDir, { recursive: true, force: true });
      dropDatabase(dataDir);
    }
    return exitInfo.code !== null ? exitInfo.code : exitInfo.signal;
  }
  return { url, port, proc, dataDir, stop, output: () => out, exited };
}

/**
 * One HTTP request with fetch.
 * @returns {Promise<{status:number, headers:Headers, json:any, text:string}>}
 */
export async function api(url, method, p, { token, body, rawBody, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== undefined && token !== null) h.authorization = `Bearer ${token}`;
  let payload;
  if (rawBody !== undefined) {
    payload = rawBody;
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const res = await fetch(url + p, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

export function uniqueEmail(tag = 'user') {
  return `${uniq(tag)}@test.example`;
}

/** Registers a fresh user; returns the 201 body ({_id,name,email,pic,isAdmin,token}) plus the password. */
export async function register(url, name = 'User', extra = {}) {
  const body = { name, email: uniqueEmail('e'), password: 'password123', ...extra };
  const r = await api(url, 'POST', '/api/user', { body });
  assert.equal(r.status, 201, `register failed: ${r.status} ${r.text}`);
  return { ...r.json, password: body.password };
}

export async function registerMany(url, names) {
  return Promise.all(names.map((n) => register(url, n)));
}

/** Creates (or fetches) the 1:1 chat between a (token holder) and b. */
export async function oneToOne(url, a, b) {
  const r = await api(url, 'POST', '/api/chat', { token: a.token, body: { userId: b._id } });
  assert.equal(r.status, 200, `1:1 chat failed: ${r.status} ${r.text}`);
  return r.json;
}

export async function createGroup(url, admin, others, name = uniq('group')) {
  const r = await api(url, 'POST', '/api/chat/group', {
    token: admin.token,
    body: { name, users: JSON.stringify(others.map((u) => u._id)) },
  });
  assert.equal(r.status, 200, `group create failed: ${r.status} ${r.text}`);
  return r.json;
}

export async function send(url, user, chatId, content, extra = {}) {
  const r = await api(url, 'POST', '/api/message', { token: user.token, body: { content, chatId, ...extra } });
  assert.equal(r.status, 200, `send failed: ${r.status} ${r.text}`);
  return r.json;
}

export async function history(url, user, chatId, query = '') {
  const r = await api(url, 'GET', `/api/message/${chatId}${query}`, { token: user.token });
  assert.equal(r.status, 200, `history failed: ${r.status} ${r.text}`);
  return r.json;
}

export async function chatList(url, user) {
  const r = await api(url, 'GET', '/api/chat', { token: user.token });
  assert.equal(r.status, 200, `chat list failed: ${r.status} ${r.text}`);
  return r.json;
}

// ---------------------------------------------------------------- JWT forging

export function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

export function signJwt(payload, secret, header = { alg: 'HS256', typ: 'JWT' }, algo = 'sha256') {
  const head = `${b64url(header)}.${b64url(payload)}`;
  const sig = crypto.createHmac(algo, secret).update(head).digest('base64url');
  return `${head}.${sig}`;
}

export function algNoneJwt(payload) {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) };
}

export const nowS = () => Math.floor(Date.now() / 1000);

/** A random id of the right shape that names nothing. */
export function fakeId() {
  return crypto.randomBytes(12).toString('hex');
}

// ---------------------------------------------------------------- shape checks

const SECRET_KEYS = ['password', 'passwordHash', 'password_hash', 'hash'];

export function assertNoSecrets(obj, where = '') {
  const s = JSON.stringify(obj);
  for (const k of SECRET_KEYS) assert.ok(!s.includes(`"${k}"`), `${where} leaks a "${k}" field: ${s.slice(0, 500)}`);
  assert.ok(!s.includes('$argon2'), `${where} leaks an argon2 hash`);
}

/** {_id,name,email,pic,isAdmin} */
export function assertPublicUser(u, expected) {
  assert.equal(typeof u, 'object');
  assert.match(u._id, ID_RE);
  assert.equal(typeof u.name, 'string');
  assert.equal(typeof u.email, 'string');
  assert.equal(typeof u.pic, 'string');
  assert.equal(typeof u.isAdmin, 'boolean');
  assertNoSecrets(u, 'user');
  if (expected) {
    assert.equal(u._id, expected._id);
    assert.equal(u.name, expected.name);
    assert.equal(u.email, expected.email);
    assert.equal(u.pic, expected.pic);
  }
}

/** sender: {_id,name,pic,email} */
export function assertSender(s, expected) {
  assert.match(s._id, ID_RE);
  assert.equal(typeof s.name, 'string');
  assert.equal(typeof s.pic, 'string');
  assert.equal(typeof s.email, 'string');
  assertNoSecrets(s, 'sender');
  if (expected) {
    assert.equal(s._id, expected._id);
    assert.equal(s.name, expected.name);
    assert.equal(s.pic, expected.pic);
    assert.equal(s.email, expected.email);
  }
}

export function assertChat(c, { group } = {}) {
  assert.match(c._id, ID_RE);
  assert.equal(typeof c.chatName, 'string');
  assert.equal(typeof c.isGroupChat, 'boolean');
  if (group !== undefined) assert.equal(c.isGroupChat, group);
  assert.ok(Array.isArray(c.users), 'chat.users is an array');
  for (const u of c.users) assertPublicUser(u);
  if (c.isGroupChat) assertPublicUser(c.groupAdmin);
  assert.match(c.createdAt, ISO_RE);
  assert.match(c.updatedAt, ISO_RE);
  assertNoSecrets(c, 'chat');
}

export function assertMessage(m) {
  assert.match(m._id, ID_RE);
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, `seq is a positive integer: ${m.seq}`);
  assertSender(m.sender);
  assert.equal(typeof m.content, 'string');
  assert.ok(m.chat && typeof m.chat === 'object', 'message.chat is an object');
  assertChat(m.chat);
  assert.ok(Array.isArray(m.readBy));
  assert.match(m.createdAt, ISO_RE);
  assert.match(m.updatedAt, ISO_RE);
  assertNoSecrets(m, 'message');
}

/** JSON error {message, code} with application/json and no leaks. */
export function assertError(r, status, code, message) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
  const ct = r.headers.get('content-type') ?? '';
  assert.match(ct, /^application\/json/i, `error content-type: ${ct}`);
  assert.ok(r.json && typeof r.json === 'object' && !Array.isArray(r.json), `error body is a JSON object: ${r.text}`);
  assert.equal(typeof r.json.message, 'string');
  if (code !== undefined) assert.equal(r.json.code, code, `code: ${r.text}`);
  if (message !== undefined) assert.equal(r.json.message, message);
  assertNoLeak(r.text);
}

export function assertNoLeak(text) {
  assert.ok(!/sqlite|SQL|SELECT |INSERT |UPDATE .* SET|stack|\.cc:\d+|\.cpp:\d+|std::|terminate|exception/i.test(text),
    `error body leaks internals: ${text.slice(0, 300)}`);
}

export const ids = (arr) => arr.map((x) => x._id);
export const sortedIds = (arr) => ids(arr).slice().sort();

// ---------------------------------------------------------------- raw HTTP over node:net

/** Parses one HTTP/1.1 response from buf; returns {response, rest} or null if incomplete. */
export function parseResponse(buf) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const head = buf.subarray(0, headEnd).toString('latin1');
  const [statusLine, ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new Error(`bad status line: ${statusLine}`);
  const headers = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let pos = headEnd + 4;
  let body;
  const status = Number(m[1]);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
  } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (buf.length < le + 2 + size + 2) return null;
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', le);
        if (end < 0 && buf.subarray(le, le + 4).toString() !== '\r\n\r\n') return null;
        pos = (end < 0 ? le : end) + 4;
        break;
      }
      parts.push(buf.subarray(le + 2, le + 2 + size));
      pos = le + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (buf.length < pos + len) return null;
    body = buf.subarray(pos, pos + len);
    pos += len;
  } else {
    return null; // read until close
  }
  return { response: { status, headers, body: body.toString('utf8'), statusLine }, rest: buf.subarray(pos) };
}

/**
 * A raw TCP connection: write() bytes, next() waits for the next complete response,
 * closed resolves (with the ms since open) when the server closes it.
 */
export function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const t0 = Date.now();
    let buf = Buffer.alloc(0);
    let ended = false;
    let waiter = null;
    let closedResolve;
    const closed = new Promise((r) => { closedResolve = r; });
    const tryDeliver = () => {
      if (!waiter) return;
      let parsed = null;
      try { parsed = parseResponse(buf); } catch (e) { const w = waiter; waiter = null; w.reject(e); return; }
      if (parsed) {
        buf = parsed.rest;
        const w = waiter; waiter = null; w.resolve(parsed.response);
      } else if (ended) {
        const w = waiter; waiter = null;
        // A response without length, delimited by close.
        const text = buf.toString('latin1');
        const he = text.indexOf('\r\n\r\n');
        if (he >= 0) {
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
          w.resolve({ status: m ? Number(m[1]) : 0, headers: {}, body: buf.subarray(he + 4).toString('utf8'), statusLine: text.split('\r\n')[0] });
          buf = Buffer.alloc(0);
        } else {
          w.resolve(null);
        }
      }
    };
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); tryDeliver(); });
    sock.on('error', () => { /* ECONNRESET etc.: treated as close */ });
    sock.on('close', () => { ended = true; tryDeliver(); closedResolve(Date.now() - t0); });
    sock.once('connect', () => {
      resolve({
        sock,
        write: (data) => new Promise((res) => {
          if (sock.destroyed || ended) return res(false);
          sock.write(data, (err) => res(!err));
        }),
        next: (timeoutMs = 5000) => new Promise((res, rej) => {
          const timer = setTimeout(() => { waiter = null; rej(new Error(`no response within ${timeoutMs} ms; got so far: ${buf.toString('latin1').slice(0, 300)}`)); }, timeoutMs);
          waiter = { resolve: (v) => { clearTimeout(timer); res(v); }, reject: (e) => { clearTimeout(timer); rej(e); } };
          tryDeliver();
        }),
        closed,
        isClosed: () => ended,
        received: () => buf,
        destroy: () => sock.destroy(),
      });
    });
    sock.once('error', reject);
  });
}

/** Sends one raw request (string or Buffer) and returns the first response (or null if closed without one). */
export async function rawRequest(port, data, timeoutMs = 5000) {
  const c = await rawConnect(port);
  try {
    await c.write(data);
    return await c.next(timeoutMs);
  } finally {
    c.destroy();
  }
}

const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer|runtime error:/;

/** Stops srv with SIGTERM and asserts a clean exit: code 0 and no sanitizer report in its output. */
export async function stopClean(srv, signal = 'SIGTERM') {
  const code = await srv.stop(signal);
  const out = srv.output();
  assert.equal(code, 0, `chatd should exit 0 on ${signal}, got ${code}; output tail:\n${out.slice(-3000)}`);
  const m = SANITIZER_RE.exec(out);
  assert.ok(!m, `sanitizer report in chatd output:\n${m ? out.slice(Math.max(0, m.index - 200), m.index + 3000) : ''}`);
  return code;
}

/** Standard before/after for a test file: one server, asserting a clean SIGTERM exit. */
export function serverFixture(extraArgs = [], opts = {}) {
  const fx = { srv: null, url: null };
  fx.start = async () => {
    fx.srv = await startServer(extraArgs, opts);
    fx.url = fx.srv.url;
    return fx.srv;
  };
  fx.stop = async () => {
    if (!fx.srv) return;
    await stopClean(fx.srv);
  };
  return fx;
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The TOTP code of a base32 secret (RFC 6238: SHA-1, 6 digits, 30 s steps) at `step`. */
export function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}
export const nowStep = () => Math.floor(Date.now() / 30000);

/** A REST message erased in place: same _id and seq, empty content, deleted, no clientMsgId. */
export function assertTombstone(m, orig, where) {
  assert.equal(m._id, orig._id, where);
  assert.equal(m.seq, orig.seq, where);
  assert.equal(m.content, '', `${where}: content erased`);
  assert.equal(m.deleted, true, `${where}: deleted flag`);
  assert.ok(!('clientMsgId' in m), `${where}: clientMsgId erased: ${JSON.stringify(m)}`);
}

