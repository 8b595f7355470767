#pragma once

#include "store/sqlite/connection.h"

namespace chatd::store::sqlite {

// Brings the database to the newest schema version. Migrations are numbered by PRAGMA
// user_version and each runs in its own transaction, so a crash leaves a whole version or none.
void migrate(Connection& connection);

// The schema version this build migrates to.
int schema_version();

}  // namespace chatd::store::sqlite
