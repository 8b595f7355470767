// send_load: load generator for chatd's durable sends over Socket.IO (bench/send/send_bench.sh
// runs it). Native protocol (docs in /work/shared/API.md): each socket authenticates in the
// handshake (`40{"token":"<jwt>"}`, answered `40{"sid":...}`, or `44{...}` for a bad token), sends
// `42<ackId>["message:send",{"chatId","clientMsgId","content"}]` and gets the ack
// `43<ackId>[{"ok":true,"message":{lean message with its seq}}]` once the message is committed;
// every other socket of the chat's members gets `42["message:new",{lean message}]`.
//
//   send_load throughput --url HOST:PORT --plan FILE [--window W] [--seconds S] [--warmup S]
//       Closed loop: every sender socket keeps W sends unacknowledged (a new one per ack) until
//       the end of the measured window. Acked sends/s = acks received in the window / its length.
//   send_load latency --url HOST:PORT --plan FILE --rate R [--seconds S] [--warmup S]
//       Open loop: R sends/s in all, spread evenly over the senders (each at R/senders per second,
//       phases staggered, paced by a timer every --tick-us), whatever the acks do.
//   Both: [--drain S] [--threads N] [--content-bytes N] [--connect-timeout S] [--server-pid PID]
//       [--receipts-ms MS]
//
// With --receipts-ms, every receiver socket reports `message:read {chatId, seq}` for the newest
// message it has seen, every MS milliseconds when that moved (as a client marks a chat read), so
// the server's receipts work (store, coalesce, announce `receipt` to the members) is in the load.
// A send answered `{ok:false}` with code rate_limited or unavailable is counted as rejected (the
// server shedding load, which it may do), not as a failure; its seq is not expected anywhere.
//
// The plan file (written by send_bench.sh from its REST set-up), one socket per line:
//   chat <index> <chatId> <seq before the run>
//   sender <chat index> <userId> <token>      a socket that sends into that chat
//   receiver <chat index> <userId> <token>    a socket that only listens
// (lines starting with # are comments). Every socket of the plan is a member of its chat, and a
// chat's messages go to every socket of the chat but the one that sent it.
//
// Measured: ack latency (send -> ack) and send-to-deliver latency (send -> message:new at a
// receiver socket; the content carries the send time of this process's steady clock), both over
// the sends made inside the measured window, whenever their ack or delivery comes. After sending
// stops the run waits for every ack and every delivery (while they still come; --drain seconds
// without progress ends the wait), then checks: every send acked with ok:true and its own
// clientMsgId and chatId; per chat, the acked seqs are exactly base+1 .. base+N (no gap, no
// duplicate; base from the plan); every socket of the chat but the sender's got each acked message
// exactly once (missing, duplicate, out of order, and message:new for unknown messages counted).
// With --server-pid: the server's utime+stime over the measured window per acked send.
// The last line on stdout is `RESULT key=value ...`; exit 0 when every check passed, 3 when one
// failed, 1 when the run could not be made (server unreachable, refused the connection or the
// token, bad plan).
//
// Build: g++ -O2 -std=c++20 bench/send/send_load.cpp -o send_load -pthread

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../common/sio_client.h"

using namespace bench;  // NOLINT(google-build-using-namespace): the shared generator helpers

namespace {

struct Options {
  std::string plan;
  std::string mode;
  std::string host = "127.0.0.1", port = "5000";
  std::string path = "/socket.io/?EIO=4&transport=websocket";
  int window = 4;
  double rate = 0;  // sends/s over all senders (latency mode)
  double seconds = 10;
  double warmup = 2;
  double drain = 10;
  int threads = 1;
  int content_bytes = 100;
  double connect_timeout = 30;
  double tick_us = 250;
  int server_pid = 0;
  int connect_concurrency = 64;
  double receipts_ms = 0;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: send_load throughput|latency --url HOST:PORT --plan FILE [--window W] [--rate R]\n"
      "       [--seconds S] [--warmup S] [--drain S] [--threads N] [--content-bytes N]\n"
      "       [--connect-timeout S] [--tick-us US] [--server-pid PID] [--path P]\n"
      "       [--receipts-ms MS]\n");
}

