// salvage_store: a store damaged in each way the recovery tests know (a
// flipped byte mid-log, a zeroed block, a truncated segment, a removed
// segment, reordered segments, a torn tail cut into a side file, a torn
// fresh segment set aside whole) is salvaged into a new store that verifies
// and holds exactly the readable prefix: its events are the original's up to
// the damage, and every workflow equals the undamaged twin's as of the last
// salvaged LSN. The report names the loss; the source stays byte-identical;
// bad targets, a source that is no store and a live writer are refused.

#include "wfstore/salvage.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/maintenance.h"

#include "events/log/log_recovery.h"
#include "tests/store/history_script.h"
#include "tests/testutil/log_test_util.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::hash_files;
using testutil::log_events;
using testutil::quiet_options;
using testutil::read_file_bytes;
using testutil::read_log_commits;
using testutil::TempDir;
using testutil::write_bytes;

class SalvageTest : public ::testing::Test {
 protected:
  // The scripted history, then `rolled` commits of one stored workflow each
  // through a writer rolling segments at `roll_bytes` (synced only at the
  // end, and at each roll), folded by a last open when `fold`; the undamaged
  // twin is copied aside.
  void build(int rolled, std::uint64_t roll_bytes, bool fold = true) {
    {
      auto db = Database::open(dir_, quiet_options());
      ids_ = testutil::run_history_script(*db).ids;
      db->close();
    }
    {
      const std::shared_ptr<FileSystem> fs = posix_file_system();
      const StoreDir store = StoreDir::open_existing(fs, dir_, true);
      log::WriterOptions options;
      options.roll_bytes = roll_bytes;
      auto writer = log::Writer::open(fs, store.log_dir(), store.id(), options);
      for (int i = 0; i < rolled; ++i) {
        const std::string id = fmt::format("rolled-{}", i);
        ids_.push_back(id);
        const std::uint64_t lsn = writer->last_lsn() + 1;
        writer->append(
            lsn, 1, 4'000'000'000'000 + i,
            encode_commit_body(
                {}, {WorkflowStored{testutil::diamond_workflow(id)}}));
      }
      writer->sync();
      writer->close();
    }
    if (fold) Database::open(dir_, quiet_options())->close();
    std::filesystem::copy(dir_, twin_,
                          std::filesystem::copy_options::recursive);
    // The twin answers workflow_as_of for every LSN.
    if (!fold) Database::open(twin_, quiet_options())->close();
    events_ = log_events(twin_);
    commits_ = read_log_commits(twin_);
  }

  std::filesystem::path segment(std::uint64_t first_lsn) const {
    return dir_ / "log" / log::segment_file_name(first_lsn);
  }
  std::vector<std::uint64_t> segments() const {
    return log::list_segments(*posix_file_system(), dir_ / "log");
  }
  // The commit of the twin whose record starts in `file` at or after
  // `offset`.
  const log::Commit& commit_at_or_after(const std::string& file,
                                        std::uint64_t offset) const {
    for (const log::Commit& c : commits_) {
      if (c.segment == file && c.offset >= offset) return c;
    }
    ADD_FAILURE() << "no commit in " << file << " at or after " << offset;
    return commits_.back();
  }

  // Salvages dir_ into out_, checking that the source is unchanged.
  SalvageReport salvage() {
    const auto before = hash_files(dir_);
    SalvageReport report = salvage_store(dir_, out_);
    EXPECT_EQ(hash_files(dir_), before) << "the source changed";
    return report;
  }

