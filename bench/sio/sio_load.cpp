// sio_load: chatd's Socket.IO load generator (bench/sio/sio_bench.sh runs it).
//
// Speaks Engine.IO v4 / Socket.IO v5 directly over WebSocket
// (GET /socket.io/?EIO=4&transport=websocket): reads the open packet `0{...}`, sends `40`, reads
// `40{"sid":...}`, answers every server ping `2` with `3` and every WebSocket ping with a pong.
//
//   sio_load fanout --url 127.0.0.1:3000 --clients 1000 --room-size 100 [--senders-per-room 1]
//                   [--rate R | --rate 0 --window W] [--seconds S] [--warmup S] [--drain S]
//                   [--threads N] [--connect-concurrency C] [--server-pid PID]
//       Client i joins room r<i/room-size> (`421["join","r<k>"]`, waits for `431[true]`). Once all
//       have joined, the first senders-per-room members of each room emit
//       `42["to-room","r<k>",{"t":<send ns>,"s":<seq>,"f":<sender slot>}]`, each at R messages/s
//       (open loop, paced by a timer, phases spread), or with --rate 0 as fast as possible with at
//       most W messages per sender not yet delivered to every other member of the room (closed
//       loop). Every other member gets `42["room-message",{...}]`; latency = receive - send
//       (steady clock, same process). Deliveries received during the measured window (after the
//       warm-up) give deliveries/s and the latency percentiles; after sending stops, the run waits
//       for the rest (while deliveries still progress; --drain s without any ends the wait), then
//       counts missing and duplicate/out-of-order deliveries.
//   sio_load idle --url 127.0.0.1:3000 --clients 10000 [--hold-seconds 5] [--server-pid PID]
//       Opens N Socket.IO connections (C handshakes in flight), prints "connected N", holds them
//       (answering pings) for the given time, then closes them.
//
// With --server-pid the generator itself samples the server: utime+stime from /proc/PID/stat at
// the edges of the measured window (CPU time per delivery), VmRSS from /proc/PID/status before
// connecting and while all N idle sockets are connected ((RSS delta) / N per socket).
// The last line on stdout is `RESULT key=value ...` for scripts.
//
// The WebSocket client (Asio TCP with a hand-written frame codec; bench/common/sio_client.h says
// why) and the statistics helpers are shared with bench/send/send_load.cpp.
//
// Build: g++ -O2 -std=c++20 bench/sio/sio_load.cpp -o sio_load -pthread

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../common/sio_client.h"

using namespace bench;  // NOLINT(google-build-using-namespace): the shared generator helpers

namespace {

// ------------------------------------------------------------------------------------------------
struct Config {
  std::string mode;
  std::string host = "127.0.0.1";
  std::string port = "3000";
  std::string path = "/socket.io/?EIO=4&transport=websocket";
  int clients = 1000;
  int room_size = 100;
  int senders_per_room = 1;
  double rate = 100;  // messages/s per sender; 0: closed loop
  int window = 16;    // closed loop: messages per sender not yet delivered to the whole room
  double seconds = 10;
  double warmup = 1;
  double drain = 5;
  double hold_seconds = 5;
  double settle = 1;  // idle: wait after the last connect before sampling RSS
  int threads = 1;
  int connect_concurrency = 200;
  double connect_timeout = 120;  // whole connect phase
  double tick_us = 1000;
  int server_pid = 0;
  int payload_pad = 0;  // extra bytes in each message ("p":"xxx...")
};

void usage() {
  std::fprintf(stderr,
               "usage: sio_load fanout|idle --url HOST:PORT [--clients N] [--room-size N]\n"
               "       [--senders-per-room N] [--rate R (0: closed loop)] [--window W]\n"
               "       [--seconds S] [--warmup S] [--drain S] [--hold-seconds S] [--settle S]\n"
               "       [--threads N] [--connect-concurrency C] [--connect-timeout S]\n"
               "       [--tick-us US] [--payload-pad BYTES] [--server-pid PID] [--path P]\n");
}

Config parse_args(int argc, char** argv) {
  Config c;
  if (argc < 2) {
    usage();
    std::exit(2);
  }
  c.mode = argv[1];
  if (c.mode == "-h" || c.mode == "--help") {
    usage();
    std::exit(0);
  }
  if (c.mode != "fanout" && c.mode != "idle") {
    usage();
    die("unknown mode " + c.mode);
  }
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) die("missing value for " + k);
    std::string v = argv[++i];
    auto num = [&]() { return parse_number(k, v); };
    if (k == "--url")
      split_url(v, c.host, c.port);
    else if (k == "--path")
      c.path = v;
    else if (k == "--clients")
      c.clients = int(num());
    else if (k == "--room-size")
      c.room_size = int(num());
    else if (k == "--senders-per-room")
      c.senders_per_room = int(num());
    else if (k == "--rate")
      c.rate = num();
    else if (k == "--window")
      c.window = int(num());
    else if (k == "--seconds")
      c.seconds = num();
    else if (k == "--warmup")
      c.warmup = num();
    else if (k == "--drain")
      c.drain = num();
    else if (k == "--hold-seconds")
      c.hold_seconds = num();
    else if (k == "--settle")
      c.settle = num();
    else if (k == "--threads")
      c.threads = int(num());
    else if (k == "--connect-concurrency")
      c.connect_concurrency = int(num());
    else if (k == "--connect-timeout")
      c.connect_timeout = num();
    else if (k == "--tick-us")
      c.tick_us = num();
    else if (k == "--server-pid")
      c.server_pid = int(num());
    else if (k == "--payload-pad")
      c.payload_pad = int(num());
    else
      die("unknown option " + k);
  }
  if (c.clients < 1 || c.threads < 1 || c.connect_concurrency < 1) die("bad sizes");
  if (c.mode == "fanout") {
    if (c.room_size < 2) die("--room-size must be >= 2");
    if (c.senders_per_room < 1 || c.senders_per_room >= c.room_size)
      die("--senders-per-room must be in [1, room-size)");
    if (c.rate < 0 || c.window < 1 || c.seconds <= 0) die("bad rate/window/seconds");
  }
  return c;
}

