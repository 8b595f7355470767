// Shared helpers for the end-to-end tests of chatd's real-time protocol: the classic MERN events
// (`setup`, `join chat`, `typing`, `message recieved`) and the native protocol (`message:send`,
// `message:new`, receipts, typing, presence, sync), driven by the official Socket.IO client.
//
// Run: CHATD_BIN=/abs/path/to/chatd node --test --test-concurrency=1 tests/realtime/
//   CHATD_TIME_SCALE  multiplies every waiting time (default 1; the ASan build is ~3-5x slower)
//   CHATD_THREADS     if set, every server runs with `--threads $CHATD_THREADS` network threads
//                     (default: one per core), except where a test passes its own --threads
//
// Server start-up, users, chats and REST calls come from ../e2e/harness.mjs.

import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import {
  startServer, stopClean, api, register, registerMany, oneToOne, createGroup, send, history, uniq,
  ID_RE, ISO_RE, sleep, fakeId, assertMessage, assertChat, signJwt, nowS, mkTmpDir,
} from '../e2e/harness.mjs';

export {
  io, startServer, stopClean, api, register, registerMany, oneToOne, createGroup, send, history, uniq,
  ID_RE, ISO_RE, sleep, fakeId, assertMessage, assertChat, signJwt, nowS, mkTmpDir,
};

export const SCALE = Number(process.env.CHATD_TIME_SCALE ?? 1) || 1;
/** A waiting time scaled for slow (sanitizer) builds. */
export const ms = (n) => Math.round(n * SCALE);

// ---------------------------------------------------------------------------------------------
// Sockets: every socket made here is remembered so that closeSockets() (afterEach/after) closes it.

const openSockets = new Set();

function track(socket) {
  openSockets.add(socket);
  socket.disconnects = [];
  socket.on('disconnect', (reason, details) => {
    const why = details?.description?.message ?? details?.message ?? details?.description;
    socket.disconnects.push(why ? `${reason} (${why})` : reason);
  });
  return socket;
}

/** Closes every socket opened through this harness. */
export function closeSockets() {
  for (const s of openSockets) {
    try {
      s.disconnect();
      s.io.engine?.close();
    } catch { /* already closed */ }
  }
  openSockets.clear();
}

/** Resolves once `socket` is connected; rejects with the connect_error (err.message, err.data). */
export function connected(socket, timeout = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => { cleanup(); resolve(socket); };
    const onError = (err) => { cleanup(); reject(err); };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`socket did not connect within ${ms(timeout)} ms`));
    }, ms(timeout));
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** A socket (not yet connected) with the harness defaults, tracked for closing. */
export function rawSocket(url, opts = {}) {
  return track(io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts }));
}

/**
 * A native socket: the JWT in the handshake auth ({auth:{token}}; pass token null to send none,
 * e.g. with extraHeaders). Resolves on 'connect', rejects with the connect_error.
 */
export async function nativeClient(url, token, opts = {}) {
  const { connectTimeout = 5000, ...rest } = opts;
  const o = { ...rest };
  if (token !== null && token !== undefined) o.auth = { token };
  const socket = rawSocket(url, o);
  return connected(socket, connectTimeout);
}