  // The salvaged store holds exactly the twin's history through `end`.
  void expect_prefix(const SalvageReport& report, std::uint64_t end) {
    EXPECT_EQ(report.last_lsn, end);
    EXPECT_EQ(report.events, end);
    const ViewsVerifyReport verified = verify_store_views(out_);
    EXPECT_TRUE(verified.equal())
        << ::testing::PrintToString(verified.differences);
    EXPECT_EQ(verified.applied_lsn, end);
    const std::vector<Event> salvaged = log_events(out_);
    ASSERT_EQ(salvaged.size(), end);
    for (std::uint64_t i = 0; i < end; ++i) {
      ASSERT_EQ(salvaged[i], events_[i]) << "lsn " << i + 1;
    }
    // The log verifies (checksums, headers, the hash chain from LSN 1) and
    // ends with the source's commit hash.
    {
      const std::shared_ptr<FileSystem> fs = posix_file_system();
      const StoreDir store = StoreDir::open_existing(fs, out_, false);
      const log::VerifyReport log =
          log::verify_log(fs, store.log_dir(), store.id());
      EXPECT_EQ(log.last_lsn, end);
      EXPECT_EQ(log.commits, report.commits);
      EXPECT_EQ(store.id().to_string(), report.store_id);
      if (end > 0) {
        EXPECT_EQ(log::to_hex(log.head_hash), report.head_hash);
      }
    }
    // SALVAGE holds the report.
    const std::optional<nlohmann::json> recorded = read_salvage_record(out_);
    ASSERT_TRUE(recorded.has_value());
    nlohmann::json expected = salvage_report_to_json(report);
    expected.erase("seconds");
    EXPECT_EQ(*recorded, expected);
    EXPECT_EQ(read_salvage_record(twin_), std::nullopt);
    auto twin = Database::open_read_only(twin_);
    const History twin_history(*twin);
    auto db = Database::open(out_, quiet_options());
    const std::optional<ForkOrigin> origin = fork_origin(*db);
    ASSERT_TRUE(origin.has_value());
    EXPECT_EQ(origin->source_store_id, store_id(*twin));
    EXPECT_EQ(origin->source_store_id, report.source_store_id);
    EXPECT_EQ(origin->lsn, end);
    EXPECT_EQ(origin->commit_hash,
              end == 0 ? std::string(64, '0') : report.head_hash);
    EXPECT_NE(store_id(*db), store_id(*twin));
    for (const std::string& id : ids_) {
      std::optional<Workflow> got;
      try {
        got = db->workflow_store().retrieve(id);
      } catch (const WorkflowNotFoundError&) {
      }
      EXPECT_EQ(got,
                end == 0 ? std::nullopt : twin_history.workflow_as_of(id, end))
          << id;
    }
    // The salvaged store takes new commits after its history.
    db->workflow_store().mark_message_processed("after-salvage");
    db->close();
    EXPECT_TRUE(verify_store_views(out_).equal());
  }

  // The workflow ids the report names.
  static std::set<std::string> workflows(const SalvageReport& report) {
    std::set<std::string> out;
    for (const LostWorkflow& w : report.workflows) out.insert(w.workflow_id);
    return out;
  }

  // The workflow ids of the twin's events in first..last.
  std::set<std::string> workflows_in(std::uint64_t first,
                                     std::uint64_t last) const {
    std::set<std::string> out;
    for (std::uint64_t lsn = first; lsn <= last; ++lsn) {
      if (!events_[lsn - 1].workflow_id.empty()) {
        out.insert(events_[lsn - 1].workflow_id);
      }
    }
    return out;
  }

  TempDir temp_;
  std::filesystem::path dir_ = temp_ / "store";
  std::filesystem::path twin_ = temp_ / "twin";
  std::filesystem::path out_ = temp_ / "salvaged";
  std::vector<std::string> ids_;
  std::vector<Event> events_;
  std::vector<log::Commit> commits_;
};

TEST_F(SalvageTest, UndamagedStoreIsCopiedWholeAndNothingIsLost) {
  build(30, 20000);
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_TRUE(report.nothing_lost());
  EXPECT_TRUE(report.damages.empty());
  EXPECT_EQ(report.stop_reason, "the log ends");
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  EXPECT_EQ(report.segments_written, segments().size());
  EXPECT_EQ(report.bytes_lost, 0u);
  EXPECT_EQ(report.head_hash, log::to_hex(commits_.back().hash));
}

