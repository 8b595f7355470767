// Rate limits, IP allowlists and trusted proxies (API.md, "Sessions, 2FA, limits"). Each limit is
// hit, answers 429 `rate_limited` with Retry-After (or the error ack on sockets), and recovers once
// that time has passed. Client addresses come from X-Forwarded-For, believed here because the
// tests' loopback address is a --trusted-proxy; a test without that shows spoofing ignored.
import { describe, test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, stopClean, api, register, oneToOne, nativeClient, connectError, call, closeSockets,
  sleep, uniq, ms,
} from './harness.mjs';
import { uniqueEmail, NO_LIMIT_ARGS } from '../e2e/harness.mjs';

afterEach(() => closeSockets());

/** Starts chatd with every limit off but `rules` ({'--rate-x': '3/2s'}), plus extra args. */
async function serverWith(rules, extra = []) {
  const args = [...NO_LIMIT_ARGS];
  for (const [flag, value] of Object.entries(rules)) args[args.indexOf(flag) + 1] = value;
  return startServer([...args, ...extra], { limits: true });
}

const from = (ip, headers = {}) => ({ 'x-forwarded-for': ip, ...headers });

function assertLimited(r, label) {
  assert.equal(r.status, 429, `${label}: ${r.status} ${r.text}`);
  assert.deepEqual(r.json, { message: r.json.message, code: 'rate_limited' }, label);
  const wait = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1, `${label}: Retry-After ${r.headers.get('retry-after')}`);
  return wait;
}

async function registerFrom(url, ip, name) {
  return api(url, 'POST', '/api/user', {
    body: { name, email: uniqueEmail('lim'), password: 'password123' }, headers: from(ip),
  });
}

