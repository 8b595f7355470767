#include "net/tls.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "net/http_server.h"
#include "net/router.h"
#include "net/socket_stream.h"

namespace chatd::net {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::asio::ip::tcp;

// Certificates made once for the whole suite with the openssl command (installed with OpenSSL).
class Certificates : public ::testing::Environment {
 public:
  static fs::path dir() { return dir_; }

  void SetUp() override {
    char pattern[] = "/tmp/chatd-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    const std::string d = dir_.string();
    const std::string req = "openssl req -x509 -nodes -days 1 -subj /CN=localhost ";
    const std::string san = " -addext subjectAltName=IP:127.0.0.1,DNS:localhost";
    run(req + "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout " + d + "/ec.key -out " +
        d + "/ec.crt" + san);
    run(req + "-newkey rsa:2048 -keyout " + d + "/rsa.key -out " + d + "/rsa.crt" + san);
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out " + d +
        "/other.key");
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -aes-128-cbc "
        "-pass pass:secret -out " +
        d + "/encrypted.key");
    // A leaf signed by a CA of its own, served with the CA after it.
    run(req + "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout " + d + "/ca.key -out " +
        d + "/ca.crt -subj /CN=chatd-test-ca");
    run("openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj "
        "/CN=localhost -keyout " +
        d + "/leaf.key -out " + d + "/leaf.csr");
    std::ofstream(d + "/leaf.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    run("openssl x509 -req -days 1 -in " + d + "/leaf.csr -CA " + d + "/ca.crt -CAkey " + d +
        "/ca.key -CAcreateserial -extfile " + d + "/leaf.ext -out " + d + "/leaf.crt");
    std::ofstream(d + "/chain.crt")
        << std::ifstream(d + "/leaf.crt").rdbuf() << std::ifstream(d + "/ca.crt").rdbuf();
    std::ofstream(d + "/garbage.pem") << "not a certificate\n";
  }

  void TearDown() override { fs::remove_all(dir_); }

 private:
  static void run(const std::string& command) {
    ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
  }
  static inline fs::path dir_;
};

const auto* const kCertificates = ::testing::AddGlobalTestEnvironment(new Certificates);

TlsFiles files(const std::string& cert, const std::string& key) {
  return {Certificates::dir() / cert, Certificates::dir() / key};
}

