// Recovery on open: one test per damage case. Damage after the point that a
// valid record vouches for as durable is a torn tail (truncated, warned);
// damage before it, a broken chain or a foreign file is a CorruptionError
// naming segment and offset.

#include "events/log/log_recovery.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"

#include "tests/testutil/log_test_util.h"

namespace wfstore::log::testutil {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class LogRecoveryTest : public LogFixture {
 protected:
  // c1, c2, c3 each synced before the next is written, then c4 unsynced: c4's
  // record vouches for lsn 3 as durable. Returns the commits as read back.
  std::vector<Commit> write_vouched_log(std::size_t body = 100) {
    auto w = open_writer();
    for (int i = 0; i < 3; ++i) {
      add(*w, body);
      w->sync();
    }
    add(*w, body);
    w->close();
    return read_all();
  }

  void expect_corruption_at(std::uint64_t offset, const std::string& reason) {
    EXPECT_THAT([&] { open_writer(); },
                ThrowsMessage<CorruptionError>(
                    AllOf(HasSubstr(segment_file_name(1)),
                          HasSubstr("offset " + std::to_string(offset) + ":"),
                          HasSubstr(reason))));
  }

  std::string log_bytes() { return read_file_bytes(segment_path(1)); }
};

TEST_F(LogRecoveryTest, CleanLogReopensWithEveryCommitAndNoWarning) {
  const auto before = write_vouched_log();
  ASSERT_EQ(before.size(), 4u);
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 4u);
  EXPECT_EQ(w->durable_lsn(), 4u);
  EXPECT_EQ(w->last_hash(), before.back().hash);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(LogRecoveryTest, BitFlipInPayloadBeforeDurablePointIsCorruption) {
  const auto commits = write_vouched_log(30000);
  flip_bit(segment_path(1), commits[1].offset + kHeaderSize + 40);
  const std::string bytes = log_bytes();
  expect_corruption_at(commits[1].offset, "checksum mismatch");
  EXPECT_EQ(log_bytes(), bytes);  // nothing changed
}

TEST_F(LogRecoveryTest, BitFlipInPayloadOfUnsyncedTailIsTruncated) {
  const auto commits = write_vouched_log();
  flip_bit(segment_path(1), commits[3].offset + kHeaderSize + 40);
  const std::uint64_t size = file_size(segment_path(1));
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 3u);
  EXPECT_EQ(file_size(segment_path(1)), commits[3].offset);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0],
              HasSubstr("dropped " + std::to_string(size - commits[3].offset) +
                        " bytes of torn tail at offset " +
                        std::to_string(commits[3].offset)));
  EXPECT_THAT(warnings_[0], HasSubstr("checksum mismatch"));
  add(*w);  // appends after the good prefix, never after garbage
  w->sync();
  EXPECT_EQ(read_all().size(), 4u);
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogRecoveryTest, CutTornTailIsKeptInASideFile) {
  const auto commits = write_vouched_log();
  flip_bit(segment_path(1), commits[3].offset + kHeaderSize + 40);
  const std::string before = log_bytes();
  auto w = open_writer();
  ASSERT_EQ(w->last_lsn(), 3u);
  const std::filesystem::path side =
      dir_ / cut_file_name(segment_file_name(1), commits[3].offset);
  EXPECT_EQ(side.filename().string(),
            segment_file_name(1) + ".cut-" + std::to_string(commits[3].offset));
  ASSERT_TRUE(std::filesystem::exists(side));
  EXPECT_EQ(read_file_bytes(side), before.substr(commits[3].offset));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr(side.filename().string()));
  // The side file is no segment: the log reads and reopens as before.
  w.reset();
  EXPECT_EQ(read_all().size(), 3u);
  EXPECT_TRUE(damages_.empty());
  EXPECT_EQ(open_writer()->last_lsn(), 3u);
}

