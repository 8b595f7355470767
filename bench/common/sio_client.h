// Shared by chatd's Socket.IO load generators (bench/sio/sio_load.cpp, bench/send/send_load.cpp):
// a steady clock since start, a log-linear latency histogram, /proc readings of the server under
// test, command-line helpers, and WsClient, one Engine.IO v4 client connection over WebSocket.
//
// WsClient speaks GET /socket.io/?EIO=4&transport=websocket with a hand-written WebSocket framing
// (Asio TCP + a small frame codec) rather than beast::websocket::stream: on the 2-core benchmark
// box the generator gets one core and must read far more frames per second than the server writes
// per core; Beast's stream completes each frame through its own handler dispatch, this parses
// every frame of one read_some in place. Client frames are masked (RFC 6455 5.3); server frames
// are checked for FIN/opcode; pings, close frames and fragmented messages are handled. Engine.IO
// is handled here (the open packet, pings answered with pongs, close); every Socket.IO packet
// (Engine.IO message `4...`) goes to the subclass.
//
// Header-only, for one translation unit per program (the generators are single files).

#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------------------
// Time: nanoseconds of the steady clock since the generator started (fits a JS number for years).
inline Clock::time_point g_epoch = Clock::now();
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - g_epoch).count();
}
inline void sleep_until_ns(int64_t t) {
  std::this_thread::sleep_until(g_epoch + std::chrono::nanoseconds(t));
}
inline Clock::time_point at_ns(int64_t t) {
  return g_epoch + std::chrono::nanoseconds(t);
}

// The program's name in error messages.
inline const char* g_prog = "bench";

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "%s: error: %s\n", g_prog, msg.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// Ends the program once the connections and workers are torn down: skips static destructors.
[[noreturn]] inline void exit_now(int rc) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}

// The first error of a run, from any thread.
class FirstError {
 public:
  void note(const std::string& e) {
    std::lock_guard lk(mu_);
    if (text_.empty()) text_ = e;
  }
  std::string get() {
    std::lock_guard lk(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

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
// /proc readings of the server under test.
struct ProcCpu {
  double seconds = -1;  // utime + stime of all threads
  double user = -1;     // utime alone
};
inline ProcCpu read_cpu(int pid) {
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
  r.user = std::stod(fields[11]) / tck;
  return r;
}
inline long read_rss_kb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}
// Busy time of the whole machine (user+nice+system+irq+softirq of every CPU), in seconds.
inline double machine_busy_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
  if (cpu != "cpu") return -1;
  return (user + nice + system + irq + softirq) / double(sysconf(_SC_CLK_TCK));
}
// User-mode time of the whole machine (user+nice of every CPU), in seconds. Kernel threads that
// work for a benchmark (the file system's journal committing fsyncs, kworkers, softirq for loopback
// TCP) run in kernel mode, so user-mode time beside the server's and the generator's is other
// programs.
inline double machine_user_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0;
  f >> cpu >> user >> nice;
  if (cpu != "cpu") return -1;
  return (user + nice) / double(sysconf(_SC_CLK_TCK));
}
inline double self_user_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec) + double(u.ru_utime.tv_usec) / 1e6;
}
inline double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU readings at one edge of a measured window.
struct CpuSample {
  ProcCpu server;           // the server under test (pid 0: none)
  double self = 0;          // this process, user + system
  double self_user = 0;     // this process, user mode
  double machine_busy = 0;  // the whole machine
  double machine_user = 0;  // the whole machine, user mode
  static CpuSample take(int server_pid) {
    CpuSample s;
    s.server = read_cpu(server_pid);
    s.self = self_cpu_seconds();
    s.self_user = self_user_seconds();
    s.machine_busy = machine_busy_seconds();
    s.machine_user = machine_user_seconds();
    return s;
  }
};
// What the CPU did between two samples (seconds; -1 where unknown).
struct CpuWindow {
  double server = -1;            // the server's utime + stime
  double self = 0;               // this generator
  double other_cores = -1;       // everything else, in cores (busy time of the machine)
  double other_user_cores = -1;  // everything else in user mode, in cores
  CpuWindow(const CpuSample& a, const CpuSample& b, double window_s) {
    self = b.self - a.self;
    if (a.server.seconds >= 0 && b.server.seconds >= 0)
      server = b.server.seconds - a.server.seconds;
    if (server >= 0 && a.machine_busy >= 0 && b.machine_busy >= 0)
      other_cores = std::max(0.0, (b.machine_busy - a.machine_busy) - server - self) / window_s;
    if (a.server.user >= 0 && b.server.user >= 0 && a.machine_user >= 0 && b.machine_user >= 0)
      other_user_cores =
          std::max(0.0, (b.machine_user - a.machine_user) - (b.server.user - a.server.user) -
                            (b.self_user - a.self_user)) /
          window_s;
  }
};

