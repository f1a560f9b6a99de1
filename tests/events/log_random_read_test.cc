// Random access into the log: read_commit_at from a segment start, from the
// offset the writer reports for a commit, and from a block boundary; records
// spanning blocks; an LSN beyond the segment; damage at and before the target.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/log_test_util.h"
#include "wfstore_internal/log_reader.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;

class LogRandomReadTest : public LogFixture {
 protected:
  struct Appended {
    std::uint64_t first_lsn;
    std::uint64_t last_lsn;
    std::uint64_t segment;
    std::uint64_t offset;
  };

  // Appends commits of varied sizes (some spanning blocks) and records where
  // the writer says each one starts.
  std::vector<Appended> write_log(Writer& w, int commits,
                                  std::size_t big_every = 7) {
    std::vector<Appended> out;
    for (int i = 0; i < commits; ++i) {
      const std::size_t n = static_cast<std::size_t>(i);
      const std::size_t size = n % big_every == 0 ? 70000 : 100 + 37 * n;
      const std::uint32_t events = 1 + static_cast<std::uint32_t>(i % 4);
      const std::uint64_t first = add(w, size, events);
      out.push_back(Appended{first, first + events - 1, w.last_commit_segment(),
                             w.last_commit_offset()});
    }
    w.sync();
    return out;
  }
};

TEST_F(LogRandomReadTest, WriterPositionsAreWhereTheReaderFindsEachCommit) {
  auto w = open_writer();
  const std::vector<Appended> appended = write_log(*w, 40);
  const std::vector<Commit> all = read_all();
  ASSERT_EQ(all.size(), appended.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].offset, appended[i].offset) << i;
    EXPECT_EQ(segment_file_name(appended[i].segment), all[i].segment);
  }
}

TEST_F(LogRandomReadTest, ReadsTheCommitHoldingAnLsnFromAnyEarlierStart) {
  auto w = open_writer();
  const std::vector<Appended> appended = write_log(*w, 40);
  const std::vector<Commit> all = read_all();
  for (std::size_t i = 0; i < appended.size(); ++i) {
    for (std::uint64_t lsn = appended[i].first_lsn; lsn <= appended[i].last_lsn;
         ++lsn) {
      // From its own offset, from an earlier commit's and from the start.
      for (std::size_t from : {i, i / 2, std::size_t{0}}) {
        const std::optional<CommitRead> read = read_commit_at(
            *fs_, dir_, store_id_, 1, appended[from].offset, lsn);
        ASSERT_TRUE(read) << lsn;
        EXPECT_EQ(read->commit.first_lsn, appended[i].first_lsn);
        EXPECT_EQ(read->commit.body, all[i].body);
        EXPECT_EQ(read->commit.hash, all[i].hash);
        EXPECT_EQ(read->commit.offset, appended[i].offset);
        if (i + 1 < appended.size()) {
          // The next commit starts at next_offset or after a block trailer.
          EXPECT_LE(read->next_offset, appended[i + 1].offset);
          EXPECT_GT(read->next_offset + kHeaderSize, appended[i + 1].offset);
        }
      }
      const std::optional<CommitRead> from_start =
          read_commit_at(*fs_, dir_, store_id_, 1, 0, lsn);
      ASSERT_TRUE(from_start);
      EXPECT_EQ(from_start->commit.first_lsn, appended[i].first_lsn);
    }
  }
  // Beyond the log: the end of the segment.
  EXPECT_EQ(read_commit_at(*fs_, dir_, store_id_, 1, 0, w->last_lsn() + 1),
            std::nullopt);
  EXPECT_EQ(read_commit_at(*fs_, dir_, store_id_, 1, appended.back().offset,
                           w->last_lsn() + 1),
            std::nullopt);
}

