#include "store/postgres/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>

namespace chatd::store::postgres {

namespace {

// Append only: a released migration is never edited, a change is a new entry.
//
// Ids and keys are COLLATE "C": compared and ordered as bytes, as SQLite does, and cheaper to
// index. Times are epoch milliseconds (bigint), as everywhere in chatd.
//
// Every write a client can make is one statement: a SQL function for those that need several
// steps. A function reports an expected refusal (not a member, a taken email...) as a status
// instead of raising an error, and writes nothing then: an error would abort the whole batch's
// transaction, which the writer sends in one round trip (store/postgres/README.md).
//
// Locks on a chat row keep the members each change reports exact across nodes: membership
// changes take it FOR UPDATE; appends FOR NO KEY UPDATE (they serialize with each other, which
// makes seq gapless); cursor moves FOR KEY SHARE (they wait for membership changes, not for
// appends).
constexpr std::array kMigrations = {
    // 1: users, chats, members with roles and receipt cursors, messages with per-chat seq, the
    // change log, and the functions of the writes.
    R"sql(
CREATE TABLE users (
  id            text COLLATE "C" PRIMARY KEY,
  name          text NOT NULL,
  name_key      text COLLATE "C" NOT NULL,         -- ASCII-lower-cased name: search and order
  email         text NOT NULL,                     -- as typed (trimmed)
  email_key     text COLLATE "C" NOT NULL UNIQUE,  -- ASCII-lower-cased: unique case-insensitively
  pic           text NOT NULL,
  password_hash text NOT NULL,
  is_admin      boolean NOT NULL DEFAULT false,
  created_at    bigint NOT NULL,
  updated_at    bigint NOT NULL,
  last_seen     bigint                             -- the last disconnect; NULL: never, or online
);
CREATE INDEX users_by_name ON users (name_key, id);

-- Orders chat lists (most recently changed first) across every node that shares the database.
CREATE SEQUENCE chat_activity;

-- Every message rewrites its chat's row (last_seq, activity): the free space left in each page
-- lets those be HOT updates, which touch no index.
CREATE TABLE chats (
  id         text COLLATE "C" PRIMARY KEY,
  name       text NOT NULL,
  is_group   boolean NOT NULL,
  direct_key text COLLATE "C" UNIQUE,  -- "<smaller id>:<larger id>" for 1:1 chats, NULL for groups
  last_seq   bigint NOT NULL DEFAULT 0,
  activity   bigint NOT NULL DEFAULT nextval('chat_activity'),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE chat_members (
  chat_id       text COLLATE "C" NOT NULL REFERENCES chats (id),
  user_id       text COLLATE "C" NOT NULL REFERENCES users (id),
  role          smallint NOT NULL,   -- 0 owner, 1 admin, 2 member
  position      integer NOT NULL,    -- joining order within the chat
  joined_at     bigint NOT NULL,
  delivered_seq bigint NOT NULL DEFAULT 0,
  read_seq      bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (chat_id, user_id)
) WITH (fillfactor = 70);
CREATE INDEX members_by_user ON chat_members (user_id, chat_id);

-- A history page is one range of the primary key. No foreign keys: chatd_append_message writes a
-- message only into a chat it found, from one of its members (chat_members references both), and
-- chats and users are never deleted; a check would cost a query and a row lock per message.
CREATE TABLE messages (
  chat_id       text COLLATE "C" NOT NULL,
  seq           bigint NOT NULL,
  id            text COLLATE "C" NOT NULL UNIQUE,
  sender_id     text COLLATE "C" NOT NULL,
  content       text NOT NULL,
  client_msg_id text COLLATE "C",
  created_at    bigint NOT NULL,
  PRIMARY KEY (chat_id, seq)
);
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;

-- The change log (store.h, ChangeLog): one row per committed transaction that changed something
-- clients must hear of. A commit takes the next position from the one-row head as its last
-- statement: the head's row lock serializes the commits of every node for as short a time as
-- possible, so positions are gapless and in commit order.
CREATE TABLE change_log_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  position bigint NOT NULL
);
INSERT INTO change_log_head (position) VALUES (0);

CREATE TABLE change_log (
  position     bigint PRIMARY KEY,
  committed_at timestamptz NOT NULL,
  body         text NOT NULL      -- store/change_codec.h
);
-- Uncompressed: compression would run inside the insert, while the head row is locked.
ALTER TABLE change_log ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE INDEX change_log_by_time ON change_log (committed_at);

-- A chat, its members (arrays in joining order) and its latest message, in one row.
CREATE VIEW chat_view AS
SELECT c.id, c.name, c.is_group, c.last_seq, c.created_at, c.updated_at,
       m.user_ids, m.roles, m.joined_ats, m.delivered_seqs, m.read_seqs,
       l.id AS latest_id, l.sender_id AS latest_sender_id, l.content AS latest_content,
       l.client_msg_id AS latest_client_msg_id, l.created_at AS latest_created_at,
       c.direct_key, c.activity
  FROM chats c
  CROSS JOIN LATERAL (
    SELECT array_agg(cm.user_id ORDER BY cm.position) AS user_ids,
           array_agg(cm.role ORDER BY cm.position) AS roles,
           array_agg(cm.joined_at ORDER BY cm.position) AS joined_ats,
           array_agg(cm.delivered_seq ORDER BY cm.position) AS delivered_seqs,
           array_agg(cm.read_seq ORDER BY cm.position) AS read_seqs
      FROM chat_members cm WHERE cm.chat_id = c.id) m
  LEFT JOIN messages l ON l.chat_id = c.id AND l.seq = c.last_seq;

-- Store::append_message. Status: 'created'; 'exists' or 'conflict' (the sender's client_msg_id
-- is stored, in this chat or another: the original_* columns describe it); 'chat_not_found',
-- 'not_member', 'user_not_found'. member_ids and sender_* are set when 'created'.
--
-- The common case takes five statements: the chat, its members and the sender are read at once,
-- then the chat row is bumped on condition that no other transaction changed it since (its
-- activity moves with every change, membership changes included). That bump's row lock orders
-- the chat's appends, so seq is gapless. When another node did change the chat, it is read again
-- under the lock.
CREATE FUNCTION chatd_append_message(
    p_id text, p_chat_id text, p_sender_id text, p_content text, p_client_msg_id text,
    p_now bigint,
    OUT status text, OUT seq bigint, OUT original_chat_id text, OUT original_id text,
    OUT original_content text, OUT original_created_at bigint, OUT member_ids text[],
    OUT sender_name text, OUT sender_email text, OUT sender_pic text,
    OUT sender_is_admin boolean, OUT sender_created_at bigint, OUT sender_updated_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_activity bigint;
BEGIN
  IF p_client_msg_id IS NOT NULL THEN
    SELECT m.chat_id, m.seq, m.id, m.content, m.created_at
      INTO original_chat_id, seq, original_id, original_content, original_created_at
      FROM messages m WHERE m.sender_id = p_sender_id AND m.client_msg_id = p_client_msg_id;
    IF FOUND THEN
      status := CASE WHEN original_chat_id = p_chat_id THEN 'exists' ELSE 'conflict' END;
      RETURN;
    END IF;
  END IF;
  SELECT c.activity,
         (SELECT array_agg(cm.user_id ORDER BY cm.position)
            FROM chat_members cm WHERE cm.chat_id = c.id),
         u.name, u.email, u.pic, u.is_admin, u.created_at, u.updated_at
    INTO v_activity, member_ids, sender_name, sender_email, sender_pic, sender_is_admin,
         sender_created_at, sender_updated_at
    FROM chats c LEFT JOIN users u ON u.id = p_sender_id
   WHERE c.id = p_chat_id;
  IF NOT FOUND THEN
    status := 'chat_not_found';
    RETURN;
  END IF;
  IF NOT p_sender_id = ANY (coalesce(member_ids, '{}')) THEN
    status := 'not_member';
    member_ids := NULL;
    RETURN;
  END IF;
  IF sender_name IS NULL THEN
    status := 'user_not_found';
    RETURN;
  END IF;
  UPDATE chats SET last_seq = last_seq + 1, activity = nextval('chat_activity'),
                   updated_at = p_now
   WHERE id = p_chat_id AND activity = v_activity
  RETURNING last_seq INTO seq;
  IF NOT FOUND THEN
    PERFORM FROM chats c WHERE c.id = p_chat_id FOR NO KEY UPDATE;
    SELECT array_agg(cm.user_id ORDER BY cm.position) INTO member_ids
      FROM chat_members cm WHERE cm.chat_id = p_chat_id;
    IF NOT p_sender_id = ANY (coalesce(member_ids, '{}')) THEN
      status := 'not_member';
      member_ids := NULL;
      RETURN;
    END IF;
    UPDATE chats SET last_seq = last_seq + 1, activity = nextval('chat_activity'),
                     updated_at = p_now
     WHERE id = p_chat_id
    RETURNING last_seq INTO seq;
  END IF;
  INSERT INTO messages (chat_id, seq, id, sender_id, content, client_msg_id, created_at)
    VALUES (p_chat_id, seq, p_id, p_sender_id, p_content, p_client_msg_id, p_now)
    ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING;
  IF NOT FOUND THEN
    -- Another node stored this (sender, client_msg_id) since the first look, and the chat is
    -- bumped already: the writer runs the batch again, which then finds the message.
    RAISE EXCEPTION 'client_msg_id stored concurrently' USING ERRCODE = 'serialization_failure';
  END IF;
  -- The sender has seen what they wrote.
  UPDATE chat_members SET delivered_seq = seq, read_seq = seq
   WHERE chat_id = p_chat_id AND user_id = p_sender_id;
  status := 'created';
END $$;

-- Store::advance_cursors. Status: 'changed', 'unchanged', 'chat_not_found', 'not_member'.
CREATE FUNCTION chatd_advance_cursors(
    p_chat_id text, p_user_id text, p_delivered bigint, p_read bigint,
    OUT status text, OUT member_role smallint, OUT member_joined_at bigint,
    OUT new_delivered bigint, OUT new_read bigint, OUT member_ids text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_last_seq bigint;
  v_old_delivered bigint;
  v_old_read bigint;
BEGIN
  SELECT c.last_seq INTO v_last_seq FROM chats c WHERE c.id = p_chat_id FOR KEY SHARE;
  IF NOT FOUND THEN
    status := 'chat_not_found';
    RETURN;
  END IF;
  SELECT m.role, m.joined_at, m.delivered_seq, m.read_seq
    INTO member_role, member_joined_at, v_old_delivered, v_old_read
    FROM chat_members m WHERE m.chat_id = p_chat_id AND m.user_id = p_user_id
    FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    status := 'not_member';
    RETURN;
  END IF;
  new_read := greatest(v_old_read, least(p_read, v_last_seq));
  new_delivered := greatest(v_old_delivered, least(p_delivered, v_last_seq), new_read);
  IF new_read = v_old_read AND new_delivered = v_old_delivered THEN
    status := 'unchanged';
    RETURN;
  END IF;
  UPDATE chat_members SET delivered_seq = new_delivered, read_seq = new_read
   WHERE chat_id = p_chat_id AND user_id = p_user_id;
  SELECT array_agg(m.user_id ORDER BY m.position) INTO member_ids
    FROM chat_members m WHERE m.chat_id = p_chat_id;
  status := 'changed';
END $$;

-- Store::find_or_create_direct_chat, up to the chat's read: 'ok' or 'user_not_found'.
CREATE FUNCTION chatd_direct_chat(p_id text, p_user_a text, p_user_b text, p_key text,
                                  p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM users u WHERE u.id = p_user_a;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  PERFORM FROM users u WHERE u.id = p_user_b;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  INSERT INTO chats (id, name, is_group, direct_key, created_at, updated_at)
    VALUES (p_id, 'sender', false, p_key, p_now, p_now)
    ON CONFLICT (direct_key) DO NOTHING;
  IF FOUND THEN
    INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
      VALUES (p_id, p_user_a, 2, 1, p_now), (p_id, p_user_b, 2, 2, p_now);
  END IF;
  RETURN 'ok';
END $$;

-- Store::create_group; p_members holds each member once, the creator excluded.
-- 'created' or 'user_not_found'.
CREATE FUNCTION chatd_create_group(p_id text, p_name text, p_creator text, p_members text[],
                                   p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM users u WHERE u.id = p_creator;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  IF EXISTS (SELECT FROM unnest(p_members) AS wanted (id)
              WHERE NOT EXISTS (SELECT FROM users u WHERE u.id = wanted.id)) THEN
    RETURN 'user_not_found';
  END IF;
  INSERT INTO chats (id, name, is_group, created_at, updated_at)
    VALUES (p_id, p_name, true, p_now, p_now);
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
    VALUES (p_id, p_creator, 0, 1, p_now);
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
    SELECT p_id, wanted.id, 2, wanted.n + 1, p_now
      FROM unnest(p_members) WITH ORDINALITY AS wanted (id, n);
  RETURN 'created';
END $$;

-- Store::add_member: 'changed', 'unchanged' (already a member), 'chat_not_found',
-- 'user_not_found', 'too_many'.
CREATE FUNCTION chatd_add_member(p_chat_id text, p_user_id text, p_max_members integer,
                                 p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_last_seq bigint;
BEGIN
  SELECT c.last_seq INTO v_last_seq FROM chats c WHERE c.id = p_chat_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'chat_not_found';
  END IF;
  PERFORM FROM chat_members m WHERE m.chat_id = p_chat_id AND m.user_id = p_user_id;
  IF FOUND THEN
    RETURN 'unchanged';
  END IF;
  PERFORM FROM users u WHERE u.id = p_user_id;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  IF (SELECT count(*) FROM chat_members m WHERE m.chat_id = p_chat_id) >= p_max_members THEN
    RETURN 'too_many';
  END IF;
  -- A new member starts with both cursors at the chat's last seq.
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at, delivered_seq, read_seq)
    SELECT p_chat_id, p_user_id, 2, coalesce(max(m.position), 0) + 1, p_now, v_last_seq,
           v_last_seq
      FROM chat_members m WHERE m.chat_id = p_chat_id;
  UPDATE chats SET activity = nextval('chat_activity'), updated_at = p_now WHERE id = p_chat_id;
  RETURN 'changed';
END $$;

-- Store::remove_member: 'changed', 'unchanged' (not a member), 'chat_not_found',
-- 'user_not_found'.
CREATE FUNCTION chatd_remove_member(p_chat_id text, p_user_id text, p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM chats c WHERE c.id = p_chat_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'chat_not_found';
  END IF;
  DELETE FROM chat_members m WHERE m.chat_id = p_chat_id AND m.user_id = p_user_id;
  IF NOT FOUND THEN
    PERFORM FROM users u WHERE u.id = p_user_id;
    RETURN CASE WHEN FOUND THEN 'unchanged' ELSE 'user_not_found' END;
  END IF;
  -- The longest-standing member becomes admin when no owner or admin is left.
  UPDATE chat_members SET role = 1
   WHERE chat_id = p_chat_id
     AND NOT EXISTS (SELECT FROM chat_members a WHERE a.chat_id = p_chat_id AND a.role IN (0, 1))
     AND user_id = (SELECT f.user_id FROM chat_members f WHERE f.chat_id = p_chat_id
                     ORDER BY f.position LIMIT 1);
  UPDATE chats SET activity = nextval('chat_activity'), updated_at = p_now WHERE id = p_chat_id;
  RETURN 'changed';
END $$;

-- Store::set_role: 'changed', 'unchanged', 'chat_not_found', 'not_member', 'last_admin'.
CREATE FUNCTION chatd_set_role(p_chat_id text, p_user_id text, p_role smallint, p_now bigint)
  RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_role smallint;
BEGIN
  PERFORM FROM chats c WHERE c.id = p_chat_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'chat_not_found';
  END IF;
  SELECT m.role INTO v_role FROM chat_members m
   WHERE m.chat_id = p_chat_id AND m.user_id = p_user_id;
  IF NOT FOUND THEN
    RETURN 'not_member';
  END IF;
  IF v_role = p_role THEN
    RETURN 'unchanged';
  END IF;
  IF v_role IN (0, 1) AND p_role NOT IN (0, 1)
     AND (SELECT count(*) FROM chat_members m
           WHERE m.chat_id = p_chat_id AND m.role IN (0, 1)) = 1 THEN
    RETURN 'last_admin';
  END IF;
  UPDATE chat_members SET role = p_role WHERE chat_id = p_chat_id AND user_id = p_user_id;
  UPDATE chats SET activity = nextval('chat_activity'), updated_at = p_now WHERE id = p_chat_id;
  RETURN 'changed';
END $$;
)sql",
    // 2: appends lock the chat row first, then read its members and the sender, each on its own.
    // Version 1's single read of all three and conditional update was half as fast (pgbench,
    // batches of 32 appends in a pipeline: 70-80 against 110 transactions/s).
    R"sql(
CREATE OR REPLACE FUNCTION chatd_append_message(
    p_id text, p_chat_id text, p_sender_id text, p_content text, p_client_msg_id text,
    p_now bigint,
    OUT status text, OUT seq bigint, OUT original_chat_id text, OUT original_id text,
    OUT original_content text, OUT original_created_at bigint, OUT member_ids text[],
    OUT sender_name text, OUT sender_email text, OUT sender_pic text,
    OUT sender_is_admin boolean, OUT sender_created_at bigint, OUT sender_updated_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_last_seq bigint;
BEGIN
  IF p_client_msg_id IS NOT NULL THEN
    SELECT m.chat_id, m.seq, m.id, m.content, m.created_at
      INTO original_chat_id, seq, original_id, original_content, original_created_at
      FROM messages m WHERE m.sender_id = p_sender_id AND m.client_msg_id = p_client_msg_id;
    IF FOUND THEN
      status := CASE WHEN original_chat_id = p_chat_id THEN 'exists' ELSE 'conflict' END;
      RETURN;
    END IF;
  END IF;
  -- The row lock orders the chat's appends: seq is last_seq + 1, gapless.
  SELECT c.last_seq INTO v_last_seq FROM chats c WHERE c.id = p_chat_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    status := 'chat_not_found';
    RETURN;
  END IF;
  SELECT array_agg(cm.user_id ORDER BY cm.position) INTO member_ids
    FROM chat_members cm WHERE cm.chat_id = p_chat_id;
  IF NOT p_sender_id = ANY (coalesce(member_ids, '{}')) THEN
    status := 'not_member';
    member_ids := NULL;
    RETURN;
  END IF;
  SELECT u.name, u.email, u.pic, u.is_admin, u.created_at, u.updated_at
    INTO sender_name, sender_email, sender_pic, sender_is_admin, sender_created_at,
         sender_updated_at
    FROM users u WHERE u.id = p_sender_id;
  IF NOT FOUND THEN
    status := 'user_not_found';
    RETURN;
  END IF;
  INSERT INTO messages (chat_id, seq, id, sender_id, content, client_msg_id, created_at)
    VALUES (p_chat_id, v_last_seq + 1, p_id, p_sender_id, p_content, p_client_msg_id, p_now)
    ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING;
  IF NOT FOUND THEN
    -- Another node stored the same (sender, client_msg_id) since the first look, and committed.
    SELECT m.chat_id, m.seq, m.id, m.content, m.created_at
      INTO original_chat_id, seq, original_id, original_content, original_created_at
      FROM messages m WHERE m.sender_id = p_sender_id AND m.client_msg_id = p_client_msg_id;
    status := CASE WHEN original_chat_id = p_chat_id THEN 'exists' ELSE 'conflict' END;
    member_ids := NULL;
    RETURN;
  END IF;
  UPDATE chats SET last_seq = v_last_seq + 1, activity = nextval('chat_activity'),
                   updated_at = p_now
   WHERE id = p_chat_id;
  -- The sender has seen what they wrote.
  UPDATE chat_members SET delivered_seq = v_last_seq + 1, read_seq = v_last_seq + 1
   WHERE chat_id = p_chat_id AND user_id = p_sender_id;
  seq := v_last_seq + 1;
  status := 'created';
END $$;
)sql",
    // 3: accounts (store/accounts.h): disabled users, login sessions with rotating refresh tokens,
    // the security audit trail, TOTP two-factor state. Secrets arrive hashed (refresh tokens,
    // recovery codes) or sealed (the TOTP secret). chatd_append_message is left as it is: a
    // function whose result changes type breaks the prepared statements of nodes still running
    // the previous release, so the sender's `disabled` is joined in by the caller.
    //
    // Rows of `sessions` are locked in id order by every write that locks several (revocations,
    // touches): writes of different nodes then queue instead of deadlocking.
    R"sql(
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;

-- Touches rewrite last_used_at (not indexed): the free space left in each page keeps them HOT.
CREATE TABLE sessions (
  id           text COLLATE "C" PRIMARY KEY,
  user_id      text COLLATE "C" NOT NULL REFERENCES users (id),
  refresh_hash text COLLATE "C" NOT NULL UNIQUE,  -- of the current refresh token
  created_at   bigint NOT NULL,
  last_used_at bigint NOT NULL,
  ip           text NOT NULL,
  user_agent   text NOT NULL,
  revoked_at   bigint                             -- NULL while the session lives
) WITH (fillfactor = 80);
CREATE INDEX sessions_by_user ON sessions (user_id, id);

-- Refresh tokens rotated away, each with its session: presenting one again means it was copied.
CREATE TABLE spent_refresh_tokens (
  hash       text COLLATE "C" PRIMARY KEY,
  session_id text COLLATE "C" NOT NULL REFERENCES sessions (id)
);

-- The identity orders events across nodes: the wire id is its decimal form, pages go newest
-- first. No foreign key: a failed login may name no user.
CREATE TABLE audit_events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id    text COLLATE "C" NOT NULL,
  type       text NOT NULL,
  at         bigint NOT NULL,
  ip         text NOT NULL,
  user_agent text NOT NULL
);
CREATE INDEX audit_by_user ON audit_events (user_id, id);

-- A row per user who set TOTP up: pending (enabled = false) until a code proved it.
CREATE TABLE two_factor (
  user_id         text COLLATE "C" PRIMARY KEY REFERENCES users (id),
  sealed_secret   text NOT NULL,
  enabled         boolean NOT NULL DEFAULT false,
  last_step       bigint NOT NULL DEFAULT 0,    -- the newest accepted TOTP step: older are replays
  recovery_hashes text[] NOT NULL DEFAULT '{}'  -- the recovery codes not used yet
);

-- Revokes the user's live sessions but p_keep (NULL: all); returns their ids, ascending.
CREATE FUNCTION chatd_revoke_sessions(p_user_id text, p_keep text, p_now bigint)
  RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_ids text[];
BEGIN
  PERFORM FROM sessions s
   WHERE s.user_id = p_user_id AND s.revoked_at IS NULL AND s.id IS DISTINCT FROM p_keep
   ORDER BY s.id FOR NO KEY UPDATE;
  WITH revoked AS (
    UPDATE sessions s SET revoked_at = p_now
     WHERE s.user_id = p_user_id AND s.revoked_at IS NULL AND s.id IS DISTINCT FROM p_keep
    RETURNING s.id)
  SELECT coalesce(array_agg(r.id ORDER BY r.id), '{}') INTO v_ids FROM revoked r;
  RETURN v_ids;
END $$;

-- Store::create_session: 'created', 'user_not_found', 'disabled'. The user's row is share-locked,
-- so a concurrent chatd_set_disabled either waits for this session (and revokes it) or is seen.
CREATE FUNCTION chatd_create_session(p_id text, p_user_id text, p_refresh_hash text, p_at bigint,
                                     p_ip text, p_user_agent text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_disabled boolean;
BEGIN
  SELECT u.disabled INTO v_disabled FROM users u WHERE u.id = p_user_id FOR SHARE;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  IF v_disabled THEN
    RETURN 'disabled';
  END IF;
  INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, ip, user_agent)
    VALUES (p_id, p_user_id, p_refresh_hash, p_at, p_at, p_ip, p_user_agent);
  RETURN 'created';
END $$;

-- Store::rotate_refresh. Status: 'rotated', 'reused' (the session is revoked now) or 'unknown';
-- the session_* columns are set unless 'unknown'. The conditional UPDATEs make it atomic across
-- nodes: of two rotations of one token, the second waits for the first's row lock, finds the
-- hash changed, and then finds it spent.
CREATE FUNCTION chatd_rotate_refresh(
    p_presented text, p_next text, p_ip text, p_user_agent text, p_at bigint,
    OUT status text, OUT session_id text, OUT session_user_id text,
    OUT session_created_at bigint, OUT session_last_used_at bigint, OUT session_ip text,
    OUT session_user_agent text, OUT session_revoked boolean)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sessions s
     SET refresh_hash = p_next, ip = p_ip, user_agent = p_user_agent,
         last_used_at = greatest(s.last_used_at, p_at)
   WHERE s.refresh_hash = p_presented AND s.revoked_at IS NULL
  RETURNING s.id, s.user_id, s.created_at, s.last_used_at, s.ip, s.user_agent, false
    INTO session_id, session_user_id, session_created_at, session_last_used_at, session_ip,
         session_user_agent, session_revoked;
  IF FOUND THEN
    INSERT INTO spent_refresh_tokens (hash, session_id) VALUES (p_presented, session_id);
    status := 'rotated';
    RETURN;
  END IF;
  -- A spent token: whoever presents it holds a copy. Its session ends (once).
  UPDATE sessions s SET revoked_at = p_at
    FROM spent_refresh_tokens t
   WHERE t.hash = p_presented AND s.id = t.session_id AND s.revoked_at IS NULL
  RETURNING s.id, s.user_id, s.created_at, s.last_used_at, s.ip, s.user_agent, true
    INTO session_id, session_user_id, session_created_at, session_last_used_at, session_ip,
         session_user_agent, session_revoked;
  status := CASE WHEN FOUND THEN 'reused' ELSE 'unknown' END;
END $$;

-- Store::revoke_session: 'revoked', 'unchanged' (revoked before), 'not_found' (not the user's).
CREATE FUNCTION chatd_revoke_session(p_user_id text, p_session_id text, p_now bigint)
  RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE sessions s SET revoked_at = p_now
   WHERE s.id = p_session_id AND s.user_id = p_user_id AND s.revoked_at IS NULL;
  IF FOUND THEN
    RETURN 'revoked';
  END IF;
  PERFORM FROM sessions s WHERE s.id = p_session_id AND s.user_id = p_user_id;
  RETURN CASE WHEN FOUND THEN 'unchanged' ELSE 'not_found' END;
END $$;

-- Store::set_disabled: 'ok' or 'user_not_found'; revoked_ids: the sessions disabling ended.
CREATE FUNCTION chatd_set_disabled(p_user_id text, p_disabled boolean, p_now bigint,
                                   OUT status text, OUT revoked_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET disabled = p_disabled, updated_at = p_now WHERE id = p_user_id;
  IF NOT FOUND THEN
    status := 'user_not_found';
    RETURN;
  END IF;
  revoked_ids := CASE WHEN p_disabled THEN chatd_revoke_sessions(p_user_id, NULL, p_now)
                      ELSE '{}' END;
  status := 'ok';
END $$;

-- Store::change_password: 'ok' or 'user_not_found'; revoked_ids: every session but p_keep.
CREATE FUNCTION chatd_change_password(p_user_id text, p_password_hash text, p_keep text,
                                      p_now bigint, OUT status text, OUT revoked_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET password_hash = p_password_hash, updated_at = p_now WHERE id = p_user_id;
  IF NOT FOUND THEN
    status := 'user_not_found';
    RETURN;
  END IF;
  revoked_ids := chatd_revoke_sessions(p_user_id, p_keep, p_now);
  status := 'ok';
END $$;

-- Store::set_pending_two_factor: 'ok', 'conflict' (enabled), 'user_not_found'.
CREATE FUNCTION chatd_set_pending_two_factor(p_user_id text, p_sealed_secret text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM users u WHERE u.id = p_user_id;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  INSERT INTO two_factor (user_id, sealed_secret) VALUES (p_user_id, p_sealed_secret)
    ON CONFLICT (user_id) DO UPDATE
      SET sealed_secret = excluded.sealed_secret, last_step = 0, recovery_hashes = '{}'
      WHERE NOT two_factor.enabled;
  RETURN CASE WHEN FOUND THEN 'ok' ELSE 'conflict' END;
END $$;

-- Store::enable_two_factor: 'ok', 'not_found' (nothing pending), 'conflict' (enabled already).
CREATE FUNCTION chatd_enable_two_factor(p_user_id text, p_recovery_hashes text[], p_step bigint)
  RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_enabled boolean;
BEGIN
  SELECT t.enabled INTO v_enabled FROM two_factor t WHERE t.user_id = p_user_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'not_found';
  END IF;
  IF v_enabled THEN
    RETURN 'conflict';
  END IF;
  UPDATE two_factor SET enabled = true, recovery_hashes = p_recovery_hashes, last_step = p_step
   WHERE user_id = p_user_id;
  RETURN 'ok';
END $$;
)sql",
    // 4: privacy (store.h, "Privacy"): erased users (the row stays as a placeholder, so that
    // history keeps its senders), tombstoned messages, per-chat retention, and the housekeeping
    // of sessions and audit events. Functions whose result type a running node of the previous
    // release may have prepared are replaced with the same result type; chat_view gains its new
    // columns at the end (CREATE OR REPLACE VIEW allows only that).
    //
    // The erasures lock the chat rows of the messages they tombstone FOR NO KEY UPDATE, in id
    // order, before anything else: appends, renames and membership changes of those chats then
    // wait for the erasure, and none of them can commit a copy of erased content (a message, or a
    // chat's latest message in a group change) after the erasure scrubbed the change log
    // (postgres_store.cc, "Erasure"). Writes that add an erased user somewhere lock the user's row
    // FOR KEY SHARE and check erased_at on the row they locked: chatd_erase_user's UPDATE (which
    // changes email_key, a unique column, so it takes FOR UPDATE) and they wait for each other.
    R"sql(
ALTER TABLE users ADD COLUMN erased_at bigint;  -- NULL: not erased
ALTER TABLE messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE chats ADD COLUMN retention_days integer;  -- NULL: the server-wide setting only

-- A user's live messages, by chat: export pages, erasure, unfinished erasures. Tombstones leave
-- the index, so an erasure a batch at a time never walks over what it already did.
CREATE INDEX messages_by_sender ON messages (sender_id, chat_id, seq) WHERE NOT deleted;
-- What the server-wide retention may erase: live messages by age.
CREATE INDEX live_messages_by_age ON messages (created_at) WHERE NOT deleted;
-- The few chats with a retention of their own.
CREATE INDEX chats_with_retention ON chats (id) WHERE retention_days IS NOT NULL;
CREATE INDEX erased_users ON users (id) WHERE erased_at IS NOT NULL;
-- Housekeeping and erasure delete by these; the first also serves the foreign key's check when a
-- session is deleted.
CREATE INDEX spent_by_session ON spent_refresh_tokens (session_id);
CREATE INDEX revoked_sessions ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX audit_by_time ON audit_events (at);

CREATE OR REPLACE VIEW chat_view AS
SELECT c.id, c.name, c.is_group, c.last_seq, c.created_at, c.updated_at,
       m.user_ids, m.roles, m.joined_ats, m.delivered_seqs, m.read_seqs,
       l.id AS latest_id, l.sender_id AS latest_sender_id, l.content AS latest_content,
       l.client_msg_id AS latest_client_msg_id, l.created_at AS latest_created_at,
       c.direct_key, c.activity, l.deleted AS latest_deleted, c.retention_days
  FROM chats c
  CROSS JOIN LATERAL (
    SELECT array_agg(cm.user_id ORDER BY cm.position) AS user_ids,
           array_agg(cm.role ORDER BY cm.position) AS roles,
           array_agg(cm.joined_at ORDER BY cm.position) AS joined_ats,
           array_agg(cm.delivered_seq ORDER BY cm.position) AS delivered_seqs,
           array_agg(cm.read_seq ORDER BY cm.position) AS read_seqs
      FROM chat_members cm WHERE cm.chat_id = c.id) m
  LEFT JOIN messages l ON l.chat_id = c.id AND l.seq = c.last_seq;

-- Erased users are unknown to the writes that would add them to a chat.
CREATE OR REPLACE FUNCTION chatd_direct_chat(p_id text, p_user_a text, p_user_b text, p_key text,
                                             p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM users u WHERE u.id = p_user_a AND u.erased_at IS NULL FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  PERFORM FROM users u WHERE u.id = p_user_b AND u.erased_at IS NULL FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  INSERT INTO chats (id, name, is_group, direct_key, created_at, updated_at)
    VALUES (p_id, 'sender', false, p_key, p_now, p_now)
    ON CONFLICT (direct_key) DO NOTHING;
  IF FOUND THEN
    INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
      VALUES (p_id, p_user_a, 2, 1, p_now), (p_id, p_user_b, 2, 2, p_now);
  END IF;
  RETURN 'ok';
END $$;

CREATE OR REPLACE FUNCTION chatd_create_group(p_id text, p_name text, p_creator text,
                                              p_members text[], p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_found integer;
BEGIN
  PERFORM FROM users u WHERE u.id = p_creator AND u.erased_at IS NULL FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  SELECT count(*) INTO v_found FROM (
    SELECT u.id FROM users u WHERE u.id = ANY (p_members) AND u.erased_at IS NULL
     ORDER BY u.id FOR KEY SHARE) AS found;
  IF v_found <> cardinality(p_members) THEN
    RETURN 'user_not_found';
  END IF;
  INSERT INTO chats (id, name, is_group, created_at, updated_at)
    VALUES (p_id, p_name, true, p_now, p_now);
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
    VALUES (p_id, p_creator, 0, 1, p_now);
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at)
    SELECT p_id, wanted.id, 2, wanted.n + 1, p_now
      FROM unnest(p_members) WITH ORDINALITY AS wanted (id, n);
  RETURN 'created';
END $$;

CREATE OR REPLACE FUNCTION chatd_add_member(p_chat_id text, p_user_id text,
                                            p_max_members integer, p_now bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_last_seq bigint;
BEGIN
  SELECT c.last_seq INTO v_last_seq FROM chats c WHERE c.id = p_chat_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'chat_not_found';
  END IF;
  PERFORM FROM chat_members m WHERE m.chat_id = p_chat_id AND m.user_id = p_user_id;
  IF FOUND THEN
    RETURN 'unchanged';
  END IF;
  PERFORM FROM users u WHERE u.id = p_user_id AND u.erased_at IS NULL FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN 'user_not_found';
  END IF;
  IF (SELECT count(*) FROM chat_members m WHERE m.chat_id = p_chat_id) >= p_max_members THEN
    RETURN 'too_many';
  END IF;
  -- A new member starts with both cursors at the chat's last seq.
  INSERT INTO chat_members (chat_id, user_id, role, position, joined_at, delivered_seq, read_seq)
    SELECT p_chat_id, p_user_id, 2, coalesce(max(m.position), 0) + 1, p_now, v_last_seq,
           v_last_seq
      FROM chat_members m WHERE m.chat_id = p_chat_id;
  UPDATE chats SET activity = nextval('chat_activity'), updated_at = p_now WHERE id = p_chat_id;
  RETURN 'changed';
END $$;

-- An erased user has no session: a login that read the credentials before the erasure committed
-- waits for it here (the share lock) and finds the user gone.
CREATE OR REPLACE FUNCTION chatd_create_session(p_id text, p_user_id text, p_refresh_hash text,
                                                p_at bigint, p_ip text, p_user_agent text)
  RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  v_disabled boolean;
  v_erased boolean;
BEGIN
  SELECT u.disabled, u.erased_at IS NOT NULL INTO v_disabled, v_erased
    FROM users u WHERE u.id = p_user_id FOR SHARE;
  IF NOT FOUND OR v_erased THEN
    RETURN 'user_not_found';
  END IF;
  IF v_disabled THEN
    RETURN 'disabled';
  END IF;
  INSERT INTO sessions (id, user_id, refresh_hash, created_at, last_used_at, ip, user_agent)
    VALUES (p_id, p_user_id, p_refresh_hash, p_at, p_at, p_ip, p_user_agent);
  RETURN 'created';
END $$;

-- Store::erase_user: 'erased', 'unchanged' (erased before) or 'user_not_found'. revoked_ids: the
-- live sessions it ended; group_ids: the groups it left (both ascending). The email key becomes
-- 'erased:<id>', which no login matches (they are lower-cased emails) and which frees the email.
-- Sessions are locked in id order, as by every write that locks several (migration 3); each group
-- is left as chatd_remove_member leaves it (the role passes on).
CREATE FUNCTION chatd_erase_user(p_user_id text, p_name text, p_name_key text, p_pic text,
                                 p_now bigint, OUT status text, OUT revoked_ids text[],
                                 OUT group_ids text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_chat_id text;
BEGIN
  UPDATE users u
     SET name = p_name, name_key = p_name_key, pic = p_pic, email = '',
         email_key = 'erased:' || u.id, password_hash = '', is_admin = false, disabled = false,
         last_seen = NULL, erased_at = p_now, updated_at = p_now
   WHERE u.id = p_user_id AND u.erased_at IS NULL;
  IF NOT FOUND THEN
    PERFORM FROM users u WHERE u.id = p_user_id;
    status := CASE WHEN FOUND THEN 'unchanged' ELSE 'user_not_found' END;
    RETURN;
  END IF;
  PERFORM FROM sessions s WHERE s.user_id = p_user_id ORDER BY s.id FOR UPDATE;
  SELECT coalesce(array_agg(s.id ORDER BY s.id), '{}') INTO revoked_ids
    FROM sessions s WHERE s.user_id = p_user_id AND s.revoked_at IS NULL;
  DELETE FROM spent_refresh_tokens t USING sessions s
   WHERE t.session_id = s.id AND s.user_id = p_user_id;
  DELETE FROM sessions s WHERE s.user_id = p_user_id;
  DELETE FROM audit_events a WHERE a.user_id = p_user_id;
  DELETE FROM two_factor t WHERE t.user_id = p_user_id;
  group_ids := '{}';
  FOR v_chat_id IN
    SELECT cm.chat_id FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
     WHERE cm.user_id = p_user_id AND c.is_group ORDER BY cm.chat_id
  LOOP
    IF chatd_remove_member(v_chat_id, p_user_id, p_now) = 'changed' THEN
      group_ids := group_ids || v_chat_id;
    END IF;
  END LOOP;
  status := 'erased';
END $$;

-- Turns the live messages among p_ids into tombstones (content and client_msg_id gone, id and seq
-- kept): one row per chat they were in (by chat id), their ids and seqs ascending, with the
-- chat's members in joining order. The chats are locked first (see above).
CREATE FUNCTION chatd_tombstone_messages(p_ids text[])
  RETURNS TABLE (chat_id text, message_ids text[], seqs bigint[], member_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM chats c
   WHERE c.id IN (SELECT m.chat_id FROM messages m WHERE m.id = ANY (p_ids))
   ORDER BY c.id FOR NO KEY UPDATE;
  RETURN QUERY
    WITH erased AS (
      UPDATE messages m SET content = '', client_msg_id = NULL, deleted = true
       WHERE m.id = ANY (p_ids) AND NOT m.deleted
      RETURNING m.chat_id, m.id, m.seq)
    SELECT e.chat_id, array_agg(e.id ORDER BY e.seq), array_agg(e.seq ORDER BY e.seq),
           (SELECT array_agg(cm.user_id ORDER BY cm.position)
              FROM chat_members cm WHERE cm.chat_id = e.chat_id)
      FROM erased e GROUP BY e.chat_id ORDER BY e.chat_id;
END $$;

-- Store::erase_sent_messages: up to p_limit of the user's live messages, by chat and seq.
CREATE FUNCTION chatd_erase_sent_messages(p_user_id text, p_limit integer)
  RETURNS TABLE (chat_id text, message_ids text[], seqs bigint[], member_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY SELECT * FROM chatd_tombstone_messages(ARRAY(
    SELECT m.id FROM messages m WHERE m.sender_id = p_user_id AND NOT m.deleted
     ORDER BY m.chat_id, m.seq LIMIT p_limit));
END $$;

-- Store::erase_expired_messages: up to p_limit live messages older than their chat's retention,
-- the server's (p_server_days, NULL: none) or the shorter of both, oldest first. Two ranges: every
-- message past the server's retention (live_messages_by_age), and the oldest of each chat whose
-- own retention is shorter (chats_with_retention, then the chat's messages by seq).
CREATE FUNCTION chatd_erase_expired_messages(p_now bigint, p_server_days integer,
                                             p_limit integer)
  RETURNS TABLE (chat_id text, message_ids text[], seqs bigint[], member_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY SELECT * FROM chatd_tombstone_messages(ARRAY(
    SELECT x.id FROM (
      (SELECT m.id, m.created_at, m.chat_id, m.seq FROM messages m
        WHERE p_server_days IS NOT NULL AND NOT m.deleted
          AND m.created_at < p_now - p_server_days::bigint * 86400000
        ORDER BY m.created_at LIMIT p_limit)
      UNION ALL
      (SELECT m.id, m.created_at, m.chat_id, m.seq
         FROM chats c
        CROSS JOIN LATERAL (
          SELECT o.id, o.created_at, o.chat_id, o.seq FROM messages o
           WHERE o.chat_id = c.id AND NOT o.deleted
             AND o.created_at < p_now - c.retention_days::bigint * 86400000
           ORDER BY o.seq LIMIT p_limit) m
        WHERE c.retention_days IS NOT NULL
          AND (p_server_days IS NULL OR c.retention_days < p_server_days))) x
     ORDER BY x.created_at, x.chat_id, x.seq LIMIT p_limit));
END $$;

-- Store::prune_accounts: sessions revoked before p_revoked_before (their spent refresh tokens
-- first) and audit events older than p_audit_before, at most p_limit of each; returns the rows
-- deleted. Sessions another write holds are left for the next round.
CREATE FUNCTION chatd_prune_accounts(p_revoked_before bigint, p_audit_before bigint,
                                     p_limit integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_ids text[];
  v_spent bigint;
  v_sessions bigint;
  v_events bigint;
BEGIN
  SELECT coalesce(array_agg(d.id), '{}') INTO v_ids FROM (
    SELECT s.id FROM sessions s WHERE s.revoked_at < p_revoked_before
     ORDER BY s.revoked_at LIMIT p_limit FOR UPDATE SKIP LOCKED) d;
  DELETE FROM spent_refresh_tokens t WHERE t.session_id = ANY (v_ids);
  GET DIAGNOSTICS v_spent = ROW_COUNT;
  DELETE FROM sessions s WHERE s.id = ANY (v_ids);
  GET DIAGNOSTICS v_sessions = ROW_COUNT;
  DELETE FROM audit_events a
   WHERE a.id IN (SELECT e.id FROM audit_events e WHERE e.at < p_audit_before
                   ORDER BY e.at LIMIT p_limit);
  GET DIAGNOSTICS v_events = ROW_COUNT;
  RETURN v_spent + v_sessions + v_events;
END $$;
)sql",
    // 5: rich messages (store.h, MessageChange): edits, deletions by their sender or a group
    // admin, reactions, replies. Each change of a sent message takes the next value of its chat's
    // last_rev as the message's rev, which sync hands changes out by. Writes that change a message
    // lock its chat's row first, as appends and erasures do (migration 4), so that revs are
    // gapless per chat and no change can commit a copy of erased content after an erasure.
    // chatd_append_message gains an overload with the reply (nodes of the previous release keep
    // calling the old one); chatd_tombstone_messages keeps its result type and now also moves
    // revs and drops reactions.
    R"sql(
ALTER TABLE messages ADD COLUMN edited_at bigint;
ALTER TABLE messages ADD COLUMN rev bigint NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to text COLLATE "C";  -- the id of a message of the chat
ALTER TABLE messages ADD COLUMN reactions integer NOT NULL DEFAULT 0;  -- its rows below
ALTER TABLE chats ADD COLUMN last_rev bigint NOT NULL DEFAULT 0;
-- A chat's changes since a sync's change cursor.
CREATE INDEX messages_by_rev ON messages (chat_id, rev) WHERE rev > 0;

CREATE TABLE message_reactions (
  message_id text COLLATE "C" NOT NULL,
  emoji      text NOT NULL,
  user_id    text COLLATE "C" NOT NULL,
  rev        bigint NOT NULL,  -- the message's rev it made: orders reactions
  PRIMARY KEY (message_id, emoji, user_id)
);

-- A message as the store reads it: with what its reply quotes (as that message is now) and its
-- reactions (emojis and users in parallel arrays, by rev), read only for messages that have some.
CREATE VIEW message_rows AS
SELECT m.chat_id, m.seq, m.id, m.sender_id, m.content, m.client_msg_id, m.created_at, m.deleted,
       m.edited_at, m.rev, q.id AS quote_id, q.seq AS quote_seq, q.sender_id AS quote_sender_id,
       qu.name AS quote_sender_name, qu.pic AS quote_sender_pic,
       left(q.content, 200) AS quote_content, q.deleted AS quote_deleted,
       CASE WHEN m.reactions > 0 THEN (SELECT array_agg(r.emoji ORDER BY r.rev)
         FROM message_reactions r WHERE r.message_id = m.id) END AS reaction_emojis,
       CASE WHEN m.reactions > 0 THEN (SELECT array_agg(r.user_id ORDER BY r.rev)
         FROM message_reactions r WHERE r.message_id = m.id) END AS reaction_users
  FROM messages m
  LEFT JOIN messages q ON q.id = m.reply_to
  LEFT JOIN users qu ON qu.id = q.sender_id;

CREATE OR REPLACE VIEW chat_view AS
SELECT c.id, c.name, c.is_group, c.last_seq, c.created_at, c.updated_at,
       m.user_ids, m.roles, m.joined_ats, m.delivered_seqs, m.read_seqs,
       l.id AS latest_id, l.sender_id AS latest_sender_id, l.content AS latest_content,
       l.client_msg_id AS latest_client_msg_id, l.created_at AS latest_created_at,
       c.direct_key, c.activity, l.deleted AS latest_deleted, c.retention_days, c.last_rev
  FROM chats c
  CROSS JOIN LATERAL (
    SELECT array_agg(cm.user_id ORDER BY cm.position) AS user_ids,
           array_agg(cm.role ORDER BY cm.position) AS roles,
           array_agg(cm.joined_at ORDER BY cm.position) AS joined_ats,
           array_agg(cm.delivered_seq ORDER BY cm.position) AS delivered_seqs,
           array_agg(cm.read_seq ORDER BY cm.position) AS read_seqs
      FROM chat_members cm WHERE cm.chat_id = c.id) m
  LEFT JOIN messages l ON l.chat_id = c.id AND l.seq = c.last_seq;

-- As migration 2's, and a reply must quote a message of the same chat ('bad_reply').
CREATE FUNCTION chatd_append_message(
    p_id text, p_chat_id text, p_sender_id text, p_content text, p_client_msg_id text,
    p_now bigint, p_reply_to text,
    OUT status text, OUT seq bigint, OUT original_chat_id text, OUT original_id text,
    OUT original_content text, OUT original_created_at bigint, OUT member_ids text[],
    OUT sender_name text, OUT sender_email text, OUT sender_pic text,
    OUT sender_is_admin boolean, OUT sender_created_at bigint, OUT sender_updated_at bigint)
LANGUAGE plpgsql AS $$
BEGIN
  IF p_reply_to IS NOT NULL AND p_client_msg_id IS NOT NULL THEN
    -- A retry finds its original first, whatever it quotes.
    PERFORM FROM messages m WHERE m.sender_id = p_sender_id AND m.client_msg_id = p_client_msg_id;
  END IF;
  IF p_reply_to IS NOT NULL AND NOT FOUND THEN
    PERFORM FROM messages m WHERE m.id = p_reply_to AND m.chat_id = p_chat_id;
    IF NOT FOUND THEN
      status := 'bad_reply';
      RETURN;
    END IF;
  END IF;
  SELECT * INTO status, seq, original_chat_id, original_id, original_content,
                original_created_at, member_ids, sender_name, sender_email, sender_pic,
                sender_is_admin, sender_created_at, sender_updated_at
    FROM chatd_append_message(p_id, p_chat_id, p_sender_id, p_content, p_client_msg_id, p_now);
  IF status = 'created' AND p_reply_to IS NOT NULL THEN
    UPDATE messages SET reply_to = p_reply_to WHERE id = p_id;
  END IF;
END $$;

-- Store::change_message. p_kind: 0 edit, 1 remove, 2 react, 3 unreact; p_right: 0 sender, 1
-- sender or group admin, 2 member. Status: 'changed', 'unchanged', 'chat_not_found',
-- 'message_not_found', 'not_member', 'forbidden', 'deleted' (an edit or a reaction of a
-- tombstone), 'too_many_emojis'; member_ids when changed.
CREATE FUNCTION chatd_change_message(p_chat_id text, p_message_id text, p_user_id text,
                                     p_kind smallint, p_right smallint, p_content text,
                                     p_emoji text, p_max_emojis integer, p_now bigint,
                                     OUT status text, OUT member_ids text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_is_group boolean;
  v_role smallint;
  v_sender text;
  v_content text;
  v_deleted boolean;
  v_rev bigint;
BEGIN
  SELECT c.is_group INTO v_is_group FROM chats c WHERE c.id = p_chat_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    status := 'chat_not_found';
    RETURN;
  END IF;
  SELECT m.sender_id, m.content, m.deleted INTO v_sender, v_content, v_deleted
    FROM messages m WHERE m.id = p_message_id AND m.chat_id = p_chat_id;
  IF NOT FOUND THEN
    status := 'message_not_found';
    RETURN;
  END IF;
  SELECT cm.role INTO v_role FROM chat_members cm
   WHERE cm.chat_id = p_chat_id AND cm.user_id = p_user_id;
  IF NOT FOUND THEN
    status := 'not_member';
    RETURN;
  END IF;
  IF (p_right = 0 AND v_sender <> p_user_id)
     OR (p_right = 1 AND v_sender <> p_user_id AND NOT (v_is_group AND v_role IN (0, 1))) THEN
    status := 'forbidden';
    RETURN;
  END IF;
  IF v_deleted AND p_kind IN (0, 2) THEN
    status := 'deleted';
    RETURN;
  END IF;
  status := 'unchanged';
  IF p_kind = 0 THEN
    IF v_content = p_content THEN
      RETURN;
    END IF;
    UPDATE chats SET last_rev = last_rev + 1 WHERE id = p_chat_id RETURNING last_rev INTO v_rev;
    UPDATE messages SET content = p_content, edited_at = p_now, rev = v_rev WHERE id = p_message_id;
  ELSIF p_kind = 1 THEN
    IF v_deleted THEN
      RETURN;
    END IF;
    UPDATE chats SET last_rev = last_rev + 1 WHERE id = p_chat_id RETURNING last_rev INTO v_rev;
    UPDATE messages SET content = '', deleted = true, edited_at = NULL, reply_to = NULL,
                        reactions = 0, rev = v_rev
     WHERE id = p_message_id;
    DELETE FROM message_reactions r WHERE r.message_id = p_message_id;
  ELSIF p_kind = 2 THEN
    PERFORM FROM message_reactions r
     WHERE r.message_id = p_message_id AND r.emoji = p_emoji AND r.user_id = p_user_id;
    IF FOUND THEN
      RETURN;
    END IF;
    PERFORM FROM message_reactions r WHERE r.message_id = p_message_id AND r.emoji = p_emoji;
    IF NOT FOUND AND (SELECT count(DISTINCT r.emoji) FROM message_reactions r
                       WHERE r.message_id = p_message_id) >= p_max_emojis THEN
      status := 'too_many_emojis';
      RETURN;
    END IF;
    UPDATE chats SET last_rev = last_rev + 1 WHERE id = p_chat_id RETURNING last_rev INTO v_rev;
    INSERT INTO message_reactions (message_id, emoji, user_id, rev)
      VALUES (p_message_id, p_emoji, p_user_id, v_rev);
    UPDATE messages SET reactions = reactions + 1, rev = v_rev WHERE id = p_message_id;
  ELSE
    DELETE FROM message_reactions r
     WHERE r.message_id = p_message_id AND r.emoji = p_emoji AND r.user_id = p_user_id;
    IF NOT FOUND THEN
      RETURN;
    END IF;
    UPDATE chats SET last_rev = last_rev + 1 WHERE id = p_chat_id RETURNING last_rev INTO v_rev;
    UPDATE messages SET reactions = reactions - 1, rev = v_rev WHERE id = p_message_id;
  END IF;
  status := 'changed';
  SELECT array_agg(cm.user_id ORDER BY cm.position) INTO member_ids
    FROM chat_members cm WHERE cm.chat_id = p_chat_id;
END $$;

-- As migration 4's; each tombstone is also a change of its chat (a rev of its own, in seq order),
-- and its reactions and reply go with its content.
CREATE OR REPLACE FUNCTION chatd_tombstone_messages(p_ids text[])
  RETURNS TABLE (chat_id text, message_ids text[], seqs bigint[], member_ids text[])
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM chats c
   WHERE c.id IN (SELECT m.chat_id FROM messages m WHERE m.id = ANY (p_ids))
   ORDER BY c.id FOR NO KEY UPDATE;
  RETURN QUERY
    WITH doomed AS (
      SELECT m.chat_id, m.id, m.seq,
             row_number() OVER (PARTITION BY m.chat_id ORDER BY m.seq) AS n
        FROM messages m WHERE m.id = ANY (p_ids) AND NOT m.deleted),
    bumped AS (
      UPDATE chats c SET last_rev = c.last_rev + per_chat.doomed_count
        FROM (SELECT x.chat_id, count(*) AS doomed_count FROM doomed x GROUP BY x.chat_id) per_chat
       WHERE c.id = per_chat.chat_id
      RETURNING c.id, c.last_rev - per_chat.doomed_count AS base),
    erased AS (
      UPDATE messages m SET content = '', client_msg_id = NULL, deleted = true, edited_at = NULL,
                            reply_to = NULL, reactions = 0, rev = b.base + d.n
        FROM doomed d JOIN bumped b ON b.id = d.chat_id
       WHERE m.id = d.id
      RETURNING m.chat_id, m.id, m.seq),
    unreacted AS (
      DELETE FROM message_reactions r USING doomed d WHERE r.message_id = d.id)
    SELECT e.chat_id, array_agg(e.id ORDER BY e.seq), array_agg(e.seq ORDER BY e.seq),
           (SELECT array_agg(cm.user_id ORDER BY cm.position)
              FROM chat_members cm WHERE cm.chat_id = e.chat_id)
      FROM erased e GROUP BY e.chat_id ORDER BY e.chat_id;
END $$;
)sql",
    // 6: full-text search (API.md, "Search"). message_search holds each live message's document:
    // its content (without the bytes 0x02/0x03, which mark hits in snippets), its sender's name
    // and its attachments' names (none until messages carry attachments), in the chatd_search
    // configuration: `simple` words with accents removed (unaccent, a trusted extension). Triggers
    // keep it in step in the writing transaction: a message added, edited or deleted
    // (tombstoned), a sender renamed.
    R"sql(
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION chatd_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION chatd_search
  ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword,
                    numhword, hword_numpart
  WITH unaccent, simple;

CREATE TABLE message_search (
  chat_id text COLLATE "C" NOT NULL,
  seq     bigint NOT NULL,
  doc     tsvector NOT NULL,
  PRIMARY KEY (chat_id, seq)
);
CREATE INDEX message_search_by_doc ON message_search USING gin (doc);

CREATE FUNCTION chatd_search_doc(p_content text, p_sender text) RETURNS tsvector
LANGUAGE sql STABLE AS $$
  SELECT to_tsvector('chatd_search', translate(p_content, chr(2) || chr(3), '  '))
      || to_tsvector('chatd_search', coalesce(p_sender, ''))
$$;

INSERT INTO message_search (chat_id, seq, doc)
  SELECT m.chat_id, m.seq, chatd_search_doc(m.content, u.name)
    FROM messages m JOIN users u ON u.id = m.sender_id WHERE NOT m.deleted;

CREATE FUNCTION chatd_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deleted THEN
    DELETE FROM message_search WHERE chat_id = NEW.chat_id AND seq = NEW.seq;
  ELSE
    INSERT INTO message_search (chat_id, seq, doc)
      VALUES (NEW.chat_id, NEW.seq,
              chatd_search_doc(NEW.content, (SELECT name FROM users WHERE id = NEW.sender_id)))
      ON CONFLICT (chat_id, seq) DO UPDATE SET doc = EXCLUDED.doc;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER messages_search AFTER INSERT OR UPDATE OF content, deleted ON messages
  FOR EACH ROW EXECUTE FUNCTION chatd_index_message();

CREATE FUNCTION chatd_index_sender() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE message_search s SET doc = chatd_search_doc(m.content, NEW.name)
    FROM messages m
   WHERE m.sender_id = NEW.id AND NOT m.deleted AND s.chat_id = m.chat_id AND s.seq = m.seq;
  RETURN NULL;
END $$;
CREATE TRIGGER users_search AFTER UPDATE OF name ON users
  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION chatd_index_sender();
)sql",
    // 7: attachments (API.md, "Rich messages"), as in SQLite's migration 7: a row per upload (its
    // bytes are a blob named by their SHA-256), message_attachments for what each live message
    // carries (a tombstone carries nothing: a trigger, whatever made it), orphan_blobs for the
    // bytes the collector must remove. message_rows gains the attachments (a JSON array of rows,
    // in order); chatd_append_message gains an overload that checks and links them; a message's
    // search document gains its attachments' names.
    R"sql(
CREATE TABLE attachments (
  id           text COLLATE "C" PRIMARY KEY,
  uploader_id  text COLLATE "C" NOT NULL,
  name         text NOT NULL,
  size         bigint NOT NULL,
  mime         text NOT NULL,
  sha256       text COLLATE "C" NOT NULL,
  width        integer,
  height       integer,
  thumb_sha256 text COLLATE "C",
  thumb_mime   text,
  thumb_width  integer,
  thumb_height integer,
  created_at   bigint NOT NULL
);
CREATE INDEX attachments_by_uploader ON attachments (uploader_id, created_at, id);
CREATE INDEX attachments_by_age ON attachments (created_at);
CREATE INDEX attachments_by_blob ON attachments (sha256);
CREATE INDEX attachments_by_thumbnail ON attachments (thumb_sha256)
  WHERE thumb_sha256 IS NOT NULL;

CREATE TABLE message_attachments (
  message_id    text COLLATE "C" NOT NULL,
  position      integer NOT NULL,
  attachment_id text COLLATE "C" NOT NULL,
  chat_id       text COLLATE "C" NOT NULL,
  PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_by_attachment ON message_attachments (attachment_id, chat_id);

CREATE TABLE orphan_blobs (sha256 text COLLATE "C" PRIMARY KEY);

CREATE FUNCTION chatd_unlink_attachments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM message_attachments WHERE message_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER messages_unlink_attachments AFTER UPDATE OF deleted ON messages
  FOR EACH ROW WHEN (NEW.deleted) EXECUTE FUNCTION chatd_unlink_attachments();

CREATE OR REPLACE VIEW message_rows AS
SELECT m.chat_id, m.seq, m.id, m.sender_id, m.content, m.client_msg_id, m.created_at, m.deleted,
       m.edited_at, m.rev, q.id AS quote_id, q.seq AS quote_seq, q.sender_id AS quote_sender_id,
       qu.name AS quote_sender_name, qu.pic AS quote_sender_pic,
       left(q.content, 200) AS quote_content, q.deleted AS quote_deleted,
       CASE WHEN m.reactions > 0 THEN (SELECT array_agg(r.emoji ORDER BY r.rev)
         FROM message_reactions r WHERE r.message_id = m.id) END AS reaction_emojis,
       CASE WHEN m.reactions > 0 THEN (SELECT array_agg(r.user_id ORDER BY r.rev)
         FROM message_reactions r WHERE r.message_id = m.id) END AS reaction_users,
       (SELECT json_agg(json_build_array(a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256,
                                         a.width, a.height, a.thumb_sha256, a.thumb_mime,
                                         a.thumb_width, a.thumb_height, a.created_at)
                        ORDER BY ma.position)
          FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id
         WHERE ma.message_id = m.id) AS attachments
  FROM messages m
  LEFT JOIN messages q ON q.id = m.reply_to
  LEFT JOIN users qu ON qu.id = q.sender_id;

-- As migration 5's, and the attachments (ids the sender uploaded, distinct, at most 10: else
-- 'bad_attachment'), linked in order. Their rows are locked until the commit, so the collector
-- (which locks what it deletes) cannot delete one that is being linked.
CREATE FUNCTION chatd_append_message(
    p_id text, p_chat_id text, p_sender_id text, p_content text, p_client_msg_id text,
    p_now bigint, p_reply_to text, p_attachments text[],
    OUT status text, OUT seq bigint, OUT original_chat_id text, OUT original_id text,
    OUT original_content text, OUT original_created_at bigint, OUT member_ids text[],
    OUT sender_name text, OUT sender_email text, OUT sender_pic text,
    OUT sender_is_admin boolean, OUT sender_created_at bigint, OUT sender_updated_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
  wanted integer := coalesce(cardinality(p_attachments), 0);
  owned integer;
BEGIN
  IF wanted > 0 AND p_client_msg_id IS NOT NULL THEN
    -- A retry finds its original first, whatever it carries.
    PERFORM FROM messages m WHERE m.sender_id = p_sender_id AND m.client_msg_id = p_client_msg_id;
  END IF;
  IF wanted > 0 AND (p_client_msg_id IS NULL OR NOT FOUND) THEN
    PERFORM FROM attachments a WHERE a.id = ANY (p_attachments) AND a.uploader_id = p_sender_id
      FOR KEY SHARE;
    GET DIAGNOSTICS owned = ROW_COUNT;
    IF wanted > 10 OR owned <> wanted
       OR (SELECT count(DISTINCT x) FROM unnest(p_attachments) x) <> wanted THEN
      status := 'bad_attachment';
      RETURN;
    END IF;
  END IF;
  SELECT * INTO status, seq, original_chat_id, original_id, original_content,
                original_created_at, member_ids, sender_name, sender_email, sender_pic,
                sender_is_admin, sender_created_at, sender_updated_at
    FROM chatd_append_message(p_id, p_chat_id, p_sender_id, p_content, p_client_msg_id, p_now,
                              p_reply_to);
  IF status = 'created' AND wanted > 0 THEN
    INSERT INTO message_attachments (message_id, position, attachment_id, chat_id)
      SELECT p_id, t.n - 1, t.x, p_chat_id FROM unnest(p_attachments) WITH ORDINALITY AS t(x, n);
  END IF;
END $$;

CREATE FUNCTION chatd_files_doc(p_message_id text) RETURNS tsvector
LANGUAGE sql STABLE AS $$
  -- Punctuation splits words, as SQLite's unicode61 does: the parser would read "a-b.pdf" as one
  -- file name, a token type chatd_search does not index.
  SELECT to_tsvector('chatd_search',
                     regexp_replace(coalesce(string_agg(a.name, ' ' ORDER BY ma.position), ''),
                                    '[^[:alnum:]]+', ' ', 'g'))
    FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id
   WHERE ma.message_id = p_message_id
$$;

CREATE OR REPLACE FUNCTION chatd_index_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deleted THEN
    DELETE FROM message_search WHERE chat_id = NEW.chat_id AND seq = NEW.seq;
  ELSE
    INSERT INTO message_search (chat_id, seq, doc)
      VALUES (NEW.chat_id, NEW.seq,
              chatd_search_doc(NEW.content, (SELECT name FROM users WHERE id = NEW.sender_id))
                || chatd_files_doc(NEW.id))
      ON CONFLICT (chat_id, seq) DO UPDATE SET doc = EXCLUDED.doc;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION chatd_index_sender() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE message_search s SET doc = chatd_search_doc(m.content, NEW.name) || chatd_files_doc(m.id)
    FROM messages m
   WHERE m.sender_id = NEW.id AND NOT m.deleted AND s.chat_id = m.chat_id AND s.seq = m.seq;
  RETURN NULL;
END $$;

CREATE FUNCTION chatd_index_files() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE message_search s
     SET doc = chatd_search_doc(m.content, u.name) || chatd_files_doc(m.id)
    FROM messages m JOIN users u ON u.id = m.sender_id
   WHERE m.id = NEW.message_id AND NOT m.deleted AND s.chat_id = m.chat_id AND s.seq = m.seq;
  RETURN NULL;
END $$;
CREATE TRIGGER message_attachments_search AFTER INSERT ON message_attachments
  FOR EACH ROW EXECUTE FUNCTION chatd_index_files();
)sql",
};

int applied_version(Connection& connection) {
  auto rows = connection.query("SELECT coalesce(max(version), 0) FROM schema_migrations");
  return static_cast<int>(rows[0].int64(0));
}

void apply_pending(Connection& connection) {
  // The lock is the transaction's: it is released by its COMMIT or ROLLBACK, also when a node
  // dies mid-migration.
  connection.exec("SELECT pg_advisory_xact_lock(hashtext('chatd schema_migrations'))");
  connection.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
  int version = applied_version(connection);
  if (version > schema_version()) {
    throw SchemaTooNew(fmt::format("database schema version {} is newer than this chatd ({})",
                                   version, schema_version()));
  }
  for (; version < schema_version(); ++version) {
    connection.exec(kMigrations[static_cast<std::size_t>(version)]);
    connection.query("INSERT INTO schema_migrations (version) VALUES ($1)", Params(version + 1));
    spdlog::info("store: migrated to schema version {}", version + 1);
  }
}

}  // namespace

int schema_version() {
  return static_cast<int>(kMigrations.size());
}

void migrate(Connection& connection) {
  connection.exec("BEGIN");
  try {
    apply_pending(connection);
    connection.exec("COMMIT");
  } catch (...) {
    try {
      if (!connection.broken()) connection.exec("ROLLBACK");
    } catch (const PgError&) {
      // The connection goes with the failure; closing it ends the transaction too.
    }
    throw;
  }
}

}  // namespace chatd::store::postgres
