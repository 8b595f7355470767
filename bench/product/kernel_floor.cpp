// kernel_floor: what chatd's fan-out writes cost the kernel with no server logic at all, the floor
// under chatd's CPU per delivery in the product benchmark (issue 9).
//
//   kernel_floor [--groups G] [--members M] [--rate R] [--receipts C] [--seconds S] [--warmup W]
//                [--frame-bytes B] [--tick-us T]
//   defaults: G=4, M=50, R=1000 messages/s in all, C=0 receipt reports/s in all, S=10, W=2,
//   B=330, T=1000
//
// G*M loopback TCP connections (127.0.0.1, TCP_NODELAY on both ends, as chatd sets it): a forked
// child drains the client ends (epoll + read, discarded) so that the reader's CPU stays out of the
// figure; this process keeps the accepted ends and one thread writes to them. Per message (groups
// in turn, the sender rotating over the group's members) it makes the write syscalls chatd makes
// at light load: one send() of a WebSocket text frame `42["message:new",{...}]` to each of the M-1
// other members, and one send() of an ack frame `43N[{"ok":true,...}]` to the sender; both are B
// bytes on the wire. With --receipts C (open loop only), C times a second in all (groups in turn)
// it also makes the writes of one member's read report: one send() of a `42["receipt",{...}]`
// frame to each of the group's M members, as chatd does; they are overhead, not deliveries, as in
// chatd's figure. Open loop: a tick every T us sends the messages and receipts due at R and C per
// second; --rate 0 writes messages back to back (the saturation floor).
//
// Measured over the S seconds after the warm-up: this process's utime + stime (getrusage). Over
// loopback the receive side's TCP processing runs in the sender's context, as it does for chatd's
// writes, so it is included on purpose; the reader's read() calls are the child's. The sockets are
// non-blocking: a send that would block is counted (`blocked`, 0 expected at light rates) and
// waits in poll(). At the end the child reports the bytes it read, which must match those written.
// Last stdout line: `RESULT ok=1 groups=.. members=.. rate=.. seconds=.. messages=.. writes=..
// writes_per_s=.. deliveries_per_s=.. cpu_s=.. us_per_write=.. us_per_delivery=.. cores=..
// blocked=..` (us_per_delivery = cpu / ((M-1) * messages)). Exit 0 on success, 1 on error (also
// when an open loop ended the window with more than 1% of its messages overdue: the writer could
// not keep the rate, so the figure would be a saturation one).
//
// Build: g++ -O2 -std=c++20 bench/product/kernel_floor.cpp -o kernel_floor -pthread

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../common/sio_client.h"

using namespace bench;  // NOLINT(google-build-using-namespace): the shared generator helpers

namespace {

struct Options {
  int groups = 4;
  int members = 50;
  double rate = 1000;   // messages/s over all groups; 0: as fast as possible
  double receipts = 0;  // read reports/s over all groups (open loop only)
  double seconds = 10;
  double warmup = 2;
  int frame_bytes = 330;
  double tick_us = 1000;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: kernel_floor [--groups G] [--members M] [--rate R (0: saturation)]\n"
      "       [--receipts C] [--seconds S] [--warmup W] [--frame-bytes B] [--tick-us T]\n");
}

Options parse_options(int argc, char** argv) {
  Options o;
  const std::pair<const char*, double*> reals[] = {{"--rate", &o.rate},
                                                   {"--receipts", &o.receipts},
                                                   {"--seconds", &o.seconds},
                                                   {"--warmup", &o.warmup},
                                                   {"--tick-us", &o.tick_us}};
  const std::pair<const char*, int*> ints[] = {
      {"--groups", &o.groups}, {"--members", &o.members}, {"--frame-bytes", &o.frame_bytes}};
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      usage();
      std::exit(0);
    }
    if (i + 1 >= argc) die("missing value for " + key);
    const std::string value = argv[i + 1];
    bool known = false;
    for (const auto& [name, dst] : reals)
      if (key == name) *dst = parse_number(key, value), known = true;
    for (const auto& [name, dst] : ints)
      if (key == name) *dst = int(parse_number(key, value)), known = true;
    if (!known) die("unknown option " + key);
  }
  if (o.groups < 1 || o.members < 2 || o.rate < 0 || o.receipts < 0 || o.seconds <= 0 ||
      o.warmup < 0 || o.tick_us < 10)
    die("bad --groups, --members (at least 2), --rate, --receipts, --seconds, --warmup or "
        "--tick-us");
  // A frame of 128 or 129 bytes has no valid length encoding: a 124- or 125-byte payload takes the
  // 2-byte header (126, 127 bytes in all), a 126-byte one the 4-byte header (130).
  if (o.frame_bytes < 2 || o.frame_bytes > 65539 || o.frame_bytes == 128 || o.frame_bytes == 129)
    die("--frame-bytes must be at most 65539 and not 128 or 129");
  return o;
}

