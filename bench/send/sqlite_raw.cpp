// sqlite_raw: the reference for chatd's durable-send benchmark (bench/send/send_bench.sh runs it):
// how many message rows SQLite itself commits per second on this disk, in batches, from one
// thread, with nothing else around it. chatd's writer does the same kind of work per message plus
// its own (membership check, the chat's seq bump, the sender's cursors, a savepoint per message,
// the network); the benchmark's goal is at least half of this rate.
//
//   sqlite_raw --dir DIR [--synchronous full|normal] [--batches "1 8 64 256 512"] [--seconds S]
//              [--warmup S] [--chats N] [--content-bytes N] [--no-foreign-keys] [--keep]
//
// For each batch size B: a fresh database DIR/sqlite_raw.db (removed first, with its -wal and
// -shm files), opened the way chatd opens its store (src/store/sqlite/connection.cc,
// sqlite_store.cc): journal_mode=WAL, the given synchronous mode, foreign_keys=ON, SQLite's default
// page size, cache size and WAL auto-checkpoint (chatd sets none of them). The messages table has
// chatd's shape (src/store/sqlite/schema.cc): WITHOUT ROWID, primary key (chat_id, seq), unique
// id, partial unique index on (sender_id, client_msg_id), foreign keys to chats and users (with
// --no-foreign-keys: no REFERENCES and foreign_keys=OFF). Rows are spread round-robin over N chats
// (default 64), each with its own sender and its own gapless seq: 24-hex ids like chatd's
// ObjectIds, a ~100-byte content, a client_msg_id of about 20 characters, a created_at in ms.
// One thread runs BEGIN IMMEDIATE; B inserts (one prepared statement); COMMIT, for --warmup
// seconds (not counted) and then --seconds seconds; it prints rows/s, commits/s and the time of a
// transaction (p50/p99/max) per B. The last line per B on stdout is `RESULT key=value ...`.
//
// Build: g++ -O2 -std=c++20 bench/send/sqlite_raw.cpp -o sqlite_raw -lsqlite3

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sqlite_raw: error: %s\n", msg.c_str());
  std::exit(1);
}

struct Config {
  std::string dir;
  bool full = true;
  std::vector<int> batches = {1, 8, 64, 256, 512};
  double seconds = 5;
  double warmup = 1;
  int chats = 64;
  int content_bytes = 100;
  bool foreign_keys = true;
  bool keep = false;
};

void usage() {
  std::fprintf(stderr,
               "usage: sqlite_raw --dir DIR [--synchronous full|normal] [--batches \"1 8 64\"]\n"
               "       [--seconds S] [--warmup S] [--chats N] [--content-bytes N]\n"
               "       [--no-foreign-keys] [--keep]\n");
}

double number(const std::string& k, const std::string& v) {
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return d;
  } catch (...) {
    die("bad number for " + k + ": " + v);
  }
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      usage();
      std::exit(0);
    }
    if (k == "--no-foreign-keys") {
      c.foreign_keys = false;
      continue;
    }
    if (k == "--keep") {
      c.keep = true;
      continue;
    }
    if (i + 1 >= argc) die("missing value for " + k);
    const std::string v = argv[++i];
    if (k == "--dir") {
      c.dir = v;
    } else if (k == "--synchronous") {
      if (v != "full" && v != "normal") die("--synchronous takes full or normal");
      c.full = v == "full";
    } else if (k == "--batches" || k == "--batch") {
      c.batches.clear();
      std::istringstream in(v);
      std::string b;
      while (in >> b) c.batches.push_back(int(number(k, b)));
    } else if (k == "--seconds") {
      c.seconds = number(k, v);
    } else if (k == "--warmup") {
      c.warmup = number(k, v);
    } else if (k == "--chats") {
      c.chats = int(number(k, v));
    } else if (k == "--content-bytes") {
      c.content_bytes = int(number(k, v));
    } else {
      usage();
      die("unknown option " + k);
    }
  }
  if (c.dir.empty()) {
    usage();
    die("--dir is required");
  }
  if (c.batches.empty()) die("no batch sizes");
  for (int b : c.batches)
    if (b < 1) die("batch sizes must be >= 1");
  if (c.seconds <= 0 || c.warmup < 0 || c.chats < 1 || c.content_bytes < 1) die("bad sizes");
  return c;
}

