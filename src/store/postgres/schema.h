#pragma once

#include <stdexcept>

#include "store/postgres/connection.h"

namespace chatd::store::postgres {

// The database was migrated by a newer chatd than this one: it refuses to touch it.
class SchemaTooNew : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Brings the database to the newest schema version, in one transaction that holds an advisory
// lock: nodes that start together migrate one after the other, and the later ones find nothing
// left to do. Versions are rows of `schema_migrations`. Throws SchemaTooNew, or PgError.
void migrate(Connection& connection);

// The schema version this build migrates to.
int schema_version();

}  // namespace chatd::store::postgres