TEST_F(LogRecoveryTest, PlanReadsOnlyAndNamesWhereTheLogWouldEnd) {
  const auto commits = write_vouched_log();
  flip_bit(segment_path(1), commits[3].offset + kHeaderSize + 40);
  const std::string before = log_bytes();
  const RecoveryPlan plan = plan_log_recovery(*fs_, dir_, store_id_.bytes);
  EXPECT_EQ(plan.last_lsn, 3u);
  EXPECT_EQ(plan.last_hash, commits[2].hash);
  EXPECT_EQ(plan.cut_offset, commits[3].offset);
  EXPECT_EQ(plan.cut_bytes, before.size() - commits[3].offset);
  EXPECT_EQ(log_bytes(), before);
  EXPECT_EQ(fs_->list_dir(dir_),
            (std::vector<std::string>{segment_file_name(1)}));
}

TEST_F(LogRecoveryTest, RefusedRepairLeavesTheLogByteIdentical) {
  const auto commits = write_vouched_log();
  flip_bit(segment_path(1), commits[3].offset + kHeaderSize + 40);
  const std::string before = log_bytes();
  WriterOptions options;
  std::uint64_t seen = 0;
  options.check_recovered_end = [&seen](std::uint64_t end) {
    seen = end;
    throw CorruptionError("refused");
  };
  EXPECT_THROW(Writer::open(fs_, dir_, store_id_, options), CorruptionError);
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(log_bytes(), before);
  EXPECT_EQ(fs_->list_dir(dir_),
            (std::vector<std::string>{segment_file_name(1)}));
}

TEST_F(LogRecoveryTest, RefusedOpenOfAMissingLogCreatesNothing) {
  WriterOptions options;
  options.check_recovered_end = [](std::uint64_t end) {
    if (end < 5) throw CorruptionError("refused");
  };
  EXPECT_THROW(Writer::open(fs_, dir_, store_id_, options), CorruptionError);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(LogRecoveryTest, BitFlipInLengthIsCorruption) {
  const auto commits = write_vouched_log(30000);
  flip_bit(segment_path(1), commits[0].offset + 4, 0x02);
  expect_corruption_at(commits[0].offset, "checksum mismatch");
}

TEST_F(LogRecoveryTest, BitFlipInLengthCrossingTheBlockIsCorruption) {
  const auto commits = write_vouched_log(30000);
  flip_bit(segment_path(1), commits[0].offset + 5, 0x80);  // length +- 32768
  expect_corruption_at(commits[0].offset, "bad record length");
}

TEST_F(LogRecoveryTest, TruncatedHeaderIsTornTail) {
  const auto commits = write_vouched_log();
  std::filesystem::resize_file(segment_path(1), commits[3].offset + 3);
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 3u);
  EXPECT_EQ(file_size(segment_path(1)), commits[3].offset);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("dropped 3 bytes"));
}

TEST_F(LogRecoveryTest, TruncatedPayloadIsTornTail) {
  const auto commits = write_vouched_log();
  std::filesystem::resize_file(segment_path(1),
                               commits[3].offset + kHeaderSize + 10);
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 3u);
  EXPECT_EQ(file_size(segment_path(1)), commits[3].offset);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("dropped 17 bytes"));
}

TEST_F(LogRecoveryTest,
       TruncatedVouchedRecordIsCorruptionWhenALaterRecordSurvives) {
  // c2's payload is cut short in place (zeros), while c4 in a later block
  // survives.
  const auto commits = write_vouched_log(30000);
  std::string bytes = log_bytes();
  for (std::uint64_t i = commits[1].offset + kHeaderSize + 20;
       i < commits[2].offset; ++i) {
    bytes[i] = '\0';
  }
  spit(segment_path(1), bytes);
  expect_corruption_at(commits[1].offset,
                       "before lsn 3 which a later record vouches for");
}

TEST_F(LogRecoveryTest, ZeroFilledBlockBeforeDurablePointIsCorruption) {
  const auto commits = write_vouched_log(30000);  // four blocks
  ASSERT_GT(file_size(segment_path(1)), 3 * kBlockSize);
  std::string bytes = log_bytes();
  std::fill(bytes.begin() + kBlockSize, bytes.begin() + 2 * kBlockSize, '\0');
  spit(segment_path(1), bytes);
  expect_corruption_at(kBlockSize, "zero-filled block");
}

