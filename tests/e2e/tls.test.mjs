// HTTPS and WSS on chatd's own port (--tls-cert/--tls-key): REST over HTTPS, the official
// Socket.IO client over WSS (WebSocket only, and polling upgraded to WebSocket) with the
// certificate verified against the test's own CA, HSTS on every reply, TLS 1.2+ and ALPN, a plain
// HTTP request refused cleanly, a silent client cut at the handshake timeout, and start-up
// refused for bad files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import {
  startServer, stopClean, chatdBin, mkTmpDir, uniq, uniqueEmail, rawConnect, rawRequest, FAST_ARGS,
} from './harness.mjs';

// The official client, installed with the real-time tests (make test-e2e installs it first).
const require = createRequire(new URL('../realtime/package.json', import.meta.url));
const { io } = require('socket.io-client');

const SCALE = Number(process.env.CHATD_TIME_SCALE ?? 1) || 1;
const READ_TIMEOUT_MS = 1500;  // also bounds the TLS handshake

const dir = mkTmpDir('chatd-tls-');
const files = {
  cert: path.join(dir, 'cert.pem'),
  key: path.join(dir, 'key.pem'),
  otherKey: path.join(dir, 'other-key.pem'),
};
let ca;  // the self-signed certificate is its own CA
let srv;
let host;  // "127.0.0.1:port"
const sockets = [];

function openssl(args) {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.error ?? r.stderr}`);
}

before(async () => {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', files.key, '-out', files.cert]);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-out', files.otherKey]);
  ca = fs.readFileSync(files.cert);
  srv = await startServer(['--tls-cert', files.cert, '--tls-key', files.key,
    '--read-timeout-ms', String(READ_TIMEOUT_MS * SCALE)]);
  host = `127.0.0.1:${srv.port}`;
});

after(async () => {
  for (const s of sockets) s.close();
  if (srv) await stopClean(srv);
  fs.rmSync(dir, { recursive: true, force: true });
});

// One HTTPS request with node's https module, trusting only the test's CA.
const agent = new https.Agent({ keepAlive: true });
function request(p, { method = 'GET', body, token, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    if (token) h.authorization = `Bearer ${token}`;
    const req = https.request(`https://${host}${p}`, { method, headers: h, ca, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, reused: req.reusedSocket });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function register(name) {
  const r = await request('/api/user', { method: 'POST', body: { name, email: uniqueEmail('tls'), password: 'password123' } });
  assert.equal(r.status, 201, `register: ${r.status} ${r.text}`);
  return r.json;
}

function client(token, opts = {}) {
  const s = io(`https://${host}`, {
    auth: { token }, ca, forceNew: true, reconnection: false, timeout: 5000 * SCALE, ...opts,
  });
  sockets.push(s);
  return s;
}

