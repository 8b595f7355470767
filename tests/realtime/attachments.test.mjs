// Attachments (API.md, "Rich messages"): POST /api/attachment (raw body or multipart/form-data),
// the type read from the bytes, thumbnails of images (at most 320 px, aspect kept, never enlarged,
// no metadata), downloads by Bearer token or by the signed, expiring `url`/`thumbnailUrl` (ETag and
// 304, Range and 206/416, HEAD, nosniff, `Content-Disposition: attachment` for all but images, and
// application/octet-stream for types that are neither image, video/mp4 nor PDF), who may read them
// (the uploader and the members of a chat with a message that carries them; everyone else 404),
// messages that carry them (REST, `message:send`, `message:new`, `message recieved`, history, sync,
// the checks on the ids), and what happens to the bytes: one blob per content on disk, nothing left
// after a 413, deleted messages, unsent uploads collected after --attachment-grace-s, account
// erasure, search by file name and the data export. Every file is made in memory (test_files.mjs:
// a PNG with a GPS text chunk, a minimal PDF, an MP4 with a 3 MiB `mdat`), and here a GIF header
// followed by HTML (a polyglot that is not an image).
// Blobs live under <dataDir>/attachments (`ab/cdef...`, named by their SHA-256), uploads in
// progress under <dataDir>/attachments/staging.
import { test, before, after, afterEach, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  fixture, startServer, stopClean, closeSockets, api, registerMany, oneToOne, createGroup, send, history,
  nativeClient, classicClient, once, callOk, callErr, assertLean, assertMessage, waitUntil, sleep, ms, uniq,
  fakeId, nowS, ID_RE, ISO_RE, SCALE,
} from './harness.mjs';
import { assertError } from '../e2e/harness.mjs';
import { makePng, makePdf, makeMp4, SECRET_TEXT, PNG_SIGNATURE } from './test_files.mjs';

const fx = fixture({ before, after, afterEach });

// ================================================================== files, made in memory

let video;
/** The 3 MiB (and a few bytes) video of the range tests, made once. */
const VIDEO = () => (video ??= makeMp4(3 * 1024 * 1024, 0x5eed));

/** "GIF89a", a 1x1 screen descriptor with a colour table flag, then HTML: libmagic says image/gif. */
const POLYGLOT = Buffer.concat([
  Buffer.from('GIF89a', 'latin1'),
  Buffer.from([0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00]),
  Buffer.from('<html><script>alert(1)</script></html>', 'latin1'),
]);

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/** A small text file, unique. */
const textFile = (label = 'note') => Buffer.from(`${label} ${uniq('t')}\nplain text, nothing more\n`);

// ================================================================== reading images

