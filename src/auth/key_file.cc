#include "auth/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "util/text.h"

namespace chatd::auth {

namespace {

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// The file's first line, trimmed; nullopt when the file does not exist.
std::optional<std::string> read_first_line(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail(errno, "cannot read " + path.string());
  }
  std::string content;
  char buffer[512];
  // A key file is one short line: what lies past the first few KiB is never a key.
  while (content.size() < 8192) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      fail(error, "cannot read " + path.string());
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string line(text::trim(std::string_view(content).substr(0, content.find('\n'))));
  sodium_memzero(buffer, sizeof buffer);
  sodium_memzero(content.data(), content.size());
  return line;
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? errno : EIO, "cannot write " + path.string());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  hex.pop_back();
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

// The key is written whole under a temporary name, then linked to its real name. link() fails
// when the name exists, so the first process to link wins and every other one reads its key; and
// the real name only ever appears with the whole key in it (O_EXCL on the real name would show an
// empty file to a concurrent reader, and leave one behind after a crash).
void create_key_file(const std::filesystem::path& path) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  auto temporary = path;
  temporary += ".tmp-" + random_hex(8);
  std::string line = random_hex(32) + "\n";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(errno, "cannot create " + temporary.string());
  try {
    write_all(fd, line, temporary);
    if (::fsync(fd) != 0) fail(errno, "cannot write " + temporary.string());
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    sodium_memzero(line.data(), line.size());
    throw;
  }
  ::close(fd);
  sodium_memzero(line.data(), line.size());
  const int linked = ::link(temporary.c_str(), path.c_str());
  const int link_error = errno;
  ::unlink(temporary.c_str());
  if (linked != 0) {
    if (link_error == EEXIST) return;  // another process won
    fail(link_error, "cannot create " + path.string());
  }
  // The new name must be on disk too, or a power loss could take the key back after use.
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(errno, "cannot open " + dir.string());
  const bool synced = ::fsync(dir_fd) == 0;
  const int sync_error = errno;
  ::close(dir_fd);
  if (!synced) fail(sync_error, "cannot sync " + dir.string());
}

}  // namespace

std::string load_or_create_key_file(const std::filesystem::path& path) {
  auto key = read_first_line(path);
  if (!key) {
    create_key_file(path);
    key = read_first_line(path);
    if (!key) fail(ENOENT, "cannot read " + path.string());
  }
  if (key->empty()) {
    throw std::runtime_error(path.string() + " is empty: remove it to have a new key created");
  }
  return std::move(*key);
}

}  // namespace chatd::auth
