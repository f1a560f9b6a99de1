// The log reader: iteration from any LSN, across segments, following a live
// writer, and the classification of damage it reports.

#include "wfstore_internal/log_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testutil/log_test_util.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::HasSubstr;

class LogReaderTest : public LogFixture {};

TEST_F(LogReaderTest, ReadsFromAnyLsnAcrossSegments) {
  auto w = open_writer(1500);
  for (std::uint32_t i = 0; i < 30; ++i) add(*w, 150, 1 + i % 3);
  w->sync();
  ASSERT_GT(list_segments(*fs_, dir_).size(), 3u);
  const auto all = read_all();
  ASSERT_EQ(all.size(), 30u);
  for (std::uint64_t from = 1; from <= w->last_lsn(); ++from) {
    const auto tail = read_all(from);
    ASSERT_FALSE(tail.empty()) << from;
    EXPECT_LE(tail.front().first_lsn, from);  // the commit holding `from`
    EXPECT_GE(tail.front().last_lsn(), from);
    EXPECT_EQ(tail.back().last_lsn(), w->last_lsn());
    EXPECT_TRUE(damages_.empty());
  }
  EXPECT_TRUE(read_all(w->last_lsn() + 1).empty());
}

TEST_F(LogReaderTest, FollowsALiveWriterAcrossRolls) {
  auto w = open_writer(1000);
  Reader reader(fs_, dir_, store_id_, 0,
                [this](const Damage& d) { damages_.push_back(d); });
  Commit c;
  EXPECT_FALSE(reader.next(&c));
  add(*w, 300);
  ASSERT_TRUE(reader.next(&c));
  EXPECT_EQ(c.first_lsn, 1u);
  EXPECT_FALSE(reader.next(&c));
  for (int i = 0; i < 10; ++i) add(*w, 300);  // several rolls
  std::uint64_t expected = 2;
  while (reader.next(&c)) {
    EXPECT_EQ(c.first_lsn, expected);
    expected = c.last_lsn() + 1;
  }
  EXPECT_EQ(expected, 12u);
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogReaderTest, IncompleteTailOfTheLiveSegmentIsEndForNow) {
  // The second record is appended in pieces, as a reader may see a live writer
  // mid-write.
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0, 100);
  const std::size_t start = b.bytes().size();
  b.commit(1, 0, 3 * kBlockSize);
  const std::string rest = b.bytes().substr(start);
  std::filesystem::create_directories(dir_);
  spit(segment_path(1), b.bytes().substr(0, start));
  Reader reader(fs_, dir_, store_id_, 0,
                [this](const Damage& d) { damages_.push_back(d); });
  Commit c;
  auto file = fs_->open_writable(segment_path(1));
  for (std::size_t cut :
       {std::size_t{3}, std::size_t{kBlockSize + 5}, rest.size()}) {
    const std::size_t done = static_cast<std::size_t>(file->size()) - start;
    file->append(rest.substr(done, cut - done));
    if (cut < rest.size()) {
      while (reader.next(&c)) EXPECT_EQ(c.first_lsn, 1u);
      EXPECT_TRUE(damages_.empty());
    }
  }
  ASSERT_TRUE(reader.next(&c));
  EXPECT_EQ(c.first_lsn, 2u);
  EXPECT_EQ(c.body, body_for(2, 3 * kBlockSize));
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogReaderTest,
       ChecksumMismatchIsReportedAndTheReaderResyncsAtTheNextBlock) {
  SegmentBuilder b(store_id_, 1);
  const std::uint64_t bad = b.commit(1, 0, 20000);
  b.commit(1, 0, 20000);  // FIRST in block 0, LAST in block 1
  b.commit(1, 0, 100);    // in block 1
  std::filesystem::create_directories(dir_);
  b.bytes()[bad + kHeaderSize + 3] ^= 1;
  b.write(segment_path(1));
  const auto commits = read_all();
  ASSERT_GE(damages_.size(), 2u);
  EXPECT_EQ(damages_[0].offset, bad);
  EXPECT_EQ(damages_[0].reason, "checksum mismatch");
  EXPECT_EQ(damages_[0].bytes, kBlockSize - bad);
  EXPECT_EQ(damages_[1].reason, "LAST fragment without FIRST");
  EXPECT_TRUE(
      commits.empty());  // lsn 2 was cut by the resync, so lsn 3 is a gap
  EXPECT_THAT(damages_.back().reason, HasSubstr("lsn gap"));
}

// A damaged record's payload that frames a valid record of its own: with
// resync within the block (salvage), the reader goes on where the damaged
// record's length says it ends, never inside it; without (recovery,
// readers), at the next block.
TEST_F(LogReaderTest, ResyncWithinTheBlockSkipsTheDamagedRecordWhole) {
  SegmentBuilder b(store_id_, 1);
  std::string inner;
  std::size_t inner_offset = 0;
  frame_physical(static_cast<std::uint8_t>(RecordType::kFull),
                 std::string(40, 'x'), &inner_offset, &inner);
  Hash hash{};
  const std::uint64_t damaged = b.raw(
      static_cast<std::uint8_t>(RecordType::kFull),
      encode_commit(1, 1, 1000, 0, hash, std::string(20, 'a') + inner, &hash));
  const std::uint64_t next =
      b.raw(static_cast<std::uint8_t>(RecordType::kFull),
            encode_commit(2, 1, 1000, 0, hash, body_for(2, 100), &hash));
  b.bytes()[damaged + kHeaderSize + 2] ^= 0x01;  // a fixed field
  std::filesystem::create_directories(dir_);
  b.write(segment_path(1));
  const std::unique_ptr<ReadableFile> file =
      fs_->open_readable(segment_path(1));
  for (const bool resync : {true, false}) {
    std::vector<Damage> damages;
    SegmentReader reader(*file, "seg",
                         [&](const Damage& d) { damages.push_back(d); });
    reader.set_resync_within_block(resync);
    std::vector<std::uint64_t> offsets;
    std::string payload;
    RecordType type = RecordType::kZero;
    std::uint64_t at = 0;
    while (reader.read(&payload, &type, &at)) offsets.push_back(at);
    ASSERT_EQ(damages.size(), 1u) << resync;
    EXPECT_EQ(damages[0].offset, damaged);
    EXPECT_EQ(damages[0].reason, "checksum mismatch");
    if (resync) {
      EXPECT_EQ(offsets, (std::vector<std::uint64_t>{0, next}));
      EXPECT_EQ(damages[0].bytes, next - damaged);
    } else {
      EXPECT_EQ(offsets, std::vector<std::uint64_t>{0});
    }
  }
}

}  // namespace
}  // namespace wfstore::log::testutil
