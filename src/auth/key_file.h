#pragma once

#include <filesystem>
#include <string>

namespace chatd::auth {

// The first line of the key file at `path`, trimmed. When there is no such file, one is created
// first (mode 0600) holding 32 random bytes as 64 hex digits, so a server key survives restarts
// without anyone having to configure it. Creation is atomic: of two processes starting at once,
// one key wins and both read it, and a crash never leaves an empty or half-written key behind.
// Throws on I/O errors and on an existing key file that is empty.
std::string load_or_create_key_file(const std::filesystem::path& path);

}  // namespace chatd::auth