TEST_F(SalvageTest, FlippedByteMidLogKeepsThePrefixAndNamesTheLoss) {
  build(60, 20000);
  const std::vector<std::uint64_t> segs = segments();
  ASSERT_GE(segs.size(), 4u);
  // A commit in the middle of the third segment.
  const std::string name = log::segment_file_name(segs[2]);
  const log::Commit& hit =
      commit_at_or_after(name, read_file_bytes(segment(segs[2])).size() / 2);
  std::string bytes = read_file_bytes(segment(segs[2]));
  bytes[hit.offset + log::kHeaderSize + 50] ^= 0x10;
  write_bytes(segment(segs[2]), bytes);

  const SalvageReport report = salvage();
  expect_prefix(report, hit.first_lsn - 1);
  EXPECT_FALSE(report.nothing_lost());
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  ASSERT_FALSE(report.lost.empty());
  EXPECT_EQ(report.lost.front().first_lsn, hit.first_lsn);
  EXPECT_EQ(report.lost.back().last_lsn, events_.size());
  EXPECT_EQ(report.lost_events, events_.size() - hit.first_lsn + 1);
  // The later segments' commits were read past the damage, not copied.
  EXPECT_TRUE(std::any_of(report.lost.begin(), report.lost.end(),
                          [](const LostRange& r) { return r.readable; }));
  // The views of the clean close name every lost event's workflow.
  EXPECT_TRUE(report.workflows_complete);
  EXPECT_EQ(workflows(report), workflows_in(hit.first_lsn, events_.size()));
  ASSERT_FALSE(report.damages.empty());
  EXPECT_EQ(report.damages.front().file, name);
  EXPECT_THAT(report.damages.front().reason, HasSubstr("checksum mismatch"));
  EXPECT_THAT(
      report.stop_reason,
      HasSubstr(fmt::format("no whole commit holds lsn {}", hit.first_lsn)));
  EXPECT_GT(report.bytes_lost, 0u);
}

TEST_F(SalvageTest, WorkflowsOfLostEventsComeFromTheLogWhenViewsLackThem) {
  build(60, 20000);
  // The views are gone: only the records past the damage tell the workflows.
  std::filesystem::remove_all(dir_ / "views");
  std::filesystem::remove(dir_ / "VIEWS_STATE");
  const std::vector<std::uint64_t> segs = segments();
  std::filesystem::remove(segment(segs[1]));
  const SalvageReport report = salvage();
  expect_prefix(report, segs[1] - 1);
  // LSNs of the removed segment: unreadable; the rest read and decoded.
  ASSERT_EQ(report.lost.size(), 2u);
  EXPECT_EQ(report.lost[0].first_lsn, segs[1]);
  EXPECT_EQ(report.lost[0].last_lsn, segs[2] - 1);
  EXPECT_FALSE(report.lost[0].readable);
  EXPECT_EQ(report.lost[1].first_lsn, segs[2]);
  EXPECT_EQ(report.lost[1].last_lsn, events_.size());
  EXPECT_TRUE(report.lost[1].readable);
  EXPECT_FALSE(report.workflows_complete);
  EXPECT_EQ(workflows(report), workflows_in(segs[2], events_.size()));
  for (const LostWorkflow& w : report.workflows) EXPECT_EQ(w.known_from, "log");
  EXPECT_EQ(report.highest_known_lsn, events_.size());
}

TEST_F(SalvageTest, RemovedSegmentEndsTheSalvageBeforeIt) {
  build(60, 20000);
  const std::vector<std::uint64_t> segs = segments();
  std::filesystem::remove(segment(segs[2]));
  const SalvageReport report = salvage();
  expect_prefix(report, segs[2] - 1);
  ASSERT_FALSE(report.lost.empty());
  EXPECT_EQ(report.lost.front().first_lsn, segs[2]);
  EXPECT_FALSE(report.lost.front().readable);
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  EXPECT_EQ(workflows(report), workflows_in(segs[2], events_.size()));
  // The later segments held whole commits none of which could be copied.
  EXPECT_THAT(report.segments_skipped,
              ::testing::Contains(log::segment_file_name(segs[3])));
}

TEST_F(SalvageTest, ZeroedBlockLosesEverythingFromTheFirstCommitItHolds) {
  build(120, 200000);
  const std::vector<std::uint64_t> segs = segments();
  const std::string bytes = read_file_bytes(segment(segs[0]));
  ASSERT_GT(bytes.size(), 2 * log::kBlockSize);
  std::string zeroed = bytes;
  std::fill(zeroed.begin() + log::kBlockSize,
            zeroed.begin() + 2 * log::kBlockSize, '\0');
  write_bytes(segment(segs[0]), zeroed);
  // The first commit whose record reaches into the zeroed block.
  std::uint64_t end = 0;
  for (const log::Commit& c : commits_) {
    const std::uint64_t record_end =
        c.offset + log::framed_size(log::kCommitFixedSize + c.body.size(),
                                    c.offset % log::kBlockSize);
    if (c.segment != log::segment_file_name(segs[0]) ||
        record_end > log::kBlockSize) {
      break;
    }
    end = c.last_lsn();
  }
  const SalvageReport report = salvage();
  expect_prefix(report, end);
  EXPECT_EQ(report.lost.front().first_lsn, end + 1);
  EXPECT_THAT(report.damages.front().reason, HasSubstr("zero-filled block"));
  EXPECT_EQ(report.highest_known_lsn, events_.size());
}

