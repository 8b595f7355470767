// `chatd admin grant|revoke EMAIL` (API.md, "Privacy": server admins are granted by a subcommand
// on the same configuration), against the data of a running server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { startServer, stopClean, api, register, chatdBin, mkTmpDir } from './harness.mjs';

function admin(args) {
  return spawnSync(chatdBin(), ['admin', ...args], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
}

test('grant and revoke the server admin role by email, on the store of a running server', async (t) => {
  if (process.env.CHATD_TEST_DATABASE_URL) return t.skip('SQLite data dir only');
  const dataDir = mkTmpDir();
  const empty = mkTmpDir();
  t.after(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
  });
  const srv = await startServer([], { dataDir });
  try {
    const u = await register(srv.url, 'Future Admin');
    assert.equal(u.isAdmin, false);
    const granted = admin(['grant', u.email.toUpperCase(), '--data-dir', dataDir]);
    assert.equal(granted.status, 0, granted.stderr);
    assert.match(granted.stdout, /is now a server admin/);
    const login = async () => api(srv.url, 'POST', '/api/user/login', { body: { email: u.email, password: u.password } });
    assert.equal((await login()).json.isAdmin, true);
    const revoked = admin(['revoke', u.email, '--data-dir', dataDir]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal((await login()).json.isAdmin, false);

    const unknown = admin(['grant', 'nobody@nowhere.test', '--data-dir', dataDir]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /User not found/);
    const noStore = admin(['grant', u.email, '--data-dir', empty]);
    assert.equal(noStore.status, 1);
    assert.match(noStore.stderr, /no database/);
    assert.notEqual(admin(['grant']).status, 0, 'an email is required');
  } finally {
    await stopClean(srv);
  }
});