// A torn tail before zeros written ahead: its side file keeps every byte
// up to the end of the block that holds the last non-zero one (no record
// crosses a block end, so a record's own zero bytes at its end are kept: it
// may be whole, for salvage), and leaves out the zeros after that block.
TEST_F(LogRecoveryTest, ATornTailsSideFileKeepsItsLastRecordsZeroBytes) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0);
  const std::uint64_t damaged = b.commit(1, 0);
  // A record whose body ends in zero bytes.
  Hash hash = b.last_hash();
  const std::string body = body_for(3, 100) + std::string(20, '\0');
  b.raw(static_cast<std::uint8_t>(RecordType::kFull),
        encode_commit(3, 1, 1000, 0, hash, body, &hash));
  b.bytes()[damaged + kHeaderSize + 5] ^= 0x10;
  std::filesystem::create_directories(dir_);
  const std::string image = b.bytes() + std::string(2 * kBlockSize, '\0');
  spit(segment_path(1), image);
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 1u);
  EXPECT_EQ(file_size(segment_path(1)), damaged);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0],
              HasSubstr(fmt::format("dropped {} bytes", kBlockSize - damaged)));
  EXPECT_THAT(warnings_[0],
              HasSubstr(fmt::format("and {} zero bytes after them",
                                    image.size() - kBlockSize)));
  EXPECT_EQ(
      read_file_bytes(dir_ / cut_file_name(segment_file_name(1), damaged)),
      image.substr(damaged, kBlockSize - damaged));
}

TEST_F(LogRecoveryTest, ZeroFilledTailIsTruncated) {
  write_vouched_log();
  const std::uint64_t size = file_size(segment_path(1));
  spit(segment_path(1), log_bytes() + std::string(2 * kBlockSize, '\0'));
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 4u);
  // Zeros after the last record are space written ahead: cut off silently,
  // with no side file (nothing in them to salvage).
  EXPECT_EQ(file_size(segment_path(1)), size);
  EXPECT_TRUE(warnings_.empty());
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(kCutInfix),
              std::string::npos)
        << entry.path();
  }
}

// header, c1, <odd record>, c2 (vouches 1), c3 (vouches 2)
class OddRecordTest : public LogRecoveryTest {
 protected:
  std::uint64_t build(std::uint8_t type, const std::string& payload) {
    SegmentBuilder b(store_id_, 1);
    b.commit(1, 0);
    const std::uint64_t at = b.raw(type, payload);
    b.commit(1, 1);
    b.commit(1, 2);
    std::filesystem::create_directories(dir_);
    b.write(segment_path(1));
    return at;
  }
};

TEST_F(OddRecordTest, UnknownRecordTypeWithIgnoreBitIsSkipped) {
  build(0x45, "a record from the future");
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 3u);
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(read_all().size(), 3u);
  EXPECT_TRUE(damages_.empty());
}

TEST_F(OddRecordTest, UnknownRecordTypeWithoutIgnoreBitIsDamage) {
  const std::uint64_t at = build(0x07, "not for us");
  expect_corruption_at(at, "unknown record type 7");
  EXPECT_EQ(read_all().size(), 3u);
  ASSERT_EQ(damages_.size(), 1u);
  EXPECT_EQ(damages_[0].offset, at);
}

TEST_F(OddRecordTest, FirstWithoutLastIsDamage) {
  const std::uint64_t at =
      build(static_cast<std::uint8_t>(RecordType::kFirst), "half");
  expect_corruption_at(at, "FIRST fragment without LAST");
}

TEST_F(OddRecordTest, FirstWithoutLastAtTheTailIsTornTail) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0);
  const std::uint64_t end = b.bytes().size();
  b.raw(static_cast<std::uint8_t>(RecordType::kFirst), "half of a commit");
  std::filesystem::create_directories(dir_);
  b.write(segment_path(1));
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 1u);
  EXPECT_EQ(file_size(segment_path(1)), end);
  EXPECT_EQ(warnings_.size(), 1u);
}