TEST_F(LogRandomReadTest, AcrossSegments) {
  auto w = open_writer(20000);
  const std::vector<Appended> appended = write_log(*w, 30, 5);
  ASSERT_GT(list_segments(*fs_, dir_).size(), 3u);
  for (const Appended& a : appended) {
    const std::optional<CommitRead> read =
        read_commit_at(*fs_, dir_, store_id_, a.segment, a.offset, a.last_lsn);
    ASSERT_TRUE(read);
    EXPECT_EQ(read->commit.first_lsn, a.first_lsn);
    const std::optional<CommitRead> from_start =
        read_commit_at(*fs_, dir_, store_id_, a.segment, 0, a.first_lsn);
    ASSERT_TRUE(from_start);
    EXPECT_EQ(from_start->commit.first_lsn, a.first_lsn);
    // In the previous segment the LSN is past the end.
    if (a.segment > 1) {
      const std::vector<std::uint64_t> segments = list_segments(*fs_, dir_);
      const auto it = std::find(segments.begin(), segments.end(), a.segment);
      EXPECT_EQ(
          read_commit_at(*fs_, dir_, store_id_, *(it - 1), 0, a.first_lsn),
          std::nullopt);
    }
  }
}

TEST_F(LogRandomReadTest, AStartPastTheCommitOrOfAnotherStoreIsCorruption) {
  auto w = open_writer();
  const std::vector<Appended> appended = write_log(*w, 10);
  EXPECT_THAT(
      [&] {
        read_commit_at(*fs_, dir_, store_id_, 1, appended[5].offset,
                       appended[3].first_lsn);
      },
      ThrowsMessage<CorruptionError>(HasSubstr(fmt::format(
          "log segment {} offset {}: commit at lsn {} starts after lsn {}",
          segment_file_name(1), appended[5].offset, appended[5].first_lsn,
          appended[3].first_lsn))));
  EXPECT_THAT([&] { read_commit_at(*fs_, dir_, make_store_id(9), 1, 0, 2); },
              ThrowsMessage<CorruptionError>(HasSubstr("foreign store")));
  EXPECT_THROW(read_commit_at(*fs_, dir_, store_id_, 999, 0, 999), IOError);
}

TEST_F(LogRandomReadTest, DamageAtTheTargetNamesSegmentAndOffset) {
  auto w = open_writer();
  const std::vector<Appended> appended = write_log(*w, 10, 100);
  w->close();
  const Appended& target = appended[6];
  flip_bit(segment_path(1), target.offset + kHeaderSize + 70, 0x01);
  EXPECT_THAT(
      [&] {
        read_commit_at(*fs_, dir_, store_id_, 1, target.offset,
                       target.first_lsn);
      },
      ThrowsMessage<CorruptionError>(
          HasSubstr(fmt::format("log segment {} offset {}: checksum mismatch",
                                segment_file_name(1), target.offset))));
  // Reading from before it meets the same damage.
  EXPECT_THROW(read_commit_at(*fs_, dir_, store_id_, 1, 0, target.first_lsn),
               CorruptionError);
  // The commits before it read as they were.
  EXPECT_TRUE(
      read_commit_at(*fs_, dir_, store_id_, 1, 0, appended[5].last_lsn));
}

TEST_F(LogRandomReadTest, ACommitWhoseHashDiffersIsCorruption) {
  auto w = open_writer();
  const std::vector<Appended> appended = write_log(*w, 6, 100);
  w->close();
  const Appended& target = appended[3];
  // A changed body with a recomputed record checksum: only the commit hash
  // tells.
  rewrite_record(segment_path(1), target.offset, [](std::string& payload) {
    payload.back() = static_cast<char>(payload.back() ^ 1);
  });
  EXPECT_THAT(
      [&] {
        read_commit_at(*fs_, dir_, store_id_, 1, target.offset,
                       target.first_lsn);
      },
      ThrowsMessage<CorruptionError>(HasSubstr(fmt::format(
          "log segment {} offset {}:", segment_file_name(1), target.offset))));
  // Skipping over it by its framing alone does not hash it.
  EXPECT_TRUE(read_commit_at(*fs_, dir_, store_id_, 1, appended[2].offset,
                             appended[2].first_lsn));
}

}  // namespace
}  // namespace wfstore::log::testutil