// The message make_tls_context throws for `tls`, or "" when it loads.
std::string load_error(const TlsFiles& tls) {
  try {
    make_tls_context(tls);
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

TEST(Tls, LoadsAnEcOrRsaCertificateWithItsKey) {
  EXPECT_EQ(load_error(files("ec.crt", "ec.key")), "");
  EXPECT_EQ(load_error(files("rsa.crt", "rsa.key")), "");
}

TEST(Tls, LoadsAChain) {
  EXPECT_EQ(load_error(files("chain.crt", "leaf.key")), "");
}

TEST(Tls, AMissingFileIsNamed) {
  const auto missing_cert = load_error(files("nope.crt", "ec.key"));
  EXPECT_NE(missing_cert.find("certificate"), std::string::npos) << missing_cert;
  EXPECT_NE(missing_cert.find("nope.crt: no such file"), std::string::npos) << missing_cert;
  const auto missing_key = load_error(files("ec.crt", "nope.key"));
  EXPECT_NE(missing_key.find("key"), std::string::npos) << missing_key;
  EXPECT_NE(missing_key.find("nope.key: no such file"), std::string::npos) << missing_key;
  const auto directory = load_error({Certificates::dir(), Certificates::dir() / "ec.key"});
  EXPECT_NE(directory.find("not a regular file"), std::string::npos) << directory;
}

TEST(Tls, AnUnreadableFileIsNamed) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  const auto path = Certificates::dir() / "unreadable.key";
  fs::copy_file(Certificates::dir() / "ec.key", path, fs::copy_options::overwrite_existing);
  fs::permissions(path, fs::perms::none);
  const auto error = load_error({Certificates::dir() / "ec.crt", path});
  EXPECT_NE(error.find("unreadable.key: cannot read"), std::string::npos) << error;
}

TEST(Tls, AKeyOfAnotherCertificateIsRefused) {
  const auto error = load_error(files("ec.crt", "other.key"));
  EXPECT_NE(error.find("does not belong to the certificate"), std::string::npos) << error;
  const auto rsa_for_ec = load_error(files("ec.crt", "rsa.key"));
  EXPECT_NE(rsa_for_ec.find("does not belong to the certificate"), std::string::npos) << rsa_for_ec;
}

TEST(Tls, FilesWithoutACertificateOrKeyAreRefused) {
  const auto not_a_certificate = load_error(files("garbage.pem", "ec.key"));
  EXPECT_NE(not_a_certificate.find("TLS certificate"), std::string::npos) << not_a_certificate;
  EXPECT_NE(not_a_certificate.find("garbage.pem"), std::string::npos) << not_a_certificate;
  const auto key_as_certificate = load_error(files("ec.key", "ec.key"));
  EXPECT_NE(key_as_certificate.find("TLS certificate"), std::string::npos) << key_as_certificate;
  const auto certificate_as_key = load_error(files("ec.crt", "ec.crt"));
  EXPECT_NE(certificate_as_key.find("TLS key"), std::string::npos) << certificate_as_key;
}

TEST(Tls, AnEncryptedKeyIsRefusedWithoutAPrompt) {
  const auto error = load_error(files("ec.crt", "encrypted.key"));
  EXPECT_NE(error.find("TLS key"), std::string::npos) << error;
}

TEST(Tls, TheServerRefusesToStartWithBadFiles) {
  Router router;
  HttpServerOptions options;
  options.threads = 1;
  options.tls = files("ec.crt", "other.key");
  EXPECT_THROW(HttpServer(options, router), std::runtime_error);
}

// ---- Over the wire ----------------------------------------------------------------------------

// An HTTPS server on two threads: GET /hello, and /echo, whose upgrade handler moves the
// connection to the second thread (as engineio does) and echoes every byte over the TLS session.
class TlsServer {
 public:
  TlsServer() {
    router_.add(http::verb::get, "/hello", [](Request&) -> asio::awaitable<HttpResponse> {
      co_return text_response(http::status::ok, "hello");
    });
    router_.add_upgrade("/echo", [this](SocketStream stream, HttpRequest) {
      return take(std::move(stream), server_->executors().back());
    });
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.tls = files("chain.crt", "leaf.key");
    server_.emplace(options, router_);
    port_ = server_->listen();
    thread_ = std::thread([this] { server_->run(); });
  }
  ~TlsServer() {
    server_->stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  static asio::awaitable<void> take(SocketStream stream, asio::any_io_executor home) {
    boost::system::error_code ec;
    auto detached = stream.detach(ec);
    if (ec) co_return;
    asio::co_spawn(home, echo(std::move(detached), home), asio::detached);
  }

  static asio::awaitable<void> echo(SocketStream::Detached detached, asio::any_io_executor home) {
    auto stream = SocketStream::attach(home, std::move(detached));
    if (!stream.is_tls()) co_return;
    static constexpr std::string_view kSwitch = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    if (co_await write_all(stream, asio::buffer(kSwitch))) co_return;
    // A small buffer: most reads fill it and leave bytes inside TLS.
    std::array<char, 1000> buffer;
    for (;;) {
      auto [wait_ec] = co_await stream.async_wait_read(asio::as_tuple(asio::use_awaitable));
      if (wait_ec) break;
      boost::system::error_code ec;
      const auto n = stream.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) continue;
      if (ec) break;
      if (co_await write_all(stream, asio::buffer(buffer.data(), n))) break;
    }
    stream.close();
  }

  Router router_;
  std::optional<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

struct Client {
  explicit Client(std::uint16_t port) : context(ssl::context::tls_client), stream(io, context) {
    context.load_verify_file((Certificates::dir() / "ca.crt").string());
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification("localhost"));
    stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream.handshake(ssl::stream_base::client);
  }
  asio::io_context io;
  ssl::context context;
  ssl::stream<tcp::socket> stream;
};

TEST(TlsServer, ServesHttpsWithHsts) {
  TlsServer server;
  Client client(server.port());
  http::request<http::string_body> request(http::verb::get, "/hello", 11);
  request.set(http::field::host, "localhost");
  http::write(client.stream, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(client.stream, buffer, response);
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(response.body(), "hello");
  EXPECT_EQ(response[http::field::strict_transport_security], "max-age=31536000");
  EXPECT_GE(SSL_version(client.stream.native_handle()), TLS1_2_VERSION);
}

TEST(TlsServer, AnUpgradedConnectionGoesOnOverTlsOnAnotherThread) {
  TlsServer server;
  Client client(server.port());
  const std::string upgrade =
      "GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  asio::write(client.stream, asio::buffer(upgrade));
  std::string head(std::string_view("HTTP/1.1 101 Switching Protocols\r\n\r\n").size(), '\0');
  asio::read(client.stream, asio::buffer(head));
  EXPECT_EQ(head, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
  // Several records' worth both ways at once: the echo's reads fill its buffer and find the rest
  // inside TLS, and its writes meet a full socket buffer while the client is still writing.
  std::string sent;
  for (int i = 0; sent.size() < 300'000; ++i) sent += "message " + std::to_string(i) + "\n";
  std::string received(sent.size(), '\0');
  boost::system::error_code write_ec, read_ec;
  asio::async_write(client.stream, asio::buffer(sent),
                    [&](boost::system::error_code ec, std::size_t) { write_ec = ec; });
  asio::async_read(client.stream, asio::buffer(received),
                   [&](boost::system::error_code ec, std::size_t) { read_ec = ec; });
  client.io.run();
  EXPECT_FALSE(write_ec) << write_ec.message();
  EXPECT_FALSE(read_ec) << read_ec.message();
  EXPECT_EQ(received, sent);
}

}  // namespace
}  // namespace chatd::net
