#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"
#include "util/result.h"

// The one wire shape of committed changes between nodes: what the change log of a shared store
// holds (store/postgres) and what a node publishes to the others (cluster/). JSON, so that an
// operator can read the log with psql and redis-cli.
namespace chatd::store {

std::string encode_changes(const std::vector<Change>& changes);
// `invalid_input` for anything encode_changes did not write.
Result<std::vector<Change>> decode_changes(std::string_view encoded);

}  // namespace chatd::store
