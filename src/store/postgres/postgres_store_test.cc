#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "store/postgres/connection.h"
#include "store/postgres/schema.h"
#include "store/store_conformance.h"
#include "util/clock.h"
#include "util/object_id.h"
#include "util/run_blocking.h"

namespace chatd::store::postgres {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr const char* kNoServer =
    "CHATD_TEST_DATABASE_URL is not set. These tests need a PostgreSQL server on which they may "
    "create databases: start a throwaway one with\n"
    "  export CHATD_TEST_DATABASE_URL=$(scripts/pg.sh start /tmp/chatd-pg)\n"
    "(and `scripts/pg.sh stop /tmp/chatd-pg` afterwards), or run `make test-unit`, which does.";

std::string server_url() {
  const char* url = std::getenv("CHATD_TEST_DATABASE_URL");
  return url ? url : "";
}

// Without a server every test fails with one clear message, instead of being skipped silently.
class RequireServer : public ::testing::Environment {
 public:
  void SetUp() override {
    if (server_url().empty()) FAIL() << kNoServer;
  }
};
[[maybe_unused]] auto* const kRequireServer =
    ::testing::AddGlobalTestEnvironment(new RequireServer);

// `url` with another database and host/port: a libpq connection string.
std::string connection_string(const std::string& url, const std::string& dbname,
                              const std::optional<tcp::endpoint>& via = std::nullopt) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {
    std::string message = error ? error : "?";
    PQfreemem(error);
    throw std::invalid_argument("CHATD_TEST_DATABASE_URL: " + message);
  }
  std::map<std::string, std::string> settings;
  for (auto* option = options; option->keyword; ++option) {
    if (option->val) settings[option->keyword] = option->val;
  }
  PQconninfoFree(options);
  settings["dbname"] = dbname;
  if (via) {
    settings.erase("hostaddr");
    settings["host"] = via->address().to_string();
    settings["port"] = std::to_string(via->port());
  }
  std::string conninfo;
  for (const auto& [key, value] : settings) {
    conninfo += key + "='";
    for (const char c : value) {
      if (c == '\'' || c == '\\') conninfo += '\\';
      conninfo += c;
    }
    conninfo += "' ";
  }
  return conninfo;
}

// A database of its own on the test server, dropped with the object.
class TestDatabase {
 public:
  TestDatabase() : name_("chatd_test_" + new_object_id()) {
    admin().exec("CREATE DATABASE " + name_);
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  ~TestDatabase() {
    try {
      admin().exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const PgError& e) {
      ADD_FAILURE() << e.what();
    }
  }

  // Through `via` (a relay) instead of the server's own address when given.
  std::string url(const std::optional<tcp::endpoint>& via = std::nullopt) const {
    return connection_string(server_url(), name_, via);
  }
  PostgresOptions options() const { return PostgresOptions{url()}; }
  // A connection of the test's own, to look at or tamper with the database.
  std::unique_ptr<Connection> connect() const {
    return std::make_unique<Connection>(ConnInfo(url()));
  }

 private:
  static Connection admin() { return Connection(ConnInfo(server_url())); }

  std::string name_;
};

class PostgresBackend : public conformance::Backend {
 public:
  std::unique_ptr<Store> open() override {
    return std::make_unique<PostgresStore>(database_.options());
  }

 private:
  TestDatabase database_;
};

std::unique_ptr<conformance::Backend> make_postgres_backend() {
  return std::make_unique<PostgresBackend>();
}

using conformance::Attachments;
using conformance::RichMessages;
using conformance::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Values(&make_postgres_backend));
INSTANTIATE_TEST_SUITE_P(Postgres, RichMessages, ::testing::Values(&make_postgres_backend));
INSTANTIATE_TEST_SUITE_P(Postgres, Attachments, ::testing::Values(&make_postgres_backend));

// ---- Helpers of the tests below ----------------------------------------------------------------

// "k7" and the like. (Not "k" + std::to_string(i): g++ 12 warns about it, wrongly, -Wrestrict.)
std::string numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