/** {width, height} from a PNG's IHDR. */
function pngSize(buf) {
  assert.ok(buf.subarray(0, 8).equals(PNG_SIGNATURE), 'a PNG signature');
  assert.equal(buf.toString('latin1', 12, 16), 'IHDR', 'IHDR is the first chunk');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

/** {width, height} from a JPEG's first start-of-frame marker (SOF0, SOF2, ...). */
function jpegSize(buf) {
  assert.ok(buf[0] === 0xff && buf[1] === 0xd8, 'a JPEG starts with SOI');
  let i = 2;
  while (i + 4 <= buf.length) {
    assert.equal(buf[i], 0xff, `a JPEG marker at offset ${i}`);
    const marker = buf[i + 1];
    if (marker === 0xff) { i += 1; continue; }  // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { i += 2; continue; }  // no length
    if (marker === 0xd9 || marker === 0xda) break;  // EOI or scan data before any frame
    const length = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  assert.fail('no start-of-frame marker in the JPEG');
}

/** The image type of the bytes and their size: image/png or image/jpeg. */
function imageInfo(buf) {
  if (buf.subarray(0, 8).equals(PNG_SIGNATURE)) return { mime: 'image/png', ...pngSize(buf) };
  if (buf[0] === 0xff && buf[1] === 0xd8) return { mime: 'image/jpeg', ...jpegSize(buf) };
  assert.fail(`neither a PNG nor a JPEG: ${buf.subarray(0, 16).toString('hex')}`);
}

/** The longer side of `thumb` is at most 320, no side is larger than the source's, the aspect kept (to a pixel). */
function assertThumbSize(thumb, source, where) {
  const { width: w, height: h } = thumb;
  assert.ok(Number.isInteger(w) && w >= 1 && Number.isInteger(h) && h >= 1, `${where}: sizes are positive integers: ${w}x${h}`);
  assert.ok(Math.max(w, h) <= 320, `${where}: the longer side is at most 320 px: ${w}x${h}`);
  assert.ok(w <= source.width && h <= source.height, `${where}: never enlarged: ${w}x${h} from ${source.width}x${source.height}`);
  assert.ok(Math.abs(w * source.height - h * source.width) <= Math.max(source.width, source.height),
    `${where}: aspect kept: ${w}x${h} from ${source.width}x${source.height}`);
}

// ================================================================== HTTP

/** POST /api/attachment?name= with the raw bytes; `type` is only the Content-Type hint. */
function upload(base, user, bytes, name, { type = 'application/octet-stream', token = user?.token } = {}) {
  const query = name === undefined ? '' : `?name=${encodeURIComponent(name)}`;
  return api(base, 'POST', `/api/attachment${query}`, { token, rawBody: bytes, headers: { 'content-type': type } });
}

/** A multipart/form-data body of `parts` ([field, bytes, filename, type]): {body, type}. */
function multipart(parts) {
  const boundary = `----chatd-test-${crypto.randomBytes(12).toString('hex')}`;
  const chunks = [];
  for (const [field, bytes, filename, type] of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n`
      + `Content-Type: ${type}\r\n\r\n`), bytes, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

/** POST /api/attachment as multipart/form-data: `parts` are [field, bytes, filename, type]. */
function uploadForm(base, user, parts) {
  const { body, type } = multipart(parts);
  return api(base, 'POST', '/api/attachment', { token: user.token, rawBody: body, headers: { 'content-type': type } });
}

/**
 * POST with node:http (for bodies the server may refuse before reading them whole): resolves with
 * the answer, or rejects if the connection ended without one.
 */
function httpPost(base, p, { token, body, type = 'application/octet-stream' }) {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': type, 'content-length': String(body.length) };
    if (token) headers.authorization = `Bearer ${token}`;
    let answered = false;
    const req = http.request(new URL(p, base), { method: 'POST', headers }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: { get: (k) => res.headers[k.toLowerCase()] ?? null }, json, text });
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(new Error(`POST ${p}: the connection ended without an answer (${err.code ?? err.message})`));
    });
    req.end(body);
  });
}

/** GET (or HEAD) `p` (a path, or a signed path with its query) as the bytes; `token` optional. */
async function get(base, p, { token, headers = {}, method = 'GET' } = {}) {
  const h = { 'accept-encoding': 'identity', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(new URL(p, base), { method, headers: h });
  const body = Buffer.from(await res.arrayBuffer());
  const text = body.toString('utf8');
  let json;
  if (/json/i.test(res.headers.get('content-type') ?? '')) {
    try { json = JSON.parse(text); } catch { json = undefined; }
  }
  return { status: res.status, headers: res.headers, body, text, json };
}

const filePath = (att) => `/api/attachment/${att._id}`;
const thumbPath = (att) => `/api/attachment/${att._id}/thumbnail`;
const mediaType = (r) => (r.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
const short = (r) => `${r.status} ${r.text.slice(0, 300)}`;

/** A 200 with the bytes and the download headers; `inline` for images, else `Content-Disposition: attachment`. */
function assertServed(r, { bytes, type, inline, what }) {
  assert.equal(r.status, 200, `${what}: ${short(r)}`);
  assert.equal(mediaType(r), type, `${what}: Content-Type ${r.headers.get('content-type')}`);
  assert.match(r.headers.get('etag') ?? '', /^"[^"]+"$/, `${what}: a quoted ETag: ${r.headers.get('etag')}`);
  assert.equal(r.headers.get('accept-ranges'), 'bytes', `${what}: Accept-Ranges`);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal(r.headers.get('content-length'), String(r.body.length), `${what}: Content-Length is the body's`);
  if (bytes) {
    assert.equal(r.body.length, bytes.length, `${what}: the length of the file`);
    assert.ok(r.body.equals(bytes), `${what}: the very bytes uploaded (sha256 ${sha256(r.body)}, expected ${sha256(bytes)})`);
  }
  const disposition = r.headers.get('content-disposition') ?? '';
  if (inline) assert.doesNotMatch(disposition, /^\s*attachment/i, `${what}: an image is shown inline: ${disposition}`);
  else assert.match(disposition, /^attachment(\s*;|$)/i, `${what}: Content-Disposition: ${disposition}`);
}

/** 404 not_found for the file and (images) its thumbnail, as `user` (or with no token). */
async function assertNoAccess(base, user, att, what) {
  const paths = att.thumbnail ? [filePath(att), thumbPath(att)] : [filePath(att)];
  for (const p of paths) {
    const r = await get(base, p, { token: user?.token });
    assert.equal(r.status, 404, `${what}: GET ${p} should be 404: ${short(r)}`);
    assertError(r, 404, 'not_found');
  }
}

/** The file (and thumbnail) are served to `user` by token. */
async function assertReadable(base, user, att, bytes, what) {
  const r = await get(base, filePath(att), { token: user.token });
  assert.equal(r.status, 200, `${what}: ${short(r)}`);
  assert.ok(r.body.equals(bytes), `${what}: the bytes uploaded`);
  if (att.thumbnail) {
    const t = await get(base, thumbPath(att), { token: user.token });
    assert.equal(t.status, 200, `${what} (thumbnail): ${short(t)}`);
  }
}

// ================================================================== shapes

/** A signed path: `pathname?exp=<unix seconds>&sig=<base64url>`, relative to the server, not expired. */
function assertSignedPath(u, pathname, what) {
  assert.equal(typeof u, 'string', `${what}: a string: ${JSON.stringify(u)}`);
  assert.ok(u.startsWith('/'), `${what}: a path relative to the server's base URL: ${u}`);
  const x = new URL(u, 'http://server.invalid');
  assert.equal(x.pathname, pathname, `${what}: the path of ${u}`);
  const exp = x.searchParams.get('exp') ?? '';
  assert.match(exp, /^\d+$/, `${what}: exp is unix seconds: ${u}`);
  assert.ok(Number(exp) >= nowS() - 1, `${what}: not expired yet: ${u}`);
  assert.match(x.searchParams.get('sig') ?? '', /^[A-Za-z0-9_-]+$/, `${what}: sig is base64url: ${u}`);
}

/** The 201 answer of an upload of `bytes` named `name`: detected `mime`; `image` {width,height} or null. */
function assertUpload(a, { bytes, name, mime, image = null }, what = 'upload') {
  assert.ok(a && typeof a === 'object', `${what}: a JSON object: ${JSON.stringify(a)}`);
  assert.match(a._id, ID_RE, `${what}: _id`);
  assert.equal(a.name, name, `${what}: name`);
  assert.equal(a.size, bytes.length, `${what}: size`);
  if (mime !== undefined) assert.equal(a.mime, mime, `${what}: mime read from the bytes`);
  else assert.equal(typeof a.mime, 'string', `${what}: mime`);
  assert.equal(a.sha256, sha256(bytes), `${what}: sha256 of the bytes, lowercase hex`);
  assertSignedPath(a.url, filePath(a), `${what}: url`);
  if (image) {
    assert.equal(a.width, image.width, `${what}: width`);
    assert.equal(a.height, image.height, `${what}: height`);
    assert.ok(a.thumbnail && typeof a.thumbnail === 'object', `${what}: thumbnail: ${JSON.stringify(a)}`);
    assert.deepEqual(Object.keys(a.thumbnail).sort(), ['height', 'mime', 'width'], `${what}: thumbnail fields`);
    assert.ok(['image/jpeg', 'image/png'].includes(a.thumbnail.mime), `${what}: thumbnail mime ${a.thumbnail.mime}`);
    assertThumbSize(a.thumbnail, image, `${what}: thumbnail`);
    assertSignedPath(a.thumbnailUrl, thumbPath(a), `${what}: thumbnailUrl`);
  } else {
    assert.equal(a.thumbnail, null, `${what}: no thumbnail: ${JSON.stringify(a)}`);
    for (const k of ['width', 'height', 'thumbnailUrl']) assert.ok(!(k in a), `${what}: no ${k}: ${JSON.stringify(a)}`);
  }
}

/** Uploads the raw bytes, asserts the 201 and its shape, returns the answer. */
async function uploadOk(base, user, bytes, name, expected = {}, opts = {}) {
  const r = await upload(base, user, bytes, name, opts);
  assert.equal(r.status, 201, `upload of ${name}: ${short(r)}`);
  assertUpload(r.json, { bytes, name, ...expected }, `upload of ${name}`);
  return r.json;
}

const PNG_IMAGE = (w, h) => ({ mime: 'image/png', image: { width: w, height: h } });
const PDF = { mime: 'application/pdf' };

/** One attachment in a message: {_id, name, size, mime, url} plus width, height, thumbnailUrl for images. */
function assertRef(ref, att, what) {
  const image = att.thumbnail !== null;
  const keys = image
    ? ['_id', 'height', 'mime', 'name', 'size', 'thumbnailUrl', 'url', 'width']
    : ['_id', 'mime', 'name', 'size', 'url'];
  assert.deepEqual(Object.keys(ref).sort(), keys, `${what}: the fields of ${JSON.stringify(ref)}`);
  assert.equal(ref._id, att._id, what);
  assert.equal(ref.name, att.name, `${what}: name`);
  assert.equal(ref.size, att.size, `${what}: size`);
  assert.equal(ref.mime, att.mime, `${what}: mime`);
  assertSignedPath(ref.url, filePath(att), `${what}: url`);
  if (image) {
    assert.equal(ref.width, att.width, `${what}: width`);
    assert.equal(ref.height, att.height, `${what}: height`);
    assertSignedPath(ref.thumbnailUrl, thumbPath(att), `${what}: thumbnailUrl`);
  }
}

/** A message's `attachments` are `atts`, in that order. */
function assertRefs(refs, atts, what) {
  assert.ok(Array.isArray(refs), `${what}: attachments is an array: ${JSON.stringify(refs)}`);
  assert.deepEqual(refs.map((x) => x._id), atts.map((x) => x._id), `${what}: the attachments, in the order sent`);
  refs.forEach((ref, i) => assertRef(ref, atts[i], `${what} [${i}]`));
}

const assertNoRefs = (m, what) => assert.ok(!('attachments' in m), `${what}: no attachments field: ${JSON.stringify(m)}`);

// ================================================================== the data dir

const attachmentsDir = (srv) => path.join(srv.dataDir, 'attachments');
const stagingDir = (srv) => path.join(attachmentsDir(srv), 'staging');

/** Regular files under <dataDir>/attachments (relative, '/'-separated), without staging/ and the store's tmp/. */
function blobFiles(srv) {
  const out = [];
  const walk = (dir, rel) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (!rel && (e.name === 'staging' || e.name === 'tmp')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk(attachmentsDir(srv), '');
  return out.sort();
}

/** Whether a blob file is the one named by `sha` (`ab/cdef...`, or the whole hash as its name). */
const namesBlob = (rel, sha) => rel.replaceAll('/', '') === sha || path.posix.basename(rel) === sha;
const blobOf = (srv, sha) => blobFiles(srv).filter((f) => namesBlob(f, sha));
const hasBlob = (srv, sha) => blobOf(srv, sha).length > 0;

function stagingFiles(srv) {
  try {
    return fs.readdirSync(stagingDir(srv));
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
}

// ================================================================== more helpers

/** A word no other test's message or file holds. */
const word = () => uniq('w').replace(/[^a-z0-9]/gi, '').toLowerCase();

async function pair(base = fx.url) {
  const [a, b] = await registerMany(base, [uniq('Ann'), uniq('Ben')]);
  const chat = await oneToOne(base, a, b);
  return { a, b, chat };
}

/** Starts a server with `args`, runs `fn(srv)`, then closes the sockets and stops it cleanly. */
async function withServer(args, fn) {
  const srv = await startServer(args);
  try {
    await fn(srv);
  } finally {
    closeSockets();
    await stopClean(srv);
  }
}

const postMessage = (base, user, body) => api(base, 'POST', '/api/message', { token: user.token, body });

/** A copy of the signed path `u` with its query changed by `edit(searchParams)` (or its path replaced). */
function tamper(u, edit, pathname) {
  const x = new URL(u, 'http://server.invalid');
  edit(x.searchParams);
  return `${pathname ?? x.pathname}?${x.searchParams.toString()}`;
}
const flipFirst = (s) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);

// ================================================================== upload

describe('POST /api/attachment', () => {
  test('a raw body: 201 with the type read from the bytes (not the name or Content-Type), the size and SHA-256', async () => {
    const { a } = await pair();
    const png = makePng(800, 600);
    const image = await uploadOk(fx.url, a, png, 'notes.txt', PNG_IMAGE(800, 600), { type: 'application/pdf' });
    assert.equal(image.thumbnail.width, 320, `800x600 shrinks to 320 px wide: ${JSON.stringify(image.thumbnail)}`);
    assert.equal(image.thumbnail.height, 240, `and keeps its 4:3 aspect: ${JSON.stringify(image.thumbnail)}`);

    const pdf = makePdf();
    await uploadOk(fx.url, a, pdf, 'photo.png', PDF, { type: 'image/png' });
    const w = word();
    await uploadOk(fx.url, a, makePdf(), `résumé ${w} (final).pdf`, PDF, { type: 'application/pdf' });
    await uploadOk(fx.url, a, VIDEO(), 'clip.mp4', { mime: 'video/mp4' }, { type: 'text/plain' });
    const text = await uploadOk(fx.url, a, textFile(), 'readme.txt', {}, { type: 'image/png' });
    assert.notEqual(text.mime, 'image/png', 'the Content-Type is only a hint');
  });

  test('multipart/form-data: the `file` part, whose filename is the name; no `file` part is 400', async () => {
    const { a } = await pair();
    const w = word();
    const png = makePng(200, 100);
    let r = await uploadForm(fx.url, a, [['file', png, `scan-${w}.png`, 'text/plain']]);
    assert.equal(r.status, 201, short(r));
    assertUpload(r.json, { bytes: png, name: `scan-${w}.png`, ...PNG_IMAGE(200, 100) }, 'multipart png');
    const pdf = makePdf();
    r = await uploadForm(fx.url, a, [['file', pdf, 'minutes.pdf', 'application/octet-stream']]);
    assert.equal(r.status, 201, short(r));
    assertUpload(r.json, { bytes: pdf, name: 'minutes.pdf', ...PDF }, 'multipart pdf');
    assertError(await uploadForm(fx.url, a, [['upload', pdf, 'minutes.pdf', 'application/pdf']]), 400, 'invalid_input');
  });

  test('refused: no token or a bad one 401, an empty body 400, a GIF header that is not an image 400', async () => {
    const { a } = await pair();
    const pdf = makePdf();
    assertError(await upload(fx.url, null, pdf, 'x.pdf'), 401, 'unauthorized');
    assertError(await upload(fx.url, null, pdf, 'x.pdf', { token: 'garbage' }), 401, 'unauthorized');
    assertError(await upload(fx.url, a, Buffer.alloc(0), 'empty.pdf'), 400, 'invalid_input');
    const r = await upload(fx.url, a, POLYGLOT, 'cat.gif', { type: 'image/gif' });
    assertError(r, 400, 'invalid_input');
    assert.ok(!r.text.includes('<script>'), `the refusal does not echo the file: ${r.text}`);
  });

  test('thumbnails: at most 320 px on the longer side, aspect kept, never enlarged, no metadata', async () => {
    const { a } = await pair();
    for (const [w, h] of [[800, 600], [240, 720], [100, 50]]) {
      const png = makePng(w, h);
      const att = await uploadOk(fx.url, a, png, `${w}x${h}.png`, PNG_IMAGE(w, h));
      const r = await get(fx.url, thumbPath(att), { token: a.token });
      assertServed(r, { type: att.thumbnail.mime, inline: true, what: `thumbnail of ${w}x${h}` });
      const info = imageInfo(r.body);
      assert.equal(info.mime, att.thumbnail.mime, `${w}x${h}: the thumbnail's bytes are a ${att.thumbnail.mime}`);
      assert.deepEqual({ width: info.width, height: info.height },
        { width: att.thumbnail.width, height: att.thumbnail.height }, `${w}x${h}: the thumbnail's own size is the one announced`);
      assertThumbSize(info, { width: w, height: h }, `thumbnail of ${w}x${h}`);
      if (w === 100) assert.deepEqual([info.width, info.height], [100, 50], 'a small image keeps its size');
      assert.ok(!r.body.includes(Buffer.from(SECRET_TEXT)), `${w}x${h}: the thumbnail drops the tEXt metadata`);
      // The original is served as uploaded, metadata and all.
      assertServed(await get(fx.url, filePath(att), { token: a.token }), { bytes: png, type: 'image/png', inline: true, what: `${w}x${h}` });
    }
  });

  test('the same bytes twice: two attachments with one SHA-256, one blob file on disk', async () => {
    const { a, b } = await pair();
    const pdf = makePdf();
    const before = new Set(blobFiles(fx.srv));
    const first = await uploadOk(fx.url, a, pdf, 'first.pdf', PDF);
    const second = await uploadOk(fx.url, a, pdf, 'second.pdf', PDF);
    const third = await uploadOk(fx.url, b, pdf, 'third.pdf', PDF);
    assert.equal(new Set([first._id, second._id, third._id]).size, 3, 'three attachments');
    assert.deepEqual([second.sha256, third.sha256], [first.sha256, first.sha256]);
    const added = blobFiles(fx.srv).filter((f) => !before.has(f));
    assert.equal(added.length, 1, `one new file under attachments/: ${JSON.stringify(added)}`);
    assert.ok(namesBlob(added[0], first.sha256), `the new file is named by the SHA-256 ${first.sha256}: ${added[0]}`);
    assert.ok(fs.readFileSync(path.join(attachmentsDir(fx.srv), added[0])).equals(pdf), 'the blob holds the bytes');
    for (const [att, user] of [[first, a], [second, a], [third, b]]) {
      assertServed(await get(fx.url, filePath(att), { token: user.token }), { bytes: pdf, type: 'application/pdf', what: att.name });
    }
    // Each upload is its uploader's own.
    await assertNoAccess(fx.url, b, first, 'a\'s upload, as b');
    await assertNoAccess(fx.url, a, third, 'b\'s upload, as a');
  });
});

// ================================================================== download

describe('GET /api/attachment/:id', () => {
  test('an image: inline, its own type, ETag and 304, HEAD; its thumbnail too', async () => {
    const { a } = await pair();
    const png = makePng(800, 600);
    const att = await uploadOk(fx.url, a, png, 'holiday.png', PNG_IMAGE(800, 600));
    const r = await get(fx.url, filePath(att), { token: a.token });
    assertServed(r, { bytes: png, type: 'image/png', inline: true, what: 'the image' });
    const etag = r.headers.get('etag');
    const cached = await get(fx.url, filePath(att), { token: a.token, headers: { 'if-none-match': etag } });
    assert.equal(cached.status, 304, `If-None-Match ${etag}: ${short(cached)}`);
    assert.equal(cached.body.length, 0, 'a 304 has no body');
    const changed = await get(fx.url, filePath(att), { token: a.token, headers: { 'if-none-match': '"something-else"' } });
    assert.equal(changed.status, 200, `another ETag: ${short(changed)}`);

    const head = await get(fx.url, filePath(att), { token: a.token, method: 'HEAD' });
    assert.equal(head.status, 200, short(head));
    assert.equal(head.body.length, 0, 'HEAD has no body');
    for (const h of ['content-type', 'etag', 'accept-ranges', 'x-content-type-options']) {
      assert.equal(head.headers.get(h), r.headers.get(h), `HEAD: the same ${h}`);
    }
    assert.equal(head.headers.get('content-length'), String(png.length), 'HEAD: the Content-Length of the file');

    const thumb = await get(fx.url, thumbPath(att), { token: a.token });
    assertServed(thumb, { type: att.thumbnail.mime, inline: true, what: 'the thumbnail' });
    const info = imageInfo(thumb.body);
    assert.deepEqual([info.mime, info.width, info.height], [att.thumbnail.mime, att.thumbnail.width, att.thumbnail.height]);
    assert.ok(!thumb.body.includes(Buffer.from(SECRET_TEXT)), 'the thumbnail has no GPS text');
    const thumb304 = await get(fx.url, thumbPath(att), { token: a.token, headers: { 'if-none-match': thumb.headers.get('etag') } });
    assert.equal(thumb304.status, 304, short(thumb304));
  });

  test('a PDF is an attachment; other types are served as application/octet-stream attachments', async () => {
    const { a } = await pair();
    const pdf = makePdf();
    const doc = await uploadOk(fx.url, a, pdf, 'report.pdf', PDF);
    assertServed(await get(fx.url, filePath(doc), { token: a.token }), { bytes: pdf, type: 'application/pdf', what: 'the PDF' });
    assertError(await get(fx.url, thumbPath(doc), { token: a.token }), 404, 'not_found');

    const html = Buffer.from(`<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script>${uniq('h')}</body></html>\n`);
    const svg = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script><desc>${uniq('s')}</desc></svg>\n`);
    const txt = textFile();
    for (const [bytes, name, hint] of [[html, 'page.html', 'text/html'], [svg, 'logo.svg', 'image/svg+xml'], [txt, 'a.txt', 'text/plain']]) {
      const att = await uploadOk(fx.url, a, bytes, name, {}, { type: hint });
      assert.equal(att.thumbnail, null, `${name}: not an image`);
      assertServed(await get(fx.url, filePath(att), { token: a.token }),
        { bytes, type: 'application/octet-stream', what: `${name} (${att.mime})` });
    }
  });

  test('a video: Range -> 206 with Content-Range, suffix ranges, 416 past the end, HEAD, the whole file', async () => {
    const { a } = await pair();
    const mp4 = VIDEO();
    const size = mp4.length;
    const att = await uploadOk(fx.url, a, mp4, 'clip.mp4', { mime: 'video/mp4' });
    const whole = await get(fx.url, filePath(att), { token: a.token });
    assertServed(whole, { bytes: mp4, type: 'video/mp4', what: 'the video' });
    const etag = whole.headers.get('etag');

    const ranged = async (range, opts = {}) => get(fx.url, opts.path ?? filePath(att),
      { token: opts.path ? undefined : a.token, headers: { range } });
    const cases = [
      ['bytes=100-199', 100, 199],
      ['bytes=-500', size - 500, size - 1],
      ['bytes=1000000-2499999', 1000000, 2499999],
      [`bytes=${size - 10}-`, size - 10, size - 1],
      ['bytes=0-0', 0, 0],
    ];
    for (const [range, first, last] of cases) {
      const r = await ranged(range);
      assert.equal(r.status, 206, `${range}: ${short(r)}`);
      assert.equal(r.headers.get('content-range'), `bytes ${first}-${last}/${size}`, `${range}: Content-Range`);
      assert.equal(r.headers.get('content-length'), String(last - first + 1), `${range}: Content-Length`);
      assert.ok(r.body.equals(mp4.subarray(first, last + 1)), `${range}: exactly bytes ${first}-${last} (got ${r.body.length} bytes)`);
      assert.equal(mediaType(r), 'video/mp4', `${range}: Content-Type`);
    }
    const past = await ranged(`bytes=${size}-`);
    assert.equal(past.status, 416, `bytes=${size}-: ${short(past)}`);
    assert.equal(past.headers.get('content-range'), `bytes */${size}`, 'a 416 names the size');

    // Seeking in a <video src> works by the signed url, without a token.
    const bySig = await ranged('bytes=100-199', { path: att.url });
    assert.equal(bySig.status, 206, `by the signed url: ${short(bySig)}`);
    assert.ok(bySig.body.equals(mp4.subarray(100, 200)));

    const head = await get(fx.url, filePath(att), { token: a.token, method: 'HEAD' });
    assert.equal(head.status, 200, short(head));
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get('content-length'), String(size));
    assert.equal(head.headers.get('etag'), etag);
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.equal(mediaType(head), 'video/mp4');
    assert.equal((await get(fx.url, filePath(att), { token: a.token, headers: { 'if-none-match': etag } })).status, 304);
  });

  test('the uploader reads by token or signed url; anyone else, a tampered or borrowed url, an unknown id: 404', async () => {
    const { a, b } = await pair();
    const png = makePng(320, 200);
    const att = await uploadOk(fx.url, a, png, 'mine.png', PNG_IMAGE(320, 200));
    const other = await uploadOk(fx.url, a, makePdf(), 'other.pdf', PDF);
    await assertReadable(fx.url, a, att, png, 'the uploader by token');
    assertServed(await get(fx.url, att.url), { bytes: png, type: 'image/png', inline: true, what: 'the signed url, no token' });
    const t = await get(fx.url, att.thumbnailUrl);
    assertServed(t, { type: att.thumbnail.mime, inline: true, what: 'the signed thumbnailUrl, no token' });

    await assertNoAccess(fx.url, b, att, 'another user');
    await assertNoAccess(fx.url, null, att, 'no token');
    const wrong = [
      ['a tampered sig', tamper(att.url, (q) => q.set('sig', flipFirst(q.get('sig'))))],
      ['an older exp', tamper(att.url, (q) => q.set('exp', String(Number(q.get('exp')) - 3600)))],
      ['a later exp', tamper(att.url, (q) => q.set('exp', String(Number(q.get('exp')) + 3600)))],
      ['no sig', tamper(att.url, (q) => q.delete('sig'))],
      ['no exp', tamper(att.url, (q) => q.delete('exp'))],
      ['an empty sig', tamper(att.url, (q) => q.set('sig', ''))],
      ['another attachment\'s path', tamper(att.url, () => {}, filePath(other))],
      ['a tampered thumbnail sig', tamper(att.thumbnailUrl, (q) => q.set('sig', flipFirst(q.get('sig'))))],
    ];
    for (const [what, p] of wrong) {
      const r = await get(fx.url, p);
      assert.equal(r.status, 404, `${what} (${p}): ${short(r)}`);
      assertError(r, 404, 'not_found');
    }
    for (const id of [fakeId(), 'not-an-id']) {
      assertError(await get(fx.url, `/api/attachment/${id}`, { token: a.token }), 404, 'not_found');
      assertError(await get(fx.url, `/api/attachment/${id}/thumbnail`, { token: a.token }), 404, 'not_found');
    }
  });
});

// ================================================================== messages

describe('attachments in messages', () => {
  test('a REST send: every shape carries them in order (classic, message:new, message recieved, history, sync); the other member downloads by url', async () => {
    const { a, b, chat } = await pair();
    const pdfBytes = makePdf();
    const pngBytes = makePng(640, 480);
    const pdf = await uploadOk(fx.url, a, pdfBytes, 'minutes.pdf', PDF);
    const png = await uploadOk(fx.url, a, pngBytes, 'photo.png', PNG_IMAGE(640, 480));
    const sb = await nativeClient(fx.url, b.token);
    const cb = await classicClient(fx.url, b);
    const heardNative = once(sb, 'message:new', { filter: (m) => m?.chatId === chat._id });
    const heardClassic = once(cb, 'message recieved', { filter: (m) => m?.chat?._id === chat._id });

    const m = await send(fx.url, a, chat._id, '', { attachments: [pdf._id, png._id] });
    assertMessage(m);
    assert.equal(m.content, '', 'content may be empty when attachments are given');
    assertRefs(m.attachments, [pdf, png], 'POST answer');
    const [lean] = await heardNative;
    assertLean(lean, { _id: m._id, chatId: chat._id, content: '', seq: m.seq });
    assertRefs(lean.attachments, [pdf, png], 'message:new');
    const [classic] = await heardClassic;
    assertMessage(classic);
    assert.equal(classic._id, m._id);
    assertRefs(classic.attachments, [pdf, png], 'message recieved');

    // A message without attachments has no field.
    const heardPlain = once(sb, 'message:new', { filter: (x) => x?.content === 'no files' });
    const plain = await send(fx.url, a, chat._id, 'no files');
    assertNoRefs(plain, 'POST answer without attachments');
    assertNoRefs((await heardPlain)[0], 'message:new without attachments');

    const page = await history(fx.url, b, chat._id);
    assertRefs(page.find((x) => x._id === m._id).attachments, [pdf, png], 'REST history');
    assertNoRefs(page.find((x) => x._id === plain._id), 'REST history without attachments');
    const synced = await callOk(sb, 'sync', { cursors: { [chat._id]: 0 } });
    const got = synced.messages.find((x) => x._id === m._id);
    assert.ok(got, `sync returns the message: ${JSON.stringify(synced.messages.map((x) => x._id))}`);
    assertLean(got, { _id: m._id, content: '' });
    assertRefs(got.attachments, [pdf, png], 'sync');
    assertNoRefs(synced.messages.find((x) => x._id === plain._id), 'sync without attachments');

    // b reads both by the urls of the event, without a token, and by token.
    const [pdfRef, pngRef] = lean.attachments;
    assertServed(await get(fx.url, pdfRef.url), { bytes: pdfBytes, type: 'application/pdf', what: 'b: the PDF by url' });
    assertServed(await get(fx.url, pngRef.url), { bytes: pngBytes, type: 'image/png', inline: true, what: 'b: the image by url' });
    assertServed(await get(fx.url, pngRef.thumbnailUrl), { type: png.thumbnail.mime, inline: true, what: 'b: the thumbnail by url' });
    await assertReadable(fx.url, b, pdf, pdfBytes, 'b: the PDF by token');
    await assertReadable(fx.url, b, png, pngBytes, 'b: the image by token');
  });

  test('message:send carries them too, with empty content; members hear them in message:new', async () => {
    const { a, b, chat } = await pair();
    const png = await uploadOk(fx.url, a, makePng(300, 300), 'square.png', PNG_IMAGE(300, 300));
    const pdf = await uploadOk(fx.url, a, makePdf(), 'notes.pdf', PDF);
    const [sa, sb] = await Promise.all([nativeClient(fx.url, a.token), nativeClient(fx.url, b.token)]);
    const heard = once(sb, 'message:new', { filter: (m) => m?.chatId === chat._id });
    const clientMsgId = uniq('att');
    const ack = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId, content: '', attachments: [png._id, pdf._id] });
    assertLean(ack.message, { chatId: chat._id, content: '', clientMsgId });
    assertRefs(ack.message.attachments, [png, pdf], 'the ack');
    const [event] = await heard;
    assertLean(event, { _id: ack.message._id, content: '' });
    assertRefs(event.attachments, [png, pdf], 'message:new');
    // A retry (same clientMsgId) is the same message.
    const again = await callOk(sa, 'message:send', { chatId: chat._id, clientMsgId, content: '', attachments: [png._id, pdf._id] });
    assert.equal(again.message._id, ack.message._id);
    assertRefs(again.message.attachments, [png, pdf], 'the retried ack');
    const page = await history(fx.url, a, chat._id);
    assert.equal(page.length, 1);
    assertRefs(page[0].attachments, [png, pdf], 'REST history');
    assert.equal((await get(fx.url, filePath(pdf), { token: b.token })).status, 200, 'b reads it by token');
  });

  test('at most 10, each uploaded by the sender, each once: anything else is 400 invalid_input and writes nothing', async () => {
    const { a, b, chat } = await pair();
    const files = [];
    for (let i = 0; i < 11; i++) files.push(await uploadOk(fx.url, a, textFile(`f${i}`), `f${i}.txt`));
    const bens = await uploadOk(fx.url, b, makePdf(), 'bens.pdf', PDF);
    const ids = (n) => files.slice(0, n).map((f) => f._id);
    const sa = await nativeClient(fx.url, a.token);
    const bad = [
      ['11 attachments', { content: 'x', attachments: ids(11) }],
      ['another user\'s upload', { content: 'x', attachments: [bens._id] }],
      ['the same id twice', { content: 'x', attachments: [files[0]._id, files[0]._id] }],
      ['an unknown id', { content: 'x', attachments: [fakeId()] }],
      ['not an id', { content: 'x', attachments: ['not-an-id'] }],
      ['a number', { content: 'x', attachments: [42] }],
      ['no content and no attachments', { content: '', attachments: [] }],
    ];
    for (const [what, body] of bad) {
      const r = await postMessage(fx.url, a, { chatId: chat._id, ...body });
      assert.equal(r.status, 400, `REST, ${what}: ${short(r)}`);
      assertError(r, 400, 'invalid_input');
      await callErr(sa, 'message:send', { chatId: chat._id, clientMsgId: uniq('bad'), ...body }, 'invalid_input');
    }
    assert.deepEqual(await history(fx.url, a, chat._id), [], 'nothing was written');

    const ten = await send(fx.url, a, chat._id, '', { attachments: ids(10).reverse() });
    assertRefs(ten.attachments, files.slice(0, 10).reverse(), '10 attachments');
    // b may read a's file now, but not send it as if it were b's.
    assert.equal((await get(fx.url, filePath(files[0]), { token: b.token })).status, 200);
    assertError(await postMessage(fx.url, b, { chatId: chat._id, content: 'fwd', attachments: [files[0]._id] }), 400, 'invalid_input');
    assert.equal((await history(fx.url, a, chat._id)).length, 1);
  });

  test('chat members read them: not before the send, not a non-member, yes a member who joins later, not one removed', async () => {
    const [a, b, c, d] = await registerMany(fx.url, [uniq('Ann'), uniq('Ben'), uniq('Cat'), uniq('Dan')]);
    const group = await createGroup(fx.url, a, [b, c]);
    const png = makePng(500, 250);
    const att = await uploadOk(fx.url, a, png, 'group.png', PNG_IMAGE(500, 250));
    await assertNoAccess(fx.url, b, att, 'b before the send');
    await send(fx.url, a, group._id, 'for the group', { attachments: [att._id] });
    await assertReadable(fx.url, b, att, png, 'b, a member');
    await assertReadable(fx.url, c, att, png, 'c, a member');
    await assertNoAccess(fx.url, d, att, 'd, not a member');

    const added = await api(fx.url, 'PUT', '/api/chat/groupadd', { token: a.token, body: { chatId: group._id, userId: d._id } });
    assert.equal(added.status, 200, short(added));
    await assertReadable(fx.url, d, att, png, 'd, who joined after the send');
    const removed = await api(fx.url, 'PUT', '/api/chat/groupremove', { token: a.token, body: { chatId: group._id, userId: c._id } });
    assert.equal(removed.status, 200, short(removed));
    await assertNoAccess(fx.url, c, att, 'c, removed from the group');
  });

  test('deleting the message: the other member loses it, the uploader keeps it; the tombstone has none', async () => {
    const { a, b, chat } = await pair();
    const png = makePng(400, 400);
    const att = await uploadOk(fx.url, a, png, 'oops.png', PNG_IMAGE(400, 400));
    const m = await send(fx.url, a, chat._id, 'oops', { attachments: [att._id] });
    await assertReadable(fx.url, b, att, png, 'b before the deletion');
    const r = await api(fx.url, 'DELETE', `/api/message/${m._id}`, { token: a.token });
    assert.equal(r.status, 200, short(r));
    await assertNoAccess(fx.url, b, att, 'b after the deletion');
    await assertReadable(fx.url, a, att, png, 'the uploader after the deletion');
    const [tomb] = await history(fx.url, b, chat._id);
    assert.equal(tomb.deleted, true);
    assertNoRefs(tomb, 'the tombstone');
  });

  test('search finds a message by its attachment\'s name, for every member and nobody else', async () => {
    const [a, b, c] = await registerMany(fx.url, [uniq('Ann'), uniq('Ben'), uniq('Cat')]);
    const chat = await oneToOne(fx.url, a, b);
    const w = word();
    const att = await uploadOk(fx.url, a, makePdf(), `budget ${w} final.pdf`, PDF);
    const m = await send(fx.url, a, chat._id, '', { attachments: [att._id] });
    const search = (user, q) => api(fx.url, 'GET', `/api/message/search?${new URLSearchParams({ q })}`, { token: user.token });
    for (const user of [a, b]) {
      const r = await search(user, w);
      assert.equal(r.status, 200, short(r));
      assert.deepEqual(r.json.results.map((hit) => hit.message._id), [m._id], `${user.name} finds it by the file name`);
    }
    assert.deepEqual((await search(c, w)).json.results, [], 'not a member: nothing');
    assert.equal((await api(fx.url, 'DELETE', `/api/message/${m._id}`, { token: a.token })).status, 200);
    assert.deepEqual((await search(b, w)).json.results, [], 'a deleted message never matches');
  });

  test('the data export lists the caller\'s uploads: {_id, name, size, mime, sha256, createdAt}', async () => {
    const { a, b, chat } = await pair();
    const png = makePng(64, 48);
    const mine = [
      await uploadOk(fx.url, a, png, 'export.png', PNG_IMAGE(64, 48)),
      await uploadOk(fx.url, a, makePdf(), 'export.pdf', PDF),
    ];
    const theirs = await uploadOk(fx.url, b, makePdf(), 'theirs.pdf', PDF);
    await send(fx.url, a, chat._id, 'with files', { attachments: mine.map((x) => x._id) });
    const r = await api(fx.url, 'GET', '/api/user/me/export', { token: a.token });
    assert.equal(r.status, 200, short(r));
    assert.ok(Array.isArray(r.json?.attachments), `export.attachments is an array: ${r.text.slice(0, 300)}`);
    for (const att of mine) {
      const entry = r.json.attachments.find((x) => x._id === att._id);
      assert.ok(entry, `the export lists ${att.name}: ${JSON.stringify(r.json.attachments)}`);
      for (const k of ['name', 'size', 'mime', 'sha256']) assert.equal(entry[k], att[k], `export of ${att.name}: ${k}`);
      assert.match(entry.createdAt, ISO_RE, `export of ${att.name}: createdAt`);
    }
    assert.ok(!r.json.attachments.some((x) => x._id === theirs._id), 'not another user\'s uploads');
    const sent = r.json.messages.find((x) => x.content === 'with files');
    assert.deepEqual(sent?.attachments, mine.map((x) => x._id), 'the exported message names its files');
  });

  test('erasing the account deletes the bytes of its attachments at once', async () => {
    const { a, b, chat } = await pair();
    const png = makePng(640, 360);
    const att = await uploadOk(fx.url, a, png, 'erase-me.png', PNG_IMAGE(640, 360));
    await send(fx.url, a, chat._id, 'look', { attachments: [att._id] });
    const [m] = await history(fx.url, b, chat._id);
    const [ref] = m.attachments;
    await assertReadable(fx.url, b, att, png, 'b before the erasure');
    assert.ok(hasBlob(fx.srv, att.sha256), `the blob ${att.sha256} is on disk: ${JSON.stringify(blobFiles(fx.srv).slice(0, 20))}`);

    const r = await api(fx.url, 'DELETE', '/api/user/me', { token: a.token, body: { password: a.password } });
    assert.equal(r.status, 204, short(r));
    await waitUntil(() => !hasBlob(fx.srv, att.sha256), { timeout: 2000, message: `the blob ${att.sha256} to be deleted` });
    await assertNoAccess(fx.url, b, att, 'b after the erasure');
    assertError(await get(fx.url, ref.url), 404, 'not_found');
    assertError(await get(fx.url, ref.thumbnailUrl), 404, 'not_found');
    const [tomb] = await history(fx.url, b, chat._id);
    assert.equal(tomb.deleted, true);
    assertNoRefs(tomb, 'the erased message');
  });
});

// ================================================================== server flags

describe('server limits', () => {
  test('--max-attachment-bytes: above it 413 too_large and nothing stored; exactly at it is fine', async () => {
    const LIMIT = 1_000_000;
    await withServer(['--max-attachment-bytes', String(LIMIT)], async (srv) => {
      const { a } = await pair(srv.url);
      await uploadOk(srv.url, a, makePdf(), 'warm-up.pdf', PDF);  // the folders exist
      const before = blobFiles(srv);
      const over = crypto.randomBytes(1_500_000);
      const r = await httpPost(srv.url, `/api/attachment?name=${encodeURIComponent('big.bin')}`, { token: a.token, body: over });
      assertError(r, 413, 'too_large');
      await waitUntil(() => stagingFiles(srv).length === 0,
        { timeout: 2000, message: `an empty staging folder (now ${JSON.stringify(stagingFiles(srv))})` });
      assert.deepEqual(blobFiles(srv), before, 'no new blob file');
      assert.ok(!hasBlob(srv, sha256(over)));

      const form = multipart([['file', over, 'big.bin', 'application/octet-stream']]);
      assertError(await httpPost(srv.url, '/api/attachment', { token: a.token, body: form.body, type: form.type }), 413, 'too_large');
      await waitUntil(() => stagingFiles(srv).length === 0, { timeout: 2000, message: 'an empty staging folder after the multipart upload' });
      assert.deepEqual(blobFiles(srv), before, 'no new blob file after the multipart upload either');

      const exact = crypto.randomBytes(LIMIT);
      const ok = await uploadOk(srv.url, a, exact, 'exact.bin');
      assert.ok(hasBlob(srv, ok.sha256), 'a file of exactly the limit is stored');
    });
  });

  test('a shutdown in the middle of an upload: chatd exits 0 and no staging file is left', async () => {
    const srv = await startServer(['--shutdown-grace-ms', '300']);
    let stopped = false;
    try {
      const { a } = await pair(srv.url);
      const { hostname, port } = new URL(srv.url);
      // Half of a declared 4 MB body, then silence: the upload is still open when chatd stops.
      const request = http.request({
        hostname, port, method: 'POST', path: '/api/attachment?name=cut.bin',
        headers: { Authorization: `Bearer ${a.token}`, 'Content-Length': 4_000_000 },
      });
      request.on('error', () => {});
      request.write(crypto.randomBytes(2_000_000));
      await waitUntil(() => stagingFiles(srv).length === 1, { timeout: ms(3000), message: 'the upload is being staged' });
      stopped = true;
      await stopClean(srv);
      request.destroy();
      assert.deepEqual(stagingFiles(srv), [], 'the staging file of the upload cut short is gone');
    } finally {
      if (!stopped) await stopClean(srv);
    }
  });

  test('--attachment-url-ttl-s: a signed url stops working once expired; the token still works', async () => {
    await withServer(['--attachment-url-ttl-s', '1'], async (srv) => {
      const { a, b, chat } = await pair(srv.url);
      const png = makePng(120, 90);
      const att = await uploadOk(srv.url, a, png, 'brief.png', PNG_IMAGE(120, 90));
      await send(srv.url, a, chat._id, '', { attachments: [att._id] });
      const exp = Number(new URL(att.url, srv.url).searchParams.get('exp'));
      assert.ok(exp <= nowS() + 3, `the url expires within the TTL: exp ${exp}, now ${nowS()}`);
      await sleep(Math.max(ms(3000), (exp + 2) * 1000 - Date.now()));
      assertError(await get(srv.url, att.url), 404, 'not_found');
      assertError(await get(srv.url, att.thumbnailUrl), 404, 'not_found');
      await assertReadable(srv.url, a, att, png, 'the uploader by token');
      await assertReadable(srv.url, b, att, png, 'the member by token');
      // Each answer signs anew.
      const [m] = await history(srv.url, b, chat._id);
      assertSignedPath(m.attachments[0].url, filePath(att), 'a fresh url in history');
    });
  });

  test('--attachment-grace-s: an upload never sent is collected by housekeeping; one sent is kept', async () => {
    const grace = Math.max(1, Math.ceil(SCALE));  // seconds; longer on slow builds
    await withServer(['--attachment-grace-s', String(grace), '--housekeeping-interval-ms', '200'], async (srv) => {
      const { a, b, chat } = await pair(srv.url);
      const keptBytes = makePdf();
      const kept = await uploadOk(srv.url, a, keptBytes, 'kept.pdf', PDF);
      await send(srv.url, a, chat._id, '', { attachments: [kept._id] });
      const lostBytes = makePng(160, 120);
      const lost = await uploadOk(srv.url, a, lostBytes, 'lost.png', PNG_IMAGE(160, 120));
      assert.ok(hasBlob(srv, lost.sha256), 'the unsent upload is on disk at first');

      await sleep(ms(3000));
      await waitUntil(async () => (await get(srv.url, filePath(lost), { token: a.token })).status === 404,
        { timeout: 3000, message: 'the unsent upload to be collected (404 for its uploader)' });
      await assertNoAccess(srv.url, a, lost, 'the uploader, after collection');
      assertError(await get(srv.url, lost.url), 404, 'not_found');
      await waitUntil(() => !hasBlob(srv, lost.sha256), { timeout: 2000, message: `the blob ${lost.sha256} to be deleted` });
      assertError(await postMessage(srv.url, a, { chatId: chat._id, content: 'late', attachments: [lost._id] }), 400, 'invalid_input');

      await assertReadable(srv.url, a, kept, keptBytes, 'the sent one, for the uploader');
      await assertReadable(srv.url, b, kept, keptBytes, 'the sent one, for the member');
      assert.ok(hasBlob(srv, kept.sha256), 'the sent one stays on disk');
    });
  });
});
