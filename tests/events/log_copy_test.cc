// copy_log_prefix: a log's prefix through any commit end, copied byte for byte
// except the segment headers' store UUID; the copy verifies with the same
// head hash; the source is never changed; an LSN inside a commit, past the
// end or behind damage is refused.

#include "wfstore_internal/log_copy.h"

#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/log_test_util.h"
#include "wfstore_internal/log_verify.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

constexpr std::size_t kFramedHeader = kHeaderSize + kSegmentHeaderSize;

class LogCopyTest : public LogFixture {
 protected:
  // Commits of 1 to 3 events with bodies up to 40 KB (some span blocks) over
  // segments of about 50 KB.
  void write_log() {
    auto w = open_writer(50000);
    for (int i = 0; i < 30; ++i) {
      add(*w, static_cast<std::size_t>(100 + (i * 7919) % 40000),
          static_cast<std::uint32_t>(1 + i % 3));
    }
    w->sync();
    w->close();
  }

  std::map<std::string, std::string> files(const std::filesystem::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      out[entry.path().filename().string()] = read_file_bytes(entry.path());
    }
    return out;
  }

  StoreId copy_id_ = make_store_id(2);
};

TEST_F(LogCopyTest, CopiesThroughEveryCommitEndWithTheChainIntact) {
  write_log();
  const std::vector<Commit> commits = read_all();
  ASSERT_TRUE(damages_.empty());
  ASSERT_GT(list_segments(*fs_, dir_).size(), 3u);
  const std::map<std::string, std::string> before = files(dir_);
  for (const Commit& end : commits) {
    SCOPED_TRACE(end.last_lsn());
    const auto to = tmp_ / ("copy-" + std::to_string(end.last_lsn()));
    std::filesystem::create_directories(to);
    const CopiedLog copied =
        copy_log_prefix(fs_, dir_, store_id_, end.last_lsn(), to, copy_id_);
    EXPECT_EQ(copied.last_lsn, end.last_lsn());
    EXPECT_EQ(copied.last_hash, end.hash);
    EXPECT_EQ(copied.events, end.last_lsn());
    // The copy is a whole log of the new store, ending at that commit.
    const VerifyReport report = verify_log(fs_, to, copy_id_);
    EXPECT_EQ(report.last_lsn, end.last_lsn());
    EXPECT_EQ(report.head_hash, end.hash);
    EXPECT_EQ(report.bytes, copied.bytes);
    EXPECT_THROW(verify_log(fs_, to, store_id_), CorruptionError);
    // Segment by segment: the header names the new store, everything after
    // it is the source's bytes, the last segment cut after the commit.
    const std::map<std::string, std::string> copy = files(to);
    EXPECT_EQ(copy.size(), copied.segments);
    for (const auto& [name, bytes] : copy) {
      const std::string& source = before.at(name);
      ASSERT_GE(bytes.size(), kFramedHeader);
      std::string error;
      const auto header = decode_segment_header(
          std::string_view(bytes).substr(kHeaderSize, kSegmentHeaderSize),
          &error);
      ASSERT_TRUE(header) << error;
      EXPECT_EQ(header->store_uuid, copy_id_.bytes);
      EXPECT_EQ(bytes.substr(kFramedHeader),
                source.substr(kFramedHeader, bytes.size() - kFramedHeader));
      if (name == end.segment) {
        EXPECT_LE(bytes.size(), source.size());
      } else {
        EXPECT_EQ(bytes.size(), source.size());
      }
    }
    std::filesystem::remove_all(to);
  }
  EXPECT_EQ(files(dir_), before);
}

TEST_F(LogCopyTest, RefusesAnLsnInsideACommitOrPastTheEnd) {
  write_log();
  const std::vector<Commit> commits = read_all();
  const Commit& multi = commits[1];  // two events
  ASSERT_EQ(multi.event_count, 2u);
  const auto to = tmp_ / "copy";
  std::filesystem::create_directories(to);
  EXPECT_THAT(
      [&] {
        copy_log_prefix(fs_, dir_, store_id_, multi.first_lsn, to, copy_id_);
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("inside commit")));
  EXPECT_THROW(copy_log_prefix(fs_, dir_, store_id_, 0, to, copy_id_),
               InvalidArgumentError);
  EXPECT_THAT(
      [&] {
        copy_log_prefix(fs_, dir_, store_id_, commits.back().last_lsn() + 1, to,
                        copy_id_);
      },
      ThrowsMessage<CorruptionError>(HasSubstr("before lsn")));
}

TEST_F(LogCopyTest, DamageBeforeTheEndIsCorruption) {
  write_log();
  const std::vector<Commit> commits = read_all();
  const Commit& victim = commits[3];
  rewrite_record(dir_ / victim.segment, victim.offset,
                 [](std::string& p) { p[kCommitFixedSize + 3] ^= 0x10; });
  const auto to = tmp_ / "copy";
  std::filesystem::create_directories(to);
  // Up to the commit before the damage the copy works.
  EXPECT_NO_THROW(copy_log_prefix(fs_, dir_, store_id_, commits[2].last_lsn(),
                                  to, copy_id_));
  const auto to2 = tmp_ / "copy2";
  std::filesystem::create_directories(to2);
  EXPECT_THAT(
      [&] {
        copy_log_prefix(fs_, dir_, store_id_, commits[5].last_lsn(), to2,
                        copy_id_);
      },
      ThrowsMessage<CorruptionError>(HasSubstr(victim.segment)));
}

TEST_F(LogCopyTest, ForeignStoreIdIsCorruption) {
  write_log();
  const auto to = tmp_ / "copy";
  std::filesystem::create_directories(to);
  EXPECT_THAT(
      [&] { copy_log_prefix(fs_, dir_, copy_id_, 1, to, make_store_id(3)); },
      ThrowsMessage<CorruptionError>(HasSubstr("foreign store")));
}

}  // namespace
}  // namespace wfstore::log::testutil