// Keeps every commit the store reported (called on its writer thread).
class RecordedCommits final : public ChangeListener {
 public:
  void on_commit(Commit commit) override {
    std::lock_guard lock(mutex_);
    commits_.push_back(std::move(commit));
  }
  std::vector<Commit> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(commits_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<Commit> commits_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  template <class T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  User make_user(Store& store, const std::string& name) {
    auto user = run(store.create_user(NewUser{name, name + "@x.io", "pic", "hash"}));
    EXPECT_TRUE(user.ok());
    return user.value();
  }

  // Sends `count` messages at once (they share batches), alternating over `stores`.
  void send_concurrently(const std::vector<PostgresStore*>& stores, const Chat& chat,
                         const std::vector<std::string>& senders, int count) {
    for (int i = 0; i < count; ++i) {
      auto* store = stores[static_cast<std::size_t>(i) % stores.size()];
      NewMessage message{chat.id, senders[static_cast<std::size_t>(i) % senders.size()],
                         numbered("m", i), std::nullopt};
      asio::co_spawn(io_, append_expecting_success(store, std::move(message)), asio::detached);
    }
    io_.restart();
    io_.run();
  }

  static asio::awaitable<void> append_expecting_success(PostgresStore* store, NewMessage message) {
    auto appended = co_await store->append_message(std::move(message));
    EXPECT_TRUE(appended.ok()) << appended.error().message;
  }

  asio::io_context io_;
  TestDatabase database_;
};

std::vector<std::int64_t> positions_of(const std::vector<Commit>& commits) {
  std::vector<std::int64_t> positions;
  positions.reserve(commits.size());
  for (const auto& c : commits) positions.push_back(c.position);
  return positions;
}

std::vector<std::int64_t> from_one_to(std::int64_t last) {
  std::vector<std::int64_t> all;
  for (std::int64_t p = 1; p <= last; ++p) all.push_back(p);
  return all;
}

// ---- Change log --------------------------------------------------------------------------------

TEST_F(PostgresStoreTest, ChangeLogPositionsAreGaplessFromOneAndReadable) {
  PostgresStore store(database_.options());
  RecordedCommits commits;
  store.set_change_listener(&commits);
  EXPECT_EQ(run(store.last_position()).value(), 0);

  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();  // reports nothing
  send_concurrently({&store}, chat, {a.id}, 100);
  ASSERT_TRUE(run(store.advance_cursors(chat.id, b.id, 100, 50))->changed);

  auto reported = commits.take();
  ASSERT_FALSE(reported.empty());
  const auto last = reported.back().position;
  EXPECT_EQ(positions_of(reported), from_one_to(last));
  EXPECT_EQ(run(store.last_position()).value(), last);

  auto logged = run(store.read_commits(0, 1000)).value();
  ASSERT_EQ(positions_of(logged), from_one_to(last));
  for (std::size_t i = 0; i < logged.size(); ++i) {
    EXPECT_EQ(logged[i].encoded, reported[i].encoded);
    EXPECT_EQ(logged[i].changes.size(), reported[i].changes.size());
  }
  EXPECT_TRUE(std::holds_alternative<CursorsAdvanced>(logged.back().changes.back()));

  auto tail = run(store.read_commits(last - 2, 10)).value();
  EXPECT_EQ(positions_of(tail), (std::vector<std::int64_t>{last - 1, last}));
  EXPECT_EQ(run(store.read_commits(0, 1)).value().size(), 1U);
  EXPECT_TRUE(run(store.read_commits(last, 10)).value().empty());
}

TEST_F(PostgresStoreTest, TwoStoresOnOneDatabaseShareOneGaplessOrder) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  RecordedCommits first_commits;
  RecordedCommits second_commits;
  first.set_change_listener(&first_commits);
  second.set_change_listener(&second_commits);

  auto a = make_user(first, "a");
  auto b = make_user(second, "b");
  auto c = make_user(first, "c");
  auto ab = run(first.find_or_create_direct_chat(a.id, b.id)).value();
  auto bc = run(second.find_or_create_direct_chat(b.id, c.id)).value();
  for (int round = 0; round < 4; ++round) {
    for (const auto& chat : {ab, bc}) {
      const auto& other = chat.id == ab.id ? a.id : c.id;
      send_concurrently({&first, &second}, chat, {b.id, other}, 50);
    }
  }

  auto commits = first_commits.take();
  auto from_second = second_commits.take();
  EXPECT_FALSE(commits.empty());
  EXPECT_FALSE(from_second.empty());
  commits.insert(commits.end(), from_second.begin(), from_second.end());
  std::sort(commits.begin(), commits.end(),
            [](const Commit& x, const Commit& y) { return x.position < y.position; });
  // Every position once, none missing, whichever node committed it.
  EXPECT_EQ(positions_of(commits), from_one_to(static_cast<std::int64_t>(commits.size())));
  // Position order is commit order: each chat's seqs ascend along it without a gap.
  std::map<std::string, std::int64_t> last_seq;
  for (const auto& commit : commits) {
    for (const auto& change : commit.changes) {
      const auto& appended = std::get<MessageAppended>(change);
      EXPECT_EQ(appended.message.seq, ++last_seq[appended.message.chat_id])
          << "chat " << appended.message.chat_id << " at position " << commit.position;
    }
  }
  EXPECT_EQ(last_seq[ab.id], 200);
  EXPECT_EQ(last_seq[bc.id], 200);
}