Options parse_options(int argc, char** argv) {
  Options o;
  o.mode = argc > 1 ? argv[1] : "";
  if (o.mode == "-h" || o.mode == "--help" || o.mode.empty()) {
    usage();
    std::exit(o.mode.empty() ? 2 : 0);
  }
  if (o.mode != "throughput" && o.mode != "latency") {
    usage();
    die("unknown mode " + o.mode);
  }
  const std::pair<const char*, std::string*> texts[] = {{"--path", &o.path}, {"--plan", &o.plan}};
  const std::pair<const char*, double*> reals[] = {{"--rate", &o.rate},
                                                   {"--seconds", &o.seconds},
                                                   {"--warmup", &o.warmup},
                                                   {"--drain", &o.drain},
                                                   {"--tick-us", &o.tick_us},
                                                   {"--connect-timeout", &o.connect_timeout},
                                                   {"--receipts-ms", &o.receipts_ms}};
  const std::pair<const char*, int*> ints[] = {{"--window", &o.window},
                                               {"--threads", &o.threads},
                                               {"--content-bytes", &o.content_bytes},
                                               {"--server-pid", &o.server_pid}};
  for (int i = 2; i < argc; i += 2) {
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
  if (o.plan.empty()) die("--plan is required");
  if (o.threads < 1 || o.window < 1 || o.seconds <= 0 || o.warmup < 0 || o.tick_us < 10)
    die("bad --threads, --window, --seconds, --warmup or --tick-us");
  if (o.content_bytes < 40 || o.content_bytes > 4000) die("--content-bytes must be in [40, 4000]");
  if (o.receipts_ms < 0) die("bad --receipts-ms");
  if (o.mode == "latency" && o.rate <= 0) die("latency mode needs --rate > 0 (sends/s in all)");
  return o;
}

// ------------------------------------------------------------------------------------------------
struct Chat {
  std::string id;
  int64_t base = 0;  // the chat's last seq before the run
  int sockets = 0;   // plan sockets in the chat
};
struct PlanSocket {
  bool sender = false;
  int chat = -1;
  std::string user_id, token;
};

struct Sock;

struct Worker : Loop {
  std::vector<Sock*> senders;
  std::vector<Sock*> receivers;
  std::unique_ptr<asio::steady_timer> tick;
  std::unique_ptr<asio::steady_timer> receipts_tick;
  int receipts_round = 0;
  Histogram ack_hist;      // sends made in the window: send -> ack
  Histogram deliver_hist;  // sends made in the window: send -> message:new at a receiver
  Counter sent, window_sent, acks, window_acks, acks_failed;
  Counter expected;          // deliveries owed for the acks received so far
  Counter delivered;         // message:new received, every socket
  Counter window_delivered;  // ... of them, received inside the measured window
  Counter rejected;          // sends the server refused with rate_limited / unavailable
  Counter receipts_sent, receipts_received;
  Counter pings, unexpected, disconnects;
};

struct Run {
  Options opt;
  Target target;
  std::vector<Chat> chats;
  std::unordered_map<std::string, int> chat_by_id;
  std::vector<PlanSocket> plan;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Sock>> socks;
  std::string run_tag;  // makes clientMsgIds unique across runs: (sender, clientMsgId) is forever
  std::atomic<int> next_to_start{0}, ready{0}, failed{0};
  Phases phases;
  std::atomic<bool> closing{false};
  FirstError errors;
  int senders = 0;
  bool in_window(int64_t t) const { return phases.in_window(t); }
};
Run* g = nullptr;

void launch_next();

// Reads the integer after `key` in m (-1 if absent or not a number).
int64_t int_after(std::string_view m, std::string_view key, size_t from = 0) {
  const auto at = m.find(key, from);
  if (at == std::string_view::npos) return -1;
  int64_t v = -1;
  const char* p = m.data() + at + key.size();
  if (std::from_chars(p, m.data() + m.size(), v).ec != std::errc()) return -1;
  return v;
}
// The JSON string value after `key` (which ends with the opening quote), without unescaping.
std::string_view string_after(std::string_view m, std::string_view key) {
  const auto at = m.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = m.find('"', start);
  if (end == std::string_view::npos) return {};
  return m.substr(start, end - start);
}

struct Sock : WsClient {
  Worker* w;
  int index;
  const PlanSocket& spec;
  bool ready_ = false;
  // Sender state: send n (1-based) has ack id n.
  int64_t n = 0;
  int in_flight = 0;
  double phase = 0;
  std::vector<int64_t> sent_at{0};    // by n
  std::vector<int64_t> acked_seq{0};  // by n: 0 not yet, -1 failed, -2 rejected, else the seq
  // Receiving: the seqs of message:new per chat, in arrival order.
  std::unordered_map<int, std::vector<int64_t>> seen;
  uint64_t unknown_chat = 0;
  int64_t newest_seen = 0, newest_reported = 0;  // receipts: of the socket's own chat
  std::string connect_packet;

  Sock(Worker* worker, int i, const PlanSocket& s)
      : WsClient(worker->io, g->target, uint32_t(i)), w(worker), index(i), spec(s) {
    connect_packet = "40{\"token\":\"" + spec.token + "\"}";
  }

  bool ready() const { return ready_ && !closed(); }

  void on_open(std::string_view) override { send_text(connect_packet); }
  void on_ping() override { w->pings.add(); }
  void on_unexpected() override { w->unexpected.add(); }

  void on_closed(bool started, const std::string& what) override {
    if (g->closing.load()) return;
    const std::string who =
        std::string(spec.sender ? "sender" : "receiver") + " socket " + std::to_string(index);
    if (ready_) {
      w->disconnects.add();
      g->errors.note(who + " lost: " + what);
    } else if (started) {
      g->errors.note(who + " failed: " + what);
      g->failed.fetch_add(1);
      launch_next();
    }
  }

  void on_socketio(std::string_view m, int64_t t_recv) override {
    static constexpr std::string_view kNew = "42[\"message:new\",";
    if (m.compare(0, kNew.size(), kNew) == 0) return on_new(m.substr(kNew.size()), t_recv);
    switch (m[1]) {
      case '0':  // CONNECT accepted
        if (ready_) return fail("second CONNECT reply");
        if (m.find("\"sid\"") == std::string_view::npos) return fail("CONNECT reply without sid");
        ready_ = true;
        g->ready.fetch_add(1);
        launch_next();
        return;
      case '4':
        return fail("CONNECT refused by the server: " + std::string(m.substr(0, 300)));
      case '1':
        return fail("DISCONNECT from server");
      case '3':
        return on_ack(m, t_recv);
      case '2':
        if (m.compare(0, 11, "42[\"receipt") == 0) return w->receipts_received.add();
        w->unexpected.add();
        return;
      default:
        w->unexpected.add();  // other events (presence, receipts, ...): not measured
        return;
    }
  }

  void on_ack(std::string_view m, int64_t t_recv) {
    int64_t id = -1;
    const auto [p, ec] = std::from_chars(m.data() + 2, m.data() + m.size(), id);
    if (ec != std::errc() || id < 1 || id > n || acked_seq[size_t(id)] != 0) {
      g->errors.note("unexpected ack: " + std::string(m.substr(0, 200)));
      w->unexpected.add();
      return;
    }
    const std::string_view body(p, size_t(m.data() + m.size() - p));
    int64_t seq = -1;
    std::string problem;
    if (body.find("\"ok\":true") == std::string_view::npos) {
      if (body.find("\"code\":\"rate_limited\"") != std::string_view::npos ||
          body.find("\"code\":\"unavailable\"") != std::string_view::npos) {
        acked_seq[size_t(id)] = -2;
        w->rejected.add();
        w->acks.add();  // answered: the drain waits for it like for any ack
        return free_slot();
      }
      problem = "ack not ok";
    } else {
      const auto msg = body.find("\"message\":");
      seq = msg == std::string_view::npos ? -1 : int_after(body, "\"seq\":", msg);
      if (seq < 1)
        problem = "ack without a seq";
      else if (string_after(body, "\"chatId\":\"") != g->chats[size_t(spec.chat)].id)
        problem = "ack for another chat";
      else if (string_after(body, "\"clientMsgId\":\"") != client_msg_id(id))
        problem = "ack with another clientMsgId";
    }
    if (!problem.empty()) {
      acked_seq[size_t(id)] = -1;
      w->acks_failed.add();
      g->errors.note(problem + ": " + std::string(m.substr(0, 300)));
    } else {
      acked_seq[size_t(id)] = seq;
      w->expected.add(uint64_t(g->chats[size_t(spec.chat)].sockets - 1));
    }
    w->acks.add();
    if (g->in_window(t_recv)) w->window_acks.add();
    const int64_t t_sent = sent_at[size_t(id)];
    if (g->in_window(t_sent)) w->ack_hist.record(t_recv - t_sent);
    free_slot();
  }

  // An answered send (acked or rejected) makes room in the closed loop's window.
  void free_slot() {
    if (g->opt.mode == "throughput") {
      --in_flight;
      top_up();
    }
  }

  void on_new(std::string_view body, int64_t t_recv) {
    w->delivered.add();
    if (g->in_window(t_recv)) w->window_delivered.add();
    const auto it = g->chat_by_id.find(std::string(string_after(body, "\"chatId\":\"")));
    const int64_t seq = int_after(body, "\"seq\":");
    if (it == g->chat_by_id.end() || seq < 1) {
      ++unknown_chat;
      return;
    }
    seen[it->second].push_back(seq);
    if (it->second == spec.chat) newest_seen = std::max(newest_seen, seq);
    if (spec.sender) return;  // latency is measured at receivers
    // content: "t=<send ns> k=<socket> n=<n> ..."
    const int64_t t_sent = int_after(body, "\"content\":\"t=");
    if (t_sent >= 0 && g->in_window(t_sent)) w->deliver_hist.record(t_recv - t_sent);
  }

  // -- sending ----------------------------------------------------------------------------------
  std::string client_msg_id(int64_t k) const {
    return g->run_tag + "-" + std::to_string(index) + "-" + std::to_string(k);
  }

  void send_one(int64_t t) {
    ++n;
    char head[96];
    const int h =
        std::snprintf(head, sizeof head, "t=%lld k=%d n=%lld ", (long long)t, index, (long long)n);
    std::string content(head, size_t(h));
    static constexpr std::string_view kText =
        "lunch at noon? the usual place, bring the slides for the review and the coffee ";
    while (content.size() < size_t(g->opt.content_bytes)) content += kText;
    content.resize(size_t(g->opt.content_bytes));
    if (content.back() == ' ') content.back() = '.';
    std::string packet = "42" + std::to_string(n) + "[\"message:send\",{\"chatId\":\"" +
                         g->chats[size_t(spec.chat)].id + "\",\"clientMsgId\":\"" +
                         client_msg_id(n) + "\",\"content\":\"" + content + "\"}]";
    frame(0x1, packet);
    sent_at.push_back(t);
    acked_seq.push_back(0);
    w->sent.add();
    if (g->in_window(t)) w->window_sent.add();
  }

  void report_read() {
    if (!ready() || newest_seen <= newest_reported) return;
    newest_reported = newest_seen;
    send_text("42[\"message:read\",{\"chatId\":\"" + g->chats[size_t(spec.chat)].id +
              "\",\"seq\":" + std::to_string(newest_seen) + "}]");
    w->receipts_sent.add();
  }

  // Closed loop: back to W unacked sends, until the window ends.
  void top_up() {
    const int64_t t = now_ns();
    const int missing = g->opt.window - in_flight;
    if (missing <= 0 || !ready() || g->phases.over(t)) return;
    for (int i = 0; i < missing; ++i) send_one(t);
    in_flight = g->opt.window;
    flush();
  }
};

void launch_next() {
  start_next(g->next_to_start, g->socks);
}

// Open loop: every tick, each sender of this worker sends what its schedule says is due.
void tick(Worker* w) {
  const int64_t t = now_ns();
  if (g->phases.over(t)) return;
  const double per_sender = g->opt.rate / double(g->senders);
  const double elapsed = g->phases.seconds_since_start(t);
  for (Sock* s : w->senders) {
    if (!s->ready()) continue;
    const int64_t due = int64_t(std::floor(elapsed * per_sender + s->phase)) - s->n;
    for (int64_t i = 0; i < due; ++i) s->send_one(t);
    if (due > 0) s->flush();
  }
  w->tick->expires_at(at_ns(t + int64_t(g->opt.tick_us * 1000)));
  w->tick->async_wait([w](error_code ec) {
    if (!ec) tick(w);
  });
}

// Every receipts_ms / kReceiptRounds, one round's share of the worker's receivers report what they
// read: each receiver every receipts_ms, the reports spread over the period.
constexpr int kReceiptRounds = 8;
void receipts_tick(Worker* w, int64_t t) {
  if (g->phases.over(t)) return;
  const int round = w->receipts_round++ % kReceiptRounds;
  for (size_t i = size_t(round); i < w->receivers.size(); i += kReceiptRounds)
    w->receivers[i]->report_read();
  const int64_t next = t + int64_t(g->opt.receipts_ms * 1e6 / kReceiptRounds);
  w->receipts_tick->expires_at(at_ns(next));
  w->receipts_tick->async_wait([w, next](error_code ec) {
    if (!ec) receipts_tick(w, next);
  });
}

// On w's thread: its senders start at t0. Latency mode paces them from the worker's tick;
// throughput mode fills each one's window once, then sends one more per ack.
void start_sending(Worker* w, int64_t t0) {
  if (g->opt.receipts_ms > 0) {
    w->receipts_tick = std::make_unique<asio::steady_timer>(w->io, at_ns(t0));
    w->receipts_tick->async_wait([w, t0](error_code ec) {
      if (!ec) receipts_tick(w, t0);
    });
  }
  w->tick = std::make_unique<asio::steady_timer>(w->io, at_ns(t0));
  w->tick->async_wait([w](error_code ec) {
    if (ec) return;
    if (g->opt.mode == "latency") return tick(w);
    for (Sock* s : w->senders) s->top_up();
  });
}

// The workers' counters added up.
struct Totals {
  uint64_t sent = 0, window_sent = 0, acks = 0, window_acks = 0, failed = 0;
  uint64_t expected = 0, delivered = 0, disconnects = 0;
  uint64_t window_delivered = 0, rejected = 0, receipts_sent = 0, receipts_received = 0;
};
Totals totals() {
  Totals t;
  for (auto& w : g->workers) {
    t.sent += w->sent.get();
    t.window_sent += w->window_sent.get();
    t.acks += w->acks.get();
    t.window_acks += w->window_acks.get();
    t.failed += w->acks_failed.get();
    t.expected += w->expected.get();
    t.delivered += w->delivered.get();
    t.disconnects += w->disconnects.get();
    t.window_delivered += w->window_delivered.get();
    t.rejected += w->rejected.get();
    t.receipts_sent += w->receipts_sent.get();
    t.receipts_received += w->receipts_received.get();
  }
  return t;
}

void load_plan(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read the plan " + file);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string kind;
    ls >> kind;
    auto bad = [&] { die(file + ":" + std::to_string(lineno) + ": bad line: " + line); };
    if (kind == "chat") {
      size_t idx = 0;
      Chat c;
      if (!(ls >> idx >> c.id >> c.base) || idx != g->chats.size()) bad();
      g->chat_by_id[c.id] = int(idx);
      g->chats.push_back(c);
    } else if (kind == "sender" || kind == "receiver") {
      PlanSocket s;
      s.sender = kind == "sender";
      if (!(ls >> s.chat >> s.user_id >> s.token) || s.chat < 0 || s.chat >= int(g->chats.size()))
        bad();
      g->chats[size_t(s.chat)].sockets++;
      g->plan.push_back(s);
    } else {
      bad();
    }
  }
  if (g->plan.empty()) die("the plan " + file + " has no sockets");
  for (auto& s : g->plan) g->senders += s.sender ? 1 : 0;
  if (g->senders == 0) die("the plan " + file + " has no senders");
}

