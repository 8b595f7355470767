#include "net/static_files.h"

#include <array>
#include <boost/beast/http/field.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/text.h"

namespace chatd::net {

namespace fs = std::filesystem;

namespace {

// Files above this are not served from memory; a frontend's assets are far smaller.
constexpr std::uintmax_t kMaxFileBytes = 64ULL << 20;

bool is_within(const fs::path& root, const fs::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (p == path.end() || *r != *p) return false;
  }
  return true;
}

}  // namespace

StaticFiles::StaticFiles(const fs::path& root) : root_(fs::canonical(root)) {
  if (!fs::is_directory(root_)) throw std::invalid_argument(root.string() + " is not a directory");
}

std::optional<fs::path> StaticFiles::inside_root(const fs::path& candidate) const {
  std::error_code ec;
  const auto real = fs::canonical(candidate, ec);  // resolves symbolic links
  if (ec || !is_within(root_, real)) return std::nullopt;
  if (fs::is_directory(real, ec)) {
    const auto index = real / "index.html";
    if (fs::is_regular_file(index, ec)) return inside_root(index);
    return std::nullopt;
  }
  if (!fs::is_regular_file(real, ec)) return std::nullopt;
  return real;
}

std::optional<fs::path> StaticFiles::resolve(std::string_view decoded_path) const {
  fs::path relative;
  std::string_view rest = decoded_path;
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    const auto segment = rest.substr(0, slash);
    if (segment == ".." || segment.find('\0') != std::string_view::npos ||
        segment.find('\\') != std::string_view::npos) {
      return std::nullopt;
    }
    if (!segment.empty() && segment != ".") relative /= fs::path(segment);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return inside_root(root_ / relative);
}

std::optional<fs::path> StaticFiles::spa_index() const {
  return inside_root(root_ / "index.html");
}

HttpResponse StaticFiles::read(const fs::path& file, bool head) const {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec) return error_response(http::status::not_found, "not_found", "Not Found");
  if (size > kMaxFileBytes) {
    return error_response(http::status::payload_too_large, "too_large", "File too large to serve");
  }
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, content_type(file));
  // Hashed asset names can be cached for long; index.html must be revalidated to pick up deploys.
  response.set(http::field::cache_control,
               file.filename() == "index.html" ? "no-cache" : "public, max-age=3600");
  if (head) {
    response.content_length(size);
    return response;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  if (!in && !in.eof())
    return error_response(http::status::internal_server_error, "internal", "Internal server error");
  response.body() = std::move(body).str();
  return response;
}

std::string_view StaticFiles::content_type(const fs::path& file) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 22> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".map", "application/json; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".wasm", "application/wasm"},
      {".webmanifest", "application/manifest+json"},
      {".mp3", "audio/mpeg"},
      {".mp4", "video/mp4"},
  }};
  const auto ext = text::ascii_lower(file.extension().string());
  for (const auto& [suffix, type] : kTypes) {
    if (ext == suffix) return type;
  }
  return "application/octet-stream";
}

}  // namespace chatd::net