// ------------------------------------------------------------------------------------------------
struct Conn;

struct Worker : Loop {
  std::vector<Conn*> senders;  // this worker's senders (fan-out)
  std::unique_ptr<asio::steady_timer> tick;
  // Statistics, written by this worker's thread only.
  Histogram hist;
  Counter deliveries;         // every room-message received
  Counter window_deliveries;  // received inside the measured window
  Counter in_order;           // seq above the last one seen from that sender
  Counter gaps;               // seqs skipped (missing in the middle)
  Counter dup_or_reorder;     // seq at or below the last one seen from that sender
  Counter unexpected;         // other packets (counted, ignored)
  Counter disconnects;        // connections lost after being ready
  Counter pings;              // Engine.IO pings answered
  Counter sent;               // to-room messages sent
  Counter window_sent;
};

struct Shared {
  Config cfg;
  Target target;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Conn>> conns;
  std::atomic<int> next_to_start{0};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  FirstError errors;
  // Fan-out plan.
  int rooms = 0;
  std::vector<std::vector<Conn*>> room_senders;  // per room, the senders by slot
  std::vector<int> room_members;
  // Phases (ns since epoch), fixed before sending starts.
  Phases phases;
  std::atomic<bool> sending{false};
  std::atomic<bool> closing{false};
};
Shared* g = nullptr;

void launch_next();

struct Conn : WsClient {
  // Socket.IO phase, once the WebSocket is open.
  enum class Phase { none, connected, joining, ready };
  Worker* w;
  int id;
  Phase phase_ = Phase::none;
  // Fan-out roles.
  int room = -1;
  int slot = -1;
  std::vector<int64_t> last_seq;  // per sender slot of the room
  // Sender state.
  int64_t seq = 0;
  int in_flight = 0;
  double phase = 0;
  std::unique_ptr<std::atomic<uint32_t>[]> receipts;  // closed loop: ring of W counters
  std::string room_name;

  Conn(Worker* worker, int i) : WsClient(worker->io, g->target, uint32_t(i)), w(worker), id(i) {}

  bool is_sender() const { return slot >= 0 && slot < g->cfg.senders_per_room; }
  bool ready() const { return phase_ == Phase::ready && !closed(); }

  void on_closed(bool started, const std::string& what) override {
    if (g->closing.load()) return;
    if (phase_ == Phase::ready) {
      w->disconnects.add();
      g->errors.note("connection " + std::to_string(id) + " lost: " + what);
    } else if (started) {
      g->errors.note("connection " + std::to_string(id) + " failed: " + what);
      g->failed.fetch_add(1);
      launch_next();
    }
  }
  void on_ping() override { w->pings.add(); }
  void on_unexpected() override { w->unexpected.add(); }