// A WebSocket server text frame (FIN, opcode 1, unmasked) of exactly `total` bytes: the JSON
// `head`, filler text, then `tail`.
std::string ws_frame(size_t total, const std::string& head, const std::string& tail) {
  const size_t header = total <= 127 ? 2 : 4;
  const size_t n = total - header;
  if (head.size() + tail.size() > n)
    die("--frame-bytes " + std::to_string(total) + " is too small for the frame's JSON (" +
        std::to_string(head.size() + tail.size() + header) + " bytes at least)");
  std::string f;
  f += char(0x81);
  if (header == 2) {
    f += char(n);
  } else {
    f += char(126);
    f += char(n >> 8);
    f += char(n & 0xff);
  }
  std::string payload = head;
  static constexpr std::string_view kText =
      "lunch at noon? the usual place, bring the slides for the review and the coffee ";
  while (payload.size() + tail.size() < n) payload += kText;
  payload.resize(n - tail.size());
  return f + payload + tail;
}

// The frames of group g, shaped like chatd's (a lean message whose content pads the frame). They
// are built once: the kernel copies bytes whatever they say, and building a frame per message
// would be server logic.
struct Frames {
  std::string message, ack, receipt;
};
Frames make_frames(int g, size_t total) {
  char chat[25];
  std::snprintf(chat, sizeof chat, "66a0c0de%016x", unsigned(g));
  const std::string lean = std::string(R"({"_id":"66a0c0de0000000000abcdef","chatId":")") + chat +
                           R"(","seq":123456,"sender":{"_id":"66a0c0de00000000000000aa",)"
                           R"("name":"user 17","pic":""},"createdAt":"2025-01-01T00:00:00.000Z",)"
                           R"("content":")";
  const std::string receipt = std::string(R"(42["receipt",{"chatId":")") + chat +
                              R"(","userId":"66a0c0de00000000000000bb","deliveredSeq":123456,)"
                              R"("readSeq":123456}])";
  return {ws_frame(total, R"(42["message:new",)" + lean, R"("}])"),
          ws_frame(total, R"(4342[{"ok":true,"message":)" + lean, R"("}}])"),
          ws_frame(receipt.size() + (receipt.size() + 2 <= 127 ? 2 : 4), receipt, "")};
}

// Writes all of buf to fd; a send that would block is counted and waits for POLLOUT.
void send_all(int fd, const std::string& buf, uint64_t& blocked) {
  size_t off = 0;
  while (off < buf.size()) {
    const ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) die(std::string("send: ") + std::strerror(errno));
    ++blocked;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 10'000) == 0) die("a socket stayed full for 10 s: the reader is stuck");
  }
}

void set_nodelay(int fd) {
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    die(std::string("TCP_NODELAY: ") + std::strerror(errno));
}

// n connected pairs over loopback: client ends and accepted (server) ends.
void connect_pairs(int n, std::vector<int>& clients, std::vector<int>& servers) {
  const int lst = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (lst < 0 || ::bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(lst, 1024) != 0 || ::getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die(std::string("listener: ") + std::strerror(errno));
  for (int i = 0; i < n; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      die(std::string("connect: ") + std::strerror(errno));
    const int s = ::accept4(lst, nullptr, nullptr, SOCK_NONBLOCK);
    if (s < 0) die(std::string("accept: ") + std::strerror(errno));
    set_nodelay(c);
    set_nodelay(s);
    clients.push_back(c);
    servers.push_back(s);
  }
  ::close(lst);
}

// The child: reads every client end until all of them reach EOF, then writes the byte count to
// `report` and exits.
[[noreturn]] void drain(const std::vector<int>& clients, int report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int ep = epoll_create1(0);
  if (ep < 0) std::_Exit(1);
  for (int fd : clients) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) std::_Exit(1);
  }
  std::vector<char> buf(1 << 16);
  std::vector<epoll_event> evs(256);
  uint64_t bytes = 0;
  size_t open = clients.size();
  while (open > 0) {
    const int k = epoll_wait(ep, evs.data(), int(evs.size()), -1);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) std::_Exit(1);
    for (int i = 0; i < k; ++i) {
      const int fd = evs[size_t(i)].data.fd;
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n > 0) {
        bytes += uint64_t(n);
      } else if (n == 0 || errno != EAGAIN) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        --open;
      }
    }
  }
  if (::write(report, &bytes, sizeof bytes) != ssize_t(sizeof bytes)) std::_Exit(1);
  std::_Exit(0);
}

