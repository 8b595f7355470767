#include "store/sqlite/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>

namespace chatd::store::sqlite {

namespace {

// Append only: a released migration is never edited, a change is a new entry.
constexpr std::array kMigrations = {
    // 1: users, chats, members with roles and receipt cursors, messages with per-chat seq.
    R"sql(
CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  email         TEXT NOT NULL,
  email_key     TEXT NOT NULL UNIQUE,   -- lower-cased email: unique case-insensitively
  pic           TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin      INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX users_by_name ON users (name COLLATE NOCASE, id);

CREATE TABLE chats (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  is_group   INTEGER NOT NULL,
  direct_key TEXT UNIQUE,               -- "<smaller id>:<larger id>" for 1:1 chats, NULL for groups
  last_seq   INTEGER NOT NULL DEFAULT 0,
  activity   INTEGER NOT NULL,          -- store-wide counter bumped on every change: list order
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE chat_members (
  chat_id       TEXT NOT NULL REFERENCES chats (id),
  user_id       TEXT NOT NULL REFERENCES users (id),
  role          INTEGER NOT NULL,       -- 0 owner, 1 admin, 2 member
  position      INTEGER NOT NULL,       -- joining order within the chat
  joined_at     INTEGER NOT NULL,
  delivered_seq INTEGER NOT NULL DEFAULT 0,
  read_seq      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON chat_members (user_id, chat_id);

-- Clustered by (chat_id, seq): a history page is one contiguous range of the table.
CREATE TABLE messages (
  chat_id       TEXT NOT NULL REFERENCES chats (id),
  seq           INTEGER NOT NULL,
  id            TEXT NOT NULL UNIQUE,
  sender_id     TEXT NOT NULL REFERENCES users (id),
  content       TEXT NOT NULL,
  client_msg_id TEXT,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (chat_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;
)sql",
    // 2: presence: when each user was last connected (NULL: never, or online since).
    R"sql(
ALTER TABLE users ADD COLUMN last_seen INTEGER;
)sql",
    // 3: accounts: disabled users, login sessions with rotating refresh tokens, the security audit
    // trail, TOTP two-factor state. Secrets are stored hashed (tokens, codes) or sealed (TOTP).
    R"sql(
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sessions (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users (id),
  refresh_hash TEXT NOT NULL UNIQUE,      -- of the current refresh token
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  ip           TEXT NOT NULL,
  user_agent   TEXT NOT NULL,
  revoked_at   INTEGER                    -- NULL while the session lives
);
CREATE INDEX sessions_by_user ON sessions (user_id, last_used_at);

-- Refresh tokens already rotated away: presenting one again means it was copied (theft).
CREATE TABLE spent_refresh_tokens (
  hash       TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions (id)
) WITHOUT ROWID;

-- The rowid orders events: ids are its decimal form, pages go newest first.
CREATE TABLE audit_events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id    TEXT NOT NULL,
  type       TEXT NOT NULL,
  at         INTEGER NOT NULL,
  ip         TEXT NOT NULL,
  user_agent TEXT NOT NULL
);
CREATE INDEX audit_by_user ON audit_events (user_id, id);

CREATE TABLE two_factor (
  user_id       TEXT PRIMARY KEY REFERENCES users (id),
  sealed_secret TEXT NOT NULL,
  enabled       INTEGER NOT NULL DEFAULT 0,
  last_step     INTEGER NOT NULL DEFAULT 0  -- the newest accepted TOTP step: replays are older
) WITHOUT ROWID;

CREATE TABLE recovery_codes (
  user_id TEXT NOT NULL REFERENCES users (id),
  hash    TEXT NOT NULL,
  PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;
)sql",
    // 4: privacy: erased users (kept as placeholders so that history keeps its senders),
    // tombstoned messages, per-chat retention.
    R"sql(
ALTER TABLE users ADD COLUMN erased_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN retention_days INTEGER;
-- A user's live messages across chats: export pages and erasure.
CREATE INDEX live_messages_by_sender ON messages (sender_id, chat_id, seq) WHERE NOT deleted;
-- What the retention job may erase: live messages by age.
CREATE INDEX live_messages_by_age ON messages (created_at) WHERE NOT deleted;
)sql",
    // 5: rich messages: edits, deletions by their sender or an admin, reactions, replies. Each
    // change of a sent message takes the next value of its chat's last_rev as the message's rev,
    // which sync hands changes out by.
    R"sql(
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to TEXT;      -- the id of a message of the same chat
ALTER TABLE messages ADD COLUMN reactions INTEGER NOT NULL DEFAULT 0;  -- rows it has below
ALTER TABLE chats ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;
-- A chat's changes since a sync's change cursor.
CREATE INDEX messages_by_rev ON messages (chat_id, rev) WHERE rev > 0;

CREATE TABLE message_reactions (
  message_id TEXT NOT NULL,
  emoji      TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  rev        INTEGER NOT NULL,              -- the message's rev it made: orders reactions
  PRIMARY KEY (message_id, emoji, user_id)
) WITHOUT ROWID;
)sql",
    // 6: full-text search (API.md, "Search"). An FTS5 table holds each live message's content,
    // its sender's name and its attachments' names (empty until messages carry attachments);
    // messages.search_id is its row there. Triggers keep it in step in the writing transaction:
    // a message added, edited or deleted (tombstoned), a sender renamed. The content is indexed
    // without the bytes 0x02/0x03, which mark hits in snippets (store/search_text.h).
    R"sql(
ALTER TABLE messages ADD COLUMN search_id INTEGER;
CREATE VIRTUAL TABLE message_search USING fts5 (
  content, sender, files, chat_id UNINDEXED, seq UNINDEXED,
  tokenize = 'unicode61 remove_diacritics 2'
);

UPDATE messages SET search_id = numbered.n
  FROM (SELECT chat_id, seq, row_number() OVER (ORDER BY chat_id, seq) AS n
          FROM messages WHERE NOT deleted) AS numbered
  WHERE messages.chat_id = numbered.chat_id AND messages.seq = numbered.seq;
INSERT INTO message_search (rowid, content, sender, files, chat_id, seq)
  SELECT m.search_id, replace(replace(m.content, char(2), ' '), char(3), ' '), u.name, '',
         m.chat_id, m.seq
    FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.search_id IS NOT NULL;

CREATE TRIGGER message_search_add AFTER INSERT ON messages WHEN NOT new.deleted BEGIN
  INSERT INTO message_search (content, sender, files, chat_id, seq)
    VALUES (replace(replace(new.content, char(2), ' '), char(3), ' '),
            (SELECT name FROM users WHERE id = new.sender_id), '', new.chat_id, new.seq);
  UPDATE messages SET search_id = last_insert_rowid()
    WHERE chat_id = new.chat_id AND seq = new.seq;
END;
CREATE TRIGGER message_search_edit AFTER UPDATE OF content ON messages
  WHEN NOT new.deleted AND new.search_id IS NOT NULL BEGIN
  UPDATE message_search SET content = replace(replace(new.content, char(2), ' '), char(3), ' ')
    WHERE rowid = new.search_id;
END;
CREATE TRIGGER message_search_remove AFTER UPDATE OF deleted ON messages
  WHEN new.deleted AND old.search_id IS NOT NULL BEGIN
  DELETE FROM message_search WHERE rowid = old.search_id;
  UPDATE messages SET search_id = NULL WHERE chat_id = new.chat_id AND seq = new.seq;
END;
CREATE TRIGGER message_search_rename AFTER UPDATE OF name ON users
  WHEN new.name IS NOT old.name BEGIN
  UPDATE message_search SET sender = new.name
    WHERE rowid IN (SELECT search_id FROM messages
                     WHERE sender_id = new.id AND NOT deleted AND search_id IS NOT NULL);
END;
)sql",
    // 7: attachments (API.md, "Rich messages"). A row per upload; its bytes are a blob named by
    // their SHA-256, shared by uploads of the same bytes. message_attachments says which live
    // message carries which attachment: a tombstone carries none (a trigger, whatever made it),
    // which is what takes a member's access away and lets the collector delete the upload.
    // orphan_blobs queues the bytes the collector must remove. The names of a message's
    // attachments are indexed for search with it.
    R"sql(
CREATE TABLE attachments (
  id           TEXT PRIMARY KEY,
  uploader_id  TEXT NOT NULL REFERENCES users (id),
  name         TEXT NOT NULL,
  size         INTEGER NOT NULL,
  mime         TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  width        INTEGER,
  height       INTEGER,
  thumb_sha256 TEXT,
  thumb_mime   TEXT,
  thumb_width  INTEGER,
  thumb_height INTEGER,
  created_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX attachments_by_uploader ON attachments (uploader_id, created_at, id);
CREATE INDEX attachments_by_age ON attachments (created_at);
CREATE INDEX attachments_by_blob ON attachments (sha256);
CREATE INDEX attachments_by_thumbnail ON attachments (thumb_sha256)
  WHERE thumb_sha256 IS NOT NULL;

CREATE TABLE message_attachments (
  message_id    TEXT NOT NULL,
  position      INTEGER NOT NULL,
  attachment_id TEXT NOT NULL REFERENCES attachments (id),
  chat_id       TEXT NOT NULL,
  PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE INDEX message_attachments_by_attachment ON message_attachments (attachment_id, chat_id);

-- Blobs no row refers to any more, until the collector has removed them from the BlobStore: a
-- crash between deleting the rows and removing the bytes leaves them here, not leaked.
CREATE TABLE orphan_blobs (sha256 TEXT PRIMARY KEY) WITHOUT ROWID;

CREATE TRIGGER message_attachments_remove AFTER UPDATE OF deleted ON messages
  WHEN new.deleted BEGIN
  DELETE FROM message_attachments WHERE message_id = new.id;
END;
CREATE TRIGGER message_search_files AFTER INSERT ON message_attachments BEGIN
  UPDATE message_search
     SET files = ltrim(files || ' ' || (SELECT name FROM attachments WHERE id = new.attachment_id))
   WHERE rowid = (SELECT search_id FROM messages WHERE id = new.message_id);
END;
)sql",
    // 8: the search index gains prefix indexes of 2 and 3 characters, so that `ab*` and `abc*`
    // read one doclist instead of merging every term they cover (docs/BENCHMARKS.md, "Search").
    // FTS5 sets prefixes at creation only: the table is rebuilt under the same name (rows keep
    // their rowids, which messages.search_id names), and its triggers, which name it, are
    // dropped first and made again as migrations 6 and 7 made them.
    R"sql(
DROP TRIGGER message_search_add;
DROP TRIGGER message_search_edit;
DROP TRIGGER message_search_remove;
DROP TRIGGER message_search_rename;
DROP TRIGGER message_search_files;

CREATE VIRTUAL TABLE message_search_rebuilt USING fts5 (
  content, sender, files, chat_id UNINDEXED, seq UNINDEXED,
  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'
);
INSERT INTO message_search_rebuilt (rowid, content, sender, files, chat_id, seq)
  SELECT rowid, content, sender, files, chat_id, seq FROM message_search;
DROP TABLE message_search;
ALTER TABLE message_search_rebuilt RENAME TO message_search;

CREATE TRIGGER message_search_add AFTER INSERT ON messages WHEN NOT new.deleted BEGIN
  INSERT INTO message_search (content, sender, files, chat_id, seq)
    VALUES (replace(replace(new.content, char(2), ' '), char(3), ' '),
            (SELECT name FROM users WHERE id = new.sender_id), '', new.chat_id, new.seq);
  UPDATE messages SET search_id = last_insert_rowid()
    WHERE chat_id = new.chat_id AND seq = new.seq;
END;
CREATE TRIGGER message_search_edit AFTER UPDATE OF content ON messages
  WHEN NOT new.deleted AND new.search_id IS NOT NULL BEGIN
  UPDATE message_search SET content = replace(replace(new.content, char(2), ' '), char(3), ' ')
    WHERE rowid = new.search_id;
END;
CREATE TRIGGER message_search_remove AFTER UPDATE OF deleted ON messages
  WHEN new.deleted AND old.search_id IS NOT NULL BEGIN
  DELETE FROM message_search WHERE rowid = old.search_id;
  UPDATE messages SET search_id = NULL WHERE chat_id = new.chat_id AND seq = new.seq;
END;
CREATE TRIGGER message_search_rename AFTER UPDATE OF name ON users
  WHEN new.name IS NOT old.name BEGIN
  UPDATE message_search SET sender = new.name
    WHERE rowid IN (SELECT search_id FROM messages
                     WHERE sender_id = new.id AND NOT deleted AND search_id IS NOT NULL);
END;
CREATE TRIGGER message_search_files AFTER INSERT ON message_attachments BEGIN
  UPDATE message_search
     SET files = ltrim(files || ' ' || (SELECT name FROM attachments WHERE id = new.attachment_id))
   WHERE rowid = (SELECT search_id FROM messages WHERE id = new.message_id);
END;
)sql",
};

int user_version(Connection& connection) {
  auto stmt = connection.prepare("PRAGMA user_version");
  stmt.step();
  return static_cast<int>(stmt.int64(0));
}

}  // namespace

int schema_version() {
  return static_cast<int>(kMigrations.size());
}

void migrate(Connection& connection) {
  int version = user_version(connection);
  if (version > schema_version()) {
    throw SqliteError(SQLITE_ERROR,
                      fmt::format("database schema version {} is newer than this chatd ({})",
                                  version, schema_version()));
  }
  for (; version < schema_version(); ++version) {
    connection.exec("BEGIN IMMEDIATE");
    try {
      connection.exec(kMigrations[static_cast<std::size_t>(version)]);
      connection.exec(fmt::format("PRAGMA user_version = {}", version + 1).c_str());
      connection.exec("COMMIT");
    } catch (...) {
      connection.exec("ROLLBACK");
      throw;
    }
    spdlog::info("store: migrated to schema version {}", version + 1);
  }
}

}  // namespace chatd::store::sqlite
