// idle_sockets: holds many idle, authenticated Socket.IO sockets open against a server (chatd, or
// the Node reference in bench/product/node-reference), so that a script can read the server's
// memory per socket (product benchmark, issue 9). WebSocket transport only; idle_polling.mjs does
// the same over long-polling.
//
//   idle_sockets --url HOST:PORT --users FILE --sockets N --mode native|classic [--threads T]
//                [--hold S] [--connect-concurrency C] [--connect-timeout S] [--path P]
//
// The users file has one line per user, `user <userId> <token>` (lines starting with # are
// comments); sockets go round-robin over the users, so a user has several devices when N exceeds
// the users. The modes (wire protocol: /work/shared/API.md):
//   native   `40{"token":"<jwt>"}`; ready on `40{"sid":...}` (`44`, refused, is an error).
//   classic  chatd's MERN dialect: `40` without auth, then on its `40{...}` reply
//            `42["setup",{"_id":"<userId>","token":"<jwt>"}]` (the server takes the user from the
//            token); ready on `42["connected"]`. The Node reference has no classic mode.
// Once all N are ready: `READY sockets=N seconds=<connect time>` on stdout (flushed). The sockets
// then stay open, answering the server's Engine.IO pings (WsClient does), for --hold seconds, or
// without --hold until stdin reaches EOF. (--hold leaves stdin alone: a command put in the
// background with & by a non-interactive shell reads /dev/null, at EOF at once.)
// Then `RESULT ok=1 sockets=N disconnects=D ...` (ok=0 when a socket was lost during the hold) and
// exit 0, or 1 when not every socket became ready (RESULT ok=0 error=connect) or one was lost.
// Sockets close with a TCP reset, so that no TIME_WAIT is left behind.
//
// Build: g++ -O2 -std=c++20 bench/product/idle_sockets.cpp -o idle_sockets -pthread

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../common/sio_client.h"

using namespace bench;  // NOLINT(google-build-using-namespace): the shared generator helpers

namespace {

struct Options {
  std::string users;
  std::string mode;
  std::string host, port;
  std::string path = "/socket.io/?EIO=4&transport=websocket";
  int sockets = 0;
  int threads = 1;
  double hold = 0;  // seconds; 0: until stdin reaches EOF
  int connect_concurrency = 64;
  double connect_timeout = 120;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: idle_sockets --url HOST:PORT --users FILE --sockets N --mode native|classic\n"
      "       [--threads T] [--hold S] [--connect-concurrency C] [--connect-timeout S]\n"
      "       [--path P]\n");
}

Options parse_options(int argc, char** argv) {
  Options o;
  const std::pair<const char*, std::string*> texts[] = {
      {"--users", &o.users}, {"--mode", &o.mode}, {"--path", &o.path}};
  const std::pair<const char*, double*> reals[] = {{"--hold", &o.hold},
                                                   {"--connect-timeout", &o.connect_timeout}};
  const std::pair<const char*, int*> ints[] = {{"--sockets", &o.sockets},
                                               {"--threads", &o.threads},
                                               {"--connect-concurrency", &o.connect_concurrency}};
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) die("missing value for " + key);
    const std::string value = argv[i + 1];
    bool known = key == "--url";
    if (known) split_url(value, o.host, o.port);
    for (const auto& [name, dst] : texts)
      if (key == name) *dst = value, known = true;
    for (const auto& [name, dst] : reals)
      if (key == name) *dst = parse_number(key, value), known = true;
    for (const auto& [name, dst] : ints)
      if (key == name) *dst = int(parse_number(key, value)), known = true;
    if (!known) die("unknown option " + key);
  }
  if (o.host.empty() || o.users.empty() || o.sockets < 1) {
    usage();
    die("--url, --users and --sockets (at least 1) are required");
  }
  if (o.mode != "native" && o.mode != "classic") die("--mode must be native or classic");
  if (o.threads < 1 || o.connect_concurrency < 1 || o.hold < 0 || o.connect_timeout <= 0)
    die("bad --threads, --connect-concurrency, --hold or --connect-timeout");
  return o;
}

struct User {
  std::string id, token;
};

std::vector<User> load_users(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read the users file " + file);
  std::vector<User> users;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string kind;
    User u;
    if (!(ls >> kind >> u.id >> u.token) || kind != "user")
      die(file + ":" + std::to_string(lineno) + ": bad line: " + line);
    users.push_back(u);
  }
  if (users.empty()) die("the users file " + file + " has no users");
  return users;
}

struct Sock;

struct Worker : Loop {
  Counter pings, disconnects;
};

struct Run {
  Options opt;
  Target target;
  std::vector<User> users;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Sock>> socks;
  std::atomic<int> next_to_start{0}, ready{0}, failed{0};
  std::atomic<bool> closing{false};
  FirstError errors;
};
Run* g = nullptr;

struct Sock : WsClient {
  Worker* w;
  int index;
  const User& user;
  bool ready_ = false;

  Sock(Worker* worker, int i, const User& u)
      : WsClient(worker->io, g->target, uint32_t(i)), w(worker), index(i), user(u) {}