// The phases of a measured run, in ns since the epoch: sending starts at `start`, the measured
// window runs from `window_start` (after the warm-up) to `window_end`, when sending stops.
struct Phases {
  std::atomic<int64_t> start{0}, window_start{0}, window_end{0};

  // Fixes the phases, sending to start 20 ms from now; returns that start.
  int64_t plan(double warmup_s, double measured_s) {
    const int64_t t0 = now_ns() + 20'000'000;
    window_start = t0 + int64_t(warmup_s * 1e9);
    window_end = window_start.load() + int64_t(measured_s * 1e9);
    start = t0;
    return t0;
  }
  bool in_window(int64_t t) const {
    return t >= window_start.load(std::memory_order_relaxed) &&
           t < window_end.load(std::memory_order_relaxed);
  }
  bool over(int64_t t) const { return t >= window_end.load(std::memory_order_relaxed); }
  double seconds_since_start(int64_t t) const {
    return double(t - start.load(std::memory_order_relaxed)) / 1e9;
  }
  double window_seconds() const { return double(window_end.load() - window_start.load()) / 1e9; }
  // Sleeps until the window ends; returns the CPU time used during the window.
  CpuWindow measure(int server_pid) const {
    sleep_until_ns(window_start.load());
    const CpuSample first = CpuSample::take(server_pid);
    sleep_until_ns(window_end.load());
    return CpuWindow(first, CpuSample::take(server_pid), window_seconds());
  }
};

// ------------------------------------------------------------------------------------------------
// Command line and set-up.
inline double parse_number(const std::string& key, const std::string& v) {
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return d;
  } catch (...) {
    die("bad number for " + key + ": " + v);
  }
}

// "127.0.0.1:3000", "http://127.0.0.1:3000/..." or "ws://..." -> host and port.
inline void split_url(const std::string& url, std::string& host, std::string& port) {
  std::string u = url;
  if (u.rfind("http://", 0) == 0) u = u.substr(7);
  if (u.rfind("ws://", 0) == 0) u = u.substr(5);
  if (auto slash = u.find('/'); slash != std::string::npos) u = u.substr(0, slash);
  auto colon = u.rfind(':');
  if (colon == std::string::npos) die("--url wants host:port");
  host = u.substr(0, colon);
  port = u.substr(colon + 1);
}

// Raises the soft open-file limit to the hard one; dies if `needed` descriptors do not fit.
inline void raise_fd_limit(rlim_t needed, const std::string& what) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  if (needed > rl.rlim_cur)
    die(what + " needs more file descriptors than the limit (" + std::to_string(rl.rlim_cur) + ")");
}

// Where the clients connect, and the HTTP upgrade request they send.
struct Target {
  tcp::endpoint endpoint;
  std::string upgrade_request;
};
inline Target make_target(const std::string& host, const std::string& port,
                          const std::string& path) {
  Target t;
  asio::io_context tmp;
  tcp::resolver resolver(tmp);
  error_code ec;
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) die("cannot resolve " + host + ":" + port);
  t.endpoint = results.begin()->endpoint();
  t.upgrade_request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + port +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
  return t;
}

// One event loop on its own thread; generators derive their per-thread statistics from it.
struct Loop {
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;

  void start() {
    guard.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
  }
  void stop() {
    guard.reset();
    io.stop();
  }
  void join() {
    if (thread.joinable()) thread.join();
  }
};

// Stops every loop, then waits for their threads.
template <class L>
void stop_loops(const std::vector<std::unique_ptr<L>>& loops) {
  for (auto& l : loops) l->stop();
  for (auto& l : loops) l->join();
}

// Closes every client with a TCP reset (no TIME_WAIT pile-up), each on its own loop (clients have
// a member `w`, their loop), after on_loop(loop) ran there.
template <class W, class C, class F>
void abort_all(const std::vector<std::unique_ptr<W>>& loops,
               const std::vector<std::unique_ptr<C>>& clients, F on_loop) {
  for (auto& l : loops) {
    asio::post(l->io, [lp = l.get(), &clients, on_loop] {
      on_loop(*lp);
      for (auto& c : clients)
        if (c->w == lp) c->abort();
    });
  }
}

// Sum of a per-worker figure.
template <class W, class F>
uint64_t sum_over(const std::vector<std::unique_ptr<W>>& workers, F f) {
  uint64_t s = 0;
  for (auto& w : workers) s += f(*w);
  return s;
}