  static int64_t field(std::string_view m, std::string_view key) {
    auto at = m.find(key);
    if (at == std::string_view::npos) return -1;
    const char* p = m.data() + at + key.size();
    int64_t v = -1;
    auto [ptr, ec] = std::from_chars(p, m.data() + m.size(), v);
    if (ec != std::errc()) return -1;
    return v;
  }

  void on_socketio(std::string_view m, int64_t t_recv) override {
    static constexpr std::string_view kRoomMsg = "42[\"room-message\",";
    if (m.size() > kRoomMsg.size() && m.compare(0, kRoomMsg.size(), kRoomMsg) == 0) {
      return on_room_message(m.substr(kRoomMsg.size()), t_recv);
    }
    switch (m[1]) {
      case '0':  // CONNECT ok
        if (phase_ != Phase::none) return fail("unexpected CONNECT reply");
        if (m.find("\"sid\"") == std::string_view::npos) return fail("CONNECT reply without sid");
        phase_ = Phase::connected;
        if (g->cfg.mode == "fanout") {
          phase_ = Phase::joining;
          send_text("421[\"join\",\"" + room_name + "\"]");
        } else {
          become_ready();
        }
        return;
      case '4':
        return fail("CONNECT refused: " + std::string(m));
      case '1':
        return fail("DISCONNECT from server");
      case '3':  // ACK
        if (phase_ == Phase::joining && m.substr(2) == "1[true]") {
          become_ready();
          return;
        }
        w->unexpected.add();
        return;
      default:
        w->unexpected.add();  // e.g. sio-conformance's "auth" event on connect
        return;
    }
  }

  void become_ready() {
    phase_ = Phase::ready;
    g->ready.fetch_add(1);
    launch_next();
  }

  void on_room_message(std::string_view body, int64_t t_recv) {
    const int64_t t = field(body, "\"t\":");
    const int64_t s = field(body, "\"s\":");
    const int64_t f = field(body, "\"f\":");
    if (t < 0 || s < 0 || f < 0 || f >= int64_t(last_seq.size())) {
      w->unexpected.add();
      return;
    }
    w->deliveries.add();
    if (g->phases.in_window(t_recv)) {
      w->window_deliveries.add();
      w->hist.record(t_recv - t);
    }
    int64_t& last = last_seq[size_t(f)];
    if (s > last) {
      if (s > last + 1) w->gaps.add(uint64_t(s - last - 1));
      last = s;
      w->in_order.add();
    } else {
      w->dup_or_reorder.add();
      return;
    }
    if (g->cfg.rate == 0) {  // closed loop: the sender learns when the room has it all
      Conn* sender = g->room_senders[size_t(room)][size_t(f)];
      auto& slot_count = sender->receipts[size_t(s) % size_t(g->cfg.window)];
      const uint32_t need = uint32_t(g->room_members[size_t(room)] - 1);
      if (slot_count.fetch_add(1, std::memory_order_acq_rel) + 1 == need) {
        slot_count.store(0, std::memory_order_relaxed);
        if (sender->w == w)
          sender->on_complete();
        else
          asio::post(sender->w->io, [sender] { sender->on_complete(); });
      }
    }
  }

  // -- sending ----------------------------------------------------------------------------------
  void send_one(int64_t t_now) {
    char buf[128];
    ++seq;
    const int n =
        std::snprintf(buf, sizeof buf, "42[\"to-room\",\"%s\",{\"t\":%lld,\"s\":%lld,\"f\":%d%s",
                      room_name.c_str(), (long long)t_now, (long long)seq, slot,
                      g->cfg.payload_pad > 0 ? "" : "}]");
    if (n <= 0 || n >= int(sizeof buf)) die("message too long");
    if (g->cfg.payload_pad > 0) {
      std::string msg(buf, size_t(n));
      msg += ",\"p\":\"";
      msg.append(size_t(g->cfg.payload_pad), 'x');
      msg += "\"}]";
      frame(0x1, msg);
    } else {
      frame(0x1, std::string_view(buf, size_t(n)));
    }
    w->sent.add();
    if (g->phases.in_window(t_now)) w->window_sent.add();
  }
  void on_complete() {
    --in_flight;
    fill_window();
  }
  void fill_window() {
    if (!ready()) return;
    const int64_t t = now_ns();
    if (g->phases.over(t)) return;
    bool any = false;
    while (in_flight < g->cfg.window) {
      send_one(t);
      ++in_flight;
      any = true;
    }
    if (any) flush();
  }
};