TEST_F(LogRecoveryTest, CommitSpanningSeveralBlocksRoundTrips) {
  auto w = open_writer();
  add(*w, 100);
  const std::uint64_t big = add(*w, 5 * kBlockSize + 123, 3);
  add(*w, 100);
  w->sync();
  w.reset();
  w = open_writer();
  EXPECT_EQ(w->last_lsn(), 5u);
  const auto commits = read_all();
  ASSERT_EQ(commits.size(), 3u);
  EXPECT_EQ(commits[1].first_lsn, big);
  EXPECT_EQ(commits[1].last_lsn(), 4u);
  EXPECT_EQ(commits[1].body, body_for(big, 5 * kBlockSize + 123));
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogRecoveryTest, DamageInTheMiddleFragmentOfAVouchedCommitIsCorruption) {
  auto w = open_writer();
  add(*w, 100);
  add(*w, 3 * kBlockSize);
  w->sync();
  add(*w, 100);
  w.reset();
  flip_bit(segment_path(1), 2 * kBlockSize + 100);
  expect_corruption_at(2 * kBlockSize, "checksum mismatch");
}

TEST_F(LogRecoveryTest, CommitSpanningBlocksCutShortAtTheTailIsTornTail) {
  auto w = open_writer();
  add(*w, 100);
  w->sync();
  add(*w, 3 * kBlockSize);
  w.reset();
  std::filesystem::resize_file(segment_path(1), 2 * kBlockSize + 10);
  w = open_writer();
  EXPECT_EQ(w->last_lsn(), 1u);
  EXPECT_EQ(read_all().size(), 1u);
  EXPECT_EQ(warnings_.size(), 1u);
}

TEST_F(LogRecoveryTest, TamperedCommitWithValidChecksumIsCorruption) {
  const auto commits = write_vouched_log();
  rewrite_record(segment_path(1), commits[1].offset,
                 [](std::string& p) { p[kCommitFixedSize + 5] ^= 1; });
  expect_corruption_at(commits[1].offset, "hash does not match");
}

TEST_F(LogRecoveryTest, ForeignStoreUuidIsCorruption) {
  write_vouched_log();
  store_id_ = make_store_id(2);
  expect_corruption_at(0, "foreign store");
}

TEST_F(LogRecoveryTest, NewerFormatVersionIsAClearError) {
  write_vouched_log();
  rewrite_record(segment_path(1), 0, [](std::string& p) { p[8] = 2; });
  expect_corruption_at(0, "version 2 is not supported");
}

class SegmentChainTest : public LogRecoveryTest {
 protected:
  // Three segments of three single-LSN commits: 1, 4, 7.
  void write_three_segments() {
    auto w = open_writer(850);
    for (int i = 0; i < 9; ++i) add(*w, 150);
    w->sync();
    w.reset();
    ASSERT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 4, 7}));
  }
};

TEST_F(SegmentChainTest, MissingMiddleSegmentIsCorruption) {
  write_three_segments();
  std::filesystem::remove(segment_path(4));
  EXPECT_THAT([&] { open_writer(); },
              ThrowsMessage<CorruptionError>(
                  AllOf(HasSubstr(segment_file_name(7)), HasSubstr("offset 0:"),
                        HasSubstr("missing or reordered"))));
}

TEST_F(SegmentChainTest, MissingFirstSegmentIsCorruption) {
  write_three_segments();
  std::filesystem::remove(segment_path(1));
  EXPECT_THAT([&] { open_writer(); }, ThrowsMessage<CorruptionError>(AllOf(
                                          HasSubstr(segment_file_name(4)),
                                          HasSubstr("which is missing"))));
}

TEST_F(SegmentChainTest, ReorderedSegmentIsCorruption) {
  write_three_segments();
  std::filesystem::rename(segment_path(4), tmp_ / "x");
  std::filesystem::rename(segment_path(7), segment_path(4));
  std::filesystem::rename(tmp_ / "x", segment_path(7));
  EXPECT_THAT([&] { open_writer(); },
              ThrowsMessage<CorruptionError>(
                  AllOf(HasSubstr(segment_file_name(4)),
                        HasSubstr("does not match the file name"))));
}