// Starts clients[next++] (on its own loop), if any is left: a connect phase keeps a fixed number of
// handshakes in flight by calling this once per connection that becomes ready or fails.
template <class C>
void start_next(std::atomic<int>& next, const std::vector<std::unique_ptr<C>>& clients) {
  const int i = next.fetch_add(1);
  if (i >= int(clients.size())) return;
  C* c = clients[size_t(i)].get();
  asio::post(c->executor(), [c] { c->start(); });
}

// After sending stops: waits until done(), while progress() keeps changing (idle_s without a
// change ends the wait) and for at most cap_s in all. Polls every 10 ms.
inline void wait_while_progressing(const std::function<bool()>& done,
                                   const std::function<uint64_t()>& progress, double idle_s,
                                   double cap_s = 120) {
  const int64_t give_up = now_ns() + int64_t(cap_s * 1e9);
  uint64_t seen = progress();
  int64_t changed_at = now_ns();
  while (!done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const uint64_t p = progress();
    const int64_t t = now_ns();
    if (p != seen) {
      seen = p;
      changed_at = t;
    } else if (t - changed_at > int64_t(idle_s * 1e9)) {
      return;
    }
    if (t > give_up) return;
  }
}

// Waits until ready + failed reaches total (true when none failed), or the timeout passes (false).
// Reports progress every 5000 ready connections.
inline bool wait_connected(const std::atomic<int>& ready, const std::atomic<int>& failed, int total,
                           double timeout_s) {
  const int64_t deadline = now_ns() + int64_t(timeout_s * 1e9);
  int last_report = 0;
  while (ready.load() + failed.load() < total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (now_ns() > deadline) {
      std::fprintf(stderr, "%s: connect phase timed out: %d ready, %d failed of %d\n", g_prog,
                   ready.load(), failed.load(), total);
      return false;
    }
    const int r = ready.load();
    if (r - last_report >= 5000) {
      std::fprintf(stderr, "%s: %d ready\n", g_prog, r);
      last_report = r;
    }
  }
  return failed.load() == 0;
}