void launch_next() {
  start_next(g->next_to_start, g->conns);
}

// Open-loop pacing: every tick, each sender of this worker sends what its schedule says is due.
void tick(Worker* w) {
  const int64_t t = now_ns();
  if (g->phases.over(t)) return;
  const double elapsed = g->phases.seconds_since_start(t);
  for (Conn* c : w->senders) {
    if (!c->ready()) continue;
    const int64_t due = int64_t(std::floor(elapsed * g->cfg.rate + c->phase)) - c->seq;
    for (int64_t i = 0; i < due; ++i) c->send_one(t);
    if (due > 0) c->flush();
  }
  w->tick->expires_at(g_epoch + std::chrono::nanoseconds(t) +
                      std::chrono::nanoseconds(int64_t(g->cfg.tick_us * 1000)));
  w->tick->async_wait([w](error_code ec) {
    if (!ec) tick(w);
  });
}

void close_all() {
  g->closing = true;
  abort_all(g->workers, g->conns, [](Worker& w) {
    if (w.tick) w.tick->cancel();
  });
}

void stop_workers() {
  stop_loops(g->workers);
}

template <class F>
uint64_t sum(F f) {
  return sum_over(g->workers, f);
}

// Connects everything (up to connect_concurrency handshakes in flight); returns when all are ready
// or failed, or on timeout.
bool connect_all() {
  const Config& c = g->cfg;
  const int first = std::min(c.connect_concurrency, c.clients);
  for (int i = 0; i < first; ++i) launch_next();
  return wait_connected(g->ready, g->failed, c.clients, c.connect_timeout);
}

