#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "net/http.h"

namespace chatd::net {

// Serves a built frontend from a directory, as many MERN backends do with express.static: files by
// path, index.html for directories, and index.html for any other GET that is not a file (so client
// side routes of a single-page app load). Nothing outside the root is ever served: ".." segments
// are refused and symbolic links that lead out of the root are not followed.
class StaticFiles {
 public:
  // Throws when `root` is not a directory.
  explicit StaticFiles(const std::filesystem::path& root);

  // The file a decoded request path names, or nullopt.
  std::optional<std::filesystem::path> resolve(std::string_view decoded_path) const;
  // index.html of the root, if there is one.
  std::optional<std::filesystem::path> spa_index() const;

  // Reads the file into a response (blocking: call it off the network threads). HEAD gets the
  // headers only.
  HttpResponse read(const std::filesystem::path& file, bool head) const;

  static std::string_view content_type(const std::filesystem::path& file);

 private:
  std::optional<std::filesystem::path> inside_root(const std::filesystem::path& candidate) const;

  std::filesystem::path root_;  // canonical
};

}  // namespace chatd::net
