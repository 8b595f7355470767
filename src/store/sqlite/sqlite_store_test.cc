#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/sqlite/connection.h"
#include "store/sqlite/schema.h"
#include "store/store_conformance.h"

namespace chatd::store::sqlite {
namespace {

namespace fs = std::filesystem;

// A database file in a directory of its own, removed with the backend.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "chatd-store-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class SqliteBackend : public conformance::Backend {
 public:
  std::unique_ptr<Store> open() override {
    return std::make_unique<SqliteStore>(SqliteOptions{(dir_.path() / "chatd.db").string()});
  }

 private:
  TempDir dir_;
};

std::unique_ptr<conformance::Backend> make_sqlite_backend() {
  return std::make_unique<SqliteBackend>();
}

using conformance::RichMessages;
using conformance::StoreConformance;
INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, ::testing::Values(&make_sqlite_backend));
INSTANTIATE_TEST_SUITE_P(Sqlite, RichMessages, ::testing::Values(&make_sqlite_backend));

TEST(SqliteStore, UsesWalAndTheConfiguredSynchronousMode) {
  TempDir dir;
  const auto path = (dir.path() / "chatd.db").string();
  { SqliteStore store(SqliteOptions{path, Synchronous::normal}); }
  Connection connection(path, /*read_only=*/true);
  auto mode = connection.prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.step());
  EXPECT_EQ(mode.text(0), "wal");  // WAL is persistent: it is a property of the file
  auto version = connection.prepare("PRAGMA user_version");
  ASSERT_TRUE(version.step());
  EXPECT_EQ(version.int64(0), schema_version());
}

TEST(SqliteStore, RefusesADatabaseFromANewerVersion) {
  TempDir dir;
  const auto path = (dir.path() / "chatd.db").string();
  {
    Connection connection(path, /*read_only=*/false);
    connection.exec("PRAGMA user_version = 999");
  }
  EXPECT_THROW(SqliteStore(SqliteOptions{path}), SqliteError);
}

TEST(SqliteStore, RefusesAnInMemoryDatabase) {
  EXPECT_THROW(SqliteStore(SqliteOptions{":memory:"}), SqliteError);
}

}  // namespace
}  // namespace chatd::store::sqlite