struct Tally {
  uint64_t messages = 0, receipts = 0, blocked = 0, bytes = 0;
};

// Sends message k: group k % G, sender (k / G) % M of that group.
void send_message(uint64_t k, const Options& o, const std::vector<int>& servers,
                  const std::vector<Frames>& frames, Tally& t) {
  const size_t g = size_t(k % uint64_t(o.groups));
  const size_t m = size_t(o.members);
  const size_t from = size_t(k / uint64_t(o.groups)) % m;
  const int* group = servers.data() + g * m;
  const Frames& f = frames[g];
  for (size_t i = 0; i < m; ++i)
    if (i != from) send_all(group[i], f.message, t.blocked);
  send_all(group[from], f.ack, t.blocked);
  ++t.messages;
  t.bytes += (m - 1) * f.message.size() + f.ack.size();
}

// Sends read report k: one receipt frame to every member of group k % G.
void send_receipt(uint64_t k, const Options& o, const std::vector<int>& servers,
                  const std::vector<Frames>& frames, Tally& t) {
  const size_t g = size_t(k % uint64_t(o.groups));
  const size_t m = size_t(o.members);
  const Frames& f = frames[g];
  for (size_t i = 0; i < m; ++i) send_all(servers[g * m + i], f.receipt, t.blocked);
  ++t.receipts;
  t.bytes += m * f.receipt.size();
}

// The writer's state at one edge of the measured window.
struct Edge {
  int64_t t = 0;
  double cpu = 0;
  uint64_t messages = 0, receipts = 0, blocked = 0;
  static Edge take(const Tally& tally) {
    return {now_ns(), self_cpu_seconds(), tally.messages, tally.receipts, tally.blocked};
  }
};
struct Window {
  Edge first, last;
  uint64_t behind = 0;  // messages overdue when the window ended (open loop)
};

// Message i is due at start + i / rate. The ticks make what is due by their time; the edges of
// the window make what is due by the edge first, so that the window holds exactly the messages
// due in it (a stall around an edge moves work, not messages, across it).
Window open_loop(const Options& o, const std::vector<int>& servers,
                 const std::vector<Frames>& frames, Tally& t, int64_t start, int64_t window_start,
                 int64_t window_end) {
  const auto due_by = [&](int64_t when) {
    return uint64_t(double(when - start) * o.rate / 1e9) + 1;
  };
  const auto receipts_due_by = [&](int64_t when) {
    return uint64_t(double(when - start) * o.receipts / 1e9);
  };
  // Messages and the read reports due with them: a message's due count, then the reports due by
  // the time its tick makes it.
  const auto send_until = [&](uint64_t due) {
    while (t.messages < due) send_message(t.messages, o, servers, frames, t);
    const uint64_t reports = receipts_due_by(start + int64_t(double(due) * 1e9 / o.rate));
    while (t.receipts < reports) send_receipt(t.receipts, o, servers, frames, t);
  };
  const int64_t tick_ns = int64_t(o.tick_us * 1000);
  Window w;
  int64_t next = start;
  for (; next < window_start; next += tick_ns) {
    sleep_until_ns(next);
    const int64_t now = now_ns();
    if (now >= window_start) break;
    send_until(due_by(now));
  }
  send_until(due_by(window_start));
  w.first = Edge::take(t);
  for (; next < window_end; next += tick_ns) {
    sleep_until_ns(next);
    const int64_t now = now_ns();
    if (now >= window_end) break;
    send_until(due_by(now));
  }
  w.behind = due_by(window_end) - t.messages;
  send_until(due_by(window_end));
  w.last = Edge::take(t);
  return w;
}

// Rate 0: messages back to back.
Window back_to_back(const Options& o, const std::vector<int>& servers,
                    const std::vector<Frames>& frames, Tally& t, int64_t start,
                    int64_t window_start, int64_t window_end) {
  Window w;
  sleep_until_ns(start);
  while (now_ns() < window_start) send_message(t.messages, o, servers, frames, t);
  w.first = Edge::take(t);
  while (now_ns() < window_end) send_message(t.messages, o, servers, frames, t);
  w.last = Edge::take(t);
  return w;
}