int run_fanout() {
  const Config& c = g->cfg;
  // Rooms: client i in room i / room_size; its slot is i % room_size.
  g->rooms = (c.clients + c.room_size - 1) / c.room_size;
  g->room_senders.assign(size_t(g->rooms), std::vector<Conn*>(size_t(c.senders_per_room), nullptr));
  g->room_members.assign(size_t(g->rooms), 0);
  int total_senders = 0;
  for (auto& cp : g->conns) {
    Conn& conn = *cp;
    conn.room = conn.id / c.room_size;
    conn.slot = conn.id % c.room_size;
    conn.room_name = "r" + std::to_string(conn.room);
    conn.last_seq.assign(size_t(c.senders_per_room), 0);
    g->room_members[size_t(conn.room)]++;
  }
  for (auto& cp : g->conns) {
    Conn& conn = *cp;
    if (conn.is_sender() && g->room_members[size_t(conn.room)] >= 2) {
      g->room_senders[size_t(conn.room)][size_t(conn.slot)] = &conn;
      conn.w->senders.push_back(&conn);
      conn.receipts = std::make_unique<std::atomic<uint32_t>[]>(size_t(c.window));
      for (int i = 0; i < c.window; ++i) conn.receipts[size_t(i)] = 0;
      ++total_senders;
    }
  }
  if (total_senders == 0) die("no room has two members");
  {
    int k = 0;
    for (auto& cp : g->conns)
      if (cp->is_sender()) cp->phase = double(k++) / double(total_senders);
  }

  const int64_t t_connect0 = now_ns();
  if (!connect_all()) {
    std::fprintf(stderr, "sio_load: not every client connected and joined: %s\n",
                 g->errors.get().c_str());
    std::printf("RESULT mode=fanout ok=0 error=connect ready=%d failed=%d\n", g->ready.load(),
                g->failed.load());
    return 1;
  }
  std::fprintf(stderr, "sio_load: %d clients connected and joined %d rooms in %.2f s\n", c.clients,
               g->rooms, double(now_ns() - t_connect0) / 1e9);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let join acks/auth settle

  const int64_t t0 = g->phases.plan(c.warmup, c.seconds);
  for (auto& wp : g->workers) {
    Worker* w = wp.get();
    asio::post(w->io, [w, t0] {
      if (g->cfg.rate > 0) {
        w->tick = std::make_unique<asio::steady_timer>(w->io);
        w->tick->expires_at(g_epoch + std::chrono::nanoseconds(t0));
        w->tick->async_wait([w](error_code ec) {
          if (!ec) tick(w);
        });
      } else {
        auto timer = std::make_shared<asio::steady_timer>(w->io);
        timer->expires_at(g_epoch + std::chrono::nanoseconds(t0));
        timer->async_wait([w, timer](error_code ec) {
          if (ec) return;
          for (Conn* s : w->senders) s->fill_window();
        });
      }
    });
  }
  const CpuWindow cpu = g->phases.measure(c.server_pid);
  const double window_s = g->phases.window_seconds();

  // Drain: wait until every sent message reached every other member, or the drain time passes.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // senders see the end of the window
  const uint64_t total_sent = sum([](Worker& w) { return w.sent.get(); });
  uint64_t expected = 0;
  for (auto& cp : g->conns)
    if (cp->is_sender() && g->room_members[size_t(cp->room)] >= 2)
      expected += uint64_t(cp->seq) * uint64_t(g->room_members[size_t(cp->room)] - 1);
  // An overloaded server (open loop above its capacity) may still be working through a backlog:
  // keep waiting while deliveries progress, and give up after --drain seconds without any (or
  // after 120 s in all).
  wait_while_progressing(
      [expected] {
        return sum([](Worker& w) { return w.in_order.get(); }) >= expected ||
               sum([](Worker& w) { return w.disconnects.get(); }) > 0;
      },
      [] { return sum([](Worker& w) { return w.in_order.get(); }); }, c.drain);
  const double drained_after = double(now_ns() - g->phases.window_end.load()) / 1e9;

  close_all();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop_workers();

  Histogram hist;
  for (auto& w : g->workers) hist.merge(w->hist);
  const uint64_t window_deliveries = sum([](Worker& w) { return w.window_deliveries.get(); });
  const uint64_t window_sent = sum([](Worker& w) { return w.window_sent.get(); });
  const uint64_t in_order = sum([](Worker& w) { return w.in_order.get(); });
  const uint64_t deliveries = sum([](Worker& w) { return w.deliveries.get(); });
  const uint64_t dups = sum([](Worker& w) { return w.dup_or_reorder.get(); });
  const uint64_t gaps = sum([](Worker& w) { return w.gaps.get(); });
  const uint64_t disconnects = sum([](Worker& w) { return w.disconnects.get(); });
  const uint64_t missing = expected > in_order ? expected - in_order : 0;
  const double dps = double(window_deliveries) / window_s;
  const double server_cpu = cpu.server;
  const double us = 1e-3;
  // CPU used during the window by everything except the server and this generator.
  const double other_cores = cpu.other_cores;

  std::fprintf(
      stderr,
      "sio_load: fanout %s: %.0f deliveries/s (%llu in %.1f s; %.0f msgs/s sent), latency "
      "p50 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us; missing %llu (gaps %llu), "
      "dup/reorder %llu, disconnects %llu; server CPU %.2f s = %.2f us/delivery; "
      "generator CPU %.2f s; other processes %.2f cores\n",
      c.rate > 0 ? ("open loop " + fmt(c.rate, 0) + " msg/s per sender").c_str()
                 : ("closed loop window " + std::to_string(c.window)).c_str(),
      dps, (unsigned long long)window_deliveries, window_s, double(window_sent) / window_s,
      double(hist.percentile(50)) * us, double(hist.percentile(99)) * us,
      double(hist.percentile(99.9)) * us, double(hist.max) * us, (unsigned long long)missing,
      (unsigned long long)gaps, (unsigned long long)dups, (unsigned long long)disconnects,
      server_cpu,
      server_cpu >= 0 && window_deliveries ? server_cpu * 1e6 / double(window_deliveries) : -1.0,
      cpu.self, other_cores);
  if (!g->errors.get().empty())
    std::fprintf(stderr, "sio_load: first error: %s\n", g->errors.get().c_str());
  const bool ok = missing == 0 && dups == 0 && disconnects == 0;
  std::printf(
      "RESULT mode=fanout ok=%d clients=%d room_size=%d rooms=%d senders=%d rate=%s window=%d "
      "seconds=%s deliveries_per_s=%.0f sent_per_s=%.0f window_deliveries=%llu deliveries=%llu "
      "sent=%llu expected=%llu missing=%llu gaps=%llu dup_or_reorder=%llu disconnects=%llu "
      "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f drain_s=%.2f server_cpu_s=%.3f "
      "server_cores=%.3f server_us_per_delivery=%.4f gen_cpu_s=%.3f gen_cores=%.3f "
      "other_cores=%.3f\n",
      ok ? 1 : 0, c.clients, c.room_size, g->rooms, total_senders, fmt(c.rate, 0).c_str(), c.window,
      fmt(window_s, 2).c_str(), dps, double(window_sent) / window_s,
      (unsigned long long)window_deliveries, (unsigned long long)deliveries,
      (unsigned long long)total_sent, (unsigned long long)expected, (unsigned long long)missing,
      (unsigned long long)gaps, (unsigned long long)dups, (unsigned long long)disconnects,
      double(hist.percentile(50)) * us, double(hist.percentile(99)) * us,
      double(hist.percentile(99.9)) * us, double(hist.max) * us, drained_after, server_cpu,
      server_cpu >= 0 ? server_cpu / window_s : -1.0,
      server_cpu >= 0 && window_deliveries ? server_cpu * 1e6 / double(window_deliveries) : -1.0,
      cpu.self, cpu.self / window_s, other_cores);
  std::fflush(stdout);
  return ok ? 0 : 3;
}

