// chatd's native protocol, the subset a messaging benchmark needs, written the way a competent
// Node developer would: Express for REST, socket.io for the real-time side, better-sqlite3
// (synchronous calls on the event loop, prepared statements, one transaction per send) for the
// store, jsonwebtoken for HS256 tokens. It is the baseline chatd is compared against, so it aims to
// be fair: no artificial slowness, and no tricks (no group commit, no batching of sends) either.
//
// Usage: node server.mjs [--port N] [--host H] [--data-dir DIR] [--synchronous full|normal]
//   --port 0 picks a free port. Once listening it prints
//   "node-reference listening on http://127.0.0.1:PORT" on stdout.
//   JWT_SECRET (env) signs tokens; without it a random secret is made per process.
//
// Shapes, error codes and messages follow chatd (src/api/wire.cc, docs/PROTOCOL.md,
// shared/API.md) for what is implemented; README.md lists what is not.
import { createServer } from "node:http";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import express from "express";
import jwt from "jsonwebtoken";
import Database from "better-sqlite3";
import { Server } from "socket.io";

// ---- Options ----------------------------------------------------------------------------------

function parseArgs(argv) {
  const options = { port: 5000, host: "127.0.0.1", dataDir: "./data", synchronous: "full" };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--port") options.port = Number(value());
    else if (arg === "--host") options.host = value();
    else if (arg === "--data-dir") options.dataDir = value();
    else if (arg === "--synchronous") options.synchronous = value().toLowerCase();
    else if (arg === "--help" || arg === "-h") usage();
    else usage(`unknown argument: ${arg}`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    usage("--port must be 0 to 65535");
  }
  if (!["full", "normal"].includes(options.synchronous)) usage("--synchronous must be full or normal");
  return options;
}

function usage(problem) {
  if (problem) console.error(`node-reference: ${problem}`);
  console.error("usage: node server.mjs [--port N] [--host H] [--data-dir DIR] [--synchronous full|normal]");
  process.exit(problem ? 2 : 0);
}

const options = parseArgs(process.argv.slice(2));
const JWT_SECRET = process.env.JWT_SECRET || randomBytes(32).toString("hex");
const JWT_LIFETIME = "30d"; // like chatd and the classic backends
const DEFAULT_PIC =
  "https://icon-library.com/images/anonymous-avatar-icon/anonymous-avatar-icon-25.jpg";
const LIMITS = {
  name: 100, email: 254, passwordMin: 8, passwordMax: 128, pic: 2048, content: 4000,
  chatName: 100, clientMsgId: 64, groupMembers: 1000, historyDefault: 50, historyMax: 200,
};

// ---- Errors -----------------------------------------------------------------------------------

const STATUS = {
  invalid_input: 400, unauthorized: 401, forbidden: 403, not_member: 403, not_found: 404,
  conflict: 409, too_large: 413, rate_limited: 429, internal: 500,
};

class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const invalid = (message) => new ApiError("invalid_input", message);
const notMember = () => new ApiError("not_member", "You are not a member of this chat");
const GROUP_TOO_SMALL = "More than 2 users are required to form a group chat";

// ---- Store ------------------------------------------------------------------------------------

mkdirSync(options.dataDir, { recursive: true });
const db = new Database(join(options.dataDir, "chat.db"));
db.pragma("journal_mode = WAL");
db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
db.pragma("foreign_keys = ON"); // as chatd
db.exec(`
CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  email         TEXT NOT NULL,
  email_key     TEXT NOT NULL UNIQUE,      -- lower-cased: unique and matched case-insensitively
  pic           TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chats (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  is_group   INTEGER NOT NULL,
  direct_key TEXT UNIQUE,                  -- "<smaller id>:<larger id>" for 1:1 chats
  last_seq   INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_members (
  chat_id       TEXT NOT NULL REFERENCES chats (id),
  user_id       TEXT NOT NULL REFERENCES users (id),
  role          INTEGER NOT NULL,          -- 0 owner, 1 admin, 2 member
  position      INTEGER NOT NULL,          -- joining order
  joined_at     INTEGER NOT NULL,
  delivered_seq INTEGER NOT NULL DEFAULT 0,
  read_seq      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_members_by_user ON chat_members (user_id, chat_id);
CREATE TABLE IF NOT EXISTS messages (
  chat_id       TEXT NOT NULL REFERENCES chats (id),
  seq           INTEGER NOT NULL,
  id            TEXT NOT NULL UNIQUE,
  sender_id     TEXT NOT NULL REFERENCES users (id),
  content       TEXT NOT NULL,
  client_msg_id TEXT,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (chat_id, seq),              -- a history page is one range of the table
  UNIQUE (sender_id, client_msg_id)        -- the idempotency key (NULLs never collide)
) WITHOUT ROWID;
`);

