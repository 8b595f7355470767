// /api/user: register, login, search.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverFixture, api, register, uniq, uniqueEmail, assertError, assertPublicUser, assertNoSecrets,
  ID_RE, decodeJwt, sleep,
} from './harness.mjs';

const fx = serverFixture();
before(fx.start);
after(fx.stop);

const PW = 'password123';

function regBody(over = {}) {
  return { name: 'Reg User', email: uniqueEmail('reg'), password: PW, ...over };
}

describe('register', () => {
  for (const p of ['/api/user', '/api/user/register']) {
    test(`POST ${p} → 201 with {_id,name,email,pic,isAdmin,token}`, async () => {
      const body = regBody({ name: 'Alice Register' });
      const r = await api(fx.url, 'POST', p, { body });
      assert.equal(r.status, 201, r.text);
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
      const u = r.json;
      for (const k of ['_id', 'name', 'email', 'pic', 'isAdmin', 'token']) assert.ok(k in u, `missing ${k}`);
      assert.match(u._id, ID_RE);
      assert.equal(u.name, 'Alice Register');
      assert.equal(u.email, body.email);
      assert.equal(u.isAdmin, false);
      assert.equal(typeof u.pic, 'string');
      assert.ok(u.pic.length > 0, 'pic defaults to an avatar URL');
      assert.match(u.pic, /^https?:\/\//, 'default pic is a URL');
      assert.equal(typeof u.token, 'string');
      assert.equal(u.token.split('.').length, 3, 'token is a JWT');
      assertNoSecrets(u, 'register response');
      assert.ok(!r.text.includes(PW), 'password never echoed');
    });
  }

  test('the token is HS256 with {id, iat, exp} and works on a protected route', async () => {
    const u = await register(fx.url, 'Tok User');
    const { header, payload } = decodeJwt(u.token);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.id, u._id);
    assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp));
    assert.ok(payload.exp > payload.iat);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 120, 'iat is now');
    const r = await api(fx.url, 'GET', '/api/chat', { token: u.token });
    assert.equal(r.status, 200);
  });

  test('pic is stored when given', async () => {
    const pic = 'https://example.com/me.png';
    const r = await api(fx.url, 'POST', '/api/user', { body: regBody({ pic }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.pic, pic);
  });

  test('isAdmin in the body is ignored (always false)', async () => {
    const r = await api(fx.url, 'POST', '/api/user', { body: regBody({ isAdmin: true }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.isAdmin, false);
  });

  test('name and email are trimmed; email case is kept as typed', async () => {
    const tag = uniq('Trim');
    const email = `  MiXeD.${tag}@Example.COM  `;
    const r = await api(fx.url, 'POST', '/api/user', { body: { name: '   Bob Trim  ', email, password: PW } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'Bob Trim');
    assert.equal(r.json.email, `MiXeD.${tag}@Example.COM`);
    // login with the trimmed, lower-cased email works
    const l = await api(fx.url, 'POST', '/api/user/login', { body: { email: `mixed.${tag.toLowerCase()}@example.com`, password: PW } });
    assert.equal(l.status, 200, l.text);
    assert.equal(l.json._id, r.json._id);
    assert.equal(l.json.email, `MiXeD.${tag}@Example.COM`);
  });

  test('duplicate email (any case) → 400 "User already exists"', async () => {
    const body = regBody({ email: `${uniq('Dup')}@Example.com` });
    const r1 = await api(fx.url, 'POST', '/api/user', { body });
    assert.equal(r1.status, 201, r1.text);
    const r2 = await api(fx.url, 'POST', '/api/user', { body });
    assertError(r2, 400, 'invalid_input', 'User already exists');
    const r3 = await api(fx.url, 'POST', '/api/user/register', { body: { ...body, email: body.email.toUpperCase() } });
    assertError(r3, 400, 'invalid_input', 'User already exists');
    const r4 = await api(fx.url, 'POST', '/api/user', { body: { ...body, email: `  ${body.email.toLowerCase()} ` } });
    assertError(r4, 400, 'invalid_input', 'User already exists');
    assert.deepEqual(r2.json, { message: 'User already exists', code: 'invalid_input' });
  });

  test('concurrent duplicate registrations: exactly one wins', async () => {
    const body = regBody();
    const rs = await Promise.all(Array.from({ length: 8 }, () => api(fx.url, 'POST', '/api/user', { body })));
    const statuses = rs.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 400, 400, 400, 400, 400, 400, 400], rs.map((r) => r.text).join('\n'));
  });

  const bad = [
    ['missing name', (b) => { delete b.name; }],
    ['missing email', (b) => { delete b.email; }],
    ['missing password', (b) => { delete b.password; }],
    ['email is an object {"$gt":""}', (b) => { b.email = { $gt: '' }; }],
    ['name is a number', (b) => { b.name = 42; }],
    ['name is an array', (b) => { b.name = ['a']; }],
    ['password is an array', (b) => { b.password = ['password123']; }],
    ['password is a number', (b) => { b.password = 12345678; }],
    ['name is null', (b) => { b.name = null; }],
    ['pic is an object', (b) => { b.pic = { url: 'x' }; }],
    ['empty name', (b) => { b.name = ''; }],
    ['whitespace-only name', (b) => { b.name = '   '; }],
    ['name of 101 chars', (b) => { b.name = 'n'.repeat(101); }],
    ['password of 7 chars', (b) => { b.password = 'p'.repeat(7); }],
    ['password of 129 chars', (b) => { b.password = 'p'.repeat(129); }],
    ['email without @', (b) => { b.email = 'no-at-sign.example.com'; }],
    ['email with nothing before @', (b) => { b.email = '@example.com'; }],
    ['email with nothing after @', (b) => { b.email = `${uniq('x')}@`; }],
    ['email with two @', (b) => { b.email = `${uniq('a')}@b@example.com`; }],
    ['empty email', (b) => { b.email = ''; }],
    ['email of 255 chars', (b) => { const local = uniq('l'); b.email = `${local}${'a'.repeat(255 - local.length - '@example.com'.length)}@example.com`; assert.equal(b.email.length, 255); }],
  ];
  for (const [label, mutate] of bad) {
    test(`register with ${label} → 400 invalid_input`, async () => {
      const body = regBody();
      mutate(body);
      const r = await api(fx.url, 'POST', '/api/user', { body });
      assertError(r, 400, 'invalid_input');
      // nothing was created: the same email (if a valid string) can still be registered properly
      if (typeof body.email === 'string' && /^[^@\s]+@[^@\s]+$/.test(body.email) && body.email.length <= 254) {
        const ok = await api(fx.url, 'POST', '/api/user', { body: regBody({ email: body.email }) });
        assert.equal(ok.status, 201, `a refused registration must not create the user: ${ok.text}`);
      }
    });
  }

  for (const [label, raw] of [['a JSON array', '[]'], ['a JSON string', '"x"'], ['JSON null', 'null'], ['a number', '42']]) {
    test(`register with ${label} as the body → 400 invalid_input`, async () => {
      const r = await api(fx.url, 'POST', '/api/user', { rawBody: raw });
      assertError(r, 400, 'invalid_input');
    });
  }

  test('boundary lengths are accepted: name 100, password 8 and 128, email 254', async () => {
    const r1 = await api(fx.url, 'POST', '/api/user', { body: regBody({ name: 'N'.repeat(100) }) });
    assert.equal(r1.status, 201, r1.text);
    assert.equal(r1.json.name, 'N'.repeat(100));
    const b8 = regBody({ password: 'p'.repeat(8) });
    const r2 = await api(fx.url, 'POST', '/api/user', { body: b8 });
    assert.equal(r2.status, 201, r2.text);
    const l8 = await api(fx.url, 'POST', '/api/user/login', { body: { email: b8.email, password: 'p'.repeat(8) } });
    assert.equal(l8.status, 200, l8.text);
    const b128 = regBody({ password: 'q'.repeat(128) });
    const r3 = await api(fx.url, 'POST', '/api/user', { body: b128 });
    assert.equal(r3.status, 201, r3.text);
    const l128 = await api(fx.url, 'POST', '/api/user/login', { body: { email: b128.email, password: 'q'.repeat(128) } });
    assert.equal(l128.status, 200, l128.text);
    const local = uniq('l');
    const email = `${local}${'a'.repeat(254 - local.length - '@example.com'.length)}@example.com`;
    assert.equal(email.length, 254);
    const r4 = await api(fx.url, 'POST', '/api/user', { body: regBody({ email }) });
    assert.equal(r4.status, 201, r4.text);
  });

  test('length limits count characters, not bytes (100 × "é" is a valid name)', async () => {
    const r = await api(fx.url, 'POST', '/api/user', { body: regBody({ name: 'é'.repeat(100) }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'é'.repeat(100));
    const r2 = await api(fx.url, 'POST', '/api/user', { body: regBody({ name: 'é'.repeat(101) }) });
    assertError(r2, 400, 'invalid_input');
  });

  test('unicode names round-trip', async () => {
    const name = 'Zoë 张伟 🙂';
    const r = await api(fx.url, 'POST', '/api/user', { body: regBody({ name }) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, name);
  });
});

describe('login', () => {
  test('POST /api/user/login → 200 same shape, usable token', async () => {
    const u = await register(fx.url, 'Login User');
    const r = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password } });
    assert.equal(r.status, 200, r.text);
    for (const k of ['_id', 'name', 'email', 'pic', 'isAdmin', 'token']) assert.ok(k in r.json, `missing ${k}`);
    assertPublicUser(r.json, u);
    assert.equal(r.json.isAdmin, false);
    assertNoSecrets(r.json, 'login');
    const c = await api(fx.url, 'GET', '/api/chat', { token: r.json.token });
    assert.equal(c.status, 200);
  });

  test('email is matched case-insensitively', async () => {
    const u = await register(fx.url, 'Case User');
    const r = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email.toUpperCase(), password: u.password } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json._id, u._id);
    assert.equal(r.json.email, u.email);
  });

  test('wrong password → 401 "Invalid Email or Password"', async () => {
    const u = await register(fx.url, 'WrongPw User');
    const r = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: 'wrong-password' } });
    assertError(r, 401, 'unauthorized', 'Invalid Email or Password');
    assert.deepEqual(r.json, { message: 'Invalid Email or Password', code: 'unauthorized' });
    assert.ok(!('token' in r.json));
    // password is case-sensitive
    const r2 = await api(fx.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password.toUpperCase() } });
    assertError(r2, 401, 'unauthorized', 'Invalid Email or Password');
  });

  test('unknown email → 401 "Invalid Email or Password"', async () => {
    const r = await api(fx.url, 'POST', '/api/user/login', { body: { email: uniqueEmail('nobody'), password: PW } });
    assertError(r, 401, 'unauthorized', 'Invalid Email or Password');
    assert.deepEqual(r.json, { message: 'Invalid Email or Password', code: 'unauthorized' });
  });

  for (const [label, body] of [
    ['missing email', { password: PW }],
    ['missing password', { email: 'a@b.c' }],
    ['email as an object {"$gt":""}', { email: { $gt: '' }, password: PW }],
    ['password as an object {"$ne":null}', { email: 'a@b.c', password: { $ne: null } }],
    ['password as a number', { email: 'a@b.c', password: 12345678 }],
  ]) {
    test(`login with ${label} → 400 invalid_input`, async () => {
      const r = await api(fx.url, 'POST', '/api/user/login', { body });
      assertError(r, 400, 'invalid_input');
      assert.ok(!('token' in r.json));
    });
  }
});

