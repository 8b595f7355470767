// Engine.IO at chatd's /socket.io/, raw: polling requests with other methods than GET and POST,
// and a client close while a GET waits (the fuller checks are in tests/socketio/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { serverFixture, sleep } from './harness.mjs';

const fx = serverFixture();
before(() => fx.start());
after(() => fx.stop());

const polling = (query = '') => `${fx.url}/socket.io/?EIO=4&transport=polling${query}`;

async function handshake() {
  const res = await fetch(polling());
  const text = await res.text();
  assert.equal(res.status, 200, `handshake: ${text}`);
  return JSON.parse(text.slice(1)).sid;
}

test('PUT, DELETE and PATCH on /socket.io/ are 400 {code 2, Bad handshake method}, not 404', async () => {
  const sid = await handshake();
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    for (const query of ['', `&sid=${sid}`]) {
      const res = await fetch(polling(query), { method });
      assert.equal(res.status, 400, `${method} ${query || 'without sid'}`);
      assert.deepEqual(await res.json(), { code: 2, message: 'Bad handshake method' });
    }
  }
});

test('a client close over polling: POST 1 is ok, the waiting GET gets 6, then the sid is unknown', async () => {
  const sid = await handshake();
  const pending = fetch(polling(`&sid=${sid}`), { signal: AbortSignal.timeout(5000) });
  await sleep(50); // the GET now waits
  const post = await fetch(polling(`&sid=${sid}`), { method: 'POST', body: '1' });
  assert.deepEqual([post.status, await post.text()], [200, 'ok']);
  const get = await pending;
  assert.deepEqual([get.status, await get.text()], [200, '6']);
  const later = await fetch(polling(`&sid=${sid}`));
  assert.equal(later.status, 400);
  assert.deepEqual(await later.json(), { code: 1, message: 'Session ID unknown' });
});