const sql = {
  insertUser: db.prepare(
    `INSERT INTO users (id, name, email, email_key, pic, password_hash, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
  userById: db.prepare("SELECT id, name, email, pic, is_admin FROM users WHERE id = ?"),
  userByEmail: db.prepare(
    "SELECT id, name, email, pic, is_admin, password_hash FROM users WHERE email_key = ?"),
  userExists: db.prepare("SELECT 1 FROM users WHERE id = ?").pluck(),

  chatById: db.prepare("SELECT * FROM chats WHERE id = ?"),
  chatByDirectKey: db.prepare("SELECT * FROM chats WHERE direct_key = ?"),
  chatLastSeq: db.prepare("SELECT last_seq FROM chats WHERE id = ?").pluck(),
  insertChat: db.prepare(
    `INSERT INTO chats (id, name, is_group, direct_key, last_seq, created_at, updated_at)
     VALUES (?, ?, ?, ?, 0, ?, ?)`),
  bumpChat: db.prepare(
    "UPDATE chats SET last_seq = last_seq + 1, updated_at = ? WHERE id = ? RETURNING last_seq")
    .pluck(),

  insertMember: db.prepare(
    `INSERT INTO chat_members (chat_id, user_id, role, position, joined_at, delivered_seq, read_seq)
     VALUES (?, ?, ?, ?, ?, 0, 0)`),
  memberIds: db.prepare("SELECT user_id FROM chat_members WHERE chat_id = ?").pluck(),
  member: db.prepare(
    "SELECT delivered_seq, read_seq FROM chat_members WHERE chat_id = ? AND user_id = ?"),
  membersWithUsers: db.prepare(
    `SELECT u.id, u.name, u.email, u.pic, u.is_admin, m.role, m.read_seq
     FROM chat_members m JOIN users u ON u.id = m.user_id
     WHERE m.chat_id = ? ORDER BY m.position`),
  setCursors: db.prepare(
    "UPDATE chat_members SET delivered_seq = ?, read_seq = ? WHERE chat_id = ? AND user_id = ?"),

  messageByClientId: db.prepare(
    `SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at FROM messages
     WHERE sender_id = ? AND client_msg_id = ?`),
  insertMessage: db.prepare(
    `INSERT INTO messages (chat_id, seq, id, sender_id, content, client_msg_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`),
  messageWithSender: db.prepare(
    `SELECT m.seq, m.id, m.sender_id, m.content, m.client_msg_id, m.created_at,
            u.name AS sender_name, u.pic AS sender_pic, u.email AS sender_email
     FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.chat_id = ? AND m.seq = ?`),
  historyBefore: db.prepare(
    `SELECT m.seq, m.id, m.sender_id, m.content, m.client_msg_id, m.created_at,
            u.name AS sender_name, u.pic AS sender_pic, u.email AS sender_email
     FROM messages m JOIN users u ON u.id = m.sender_id
     WHERE m.chat_id = ? AND m.seq < ? ORDER BY m.seq DESC LIMIT ?`),
  historyAfter: db.prepare(
    `SELECT m.seq, m.id, m.sender_id, m.content, m.client_msg_id, m.created_at,
            u.name AS sender_name, u.pic AS sender_pic, u.email AS sender_email
     FROM messages m JOIN users u ON u.id = m.sender_id
     WHERE m.chat_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?`),
};

// 24-hex ids like chatd's (and MongoDB's): 4 bytes of seconds, 5 random bytes, a 3-byte counter.
const processRandom = randomBytes(5).toString("hex");
let idCounter = randomBytes(3).readUIntBE(0, 3);
function newId() {
  idCounter = (idCounter + 1) & 0xffffff;
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");
  return seconds + processRandom + idCounter.toString(16).padStart(6, "0");
}
const isId = (s) => typeof s === "string" && /^[0-9a-fA-F]{24}$/.test(s);
function validId(s, what) {
  if (!isId(s)) throw new ApiError("not_found", `${what} not found`);
  return s.toLowerCase();
}

const iso = (ms) => new Date(ms).toISOString();

// ---- Passwords --------------------------------------------------------------------------------
// The benchmark measures messaging, not login, so passwords are hashed cheaply: node's built-in
// scrypt (async, on libuv's thread pool) at a low cost (N=1024, about a millisecond). A production
// server would use a much higher cost (or argon2); this only keeps set-up fast for both servers.
const scryptAsync = promisify(scrypt);
const SCRYPT = { N: 1024, r: 8, p: 1 };
async function hashPassword(password) {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${salt.toString("hex")}$${hash.toString("hex")}`;
}
const DUMMY_HASH = await hashPassword(randomBytes(16).toString("hex"));
async function verifyPassword(stored, password) {
  const [, n, saltHex, hashHex] = stored.split("$");
  const expected = Buffer.from(hashHex, "hex");
  const actual = await scryptAsync(password, Buffer.from(saltHex, "hex"), expected.length,
                                   { ...SCRYPT, N: Number(n) });
  return timingSafeEqual(actual, expected);
}

// ---- Tokens -----------------------------------------------------------------------------------

const issueToken = (userId) =>
  jwt.sign({ id: userId }, JWT_SECRET, { algorithm: "HS256", expiresIn: JWT_LIFETIME });

// The user a token names, or null (bad, expired, or the user is gone).
function userOfToken(token) {
  let payload;
  try {
    payload = jwt.verify(token, JWT_SECRET, { algorithms: ["HS256"] });
  } catch {
    return null;
  }
  if (typeof payload?.id !== "string") return null;
  return sql.userById.get(payload.id) ?? null;
}

// ---- Input ------------------------------------------------------------------------------------

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const present = (body, name) => body[name] !== undefined && body[name] !== null;
const charLength = (s) => {
  let n = 0;
  for (const _ of s) ++n;
  return n;
};

function requiredString(body, name) {
  if (!present(body, name)) throw invalid(`${name} is required`);
  if (typeof body[name] !== "string") throw invalid(`${name} must be a string`);
  return body[name];
}
function optionalString(body, name) {
  if (!present(body, name)) return undefined;
  if (typeof body[name] !== "string") throw invalid(`${name} must be a string`);
  return body[name];
}
function requiredInteger(body, name) {
  if (!present(body, name)) throw invalid(`${name} is required`);
  if (!Number.isSafeInteger(body[name])) throw invalid(`${name} must be an integer`);
  return body[name];
}
function wellFormed(value, what) {
  if (!value.isWellFormed()) throw invalid(`${what} must be valid UTF-8`);
}
// Trimmed text of 1 to max characters.
function requiredText(value, what, max) {
  wellFormed(value, what);
  const trimmed = value.trim();
  if (!trimmed) throw invalid(`${what} is required`);
  if (charLength(trimmed) > max) throw invalid(`${what} must be at most ${max} characters`);
  return trimmed;
}
function validContent(value) {
  wellFormed(value, "Message content");
  if (!value.trim()) throw invalid("Message content is required");
  if (charLength(value) > LIMITS.content) {
    throw invalid(`Message content must be at most ${LIMITS.content} characters`);
  }
  return value;
}
function validClientMsgId(value) {
  const key = requiredText(value, "clientMsgId", LIMITS.clientMsgId);
  if (key !== value) throw invalid("clientMsgId must not start or end with spaces");
  return key;
}
function queryInteger(query, name) {
  const raw = query[name];
  if (raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string" || !/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw invalid(`${name} must be an integer`);
  }
  return Number(raw);
}

// ---- Shapes (as chatd's src/api/wire.cc) ------------------------------------------------------

const userShape = (u) =>
  ({ _id: u.id, name: u.name, email: u.email, pic: u.pic, isAdmin: Boolean(u.is_admin) });
const senderShape = (m) =>
  ({ _id: m.sender_id, name: m.sender_name, pic: m.sender_pic, email: m.sender_email });

// The chat as messages carry it: {_id, chatName, isGroupChat, users, groupAdmin?, createdAt, updatedAt}.
function chatOfMessage(chat, members) {
  const shape = {
    _id: chat.id,
    chatName: chat.name,
    isGroupChat: Boolean(chat.is_group),
    users: members.map(userShape),
  };
  if (chat.is_group) {
    const admin = members.find((m) => m.role <= 1);
    if (admin) shape.groupAdmin = userShape(admin);
  }
  shape.createdAt = iso(chat.created_at);
  shape.updatedAt = iso(chat.updated_at);
  return shape;
}

// The REST chat: the above plus latestMessage when there is one.
function chatShape(chat) {
  const shape = chatOfMessage(chat, sql.membersWithUsers.all(chat.id));
  if (chat.last_seq > 0) {
    const m = sql.messageWithSender.get(chat.id, chat.last_seq);
    if (m) {
      shape.latestMessage = {
        _id: m.id, seq: m.seq, sender: senderShape(m), content: m.content, chat: chat.id,
        createdAt: iso(m.created_at), updatedAt: iso(m.created_at),
      };
    }
  }
  return shape;
}

function leanMessage(m, sender) {
  const lean = {
    _id: m.id,
    chatId: m.chat_id,
    seq: m.seq,
    sender: { _id: sender.id, name: sender.name, pic: sender.pic },
    content: m.content,
  };
  if (m.client_msg_id != null) lean.clientMsgId = m.client_msg_id;
  lean.createdAt = iso(m.created_at);
  return lean;
}

// ---- Domain -----------------------------------------------------------------------------------

async function registerUser(body) {
  const name = requiredText(requiredString(body, "name"), "Name", LIMITS.name);
  const email = requiredText(requiredString(body, "email"), "Email", LIMITS.email);
  const at = email.indexOf("@");
  if (at <= 0 || at + 1 >= email.length || email.indexOf("@", at + 1) !== -1 || /\s/.test(email)) {
    throw invalid("Email is not a valid email address");
  }
  const password = requiredString(body, "password");
  wellFormed(password, "Password");
  const length = charLength(password);
  if (length < LIMITS.passwordMin || length > LIMITS.passwordMax) {
    throw invalid(`Password must be ${LIMITS.passwordMin} to ${LIMITS.passwordMax} characters`);
  }
  const givenPic = optionalString(body, "pic");
  const pic = givenPic && givenPic.trim() ? requiredText(givenPic, "Picture", LIMITS.pic) : DEFAULT_PIC;
  const emailKey = email.toLowerCase();
  if (sql.userByEmail.get(emailKey)) throw invalid("User already exists");
  const hash = await hashPassword(password);
  const user = { id: newId(), name, email, pic, is_admin: 0 };
  const now = Date.now();
  try {
    sql.insertUser.run(user.id, name, email, emailKey, pic, hash, now, now);
  } catch (e) {
    // Two registrations of one email racing through the hash.
    if (e.code === "SQLITE_CONSTRAINT_UNIQUE") throw invalid("User already exists");
    throw e;
  }
  return { ...userShape(user), token: issueToken(user.id) };
}

async function login(body) {
  const email = requiredString(body, "email").trim();
  const password = requiredString(body, "password");
  const found = email && password.length <= LIMITS.passwordMax * 4
    ? sql.userByEmail.get(email.toLowerCase()) : undefined;
  // An unknown email costs a verification too, so timing does not tell which emails exist.
  const match = await verifyPassword(found ? found.password_hash : DUMMY_HASH, password);
  if (!found || !match) throw new ApiError("unauthorized", "Invalid Email or Password");
  return { ...userShape(found), token: issueToken(found.id) };
}

const createDirectChat = db.transaction((me, other) => {
  const key = me < other ? `${me}:${other}` : `${other}:${me}`;
  const existing = sql.chatByDirectKey.get(key);
  if (existing) return existing;
  if (!sql.userExists.get(other)) throw new ApiError("not_found", "User not found");
  const id = newId();
  const now = Date.now();
  sql.insertChat.run(id, "sender", 0, key, now, now);
  sql.insertMember.run(id, me, 2, 0, now);
  sql.insertMember.run(id, other, 2, 1, now);
  return sql.chatById.get(id);
});

function accessDirectChat(me, body) {
  const other = validId(requiredString(body, "userId"), "User");
  if (other === me.id) throw invalid("You cannot start a chat with yourself");
  return chatShape(createDirectChat(me.id, other));
}

// users: a JSON string of an id array (classic clients), or an array; of ids or user objects.
function idList(body, name) {
  if (!present(body, name)) throw invalid(`${name} is required`);
  let value = body[name];
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw invalid(`${name} must be an array of user ids`);
    }
  }
  if (!Array.isArray(value)) throw invalid(`${name} must be an array of user ids`);
  return value.map((item) => {
    if (typeof item === "string") return item;
    if (isObject(item) && typeof item._id === "string") return item._id;
    throw invalid(`${name} must be an array of user ids`);
  });
}

