#include "chat/receipt_queue.h"

#include <gtest/gtest.h>

namespace chatd::chat {
namespace {

TEST(ReceiptQueue, MergesReportsWhileAWriteIsInFlight) {
  ReceiptQueue queue;
  int completed = 0;
  auto count = [&](const Result<store::Member>&) { ++completed; };
  EXPECT_TRUE(queue.join("c", "u", 3, 0, count));  // the caller writes
  auto first = queue.take("c", "u");
  EXPECT_EQ(first.delivered_seq, 3);
  EXPECT_EQ(first.waiters.size(), 1U);
  // Arrive during the write: merged, no second writer.
  EXPECT_FALSE(queue.join("c", "u", 7, 0, count));
  EXPECT_FALSE(queue.join("c", "u", 5, 4, count));
  EXPECT_TRUE(queue.join("c", "other", 1, 1, count));  // another member writes on its own
  EXPECT_FALSE(queue.finish_round("c", "u"));
  auto second = queue.take("c", "u");
  EXPECT_EQ(second.delivered_seq, 7);
  EXPECT_EQ(second.read_seq, 4);
  EXPECT_EQ(second.waiters.size(), 2U);
  EXPECT_TRUE(queue.finish_round("c", "u"));
  EXPECT_TRUE(queue.join("c", "u", 8, 0, count));  // nothing in flight any more
  EXPECT_EQ(completed, 0);
}

}  // namespace
}  // namespace chatd::chat