function connected(s) {
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

function next(s, event, timeout = 5000 * SCALE) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeout} ms`)), timeout);
    s.once(event, (payload) => { clearTimeout(timer); resolve(payload); });
  });
}

// `from` sends over message:send (acked after commit); `to` receives it as message:new.
async function exchange(from, to, chatId, content) {
  const arrived = next(to, 'message:new');
  arrived.catch(() => {});  // a failed send is reported below
  const ack = await from.timeout(5000 * SCALE).emitWithAck('message:send', { chatId, clientMsgId: uniq('c'), content });
  assert.equal(ack?.ok, true, `message:send: ${JSON.stringify(ack)}`);
  const message = await arrived;
  assert.equal(message.content, content);
  assert.equal(message._id, ack.message._id);
}

function handshake(options) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: srv.port, ca, servername: 'localhost', ...options });
    socket.once('secureConnect', () => { resolve(socket); });
    socket.once('error', reject);
  });
}

test('REST over HTTPS: register and a chat, keep-alive, HSTS and the other security headers on every reply', async () => {
  const a = await register('TLS A');
  const b = await register('TLS B');
  const chat = await request('/api/chat', { method: 'POST', token: a.token, body: { userId: b._id } });
  assert.equal(chat.status, 200, chat.text);
  const list = await request('/api/chat', { token: b.token });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.map((c) => c._id), [chat.json._id]);
  assert.ok(list.reused, 'the keep-alive connection is reused over TLS');
  const missing = await request('/api/nothing-here');
  assert.equal(missing.status, 404);
  const poll = await request('/socket.io/?EIO=4&transport=polling');
  assert.equal(poll.status, 200, poll.text);
  for (const r of [chat, list, missing, poll]) {
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
});

test('TLS 1.2 and 1.3 are served, older versions and weak 1.2 ciphers refused; ALPN picks http/1.1', async () => {
  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    const socket = await handshake({ minVersion: version, maxVersion: version, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(socket.getProtocol(), version);
    assert.equal(socket.alpnProtocol, 'http/1.1');
    socket.destroy();
  }
  // The server's own refusals (alerts), not the client's.
  await assert.rejects(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  await assert.rejects(handshake({ maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA:ECDHE-ECDSA-AES128-SHA256' }),
    { code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' }, 'TLS 1.2 without forward secrecy or AEAD');
});

test('the official client over WSS (WebSocket only): a message each way between two clients', async () => {
  const a = await register('WSS A');
  const b = await register('WSS B');
  const chat = (await request('/api/chat', { method: 'POST', token: a.token, body: { userId: b._id } })).json;
  const sa = await connected(client(a.token, { transports: ['websocket'] }));
  const sb = await connected(client(b.token, { transports: ['websocket'] }));
  assert.equal(sa.io.engine.transport.name, 'websocket');
  await exchange(sa, sb, chat._id, 'over wss, a to b');
  await exchange(sb, sa, chat._id, 'over wss, b to a');
  // A burst of large messages, more than TLS records hold: frames gathered into records, and
  // split across them.
  const contents = Array.from({ length: 12 }, (_, i) => `${i}:${'x'.repeat(3990)}`);
  const received = [];
  const all = new Promise((resolve) => sb.on('message:new', (m) => {
    received.push(m.content);
    if (received.length === contents.length) resolve();
  }));
  const acks = await Promise.all(contents.map((content) =>
    sa.timeout(5000 * SCALE).emitWithAck('message:send', { chatId: chat._id, clientMsgId: uniq('c'), content })));
  assert.ok(acks.every((ack) => ack?.ok), JSON.stringify(acks.find((ack) => !ack?.ok)));
  await all;
  assert.deepEqual(received.slice().sort(), contents.slice().sort());
});

test('the official client over HTTPS polling, upgraded to WSS, and polling alone', async () => {
  const a = await register('Upgrade A');
  const b = await register('Upgrade B');
  const chat = (await request('/api/chat', { method: 'POST', token: a.token, body: { userId: b._id } })).json;
  const sa = client(a.token);  // polling first, then the upgrade
  const upgraded = new Promise((resolve) => sa.io.on('open', () => sa.io.engine.once('upgrade', resolve)));
  await connected(sa);
  await upgraded;
  assert.equal(sa.io.engine.transport.name, 'websocket');
  const sb = await connected(client(b.token, { transports: ['polling'] }));
  await exchange(sa, sb, chat._id, 'upgraded to polling');
  await exchange(sb, sa, chat._id, 'polling to upgraded');
});

test('a client that does not trust the certificate does not connect', async () => {
  const s = client('no-token', { ca: undefined, transports: ['websocket'] });
  const error = await new Promise((resolve, reject) => {
    s.once('connect', () => reject(new Error('connected without trusting the certificate')));
    s.once('connect_error', resolve);
  });
  assert.match(String(error.description?.message ?? error.description ?? error.message), /self[- ]signed|certificate/i);
});

test('plain HTTP to the TLS port is answered 400 in the clear and closed; the server goes on', async () => {
  const r = await rawRequest(srv.port, 'GET /api/chat HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r?.status, 400);
  assert.match(r.body, /HTTPS/);
  assert.equal(r.headers['strict-transport-security'], undefined);
  const conn = await rawConnect(srv.port);
  await conn.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));  // a broken hello
  assert.ok((await conn.closed) < 5000 * SCALE, 'a broken handshake is closed at once');
  const after = await request('/api/nothing-here');
  assert.equal(after.status, 404);
});

test('a client that connects and sends nothing is cut at the handshake timeout', async () => {
  const conn = await rawConnect(srv.port);
  const closedAfter = await conn.closed;
  assert.ok(closedAfter >= READ_TIMEOUT_MS * SCALE - 200, `cut after ${closedAfter} ms, before the timeout`);
  assert.ok(closedAfter < (READ_TIMEOUT_MS + 3000) * SCALE, `cut after ${closedAfter} ms`);
  assert.equal(conn.received().length, 0);
});

test('chatd refuses to start with a key of another certificate, a missing file, or one option alone', () => {
  const data = mkTmpDir();
  const run = (args) => spawnSync(chatdBin(), ['--host', '127.0.0.1', '--port', '0', '--data-dir', data, ...FAST_ARGS, ...args],
    { encoding: 'utf8', timeout: 20000 * SCALE });
  const mismatch = run(['--tls-cert', files.cert, '--tls-key', files.otherKey]);
  assert.notEqual(mismatch.status, 0);
  assert.match(mismatch.stdout + mismatch.stderr, /does not belong to the certificate/);
  assert.doesNotMatch(mismatch.stdout, /listening on/);
  const missing = run(['--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', files.key]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stdout + missing.stderr, /nope\.pem: no such file/);
  const alone = run(['--tls-cert', files.cert]);
  assert.notEqual(alone.status, 0);
  assert.match(alone.stdout + alone.stderr, /--tls-key/);
  fs.rmSync(data, { recursive: true, force: true });
});