const insertGroup = db.transaction((name, creator, members) => {
  for (const id of [creator, ...members]) {
    if (!sql.userExists.get(id)) throw new ApiError("not_found", "User not found");
  }
  const id = newId();
  const now = Date.now();
  sql.insertChat.run(id, name, 1, null, now, now);
  sql.insertMember.run(id, creator, 0, 0, now);
  members.forEach((user, i) => sql.insertMember.run(id, user, 2, i + 1, now));
  return sql.chatById.get(id);
});

function createGroup(me, body) {
  const name = requiredText(requiredString(body, "name"), "Chat name", LIMITS.chatName);
  const others = [];
  for (const raw of idList(body, "users")) {
    const id = validId(raw, "User");
    if (id !== me.id && !others.includes(id)) others.push(id);
  }
  if (others.length < 2) throw invalid(GROUP_TOO_SMALL);
  if (others.length + 1 > LIMITS.groupMembers) {
    throw invalid(`A group can have at most ${LIMITS.groupMembers} members`);
  }
  return chatShape(insertGroup(name, me.id, others));
}

function history(me, chatIdParam, query) {
  const before = queryInteger(query, "before");
  const after = queryInteger(query, "after");
  const limit = queryInteger(query, "limit");
  if (before !== undefined && after !== undefined) throw invalid("Use either before or after, not both");
  if (limit !== undefined && limit < 1) throw invalid("limit must be a positive integer");
  if ((before ?? 0) < 0 || (after ?? 0) < 0) throw invalid("before and after must not be negative");
  const chat = sql.chatById.get(validId(chatIdParam, "Chat"));
  if (!chat) throw new ApiError("not_found", "Chat not found");
  const members = sql.membersWithUsers.all(chat.id);
  if (!members.some((m) => m.id === me.id)) throw notMember();
  const n = Math.min(limit ?? LIMITS.historyDefault, LIMITS.historyMax);
  const rows = after !== undefined
    ? sql.historyAfter.all(chat.id, after, n)
    : sql.historyBefore.all(chat.id, before ?? Number.MAX_SAFE_INTEGER, n).reverse();
  const chatJson = chatOfMessage(chat, members);
  return rows.map((m) => {
    const shape = { _id: m.id, seq: m.seq };
    if (m.client_msg_id != null) shape.clientMsgId = m.client_msg_id;
    shape.sender = senderShape(m);
    shape.content = m.content;
    shape.readBy = members.filter((u) => u.id !== m.sender_id && u.read_seq >= m.seq).map((u) => u.id);
    shape.createdAt = iso(m.created_at);
    shape.updatedAt = shape.createdAt;
    shape.chat = chatJson;
    return shape;
  });
}