// ------------------------------------------------------------------------------------------------
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      die("cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~Db() {
    for (auto* s : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      die("sqlite: " + sql.substr(0, 60) + ": " + m);
    }
  }
  std::string text(const std::string& sql) {  // first column of the first row
    sqlite3_stmt* s = prepare(sql);
    std::string r;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      r = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    return r;
  }
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK)
      die("sqlite: prepare " + sql.substr(0, 60) + ": " + sqlite3_errmsg(db_));
    stmts_.push_back(s);
    return s;
  }
  void run(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) die(std::string("sqlite: step: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s);
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

// chatd's messages table (src/store/sqlite/schema.cc, migration 1) and the two tables it refers
// to, reduced to their keys: a foreign-key check only probes the parent's primary key.
std::string schema(bool fk) {
  const std::string chats = fk ? " REFERENCES chats (id)" : "";
  const std::string users = fk ? " REFERENCES users (id)" : "";
  return "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL);\n"
         "CREATE TABLE chats (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL DEFAULT 0);\n"
         "CREATE TABLE messages (\n"
         "  chat_id       TEXT NOT NULL" +
         chats +
         ",\n"
         "  seq           INTEGER NOT NULL,\n"
         "  id            TEXT NOT NULL UNIQUE,\n"
         "  sender_id     TEXT NOT NULL" +
         users +
         ",\n"
         "  content       TEXT NOT NULL,\n"
         "  client_msg_id TEXT,\n"
         "  created_at    INTEGER NOT NULL,\n"
         "  PRIMARY KEY (chat_id, seq)\n"
         ") WITHOUT ROWID;\n"
         "CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_id, client_msg_id)\n"
         "  WHERE client_msg_id IS NOT NULL;\n";
}

// 24 lower-case hex digits, like chatd's ObjectIds: 4 bytes of seconds, 5 random bytes, a 3-byte
// counter.
struct IdMaker {
  std::mt19937_64 rng{std::random_device{}()};
  uint64_t random5 = rng() & 0xffffffffffULL;
  uint32_t counter = uint32_t(rng()) & 0xffffff;
  std::string next() {
    const uint32_t secs = uint32_t(std::time(nullptr));
    counter = (counter + 1) & 0xffffff;
    char b[25];
    std::snprintf(b, sizeof b, "%08x%010llx%06x", secs, (unsigned long long)random5, counter);
    return std::string(b, 24);
  }
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// User-mode CPU seconds of the whole machine, and of this process: what other programs ran
// meanwhile (kernel time is left out: the file system's journal thread works for this benchmark).
double machine_user() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return -1;
  unsigned long long user = 0, nice = 0;
  const int got = std::fscanf(f, "cpu %llu %llu", &user, &nice);
  std::fclose(f);
  return got == 2 ? double(user + nice) / double(sysconf(_SC_CLK_TCK)) : -1;
}
double own_user() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec) + double(u.ru_utime.tv_usec) / 1e6;
}

int64_t pct(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t rank = std::max<size_t>(1, size_t(std::ceil(p / 100.0 * double(v.size()))));
  std::nth_element(v.begin(), v.begin() + long(rank - 1), v.end());
  return v[rank - 1];
}

void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