int run_idle() {
  const Config& c = g->cfg;
  const long rss0 = read_rss_kb(c.server_pid);
  const int64_t t_connect0 = now_ns();
  const bool all = connect_all();
  const double connect_s = double(now_ns() - t_connect0) / 1e9;
  const int n = g->ready.load();
  std::printf("connected %d\n", n);
  std::fflush(stdout);
  std::fprintf(stderr, "sio_load: %d of %d connected in %.2f s%s%s\n", n, c.clients, connect_s,
               all ? "" : "; first error: ", all ? "" : g->errors.get().c_str());
  std::this_thread::sleep_for(std::chrono::duration<double>(c.settle));
  const long rss1 = read_rss_kb(c.server_pid);
  long rss_max = rss1;
  const int64_t hold_end = now_ns() + int64_t(c.hold_seconds * 1e9);
  while (now_ns() < hold_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    rss_max = std::max(rss_max, read_rss_kb(c.server_pid));
  }
  const long rss2 = read_rss_kb(c.server_pid);
  const uint64_t lost = sum([](Worker& w) { return w.disconnects.get(); });
  const uint64_t pings = sum([](Worker& w) { return w.pings.get(); });
  close_all();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop_workers();
  const double per = (rss0 >= 0 && n > 0) ? double(rss2 - rss0) * 1024.0 / n : -1;
  const double per_max = (rss0 >= 0 && n > 0) ? double(rss_max - rss0) * 1024.0 / n : -1;
  if (c.server_pid > 0)
    std::fprintf(
        stderr,
        "sio_load: idle: server RSS %ld kB before, %ld kB connected, %ld kB at end of hold "
        "(max %ld kB): %.0f bytes per socket (max %.0f)\n",
        rss0, rss1, rss2, rss_max, per, per_max);
  const bool ok = all && lost == 0 && n == c.clients;
  if (lost)
    std::fprintf(stderr, "sio_load: %llu connections lost during the hold: %s\n",
                 (unsigned long long)lost, g->errors.get().c_str());
  std::printf(
      "RESULT mode=idle ok=%d clients=%d connected=%d lost=%llu pings=%llu connect_s=%.2f "
      "rss_before_kb=%ld rss_connected_kb=%ld rss_end_kb=%ld rss_max_kb=%ld bytes_per_socket=%.0f "
      "bytes_per_socket_max=%.0f\n",
      ok ? 1 : 0, c.clients, n, (unsigned long long)lost, (unsigned long long)pings, connect_s,
      rss0, rss1, rss2, rss_max, per, per_max);
  std::fflush(stdout);
  return ok ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  g_epoch = Clock::now();
  g_prog = "sio_load";
  static Shared shared;
  g = &shared;
  g->cfg = parse_args(argc, argv);
  const Config& c = g->cfg;

  // Raise the soft fd limit to the hard one.
  raise_fd_limit(rlim_t(c.clients) + 64, "--clients " + std::to_string(c.clients));
  g->target = make_target(c.host, c.port, c.path);

  for (int i = 0; i < c.threads; ++i) g->workers.push_back(std::make_unique<Worker>());
  g->conns.reserve(size_t(c.clients));
  for (int i = 0; i < c.clients; ++i)
    g->conns.push_back(std::make_unique<Conn>(g->workers[size_t(i % c.threads)].get(), i));
  for (auto& w : g->workers) w->start();

  exit_now(c.mode == "fanout" ? run_fanout() : run_idle());
}