/** Connects with `opts` and resolves with the connect_error (rejects if the socket connects). */
export function connectError(url, opts = {}, timeout = 5000) {
  const socket = rawSocket(url, opts);
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    const onConnect = () => { cleanup(); reject(new Error('the socket connected; a connect_error was expected')); };
    const onError = (err) => { cleanup(); resolve(err); };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no connect_error within ${ms(timeout)} ms`));
    }, ms(timeout));
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/**
 * A classic (MERN) socket: connects without a token, emits `setup` with the user object (the REST
 * register/login response, which carries `token`), resolves once the server emits `connected`.
 */
export async function classicClient(url, user, opts = {}) {
  const { timeout = 5000, ...rest } = opts;
  const socket = await connected(rawSocket(url, rest), timeout);
  const ok = once(socket, 'connected', { timeout });
  socket.emit('setup', user);
  await ok;
  return socket;
}

/** socket.timeout(ms).emitWithAck(event, payload), with the event named in a timeout error. */
export async function call(socket, event, payload, timeout = 5000) {
  try {
    return await socket.timeout(ms(timeout)).emitWithAck(event, payload);
  } catch (err) {
    const seen = socket.disconnects?.length ? `; disconnects: ${socket.disconnects.join(', ')}` : '';
    throw new Error(`no ack for "${event}" ${JSON.stringify(payload)?.slice(0, 200)}: ${err.message}${seen}`);
  }
}

/** call() and assert {ok:true}; returns the ack. */
export async function callOk(socket, event, payload, timeout = 5000) {
  const r = await call(socket, event, payload, timeout);
  assert.equal(r?.ok, true, `"${event}" ${JSON.stringify(payload)?.slice(0, 200)} failed: ${JSON.stringify(r)}`);
  return r;
}

/** Asserts an ack is {ok:false, error:{code, message:string}}. */
export function assertAckError(r, code, what = '') {
  assert.ok(r && typeof r === 'object', `${what}: ack is an object: ${JSON.stringify(r)}`);
  assert.equal(r.ok, false, `${what}: expected ok:false ${code}, got ${JSON.stringify(r)}`);
  assert.ok(r.error && typeof r.error === 'object', `${what}: error object: ${JSON.stringify(r)}`);
  if (Array.isArray(code)) assert.ok(code.includes(r.error.code), `${what}: error code ${r.error.code}, expected one of ${code}`);
  else assert.equal(r.error.code, code, `${what}: ${JSON.stringify(r)}`);
  assert.equal(typeof r.error.message, 'string', `${what}: error.message is a string`);
}

/** call() expecting {ok:false, error:{code}}. */
export async function callErr(socket, event, payload, code, timeout = 5000) {
  const r = await call(socket, event, payload, timeout);
  assertAckError(r, code, `"${event}" ${JSON.stringify(payload)?.slice(0, 120)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Events

/** Resolves with the arguments (an array) of the next `event` for which `filter(...args)` holds. */
export function once(socket, event, { timeout = 5000, filter } = {}) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args);
    };
    const timer = setTimeout(() => {
      socket.off(event, handler);
      const seen = socket.disconnects?.length ? ` (disconnects: ${socket.disconnects.join(', ')})` : '';
      reject(new Error(`timed out after ${ms(timeout)} ms waiting for "${event}"${seen}`));
    }, ms(timeout));
    socket.on(event, handler);
  });
}

/** Rejects if `event` (matching `filter`, if given) fires within `duration` ms (scaled). */
export function never(socket, event, duration, filter) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (filter && !filter(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args).slice(0, 500)}`));
    };
    const timer = setTimeout(() => {
      socket.off(event, handler);
      resolve();
    }, ms(duration));
    socket.on(event, handler);
  });
}

/** Records the arguments (an array per event) of every `event` into the returned array. */
export function collect(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}

/** The first argument of each recorded event. */
export const firsts = (seen) => seen.map((args) => args[0]);

/** Polls `predicate` until true, or throws after `timeout` ms (scaled). */
export async function waitUntil(predicate, { timeout = 5000, message = 'condition' } = {}) {
  const deadline = Date.now() + ms(timeout);
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms(timeout)} ms waiting for ${message}`);
    await sleep(10);
  }
}

/**
 * A barrier: `sender` posts a marker message to `chatId` over REST; resolves once every native socket
 * in `natives` got it as `message:new` and every classic socket in `classics` as `message recieved`,
 * then waits a little more. Anything the server sent to those sockets before the marker has arrived
 * by then (one connection delivers in order). Returns the marker message.
 */
export async function flush(url, sender, chatId, { natives = [], classics = [], extra = 100 } = {}) {
  const content = uniq('marker-');
  const waits = [
    ...natives.map((s) => once(s, 'message:new', { filter: (m) => m?.content === content })),
    ...classics.map((s) => once(s, 'message recieved', { filter: (m) => m?.content === content })),
  ];
  const m = await send(url, sender, chatId, content);
  await Promise.all(waits);
  await sleep(ms(extra));
  return m;
}

