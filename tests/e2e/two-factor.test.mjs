// TOTP two-factor authentication (API.md, "Sessions, 2FA, limits"): setup, enable with a code the
// test computes from the secret (RFC 6238 written here, independently of chatd's), login with
// otp_required / otp_invalid, replay refusal, recovery codes used once, disable, and the
// rate-limited attempts. Real binary.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, api, register, assertError, startServer, stopClean, sleep, totp, nowStep,
} from './harness.mjs';

const fx = serverFixture();
before(() => fx.start());
after(() => fx.stop());


async function login(url, user, extra = {}) {
  return api(url, 'POST', '/api/user/login', { body: { email: user.email, password: user.password, ...extra } });
}

async function enable(url, user) {
  const setup = await api(url, 'POST', '/api/auth/2fa/setup', { token: user.token });
  assert.equal(setup.status, 200, setup.text);
  const r = await api(url, 'POST', '/api/auth/2fa/enable', { token: user.token, body: { code: totp(setup.json.secret) } });
  assert.equal(r.status, 200, r.text);
  return { secret: setup.json.secret, recoveryCodes: r.json.recoveryCodes };
}

describe('two-factor authentication', () => {
  test('setup gives a base32 secret and an otpauth URL; a wrong code does not enable', async () => {
    const u = await register(fx.url, 'Tfa Setup');
    const setup = await api(fx.url, 'POST', '/api/auth/2fa/setup', { token: u.token });
    assert.equal(setup.status, 200, setup.text);
    assert.match(setup.json.secret, /^[A-Z2-7]{32}$/);
    const url = new URL(setup.json.otpauthUrl);
    assert.equal(url.protocol, 'otpauth:');
    assert.equal(url.searchParams.get('secret'), setup.json.secret);
    assert.equal(url.searchParams.get('digits'), '6');
    assert.equal(url.searchParams.get('period'), '30');
    assert.ok(decodeURIComponent(url.pathname).includes(u.email), url.pathname);

    const wrong = await api(fx.url, 'POST', '/api/auth/2fa/enable', { token: u.token, body: { code: '000000' === totp(setup.json.secret) ? '111111' : '000000' } });
    assertError(wrong, 401, 'otp_invalid');
    const plain = await login(fx.url, u);
    assert.equal(plain.status, 200, 'a pending secret changes nothing at login');
  });

  test('enabled: login needs the code; a wrong code, then a replayed one, are otp_invalid', async () => {
    const u = await register(fx.url, 'Tfa Login');
    const { secret, recoveryCodes } = await enable(fx.url, u);
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);

    assertError(await login(fx.url, u), 401, 'otp_required');
    const badPassword = await login(fx.url, { ...u, password: 'wrong-password' }, { otp: totp(secret) });
    assertError(badPassword, 401, 'unauthorized', 'Invalid Email or Password');

    // The code that enabled it was used: the next step's code (one step of drift is allowed).
    const code = totp(secret, nowStep() + 1);
    const wrongCode = code === '123456' ? '654321' : '123456';
    assertError(await login(fx.url, u, { otp: wrongCode }), 401, 'otp_invalid');
    const ok = await login(fx.url, u, { otp: code });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.json.token && ok.json.refreshToken);
    assertError(await login(fx.url, u, { otp: code }), 401, 'otp_invalid');
    // An older step than the one used is a replay too.
    assertError(await login(fx.url, u, { otp: totp(secret, nowStep()) }), 401, 'otp_invalid');
    assertError(await login(fx.url, u, { otp: totp(secret, nowStep() + 5) }), 401, 'otp_invalid');
  });

  test('a recovery code works once in place of the code, in any case and with spaces', async () => {
    const u = await register(fx.url, 'Tfa Recovery');
    const { recoveryCodes } = await enable(fx.url, u);
    const code = recoveryCodes[3];
    const ok = await login(fx.url, u, { otp: ` ${code.toUpperCase()} ` });
    assert.equal(ok.status, 200, ok.text);
    assertError(await login(fx.url, u, { otp: code }), 401, 'otp_invalid');
    const other = await login(fx.url, u, { otp: recoveryCodes[4] });
    assert.equal(other.status, 200, other.text);
  });

  test('setup again while enabled is a conflict; disable needs the password and a code', async () => {
    const u = await register(fx.url, 'Tfa Disable');
    const { secret, recoveryCodes } = await enable(fx.url, u);
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/setup', { token: u.token }), 409, 'conflict');
    const noPassword = await api(fx.url, 'POST', '/api/auth/2fa/disable',
      { token: u.token, body: { password: 'wrong-password', code: recoveryCodes[0] } });
    assertError(noPassword, 401, 'unauthorized');
    const noCode = await api(fx.url, 'POST', '/api/auth/2fa/disable',
      { token: u.token, body: { password: u.password, code: '000000' === totp(secret, nowStep() + 1) ? '111111' : '000000' } });
    assertError(noCode, 401, 'otp_invalid');
    const off = await api(fx.url, 'POST', '/api/auth/2fa/disable',
      { token: u.token, body: { password: u.password, code: recoveryCodes[0] } });
    assert.equal(off.status, 204, off.text);
    const plain = await login(fx.url, u);
    assert.equal(plain.status, 200, 'no code needed any more');
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/disable',
      { token: u.token, body: { password: u.password, code: '123456' } }), 409, 'conflict');
    const audit = await api(fx.url, 'GET', '/api/auth/audit', { token: u.token });
    const types = audit.json.map((e) => e.type);
    assert.ok(types.includes('2fa_enabled') && types.includes('2fa_disabled'), types.join());
  });

  test('bad input is a clean 400 and no token is a 401', async () => {
    const u = await register(fx.url, 'Tfa Input');
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/enable', { token: u.token, body: {} }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/enable', { token: u.token, body: { code: 123456 } }), 400, 'invalid_input');
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/enable', { token: u.token, body: { code: '123456' } }), 404, 'not_found');
    assertError(await api(fx.url, 'POST', '/api/auth/2fa/setup'), 401, 'unauthorized');
    const t = await login(fx.url, u, { otp: 42 });
    assertError(t, 400, 'invalid_input');
  });
});

describe('two-factor attempts are rate limited', () => {
  test('wrong codes run out the account\'s budget, with Retry-After; the right code is refused too, then accepted once it refills', async () => {
    const srv = await startServer(['--rate-otp-account', '3/6s'], { limits: true });
    try {
      const u = await register(srv.url, 'Tfa Limited');
      const { secret } = await enable(srv.url, u);
      const good = totp(secret, nowStep() + 1);
      const bad = good === '000000' ? '111111' : '000000';
      let limited;
      for (let i = 0; i < 10 && !limited; i += 1) {
        const r = await login(srv.url, u, { otp: bad });
        if (r.status === 429) limited = r;
        else assertError(r, 401, 'otp_invalid');
      }
      assert.ok(limited, 'the budget of wrong codes ran out');
      assertError(limited, 429, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1, limited.headers.get('retry-after'));
      assertError(await login(srv.url, u, { otp: good }), 429, 'rate_limited');
      // The budget refills: after Retry-After the right code gets in.
      await sleep(Number(limited.headers.get('retry-after')) * 1000 + 100);
      const ok = await login(srv.url, u, { otp: good });
      assert.equal(ok.status, 200, ok.text);
    } finally {
      await stopClean(srv);
    }
  });
});