TEST_F(SalvageTest, TruncatedSegmentKeepsItsWholeCommits) {
  build(60, 20000);
  const std::vector<std::uint64_t> segs = segments();
  const std::string name = log::segment_file_name(segs[1]);
  const std::string bytes = read_file_bytes(segment(segs[1]));
  const log::Commit& hit = commit_at_or_after(name, bytes.size() / 2);
  write_bytes(segment(segs[1]), bytes.substr(0, hit.offset + 20));
  const SalvageReport report = salvage();
  expect_prefix(report, hit.first_lsn - 1);
  EXPECT_EQ(report.lost.front().first_lsn, hit.first_lsn);
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  EXPECT_EQ(workflows(report), workflows_in(hit.first_lsn, events_.size()));
}

TEST_F(SalvageTest, ReorderedSegmentsLoseNothing) {
  build(60, 20000);
  const std::vector<std::uint64_t> segs = segments();
  std::filesystem::rename(segment(segs[1]), temp_ / "x");
  std::filesystem::rename(segment(segs[2]), segment(segs[1]));
  std::filesystem::rename(temp_ / "x", segment(segs[2]));
  EXPECT_THROW(Database::open(dir_, quiet_options()), CorruptionError);
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_TRUE(report.nothing_lost());
  ASSERT_FALSE(report.damages.empty());
  EXPECT_THAT(report.damages.front().reason,
              HasSubstr("does not match the file name"));
}

TEST_F(SalvageTest, SegmentWithADamagedHeaderIsReadAfterIt) {
  build(60, 20000);
  const std::vector<std::uint64_t> segs = segments();
  ASSERT_GE(segs.size(), 4u);
  const std::string name = log::segment_file_name(segs[2]);
  const std::string bytes = read_file_bytes(segment(segs[2]));
  // A byte of the header's payload, then of its length.
  for (const std::size_t at : {log::kHeaderSize + 10, std::size_t{4}}) {
    SCOPED_TRACE(at);
    std::string damaged = bytes;
    damaged[at] ^= 0x01;
    write_bytes(segment(segs[2]), damaged);
    std::filesystem::remove_all(out_);
    const SalvageReport report = salvage();
    expect_prefix(report, events_.size());
    EXPECT_TRUE(report.nothing_lost());
    ASSERT_EQ(report.damages.size(), 1u);
    EXPECT_EQ(report.damages[0].file, name);
    EXPECT_EQ(report.damages[0].offset, 0u);
    EXPECT_EQ(report.damages[0].bytes,
              log::kHeaderSize + log::kSegmentHeaderSize);
  }
}

TEST_F(SalvageTest, TornTailCutIntoASideFileIsReportedFromIt) {
  // One segment, the rolled commits never synced: their tail is torn.
  build(20, log::kDefaultRollBytes, /*fold=*/false);
  const log::Commit& hit = commits_[commits_.size() - 8];
  std::string bytes = read_file_bytes(segment(1));
  bytes[hit.offset + log::kHeaderSize + 50] ^= 0x10;
  write_bytes(segment(1), bytes);
  // An open cuts the tail from the damaged commit into a side file.
  {
    auto db = Database::open(dir_, quiet_options());
    EXPECT_EQ(History(*db).current_lsn(), hit.first_lsn - 1);
    db->close();
  }
  ASSERT_TRUE(std::filesystem::exists(
      dir_ / "log" /
      log::cut_file_name(log::segment_file_name(1), hit.offset)));
  const SalvageReport report = salvage();
  expect_prefix(report, hit.first_lsn - 1);
  ASSERT_EQ(report.lost.size(), 2u);
  EXPECT_EQ(report.lost[0].first_lsn, hit.first_lsn);
  EXPECT_FALSE(report.lost[0].readable);
  EXPECT_TRUE(report.lost[1].readable);
  EXPECT_EQ(report.lost[1].commits, 7u);
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  // The damaged commit's workflow is unknown, the seven after it are read.
  EXPECT_FALSE(report.workflows_complete);
  EXPECT_EQ(workflows(report), workflows_in(hit.first_lsn + 1, events_.size()));
  EXPECT_EQ(report.commits_from_side_files, 0u);
}