struct Checks {
  uint64_t unacked = 0, seq_gaps = 0, seq_dups = 0, seq_base_errors = 0;
  uint64_t expected = 0, delivered_ok = 0, missing = 0, dups = 0, reordered = 0, unknown = 0;
};

// After the workers stopped: acks against seqs, deliveries against acks.
Checks check() {
  Checks r;
  const size_t nchats = g->chats.size();
  std::vector<std::vector<int64_t>> acked(nchats);         // per chat, every acked seq
  std::vector<std::vector<int64_t>> own(g->socks.size());  // per socket, its acked seqs
  for (auto& sp : g->socks) {
    Sock& s = *sp;
    for (int64_t k = 1; k <= s.n; ++k) {
      const int64_t q = s.acked_seq[size_t(k)];
      if (q == 0) ++r.unacked;
      if (q > 0) {
        acked[size_t(s.spec.chat)].push_back(q);
        own[size_t(s.index)].push_back(q);
      }
    }
  }
  for (size_t c = 0; c < nchats; ++c) {
    auto& v = acked[c];
    std::sort(v.begin(), v.end());
    if (!v.empty() && v.front() != g->chats[c].base + 1) ++r.seq_base_errors;
    for (size_t i = 1; i < v.size(); ++i) {
      if (v[i] == v[i - 1])
        ++r.seq_dups;
      else if (v[i] > v[i - 1] + 1)
        r.seq_gaps += uint64_t(v[i] - v[i - 1] - 1);
    }
  }
  for (auto& sp : g->socks) {
    Sock& s = *sp;
    r.unknown += s.unknown_chat;
    for (auto& [c, got] : s.seen)
      if (c != s.spec.chat) r.unknown += got.size();  // a chat this socket was not planned for
    auto got = s.seen[s.spec.chat];
    for (size_t i = 1; i < got.size(); ++i)
      if (got[i] < got[i - 1]) ++r.reordered;
    std::sort(got.begin(), got.end());
    auto& mine = own[size_t(s.index)];
    std::sort(mine.begin(), mine.end());
    // want = acked seqs of the chat minus this socket's own.
    std::vector<int64_t> want;
    std::set_difference(acked[size_t(s.spec.chat)].begin(), acked[size_t(s.spec.chat)].end(),
                        mine.begin(), mine.end(), std::back_inserter(want));
    r.expected += want.size();
    size_t i = 0, j = 0;
    while (i < want.size() || j < got.size()) {
      if (j < got.size() && j > 0 && got[j] == got[j - 1]) {
        ++r.dups;
        ++j;
      } else if (j >= got.size() || (i < want.size() && want[i] < got[j])) {
        ++r.missing;
        ++i;
      } else if (i >= want.size() || got[j] < want[i]) {
        ++r.unknown;  // a message:new for a seq that was never acked to us
        ++j;
      } else {
        ++r.delivered_ok;
        ++i;
        ++j;
      }
    }
  }
  return r;
}