/**
 * Classic `join chat` has no ack: `from` emits `typing` for `chatId` every 200 ms until `to` gets a
 * `typing` (proof that both joins went through). Resolves with the arguments `to` received.
 */
export async function classicTypingReaches(from, to, chatId, { timeout = 5000 } = {}) {
  const got = once(to, 'typing', { timeout });
  const timer = setInterval(() => from.emit('typing', chatId), ms(200));
  from.emit('typing', chatId);
  try {
    return await got;
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** The lean message of the native protocol: {_id, chatId, seq, sender:{_id,name,pic}, content, clientMsgId?, createdAt}. */
export function assertLean(m, expected = {}) {
  assert.ok(m && typeof m === 'object', `lean message is an object: ${JSON.stringify(m)}`);
  assert.match(m._id, ID_RE);
  assert.match(m.chatId, ID_RE);
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, `seq is a positive integer: ${m.seq}`);
  assert.ok(m.sender && typeof m.sender === 'object', 'sender is an object');
  assert.match(m.sender._id, ID_RE);
  assert.equal(typeof m.sender.name, 'string');
  assert.equal(typeof m.sender.pic, 'string');
  assert.equal(typeof m.content, 'string');
  assert.match(m.createdAt, ISO_RE);
  assert.equal(typeof m.chat, 'undefined', 'the lean message has no chat object');
  assert.equal(typeof m.readBy, 'undefined', 'the lean message has no readBy');
  const s = JSON.stringify(m);
  assert.ok(!/password|\$argon2|"token"/i.test(s), `lean message leaks secrets: ${s}`);
  if (expected.chatId !== undefined) assert.equal(m.chatId, expected.chatId);
  if (expected.sender !== undefined) {
    assert.equal(m.sender._id, expected.sender._id);
    assert.equal(m.sender.name, expected.sender.name);
    assert.equal(m.sender.pic, expected.sender.pic);
  }
  if (expected.content !== undefined) assert.equal(m.content, expected.content);
  if (expected.clientMsgId !== undefined) assert.equal(m.clientMsgId, expected.clientMsgId);
  if (expected.seq !== undefined) assert.equal(m.seq, expected.seq);
  if (expected._id !== undefined) assert.equal(m._id, expected._id);
}

/** Sends over the native socket and returns the acked lean message. */
export async function sendNative(socket, chatId, content, clientMsgId = uniq('c')) {
  const r = await callOk(socket, 'message:send', { chatId, clientMsgId, content });
  assertLean(r.message, { chatId, content, clientMsgId });
  return r.message;
}

/** GET /api/message/:chatId/:messageId/status as `user`. */
export async function messageStatus(url, user, chatId, messageId) {
  const r = await api(url, 'GET', `/api/message/${chatId}/${messageId}/status`, { token: user.token });
  assert.equal(r.status, 200, `status failed: ${r.status} ${r.text}`);
  return r.json;
}

/** Every message of a chat, oldest first, through ?after= pages of `limit`. */
export async function fullHistory(url, user, chatId, limit = 200) {
  const all = [];
  let after = 0;
  for (;;) {
    const page = await history(url, user, chatId, `?after=${after}&limit=${limit}`);
    assert.ok(Array.isArray(page), 'history page is an array');
    all.push(...page);
    if (page.length < limit) break;
    after = page[page.length - 1].seq;
  }
  return all;
}

/** Runs `fn` over `items` with at most `width` calls in flight; results in item order. */
export async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

export const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---------------------------------------------------------------------------------------------
// The server of a test file

/**
 * One chatd per test file: `fx.url`/`fx.srv` are set in before(); afterEach() closes the sockets a test
 * opened; after() closes the rest, stops the server and asserts a clean exit (code 0, no sanitizer report).
 */
export function fixture({ before, after, afterEach }, extraArgs = [], opts = {}) {
  const fx = { srv: null, url: null };
  before(async () => {
    fx.srv = await startServer(extraArgs, opts);
    fx.url = fx.srv.url;
  });
  afterEach(() => closeSockets());
  after(async () => {
    closeSockets();
    if (fx.srv) await stopClean(fx.srv);
  });
  return fx;
}
