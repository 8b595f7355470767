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
// Why hand-written WebSocket framing (Asio TCP + a 40-line frame codec) rather than
// beast::websocket::stream: on the 2-core benchmark box the generator gets one core and must read
// far more frames per second than the server writes per core; Beast's stream completes each
// frame through its own handler dispatch, this parses every frame of one read_some in place.
// Client frames are masked (RFC 6455 5.3); server frames are checked for FIN/opcode; pings,
// close frames and fragmented messages are handled.
//
// Build: g++ -O2 -std=c++20 bench/sio/sio_load.cpp -o sio_load -pthread

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// ------------------------------------------------------------------------------------------------
// Time: nanoseconds of the steady clock since the generator started (fits a JS number for years).
Clock::time_point g_epoch;
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - g_epoch).count();
}
void sleep_until_ns(int64_t t) {
  std::this_thread::sleep_until(g_epoch + std::chrono::nanoseconds(t));
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sio_load: error: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// ------------------------------------------------------------------------------------------------
// Log-linear latency histogram: 128 sub-buckets per power of two (< 1% relative error).
struct Histogram {
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = 1u << kSubBits;
  std::vector<uint64_t> counts = std::vector<uint64_t>(64 * kSub, 0);
  uint64_t total = 0;
  int64_t max = 0;

  static size_t index(uint64_t v) {
    if (v < kSub) return v;
    const int e = 63 - __builtin_clzll(v);
    const int shift = e - kSubBits;
    return (shift + 1) * kSub + ((v >> shift) - kSub);
  }
  static uint64_t upper(size_t idx) {  // largest value of the bucket
    if (idx < kSub) return idx;
    const int shift = int(idx / kSub) - 1;
    const uint64_t off = idx % kSub;
    return ((kSub + off + 1) << shift) - 1;
  }
  void record(int64_t v) {
    if (v < 0) v = 0;
    ++counts[index(uint64_t(v))];
    ++total;
    if (v > max) max = v;
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += o.counts[i];
    total += o.total;
    max = std::max(max, o.max);
  }
  int64_t percentile(double p) const {
    if (total == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, uint64_t(std::ceil(p / 100.0 * double(total))));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      seen += counts[i];
      if (seen >= rank) return std::min<int64_t>(int64_t(upper(i)), max);
    }
    return max;
  }
};

// A counter written by one thread only and read by others: no locked instruction on the hot path.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

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
    auto num = [&]() {
      try {
        size_t used = 0;
        double d = std::stod(v, &used);
        if (used != v.size()) throw std::invalid_argument(v);
        return d;
      } catch (...) {
        die("bad number for " + k + ": " + v);
      }
    };
    if (k == "--url") {
      std::string u = v;
      if (u.rfind("http://", 0) == 0) u = u.substr(7);
      if (u.rfind("ws://", 0) == 0) u = u.substr(5);
      if (auto slash = u.find('/'); slash != std::string::npos) u = u.substr(0, slash);
      auto colon = u.rfind(':');
      if (colon == std::string::npos) die("--url wants host:port");
      c.host = u.substr(0, colon);
      c.port = u.substr(colon + 1);
    } else if (k == "--path")
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
// /proc readings of the server under test.
struct ProcCpu {
  double seconds = -1;  // utime + stime of all threads
};
ProcCpu read_cpu(int pid) {
  ProcCpu r;
  if (pid <= 0) return r;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return r;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  if (fields.size() < 13) return r;
  const double tck = double(sysconf(_SC_CLK_TCK));
  r.seconds = (std::stod(fields[11]) + std::stod(fields[12])) / tck;
  return r;
}
long read_rss_kb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}
// Busy time of the whole machine (user+nice+system+irq+softirq of every CPU), in seconds.
double machine_busy_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
  if (cpu != "cpu") return -1;
  return (user + nice + system + irq + softirq) / double(sysconf(_SC_CLK_TCK));
}
double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// ------------------------------------------------------------------------------------------------
struct Conn;