TEST_F(PostgresStoreTest, RetriesOnTwoNodesAtOnceStoreOneMessage) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  auto a = make_user(first, "a");
  auto b = make_user(first, "b");
  auto chat = run(first.find_or_create_direct_chat(a.id, b.id)).value();
  std::set<std::string> ids;
  int created = 0;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 40; ++i) {
      NewMessage message{chat.id, a.id, "once", numbered("same", round)};
      asio::co_spawn(
          io_,
          [](PostgresStore& s, NewMessage m, std::set<std::string>& stored,
             int& new_ones) -> asio::awaitable<void> {
            auto sent = co_await s.append_message(std::move(m));
            EXPECT_TRUE(sent.ok()) << sent.error().message;
            if (!sent.ok()) co_return;
            stored.insert(sent->message.id);
            new_ones += sent->created ? 1 : 0;
          }(i % 2 ? first : second, std::move(message), ids, created),
          asio::detached);
    }
    io_.restart();
    io_.run();
  }
  EXPECT_EQ(ids.size(), 5U);
  EXPECT_EQ(created, 5);
  EXPECT_EQ(run(first.find_chat(chat.id))->last_seq, 5);
}

TEST_F(PostgresStoreTest, PrunesTheChangeLogAfterItsRetention) {
  auto options = database_.options();
  options.change_log_retention = 200ms;
  PostgresStore store(options);
  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();
  send_concurrently({&store}, chat, {a.id}, 5);
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(run(store.append_message(NewMessage{chat.id, a.id, "late", std::nullopt})).ok());
  const auto last = run(store.last_position()).value();
  auto kept = run(store.read_commits(0, 100)).value();
  EXPECT_EQ(positions_of(kept), std::vector<std::int64_t>{last});
}

// ---- Migrations --------------------------------------------------------------------------------

TEST_F(PostgresStoreTest, MigratesOnceAndRefusesANewerSchema) {
  { PostgresStore store(database_.options()); }
  { PostgresStore again(database_.options()); }  // nothing left to do
  auto connection = database_.connect();
  auto versions = connection->query("SELECT count(*), max(version) FROM schema_migrations");
  EXPECT_EQ(versions[0].int64(0), schema_version());
  EXPECT_EQ(versions[0].int64(1), schema_version());

  connection->exec("INSERT INTO schema_migrations (version) VALUES (999)");
  EXPECT_THROW(PostgresStore(database_.options()), SchemaTooNew);
}

TEST_F(PostgresStoreTest, NodesStartingTogetherMigrateOnce) {
  constexpr int kNodes = 4;
  std::vector<std::future<void>> started;
  started.reserve(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    started.push_back(
        std::async(std::launch::async, [this] { PostgresStore store(database_.options()); }));
  }
  for (auto& node : started) EXPECT_NO_THROW(node.get());
  auto connection = database_.connect();
  EXPECT_EQ(connection->query("SELECT count(*) FROM schema_migrations")[0].int64(0),
            schema_version());
}

// ---- Batches -----------------------------------------------------------------------------------

TEST_F(PostgresStoreTest, AWriteThatFailsFailsAloneAndItsBatchCommitsWithoutIt) {
  PostgresStore store(database_.options());
  RecordedCommits commits;
  store.set_change_listener(&commits);
  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();
  // A failure no function expects: the statement raises, the batch's transaction aborts.
  database_.connect()->exec(
      "ALTER TABLE messages ADD CONSTRAINT test_poison CHECK (content <> 'poison')");

  constexpr int kSends = 60;
  std::vector<std::int64_t> seqs;
  std::vector<Error> errors;
  for (int i = 0; i < kSends; ++i) {
    NewMessage message{chat.id, a.id, i == kSends / 2 ? "poison" : "fine", std::nullopt};
    asio::co_spawn(
        io_,
        [](PostgresStore& s, NewMessage m, std::vector<std::int64_t>& ok,
           std::vector<Error>& failed) -> asio::awaitable<void> {
          auto sent = co_await s.append_message(std::move(m));
          if (sent.ok()) {
            ok.push_back(sent->message.seq);
          } else {
            failed.push_back(sent.error());
          }
        }(store, std::move(message), seqs, errors),
        asio::detached);
  }
  io_.restart();
  io_.run();

  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].code, Errc::internal);
  EXPECT_EQ(errors[0].message, "Internal server error");  // the SQL error is only logged
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, from_one_to(kSends - 1));  // no seq lost to the failed write
  auto reported = commits.take();
  EXPECT_EQ(positions_of(reported), from_one_to(static_cast<std::int64_t>(reported.size())));
  std::size_t appended = 0;
  for (const auto& commit : reported) appended += commit.changes.size();
  EXPECT_EQ(appended, static_cast<std::size_t>(kSends - 1));
}