describe('rate limits', () => {
  test('logins per IP: refused past the burst, with Retry-After, and open again after it', async () => {
    const srv = await serverWith({ '--rate-login-ip': '3/2s' }, ['--trusted-proxy', '127.0.0.1']);
    try {
      const u = await register(srv.url, 'Lim Login');
      const body = { email: u.email, password: u.password };
      for (let i = 0; i < 3; i += 1) {
        const r = await api(srv.url, 'POST', '/api/user/login', { body, headers: from('203.0.113.5') });
        assert.equal(r.status, 200, r.text);
      }
      const wait = assertLimited(await api(srv.url, 'POST', '/api/user/login', { body, headers: from('203.0.113.5') }), 'login');
      const elsewhere = await api(srv.url, 'POST', '/api/user/login', { body, headers: from('203.0.113.6') });
      assert.equal(elsewhere.status, 200, 'another IP has its own budget');
      await sleep(wait * 1000);
      const again = await api(srv.url, 'POST', '/api/user/login', { body, headers: from('203.0.113.5') });
      assert.equal(again.status, 200, again.text);
    } finally {
      await stopClean(srv);
    }
  });

  test('password guessing: an attacker runs out, the owner at their usual IP still logs in', async () => {
    const srv = await serverWith({ '--rate-login-account': '5/10min', '--rate-login-known-ip': '5/5min' },
      ['--trusted-proxy', '127.0.0.1']);
    try {
      const home = '198.51.100.7';
      const reg = await registerFrom(srv.url, home, 'Lim Owner');
      assert.equal(reg.status, 201, reg.text);
      const owner = { email: reg.json.email, password: 'password123' };
      // The attacker tries passwords from many addresses (a botnet): one account budget for all.
      let refused = 0;
      for (let i = 0; i < 12; i += 1) {
        const r = await api(srv.url, 'POST', '/api/user/login',
          { body: { email: owner.email, password: `guess-${i}-xxxx` }, headers: from(`192.0.2.${i + 1}`) });
        if (r.status === 429) { refused += 1; assertLimited(r, 'guess'); } else assert.equal(r.status, 401, r.text);
      }
      assert.equal(refused, 7, 'five guesses, then one every two minutes');
      // Even the right password is refused from an unknown address while the budget is spent...
      const stranger = await api(srv.url, 'POST', '/api/user/login', { body: owner, headers: from('192.0.2.99') });
      assertLimited(stranger, 'right password, unknown IP');
      // ...but the owner, where they registered (and so logged in) before, is not locked out.
      const ok = await api(srv.url, 'POST', '/api/user/login', { body: owner, headers: from(home) });
      assert.equal(ok.status, 200, ok.text);
      const audit = await api(srv.url, 'GET', '/api/auth/audit?limit=200', { token: ok.json.token });
      assert.ok(audit.json.filter((e) => e.type === 'login_failed').length >= 12, 'every failure audited');
    } finally {
      await stopClean(srv);
    }
  });

  test('the per-account budgets (unknown and known addresses) run out and recover', async () => {
    const srv = await serverWith({ '--rate-login-account': '2/2s', '--rate-login-known-ip': '2/2s' },
      ['--trusted-proxy', '127.0.0.1']);
    try {
      const reg = await registerFrom(srv.url, '198.51.100.1', 'Lim Budgets');
      const email = reg.json.email;
      for (const ip of ['192.0.2.50', '198.51.100.1']) {  // unknown, then known (where it registered)
        const wrong = () => api(srv.url, 'POST', '/api/user/login',
          { body: { email, password: 'wrong-password' }, headers: from(ip) });
        assert.equal((await wrong()).status, 401, ip);
        assert.equal((await wrong()).status, 401, ip);
        const wait = assertLimited(await wrong(), `budget at ${ip}`);
        await sleep(wait * 1000 + 100);
        const ok = await api(srv.url, 'POST', '/api/user/login',
          { body: { email, password: 'password123' }, headers: from(ip) });
        assert.equal(ok.status, 200, `${ip} after the wait: ${ok.text}`);
      }
    } finally {
      await stopClean(srv);
    }
  });

  test('registrations per IP', async () => {
    const srv = await serverWith({ '--rate-register-ip': '2/2s' }, ['--trusted-proxy', '127.0.0.1']);
    try {
      assert.equal((await registerFrom(srv.url, '203.0.113.9', 'A')).status, 201);
      assert.equal((await registerFrom(srv.url, '203.0.113.9', 'B')).status, 201);
      const wait = assertLimited(await registerFrom(srv.url, '203.0.113.9', 'C'), 'register');
      assert.equal((await registerFrom(srv.url, '203.0.113.10', 'D')).status, 201);
      await sleep(wait * 1000);
      assert.equal((await registerFrom(srv.url, '203.0.113.9', 'E')).status, 201);
    } finally {
      await stopClean(srv);
    }
  });

  test('sends per user, over REST and sockets together, with the error ack', async () => {
    const srv = await serverWith({ '--rate-send-user': '4/2s' });
    try {
      const a = await register(srv.url, 'Lim Sender');
      const b = await register(srv.url, 'Lim Peer');
      const chat = await oneToOne(srv.url, a, b);
      const socket = await nativeClient(srv.url, a.token);
      for (let i = 0; i < 2; i += 1) {
        const r = await api(srv.url, 'POST', '/api/message', { token: a.token, body: { chatId: chat._id, content: `r${i}` } });
        assert.equal(r.status, 200, r.text);
      }
      for (let i = 0; i < 2; i += 1) {
        const ack = await call(socket, 'message:send', { chatId: chat._id, content: `s${i}`, clientMsgId: uniq('c') });
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
      const refused = await call(socket, 'message:send', { chatId: chat._id, content: 'x', clientMsgId: uniq('c') });
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, 'rate_limited');
      assert.ok(refused.error.retryAfter >= 1, JSON.stringify(refused));
      const wait = assertLimited(await api(srv.url, 'POST', '/api/message',
        { token: a.token, body: { chatId: chat._id, content: 'y' } }), 'REST send');
      const other = await api(srv.url, 'POST', '/api/message', { token: b.token, body: { chatId: chat._id, content: 'b' } });
      assert.equal(other.status, 200, 'another user has their own budget');
      await sleep(wait * 1000);
      const again = await call(socket, 'message:send', { chatId: chat._id, content: 'z', clientMsgId: uniq('c') });
      assert.equal(again.ok, true, JSON.stringify(again));
      const hist = await api(srv.url, 'GET', `/api/message/${chat._id}`, { token: a.token });
      assert.deepEqual(hist.json.map((m) => m.content), ['r0', 'r1', 's0', 's1', 'b', 'z'], 'refused sends stored nothing');
    } finally {
      await stopClean(srv);
    }
  });

  test('REST requests per IP', async () => {
    const srv = await serverWith({ '--rate-rest-ip': '5/2s' });
    try {
      let limited;
      for (let i = 0; i < 6; i += 1) {
        const r = await api(srv.url, 'GET', '/healthz');
        if (i < 5) assert.equal(r.status, 200, r.text); else limited = r;
      }
      const wait = assertLimited(limited, 'REST');
      await sleep(wait * 1000);
      assert.equal((await api(srv.url, 'GET', '/healthz')).status, 200);
    } finally {
      await stopClean(srv);
    }
  });

  test('socket connections per IP', async () => {
    const srv = await serverWith({ '--rate-socket-connect-ip': '3/2s' });
    try {
      const u = await register(srv.url, 'Lim Sockets');
      for (let i = 0; i < 3; i += 1) await nativeClient(srv.url, u.token);
      const err = await connectError(srv.url, { auth: { token: u.token } });
      assert.ok(err, 'the fourth connection is refused');
      await sleep(ms(2100));
      await nativeClient(srv.url, u.token);
    } finally {
      await stopClean(srv);
    }
  });

  test('events per socket: native gets the error ack, classic events are dropped', async () => {
    const srv = await serverWith({ '--rate-socket-events': '5/2s' });
    try {
      const u = await register(srv.url, 'Lim Events');
      const socket = await nativeClient(srv.url, u.token);
      const acks = [];
      for (let i = 0; i < 7; i += 1) acks.push(await call(socket, 'presence:get', { userIds: [u._id] }));
      assert.deepEqual(acks.map((a) => a.ok), [true, true, true, true, true, false, false]);
      assert.equal(acks[5].error.code, 'rate_limited');
      await sleep(ms(2100));
      assert.equal((await call(socket, 'presence:get', { userIds: [u._id] })).ok, true);
      assert.equal(socket.connected, true, 'a throttled socket stays connected');
    } finally {
      await stopClean(srv);
    }
  });
});