struct Worker {
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
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
  asio::ip::tcp::endpoint endpoint;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<Conn>> conns;
  std::atomic<int> next_to_start{0};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::mutex err_mu;
  std::string first_error;
  // Fan-out plan.
  int rooms = 0;
  std::vector<std::vector<Conn*>> room_senders;  // per room, the senders by slot
  std::vector<int> room_members;
  // Phases (ns since epoch), fixed before sending starts.
  std::atomic<int64_t> t_start{0}, t_window_start{0}, t_window_end{0};
  std::atomic<bool> sending{false};
  std::atomic<bool> closing{false};
  std::string upgrade_request;
  void note_error(const std::string& e) {
    std::lock_guard lk(err_mu);
    if (first_error.empty()) first_error = e;
  }
};
Shared* g = nullptr;

void launch_next();

struct Conn {
  enum class State { idle, connecting, upgrading, open, connected, joining, ready, closed };
  Worker* w;
  int id;
  tcp::socket sock;
  State state = State::idle;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::string out, inflight;
  bool writing = false;
  uint32_t mask;
  std::string frag;  // fragmented message being assembled
  bool frag_active = false;
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

  Conn(Worker* worker, int i) : w(worker), id(i), sock(worker->io), mask(0) {
    std::mt19937 rng(uint32_t(i) * 2654435761u + 12345u);
    mask = rng() | 1u;
  }

  bool is_sender() const { return slot >= 0 && slot < g->cfg.senders_per_room; }

  void fail(const std::string& what) {
    if (state == State::closed) return;
    const State prev = state;
    const bool was_ready = prev == State::ready;
    state = State::closed;
    error_code ignored;
    sock.close(ignored);
    if (g->closing.load()) return;
    if (was_ready) {
      w->disconnects.add();
      g->note_error("connection " + std::to_string(id) + " lost: " + what);
    } else if (prev != State::idle) {
      g->note_error("connection " + std::to_string(id) + " failed: " + what);
      g->failed.fetch_add(1);
      launch_next();
    }
  }

  void start() {
    state = State::connecting;
    rbuf.resize(4096);
    sock.async_connect(g->endpoint, [this](error_code ec) {
      if (ec) return fail("connect: " + ec.message());
      error_code ig;
      sock.set_option(tcp::no_delay(true), ig);
      state = State::upgrading;
      out = g->upgrade_request;
      flush();
      do_read();
    });
  }