// One transaction per send: idempotency, membership, seq, insert, chat bump, the sender's cursors.
// Returns {message (row), created, memberIds}.
const appendMessage = db.transaction((senderId, chatId, clientMsgId, content) => {
  const original = sql.messageByClientId.get(senderId, clientMsgId);
  if (original) {
    if (original.chat_id !== chatId) {
      throw new ApiError("conflict", "clientMsgId was already used in another chat");
    }
    return { message: original, created: false, memberIds: null };
  }
  const memberIds = sql.memberIds.all(chatId);
  if (!memberIds.includes(senderId)) {
    if (sql.chatLastSeq.get(chatId) === undefined) throw new ApiError("not_found", "Chat not found");
    throw notMember();
  }
  const now = Date.now();
  const seq = sql.bumpChat.get(now, chatId);
  const message = {
    chat_id: chatId, seq, id: newId(), sender_id: senderId, content,
    client_msg_id: clientMsgId, created_at: now,
  };
  sql.insertMessage.run(chatId, seq, message.id, senderId, content, clientMsgId, now);
  sql.setCursors.run(seq, seq, chatId, senderId); // the sender has seen what they wrote
  return { message, created: true, memberIds };
});

// Monotonic, clamped cursors; read implies delivered. Returns {member, changed, memberIds}.
const advanceCursors = db.transaction((userId, chatId, delivered, read) => {
  const lastSeq = sql.chatLastSeq.get(chatId);
  if (lastSeq === undefined) throw new ApiError("not_found", "Chat not found");
  const stored = sql.member.get(chatId, userId);
  if (!stored) throw notMember();
  const readSeq = Math.max(stored.read_seq, Math.min(read, lastSeq));
  const deliveredSeq = Math.max(stored.delivered_seq, Math.min(delivered, lastSeq), readSeq);
  const changed = readSeq !== stored.read_seq || deliveredSeq !== stored.delivered_seq;
  if (!changed) return { deliveredSeq, readSeq, changed, memberIds: null };
  sql.setCursors.run(deliveredSeq, readSeq, chatId, userId);
  return { deliveredSeq, readSeq, changed, memberIds: sql.memberIds.all(chatId) };
});

