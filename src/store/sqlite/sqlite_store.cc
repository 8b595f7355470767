#include "store/sqlite/sqlite_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <type_traits>

#include "store/sqlite/connection.h"
#include "store/sqlite/jobs.h"
#include "store/sqlite/queries.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/workers.h"
#include "util/clock.h"
#include "util/object_id.h"
#include "util/text.h"

namespace chatd::store::sqlite {

// ---- Rows (queries.h: shared with the other files of SqliteStore) ----------------------------

Message read_message(const Statement& s) {
  Message m;
  m.chat_id = s.text(0);
  m.seq = s.int64(1);
  m.id = s.text(2);
  m.sender_id = s.text(3);
  m.content = s.text(4);
  m.client_msg_id = s.optional_text(5);
  m.created_at = s.int64(6);
  m.deleted = s.int64(7) != 0;
  m.edited_at = s.optional_int64(8);
  m.rev = s.int64(9);
  if (auto quoted = s.optional_text(10)) m.reply_to = Quote{std::move(*quoted)};
  return m;
}

namespace {

// The ids as one JSON array, for `IN (SELECT value FROM json_each(?))`: a statement for any number.
std::string json_ids(const std::vector<std::string>& ids) {
  boost::json::array array;
  array.reserve(ids.size());
  for (const auto& id : ids) array.emplace_back(id);
  return boost::json::serialize(array);
}

// Fills in what each reply quotes (the message as it is now: edited, or a tombstone).
void read_quotes(Connection& c, std::vector<Message>& messages) {
  std::vector<std::string> ids;
  for (const auto& m : messages) {
    if (m.reply_to) ids.push_back(m.reply_to->id);
  }
  if (ids.empty()) return;
  auto s = c.prepare(
      "SELECT m.id, m.seq, m.sender_id, u.name, u.pic, substr(m.content, 1, 200), m.deleted "
      "FROM messages m JOIN users u ON u.id = m.sender_id "
      "WHERE m.id IN (SELECT value FROM json_each(?))");
  s.bind_all(json_ids(ids));
  std::map<std::string, Quote> quotes;
  while (s.step()) {
    quotes.emplace(s.text(0), Quote{s.text(0), s.int64(1), s.text(2), s.text(3), s.text(4),
                                    s.text(5), s.int64(6) != 0});
  }
  for (auto& m : messages) {
    if (!m.reply_to) continue;
    if (auto found = quotes.find(m.reply_to->id); found != quotes.end()) m.reply_to = found->second;
  }
}

// Fills in the reactions of the messages among `ids`: emojis in the order first used, users in
// the order they reacted.
void read_reactions(Connection& c, std::vector<Message>& messages,
                    const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  auto s = c.prepare(
      "SELECT message_id, emoji, user_id FROM message_reactions "
      "WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, rev");
  s.bind_all(json_ids(ids));
  std::map<std::string, std::vector<Reaction>> by_message;
  while (s.step()) {
    auto& reactions = by_message[s.text(0)];
    auto emoji = s.text(1);
    auto same = std::find_if(reactions.begin(), reactions.end(),
                             [&](const Reaction& r) { return r.emoji == emoji; });
    if (same == reactions.end()) same = reactions.insert(reactions.end(), Reaction{emoji, {}});
    same->user_ids.push_back(s.text(2));
  }
  for (auto& m : messages) {
    if (auto found = by_message.find(m.id); found != by_message.end()) {
      m.reactions = std::move(found->second);
    }
  }
}

// Fills in the attachments of the live messages, in the order they were sent.
void read_attachments(Connection& c, std::vector<Message>& messages) {
  std::vector<std::string> ids;
  for (const auto& m : messages) {
    if (!m.deleted) ids.push_back(m.id);
  }
  if (ids.empty()) return;
  auto s = c.prepare(
      "SELECT ma.message_id, a.id, a.uploader_id, a.name, a.size, a.mime, a.sha256, a.width, "
      "a.height, a.thumb_sha256, a.thumb_mime, a.thumb_width, a.thumb_height, a.created_at "
      "FROM message_attachments ma JOIN attachments a ON a.id = ma.attachment_id "
      "WHERE ma.message_id IN (SELECT value FROM json_each(?)) ORDER BY ma.message_id, "
      "ma.position");
  s.bind_all(json_ids(ids));
  std::map<std::string, std::vector<Attachment>> by_message;
  while (s.step()) by_message[s.text(0)].push_back(read_attachment(s, 1));
  for (auto& m : messages) {
    if (auto found = by_message.find(m.id); found != by_message.end()) {
      m.attachments = std::move(found->second);
    }
  }
}

}  // namespace

std::vector<Message> read_messages(Connection& c, Statement& s) {
  std::vector<Message> messages;
  std::vector<std::string> reacted;
  while (s.step()) {
    messages.push_back(read_message(s));
    if (s.int64(11) > 0) reacted.push_back(messages.back().id);
  }
  read_quotes(c, messages);
  read_reactions(c, messages, reacted);
  read_attachments(c, messages);
  return messages;
}

std::vector<std::string> first_texts(Statement& s) {
  std::vector<std::string> texts;
  while (s.step()) texts.push_back(s.text(0));
  return texts;
}

std::int64_t next_rev(Connection& c, std::string_view chat_id) {
  auto s = c.prepare("UPDATE chats SET last_rev = last_rev + 1 WHERE id = ? RETURNING last_rev");
  s.bind_all(chat_id);
  s.step();
  const auto rev = s.int64(0);
  s.run();  // finish the statement
  return rev;
}

std::optional<User> select_user(Connection& c, std::string_view id) {
  auto s = c.prepare(
      "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
      "erased_at IS NOT NULL FROM users WHERE id = ?");
  s.bind_all(id);
  if (!s.step()) return std::nullopt;
  return read_user(s);
}

// Erased users count as gone: nobody can start a chat with them or add them anywhere.
bool user_exists(Connection& c, std::string_view id) {
  auto s = c.prepare("SELECT 1 FROM users WHERE id = ? AND erased_at IS NULL");
  s.bind_all(id);
  return s.step();
}

std::optional<Message> select_message_by_seq(Connection& c, std::string_view chat_id,
                                             std::int64_t seq) {
  auto s = c.prepare(
      "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
      "edited_at, rev, reply_to, reactions FROM messages WHERE chat_id = ? AND seq = ?");
  s.bind_all(chat_id, seq);
  if (!s.step()) return std::nullopt;
  return read_message(s);
}

std::vector<Member> select_members(Connection& c, std::string_view chat_id) {
  auto s = c.prepare(
      "SELECT user_id, role, joined_at, delivered_seq, read_seq FROM chat_members "
      "WHERE chat_id = ? ORDER BY position");
  s.bind_all(chat_id);
  std::vector<Member> members;
  while (s.step()) {
    members.push_back(
        Member{s.text(0), static_cast<Role>(s.int64(1)), s.int64(2), s.int64(3), s.int64(4)});
  }
  return members;
}

std::vector<std::string> member_ids(Connection& c, std::string_view chat_id) {
  auto s = c.prepare("SELECT user_id FROM chat_members WHERE chat_id = ? ORDER BY position");
  s.bind_all(chat_id);
  std::vector<std::string> ids;
  while (s.step()) ids.push_back(s.text(0));
  return ids;
}

std::optional<Chat> select_chat(Connection& c, std::string_view chat_id) {
  auto s = c.prepare(
      "SELECT id, name, is_group, last_seq, created_at, updated_at, retention_days, last_rev "
      "FROM chats WHERE id = ?");
  s.bind_all(chat_id);
  if (!s.step()) return std::nullopt;
  Chat chat;
  chat.id = s.text(0);
  chat.name = s.text(1);
  chat.is_group = s.int64(2) != 0;
  chat.last_seq = s.int64(3);
  chat.created_at = s.int64(4);
  chat.updated_at = s.int64(5);
  if (auto days = s.optional_int64(6)) chat.retention_days = static_cast<int>(*days);
  chat.last_rev = s.int64(7);
  chat.members = select_members(c, chat.id);
  if (chat.last_seq > 0) chat.latest_message = select_message_by_seq(c, chat.id, chat.last_seq);
  return chat;
}

Result<Chat> load_chat(Connection& c, std::string_view chat_id) {
  auto chat = select_chat(c, chat_id);
  if (!chat) return make_error(Errc::not_found, "Chat not found");
  return std::move(*chat);
}

const Member* find_member(const Chat& chat, std::string_view user_id) {
  for (const auto& m : chat.members) {
    if (m.user_id == user_id) return &m;
  }
  return nullptr;
}

// The group as this write leaves it, reported to the change feed.
Result<Chat> group_changed(Connection& c, std::string_view chat_id, std::vector<Change>& changes,
                           std::vector<std::string> removed_user_ids) {
  auto chat = load_chat(c, chat_id);
  if (chat) changes.emplace_back(GroupChanged{*chat, std::move(removed_user_ids)});
  return chat;
}

// Marks a chat as changed: it moves to the top of its members' chat lists.
void touch_chat(Connection& c, std::string_view chat_id, std::int64_t activity, std::int64_t now) {
  auto s = c.prepare("UPDATE chats SET activity = ?, updated_at = ? WHERE id = ?");
  s.bind_all(activity, now, chat_id).run();
}

// Leaves a group, passing the admin role on when no admin is left.
Result<Chat> leave_group(Connection& c, std::string_view chat_id, std::string_view user_id,
                         std::int64_t activity, std::vector<Change>& changes) {
  auto del = c.prepare("DELETE FROM chat_members WHERE chat_id = ? AND user_id = ?");
  del.bind_all(chat_id, user_id).run();
  // Promote the longest-standing member when no owner or admin is left.
  auto promote = c.prepare(
      "UPDATE chat_members SET role = 1 WHERE chat_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
      "chat_members WHERE chat_id = ?1 AND role IN (0, 1)) AND user_id = (SELECT user_id FROM "
      "chat_members WHERE chat_id = ?1 ORDER BY position LIMIT 1)");
  promote.bind_all(chat_id).run();
  touch_chat(c, chat_id, activity, clock::now_ms());
  return group_changed(c, chat_id, changes, {std::string(user_id)});
}

namespace {

void insert_member(Connection& c, std::string_view chat_id, std::string_view user_id, Role role,
                   std::int64_t now, std::int64_t start_seq) {
  auto s = c.prepare(
      "INSERT INTO chat_members (chat_id, user_id, role, position, joined_at, delivered_seq, "
      "read_seq) VALUES (?1, ?2, ?3, (SELECT coalesce(max(position), 0) + 1 FROM chat_members "
      "WHERE chat_id = ?1), ?4, ?5, ?5)");
  s.bind_all(chat_id, user_id, static_cast<int>(role), now, start_seq).run();
}

std::string insert_chat(Connection& c, std::string_view name, bool is_group,
                        const std::optional<std::string>& direct_key, std::int64_t activity,
                        std::int64_t now) {
  std::string id = new_object_id();
  auto s = c.prepare(
      "INSERT INTO chats (id, name, is_group, direct_key, activity, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  s.bind_all(id, name, is_group ? 1 : 0, direct_key, activity, now, now).run();
  return id;
}

std::int64_t max_activity(Connection& c) {
  auto s = c.prepare("SELECT coalesce(max(activity), 0) FROM chats");
  s.step();
  return s.int64(0);
}

void apply_synchronous(Connection& c, Synchronous mode) {
  c.exec(mode == Synchronous::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
}

}  // namespace

// ---- Set-up ------------------------------------------------------------------------------------

namespace {

// SQLite's default automatic checkpoint size (pages of WAL), now reached off the writer's thread.
constexpr int kCheckpointPages = 1000;

std::unique_ptr<Connection> open_writer(const SqliteOptions& options, std::int64_t& activity) {
  if (options.path.empty() || options.path == ":memory:") {
    throw SqliteError(SQLITE_MISUSE, "sqlite: the store needs a database file");
  }
  auto connection = std::make_unique<Connection>(options.path, /*read_only=*/false);
  connection->exec("PRAGMA journal_mode = WAL");
  apply_synchronous(*connection, options.synchronous);
  migrate(*connection);
  activity = max_activity(*connection);
  return connection;
}

}  // namespace

SqliteStore::SqliteStore(const SqliteOptions& options) {
  std::int64_t activity = 0;
  auto writer_connection = open_writer(options, activity);
  activity_.store(activity);
  auto checkpoint_connection = std::make_unique<Connection>(options.path, /*read_only=*/false);
  apply_synchronous(*checkpoint_connection, options.synchronous);
  checkpointer_ =
      std::make_unique<Checkpointer>(std::move(checkpoint_connection), kCheckpointPages);
  checkpointer_->watch(*writer_connection);
  writer_ = std::make_unique<Writer>(std::move(writer_connection), options.max_batch);
  readers_ =
      std::make_unique<ReaderPool>(options.path, std::max<std::size_t>(1, options.reader_threads));
}

void SqliteStore::set_change_listener(ChangeListener* listener) {
  writer_->set_change_listener(listener);
}

// An embedded file is there while the process is: a read proves the reader threads still answer.
asio::awaitable<Status> SqliteStore::check_ready() {
  auto answered = co_await read<bool>([](Connection& c) -> Result<bool> {
    auto s = c.prepare("SELECT 1");
    return s.step();
  });
  if (!answered) co_return answered.error();
  co_return Status{};
}

SqliteStore::~SqliteStore() {
  readers_.reset();
  writer_.reset();  // drains and commits queued writes
  checkpointer_.reset();
}

// ---- Users -------------------------------------------------------------------------------------

asio::awaitable<Result<User>> SqliteStore::create_user(NewUser user) {
  return write<User>([user = std::move(user)](Connection& c) -> Result<User> {
    const std::string email_key = text::ascii_lower(user.email);
    auto taken = c.prepare("SELECT 1 FROM users WHERE email_key = ?");
    taken.bind_all(email_key);
    if (taken.step()) return make_error(Errc::conflict, "User already exists");
    const auto now = clock::now_ms();
    User created{new_object_id(), user.name, user.email, user.pic, false, now, now};
    auto s = c.prepare(
        "INSERT INTO users (id, name, email, email_key, pic, password_hash, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    s.bind_all(created.id, created.name, created.email, email_key, created.pic, user.password_hash,
               now, now)
        .run();
    return created;
  });
}

asio::awaitable<Result<User>> SqliteStore::find_user(std::string id) {
  return read<User>([id = std::move(id)](Connection& c) -> Result<User> {
    auto user = select_user(c, id);
    if (!user) return make_error(Errc::not_found, "User not found");
    return std::move(*user);
  });
}

asio::awaitable<Result<UserCredentials>> SqliteStore::find_credentials(std::string email) {
  return read<UserCredentials>(
      [email = std::move(email)](Connection& c) -> Result<UserCredentials> {
        auto s = c.prepare(
            "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
            "erased_at IS NOT NULL, password_hash, "
            "EXISTS (SELECT 1 FROM two_factor WHERE user_id = users.id AND enabled) FROM users "
            "WHERE email_key = ?");
        s.bind_all(text::ascii_lower(email));
        if (!s.step()) return make_error(Errc::not_found, "User not found");
        return UserCredentials{read_user(s), s.text(kUserColumnCount),
                               s.int64(kUserColumnCount + 1) != 0};
      });
}

asio::awaitable<Result<std::vector<User>>> SqliteStore::find_users(std::vector<std::string> ids) {
  return read<std::vector<User>>(
      [ids = std::move(ids)](Connection& c) -> Result<std::vector<User>> {
        // One statement for all of them: a chat view asks for every member at once, and a
        // statement per user (each with its own step and reset) cost more than the history page
        // it was for.
        boost::json::array wanted;
        wanted.reserve(ids.size());
        for (const auto& id : ids) wanted.emplace_back(id);
        auto s = c.prepare(
            "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
            "erased_at IS NOT NULL FROM users "
            "WHERE id IN (SELECT value FROM json_each(?))");
        s.bind_all(boost::json::serialize(wanted));
        std::vector<User> users;
        users.reserve(ids.size());
        while (s.step()) users.push_back(read_user(s));
        return users;
      });
}

asio::awaitable<Result<std::vector<User>>> SqliteStore::search_users(UserSearch search) {
  return read<std::vector<User>>(
      [search = std::move(search)](Connection& c) -> Result<std::vector<User>> {
        // instr() rather than LIKE: the query is matched literally, '%' and '_' included.
        auto s = c.prepare(
            "SELECT id, name, email, pic, is_admin, created_at, updated_at, disabled, "
            "erased_at IS NOT NULL FROM users "
            "WHERE id <> ?1 AND erased_at IS NULL AND (?2 = '' OR instr(lower(name), ?2) > 0 OR "
            "instr(email_key, ?2) > 0) ORDER BY name COLLATE NOCASE, id LIMIT ?3 OFFSET ?4");
        s.bind_all(search.exclude_id, text::ascii_lower(search.query), search.limit, search.offset);
        std::vector<User> users;
        while (s.step()) users.push_back(read_user(s));
        return users;
      });
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::find_contacts(std::string user_id) {
  return read<std::vector<std::string>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<std::string>> {
        auto s = c.prepare(
            "SELECT DISTINCT other.user_id FROM chat_members mine JOIN chat_members other "
            "ON other.chat_id = mine.chat_id WHERE mine.user_id = ?1 AND other.user_id <> ?1");
        s.bind_all(user);
        std::vector<std::string> ids;
        while (s.step()) ids.push_back(s.text(0));
        return ids;
      });
}

asio::awaitable<Status> SqliteStore::record_last_seen(std::string user_id, std::int64_t at) {
  return write<void>([user = std::move(user_id), at](Connection& c) -> Status {
    // An erased user keeps no trace, a last-seen time included.
    auto s = c.prepare(
        "UPDATE users SET last_seen = CASE WHEN erased_at IS NULL THEN ?1 END WHERE id = ?2");
    s.bind_all(at, user).run();
    if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "User not found");
    return {};
  });
}

asio::awaitable<Result<std::vector<LastSeen>>> SqliteStore::find_last_seen(
    std::vector<std::string> ids) {
  return read<std::vector<LastSeen>>(
      [ids = std::move(ids)](Connection& c) -> Result<std::vector<LastSeen>> {
        std::vector<LastSeen> seen;
        for (const auto& id : std::set<std::string>(ids.begin(), ids.end())) {
          auto s = c.prepare("SELECT last_seen FROM users WHERE id = ?");
          s.bind_all(id);
          if (s.step()) seen.push_back(LastSeen{id, s.optional_int64(0)});
        }
        return seen;
      });
}

// ---- Chats -------------------------------------------------------------------------------------

asio::awaitable<Result<Chat>> SqliteStore::find_or_create_direct_chat(std::string user_a,
                                                                      std::string user_b) {
  return write<Chat>(
      [this, a = std::move(user_a), b = std::move(user_b)](Connection& c) -> Result<Chat> {
        if (!user_exists(c, a) || !user_exists(c, b))
          return make_error(Errc::not_found, "User not found");
        const std::string key = a < b ? a + ":" + b : b + ":" + a;
        auto existing = c.prepare("SELECT id FROM chats WHERE direct_key = ?");
        existing.bind_all(key);
        if (existing.step()) return load_chat(c, existing.text(0));
        const auto now = clock::now_ms();
        const auto id = insert_chat(c, "sender", false, key, ++activity_, now);
        insert_member(c, id, a, Role::member, now, 0);
        insert_member(c, id, b, Role::member, now, 0);
        return load_chat(c, id);
      });
}

asio::awaitable<Result<Chat>> SqliteStore::create_group(std::string name, std::string creator_id,
                                                        std::vector<std::string> members) {
  return write<Chat>(
      [this, name = std::move(name), creator = std::move(creator_id), members = std::move(members)](
          Connection& c, std::vector<Change>& changes) -> Result<Chat> {
        if (!user_exists(c, creator)) return make_error(Errc::not_found, "User not found");
        for (const auto& m : members) {
          if (!user_exists(c, m)) return make_error(Errc::not_found, "User not found");
        }
        const auto now = clock::now_ms();
        const auto id = insert_chat(c, name, true, std::nullopt, ++activity_, now);
        insert_member(c, id, creator, Role::owner, now, 0);
        std::set<std::string> seen{creator};
        for (const auto& m : members) {
          if (seen.insert(m).second) insert_member(c, id, m, Role::member, now, 0);
        }
        return group_changed(c, id, changes);
      });
}

asio::awaitable<Result<Chat>> SqliteStore::find_chat(std::string chat_id) {
  return read<Chat>([id = std::move(chat_id)](Connection& c) { return load_chat(c, id); });
}

asio::awaitable<Result<std::vector<Chat>>> SqliteStore::list_chats(std::string user_id) {
  return read<std::vector<Chat>>(
      [user = std::move(user_id)](Connection& c) -> Result<std::vector<Chat>> {
        auto s = c.prepare(
            "SELECT c.id FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = ? "
            "ORDER BY c.activity DESC");
        s.bind_all(user);
        std::vector<std::string> ids;
        while (s.step()) ids.push_back(s.text(0));
        std::vector<Chat> chats;
        chats.reserve(ids.size());
        for (const auto& id : ids) {
          if (auto chat = select_chat(c, id)) chats.push_back(std::move(*chat));
        }
        return chats;
      });
}

asio::awaitable<Result<Chat>> SqliteStore::rename_chat(std::string chat_id, std::string name) {
  return write<Chat>([this, id = std::move(chat_id), name = std::move(name)](
                         Connection& c, std::vector<Change>& changes) -> Result<Chat> {
    auto s = c.prepare("UPDATE chats SET name = ?, activity = ?, updated_at = ? WHERE id = ?");
    s.bind_all(name, ++activity_, clock::now_ms(), id).run();
    if (sqlite3_changes(c.handle()) == 0) return make_error(Errc::not_found, "Chat not found");
    return group_changed(c, id, changes);
  });
}

asio::awaitable<Result<Chat>> SqliteStore::add_member(std::string chat_id, std::string user_id,
                                                      int max_members) {
  return write<Chat>([this, id = std::move(chat_id), user = std::move(user_id), max_members](
                         Connection& c, std::vector<Change>& changes) -> Result<Chat> {
    auto chat = load_chat(c, id);
    if (!chat) return chat;
    if (find_member(*chat, user)) return chat;
    if (!user_exists(c, user)) return make_error(Errc::not_found, "User not found");
    if (static_cast<int>(chat->members.size()) >= max_members) {
      return make_error(Errc::invalid_input,
                        "A group can have at most " + std::to_string(max_members) + " members");
    }
    const auto now = clock::now_ms();
    insert_member(c, id, user, Role::member, now, chat->last_seq);
    touch_chat(c, id, ++activity_, now);
    return group_changed(c, id, changes);
  });
}

asio::awaitable<Result<Chat>> SqliteStore::remove_member(std::string chat_id, std::string user_id) {
  return write<Chat>([this, id = std::move(chat_id), user = std::move(user_id)](
                         Connection& c, std::vector<Change>& changes) -> Result<Chat> {
    auto chat = load_chat(c, id);
    if (!chat) return chat;
    if (!find_member(*chat, user)) {
      if (!user_exists(c, user)) return make_error(Errc::not_found, "User not found");
      return chat;
    }
    return leave_group(c, id, user, ++activity_, changes);
  });
}

asio::awaitable<Result<Chat>> SqliteStore::set_role(std::string chat_id, std::string user_id,
                                                    Role role) {
  return write<Chat>([this, id = std::move(chat_id), user = std::move(user_id), role](
                         Connection& c, std::vector<Change>& changes) -> Result<Chat> {
    auto chat = load_chat(c, id);
    if (!chat) return chat;
    const Member* member = find_member(*chat, user);
    if (!member) return make_error(Errc::not_member, "User is not a member of this chat");
    if (member->role == role) return chat;
    const auto admins = std::count_if(chat->members.begin(), chat->members.end(),
                                      [](const Member& m) { return is_admin_role(m.role); });
    if (is_admin_role(member->role) && !is_admin_role(role) && admins == 1) {
      return make_error(Errc::conflict, "A group needs at least one admin");
    }
    auto s = c.prepare("UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ?");
    s.bind_all(static_cast<int>(role), id, user).run();
    touch_chat(c, id, ++activity_, clock::now_ms());
    return group_changed(c, id, changes);
  });
}

// ---- Messages ----------------------------------------------------------------------------------

namespace {

// The message with its quote and reactions; none when it is not in the chat.
std::optional<Message> message_in_chat(Connection& c, std::string_view chat_id,
                                       std::string_view message_id) {
  auto s = c.prepare(
      "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
      "edited_at, rev, reply_to, reactions FROM messages WHERE id = ? AND chat_id = ?");
  s.bind_all(message_id, chat_id);
  auto found = read_messages(c, s);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

Error chat_or_message_not_found(Connection& c, std::string_view chat_id) {
  auto s = c.prepare("SELECT 1 FROM chats WHERE id = ?");
  s.bind_all(chat_id);
  if (!s.step()) return make_error(Errc::not_found, "Chat not found");
  return make_error(Errc::not_found, "Message not found");
}

std::optional<Role> member_role(Connection& c, std::string_view chat_id, std::string_view user_id) {
  auto s = c.prepare("SELECT role FROM chat_members WHERE chat_id = ? AND user_id = ?");
  s.bind_all(chat_id, user_id);
  if (!s.step()) return std::nullopt;
  return static_cast<Role>(s.int64(0));
}

bool is_group(Connection& c, std::string_view chat_id) {
  auto s = c.prepare("SELECT is_group FROM chats WHERE id = ?");
  s.bind_all(chat_id);
  return s.step() && s.int64(0) != 0;
}

// Whether the change's right holds for this user (a member with `role`) on this message.
bool has_right(Connection& c, const MessageChange& change, const Message& message, Role role) {
  switch (change.right) {
    case ChangeRight::member:
      return true;
    case ChangeRight::sender:
      return message.sender_id == change.user_id;
    case ChangeRight::sender_or_group_admin:
      return message.sender_id == change.user_id ||
             (is_admin_role(role) && is_group(c, change.chat_id));
  }
  return false;
}

// Each kind of change, on a message that the right check passed; false: nothing to change.
Result<bool> apply_edit(Connection& c, const MessageChange& change, const Message& message) {
  if (message.deleted) return make_error(Errc::conflict, "The message was deleted");
  if (message.content == change.content) return false;
  const auto rev = next_rev(c, change.chat_id);
  auto s = c.prepare("UPDATE messages SET content = ?, edited_at = ?, rev = ? WHERE id = ?");
  s.bind_all(change.content, clock::now_ms(), rev, message.id).run();
  return true;
}

Result<bool> apply_remove(Connection& c, const MessageChange& change, const Message& message) {
  if (message.deleted) return false;
  const auto rev = next_rev(c, change.chat_id);
  auto s = c.prepare(
      "UPDATE messages SET content = '', deleted = 1, edited_at = NULL, reply_to = NULL, "
      "reactions = 0, rev = ? WHERE id = ?");
  s.bind_all(rev, message.id).run();
  auto reactions = c.prepare("DELETE FROM message_reactions WHERE message_id = ?");
  reactions.bind_all(message.id).run();
  return true;
}

Result<bool> apply_react(Connection& c, const MessageChange& change, const Message& message) {
  if (message.deleted) return make_error(Errc::conflict, "The message was deleted");
  const auto same = std::find_if(message.reactions.begin(), message.reactions.end(),
                                 [&](const Reaction& r) { return r.emoji == change.emoji; });
  if (same != message.reactions.end()) {
    const auto& users = same->user_ids;
    if (std::find(users.begin(), users.end(), change.user_id) != users.end()) return false;
  } else if (static_cast<int>(message.reactions.size()) >= change.max_emojis) {
    return make_error(Errc::invalid_input, "A message can carry at most " +
                                               std::to_string(change.max_emojis) +
                                               " different reactions");
  }
  const auto rev = next_rev(c, change.chat_id);
  auto insert = c.prepare(
      "INSERT INTO message_reactions (message_id, emoji, user_id, rev) VALUES (?, ?, ?, ?)");
  insert.bind_all(message.id, change.emoji, change.user_id, rev).run();
  auto count = c.prepare("UPDATE messages SET reactions = reactions + 1, rev = ? WHERE id = ?");
  count.bind_all(rev, message.id).run();
  return true;
}

Result<bool> apply_unreact(Connection& c, const MessageChange& change, const Message& message) {
  auto remove =
      c.prepare("DELETE FROM message_reactions WHERE message_id = ? AND emoji = ? AND user_id = ?");
  remove.bind_all(message.id, change.emoji, change.user_id).run();
  if (sqlite3_changes(c.handle()) == 0) return false;
  const auto rev = next_rev(c, change.chat_id);
  auto count = c.prepare("UPDATE messages SET reactions = reactions - 1, rev = ? WHERE id = ?");
  count.bind_all(rev, message.id).run();
  return true;
}

Result<bool> apply_change(Connection& c, const MessageChange& change, const Message& message) {
  switch (change.kind) {
    case MessageChangeKind::edit:
      return apply_edit(c, change, message);
    case MessageChangeKind::remove:
      return apply_remove(c, change, message);
    case MessageChangeKind::react:
      return apply_react(c, change, message);
    case MessageChangeKind::unreact:
      return apply_unreact(c, change, message);
  }
  return false;
}

}  // namespace

asio::awaitable<Result<AppendedMessage>> SqliteStore::append_message(NewMessage message) {
  return write<AppendedMessage>([this, m = std::move(message)](
                                    Connection& c,
                                    std::vector<Change>& changes) -> Result<AppendedMessage> {
    if (m.client_msg_id) {
      auto s = c.prepare(
          "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
          "edited_at, rev, reply_to, reactions FROM messages "
          "WHERE sender_id = ? AND client_msg_id = ?");
      s.bind_all(m.sender_id, *m.client_msg_id);
      auto found = read_messages(c, s);
      if (!found.empty()) {
        if (found.front().chat_id != m.chat_id) {
          return make_error(Errc::conflict, "clientMsgId was already used in another chat");
        }
        return AppendedMessage{std::move(found.front()), false};
      }
    }
    auto members = member_ids(c, m.chat_id);
    if (std::find(members.begin(), members.end(), m.sender_id) == members.end()) {
      auto chat = c.prepare("SELECT 1 FROM chats WHERE id = ?");
      chat.bind_all(m.chat_id);
      if (!chat.step()) return make_error(Errc::not_found, "Chat not found");
      return make_error(Errc::not_member, "You are not a member of this chat");
    }
    if (m.reply_to && !message_in_chat(c, m.chat_id, *m.reply_to)) {
      return make_error(Errc::invalid_input, "replyTo must be a message of this chat");
    }
    const auto now = clock::now_ms();
    auto bump = c.prepare(
        "UPDATE chats SET last_seq = last_seq + 1, activity = ?, updated_at = ? WHERE id = ? "
        "RETURNING last_seq");
    bump.bind_all(++activity_, now, m.chat_id);
    bump.step();
    const auto seq = bump.int64(0);
    bump.run();  // finish the statement before the next one
    auto insert = c.prepare(
        "INSERT INTO messages (chat_id, seq, id, sender_id, content, client_msg_id, created_at, "
        "reply_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    const auto id = new_object_id();
    insert.bind_all(m.chat_id, seq, id, m.sender_id, m.content, m.client_msg_id, now, m.reply_to)
        .run();
    if (auto attached = attach_to_message(c, m, id); !attached) {
      return std::move(attached).take_error();
    }
    // The sender has seen what they wrote.
    auto cursors = c.prepare(
        "UPDATE chat_members SET delivered_seq = ?1, read_seq = ?1 WHERE chat_id = ?2 AND "
        "user_id = ?3");
    cursors.bind_all(seq, m.chat_id, m.sender_id).run();
    auto sender = select_user(c, m.sender_id);
    if (!sender) return make_error(Errc::not_found, "User not found");
    auto stored = message_in_chat(c, m.chat_id, id);
    changes.emplace_back(
        MessageAppended{*stored, std::move(*sender), std::move(members), m.origin});
    return AppendedMessage{std::move(*stored), true};
  });
}

asio::awaitable<Result<std::vector<Message>>> SqliteStore::list_messages(HistoryQuery query) {
  return read<std::vector<Message>>(
      [q = std::move(query)](Connection& c) -> Result<std::vector<Message>> {
        if (q.after) {
          auto s = c.prepare(
              "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
              "edited_at, rev, reply_to, reactions FROM messages "
              "WHERE chat_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?");
          s.bind_all(q.chat_id, *q.after, q.limit);
          return read_messages(c, s);
        }
        auto s = c.prepare(
            "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
            "edited_at, rev, reply_to, reactions FROM messages "
            "WHERE chat_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?");
        s.bind_all(q.chat_id, q.before.value_or(INT64_MAX), q.limit);
        auto page = read_messages(c, s);
        std::reverse(page.begin(), page.end());
        return page;
      });
}

asio::awaitable<Result<Message>> SqliteStore::find_message(std::string chat_id,
                                                           std::string message_id) {
  return read<Message>(
      [chat = std::move(chat_id), id = std::move(message_id)](Connection& c) -> Result<Message> {
        auto found = message_in_chat(c, chat, id);
        if (!found) return make_error(Errc::not_found, "Message not found");
        return std::move(*found);
      });
}

asio::awaitable<Result<std::string>> SqliteStore::locate_message(std::string message_id) {
  return read<std::string>([id = std::move(message_id)](Connection& c) -> Result<std::string> {
    auto s = c.prepare("SELECT chat_id FROM messages WHERE id = ?");
    s.bind_all(id);
    if (!s.step()) return make_error(Errc::not_found, "Message not found");
    return s.text(0);
  });
}

namespace {

// The hit's content around its matches, marked (store/search_text.h); the row is looked up by id
// within the match, which FTS5 answers from the query's doclists.
std::string search_snippet(Connection& c, const std::string& match, std::int64_t search_id) {
  auto s = c.prepare(
      "SELECT snippet(message_search, 0, char(2), char(3), '…', 24) FROM message_search "
      "WHERE message_search MATCH ? AND rowid = ?");
  s.bind_all(match, search_id);
  return s.step() ? s.text(0) : std::string();
}

}  // namespace

asio::awaitable<Result<std::vector<SearchHit>>> SqliteStore::search_messages(MessageSearch search) {
  return read<std::vector<SearchHit>>(
      [q = std::move(search)](Connection& c) -> Result<std::vector<SearchHit>> {
        const auto match = to_fts5_match(q.query);
        // No cursor: before every score (bm25 scores are finite).
        const auto after = q.after.value_or(
            SearchCursor{-std::numeric_limits<double>::infinity(), INT64_MAX, {}, INT64_MAX});
        // The newest kSearchCandidates matches in the caller's chats (FTS5 yields rows in rowid
        // order, and rowids grow with each message indexed) are scored first (bm25 may only run
        // next to the MATCH), then ordered and cut after the cursor.
        auto s = c.prepare(
            "WITH hits AS MATERIALIZED (SELECT s.rowid AS search_id, s.chat_id AS chat_id, "
            "s.seq AS seq, bm25(message_search) AS score FROM message_search s "
            "JOIN chat_members cm ON cm.chat_id = s.chat_id AND cm.user_id = ?1 "
            "WHERE message_search MATCH ?2 AND (?3 IS NULL OR s.chat_id = ?3) "
            "ORDER BY s.rowid DESC LIMIT ?9) "
            "SELECT h.search_id, h.chat_id, h.seq, h.score, m.created_at, c.name FROM hits h "
            "JOIN messages m ON m.chat_id = h.chat_id AND m.seq = h.seq "
            "JOIN chats c ON c.id = h.chat_id "
            "WHERE h.score > ?4 OR (h.score = ?4 AND (m.created_at < ?5 OR (m.created_at = ?5 AND "
            "(h.chat_id > ?6 OR (h.chat_id = ?6 AND h.seq < ?7))))) "
            "ORDER BY h.score, m.created_at DESC, h.chat_id, h.seq DESC LIMIT ?8");
        s.bind_all(q.user_id, match, q.chat_id, after.score, after.created_at, after.chat_id,
                   after.seq, q.limit, kSearchCandidates);
        struct Found {
          std::int64_t search_id;
          SearchCursor cursor;
          std::string chat_name;
        };
        std::vector<Found> found;
        while (s.step()) {
          found.push_back(Found{
              s.int64(0), SearchCursor{s.real(3), s.int64(4), s.text(1), s.int64(2)}, s.text(5)});
        }
        s.reset();
        std::vector<SearchHit> hits;
        hits.reserve(found.size());
        for (auto& f : found) {
          auto row = c.prepare(
              "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
              "edited_at, rev, reply_to, reactions FROM messages WHERE chat_id = ? AND seq = ?");
          row.bind_all(f.cursor.chat_id, f.cursor.seq);
          auto messages = read_messages(c, row);
          if (messages.empty())
            continue;  // not in this snapshot (cannot happen in one transaction)
          hits.push_back(SearchHit{std::move(messages.front()), std::move(f.chat_name),
                                   search_snippet(c, match, f.search_id), std::move(f.cursor)});
        }
        return hits;
      });
}

asio::awaitable<Result<ChangedMessage>> SqliteStore::change_message(MessageChange change) {
  return write<ChangedMessage>([change = std::move(change)](
                                   Connection& c,
                                   std::vector<Change>& changes) -> Result<ChangedMessage> {
    auto message = message_in_chat(c, change.chat_id, change.message_id);
    if (!message) return chat_or_message_not_found(c, change.chat_id);
    auto role = member_role(c, change.chat_id, change.user_id);
    if (!role) return make_error(Errc::not_member, "You are not a member of this chat");
    if (!has_right(c, change, *message, *role)) {
      return make_error(Errc::forbidden, change.right == ChangeRight::sender
                                             ? "Only the sender can edit this message"
                                             : "Only the sender or a group admin can delete "
                                               "this message");
    }
    auto changed = apply_change(c, change, *message);
    if (!changed) return changed.error();
    if (!*changed) return ChangedMessage{std::move(*message), false};
    auto after = message_in_chat(c, change.chat_id, change.message_id);
    auto sender = select_user(c, after->sender_id);
    if (!sender) return make_error(Errc::not_found, "User not found");
    changes.emplace_back(MessageChanged{*after, std::move(*sender), member_ids(c, change.chat_id),
                                        change.kind, change.user_id, change.emoji});
    return ChangedMessage{std::move(*after), true};
  });
}

asio::awaitable<Result<SyncPage>> SqliteStore::sync_chat(SyncQuery query) {
  return read<SyncPage>([q = std::move(query)](Connection& c) -> Result<SyncPage> {
    auto chat = c.prepare("SELECT last_seq, last_rev FROM chats WHERE id = ?");
    chat.bind_all(q.chat_id);
    if (!chat.step()) return make_error(Errc::not_found, "Chat not found");
    SyncPage page{{}, {}, chat.int64(0), chat.int64(1), true};
    if (q.after_rev && *q.after_rev < page.last_rev) {
      auto s = c.prepare(
          "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
          "edited_at, rev, reply_to, reactions FROM messages "
          "WHERE chat_id = ? AND rev > ? AND seq <= ? ORDER BY rev LIMIT ?");
      s.bind_all(q.chat_id, *q.after_rev, q.after_seq, q.limit + 1);
      page.changes = read_messages(c, s);
      if (static_cast<int>(page.changes.size()) > q.limit) {
        page.changes.resize(static_cast<std::size_t>(q.limit));
        page.changes_complete = false;
        return page;
      }
    }
    const int room = q.limit - static_cast<int>(page.changes.size());
    if (room > 0 && q.after_seq < page.last_seq) {
      auto s = c.prepare(
          "SELECT chat_id, seq, id, sender_id, content, client_msg_id, created_at, deleted, "
          "edited_at, rev, reply_to, reactions FROM messages "
          "WHERE chat_id = ? AND seq > ? ORDER BY seq LIMIT ?");
      s.bind_all(q.chat_id, q.after_seq, room);
      page.messages = read_messages(c, s);
    }
    return page;
  });
}

asio::awaitable<Result<CursorUpdate>> SqliteStore::advance_cursors(std::string chat_id,
                                                                   std::string user_id,
                                                                   std::int64_t delivered_seq,
                                                                   std::int64_t read_seq) {
  return write<CursorUpdate>([chat_id = std::move(chat_id), user_id = std::move(user_id),
                              delivered_seq,
                              read_seq](Connection& c,
                                        std::vector<Change>& changes) -> Result<CursorUpdate> {
    auto last = c.prepare("SELECT last_seq FROM chats WHERE id = ?");
    last.bind_all(chat_id);
    if (!last.step()) return make_error(Errc::not_found, "Chat not found");
    const auto last_seq = last.int64(0);
    auto s = c.prepare(
        "SELECT role, joined_at, delivered_seq, read_seq FROM chat_members "
        "WHERE chat_id = ? AND user_id = ?");
    s.bind_all(chat_id, user_id);
    if (!s.step()) return make_error(Errc::not_member, "You are not a member of this chat");
    const Member stored{user_id, static_cast<Role>(s.int64(0)), s.int64(1), s.int64(2), s.int64(3)};
    CursorUpdate update{stored, false};
    auto& m = update.member;
    m.read_seq = std::max(m.read_seq, std::min(read_seq, last_seq));
    m.delivered_seq = std::max({m.delivered_seq, std::min(delivered_seq, last_seq), m.read_seq});
    update.changed = m.read_seq != stored.read_seq || m.delivered_seq != stored.delivered_seq;
    if (update.changed) {
      auto u = c.prepare(
          "UPDATE chat_members SET delivered_seq = ?, read_seq = ? WHERE chat_id = ? AND "
          "user_id = ?");
      u.bind_all(m.delivered_seq, m.read_seq, chat_id, user_id).run();
      changes.emplace_back(CursorsAdvanced{chat_id, m, member_ids(c, chat_id)});
    }
    return update;
  });
}

}  // namespace chatd::store::sqlite