  // -- writing ----------------------------------------------------------------------------------
  void flush() {
    if (writing || out.empty() || state == State::closed) return;
    inflight.swap(out);
    out.clear();
    writing = true;
    asio::async_write(sock, asio::buffer(inflight), [this](error_code ec, size_t) {
      writing = false;
      inflight.clear();
      if (ec) return fail("write: " + ec.message());
      flush();
    });
  }
  void frame(uint8_t opcode, std::string_view payload) {
    const size_t n = payload.size();
    char hdr[14];
    size_t h = 0;
    hdr[h++] = char(0x80 | opcode);
    if (n < 126) {
      hdr[h++] = char(0x80 | n);
    } else if (n < 65536) {
      hdr[h++] = char(0x80 | 126);
      hdr[h++] = char(n >> 8);
      hdr[h++] = char(n);
    } else {
      hdr[h++] = char(0x80 | 127);
      for (int i = 7; i >= 0; --i) hdr[h++] = char(uint64_t(n) >> (8 * i));
    }
    uint8_t key[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8), uint8_t(mask)};
    std::memcpy(hdr + h, key, 4);
    h += 4;
    const size_t at = out.size();
    out.append(hdr, h);
    out.append(payload);
    char* p = out.data() + at + h;
    for (size_t i = 0; i < n; ++i) p[i] ^= char(key[i & 3]);
  }
  void send_text(std::string_view text) {
    frame(0x1, text);
    flush();
  }

  // -- reading ----------------------------------------------------------------------------------
  void do_read() {
    if (rbuf.size() - rlen < 2048) rbuf.resize(std::max(rbuf.size() * 2, rlen + 4096));
    sock.async_read_some(asio::buffer(rbuf.data() + rlen, rbuf.size() - rlen),
                         [this](error_code ec, size_t n) { on_read(ec, n); });
  }

  void on_read(error_code ec, size_t n) {
    if (state == State::closed) return;
    if (ec)
      return fail(ec == asio::error::eof ? std::string("closed by server")
                                         : "read: " + ec.message());
    rlen += n;
    size_t pos = 0;
    if (state == State::upgrading) {
      std::string_view all(rbuf.data(), rlen);
      auto end = all.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (rlen > 16384) return fail("HTTP upgrade response too large");
        return do_read();
      }
      if (all.substr(0, 12) != "HTTP/1.1 101")
        return fail("upgrade refused: " + std::string(all.substr(0, all.find('\r'))));
      pos = end + 4;
      state = State::open;
    }
    const int64_t t_recv = now_ns();
    const auto* u = reinterpret_cast<const uint8_t*>(rbuf.data());
    while (rlen - pos >= 2 && state != State::closed) {
      const uint8_t b0 = u[pos], b1 = u[pos + 1];
      const bool fin = b0 & 0x80;
      const uint8_t op = b0 & 0x0f;
      const bool masked = b1 & 0x80;
      uint64_t len = b1 & 0x7f;
      size_t hdr = 2;
      if (len == 126) {
        if (rlen - pos < 4) break;
        len = (uint64_t(u[pos + 2]) << 8) | u[pos + 3];
        hdr = 4;
      } else if (len == 127) {
        if (rlen - pos < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | u[pos + 2 + i];
        hdr = 10;
      }
      if (b0 & 0x70) return fail("RSV bits set in a server frame");
      if (masked) return fail("masked server frame");
      if (len > (64u << 20)) return fail("oversized frame");
      if (rlen - pos < hdr + len) {
        if (hdr + len > rbuf.size()) rbuf.resize(hdr + len + 4096);
        break;
      }
      std::string_view payload(rbuf.data() + pos + hdr, size_t(len));
      pos += hdr + size_t(len);
      on_frame(fin, op, payload, t_recv);
    }
    if (state == State::closed) return;
    if (pos > 0) {
      if (pos < rlen) std::memmove(rbuf.data(), rbuf.data() + pos, rlen - pos);
      rlen -= pos;
    }
    do_read();
  }

  void on_frame(bool fin, uint8_t op, std::string_view payload, int64_t t_recv) {
    switch (op) {
      case 0x0:  // continuation
        if (!frag_active) return fail("unexpected continuation frame");
        frag.append(payload);
        if (fin) {
          frag_active = false;
          std::string whole;
          whole.swap(frag);
          on_message(whole, t_recv);
        }
        return;
      case 0x1:
      case 0x2:
        if (frag_active) return fail("new message inside a fragmented one");
        if (!fin) {
          frag_active = true;
          frag.assign(payload);
          return;
        }
        if (op == 0x2) {  // binary: not used by this benchmark
          w->unexpected.add();
          return;
        }
        return on_message(payload, t_recv);
      case 0x8:
        if (!fin) return fail("fragmented close frame");
        frame(0x8, payload.substr(0, std::min<size_t>(payload.size(), 2)));
        flush();
        return fail("close frame from server");
      case 0x9:
        frame(0xA, payload);
        flush();
        return;
      case 0xA:
        return;
      default:
        return fail("bad opcode " + std::to_string(op));
    }
  }

  static int64_t field(std::string_view m, std::string_view key) {
    auto at = m.find(key);
    if (at == std::string_view::npos) return -1;
    const char* p = m.data() + at + key.size();
    int64_t v = -1;
    auto [ptr, ec] = std::from_chars(p, m.data() + m.size(), v);
    if (ec != std::errc()) return -1;
    return v;
  }

  void on_message(std::string_view m, int64_t t_recv) {
    if (m.empty()) return fail("empty Engine.IO packet");
    static constexpr std::string_view kRoomMsg = "42[\"room-message\",";
    if (m.size() > kRoomMsg.size() && m.compare(0, kRoomMsg.size(), kRoomMsg) == 0) {
      return on_room_message(m.substr(kRoomMsg.size()), t_recv);
    }
    switch (m[0]) {
      case '0':  // Engine.IO open
        if (state != State::open) return fail("second open packet");
        send_text("40");
        return;
      case '2':  // ping
        w->pings.add();
        if (m.size() == 1)
          send_text("3");
        else {
          std::string pong(m);
          pong[0] = '3';
          send_text(pong);
        }
        return;
      case '1':
        return fail("Engine.IO close packet");
      case '6':
        return;
      case '4':
        break;
      default:
        w->unexpected.add();
        return;
    }
    if (m.size() < 2) return fail("short Socket.IO packet");
    switch (m[1]) {
      case '0':  // CONNECT ok
        if (state != State::open) return fail("unexpected CONNECT reply");
        if (m.find("\"sid\"") == std::string_view::npos) return fail("CONNECT reply without sid");
        state = State::connected;
        if (g->cfg.mode == "fanout") {
          state = State::joining;
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
        if (state == State::joining && m.substr(2) == "1[true]") {
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
    state = State::ready;
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
    if (t_recv >= g->t_window_start.load(std::memory_order_relaxed) &&
        t_recv < g->t_window_end.load(std::memory_order_relaxed)) {
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
    if (t_now >= g->t_window_start.load(std::memory_order_relaxed) &&
        t_now < g->t_window_end.load(std::memory_order_relaxed))
      w->window_sent.add();
  }
  void on_complete() {
    --in_flight;
    fill_window();
  }
  void fill_window() {
    if (state != State::ready) return;
    const int64_t t = now_ns();
    if (t >= g->t_window_end.load(std::memory_order_relaxed)) return;
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
  const int i = g->next_to_start.fetch_add(1);
  if (i >= int(g->conns.size())) return;
  Conn* c = g->conns[size_t(i)].get();
  asio::post(c->w->io, [c] { c->start(); });
}

// Open-loop pacing: every tick, each sender of this worker sends what its schedule says is due.
void tick(Worker* w) {
  const int64_t t = now_ns();
  const int64_t end = g->t_window_end.load(std::memory_order_relaxed);
  if (t >= end) return;
  const double elapsed = double(t - g->t_start.load(std::memory_order_relaxed)) / 1e9;
  for (Conn* c : w->senders) {
    if (c->state != Conn::State::ready) continue;
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
  for (auto& w : g->workers) {
    asio::post(w->io, [wp = w.get()] {
      if (wp->tick) wp->tick->cancel();
      for (auto& c : g->conns) {
        if (c->w != wp || c->state == Conn::State::closed) continue;
        c->state = Conn::State::closed;
        error_code ig;
        c->sock.set_option(asio::socket_base::linger(true, 0), ig);  // RST: no TIME_WAIT pile-up
        c->sock.close(ig);
      }
    });
  }
}

void stop_workers() {
  for (auto& w : g->workers) {
    w->guard.reset();
    w->io.stop();
  }
  for (auto& w : g->workers)
    if (w->thread.joinable()) w->thread.join();
}

template <class F>
uint64_t sum(F f) {
  uint64_t s = 0;
  for (auto& w : g->workers) s += f(*w);
  return s;
}

// Connects everything (up to connect_concurrency handshakes in flight); returns when all are ready
// or failed, or on timeout.
bool connect_all() {
  const Config& c = g->cfg;
  const int first = std::min(c.connect_concurrency, c.clients);
  for (int i = 0; i < first; ++i) launch_next();
  const int64_t deadline = now_ns() + int64_t(c.connect_timeout * 1e9);
  int last_report = 0;
  while (g->ready.load() + g->failed.load() < c.clients) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (now_ns() > deadline) {
      std::fprintf(stderr, "sio_load: connect phase timed out: %d ready, %d failed of %d\n",
                   g->ready.load(), g->failed.load(), c.clients);
      return false;
    }
    const int r = g->ready.load();
    if (r - last_report >= 5000) {
      std::fprintf(stderr, "sio_load: %d ready\n", r);
      last_report = r;
    }
  }
  return g->failed.load() == 0;
}

std::string fmt(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
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
                 g->first_error.c_str());
    std::printf("RESULT mode=fanout ok=0 error=connect ready=%d failed=%d\n", g->ready.load(),
                g->failed.load());
    return 1;
  }
  std::fprintf(stderr, "sio_load: %d clients connected and joined %d rooms in %.2f s\n", c.clients,
               g->rooms, double(now_ns() - t_connect0) / 1e9);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let join acks/auth settle

  const int64_t t0 = now_ns() + 20'000'000;
  g->t_start = t0;
  g->t_window_start = t0 + int64_t(c.warmup * 1e9);
  g->t_window_end = g->t_window_start.load() + int64_t(c.seconds * 1e9);
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
  sleep_until_ns(g->t_window_start.load());
  const ProcCpu cpu0 = read_cpu(c.server_pid);
  const double self0 = self_cpu_seconds();
  const double busy0 = machine_busy_seconds();
  sleep_until_ns(g->t_window_end.load());
  const ProcCpu cpu1 = read_cpu(c.server_pid);
  const double self1 = self_cpu_seconds();
  const double busy1 = machine_busy_seconds();
  const double window_s = double(g->t_window_end.load() - g->t_window_start.load()) / 1e9;

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
  {
    const int64_t hard_deadline = now_ns() + int64_t(120e9);
    uint64_t last = sum([](Worker& w) { return w.in_order.get(); });
    int64_t last_progress = now_ns();
    while (last < expected && sum([](Worker& w) { return w.disconnects.get(); }) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const uint64_t now_count = sum([](Worker& w) { return w.in_order.get(); });
      const int64_t t = now_ns();
      if (now_count != last) {
        last = now_count;
        last_progress = t;
      } else if (t - last_progress > int64_t(c.drain * 1e9)) {
        break;
      }
      if (t > hard_deadline) break;
    }
  }
  const double drained_after = double(now_ns() - g->t_window_end.load()) / 1e9;

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
  const double server_cpu =
      (cpu0.seconds >= 0 && cpu1.seconds >= 0) ? cpu1.seconds - cpu0.seconds : -1;
  const double us = 1e-3;
  // CPU used during the window by everything except the server and this generator.
  const double other_cores =
      server_cpu >= 0 && busy0 >= 0
          ? std::max(0.0, (busy1 - busy0) - server_cpu - (self1 - self0)) / window_s
          : -1.0;

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
      self1 - self0, other_cores);
  if (!g->first_error.empty())
    std::fprintf(stderr, "sio_load: first error: %s\n", g->first_error.c_str());
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
      self1 - self0, (self1 - self0) / window_s, other_cores);
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
               all ? "" : "; first error: ", all ? "" : g->first_error.c_str());
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
                 (unsigned long long)lost, g->first_error.c_str());
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
  static Shared shared;
  g = &shared;
  g->cfg = parse_args(argc, argv);
  const Config& c = g->cfg;

  // Raise the soft fd limit to the hard one.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rlim_t(c.clients) + 64 > rl.rlim_cur)
    die("--clients " + std::to_string(c.clients) + " needs more file descriptors than the limit (" +
        std::to_string(rl.rlim_cur) + ")");

  {
    asio::io_context tmp;
    tcp::resolver resolver(tmp);
    error_code ec;
    auto results = resolver.resolve(c.host, c.port, ec);
    if (ec || results.empty()) die("cannot resolve " + c.host + ":" + c.port);
    g->endpoint = results.begin()->endpoint();
  }
  g->upgrade_request = "GET " + c.path + " HTTP/1.1\r\nHost: " + c.host + ":" + c.port +
                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n";

  for (int i = 0; i < c.threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->guard.emplace(w->io.get_executor());
    g->workers.push_back(std::move(w));
  }
  g->conns.reserve(size_t(c.clients));
  for (int i = 0; i < c.clients; ++i)
    g->conns.push_back(std::make_unique<Conn>(g->workers[size_t(i % c.threads)].get(), i));
  for (auto& w : g->workers) w->thread = std::thread([wp = w.get()] { wp->io.run(); });

  const int rc = c.mode == "fanout" ? run_fanout() : run_idle();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);  // connections and workers are torn down already; skip static destructors
}
