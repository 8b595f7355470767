#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "util/clock.h"
#include "util/run_blocking.h"

// The behaviour every Store backend must show. A backend's test binary compiles
// store_conformance.cc and instantiates the suite with a factory of its own:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance, testing::Values(&make_sqlite_backend));
namespace chatd::store::conformance {

// A fresh, empty store, and a way to close and open it again on the same data.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Store> open() = 0;
};

using BackendFactory = std::unique_ptr<Backend> (*)();

// Keeps what the store's change feed reported (it is called on the store's own thread).
class RecordedChanges final : public ChangeListener {
 public:
  void on_commit(Commit commit) override;
  // Everything reported so far, in the order reported; clears the record.
  std::vector<Change> take();

 private:
  std::mutex mutex_;
  std::vector<Change> changes_;
};

// Helpers shared by the suite's files.
std::vector<std::string> sorted(std::vector<std::string> ids);
std::vector<std::string> types_of(const std::vector<AuditEvent>& events);

class StoreConformance : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void reopen();

  // Runs one store call to completion.
  template <class T>
  T run(boost::asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  User make_user(const std::string& name, const std::string& email);
  // A session of `user_id` created at `at`, with its first refresh token's hash.
  Session make_session(const std::string& user_id, const std::string& refresh_hash,
                       std::int64_t at);

  boost::asio::io_context io_;
  RecordedChanges changes_;  // outlives the store, which reports to it
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Store> store_;
};

// The rich-message part (store_conformance_rich.cc): a group of three (Ann owns it) and a 1:1
// chat of Ann and Ben.
class RichMessages : public StoreConformance {
 protected:
  void SetUp() override;
  Message send(const Chat& chat, const User& from, std::string content,
               std::optional<std::string> reply_to = std::nullopt,
               std::optional<std::string> key = std::nullopt);

  User a_, b_, c_;
  Chat group_, direct_;
};

// The attachment part (store_conformance_attachments.cc), on the rich-message fixture.
class Attachments : public RichMessages {
 protected:
  // An upload of `uploader` whose bytes are the blob of 64 `digit`s.
  Attachment upload(const User& uploader, std::string name, char digit,
                    std::int64_t created_at = clock::now_ms());
  Result<AppendedMessage> send_with(const Chat& chat, const User& from,
                                    std::vector<std::string> attachments);
  // One collector pass: the queued blobs, sorted.
  std::vector<std::string> collect(std::int64_t uploaded_before);
};

}  // namespace chatd::store::conformance