// ---- REST -------------------------------------------------------------------------------------

const app = express();
app.disable("x-powered-by");
app.use((req, res, next) => {
  res.set("Access-Control-Allow-Origin", "*"); // tokens travel in headers, no cookies
  if (req.method === "OPTIONS") {
    res.set("Access-Control-Allow-Methods", "GET,POST,PUT,PATCH,DELETE");
    res.set("Access-Control-Allow-Headers", "Authorization, Content-Type");
    return res.sendStatus(204);
  }
  next();
});
app.use(express.json({ limit: "1mb" }));

function sendError(res, error) {
  if (error instanceof ApiError) {
    if (error.message === GROUP_TOO_SMALL) return res.status(400).type("text/plain").send(error.message);
    return res.status(STATUS[error.code] ?? 500).json({ message: error.message, code: error.code });
  }
  console.error("node-reference:", error);
  return res.status(500).json({ message: "Internal server error", code: "internal" });
}

// A route handler: body checked to be an object, errors mapped, sync or async.
const route = (handler, status = 200) => async (req, res) => {
  try {
    if (req.body !== undefined && !isObject(req.body)) {
      throw invalid("The request body must be a JSON object");
    }
    req.body ??= {};
    res.status(status).json(await handler(req));
  } catch (error) {
    sendError(res, error);
  }
};