  void on_open(std::string_view) override {
    if (g->opt.mode == "native")
      send_text("40{\"token\":\"" + user.token + "\"}");
    else
      send_text("40");
  }
  void on_ping() override { w->pings.add(); }

  void on_socketio(std::string_view m, int64_t) override {
    if (ready_) {
      if (m.substr(0, 2) == "41") fail("DISCONNECT from server");
      return;  // presence and the like: an idle socket only listens
    }
    if (m.substr(0, 2) == "44")
      return fail("CONNECT refused by the server: " + std::string(m.substr(0, 300)));
    if (m.substr(0, 2) == "41") return fail("DISCONNECT from server before ready");
    if (m.substr(0, 2) == "40") {
      if (m.find("\"sid\"") == std::string_view::npos) return fail("CONNECT reply without sid");
      if (g->opt.mode == "native") return become_ready();
      return send_text("42[\"setup\",{\"_id\":\"" + user.id + "\",\"token\":\"" + user.token +
                       "\"}]");
    }
    if (g->opt.mode == "classic" && m.substr(0, 14) == "42[\"connected\"") return become_ready();
  }

  void become_ready() {
    ready_ = true;
    g->ready.fetch_add(1);
    start_next(g->next_to_start, g->socks);
  }

  void on_closed(bool started, const std::string& what) override {
    if (g->closing.load()) return;
    if (ready_) {
      w->disconnects.add();
      g->errors.note("socket " + std::to_string(index) + " lost: " + what);
    } else if (started) {
      g->errors.note("socket " + std::to_string(index) + " failed: " + what);
      g->failed.fetch_add(1);
      start_next(g->next_to_start, g->socks);
    }
  }
};

// Blocks until stdin reaches EOF.
void wait_for_eof() {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

uint64_t disconnects() {
  return sum_over(g->workers, [](Worker& w) { return w.disconnects.get(); });
}

int run() {
  const Options& o = g->opt;
  for (int i = 0; i < o.threads; ++i) g->workers.push_back(std::make_unique<Worker>());
  for (int i = 0; i < o.sockets; ++i)
    g->socks.push_back(std::make_unique<Sock>(g->workers[size_t(i % o.threads)].get(), i,
                                              g->users[size_t(i) % g->users.size()]));
  for (auto& w : g->workers) w->start();

  const int64_t t0 = now_ns();
  for (int i = 0; i < std::min(o.connect_concurrency, o.sockets); ++i)
    start_next(g->next_to_start, g->socks);
  if (!wait_connected(g->ready, g->failed, o.sockets, o.connect_timeout)) {
    std::string err = g->errors.get();
    if (err.empty()) err = "connect phase timed out";
    std::fprintf(stderr, "idle_sockets: error: not every socket became ready (%d of %d): %s\n",
                 g->ready.load(), o.sockets, err.c_str());
    std::printf("RESULT ok=0 error=connect mode=%s ready=%d failed=%d sockets=%d\n", o.mode.c_str(),
                g->ready.load(), g->failed.load(), o.sockets);
    exit_now(1);
  }
  const double connect_s = double(now_ns() - t0) / 1e9;
  std::fprintf(stderr, "idle_sockets: %d %s sockets over %zu users ready in %.2f s\n", o.sockets,
               o.mode.c_str(), g->users.size(), connect_s);
  std::printf("READY sockets=%d seconds=%.2f\n", o.sockets, connect_s);
  std::fflush(stdout);

  const int64_t t_hold = now_ns();
  if (o.hold > 0)
    std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));
  else
    wait_for_eof();
  const double held_s = double(now_ns() - t_hold) / 1e9;
  const uint64_t lost = disconnects();
  const uint64_t pings = sum_over(g->workers, [](Worker& w) { return w.pings.get(); });

  g->closing = true;
  abort_all(g->workers, g->socks, [](Worker&) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop_loops(g->workers);

  std::fprintf(stderr,
               "idle_sockets: held %.1f s (until %s): %llu disconnects, %llu pings answered\n",
               held_s, o.hold > 0 ? "--hold" : "stdin EOF", (unsigned long long)lost,
               (unsigned long long)pings);
  if (const std::string e = g->errors.get(); !e.empty())
    std::fprintf(stderr, "idle_sockets: first error: %s\n", e.c_str());
  std::printf(
      "RESULT ok=%d mode=%s sockets=%d users=%zu disconnects=%llu connect_s=%.2f held_s=%.1f "
      "pings=%llu\n",
      lost == 0 ? 1 : 0, o.mode.c_str(), o.sockets, g->users.size(), (unsigned long long)lost,
      connect_s, held_s, (unsigned long long)pings);
  return lost == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  g_prog = "idle_sockets";
  static Run r;
  g = &r;
  g->opt = parse_options(argc, argv);
  g->users = load_users(g->opt.users);
  raise_fd_limit(rlim_t(g->opt.sockets) + 64, std::to_string(g->opt.sockets) + " sockets");
  g->target = make_target(g->opt.host, g->opt.port, g->opt.path);
  exit_now(run());
}