int run() {
  const Options& o = g->opt;
  // Workers and sockets: sockets round-robin over the workers.
  for (int i = 0; i < o.threads; ++i) g->workers.push_back(std::make_unique<Worker>());
  for (size_t i = 0; i < g->plan.size(); ++i) {
    Worker* w = g->workers[i % size_t(o.threads)].get();
    g->socks.push_back(std::make_unique<Sock>(w, int(i), g->plan[i]));
    (g->plan[i].sender ? w->senders : w->receivers).push_back(g->socks.back().get());
  }
  {
    int k = 0;
    for (auto& s : g->socks)
      if (s->spec.sender) s->phase = double(k++) / double(g->senders);
  }
  for (auto& w : g->workers) w->start();

  const int total_socks = int(g->socks.size());
  const int64_t t_connect0 = now_ns();
  const int first = std::min(o.connect_concurrency, total_socks);
  for (int i = 0; i < first; ++i) launch_next();
  if (!wait_connected(g->ready, g->failed, total_socks, o.connect_timeout)) {
    std::string err = g->errors.get();
    if (err.empty()) err = "connect phase timed out";
    std::fprintf(stderr, "send_load: error: not every socket connected (%d of %d ready): %s\n",
                 g->ready.load(), total_socks, err.c_str());
    std::printf("RESULT mode=%s ok=0 error=connect ready=%d failed=%d sockets=%d\n", o.mode.c_str(),
                g->ready.load(), g->failed.load(), total_socks);
    exit_now(1);
  }
  std::fprintf(stderr, "send_load: %d sockets (%d senders) in %zu chats connected in %.2f s\n",
               total_socks, g->senders, g->chats.size(), double(now_ns() - t_connect0) / 1e9);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const int64_t t0 = g->phases.plan(o.warmup, o.seconds);
  for (auto& w : g->workers) asio::post(w->io, [wp = w.get(), t0] { start_sending(wp, t0); });
  // Kernel time beside the server's is mostly I/O and loopback TCP done for this benchmark, so
  // the user-mode figure (other_user_cores) is the disturbance check.
  const CpuWindow cpu = g->phases.measure(o.server_pid);
  const double window_s = g->phases.window_seconds();

  // Drain: every send acked and every delivery in, while they keep coming.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  wait_while_progressing(
      [] {
        const Totals t = totals();
        return t.disconnects > 0 || (t.acks == t.sent && t.delivered >= t.expected);
      },
      [] {
        const Totals t = totals();
        return t.acks + t.delivered;
      },
      o.drain);
  // Deliveries still in the kernel's buffers when the last ack came: a moment more.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double drained_after = double(now_ns() - g->phases.window_end.load()) / 1e9;

  g->closing = true;
  abort_all(g->workers, g->socks, [](Worker& w) {
    if (w.tick) w.tick->cancel();
    if (w.receipts_tick) w.receipts_tick->cancel();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop_loops(g->workers);

  Histogram ack_hist, deliver_hist;
  for (auto& w : g->workers) {
    ack_hist.merge(w->ack_hist);
    deliver_hist.merge(w->deliver_hist);
  }
  const Checks k = check();
  const Totals n = totals();
  const uint64_t sent = n.sent, window_sent = n.window_sent, acks = n.acks;
  const uint64_t window_acks = n.window_acks, failed = n.failed, delivered = n.delivered;
  const uint64_t disconnects = n.disconnects;
  const double acked_per_s = double(window_acks) / window_s;
  const double server_cpu = cpu.server;
  const double us_per_send =
      server_cpu >= 0 && window_acks ? server_cpu * 1e6 / double(window_acks) : -1.0;
  const bool ok = failed == 0 && k.unacked == 0 && k.seq_gaps == 0 && k.seq_dups == 0 &&
                  k.seq_base_errors == 0 && k.missing == 0 && k.dups == 0 && k.unknown == 0 &&
                  disconnects == 0 && acks > 0;
  const double us = 1e-3;
  std::fprintf(
      stderr,
      "send_load: %s: %.0f acked sends/s (%llu acks in %.1f s; %.0f sends/s made); ack latency "
      "p50 %.0f us p99 %.0f us max %.0f us; send-to-deliver p50 %.0f us p99 %.0f us max %.0f us "
      "(%llu samples); acks failed %llu, unacked %llu; seq gaps %llu, dups %llu, wrong start %llu; "
      "deliveries %llu of %llu (missing %llu, dup %llu, out of order %llu, unknown %llu); "
      "disconnects %llu; server CPU %.2f s = %.1f us/send; generator %.2f cores; other %.2f "
      "cores (user mode %.2f)\n",
      o.mode == "latency" ? ("open loop " + fmt(o.rate, 0) + " sends/s").c_str()
                          : ("closed loop window " + std::to_string(o.window)).c_str(),
      acked_per_s, (unsigned long long)window_acks, window_s, double(window_sent) / window_s,
      double(ack_hist.percentile(50)) * us, double(ack_hist.percentile(99)) * us,
      double(ack_hist.max) * us, double(deliver_hist.percentile(50)) * us,
      double(deliver_hist.percentile(99)) * us, double(deliver_hist.max) * us,
      (unsigned long long)deliver_hist.total, (unsigned long long)failed,
      (unsigned long long)k.unacked, (unsigned long long)k.seq_gaps, (unsigned long long)k.seq_dups,
      (unsigned long long)k.seq_base_errors, (unsigned long long)k.delivered_ok,
      (unsigned long long)k.expected, (unsigned long long)k.missing, (unsigned long long)k.dups,
      (unsigned long long)k.reordered, (unsigned long long)k.unknown,
      (unsigned long long)disconnects, server_cpu, us_per_send, cpu.self / window_s,
      cpu.other_cores, cpu.other_user_cores);
  if (const std::string e = g->errors.get(); !e.empty())
    std::fprintf(stderr, "send_load: first error: %s\n", e.c_str());
  std::printf(
      "RESULT mode=%s ok=%d sockets=%zu senders=%d chats=%zu window=%d rate=%s seconds=%s "
      "acked_per_s=%.1f sent_per_s=%.1f sent=%llu acks=%llu acks_failed=%llu unacked=%llu "
      "seq_gaps=%llu seq_dups=%llu seq_base_errors=%llu ack_p50_us=%.1f ack_p99_us=%.1f "
      "ack_max_us=%.1f deliver_p50_us=%.1f deliver_p99_us=%.1f deliver_p999_us=%.1f "
      "deliver_max_us=%.1f deliver_samples=%llu deliveries=%llu expected_deliveries=%llu "
      "delivered_ok=%llu missing=%llu dup_deliveries=%llu reordered=%llu unknown_deliveries=%llu "
      "disconnects=%llu drain_s=%.2f server_cpu_s=%.3f server_cores=%.3f server_us_per_send=%.2f "
      "gen_cores=%.3f other_cores=%.3f other_user_cores=%.3f",
      o.mode.c_str(), ok ? 1 : 0, g->socks.size(), g->senders, g->chats.size(), o.window,
      fmt(o.rate, 0).c_str(), fmt(window_s, 2).c_str(), acked_per_s, double(window_sent) / window_s,
      (unsigned long long)sent, (unsigned long long)acks, (unsigned long long)failed,
      (unsigned long long)k.unacked, (unsigned long long)k.seq_gaps, (unsigned long long)k.seq_dups,
      (unsigned long long)k.seq_base_errors, double(ack_hist.percentile(50)) * us,
      double(ack_hist.percentile(99)) * us, double(ack_hist.max) * us,
      double(deliver_hist.percentile(50)) * us, double(deliver_hist.percentile(99)) * us,
      double(deliver_hist.percentile(99.9)) * us, double(deliver_hist.max) * us,
      (unsigned long long)deliver_hist.total, (unsigned long long)delivered,
      (unsigned long long)k.expected, (unsigned long long)k.delivered_ok,
      (unsigned long long)k.missing, (unsigned long long)k.dups, (unsigned long long)k.reordered,
      (unsigned long long)k.unknown, (unsigned long long)disconnects, drained_after, server_cpu,
      server_cpu >= 0 ? server_cpu / window_s : -1.0, us_per_send, cpu.self / window_s,
      cpu.other_cores, cpu.other_user_cores);
  // Fan-out figures: deliveries received in the window, the server's CPU per delivery, its memory.
  const double deliveries_per_s = double(n.window_delivered) / window_s;
  std::printf(
      " deliveries_per_s=%.1f server_us_per_delivery=%.3f rejected=%llu receipts_sent=%llu "
      "receipts_received=%llu server_rss_kb=%ld\n",
      deliveries_per_s,
      server_cpu >= 0 && n.window_delivered ? server_cpu * 1e6 / double(n.window_delivered) : -1.0,
      (unsigned long long)n.rejected, (unsigned long long)n.receipts_sent,
      (unsigned long long)n.receipts_received, read_rss_kb(o.server_pid));
  return ok ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  g_prog = "send_load";
  static Run r;
  g = &r;
  g->opt = parse_options(argc, argv);
  load_plan(g->opt.plan);
  {
    std::random_device rd;
    char tag[16];
    std::snprintf(tag, sizeof tag, "b%08x", unsigned(rd()));
    g->run_tag = tag;
  }
  raise_fd_limit(rlim_t(g->plan.size()) + 64, std::to_string(g->plan.size()) + " sockets");
  g->target = make_target(g->opt.host, g->opt.port, g->opt.path);
  exit_now(run());
}