describe('search', () => {
  const tag = uniq('srch').toLowerCase();
  let me; let alice; let bob; let carol; let other;
  before(async () => {
    me = await register(fx.url, `Me ${tag}`);
    alice = await register(fx.url, `Alice ${tag}`);
    bob = await register(fx.url, `Bob ${tag}`, { email: `Bob.${tag}@Mail.Example` });
    carol = await register(fx.url, `Carol ${tag}`);
    other = await register(fx.url, 'Unrelated Person');
  });

  async function search(token, qs) {
    const r = await api(fx.url, 'GET', `/api/user${qs}`, { token });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json), 'search returns an array');
    for (const u of r.json) {
      assertPublicUser(u);
      assert.deepEqual(Object.keys(u).sort(), ['_id', 'email', 'isAdmin', 'name', 'pic'], 'search result keys');
    }
    return r.json;
  }

  test('substring on name, case-insensitive, caller excluded, ordered by name', async () => {
    const res = await search(me.token, `?search=${encodeURIComponent(tag.toUpperCase())}`);
    const got = res.map((u) => u._id);
    assert.ok(!got.includes(me._id), 'caller is excluded');
    assert.ok(!got.includes(other._id));
    assert.deepEqual(new Set(got), new Set([alice._id, bob._id, carol._id]));
    const names = res.map((u) => u.name);
    assert.deepEqual(names, [`Alice ${tag}`, `Bob ${tag}`, `Carol ${tag}`], 'ordered by name');
    const a = res.find((u) => u._id === alice._id);
    assertPublicUser(a, alice);
  });

  test('substring on email, case-insensitive', async () => {
    const res = await search(me.token, `?search=${encodeURIComponent(`BOB.${tag}@mail.ex`)}`);
    assert.deepEqual(res.map((u) => u._id), [bob._id]);
    assert.equal(res[0].email, `Bob.${tag}@Mail.Example`);
  });

  test('search is percent-decoded', async () => {
    const res = await search(me.token, `?search=${encodeURIComponent(`Alice ${tag}`)}`);
    assert.deepEqual(res.map((u) => u._id), [alice._id]);
    const res2 = await search(me.token, `?search=Alice+${tag}`);
    // "+" may or may not mean space depending on decoding; it must at least not error
    assert.ok(Array.isArray(res2));
  });

  test('no match → []', async () => {
    const res = await search(me.token, `?search=${encodeURIComponent(`zz-nobody-${tag}`)}`);
    assert.deepEqual(res, []);
  });

  test('empty or absent search lists everyone else (paged with offset)', async () => {
    for (const qs of ['', '?search=', '?search=&']) {
      const all = [];
      for (let offset = 0; offset < 100000; offset += 100) {
        const page = await search(me.token, `${qs}${qs.includes('?') ? '&' : '?'}limit=100&offset=${offset}`);
        all.push(...page);
        if (page.length < 100) break;
      }
      const got = all.map((u) => u._id);
      assert.ok(!got.includes(me._id), 'caller excluded');
      for (const u of [alice, bob, carol, other]) assert.ok(got.includes(u._id), `${u.name} listed for "${qs}"`);
      assert.equal(new Set(got).size, got.length, 'no duplicates across pages');
    }
  });

  test('without a limit at most 50 are returned', async () => {
    const res = await search(me.token, '');
    assert.ok(res.length <= 50, `default limit 50, got ${res.length}`);
  });

  test('% and _ are literal characters', async () => {
    const t = uniq('lit').toLowerCase();
    const pct = await register(fx.url, `${t} 100%`);
    const und = await register(fx.url, `${t} a_b`);
    const plain = await register(fx.url, `${t} abc`);
    const r1 = await search(me.token, `?search=${encodeURIComponent(`${t} 100%`)}`);
    assert.deepEqual(r1.map((u) => u._id), [pct._id]);
    const r2 = await search(me.token, `?search=${encodeURIComponent('%')}`);
    assert.ok(r2.every((u) => u.name.includes('%') || u.email.includes('%')), '"%" matches only names/emails containing %');
    assert.ok(r2.some((u) => u._id === pct._id));
    const r3 = await search(me.token, `?search=${encodeURIComponent(`${t} a_b`)}`);
    assert.deepEqual(r3.map((u) => u._id), [und._id]);
    const r4 = await search(me.token, `?search=${encodeURIComponent(`${t} a_c`)}`);
    assert.deepEqual(r4, [], '"_" is not a wildcard');
    const r5 = await search(me.token, `?search=${encodeURIComponent(`${t} %`)}`);
    assert.deepEqual(r5, [], '"%" is not a wildcard');
    assert.ok(plain);
  });

  test('SQL-ish input is just text', async () => {
    for (const q of ["' OR 1=1 --", '"; DROP TABLE users; --', '\\', "%' --", '*', '.*']) {
      const res = await search(me.token, `?search=${encodeURIComponent(q)}`);
      assert.ok(res.every((u) => (u.name + u.email).toLowerCase().includes(q.toLowerCase())), `only literal matches for ${q}`);
    }
  });

  test('limit (max 100, clamped) and offset page through results in name order', async () => {
    const t = uniq('pg').toLowerCase();
    const names = Array.from({ length: 105 }, (_, i) => `${t} ${String(i).padStart(3, '0')}`);
    // register in batches to keep it quick
    const users = [];
    for (let i = 0; i < names.length; i += 25) {
      users.push(...await Promise.all(names.slice(i, i + 25).map((n) => register(fx.url, n))));
    }
    const q = `?search=${encodeURIComponent(t)}`;
    const def = await search(me.token, q);
    assert.equal(def.length, 50, 'default limit is 50');
    assert.deepEqual(def.map((u) => u.name), names.slice(0, 50));
    const big = await search(me.token, `${q}&limit=1000`);
    assert.equal(big.length, 100, 'limit is clamped to 100');
    assert.deepEqual(big.map((u) => u.name), names.slice(0, 100));
    const p = await search(me.token, `${q}&limit=10&offset=20`);
    assert.deepEqual(p.map((u) => u.name), names.slice(20, 30));
    const last = await search(me.token, `${q}&limit=100&offset=100`);
    assert.deepEqual(last.map((u) => u.name), names.slice(100));
    const beyond = await search(me.token, `${q}&offset=1000`);
    assert.deepEqual(beyond, []);
  });

  for (const qs of ['?limit=abc', '?limit=10abc', '?offset=xyz', '?search=a&limit=']) {
    test(`non-numeric ${qs} → 400 invalid_input`, async () => {
      const r = await api(fx.url, 'GET', `/api/user${qs}`, { token: me.token });
      if (qs === '?search=a&limit=') {
        // an empty limit may be treated as absent; if refused, it must be a 400
        if (r.status !== 200) assertError(r, 400, 'invalid_input');
        return;
      }
      assertError(r, 400, 'invalid_input');
    });
  }

  test('search results never include hashes, even for every user', async () => {
    const r = await api(fx.url, 'GET', '/api/user?limit=100', { token: me.token });
    assert.equal(r.status, 200);
    assertNoSecrets(r.json, 'search');
    assert.ok(!r.text.includes(PW));
    await sleep(0);
  });
});
