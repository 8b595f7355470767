#include "store/files/file_blob_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <utility>

#include "util/async.h"
#include "util/object_id.h"

namespace chatd::store {

namespace {

namespace fs = std::filesystem;

constexpr mode_t kBlobMode = 0600;
constexpr mode_t kDirMode = 0700;
constexpr std::size_t kCopyBufferBytes = std::size_t{64} << 10;

// A file descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Logs what failed, with the path and errno, for the operator, and returns the bare error a client
// may see: a full disk is a condition to retry later, anything else a fault of the server.
Error io_error(const char* what, const fs::path& path, int error_number) {
  spdlog::error("blob store: {} {}: {}", what, path.string(), std::strerror(error_number));
  const bool full = error_number == ENOSPC || error_number == EDQUOT;
  return make_error(full ? Errc::unavailable : Errc::internal, "The file store failed");
}

Error invalid_id() {
  return make_error(Errc::invalid_input, "Invalid blob id");
}

Error no_such_blob() {
  return make_error(Errc::not_found, "Blob not found");
}

// A new name in a directory is durable only once the directory itself is synced.
Status sync_dir(const fs::path& dir) {
  const Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) return io_error("cannot sync", dir, errno);
  return {};
}

// Creates `dir` with mode 0700; true when it did not exist before.
Result<bool> make_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), kDirMode) == 0) return true;
  if (errno == EEXIST) return false;
  return io_error("cannot create", dir, errno);
}

Fd open_for_reading(const fs::path& path) {
  return Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
}

void unlink_quietly(const fs::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("blob store: cannot remove {}: {}", path.string(), std::strerror(errno));
  }
}