TEST_F(SegmentChainTest, TruncatedSealedSegmentIsCorruption) {
  write_three_segments();
  std::filesystem::resize_file(segment_path(4), file_size(segment_path(4)) - 5);
  EXPECT_THAT([&] { open_writer(); }, ThrowsMessage<CorruptionError>(
                                          AllOf(HasSubstr(segment_file_name(4)),
                                                HasSubstr("sealed segment"))));
}

TEST_F(LogRecoveryTest, LsnGapBetweenSegmentsIsCorruption) {
  SegmentBuilder first(store_id_, 1);
  first.commit(1, 0);
  first.commit(2, 1);  // lsns 1..3
  SegmentBuilder second(store_id_, 5, 1,
                        first.last_hash());  // lsn 4 is missing
  second.commit(1, 3);
  std::filesystem::create_directories(dir_);
  first.write(segment_path(1));
  second.write(segment_path(5));
  EXPECT_THAT([&] { open_writer(); },
              ThrowsMessage<CorruptionError>(
                  AllOf(HasSubstr(segment_file_name(5)),
                        HasSubstr("lsn gap between segments"))));
  read_all();
  ASSERT_FALSE(damages_.empty());
  EXPECT_THAT(damages_[0].reason, HasSubstr("lsn gap"));
}

TEST_F(LogRecoveryTest, LsnGapInsideASegmentIsCorruption) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0);
  std::string bytes = b.bytes();
  SegmentBuilder skip(store_id_, 1);
  skip.commit(1, 0);
  skip.commit(1, 1);  // lsn 2, dropped below
  const std::uint64_t at = skip.bytes().size();
  skip.commit(1, 1);  // lsn 3: chained to 2's hash, but 2 is gone
  const std::uint64_t gap_at = bytes.size();
  bytes += skip.bytes().substr(at);
  std::filesystem::create_directories(dir_);
  spit(segment_path(1), bytes);
  expect_corruption_at(gap_at, "lsn gap");
}

TEST_F(LogRecoveryTest, TornHeaderInAFreshLastSegmentIsSetAside) {
  {
    auto w = open_writer(850);
    for (int i = 0; i < 5; ++i) add(*w, 150);
    w->sync();
  }
  ASSERT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 4}));
  // A roll to segment 6 that crashed while writing its header.
  SegmentBuilder fresh(store_id_, 6, 4);
  spit(segment_path(6), fresh.bytes().substr(0, 30));
  auto w = open_writer(850);
  EXPECT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1, 4}));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_THAT(warnings_[0], HasSubstr("set aside a fresh segment"));
  // Its bytes are kept beside the log for salvage.
  EXPECT_EQ(read_file_bytes(dir_ / cut_file_name(segment_file_name(6), 0)),
            fresh.bytes().substr(0, 30));
  EXPECT_EQ(w->last_lsn(), 5u);
  add(*w, 150);
  add(*w, 150);
  w->sync();
  EXPECT_EQ(read_all().size(), 7u);
  EXPECT_TRUE(damages_.empty());
}

TEST_F(LogRecoveryTest, EmptyFreshLastSegmentIsRemoved) {
  { open_writer(); }
  spit(segment_path(1), "");
  auto w = open_writer();
  EXPECT_EQ(w->last_lsn(), 0u);
  EXPECT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(list_segments(*fs_, dir_), (std::vector<std::uint64_t>{1}));
  add(*w);
  w->sync();
  EXPECT_EQ(read_all().size(), 1u);
}

TEST_F(LogRecoveryTest, TornHeaderWithVouchedDataIsCorruption) {
  SegmentBuilder b(store_id_, 1);
  b.commit(1, 0, 40000);  // its LAST fragment and c2 lie in block 1
  b.commit(1, 1);
  std::fill(b.bytes().begin(), b.bytes().begin() + 10, '\0');
  std::filesystem::create_directories(dir_);
  b.write(segment_path(1));
  expect_corruption_at(0, "vouches for lsn 1");
}

}  // namespace
}  // namespace wfstore::log::testutil