// ---- Accounts across nodes ---------------------------------------------------------------------

TEST_F(PostgresStoreTest, RevocationsReachTheChangeLogOfEveryNode) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  RecordedCommits commits;
  second.set_change_listener(&commits);
  auto a = make_user(first, "a");
  auto session = run(first.create_session(NewSession{a.id, "r1", "ip", "ua", 1})).value();
  ASSERT_EQ(run(second.revoke_sessions(a.id, std::nullopt)).value(),
            std::vector<std::string>{session.id});

  auto reported = commits.take();
  ASSERT_EQ(reported.size(), 1U);
  auto logged = run(first.read_commits(0, 100)).value();
  ASSERT_EQ(logged.size(), 1U);
  EXPECT_EQ(logged[0].position, reported[0].position);
  EXPECT_EQ(logged[0].encoded, reported[0].encoded);
  ASSERT_EQ(logged[0].changes.size(), 1U);
  const auto& revoked = std::get<SessionsRevoked>(logged[0].changes[0]);
  EXPECT_EQ(revoked.user_id, a.id);
  EXPECT_EQ(revoked.session_ids, std::vector<std::string>{session.id});
}

TEST_F(PostgresStoreTest, ARefreshTokenPresentedToTwoNodesAtOnceRotatesOnce) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  auto a = make_user(first, "a");
  for (int round = 0; round < 5; ++round) {
    const auto token = numbered("token", round);
    ASSERT_TRUE(run(first.create_session(NewSession{a.id, token, "ip", "ua", 1})).ok());
    std::map<RefreshOutcome, int> outcomes;
    for (int i = 0; i < 20; ++i) {
      RefreshRotation rotation{token, numbered(token + "-next", i), "ip", "ua", 2};
      asio::co_spawn(
          io_,
          [](PostgresStore& s, RefreshRotation r,
             std::map<RefreshOutcome, int>& counts) -> asio::awaitable<void> {
            auto result = co_await s.rotate_refresh(std::move(r));
            EXPECT_TRUE(result.ok()) << result.error().message;
            if (result.ok()) ++counts[result->outcome];
          }(i % 2 ? first : second, std::move(rotation), outcomes),
          asio::detached);
    }
    io_.restart();
    io_.run();
    EXPECT_EQ(outcomes[RefreshOutcome::rotated], 1) << "round " << round;
    EXPECT_EQ(outcomes[RefreshOutcome::reused], 1) << "round " << round;
    EXPECT_EQ(outcomes[RefreshOutcome::unknown], 18) << "round " << round;
  }
  EXPECT_TRUE(run(first.list_sessions(a.id))->empty());
}

TEST_F(PostgresStoreTest, ATotpStepPresentedToTwoNodesAtOnceIsAcceptedOnce) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  auto a = make_user(first, "a");
  ASSERT_TRUE(run(first.set_pending_two_factor(a.id, "sealed")).ok());
  ASSERT_TRUE(run(first.enable_two_factor(a.id, {}, 10)).ok());
  for (std::int64_t step = 11; step <= 15; ++step) {
    int accepted = 0;
    for (int i = 0; i < 20; ++i) {
      asio::co_spawn(
          io_,
          [](PostgresStore& s, std::string user, std::int64_t at,
             int& yes) -> asio::awaitable<void> {
            auto result = co_await s.consume_totp_step(std::move(user), at);
            EXPECT_TRUE(result.ok()) << result.error().message;
            if (result.ok() && *result) ++yes;
          }(i % 2 ? first : second, a.id, step, accepted),
          asio::detached);
    }
    io_.restart();
    io_.run();
    EXPECT_EQ(accepted, 1) << "step " << step;
  }
  EXPECT_EQ(run(second.find_two_factor(a.id))->last_step, 15);
}