function protect(req, res, next) {
  const header = req.get("authorization") ?? "";
  if (!header.startsWith("Bearer ") || header.length <= 7) {
    return sendError(res, new ApiError("unauthorized", "Not authorized, no token"));
  }
  const user = userOfToken(header.slice(7));
  if (!user) return sendError(res, new ApiError("unauthorized", "Not authorized, token failed"));
  req.user = user;
  next();
}

app.post(["/api/user", "/api/user/register"], route((req) => registerUser(req.body), 201));
app.post("/api/user/login", route((req) => login(req.body)));
app.post("/api/chat", protect, route((req) => accessDirectChat(req.user, req.body)));
app.post("/api/chat/group", protect, route((req) => createGroup(req.user, req.body)));
app.get("/api/message/:chatId", protect,
        route((req) => history(req.user, req.params.chatId, req.query)));

app.use((req, res) => {
  res.status(404).json({ message: `Not Found - ${req.originalUrl}`, code: "not_found" });
});
// body-parser's errors: malformed JSON, too large.
app.use((error, req, res, _next) => {
  if (error.type === "entity.too.large") {
    return res.status(413).json({ message: "Request body too large", code: "too_large" });
  }
  if (error.type === "entity.parse.failed" || error.status === 400) {
    return res.status(400).json({ message: "Malformed JSON body", code: "invalid_input" });
  }
  sendError(res, error);
});

