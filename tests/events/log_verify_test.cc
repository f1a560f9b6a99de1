// verify_log: a full check of checksums, LSN continuity, header chain and hash
// chain.

#include "wfstore_internal/log_verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/log_test_util.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class LogVerifyTest : public LogFixture {
 protected:
  void write_log() {
    auto w = open_writer(900);
    for (int i = 0; i < 12; ++i) add(*w, 150, 2);
    w->sync();
    head_ = w->last_hash();
  }
  VerifyReport verify() { return verify_log(fs_, dir_, store_id_); }

  Hash head_{};
};

TEST_F(LogVerifyTest, CountsSegmentsCommitsAndPrintsTheHeadHash) {
  write_log();
  const VerifyReport r = verify();
  EXPECT_EQ(r.segments, list_segments(*fs_, dir_).size());
  EXPECT_GT(r.segments, 2u);
  EXPECT_EQ(r.commits, 12u);
  EXPECT_EQ(r.first_lsn, 1u);
  EXPECT_EQ(r.last_lsn, 24u);
  EXPECT_EQ(r.head_hash, head_);
  EXPECT_EQ(to_hex(r.head_hash).size(), 64u);
}

TEST_F(LogVerifyTest, EmptyLogVerifies) {
  open_writer();
  const VerifyReport r = verify();
  EXPECT_EQ(r.segments, 1u);
  EXPECT_EQ(r.commits, 0u);
  EXPECT_EQ(r.head_hash, Hash{});
}

TEST_F(LogVerifyTest, TamperedEventWithRecomputedChecksumIsCaught) {
  write_log();
  const auto commits = read_all();
  rewrite_record(dir_ / commits[4].segment, commits[4].offset,
                 [](std::string& p) { p[kCommitFixedSize + 10] ^= 0x20; });
  EXPECT_THAT([&] { verify(); }, ThrowsMessage<CorruptionError>(
                                     AllOf(HasSubstr(commits[4].segment),
                                           HasSubstr("hash does not match"))));
}

TEST_F(LogVerifyTest, TamperedEventWithRecomputedHashBreaksTheChain) {
  write_log();
  const auto commits = read_all();
  const Commit& c = commits[4];
  rewrite_record(dir_ / c.segment, c.offset, [&](std::string& p) {
    p[kCommitFixedSize + 10] ^= 0x20;
    const Hash h =
        commit_hash(c.first_lsn, c.event_count, c.timestamp_ms, c.durable_lsn,
                    c.prev_hash, std::string_view(p).substr(kCommitFixedSize));
    std::copy(h.begin(), h.end(), p.begin() + kCommitHashOffset);
  });
  EXPECT_THAT([&] { verify(); },
              ThrowsMessage<CorruptionError>(HasSubstr("hash chain broken")));
}

TEST_F(LogVerifyTest, MissingMiddleSegmentIsCaught) {
  write_log();
  const auto segments = list_segments(*fs_, dir_);
  std::filesystem::remove(segment_path(segments[1]));
  EXPECT_THAT([&] { verify(); }, ThrowsMessage<CorruptionError>(
                                     HasSubstr("missing or reordered")));
}

TEST_F(LogVerifyTest, ForeignStoreIsCaught) {
  write_log();
  store_id_ = make_store_id(9);
  EXPECT_THAT([&] { verify(); },
              ThrowsMessage<CorruptionError>(HasSubstr("foreign store")));
}

TEST_F(LogVerifyTest, IncompleteTailOfTheLastSegmentIsNotDamage) {
  write_log();
  const auto segments = list_segments(*fs_, dir_);
  auto file = fs_->open_writable(segment_path(segments.back()));
  file->append(std::string("\x01\x02\x03", 3));
  EXPECT_EQ(verify().commits, 12u);
}

}  // namespace
}  // namespace wfstore::log::testutil