TEST_F(PostgresStoreTest, ADisabledUserKeepsNoSessionWhateverLoginsRaceTheDisabling) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  auto a = make_user(first, "a");
  constexpr int kLogins = 60;
  int created = 0;
  int refused = 0;
  // Logins one after the other on one node, each its own batch; the other node disables the user
  // a few round trips in, while they go on.
  asio::co_spawn(
      io_,
      [](PostgresStore& s, std::string user, int& made, int& forbidden) -> asio::awaitable<void> {
        for (int i = 0; i < kLogins; ++i) {
          NewSession session{user, numbered("r", i), "ip", "ua", 1};
          auto result = co_await s.create_session(std::move(session));
          if (result.ok()) {
            ++made;
          } else {
            EXPECT_EQ(result.error().code, Errc::forbidden);
            ++forbidden;
          }
        }
      }(first, a.id, created, refused),
      asio::detached);
  asio::co_spawn(
      io_,
      [](PostgresStore& s, std::string user) -> asio::awaitable<void> {
        for (int i = 0; i < 10; ++i) co_await s.find_user(user);
        auto revoked = co_await s.set_disabled(std::move(user), true);
        EXPECT_TRUE(revoked.ok()) << revoked.error().message;
      }(second, a.id),
      asio::detached);
  io_.restart();
  io_.run();
  EXPECT_EQ(created + refused, kLogins);
  EXPECT_TRUE(run(first.list_sessions(a.id))->empty());
  EXPECT_TRUE(run(second.list_sessions(a.id))->empty());
}

// ---- Erasure -----------------------------------------------------------------------------------

// The tables whose rows hold `needle` (case-insensitively), comma-separated; empty when none: what
// grepping a pg_dump of the data would find. Every table of the schema, whatever migrations add.
constexpr const char* kTablesHolding =
    "SELECT coalesce(string_agg(t.tablename, ',' ORDER BY t.tablename), '') FROM pg_tables t "
    "WHERE t.schemaname = 'public' AND strpos(lower(query_to_xml(format('SELECT * FROM %I', "
    "t.tablename), false, false, '')::text), lower($1)) > 0";

std::string tables_holding(Connection& connection, const std::string& needle) {
  return connection.query(kTablesHolding, Params(needle))[0].text(0);
}

const MessageAppended* appended_in(const std::vector<Commit>& commits, const std::string& id) {
  for (const auto& commit : commits) {
    for (const auto& change : commit.changes) {
      const auto* appended = std::get_if<MessageAppended>(&change);
      if (appended && appended->message.id == id) return appended;
    }
  }
  return nullptr;
}

TEST_F(PostgresStoreTest, ErasureLeavesNoCopyOfTheErasedContentInTheChangeLog) {
  PostgresStore store(database_.options());
  auto anna =
      run(store.create_user(NewUser{"Anna Quartz", "Anna.Quartz@x.io", "pic", "h"})).value();
  auto b = make_user(store, "b");
  auto c = make_user(store, "c");
  auto ab = run(store.find_or_create_direct_chat(anna.id, b.id)).value();
  auto group = run(store.create_group("G", anna.id, {b.id, c.id})).value();
  auto secret = run(store.append_message(NewMessage{ab.id, anna.id, "zebra secret 1", "cm-zebra"}));
  ASSERT_TRUE(secret.ok());
  ASSERT_TRUE(run(store.append_message(NewMessage{ab.id, b.id, "plain reply", std::nullopt})).ok());
  ASSERT_TRUE(
      run(store.append_message(NewMessage{group.id, anna.id, "zebra secret 2", std::nullopt}))
          .ok());
  // Copies elsewhere in the log: the name in a profile change, the group's latest message in a
  // group change, the IP and user agent in a session and an audit event.
  ASSERT_TRUE(
      run(store.update_profile(ProfileUpdate{anna.id, "Anna Quartz Jr", std::nullopt})).ok());
  ASSERT_TRUE(run(store.rename_chat(group.id, "G2")).ok());
  ASSERT_TRUE(
      run(store.create_session(NewSession{anna.id, "r1", "10.9.8.7", "QuartzBrowser", 1})).ok());
  ASSERT_TRUE(
      run(store.record_audit(NewAuditEvent{anna.id, "login", 1, "10.9.8.7", "QuartzBrowser"}))
          .ok());
  const std::vector<std::string> needles = {"Anna Quartz", "anna.quartz@x.io", "zebra secret",
                                            "cm-zebra",    "10.9.8.7",         "QuartzBrowser"};
  auto look = database_.connect();
  for (const auto& needle : needles) EXPECT_NE(tables_holding(*look, needle), "") << needle;
  EXPECT_EQ(tables_holding(*look, "zebra secret"), "change_log,messages");

  ASSERT_TRUE(run(store.erase_user(UserErasure{anna.id, "Deleted user", "default.png"})).ok());
  int erased = 0;
  for (;;) {
    const int batch = run(store.erase_sent_messages(anna.id, 1)).value();
    if (batch == 0) break;
    erased += batch;
  }
  EXPECT_EQ(erased, 2);

  for (const auto& needle : needles) EXPECT_EQ(tables_holding(*look, needle), "") << needle;
  // The rest stays: every position, each of them readable, the other user's message included.
  EXPECT_EQ(tables_holding(*look, "plain reply"), "change_log,messages");
  const auto last = run(store.last_position()).value();
  auto logged = run(store.read_commits(0, 1000)).value();
  EXPECT_EQ(positions_of(logged), from_one_to(last));
  const auto* tombstone = appended_in(logged, secret->message.id);
  ASSERT_NE(tombstone, nullptr);
  EXPECT_TRUE(tombstone->message.deleted);
  EXPECT_EQ(tombstone->message.content, "");
  EXPECT_EQ(tombstone->message.client_msg_id, std::nullopt);
  EXPECT_EQ(tombstone->message.seq, 1);
  EXPECT_EQ(tombstone->sender.name, "Deleted user");
  EXPECT_EQ(tombstone->sender.email, "");
  EXPECT_TRUE(tombstone->sender.erased);
  EXPECT_EQ(tombstone->member_ids, (std::vector<std::string>{anna.id, b.id}));

  // The dead row versions that still held the bytes are vacuumed soon after.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  auto vacuumed = [&] {
    return look->query(
                   "SELECT count(*) FROM pg_stat_user_tables "
                   "WHERE relname IN ('messages', 'change_log', 'users') AND vacuum_count > 0")[0]
               .int64(0) == 3;
  };
  while (!vacuumed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(vacuumed());
}