// ---- Socket.IO: the native protocol -----------------------------------------------------------

const httpServer = createServer(app);
const io = new Server(httpServer, {
  pingInterval: 25000, // chatd's defaults
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
});

const userRoom = (userId) => `n:${userId}`;

// The handshake's token: auth.token, else an Authorization: Bearer header.
function handshakeToken(handshake) {
  const token = handshake.auth?.token;
  if (token !== undefined && token !== null) return typeof token === "string" ? token : "";
  const header = handshake.headers.authorization;
  if (!header) return null;
  return header.startsWith("Bearer ") ? header.slice(7) : "";
}

// Only native sockets exist here (no classic dialect): a handshake without a valid token is refused.
io.use((socket, next) => {
  const token = handshakeToken(socket.handshake);
  const user = token ? userOfToken(token) : null;
  if (!user) {
    const error = new Error("Not authorized, token failed");
    error.data = { code: "unauthorized" };
    return next(error);
  }
  socket.data.user = user;
  next();
});

const errorReply = (error) => ({ ok: false, error: { code: error.code, message: error.message } });

// An event handler answering through its ack: {ok: true, ...reply} or {ok: false, error}.
// handler(payload) returns [reply, afterAck?]: afterAck runs once the ack is written.
function native(socket, handler) {
  return (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    let outcome;
    try {
      if (!isObject(args[0])) throw invalid("The payload must be an object");
      outcome = handler(args[0]);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        console.error("node-reference:", error);
        error = new ApiError("internal", "Internal server error");
      }
      ack?.(errorReply(error));
      return;
    }
    const [reply, afterAck] = outcome;
    ack?.({ ok: true, ...reply });
    afterAck?.();
  };
}

const KNOWN_EVENTS = new Set(["message:send", "message:delivered", "message:read"]);

io.on("connection", (socket) => {
  const user = socket.data.user;
  socket.join(userRoom(user.id));

  socket.on("message:send", native(socket, (payload) => {
    const chatId = requiredString(payload, "chatId");
    const clientMsgId = requiredString(payload, "clientMsgId");
    const content = requiredString(payload, "content");
    const chat = validId(chatId, "Chat");
    validContent(content);
    validClientMsgId(clientMsgId);
    const { message, created, memberIds } = appendMessage(user.id, chat, clientMsgId, content);
    const lean = leanMessage(message, user);
    // A retry gets the original and nobody hears of it again.
    const fanOut = created
      ? () => io.to(memberIds.map(userRoom)).except(socket.id).emit("message:new", lean)
      : null;
    return [{ message: lean }, fanOut];
  }));

  const receipt = (read) => native(socket, (payload) => {
    const chatId = validId(requiredString(payload, "chatId"), "Chat");
    const seq = requiredInteger(payload, "seq");
    const r = advanceCursors(user.id, chatId, seq, read ? seq : 0);
    const announce = r.changed
      ? () => io.to(r.memberIds.map(userRoom)).emit("receipt", {
          chatId, userId: user.id, deliveredSeq: r.deliveredSeq, readSeq: r.readSeq,
        })
      : null;
    return [{ deliveredSeq: r.deliveredSeq, readSeq: r.readSeq }, announce];
  });
  socket.on("message:delivered", receipt(false));
  socket.on("message:read", receipt(true));

  // An event this server does not serve answers at once instead of timing out (as chatd).
  socket.onAny((event, ...args) => {
    if (KNOWN_EVENTS.has(event)) return;
    const ack = args[args.length - 1];
    if (typeof ack === "function") {
      ack(errorReply(new ApiError("not_found", `Unknown event: ${event}`)));
    }
  });
});

// ---- Start and stop ---------------------------------------------------------------------------

httpServer.listen(options.port, options.host, () => {
  const { port } = httpServer.address();
  console.log(`node-reference listening on http://${options.host}:${port}`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  io.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => {
    db.close();
    process.exit(0);
  }, 2000).unref();
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
