#include "media/staged_upload.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "util/async.h"
#include "util/object_id.h"

namespace chatd::media {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kStagingPrefix = "upload-";
constexpr std::string_view kStagingSuffix = ".part";
constexpr int kNameAttempts = 4;

bool is_staging_name(const std::string& name) {
  return name.starts_with(kStagingPrefix) && name.ends_with(kStagingSuffix);
}

// Logs the failure in full for the operator and returns the bare error a client may see: a full
// disk is a condition to retry later, anything else a fault of the server.
Error io_error(const char* what, const fs::path& path, int error_number) {
  spdlog::error("staged upload: {} {}: {}", what, path.string(), std::strerror(error_number));
  const bool full = error_number == ENOSPC || error_number == EDQUOT;
  return make_error(full ? Errc::unavailable : Errc::internal, "The upload could not be stored");
}

std::string to_hex(const unsigned char* bytes, unsigned length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{length} * 2);
  for (unsigned i = 0; i < length; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 0xf];
  }
  return hex;
}

// The `submit` of run_elsewhere for an upload's strand: its jobs run one at a time, in order.
auto post_to(const asio::strand<asio::any_io_executor>& strand) {
  return [strand](auto job) { asio::post(strand, std::move(job)); };
}

struct DigestDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

}  // namespace

// Everything the blocking jobs touch. Only the upload's strand touches it, one job at a time, and
// the last job (close_in_background) is the one that drops it.
struct StagedUpload::State {
  fs::path dir;
  std::uint64_t max_bytes;
  fs::path path;  // empty until created, and again once removed
  int fd = -1;
  std::uint64_t size = 0;
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> sha256;

  State(fs::path staging_dir, std::uint64_t limit)
      : dir(std::move(staging_dir)), max_bytes(limit) {}
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { close_file(); }

  Status create() {
    sha256.reset(EVP_MD_CTX_new());
    if (!sha256 || EVP_DigestInit_ex(sha256.get(), EVP_sha256(), nullptr) != 1) {
      spdlog::error("staged upload: cannot start a SHA-256 digest");
      return make_error(Errc::internal, "The upload could not be stored");
    }
    for (int attempt = 0;; ++attempt) {
      auto candidate = dir / fmt::format("{}{}{}", kStagingPrefix, random_token(), kStagingSuffix);
      fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd >= 0) {
        path = std::move(candidate);
        return {};
      }
      // A taken name (120 random bits: never in practice) is tried again; anything else fails.
      if (errno != EEXIST || attempt + 1 == kNameAttempts) {
        return io_error("cannot create", candidate, errno);
      }
    }
  }

  Status append(std::string_view chunk) {
    if (fd < 0) return make_error(Errc::internal, "The upload is no longer open");
    if (chunk.size() > max_bytes - size) {
      remove();
      return make_error(Errc::too_large,
                        fmt::format("The file is larger than the limit of {} bytes", max_bytes));
    }
    auto written = write_all(chunk);
    if (!written) {
      remove();
      return written;
    }
    EVP_DigestUpdate(sha256.get(), chunk.data(), chunk.size());
    size += chunk.size();
    return {};
  }

  Result<StagedFile> finish() {
    if (fd < 0) return make_error(Errc::internal, "The upload is no longer open");
    const int closing = std::exchange(fd, -1);
    if (::close(closing) != 0) {
      const auto error = io_error("cannot close", path, errno);
      remove();
      return error;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_DigestFinal_ex(sha256.get(), digest, &length);
    return StagedFile{path, size, to_hex(digest, length)};
  }

  void remove() {
    close_file();
    if (path.empty()) return;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      spdlog::warn("staged upload: cannot remove {}: {}", path.string(), std::strerror(errno));
    }
    path.clear();
  }

  void close_file() {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }

 private:
  Status write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd, bytes.data(), bytes.size());
      if (written < 0 && errno == EINTR) continue;
      if (written < 0) return io_error("cannot write", path, errno);
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
    return {};
  }
};

void prepare_staging_dir(const std::filesystem::path& dir) {
  if (fs::create_directories(dir)) fs::permissions(dir, fs::perms::owner_all);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_staging_name(entry.path().filename().string())) {
      fs::remove(entry.path());
    }
  }
}

StagedUpload::StagedUpload(asio::strand<asio::any_io_executor> strand, std::shared_ptr<State> state)
    : strand_(std::move(strand)), state_(std::move(state)) {}

StagedUpload::StagedUpload(StagedUpload&& other) noexcept
    : strand_(std::move(other.strand_)),
      state_(std::move(other.state_)),
      released_(other.released_),
      in_flight_(other.in_flight_) {}

StagedUpload& StagedUpload::operator=(StagedUpload&& other) noexcept {
  if (this != &other) {
    close_in_background();
    strand_ = std::move(other.strand_);
    state_ = std::move(other.state_);
    released_ = other.released_;
    in_flight_ = other.in_flight_;
  }
  return *this;
}

StagedUpload::~StagedUpload() {
  close_in_background();
}

// Closing and removing block, so they are the upload's last job on its strand (after any job still
// in flight, should the coroutine that owned the upload have been destroyed mid-call).
void StagedUpload::close_in_background() {
  if (!state_) return;
  auto close = [state = std::move(state_), keep = released_] {
    if (keep) {
      state->close_file();
    } else {
      state->remove();
    }
  };
  asio::post(strand_, std::move(close));
}

asio::awaitable<Result<StagedUpload>> StagedUpload::create(asio::any_io_executor io,
                                                           std::filesystem::path dir,
                                                           std::uint64_t max_bytes) {
  auto state = std::make_shared<State>(std::move(dir), max_bytes);
  // From here on, the upload's destructor removes whatever create() made, even on failure.
  StagedUpload upload(asio::make_strand(io), state);
  auto create_file = [state] { return state->create(); };
  auto submit = post_to(upload.strand_);
  auto created = co_await run_elsewhere(std::move(submit), std::move(create_file));
  if (!created) co_return std::move(created).take_error();
  co_return std::move(upload);
}

asio::awaitable<Status> StagedUpload::append(std::string chunk) {
  if (!state_ || in_flight_)
    co_return make_error(Errc::internal, "One call at a time on an open upload");
  in_flight_ = true;
  auto write = [state = state_, chunk = std::move(chunk)] { return state->append(chunk); };
  auto submit = post_to(strand_);
  auto appended = co_await run_elsewhere(std::move(submit), std::move(write));
  in_flight_ = false;
  co_return appended;
}

asio::awaitable<Result<StagedFile>> StagedUpload::finish() {
  if (!state_ || in_flight_)
    co_return make_error(Errc::internal, "One call at a time on an open upload");
  in_flight_ = true;
  auto close = [state = state_] { return state->finish(); };
  auto submit = post_to(strand_);
  auto finished = co_await run_elsewhere(std::move(submit), std::move(close));
  in_flight_ = false;
  co_return finished;
}

asio::awaitable<void> StagedUpload::discard() {
  if (!state_) co_return;
  auto remove = [state = state_] {
    state->remove();
    return true;
  };
  auto submit = post_to(strand_);
  co_await run_elsewhere(std::move(submit), std::move(remove));
}

}  // namespace chatd::media