TEST_F(SalvageTest, SetAsideSegmentWithWholeCommitsIsSalvaged) {
  // The last segment's header is torn and nothing in it was synced, so an
  // open sets the whole segment aside; its commits are whole and chain.
  build(60, 20000, /*fold=*/false);
  const std::uint64_t last = segments().back();
  std::string bytes = read_file_bytes(segment(last));
  bytes[log::kHeaderSize + 10] ^= 0x01;
  write_bytes(segment(last), bytes);
  {
    auto db = Database::open(dir_, quiet_options());
    EXPECT_EQ(History(*db).current_lsn(), last - 1);
    db->close();
  }
  ASSERT_FALSE(std::filesystem::exists(segment(last)));
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_TRUE(report.nothing_lost());
  EXPECT_GT(report.commits_from_side_files, 0u);
  EXPECT_EQ(report.side_files_used, std::vector<std::string>{log::cut_file_name(
                                        log::segment_file_name(last), 0)});
}

TEST_F(SalvageTest, SideFileCommitsTheLogSupersededAreDiscarded) {
  build(20, log::kDefaultRollBytes, /*fold=*/false);
  // The tail from the eighth-last commit is cut whole into a side file, and
  // the writer goes on with other commits of the same LSNs.
  const log::Commit& cut = commits_[commits_.size() - 8];
  const std::string bytes = read_file_bytes(segment(1));
  write_bytes(
      dir_ / "log" / log::cut_file_name(log::segment_file_name(1), cut.offset),
      bytes.substr(cut.offset));
  write_bytes(segment(1), bytes.substr(0, cut.offset));
  {
    auto db = Database::open(dir_, quiet_options());
    for (int i = 0; i < 10; ++i) {
      db->workflow_store().mark_message_processed(fmt::format("new-{}", i));
    }
    db->close();
  }
  std::filesystem::remove_all(twin_);
  std::filesystem::copy(dir_, twin_, std::filesystem::copy_options::recursive);
  events_ = log_events(twin_);
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_TRUE(report.nothing_lost());
  EXPECT_EQ(report.commits_from_side_files, 0u);
  EXPECT_EQ(report.discarded_commits, 8u);
}

TEST_F(SalvageTest, ForeignSegmentIsNeitherCopiedNorEvidence) {
  build(30, 20000);
  // Another store's first segment, dropped into the log under a name past
  // its end: its header names the other store, so neither its commits nor
  // its name tell how far this store's history went.
  const std::filesystem::path other = temp_ / "other";
  {
    auto db = Database::open(other, quiet_options());
    testutil::run_history_script(*db);
    db->close();
  }
  const std::string name = log::segment_file_name(events_.size() + 100);
  std::filesystem::copy_file(other / "log" / log::segment_file_name(1),
                             dir_ / "log" / name);
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_EQ(report.foreign_segments, std::vector<std::string>{name});
  EXPECT_THAT(report.segments_skipped, ::testing::Contains(name));
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  EXPECT_TRUE(report.nothing_lost());
  ASSERT_FALSE(report.damages.empty());
  EXPECT_EQ(report.damages.back().file, name);
  EXPECT_THAT(report.damages.back().reason, HasSubstr("foreign store"));
}

