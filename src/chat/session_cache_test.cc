#include "chat/session_cache.h"

#include <gtest/gtest.h>

namespace chatd::chat {
namespace {

store::User user(std::string id, std::string name) {
  store::User u;
  u.id = std::move(id);
  u.name = std::move(name);
  return u;
}

TEST(SessionCache, RevokedSessionsAreRefusedFromTheCache) {
  SessionCache cache;
  cache.remember("s1", {user("u1", "Ann"), false}, cache.epoch());
  ASSERT_TRUE(cache.find("s1"));
  EXPECT_FALSE(cache.find("s1")->revoked);
  cache.revoke({"s1", "s2"});
  EXPECT_TRUE(cache.find("s1")->revoked);
  EXPECT_TRUE(cache.find("s2")->revoked);  // known revoked before it was ever read
}

TEST(SessionCache, AUserChangeReachesEverySessionOfTheUser) {
  SessionCache cache;
  cache.remember("s1", {user("u1", "Ann"), false}, cache.epoch());
  cache.remember("s2", {user("u1", "Ann"), false}, cache.epoch());
  cache.remember("s3", {user("u2", "Bob"), false}, cache.epoch());
  store::Commit commit;
  commit.changes.emplace_back(store::UserChanged{user("u1", "Annie")});
  cache.apply(commit);
  EXPECT_EQ(cache.find("s1")->user.name, "Annie");
  EXPECT_EQ(cache.find("s2")->user.name, "Annie");
  EXPECT_EQ(cache.find("s3")->user.name, "Bob");
}

TEST(SessionCache, AReadThatRacedAChangeIsNotCached) {
  SessionCache cache;
  const auto before_read = cache.epoch();
  // The store was read (the user as they were), then the change committed and was applied.
  cache.update_user(user("u1", "Annie"));
  cache.remember("s1", {user("u1", "Ann"), false}, before_read);
  EXPECT_FALSE(cache.find("s1"));  // the next request reads the store again
  cache.remember("s1", {user("u1", "Annie"), false}, cache.epoch());
  EXPECT_EQ(cache.find("s1")->user.name, "Annie");
}

}  // namespace
}  // namespace chatd::chat