// Puts the staged file's content on disk with the blob's mode: the hard link that names the blob
// shares its inode, so the blob is complete before it has a name.
Status make_staged_durable(const fs::path& staged) {
  const Fd fd = open_for_reading(staged);
  if (!fd.valid()) return io_error("cannot open the staged file", staged, errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return io_error("cannot stat", staged, errno);
  if (!S_ISREG(info.st_mode)) {
    spdlog::error("blob store: staged file {} is not a regular file", staged.string());
    return make_error(Errc::internal, "The file store failed");
  }
  if ((info.st_mode & 07777) != kBlobMode && ::fchmod(fd.get(), kBlobMode) != 0) {
    return io_error("cannot chmod", staged, errno);
  }
  if (::fsync(fd.get()) != 0) return io_error("cannot sync", staged, errno);
  return {};
}

Status write_all(int fd, const char* data, std::size_t length, const fs::path& path) {
  while (length > 0) {
    const ssize_t written = ::write(fd, data, length);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return io_error("cannot write", path, errno);
    data += written;
    length -= static_cast<std::size_t>(written);
  }
  return {};
}

Status copy_bytes(int from, int to, const fs::path& to_path) {
  std::string buffer(kCopyBufferBytes, '\0');
  for (;;) {
    const ssize_t got = ::read(from, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error("cannot read while copying to", to_path, errno);
    if (got == 0) return {};
    auto written = write_all(to, buffer.data(), static_cast<std::size_t>(got), to_path);
    if (!written) return written;
  }
}

// Reads up to `length` bytes at `offset`, fewer only at the end of the file.
Result<std::string> read_at(int fd, std::uint64_t offset, std::size_t length,
                            const fs::path& path) {
  std::string bytes(length, '\0');
  std::size_t got = 0;
  while (got < length) {
    const ssize_t n =
        ::pread(fd, bytes.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", path, errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

}  // namespace

FileBlobStore::FileBlobStore(std::filesystem::path dir, std::size_t threads)
    : dir_(std::move(dir)), tmp_dir_(dir_ / "tmp"), pool_(std::max<std::size_t>(threads, 1)) {
  if (fs::create_directories(dir_)) fs::permissions(dir_, fs::perms::owner_all);
  fs::remove_all(tmp_dir_);
  fs::create_directory(tmp_dir_);
  fs::permissions(tmp_dir_, fs::perms::owner_all);
}

FileBlobStore::~FileBlobStore() {
  pool_.join();
}

std::filesystem::path FileBlobStore::subdir_of(const std::string& sha256) const {
  return dir_ / sha256.substr(0, 2);
}

std::filesystem::path FileBlobStore::path_of(const std::string& sha256) const {
  return subdir_of(sha256) / sha256.substr(2);
}

template <class Fn>
auto FileBlobStore::on_pool(Fn fn) {
  return run_elsewhere([this](auto job) { boost::asio::post(pool_, std::move(job)); },
                       std::move(fn));
}

Status FileBlobStore::put_now(const std::string& sha256,
                              const std::filesystem::path& staged_path) const {
  if (!is_blob_id(sha256)) return invalid_id();
  auto durable = make_staged_durable(staged_path);
  if (!durable) return durable;
  auto created = make_dir(subdir_of(sha256));
  if (!created) return std::move(created).take_error();
  if (*created) {
    auto synced = sync_dir(dir_);
    if (!synced) return synced;
  }
  auto placed = link_into_place(staged_path, path_of(sha256));
  if (!placed) return placed;
  unlink_quietly(staged_path);
  return {};
}

// A hard link is atomic and never replaces: of concurrent puts of one blob, one links and the
// others find the name taken, which is success (the same bytes are there).
Status FileBlobStore::link_into_place(const std::filesystem::path& staged,
                                      const std::filesystem::path& final_path) const {
  if (::link(staged.c_str(), final_path.c_str()) == 0) return sync_dir(final_path.parent_path());
  if (errno == EEXIST) return {};
  // Staged on another file system (EXDEV), or one without hard links (EPERM): copy.
  if (errno == EXDEV || errno == EPERM) return copy_into_place(staged, final_path);
  return io_error("cannot link", final_path, errno);
}

// Copies into tmp/, syncs, and renames into place. A rename replaces an existing name, but only
// ever with the same bytes (the name is their hash), so concurrent copies are harmless too.
Status FileBlobStore::copy_into_place(const std::filesystem::path& staged,
                                      const std::filesystem::path& final_path) const {
  struct stat existing {};
  if (::lstat(final_path.c_str(), &existing) == 0) return {};
  const auto tmp = tmp_dir_ / ("put-" + random_token());
  {
    const Fd from = open_for_reading(staged);
    if (!from.valid()) return io_error("cannot open", staged, errno);
    const Fd to(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kBlobMode));
    if (!to.valid()) return io_error("cannot create", tmp, errno);
    auto copied = copy_bytes(from.get(), to.get(), tmp);
    if (copied && ::fsync(to.get()) != 0) copied = io_error("cannot sync", tmp, errno);
    if (!copied) {
      unlink_quietly(tmp);
      return copied;
    }
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int error_number = errno;
    unlink_quietly(tmp);
    return io_error("cannot rename into", final_path, error_number);
  }
  return sync_dir(final_path.parent_path());
}

Result<bool> FileBlobStore::exists_now(const std::string& sha256) const {
  auto length = size_now(sha256);
  if (length) return true;
  if (length.error().code == Errc::not_found) return false;
  return std::move(length).take_error();
}

Result<std::uint64_t> FileBlobStore::size_now(const std::string& sha256) const {
  if (!is_blob_id(sha256)) return invalid_id();
  const auto path = path_of(sha256);
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return no_such_blob();
    return io_error("cannot stat", path, errno);
  }
  return static_cast<std::uint64_t>(info.st_size);
}

Result<std::string> FileBlobStore::read_now(const std::string& sha256, std::uint64_t offset,
                                            std::size_t length) const {
  if (!is_blob_id(sha256)) return invalid_id();
  const auto path = path_of(sha256);
  const Fd fd = open_for_reading(path);
  if (!fd.valid()) {
    if (errno == ENOENT || errno == ENOTDIR) return no_such_blob();
    return io_error("cannot open", path, errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return io_error("cannot stat", path, errno);
  const auto blob_size = static_cast<std::uint64_t>(info.st_size);
  if (offset >= blob_size) return std::string();
  const auto wanted = std::min<std::uint64_t>({length, kMaxBlobReadBytes, blob_size - offset});
  return read_at(fd.get(), offset, static_cast<std::size_t>(wanted), path);
}

Result<std::optional<std::filesystem::path>> FileBlobStore::set_aside_now(
    const std::string& sha256) const {
  if (!is_blob_id(sha256)) return invalid_id();
  const auto path = path_of(sha256);
  auto aside = tmp_dir_ / ("gone-" + random_token());
  if (::rename(path.c_str(), aside.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<fs::path>();
    return io_error("cannot move aside", path, errno);
  }
  return std::optional<fs::path>(std::move(aside));
}

// A put that found the name free meanwhile stored the same bytes: either copy will do.
Status FileBlobStore::put_back_now(const std::string& sha256,
                                   const std::filesystem::path& aside) const {
  const auto path = path_of(sha256);
  if (::link(aside.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    return io_error("cannot put back", path, errno);
  }
  unlink_quietly(aside);
  return sync_dir(path.parent_path());
}

Status FileBlobStore::delete_aside_now(const std::string& sha256,
                                       const std::filesystem::path& aside) const {
  if (::unlink(aside.c_str()) != 0 && errno != ENOENT) {
    return io_error("cannot remove", aside, errno);
  }
  return sync_dir(path_of(sha256).parent_path());
}

boost::asio::awaitable<Status> FileBlobStore::put(std::string sha256, std::string staged_path) {
  auto work = [this, sha256 = std::move(sha256), staged = std::move(staged_path)] {
    return put_now(sha256, staged);
  };
  return on_pool(std::move(work));
}

boost::asio::awaitable<Result<bool>> FileBlobStore::exists(std::string sha256) {
  auto work = [this, sha256 = std::move(sha256)] { return exists_now(sha256); };
  return on_pool(std::move(work));
}

boost::asio::awaitable<Result<std::uint64_t>> FileBlobStore::size(std::string sha256) {
  auto work = [this, sha256 = std::move(sha256)] { return size_now(sha256); };
  return on_pool(std::move(work));
}

boost::asio::awaitable<Result<std::string>> FileBlobStore::read(std::string sha256,
                                                                std::uint64_t offset,
                                                                std::size_t length) {
  auto work = [this, sha256 = std::move(sha256), offset, length] {
    return read_now(sha256, offset, length);
  };
  return on_pool(std::move(work));
}

boost::asio::awaitable<Status> FileBlobStore::remove_unused(
    std::string sha256, std::function<boost::asio::awaitable<Result<bool>>()> in_use) {
  auto set_aside = [this, sha256] { return set_aside_now(sha256); };
  auto aside = co_await on_pool(std::move(set_aside));
  if (!aside) co_return std::move(aside).take_error();
  if (!*aside) co_return Status{};
  auto used = co_await in_use();
  if (!used || *used) {  // in doubt, the blob stays
    auto put_back = [this, sha256, path = **aside] { return put_back_now(sha256, path); };
    auto restored = co_await on_pool(std::move(put_back));
    if (!used) co_return std::move(used).take_error();
    co_return restored;
  }
  auto remove = [this, sha256, path = **aside] { return delete_aside_now(sha256, path); };
  co_return co_await on_pool(std::move(remove));
}

}  // namespace chatd::store