TEST_F(PostgresStoreTest, AnErasureAmongConcurrentWritesOfTwoNodesLeavesNothingBehind) {
  PostgresStore first(database_.options());
  PostgresStore second(database_.options());
  RecordedCommits first_commits;
  RecordedCommits second_commits;
  first.set_change_listener(&first_commits);
  second.set_change_listener(&second_commits);
  auto anna = make_user(first, "anna");
  auto b = make_user(first, "b");
  auto chat = run(first.find_or_create_direct_chat(anna.id, b.id)).value();
  ASSERT_TRUE(run(first.set_retention(chat.id, 1)).ok());

  // Sends of both users on both nodes, an erasure on each node and a retention sweep among them:
  // the erasures commit alone, in their place in their node's queue.
  constexpr int kSends = 120;
  int failed = 0;
  for (int i = 0; i < kSends; ++i) {
    auto& node = i % 2 ? first : second;
    NewMessage message{chat.id, i % 3 ? b.id : anna.id, numbered("zebra ", i), std::nullopt};
    asio::co_spawn(
        io_,
        [](PostgresStore& s, NewMessage m, int& errors) -> asio::awaitable<void> {
          auto sent = co_await s.append_message(std::move(m));
          if (!sent.ok()) ++errors;
        }(node, std::move(message), failed),
        asio::detached);
    if (i % 40 == 20) {
      asio::co_spawn(
          io_,
          [](PostgresStore& s, std::string user, int& errors) -> asio::awaitable<void> {
            auto erased = co_await s.erase_sent_messages(std::move(user), 1000);
            if (!erased.ok()) ++errors;
          }(node, anna.id, failed),
          asio::detached);
    }
  }
  asio::co_spawn(
      io_,
      [](PostgresStore& s, int& errors) -> asio::awaitable<void> {
        constexpr std::int64_t kTwoDaysMs = 172'800'000;
        RetentionSweep sweep{clock::now_ms() + kTwoDaysMs, std::nullopt, 15};
        auto swept = co_await s.erase_expired_messages(sweep);
        if (!swept.ok()) ++errors;
      }(second, failed),
      asio::detached);
  io_.restart();
  io_.run();
  EXPECT_EQ(failed, 0);
  while (run(second.erase_sent_messages(anna.id, 7)).value() > 0) {
  }

  auto history = run(first.list_messages(HistoryQuery{chat.id, std::nullopt, std::nullopt, 1000}));
  ASSERT_EQ(history->size(), static_cast<std::size_t>(kSends));
  for (std::size_t i = 0; i < history->size(); ++i) {
    const auto& m = (*history)[i];
    EXPECT_EQ(m.seq, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(m.deleted, m.content.empty());
    if (m.sender_id == anna.id) {
      EXPECT_TRUE(m.deleted) << m.seq;
    }
  }
  // No copy of anna's messages in the log; the positions stay gapless, in one order for both nodes.
  auto commits = first_commits.take();
  auto from_second = second_commits.take();
  commits.insert(commits.end(), from_second.begin(), from_second.end());
  std::sort(commits.begin(), commits.end(),
            [](const Commit& x, const Commit& y) { return x.position < y.position; });
  const auto last = run(first.last_position()).value();
  EXPECT_EQ(positions_of(commits), from_one_to(last));
  auto logged = run(first.read_commits(0, 10000)).value();
  EXPECT_EQ(positions_of(logged), from_one_to(last));
  int appended = 0;
  for (const auto& commit : logged) {
    for (const auto& change : commit.changes) {
      const auto* message = std::get_if<MessageAppended>(&change);
      if (!message) continue;
      ++appended;
      const auto& stored = (*history)[static_cast<std::size_t>(message->message.seq) - 1];
      EXPECT_EQ(message->message.deleted, stored.deleted) << stored.seq;
      EXPECT_EQ(message->message.content, stored.content) << stored.seq;
      if (message->sender.id == anna.id) {
        EXPECT_TRUE(message->message.deleted) << stored.seq;
      }
    }
  }
  EXPECT_EQ(appended, kSends);
}

// ---- Input PostgreSQL cannot hold --------------------------------------------------------------

TEST_F(PostgresStoreTest, RefusesTextWithNulCharacters) {
  PostgresStore store(database_.options());
  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();
  const std::string with_nul("a\0b", 3);
  EXPECT_EQ(
      run(store.append_message(NewMessage{chat.id, a.id, with_nul, std::nullopt})).error().code,
      Errc::invalid_input);
  EXPECT_EQ(run(store.find_credentials(with_nul)).error().code, Errc::invalid_input);
  EXPECT_TRUE(run(store.append_message(NewMessage{chat.id, a.id, "fine", std::nullopt})).ok());
}

// ---- Failures ----------------------------------------------------------------------------------

// A TCP relay in front of the test server that can be cut and restored: the server disappears
// for the store (connections reset, new ones refused) without being stopped.
class Relay {
 public:
  explicit Relay(tcp::endpoint upstream)
      : upstream_(std::move(upstream)),
        guard_(asio::make_work_guard(io_)),
        thread_([this] { io_.run(); }) {
    call([this] { listen(0); });
  }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay() {
    cut();
    guard_.reset();
    thread_.join();
  }

  tcp::endpoint endpoint() const { return {asio::ip::address_v4::loopback(), port_}; }
  void cut() {
    call([this] { close_all(); });
  }
  void restore() {
    call([this] { listen(port_); });
  }

 private:
  struct Pair {
    explicit Pair(asio::io_context& io) : client(io), server(io) {}
    tcp::socket client;
    tcp::socket server;
  };

  template <class Fn>
  void call(Fn fn) {
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void listen(unsigned short port) {
    acceptor_.emplace(io_);
    acceptor_->open(tcp::v4());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind({asio::ip::address_v4::loopback(), port});
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(io_, accept(), asio::detached);
  }

  void close_all() {
    if (acceptor_) acceptor_->close();
    for (auto& pair : pairs_) {
      boost::system::error_code ignored;
      pair->client.close(ignored);
      pair->server.close(ignored);
    }
    pairs_.clear();
  }

  asio::awaitable<void> accept() {
    auto& acceptor = *acceptor_;
    for (;;) {
      auto pair = std::make_shared<Pair>(io_);
      auto [error] =
          co_await acceptor.async_accept(pair->client, asio::as_tuple(asio::use_awaitable));
      if (error) co_return;
      auto [refused] =
          co_await pair->server.async_connect(upstream_, asio::as_tuple(asio::use_awaitable));
      if (refused) continue;
      pairs_.push_back(pair);
      asio::co_spawn(io_, pump(pair->client, pair->server, pair), asio::detached);
      asio::co_spawn(io_, pump(pair->server, pair->client, pair), asio::detached);
    }
  }

  static asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to,
                                    std::shared_ptr<Pair> keep) {
    std::array<char, 16384> buffer{};
    for (;;) {
      auto [read_error, n] =
          co_await from.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
      if (read_error) break;
      auto [write_error, written] = co_await asio::async_write(to, asio::buffer(buffer, n),
                                                               asio::as_tuple(asio::use_awaitable));
      if (write_error) break;
    }
    boost::system::error_code ignored;
    keep->client.close(ignored);
    keep->server.close(ignored);
  }

  tcp::endpoint upstream_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::optional<tcp::acceptor> acceptor_;
  std::vector<std::shared_ptr<Pair>> pairs_;
  unsigned short port_ = 0;
  std::thread thread_;
};

// The test server's address, for the relay.
tcp::endpoint server_endpoint() {
  ConnInfo info(server_url());
  auto connection = Connection(info);
  auto rows = connection.query("SELECT host(inet_server_addr()), inet_server_port()");
  return {asio::ip::make_address(rows[0].text(0)), static_cast<unsigned short>(rows[0].int64(1))};
}

template <class T>
void expect_unavailable(const Result<T>& result) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::unavailable);
  EXPECT_EQ(result.error().message.find("postgres"), std::string::npos);  // nothing of libpq's
}