TEST_F(SalvageTest, DamagedFirstCommitSalvagesAnEmptyStore) {
  build(10, 20000);
  const log::Commit& first = commits_.front();
  ASSERT_EQ(first.first_lsn, 1u);
  std::string bytes = read_file_bytes(segment(1));
  bytes[first.offset + log::kHeaderSize + 40] ^= 0x04;
  write_bytes(segment(1), bytes);
  const SalvageReport report = salvage();
  EXPECT_EQ(report.commits, 0u);
  EXPECT_EQ(report.head_hash, "");
  EXPECT_EQ(report.segments_written, 0u);
  expect_prefix(report, 0);
  ASSERT_FALSE(report.lost.empty());
  EXPECT_EQ(report.lost.front().first_lsn, 1u);
  EXPECT_EQ(report.lost.back().last_lsn, events_.size());
  EXPECT_EQ(report.lost_events, events_.size());
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  // Every lost event's workflow is named (the views of the clean close).
  EXPECT_TRUE(report.workflows_complete);
  EXPECT_EQ(workflows(report), workflows_in(1, events_.size()));
  EXPECT_THAT(report.stop_reason, HasSubstr("no whole commit holds lsn 1"));
}

TEST_F(SalvageTest, CommitRewrittenWithAValidChecksumEndsTheChain) {
  // Damage no torn write makes: a body byte changed and the record's CRC
  // recomputed; the commit hash no longer matches, so the commit is not
  // whole, and the commits after it do not chain to what was salvaged.
  build(40, 20000);
  const log::Commit& hit = commits_[commits_.size() / 2];
  ASSERT_EQ(log::framed_size(log::kCommitFixedSize + hit.body.size(),
                             hit.offset % log::kBlockSize),
            log::kHeaderSize + log::kCommitFixedSize + hit.body.size())
      << "the test wants a one-fragment record";
  log::testutil::rewrite_record(
      dir_ / "log" / hit.segment, hit.offset,
      [](std::string& payload) { payload.back() ^= 0x01; });
  const SalvageReport report = salvage();
  expect_prefix(report, hit.first_lsn - 1);
  ASSERT_FALSE(report.lost.empty());
  EXPECT_EQ(report.lost.front().first_lsn, hit.first_lsn);
  EXPECT_EQ(report.lost.front().last_lsn, hit.last_lsn());
  EXPECT_FALSE(report.lost.front().readable);
  EXPECT_EQ(report.lost.back().last_lsn, events_.size());
  EXPECT_EQ(report.highest_known_lsn, events_.size());
  EXPECT_EQ(workflows(report), workflows_in(hit.first_lsn, events_.size()));
}

// A salvage cut short after its STORE file is in place opens with its whole
// history; one cut short before it (the log copied, ORIGIN and SALVAGE
// written, STORE.tmp half written) leaves no store: it neither opens nor is
// taken for an empty target, and the next salvage into it is refused rather
// than mixed with it. (The states a crash leaves, made by removing files.)
TEST_F(SalvageTest, SalvageCutShortIsAWholeStoreOrNoStore) {
  build(5, 20000);
  salvage();
  // Cut short after STORE, before the views were rebuilt: the log is whole
  // (synced before STORE), so it opens with every salvaged event.
  std::filesystem::remove_all(out_ / "views");
  std::filesystem::remove(out_ / "VIEWS_STATE");
  {
    auto db = Database::open(out_, quiet_options());
    EXPECT_EQ(History(*db).current_lsn(), events_.size());
    db->close();
  }
  EXPECT_TRUE(verify_store_views(out_).equal());
  std::filesystem::remove(out_ / "STORE");
  std::filesystem::remove_all(out_ / "views");
  std::filesystem::remove(out_ / "VIEWS_STATE");
  std::filesystem::remove(out_ / "LOCK");
  const std::vector<std::string> written = {"ORIGIN", "SALVAGE"};
  for (std::size_t kept = 0; kept <= written.size(); ++kept) {
    if (kept > 0) std::filesystem::remove(out_ / written[kept - 1]);
    for (const bool temp : {false, true}) {
      SCOPED_TRACE(fmt::format("{} of ORIGIN, SALVAGE removed, STORE.tmp {}",
                               kept, temp));
      if (temp) write_bytes(out_ / "STORE.tmp", "WFSTO");
      EXPECT_THAT([&] { Database::open(out_, quiet_options()); },
                  ThrowsMessage<InvalidArgumentError>(HasSubstr("not")));
      EXPECT_THROW(Database::open_read_only(out_), InvalidArgumentError);
      EXPECT_THAT([&] { salvage_store(dir_, out_); },
                  ThrowsMessage<InvalidArgumentError>(
                      HasSubstr("exists and is not an empty directory")));
      EXPECT_FALSE(std::filesystem::exists(out_ / "STORE"));
      std::filesystem::remove(out_ / "STORE.tmp");
    }
  }
}