int run(const Options& o) {
  const int sockets = o.groups * o.members;
  raise_fd_limit(rlim_t(2 * sockets + 16), std::to_string(sockets) + " connection pairs");
  std::vector<int> clients, servers;
  connect_pairs(sockets, clients, servers);
  std::vector<Frames> frames;
  for (int g = 0; g < o.groups; ++g) frames.push_back(make_frames(g, size_t(o.frame_bytes)));

  int report[2];
  if (::pipe(report) != 0) die("pipe");
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) {
    for (int fd : servers) ::close(fd);
    ::close(report[0]);
    drain(clients, report[1]);
  }
  for (int fd : clients) ::close(fd);
  ::close(report[1]);

  const int64_t start = now_ns() + 20'000'000;
  const int64_t window_start = start + int64_t(o.warmup * 1e9);
  const int64_t window_end = window_start + int64_t(o.seconds * 1e9);
  Tally t;
  const Window w = o.rate > 0
                       ? open_loop(o, servers, frames, t, start, window_start, window_end)
                       : back_to_back(o, servers, frames, t, start, window_start, window_end);

  for (int fd : servers) ::close(fd);
  uint64_t read_bytes = 0;
  const bool reported = ::read(report[0], &read_bytes, sizeof read_bytes) == sizeof read_bytes;
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!reported || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the reader process failed");
  if (read_bytes != t.bytes)
    die("the reader got " + std::to_string(read_bytes) + " bytes of " + std::to_string(t.bytes));

  const double window_s = double(w.last.t - w.first.t) / 1e9;
  const uint64_t messages = w.last.messages - w.first.messages;
  const uint64_t receipts = w.last.receipts - w.first.receipts;
  const uint64_t blocked = w.last.blocked - w.first.blocked;
  const uint64_t writes = (messages + receipts) * uint64_t(o.members);
  const uint64_t deliveries = messages * uint64_t(o.members - 1);
  const double cpu = w.last.cpu - w.first.cpu;
  const double us_per_write = writes ? cpu * 1e6 / double(writes) : -1;
  const double us_per_delivery = deliveries ? cpu * 1e6 / double(deliveries) : -1;
  const bool short_of_rate = double(w.behind) > 0.01 * double(messages);
  std::fprintf(stderr,
               "kernel_floor: %d groups x %d members, %s: %llu messages and %llu read reports in "
               "%.2f s (%.0f/s), %llu writes (%.0f/s), %.0f deliveries/s; CPU %.3f s = %.3f cores, "
               "%.3f us/write, %.3f us/delivery; blocked %llu; reader got all %llu bytes\n",
               o.groups, o.members,
               o.rate > 0 ? (fmt(o.rate, 0) + " messages/s").c_str() : "back to back",
               (unsigned long long)messages, (unsigned long long)receipts, window_s,
               double(messages) / window_s, (unsigned long long)writes, double(writes) / window_s,
               double(deliveries) / window_s, cpu, cpu / window_s, us_per_write, us_per_delivery,
               (unsigned long long)blocked, (unsigned long long)read_bytes);
  if (short_of_rate)
    std::fprintf(stderr,
                 "kernel_floor: error: the writer fell behind %s messages/s (%llu overdue at the "
                 "end)\n",
                 fmt(o.rate, 0).c_str(), (unsigned long long)w.behind);
  std::printf(
      "RESULT ok=%d groups=%d members=%d rate=%s seconds=%.2f messages=%llu receipts=%llu "
      "writes=%llu writes_per_s=%.1f deliveries_per_s=%.1f cpu_s=%.3f us_per_write=%.3f "
      "us_per_delivery=%.3f cores=%.3f blocked=%llu\n",
      short_of_rate ? 0 : 1, o.groups, o.members, fmt(o.rate, 0).c_str(), window_s,
      (unsigned long long)messages, (unsigned long long)receipts, (unsigned long long)writes,
      double(writes) / window_s, double(deliveries) / window_s, cpu, us_per_write, us_per_delivery,
      cpu / window_s, (unsigned long long)blocked);
  return short_of_rate ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  g_prog = "kernel_floor";
  exit_now(run(parse_options(argc, argv)));
}