TEST_F(PostgresStoreTest, FailsFastWithUnavailableWhileTheServerIsUnreachable) {
  Relay relay(server_endpoint());
  PostgresStore store(PostgresOptions{database_.url(relay.endpoint())});
  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();
  EXPECT_TRUE(run(store.check_ready()).ok());

  relay.cut();
  const auto started = std::chrono::steady_clock::now();
  expect_unavailable(run(store.append_message(NewMessage{chat.id, a.id, "x", std::nullopt})));
  expect_unavailable(run(store.find_chat(chat.id)));
  expect_unavailable(run(store.check_ready()));
  expect_unavailable(run(store.last_position()));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);

  relay.restore();
  std::this_thread::sleep_for(300ms);  // past the pause between connection attempts
  EXPECT_TRUE(run(store.check_ready()).ok());
  auto sent = run(store.append_message(NewMessage{chat.id, a.id, "back", std::nullopt}));
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->message.seq, 1);
}

TEST_F(PostgresStoreTest, RetriesAfterALostConnectionStoreEachMessageOnce) {
  Relay relay(server_endpoint());
  PostgresStore store(PostgresOptions{database_.url(relay.endpoint())});
  auto a = make_user(store, "a");
  auto b = make_user(store, "b");
  auto chat = run(store.find_or_create_direct_chat(a.id, b.id)).value();

  // Sends in flight when the connection is cut end committed or unavailable (even when the
  // cut hit their COMMIT); clients retry the latter with the same clientMsgId.
  constexpr int kSends = 300;
  std::vector<int> unavailable;
  for (int i = 0; i < kSends; ++i) {
    NewMessage message{chat.id, a.id, "m", numbered("k", i)};
    asio::co_spawn(
        io_,
        [](PostgresStore& s, NewMessage m, std::vector<int>& failed,
           int index) -> asio::awaitable<void> {
          auto sent = co_await s.append_message(std::move(m));
          if (!sent.ok()) {
            EXPECT_EQ(sent.error().code, Errc::unavailable);
            failed.push_back(index);
          }
        }(store, std::move(message), unavailable, i),
        asio::detached);
  }
  std::thread cutter([&] {
    std::this_thread::sleep_for(20ms);
    relay.cut();
  });
  io_.restart();
  io_.run();
  cutter.join();
  relay.restore();
  std::this_thread::sleep_for(300ms);
  for (const int i : unavailable) {
    auto retried = run(store.append_message(NewMessage{chat.id, a.id, "m", numbered("k", i)}));
    ASSERT_TRUE(retried.ok()) << retried.error().message;
  }

  auto history = run(store.list_messages(HistoryQuery{chat.id, std::nullopt, std::nullopt, 1000}));
  ASSERT_EQ(history->size(), static_cast<std::size_t>(kSends));
  std::set<std::string> keys;
  for (std::size_t i = 0; i < history->size(); ++i) {
    EXPECT_EQ((*history)[i].seq, static_cast<std::int64_t>(i) + 1);
    keys.insert(*(*history)[i].client_msg_id);
  }
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(kSends));
}

TEST_F(PostgresStoreTest, RefusesToStartWhenTheServerIsDownAndSaysSoQuickly) {
  // A port nothing listens on: bound and closed again.
  tcp::acceptor probe(io_, {asio::ip::address_v4::loopback(), 0});
  const tcp::endpoint closed = probe.local_endpoint();
  probe.close();
  const auto started = std::chrono::steady_clock::now();
  try {
    PostgresStore store(PostgresOptions{database_.url(closed)});
    ADD_FAILURE() << "the store opened without a server";
  } catch (const PgError& e) {
    EXPECT_TRUE(e.unavailable());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

}  // namespace
}  // namespace chatd::store::postgres