void run_batch(const Config& c, int batch) {
  const std::string path = c.dir + "/sqlite_raw.db";
  remove_db(path);
  IdMaker ids;
  std::mt19937 rng(std::random_device{}());
  {
    Db db(path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(c.full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db.exec(c.foreign_keys ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF");
    const std::string mode = db.text("PRAGMA journal_mode");
    if (mode != "wal") die("journal_mode is " + mode + ", not wal");
    // SQLite's defaults, which chatd keeps too: recorded with the result.
    const std::string pragmas = "page_size=" + db.text("PRAGMA page_size") +
                                " cache_size=" + db.text("PRAGMA cache_size") +
                                " wal_autocheckpoint=" + db.text("PRAGMA wal_autocheckpoint");
    db.exec("BEGIN IMMEDIATE");
    db.exec(schema(c.foreign_keys));
    db.exec("COMMIT");

    // The chats and one sender per chat (a 1:1 chat's active member).
    std::vector<std::string> chats, senders;
    std::vector<int64_t> seqs(size_t(c.chats), 0);
    {
      sqlite3_stmt* u = db.prepare("INSERT INTO users (id, name) VALUES (?, ?)");
      sqlite3_stmt* ch = db.prepare("INSERT INTO chats (id) VALUES (?)");
      db.exec("BEGIN IMMEDIATE");
      for (int i = 0; i < c.chats; ++i) {
        chats.push_back(ids.next());
        senders.push_back(ids.next());
        const std::string name = "sender " + std::to_string(i);
        sqlite3_bind_text(u, 1, senders.back().c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(u, 2, name.c_str(), -1, SQLITE_TRANSIENT);
        db.run(u);
        sqlite3_bind_text(ch, 1, chats.back().c_str(), -1, SQLITE_TRANSIENT);
        db.run(ch);
      }
      db.exec("COMMIT");
    }

    // ~content_bytes of text that varies from row to row.
    static const char* kWords[] = {"the",   "quick", "message", "arrives", "after", "commit",
                                   "and",   "every", "reader",  "sees",    "it",    "in",
                                   "order", "with",  "its",     "seq",     "chat",  "lunch?"};
    auto content = [&](uint64_t n) {
      std::string s = "msg " + std::to_string(n);
      while (int(s.size()) < c.content_bytes) {
        s += ' ';
        s += kWords[rng() % (sizeof kWords / sizeof *kWords)];
      }
      s.resize(size_t(c.content_bytes));
      return s;
    };
    char run_tag[9];
    std::snprintf(run_tag, sizeof run_tag, "%08x", unsigned(rng()));

    sqlite3_stmt* begin = db.prepare("BEGIN IMMEDIATE");
    sqlite3_stmt* commit = db.prepare("COMMIT");
    sqlite3_stmt* insert = db.prepare(
        "INSERT INTO messages (chat_id, seq, id, sender_id, content, client_msg_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");

    uint64_t n = 0;
    std::vector<int64_t> txn_ns;
    txn_ns.reserve(1 << 16);
    const auto t0 = Clock::now();
    const auto t_measure = t0 + std::chrono::nanoseconds(int64_t(c.warmup * 1e9));
    const auto t_end = t_measure + std::chrono::nanoseconds(int64_t(c.seconds * 1e9));
    uint64_t rows = 0, commits = 0;
    double cpu0 = -1, machine0 = -1, own0 = 0;
    Clock::time_point measured_from{};
    for (;;) {
      const auto start = Clock::now();
      if (start >= t_end) break;
      const bool counted = start >= t_measure;
      if (counted && cpu0 < 0) {
        cpu0 = cpu_seconds();
        machine0 = machine_user();
        own0 = own_user();
        measured_from = start;
      }
      db.run(begin);
      for (int i = 0; i < batch; ++i, ++n) {
        const size_t k = size_t(n % uint64_t(c.chats));
        const std::string id = ids.next();
        const std::string text = content(n);
        const std::string cmid =
            std::string(run_tag) + "-" + std::to_string(k) + "-" + std::to_string(seqs[k] + 1);
        sqlite3_bind_text(insert, 1, chats[k].c_str(), int(chats[k].size()), SQLITE_STATIC);
        sqlite3_bind_int64(insert, 2, ++seqs[k]);
        sqlite3_bind_text(insert, 3, id.c_str(), int(id.size()), SQLITE_STATIC);
        sqlite3_bind_text(insert, 4, senders[k].c_str(), int(senders[k].size()), SQLITE_STATIC);
        sqlite3_bind_text(insert, 5, text.c_str(), int(text.size()), SQLITE_STATIC);
        sqlite3_bind_text(insert, 6, cmid.c_str(), int(cmid.size()), SQLITE_STATIC);
        sqlite3_bind_int64(insert, 7, now_ms());
        db.run(insert);
      }
      db.run(commit);
      if (counted) {
        rows += uint64_t(batch);
        ++commits;
        txn_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
      }
    }
    const auto measured_to = Clock::now();
    const double cpu = cpu0 >= 0 ? cpu_seconds() - cpu0 : 0;
    const double secs =
        commits ? std::chrono::duration<double>(measured_to - measured_from).count() : 0;
    const double machine1 = machine_user();
    const double other_user_cores =
        machine0 >= 0 && machine1 >= 0 && secs > 0
            ? std::max(0.0, machine1 - machine0 - (own_user() - own0)) / secs
            : -1;
    struct stat st {};
    long long db_bytes = 0;
    if (::stat(path.c_str(), &st) == 0) db_bytes += st.st_size;
    if (::stat((path + "-wal").c_str(), &st) == 0) db_bytes += st.st_size;
    const double rps = secs > 0 ? double(rows) / secs : 0;
    const double cps = secs > 0 ? double(commits) / secs : 0;
    const int64_t p50 = pct(txn_ns, 50), p99 = pct(txn_ns, 99);
    const int64_t mx = txn_ns.empty() ? 0 : *std::max_element(txn_ns.begin(), txn_ns.end());
    std::fprintf(stderr,
                 "sqlite_raw: synchronous=%s B=%d: %.0f rows/s, %.0f commits/s (%llu rows in %.2f "
                 "s); transaction p50 %.3f ms p99 %.3f ms max %.3f ms; %.2f us CPU per row; other "
                 "programs %.2f cores (user mode)\n",
                 c.full ? "FULL" : "NORMAL", batch, rps, cps, (unsigned long long)rows, secs,
                 double(p50) / 1e6, double(p99) / 1e6, double(mx) / 1e6,
                 rows ? cpu * 1e6 / double(rows) : 0.0, other_user_cores);
    std::printf(
        "RESULT batch=%d synchronous=%s rows_per_s=%.0f commits_per_s=%.1f rows=%llu "
        "seconds=%.3f txn_p50_us=%.1f txn_p99_us=%.1f txn_max_us=%.1f cpu_us_per_row=%.3f "
        "db_bytes=%lld chats=%d content_bytes=%d foreign_keys=%d other_user_cores=%.3f sqlite=%s "
        "%s\n",
        batch, c.full ? "full" : "normal", rps, cps, (unsigned long long)rows, secs,
        double(p50) / 1e3, double(p99) / 1e3, double(mx) / 1e3,
        rows ? cpu * 1e6 / double(rows) : 0.0, db_bytes, c.chats, c.content_bytes,
        c.foreign_keys ? 1 : 0, other_user_cores, sqlite3_libversion(), pragmas.c_str());
    std::fflush(stdout);
  }
  if (!c.keep) remove_db(path);
}

}  // namespace

int main(int argc, char** argv) {
  const Config c = parse_args(argc, argv);
  struct stat st {};
  if (::stat(c.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) die("no directory " + c.dir);
  for (int b : c.batches) run_batch(c, b);
  return 0;
}
