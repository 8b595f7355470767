// chatd: configuration and wiring, nothing else.

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/attachment_api.h"
#include "api/edge.h"
#include "api/health.h"
#include "api/rest_api.h"
#include "api/socket_api.h"
#include "auth/password.h"
#include "auth/secret_box.h"
#include "auth/token.h"
#include "chat/accounts.h"
#include "chat/admin.h"
#include "chat/attachments.h"
#include "chat/chat_service.h"
#include "chat/privacy.h"
#include "cluster/cluster_node.h"
#include "net/http_server.h"
#include "socketio/server.h"
#include "store/files/file_blob_store.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"
#include "util/async.h"
#include "util/loop_thread.h"
#include "util/object_id.h"
#include "util/rate_limit.h"
#include "util/run_blocking.h"

namespace {

namespace fs = std::filesystem;

// How often the sessions' lastUsedAt is written (at most once a minute per session anyway).
constexpr std::chrono::seconds kSessionUseFlush{30};

struct Config {
  chatd::net::HttpServerOptions http;
  std::string cors_origins;
  std::string web_root;
  std::string tls_cert;
  std::string tls_key;
  std::string data_dir = "./data";
  std::string jwt_secret;
  std::string secret_key;
  long jwt_lifetime_s = 30L * 24 * 3600;  // classic backends issue "30d" tokens
  std::string log_level = "info";
  std::string sqlite_synchronous = "full";
  std::size_t sqlite_readers = 2;
  std::size_t sqlite_max_batch = 512;
  std::string database_url;
  std::size_t postgres_readers = 2;
  std::size_t postgres_max_batch = 512;
  unsigned long long hash_ops = 2;
  std::size_t hash_memory_kib = 64UL * 1024;
  std::size_t hash_threads = 2;
  std::int64_t idle_timeout_ms = 60'000;
  std::int64_t read_timeout_ms = 15'000;
  std::int64_t write_timeout_ms = 15'000;
  std::int64_t shutdown_grace_ms = 10'000;
  chatd::chat::Limits limits;
  chatd::chat::AccountLimits account_limits;
  chatd::api::EdgeLimits edge;
  chatd::net::CidrSet admin_allow;
  chatd::util::RateRule socket_events_per_socket{10, 100};
  chatd::chat::PrivacyOptions privacy;
  int retention_days = 0;  // 0: messages are kept
  std::int64_t housekeeping_interval_ms = 600'000;
  std::string attachment_dir;  // empty: <data-dir>/attachments
  chatd::chat::AttachmentOptions attachments;
  std::int64_t attachment_grace_s = 24L * 3600;
  std::int64_t attachment_link_s = 3600;
  chatd::socketio::ServerOptions socketio;
  std::int64_t ping_interval_ms = 25'000;
  std::int64_t ping_timeout_ms = 20'000;
  std::int64_t classic_setup_timeout_ms = 10'000;
  std::string redis_url;
  std::string node_id;
  std::string advertise_address;
  std::string default_pic =
      "https://icon-library.com/images/anonymous-avatar-icon/anonymous-avatar-icon-25.jpg";
};

// Every option has a --flag and a CHATD_* environment variable (the flag wins).
// A rate limit option ("20/min", "10/10min", "off": util::parse_rate_rule), shown with its default.
void add_rate_option(CLI::App& app, const std::string& name, chatd::util::RateRule& rule,
                     const std::string& help, const std::string& env) {
  app.add_option_function<std::string>(
         name,
         [&rule, name](const std::string& text) {
           auto parsed = chatd::util::parse_rate_rule(text);
           if (!parsed) throw CLI::ValidationError(name, parsed.error().message);
           rule = *parsed;
         },
         help)
      ->envname(env)
      ->default_str(chatd::util::format_rate_rule(rule));
}

// A CIDR list option ("10.0.0.0/8, ::1"), checked as the command line is read.
void add_cidr_option(CLI::App& app, const std::string& name, chatd::net::CidrSet& set,
                     const std::string& help, const std::string& env) {
  app.add_option_function<std::string>(
         name,
         [&set, name](const std::string& text) {
           auto parsed = chatd::net::CidrSet::parse(text);
           if (!parsed) throw CLI::ValidationError(name, parsed.error().message);
           set = std::move(*parsed);
         },
         help)
      ->envname(env);
}

// Addresses, sessions and rate limits (docs/SECURITY.md).
void define_security_options(CLI::App& app, Config& c) {
  add_cidr_option(app, "--allow-ip", c.http.allow,
                  "Only these client networks (CIDRs, comma-separated) may connect; others get "
                  "403 or are closed before any work",
                  "CHATD_ALLOW_IP");
  add_cidr_option(app, "--admin-allow-ip", c.admin_allow,
                  "Only these client networks may call /api/admin", "CHATD_ADMIN_ALLOW_IP");
  add_cidr_option(app, "--trusted-proxy", c.http.trusted_proxies,
                  "Proxies whose X-Forwarded-For is believed (CIDRs); the peer address otherwise",
                  "CHATD_TRUSTED_PROXY");
  app.add_flag("--accept-sessionless-tokens", c.account_limits.accept_sessionless_tokens,
               "Accept tokens without a session (from a classic backend sharing the JWT secret); "
               "they cannot be revoked one by one")
      ->envname("CHATD_ACCEPT_SESSIONLESS_TOKENS");
  auto& a = c.account_limits;
  add_rate_option(app, "--rate-login-ip", a.login_per_ip, "Login attempts per client IP",
                  "CHATD_RATE_LOGIN_IP");
  add_rate_option(app, "--rate-login-account", a.login_failures_per_account,
                  "Login attempts per account from IPs it never logged in from",
                  "CHATD_RATE_LOGIN_ACCOUNT");
  add_rate_option(app, "--rate-login-known-ip", a.login_failures_per_known_ip,
                  "Login attempts per account from an IP it logged in from before",
                  "CHATD_RATE_LOGIN_KNOWN_IP");
  add_rate_option(app, "--rate-register-ip", a.registrations_per_ip, "Registrations per client IP",
                  "CHATD_RATE_REGISTER_IP");
  add_rate_option(app, "--rate-otp-account", a.otp_failures_per_account,
                  "Wrong two-factor codes per account", "CHATD_RATE_OTP_ACCOUNT");
  add_rate_option(app, "--rate-send-user", c.limits.sends_per_user,
                  "Messages sent per user (REST and sockets)", "CHATD_RATE_SEND_USER");
  add_rate_option(app, "--rate-rest-ip", c.edge.rest_per_ip, "REST requests per client IP",
                  "CHATD_RATE_REST_IP");
  add_rate_option(app, "--rate-socket-connect-ip", c.edge.socket_connections_per_ip,
                  "Socket.IO connections opened per client IP", "CHATD_RATE_SOCKET_CONNECT_IP");
  add_rate_option(app, "--rate-socket-events", c.socket_events_per_socket,
                  "Events per socket (native and classic)", "CHATD_RATE_SOCKET_EVENTS");
}

// Attachments (API.md, "Rich messages"; README.md, "Cluster", for the shared directory of a
// cluster).
void define_attachment_options(CLI::App& app, Config& c) {
  app.add_option("--attachment-dir", c.attachment_dir,
                 "Where attachment bytes are kept (default: <data-dir>/attachments); in a cluster, "
                 "a directory every node mounts")
      ->envname("CHATD_ATTACHMENT_DIR");
  app.add_option("--max-attachment-bytes", c.attachments.max_bytes, "Largest upload (413 above)")
      ->envname("CHATD_MAX_ATTACHMENT_BYTES")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--attachment-grace-s", c.attachment_grace_s,
                 "Seconds an upload no message carries is kept before it is deleted")
      ->envname("CHATD_ATTACHMENT_GRACE_S")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{365} * 86'400))
      ->capture_default_str();
  app.add_option("--attachment-url-ttl-s", c.attachment_link_s,
                 "Seconds a signed attachment link stays valid (at least; at most twice that)")
      ->envname("CHATD_ATTACHMENT_URL_TTL_S")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{30} * 86'400))
      ->capture_default_str();
  app.add_option("--thumbnail-threads", c.attachments.thumbnail_threads,
                 "Threads that decode images for thumbnails")
      ->envname("CHATD_THUMBNAIL_THREADS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}))
      ->capture_default_str();
}

// Retention and the background jobs (docs/SECURITY.md, "Privacy").
void define_privacy_options(CLI::App& app, Config& c) {
  app.add_option("--retention-days", c.retention_days,
                 "Erase messages older than this many days, server-wide (0: keep them; a chat "
                 "may set a shorter retention of its own)")
      ->envname("CHATD_RETENTION_DAYS")
      ->check(CLI::Range(0, 36'500))
      ->capture_default_str();
  app.add_option("--housekeeping-interval-ms", c.housekeeping_interval_ms,
                 "How often retention runs, erasures cut short are finished and old sessions and "
                 "audit events are pruned")
      ->envname("CHATD_HOUSEKEEPING_INTERVAL_MS")
      ->check(CLI::Range(std::int64_t{100}, std::int64_t{86'400'000}))
      ->capture_default_str();
  app.add_option("--audit-keep-days", c.privacy.audit_keep_days, "Days an audit event is kept")
      ->envname("CHATD_AUDIT_KEEP_DAYS")
      ->check(CLI::Range(1, 36'500))
      ->capture_default_str();
  app.add_option("--revoked-session-keep-days", c.privacy.revoked_session_keep_days,
                 "Days a revoked session (and its spent refresh tokens) is kept to detect reuse")
      ->envname("CHATD_REVOKED_SESSION_KEEP_DAYS")
      ->check(CLI::Range(1, 36'500))
      ->capture_default_str();
}

void define_options(CLI::App& app, Config& c) {
  auto& h = c.http;
  auto& l = h.limits;
  app.add_option("--host", h.host, "Address to listen on")
      ->envname("CHATD_HOST")
      ->capture_default_str();
  app.add_option("--port", h.port, "Port to listen on (0: any free port)")
      ->envname("CHATD_PORT")
      ->capture_default_str();
  app.add_option("--threads", h.threads, "Network threads (0: one per core)")
      ->envname("CHATD_THREADS")
      ->capture_default_str();
  app.add_option("--data-dir", c.data_dir, "Directory for the database and the generated secret")
      ->envname("CHATD_DATA_DIR")
      ->capture_default_str();
  app.add_option("--jwt-secret", c.jwt_secret,
                 "HS256 secret for tokens (also JWT_SECRET); generated and kept in the data dir "
                 "when absent")
      ->envname("CHATD_JWT_SECRET");
  app.add_option("--secret-key", c.secret_key,
                 "64 hex digits: the key that seals two-factor secrets at rest; generated and "
                 "kept in the data dir when absent (every node of a cluster needs the same)")
      ->envname("CHATD_SECRET_KEY");
  app.add_option("--jwt-lifetime-s", c.jwt_lifetime_s, "Token lifetime in seconds")
      ->envname("CHATD_JWT_LIFETIME_S")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--cors-origin", c.cors_origins,
                 "Comma-separated origins allowed to call from browsers (default: any)")
      ->envname("CHATD_CORS_ORIGIN");
  app.add_option("--web-root", c.web_root,
                 "Serve a built frontend from this directory (SPA fallback to index.html)")
      ->envname("CHATD_WEB_ROOT")
      ->check(CLI::ExistingDirectory);
  // Checked when the server is built (net/tls.h): a bad file stops chatd at start.
  auto* tls_cert = app.add_option("--tls-cert", c.tls_cert,
                                  "PEM certificate (then any intermediates): serve HTTPS and WSS "
                                  "on the port, with HSTS")
                       ->envname("CHATD_TLS_CERT");
  auto* tls_key = app.add_option("--tls-key", c.tls_key,
                                 "PEM private key (RSA or EC, unencrypted) of --tls-cert")
                      ->envname("CHATD_TLS_KEY");
  tls_cert->needs(tls_key);
  tls_key->needs(tls_cert);
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error or off")
      ->envname("CHATD_LOG_LEVEL")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--sqlite-synchronous", c.sqlite_synchronous,
                 "full: a commit survives power loss; normal: it survives kill -9 only")
      ->envname("CHATD_SQLITE_SYNCHRONOUS")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "normal"}));
  app.add_option("--sqlite-readers", c.sqlite_readers, "SQLite reader threads")
      ->envname("CHATD_SQLITE_READERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--sqlite-max-batch", c.sqlite_max_batch, "Writes committed together at most")
      ->envname("CHATD_SQLITE_MAX_BATCH")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--database-url", c.database_url,
                 "postgresql://user:password@host:port/db: store in this PostgreSQL (which nodes "
                 "may share) instead of SQLite in the data dir (also DATABASE_URL)")
      ->envname("CHATD_DATABASE_URL");
  app.add_option("--postgres-readers", c.postgres_readers, "PostgreSQL reader connections")
      ->envname("CHATD_POSTGRES_READERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--postgres-max-batch", c.postgres_max_batch,
                 "Writes committed together at most on PostgreSQL")
      ->envname("CHATD_POSTGRES_MAX_BATCH")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--password-hash-ops", c.hash_ops, "Argon2id passes")
      ->envname("CHATD_PASSWORD_HASH_OPS")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--password-hash-memory-kib", c.hash_memory_kib, "Argon2id memory in KiB")
      ->envname("CHATD_PASSWORD_HASH_MEMORY_KIB")
      ->check(CLI::Range(8, 4 * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--password-hash-threads", c.hash_threads, "Threads that hash passwords")
      ->envname("CHATD_PASSWORD_HASH_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-body-bytes", l.max_body_bytes, "Largest request body (413 above)")
      ->envname("CHATD_MAX_BODY_BYTES")
      ->capture_default_str();
  app.add_option("--max-header-bytes", l.max_header_bytes, "Largest request head (413 above)")
      ->envname("CHATD_MAX_HEADER_BYTES")
      ->capture_default_str();
  app.add_option("--max-connections", l.max_connections, "Open connections at most")
      ->envname("CHATD_MAX_CONNECTIONS")
      ->capture_default_str();
  app.add_option("--idle-timeout-ms", c.idle_timeout_ms,
                 "Close a keep-alive connection idle this long")
      ->envname("CHATD_IDLE_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--read-timeout-ms", c.read_timeout_ms,
                 "A whole request must arrive within this time from its first byte")
      ->envname("CHATD_READ_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--write-timeout-ms", c.write_timeout_ms, "A response must be taken within this")
      ->envname("CHATD_WRITE_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--shutdown-grace-ms", c.shutdown_grace_ms,
                 "On SIGTERM, requests in flight get this long to finish")
      ->envname("CHATD_SHUTDOWN_GRACE_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  auto& e = c.socketio.engine;
  app.add_option("--ping-interval-ms", c.ping_interval_ms, "Socket.IO heartbeat interval")
      ->envname("CHATD_PING_INTERVAL_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ping-timeout-ms", c.ping_timeout_ms,
                 "A socket that does not answer a heartbeat within this is closed")
      ->envname("CHATD_PING_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-socket-message-bytes", e.max_payload,
                 "Largest Socket.IO message (and polling payload) a client may send")
      ->envname("CHATD_MAX_SOCKET_MESSAGE_BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20))
      ->capture_default_str();
  app.add_option("--max-buffered-bytes", e.max_buffered_bytes,
                 "Bytes queued to one slow client before it is cut (it reconnects and syncs)")
      ->envname("CHATD_MAX_BUFFERED_BYTES")
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--classic-setup-timeout-ms", c.classic_setup_timeout_ms,
                 "A socket without a token that sends no valid `setup` within this is dropped")
      ->envname("CHATD_CLASSIC_SETUP_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto& d = c.limits;
  app.add_option("--limit-name", d.name_max, "User name length at most")
      ->envname("CHATD_LIMIT_NAME")
      ->capture_default_str();
  app.add_option("--limit-email", d.email_max, "Email length at most")
      ->envname("CHATD_LIMIT_EMAIL")
      ->capture_default_str();
  app.add_option("--limit-password-min", d.password_min, "Password length at least")
      ->envname("CHATD_LIMIT_PASSWORD_MIN")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--limit-password-max", d.password_max, "Password length at most")
      ->envname("CHATD_LIMIT_PASSWORD_MAX")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--limit-content", d.content_max, "Message length at most (characters)")
      ->envname("CHATD_LIMIT_CONTENT")
      ->capture_default_str();
  app.add_option("--limit-chat-name", d.chat_name_max, "Chat name length at most")
      ->envname("CHATD_LIMIT_CHAT_NAME")
      ->capture_default_str();
  app.add_option("--limit-group-members", d.group_max_members, "Members of a group at most")
      ->envname("CHATD_LIMIT_GROUP_MEMBERS")
      ->check(CLI::Range(3, 1000000))
      ->capture_default_str();
  app.add_option("--limit-typing-burst", d.typing_burst,
                 "Typing reports a user may send in a row before being rate limited")
      ->envname("CHATD_LIMIT_TYPING_BURST")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--limit-typing-per-second", d.typing_per_second,
                 "Typing reports a user may send per second after the burst")
      ->envname("CHATD_LIMIT_TYPING_PER_SECOND")
      ->check(CLI::Range(0.01, 10000.0))
      ->capture_default_str();
  app.add_option("--typing-expiry-ms", d.typing_expiry_ms,
                 "Typing that is not refreshed within this ends by itself")
      ->envname("CHATD_TYPING_EXPIRY_MS")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  app.add_option("--max-sends-in-flight", d.sends_in_flight_max,
                 "Sends taken on at most (and delivery backlog per network thread at most) before "
                 "new sends are refused 'unavailable' (admission control)")
      ->envname("CHATD_MAX_SENDS_IN_FLIGHT")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  app.add_option("--redis-url", c.redis_url,
                 "redis://host:port: cluster mode (with --database-url), nodes share fan-out, "
                 "presence and typing through this Redis (also REDIS_URL)")
      ->envname("CHATD_REDIS_URL");
  app.add_option("--node-id", c.node_id,
                 "This node's name in the cluster ([A-Za-z0-9_-]; default: random at each start)")
      ->envname("CHATD_NODE_ID");
  app.add_option("--advertise-address", c.advertise_address,
                 "host:port where other nodes reach this one (default: the listening address, "
                 "127.0.0.1 for a wildcard host)")
      ->envname("CHATD_ADVERTISE_ADDRESS");
  app.add_option("--default-pic", c.default_pic, "Avatar URL for users who give none")
      ->envname("CHATD_DEFAULT_PIC")
      ->capture_default_str();
}

// The address other nodes reach this one at: as given, or the listening one.
std::string advertise_address(const Config& config, unsigned short port) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  const auto& host = config.http.host;
  const bool wildcard = host.empty() || host == "0.0.0.0" || host == "::";
  if (wildcard) return "127.0.0.1:" + std::to_string(port);
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// SQLite in the data dir, or the PostgreSQL that --database-url names.
std::unique_ptr<chatd::store::Store> open_store(const Config& config) {
  if (config.database_url.empty()) {
    chatd::store::sqlite::SqliteOptions sqlite{(fs::path(config.data_dir) / "chatd.db").string(),
                                               config.sqlite_synchronous == "normal"
                                                   ? chatd::store::sqlite::Synchronous::normal
                                                   : chatd::store::sqlite::Synchronous::full,
                                               config.sqlite_readers, config.sqlite_max_batch};
    return std::make_unique<chatd::store::sqlite::SqliteStore>(sqlite);
  }
  const auto& url = config.database_url;
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    throw std::runtime_error("--database-url must be a postgresql:// or postgres:// URL");
  }
  return std::make_unique<chatd::store::postgres::PostgresStore>(
      chatd::store::postgres::PostgresOptions{url, config.postgres_readers,
                                              config.postgres_max_batch});
}

// Cluster mode: every node's commits reach this node's sequencer through the commit feed, and
// typing and presence go to every node. Before serving: nothing is committed yet.
std::unique_ptr<chatd::cluster::ClusterNode> start_cluster(
    const Config& config, unsigned short port, chatd::store::Store& store,
    chatd::chat::ChatService& chats, chatd::chat::EventSink& sockets, chatd::socketio::Server& io) {
  auto* log = dynamic_cast<chatd::store::ChangeLog*>(&store);
  if (!log) {
    throw std::runtime_error(
        "cluster mode (--redis-url) needs a store all nodes share: "
        "give --database-url too");
  }
  auto redis = chatd::cluster::parse_redis_url(config.redis_url);
  if (!redis) throw std::runtime_error("--redis-url: " + redis.error().message);
  chatd::cluster::ClusterOptions options{
      *redis, config.node_id, advertise_address(config, port), {}, config.limits};
  auto node = std::make_unique<chatd::cluster::ClusterNode>(std::move(options), store, *log, chats,
                                                            sockets, [&io] { io.close_all(); });
  node->start();
  spdlog::info("chatd: node {} in a cluster through Redis {}:{}", config.node_id, redis->host,
               redis->port);
  return node;
}

// The key that seals secrets at rest (TOTP): --secret-key, else kept in the data dir. Every node
// of a cluster needs the same one, as with the JWT secret.
chatd::auth::SecretBox secret_box(const Config& config) {
  if (config.secret_key.empty()) return chatd::auth::load_or_create_secret_box(config.data_dir);
  auto box = chatd::auth::SecretBox::from_hex(config.secret_key);
  if (!box) throw std::runtime_error("--secret-key: " + box.error().message);
  return *box;
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    auto item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) items.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

// `chatd admin grant|revoke EMAIL`: a one-off change to the store this configuration names.
struct AdminCommand {
  std::string action;  // empty: serve
  std::string email;
};

void define_admin_command(CLI::App& app, AdminCommand& command) {
  auto* admin = app.add_subcommand(
      "admin", "Server administration on the store of this configuration, then exit");
  admin->require_subcommand(1);
  admin->fallthrough();  // --data-dir, --database-url... may follow the subcommand
  for (const std::string action : {"grant", "revoke"}) {
    auto* sub =
        admin->add_subcommand(action, action == "grant" ? "Make the user with EMAIL a server admin"
                                                        : "Take the server admin role from EMAIL");
    sub->fallthrough();
    sub->add_option("email", command.email, "The user's email (case-insensitive)")->required();
    sub->callback([&command, action] { command.action = action; });
  }
}

int run_admin(Config& config, const AdminCommand& command) {
  spdlog::set_level(spdlog::level::warn);
  if (config.database_url.empty()) {
    if (const char* url = std::getenv("DATABASE_URL")) config.database_url = url;
  }
  const auto database = fs::path(config.data_dir) / "chatd.db";
  if (config.database_url.empty() && !fs::exists(database)) {
    std::fprintf(stderr, "chatd admin: no database at %s (give chatd's --data-dir)\n",
                 database.c_str());
    return 1;
  }
  // A running server may hold the same store: SQLite waits for its writer, PostgreSQL is shared.
  boost::asio::io_context io;
  auto store = open_store(config);
  const bool grant = command.action == "grant";
  auto user = chatd::run_blocking(io, store->set_server_admin(command.email, grant));
  store.reset();
  if (!user) {
    std::fprintf(stderr, "chatd admin %s: %s\n", command.action.c_str(),
                 user.error().message.c_str());
    return 1;
  }
  std::printf("%s <%s> is %s a server admin\n", user->name.c_str(), user->email.c_str(),
              grant ? "now" : "no longer");
  return 0;
}

int serve(Config& config) {
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  fs::create_directories(config.data_dir);
  ::chmod(config.data_dir.c_str(), 0700);

  if (config.jwt_secret.empty()) {
    if (const char* classic = std::getenv("JWT_SECRET")) config.jwt_secret = classic;
  }
  if (config.jwt_secret.empty())
    config.jwt_secret = chatd::auth::load_or_create_secret(config.data_dir);
  if (config.redis_url.empty()) {
    if (const char* url = std::getenv("REDIS_URL")) config.redis_url = url;
  }
  if (config.database_url.empty()) {
    if (const char* url = std::getenv("DATABASE_URL")) config.database_url = url;
  }
  if (config.node_id.empty()) config.node_id = "n" + chatd::new_object_id().substr(8, 10);

  auto& limits = config.http.limits;
  limits.idle_timeout = std::chrono::milliseconds(config.idle_timeout_ms);
  limits.read_timeout = std::chrono::milliseconds(config.read_timeout_ms);
  limits.write_timeout = std::chrono::milliseconds(config.write_timeout_ms);
  limits.shutdown_grace = std::chrono::milliseconds(config.shutdown_grace_ms);
  config.http.cors = chatd::net::CorsPolicy(split_list(config.cors_origins));
  if (!config.web_root.empty()) config.http.web_root = config.web_root;
  if (!config.tls_cert.empty() || !config.tls_key.empty()) {
    config.http.tls = chatd::net::TlsFiles{config.tls_cert, config.tls_key};
  }

  chatd::api::EdgeGuard edge(config.edge, config.admin_allow);
  config.http.gate = [&edge](const chatd::net::Target& target, const std::string& client) {
    return edge.check(target, client);
  };

  // The server owns the event loops, so it is built first and destroyed last: everything that
  // completes onto them (store, hasher) is gone before they are.
  chatd::net::Router router;
  // Attachment file I/O: an upload cut short by the shutdown closes its staging file here when
  // its coroutine is destroyed with the server's loops, so this pool outlives them.
  boost::asio::thread_pool attachment_io(2);
  chatd::net::HttpServer server(config.http, router);

  auto store = open_store(config);
  auto hasher = std::make_unique<chatd::auth::PasswordHasher>(
      chatd::auth::PasswordCost{config.hash_ops, config.hash_memory_kib * 1024},
      config.hash_threads);
  chatd::auth::TokenIssuer tokens(config.jwt_secret, std::chrono::seconds(config.jwt_lifetime_s));
  // The sequencer's thread: committed changes become client events there, in commit order.
  chatd::LoopThread fanout;
  chatd::util::LocalRateLimiter local_limits;
  const auto secrets = secret_box(config);
  chatd::chat::AccountService accounts(*store, *hasher, tokens, secrets, local_limits,
                                       config.account_limits, config.limits, config.default_pic);
  chatd::chat::ChatService chats(*store, accounts.sessions(), local_limits, config.limits,
                                 fanout.executor());
  boost::asio::co_spawn(fanout.executor(), accounts.flush_session_uses_every(kSessionUseFlush),
                        chatd::log_if_failed("chatd: session uses"));
  if (config.retention_days > 0) config.privacy.retention_days = config.retention_days;
  chatd::chat::PrivacyService privacy(*store, accounts, config.limits, config.default_pic,
                                      config.privacy);
  chatd::chat::AdminService admin(*store, accounts, privacy, config.limits);
  const fs::path attachment_dir = config.attachment_dir.empty()
                                      ? fs::path(config.data_dir) / "attachments"
                                      : fs::path(config.attachment_dir);
  chatd::store::FileBlobStore blobs(attachment_dir);
  const chatd::chat::AttachmentLinks links(config.jwt_secret,
                                           std::chrono::seconds(config.attachment_link_s));
  config.attachments.grace = std::chrono::seconds(config.attachment_grace_s);
  config.attachments.staging_dir = attachment_dir / "staging";
  chatd::chat::AttachmentService attachments(*store, blobs, links, attachment_io.get_executor(),
                                             config.attachments);
  chats.set_attachment_links(links);
  privacy.set_attachments(attachments);
  boost::asio::co_spawn(
      fanout.executor(),
      privacy.housekeeping_every(std::chrono::milliseconds(config.housekeeping_interval_ms)),
      chatd::log_if_failed("chatd: housekeeping"));
  chatd::api::RestApi rest(chats, accounts, privacy, admin);
  rest.register_routes(router);

  chatd::api::AttachmentApi attachment_api(accounts, attachments);
  attachment_api.register_routes(router);

  auto& sio = config.socketio;
  sio.engine.ping_interval = std::chrono::milliseconds(config.ping_interval_ms);
  sio.engine.ping_timeout = std::chrono::milliseconds(config.ping_timeout_ms);
  // In a cluster, sids name their node, and a request for another node's session is forwarded to
  // the address that node registered (no sticky sessions needed).
  std::atomic<chatd::cluster::ClusterNode*> joined{nullptr};
  if (!config.redis_url.empty()) {
    sio.engine.node_id = config.node_id;
    sio.engine.forward_over_tls = config.http.tls.has_value();  // every node serves the same way
    sio.engine.locate_node = [&joined](std::string_view node) -> std::optional<std::string> {
      auto* cluster = joined.load(std::memory_order_acquire);
      return cluster ? cluster->locate(node) : std::nullopt;
    };
  }
  chatd::socketio::Server io(sio, server.executors());
  chatd::api::SocketApi sockets(
      chats, accounts, io.of("/"),
      chatd::api::SocketOptions{std::chrono::milliseconds(config.classic_setup_timeout_ms),
                                config.socket_events_per_socket});
  chats.set_events(sockets);
  io.attach(router, "/socket.io/");
  std::unique_ptr<chatd::cluster::ClusterNode> cluster;
  chatd::api::HealthApi health(
      *store, config.redis_url.empty() ? std::function<bool()>()
                                       : [&cluster] { return cluster && cluster->redis_up(); });
  health.register_routes(router);
  server.on_stop([&io] { io.close_all(); });

  const auto port = server.listen();
  if (!config.redis_url.empty()) {
    cluster = start_cluster(config, port, *store, chats, sockets, io);
    accounts.set_rate_limiter(cluster->rate_limiter());
    joined.store(cluster.get(), std::memory_order_release);
  }
  boost::asio::signal_set signals(server.executor(), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (!ec) {
      spdlog::info("chatd: signal {} received, shutting down", signal);
      server.stop();
    }
  });
  // Printed whatever the log level: scripts and tests wait for this line to learn the port.
  std::printf("chatd listening on %s://%s:%u (data in %s)\n", server.tls() ? "https" : "http",
              config.http.host.c_str(), static_cast<unsigned>(port), config.data_dir.c_str());
  std::fflush(stdout);
  server.run();

  if (cluster) cluster->stop();  // no more catch-up reads; the last commits still pass through
  fanout.stop();                 // before the store closes: its coroutines read from the store
  hasher.reset();
  store.reset();  // commits queued writes and closes the database
  joined.store(nullptr);
  cluster.reset();
  spdlog::info("chatd: stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"chatd: a real-time chat backend (REST API of the classic MERN chat apps)"};
  app.option_defaults()->always_capture_default();
  define_options(app, config);
  define_security_options(app, config);
  define_privacy_options(app, config);
  define_attachment_options(app, config);
  AdminCommand admin;
  define_admin_command(app, admin);
  CLI11_PARSE(app, argc, argv);
  try {
    if (!admin.action.empty()) return run_admin(config, admin);
    return serve(config);
  } catch (const std::exception& e) {
    spdlog::critical("chatd: {}", e.what());
    return 1;
  }
}