inline std::string fmt(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// ------------------------------------------------------------------------------------------------
// One Engine.IO v4 connection over WebSocket. All members run on the io_context's thread.
class WsClient {
 public:
  enum class State { idle, connecting, upgrading, open, closed };

  WsClient(asio::io_context& io, const Target& target, uint32_t seed)
      : target_(&target), sock_(io) {
    std::mt19937 rng(seed * 2654435761u + 12345u);
    mask_ = rng() | 1u;
  }
  virtual ~WsClient() = default;
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  State ws_state() const { return state_; }
  auto executor() { return sock_.get_executor(); }
  bool closed() const { return state_ == State::closed; }

  // Connects, upgrades, and waits for the Engine.IO open packet (then on_open).
  void start() {
    state_ = State::connecting;
    rbuf_.resize(4096);
    sock_.async_connect(target_->endpoint, [this](error_code ec) {
      if (ec) return fail("connect: " + ec.message());
      error_code ig;
      sock_.set_option(tcp::no_delay(true), ig);
      state_ = State::upgrading;
      out_ = target_->upgrade_request;
      flush();
      do_read();
    });
  }

  // Closes with a TCP reset (no TIME_WAIT pile-up) and without calling on_closed.
  void abort() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    error_code ig;
    sock_.set_option(asio::socket_base::linger(true, 0), ig);
    sock_.close(ig);
  }

  // Queues a masked frame; flush() writes everything queued.
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
    uint8_t key[4] = {uint8_t(mask_ >> 24), uint8_t(mask_ >> 16), uint8_t(mask_ >> 8),
                      uint8_t(mask_)};
    std::memcpy(hdr + h, key, 4);
    h += 4;
    const size_t at = out_.size();
    out_.append(hdr, h);
    out_.append(payload);
    char* p = out_.data() + at + h;
    for (size_t i = 0; i < n; ++i) p[i] ^= char(key[i & 3]);
  }
  void flush() {
    if (writing_ || out_.empty() || state_ == State::closed) return;
    inflight_.swap(out_);
    out_.clear();
    writing_ = true;
    asio::async_write(sock_, asio::buffer(inflight_), [this](error_code ec, size_t) {
      writing_ = false;
      inflight_.clear();
      if (ec) return fail("write: " + ec.message());
      flush();
    });
  }
  void send_text(std::string_view text) {
    frame(0x1, text);
    flush();
  }

  // Closes the connection and reports it through on_closed (once).
  void fail(const std::string& what) {
    if (state_ == State::closed) return;
    const State prev = state_;
    state_ = State::closed;
    error_code ignored;
    sock_.close(ignored);
    on_closed(prev != State::idle, what);
  }

 protected:
  // The Engine.IO open packet `0{...}` arrived; the default sends a Socket.IO CONNECT without auth.
  virtual void on_open(std::string_view /*packet*/) { send_text("40"); }
  // A Socket.IO packet: the Engine.IO message `4<socket.io packet>` (m.size() >= 2).
  virtual void on_socketio(std::string_view m, int64_t t_recv) = 0;
  // The connection closed (started: it had begun connecting); not called after abort().
  virtual void on_closed(bool started, const std::string& what) = 0;
  virtual void on_ping() {}
  virtual void on_unexpected() {}  // a packet of no interest (binary frame, unknown type)

 private:
  void do_read() {
    if (rbuf_.size() - rlen_ < 2048) rbuf_.resize(std::max(rbuf_.size() * 2, rlen_ + 4096));
    sock_.async_read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
                          [this](error_code ec, size_t n) { on_read(ec, n); });
  }

  void on_read(error_code ec, size_t n) {
    if (state_ == State::closed) return;
    if (ec)
      return fail(ec == asio::error::eof ? std::string("closed by server")
                                         : "read: " + ec.message());
    rlen_ += n;
    size_t pos = 0;
    if (state_ == State::upgrading) {
      std::string_view all(rbuf_.data(), rlen_);
      auto end = all.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (rlen_ > 16384) return fail("HTTP upgrade response too large");
        return do_read();
      }
      if (all.substr(0, 12) != "HTTP/1.1 101")
        return fail("upgrade refused: " + std::string(all.substr(0, all.find('\r'))));
      pos = end + 4;
      state_ = State::open;
    }
    const int64_t t_recv = now_ns();
    const auto* u = reinterpret_cast<const uint8_t*>(rbuf_.data());
    while (rlen_ - pos >= 2 && state_ != State::closed) {
      const uint8_t b0 = u[pos], b1 = u[pos + 1];
      const bool fin = b0 & 0x80;
      const uint8_t op = b0 & 0x0f;
      const bool masked = b1 & 0x80;
      uint64_t len = b1 & 0x7f;
      size_t hdr = 2;
      if (len == 126) {
        if (rlen_ - pos < 4) break;
        len = (uint64_t(u[pos + 2]) << 8) | u[pos + 3];
        hdr = 4;
      } else if (len == 127) {
        if (rlen_ - pos < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | u[pos + 2 + i];
        hdr = 10;
      }
      if (b0 & 0x70) return fail("RSV bits set in a server frame");
      if (masked) return fail("masked server frame");
      if (len > (64u << 20)) return fail("oversized frame");
      if (rlen_ - pos < hdr + len) {
        if (hdr + len > rbuf_.size()) rbuf_.resize(hdr + len + 4096);
        break;
      }
      std::string_view payload(rbuf_.data() + pos + hdr, size_t(len));
      pos += hdr + size_t(len);
      on_frame(fin, op, payload, t_recv);
    }
    if (state_ == State::closed) return;
    if (pos > 0) {
      if (pos < rlen_) std::memmove(rbuf_.data(), rbuf_.data() + pos, rlen_ - pos);
      rlen_ -= pos;
    }
    do_read();
  }

  void on_frame(bool fin, uint8_t op, std::string_view payload, int64_t t_recv) {
    switch (op) {
      case 0x0:  // continuation
        if (!frag_active_) return fail("unexpected continuation frame");
        frag_.append(payload);
        if (fin) {
          frag_active_ = false;
          std::string whole;
          whole.swap(frag_);
          on_message(whole, t_recv);
        }
        return;
      case 0x1:
      case 0x2:
        if (frag_active_) return fail("new message inside a fragmented one");
        if (!fin) {
          frag_active_ = true;
          frag_.assign(payload);
          return;
        }
        if (op == 0x2) {  // binary: not used by the benchmarks
          on_unexpected();
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

  // One Engine.IO packet.
  void on_message(std::string_view m, int64_t t_recv) {
    if (m.empty()) return fail("empty Engine.IO packet");
    switch (m[0]) {
      case '4':
        if (m.size() < 2) return fail("short Socket.IO packet");
        return on_socketio(m, t_recv);
      case '0':  // Engine.IO open
        if (got_open_) return fail("second open packet");
        got_open_ = true;
        return on_open(m);
      case '2':  // ping
        on_ping();
        if (m.size() == 1) {
          send_text("3");
        } else {
          std::string pong(m);
          pong[0] = '3';
          send_text(pong);
        }
        return;
      case '1':
        return fail("Engine.IO close packet");
      case '6':
        return;
      default:
        on_unexpected();
        return;
    }
  }

  const Target* target_;
  tcp::socket sock_;
  State state_ = State::idle;
  bool got_open_ = false;
  std::vector<char> rbuf_;
  size_t rlen_ = 0;
  std::string out_, inflight_;
  bool writing_ = false;
  uint32_t mask_ = 0;
  std::string frag_;  // fragmented message being assembled
  bool frag_active_ = false;
};

}  // namespace bench