TEST_F(SalvageTest, EmptyExistingTargetDirectoryIsUsedAndKept) {
  build(5, 20000);
  std::filesystem::create_directories(out_);
  const SalvageReport report = salvage();
  expect_prefix(report, events_.size());
  EXPECT_TRUE(report.nothing_lost());
}

TEST_F(SalvageTest, TargetThatIsAFileOrHoldsTheSourceIsRefused) {
  build(5, 20000);
  const auto before = hash_files(dir_);
  write_bytes(temp_ / "file", "mine");
  EXPECT_THAT([&] { salvage_store(dir_, temp_ / "file"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("exists and is not an empty directory")));
  EXPECT_EQ(read_file_bytes(temp_ / "file"), "mine");
  EXPECT_THAT(
      [&] { salvage_store(dir_, dir_.parent_path()); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("holds the store")));
  // The same directory named another way.
  EXPECT_THAT(
      [&] { salvage_store(dir_, dir_ / "log" / ".."); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("inside the store")));
  EXPECT_EQ(hash_files(dir_), before);
}

TEST_F(SalvageTest, DamagedStoreFileIsCorruptionAndNothingIsWritten) {
  build(5, 20000);
  std::string bytes = read_file_bytes(dir_ / "STORE");
  bytes[bytes.size() / 2] ^= 0x01;
  write_bytes(dir_ / "STORE", bytes);
  const auto before = hash_files(dir_);
  EXPECT_THROW(salvage_store(dir_, out_), CorruptionError);
  EXPECT_EQ(hash_files(dir_), before);
  EXPECT_FALSE(std::filesystem::exists(out_));
}

TEST_F(SalvageTest, ExistingTargetIsRefusedAndNothingChanges) {
  build(5, 20000);
  std::filesystem::create_directories(out_);
  write_bytes(out_ / "keep", "mine");
  const auto before = hash_files(dir_);
  EXPECT_THAT([&] { salvage_store(dir_, out_); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("exists and is not an empty directory")));
  EXPECT_EQ(hash_files(dir_), before);
  EXPECT_EQ(read_file_bytes(out_ / "keep"), "mine");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out_), {}), 1);
}

TEST_F(SalvageTest, SameOrNestedDirectoryIsRefused) {
  build(5, 20000);
  const auto before = hash_files(dir_);
  EXPECT_THAT(
      [&] { salvage_store(dir_, dir_); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("inside the store")));
  EXPECT_THAT(
      [&] { salvage_store(dir_, dir_ / "inner"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("inside the store")));
  EXPECT_EQ(hash_files(dir_), before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "inner"));
}

TEST_F(SalvageTest, SourceThatIsNoStoreIsRefused) {
  std::filesystem::create_directories(temp_ / "plain");
  write_bytes(temp_ / "plain" / "file", "x");
  EXPECT_THAT([&] { salvage_store(temp_ / "plain", out_); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("not a wfstore")));
  EXPECT_THROW(salvage_store(temp_ / "missing", out_), InvalidArgumentError);
  EXPECT_FALSE(std::filesystem::exists(out_));
  EXPECT_EQ(read_file_bytes(temp_ / "plain" / "file"), "x");
}

TEST_F(SalvageTest, StoreWithALiveWriterIsRefused) {
  build(5, 20000);
  auto db = Database::open(dir_, quiet_options());
  const auto before = hash_files(dir_, /*with_views=*/false);
  EXPECT_THAT([&] { salvage_store(dir_, out_); },
              ThrowsMessage<StoreLockedError>(HasSubstr("offline")));
  EXPECT_EQ(hash_files(dir_, false), before);
  EXPECT_FALSE(std::filesystem::exists(out_));
  db->close();
  // Once the writer is gone the same call works.
  EXPECT_TRUE(salvage_store(dir_, out_).nothing_lost());
}

TEST_F(SalvageTest, StoreWithoutALockFileIsSalvagedWithoutCreatingOne) {
  build(5, 20000);
  std::filesystem::remove(dir_ / "LOCK");
  const SalvageReport report = salvage();
  EXPECT_TRUE(report.nothing_lost());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "LOCK"));
}

}  // namespace
}  // namespace wfstore