describe('client addresses, allowlists and trusted proxies', () => {
  test('X-Forwarded-For is ignored unless the peer is a trusted proxy', async () => {
    const srv = await serverWith({});
    try {
      const r = await registerFrom(srv.url, '203.0.113.77', 'Spoofer');
      const sessions = await api(srv.url, 'GET', '/api/auth/sessions', { token: r.json.token });
      assert.equal(sessions.json[0].ip, '127.0.0.1', 'a spoofed header is not believed');
    } finally {
      await stopClean(srv);
    }
    const proxied = await serverWith({}, ['--trusted-proxy', '127.0.0.0/8, ::1']);
    try {
      const r = await registerFrom(proxied.url, '203.0.113.77, 10.9.9.9', 'Proxied');
      const sessions = await api(proxied.url, 'GET', '/api/auth/sessions', { token: r.json.token });
      assert.equal(sessions.json[0].ip, '10.9.9.9', 'the proxy vouches for the hop it appended only');
      const audit = await api(proxied.url, 'GET', '/api/auth/audit', { token: r.json.token });
      assert.equal(audit.json[0].ip, '10.9.9.9', 'the same address in the audit trail');
    } finally {
      await stopClean(proxied);
    }
  });

  test('--allow-ip refuses everyone else before any work, REST and sockets alike', async () => {
    const srv = await serverWith({}, ['--trusted-proxy', '127.0.0.1', '--allow-ip', '10.0.0.0/8,2001:db8::/32']);
    try {
      const ok = await registerFrom(srv.url, '10.1.2.3', 'Allowed');
      assert.equal(ok.status, 201, ok.text);
      const v6 = await api(srv.url, 'GET', '/healthz', { headers: from('2001:db8::5') });
      assert.equal(v6.status, 200);
      const refused = await registerFrom(srv.url, '11.1.2.3', 'Refused');
      assert.equal(refused.status, 403, refused.text);
      assert.deepEqual(refused.json, { message: refused.json.message, code: 'forbidden' });
      const direct = await api(srv.url, 'GET', '/healthz');
      assert.equal(direct.status, 403, 'the proxy itself is not a client');
      const err = await connectError(srv.url, { auth: { token: ok.json.token } });
      assert.ok(err, 'a socket from a refused address does not connect');
      const through = await nativeClient(srv.url, ok.json.token, { extraHeaders: from('10.1.2.3') });
      assert.equal(through.connected, true);
    } finally {
      await stopClean(srv);
    }
  });

  test('--admin-allow-ip guards /api/admin only', async () => {
    const srv = await serverWith({}, ['--trusted-proxy', '127.0.0.1', '--admin-allow-ip', '192.168.0.0/16']);
    try {
      const u = await registerFrom(srv.url, '203.0.113.1', 'Admin Guard');
      const refused = await api(srv.url, 'GET', '/api/admin/users', { token: u.json.token, headers: from('203.0.113.1') });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.json.message, 'Not allowed from this address');
      // From an allowed address the route itself decides: this user is no server admin.
      const allowed = await api(srv.url, 'GET', '/api/admin/users', { token: u.json.token, headers: from('192.168.1.1') });
      assert.equal(allowed.status, 403, allowed.text);
      assert.equal(allowed.json.message, 'Only server admins can do this');
      const other = await api(srv.url, 'GET', '/api/chat', { token: u.json.token, headers: from('203.0.113.1') });
      assert.equal(other.status, 200);
    } finally {
      await stopClean(srv);
    }
  });

  test('bad CIDR lists stop chatd at start with a clear message', async () => {
    await assert.rejects(startServer(['--allow-ip', '10.0.0.0/33']), /allow-ip/);
    await assert.rejects(startServer(['--trusted-proxy', 'not-an-ip']), /trusted-proxy/);
    await assert.rejects(startServer(['--rate-login-ip', 'lots']), /rate/);
  });
});
