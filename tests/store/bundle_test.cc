// Bundles: export_workflow writes one workflow's history, read_bundle_info
// checks it, import_bundle replays its state events as one commit into a fresh
// or an existing store so retrieve() equals the original's; every bad bundle
// and every conflict is a clear error that changes no store.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/limits.h"
#include "wfstore/maintenance.h"

#include "tests/store/history_script.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/sha256.h"

namespace wfstore {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::capture_state;
using testutil::hash_files;
using testutil::log_events;
using testutil::quiet_options;
using testutil::read_file_bytes;
using testutil::run_history_script;
using testutil::ScriptedHistory;
using testutil::TempDir;
using testutil::write_bytes;

std::string hex_sha256(std::string_view bytes) {
  return log::to_hex(sha256(bytes));
}

// Replaces the trailer with the SHA-256 of everything before it.
std::string rehash(std::string bytes) {
  bytes.resize(bytes.size() - 32);
  const Sha256Digest digest = sha256(bytes);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return bytes;
}

std::uint32_t u32_at(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 4; i-- > 0;) {
    v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  }
  return v;
}

// Offsets of the frames of a version-1 bundle (docs/formats.md#bundles).
std::vector<std::size_t> frame_offsets(const std::string& bytes) {
  std::size_t at = 12 + 44 + u32_at(bytes, 12 + 40);
  std::vector<std::size_t> out;
  while (at + 32 < bytes.size()) {
    out.push_back(at);
    at += 4 + u32_at(bytes, at);
  }
  return out;
}

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = Database::open(tmp_ / "source", quiet_options());
    history_ = run_history_script(*source_);
  }
  void TearDown() override {
    if (source_) source_->close();
  }

  // Exports workflow `id` of the source into a fresh file; returns its path.
  std::filesystem::path export_bundle(const std::string& id) {
    auto file = tmp_ / fmt::format("{}-{}.wfbundle", id, ++exports_);
    History(*source_).export_workflow(id, file);
    return file;
  }

  const Workflow& original(const std::string& id) {
    return *history_.states.at(history_.last_lsn).at(id);
  }

  // Imports `file` into `db` expecting an error of type E whose message holds
  // `text`, and checks that nothing changed in the store in `dir`: its applied
  // LSN, its files and its views' tables.
  template <typename E>
  void expect_rejected(Database& db, const std::filesystem::path& dir,
                       const std::filesystem::path& file,
                       std::string_view text) {
    const std::uint64_t lsn = History(db).current_lsn();
    const auto before = hash_files(dir, false);
    const testutil::TableDump views = testutil::dump_all(db);
    EXPECT_THAT([&] { import_bundle(db, file); },
                ThrowsMessage<E>(HasSubstr(std::string(text))));
    EXPECT_EQ(History(db).current_lsn(), lsn);
    EXPECT_EQ(hash_files(dir, false), before);
    EXPECT_EQ(testutil::dump_all(db), views);
  }

  TempDir tmp_;
  std::unique_ptr<Database> source_;
  ScriptedHistory history_;
  int exports_ = 0;
};

TEST_F(BundleTest, ExportHoldsEveryEventOfTheWorkflow) {
  const auto file = export_bundle("wf-b");
  std::vector<Event> events;
  for (const Event& event : log_events(tmp_ / "source")) {
    if (event.workflow_id == "wf-b") events.push_back(event);
  }
  const BundleInfo info = read_bundle_info(file);
  EXPECT_EQ(info.workflow_id, "wf-b");
  EXPECT_EQ(info.source_store_id, store_id(*source_));
  EXPECT_EQ(info.events, events.size());
  EXPECT_EQ(info.first_lsn, events.front().lsn);
  EXPECT_EQ(info.last_lsn, events.back().lsn);
  const std::string bytes = read_file_bytes(file);
  EXPECT_EQ(info.bytes, bytes.size());
  EXPECT_EQ(info.sha256, hex_sha256(bytes));
  EXPECT_EQ(bytes.substr(0, 8), "WFBUNDLE");
  // Queue events and dedup marks are in the bundle too: the whole history.
  bool queue_event = false;
  for (const Event& event : events) {
    queue_event |= event.type() == EventType::kMessagePushed;
  }
  EXPECT_TRUE(queue_event);
  EXPECT_EQ(frame_offsets(bytes).size(), events.size());
  // No temporary file is left beside it.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp_.path())) {
    files += entry.is_regular_file() ? 1u : 0u;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(BundleTest, RoundTripIntoAFreshStore) {
  auto target = Database::open(tmp_ / "target", quiet_options());
  for (const std::string id : {"wf-b", "wf-c"}) {
    const auto file = export_bundle(id);
    AuditScope audit({"importer", "import-1", "", "test"});
    const BundleInfo info = import_bundle(*target, file);
    const BundleInfo read = read_bundle_info(file);
    EXPECT_EQ(info.workflow_id, id);
    EXPECT_EQ(info.sha256, read.sha256);
    EXPECT_EQ(info.events, read.events);
    EXPECT_EQ(target->workflow_store().retrieve(id), original(id));
  }
  // The deleted workflow imports as deleted.
  import_bundle(*target, export_bundle("wf-a"));
  EXPECT_FALSE(target->workflow_store().exists("wf-a"));
  EXPECT_EQ(capture_state(target->workflow_store(), history_.ids),
            history_.states.at(history_.last_lsn));
  // Each import is one commit of state events carrying the importer's audit.
  const std::vector<Event> events = log_events(tmp_ / "target");
  std::set<std::uint64_t> commits;
  for (const Event& event : events) {
    commits.insert(event.commit_id);
    EXPECT_NE(event.type(), EventType::kMessagePushed);
    EXPECT_NE(event.type(), EventType::kMessageProcessed);
  }
  EXPECT_EQ(commits.size(), 3u);
  EXPECT_EQ(events.front().audit.actor, "importer");
  EXPECT_EQ(events.back().audit.actor, "");
  target->close();
  EXPECT_TRUE(verify_store_views(tmp_ / "target").equal());
}

TEST_F(BundleTest, RoundTripIntoAnExistingStoreAndTwiceIsRejected) {
  auto target = Database::open(tmp_ / "target", quiet_options());
  const ScriptedHistory own = run_history_script(*target, "t-");
  const auto file = export_bundle("wf-b");
  import_bundle(*target, file);
  EXPECT_EQ(target->workflow_store().retrieve("wf-b"), original("wf-b"));
  EXPECT_EQ(capture_state(target->workflow_store(), own.ids),
            own.states.at(own.last_lsn));
  expect_rejected<InvalidArgumentError>(*target, tmp_ / "target", file,
                                        "already holds a workflow");
  // A bundle of a workflow the target stored itself.
  const auto own_file = tmp_ / "own.wfbundle";
  History(*target).export_workflow("t-wf-c", own_file);
  expect_rejected<InvalidArgumentError>(*target, tmp_ / "target", own_file,
                                        "already holds a workflow");
  target->close();
  EXPECT_TRUE(verify_store_views(tmp_ / "target").equal());
}

TEST_F(BundleTest, ConflictsWithTheTargetChangeNothing) {
  auto target = Database::open(tmp_ / "target", quiet_options());
  // Another store's own wf-c.
  target->workflow_store().store(testutil::diamond_workflow("wf-c"));
  expect_rejected<InvalidArgumentError>(*target, tmp_ / "target",
                                        export_bundle("wf-c"),
                                        "already holds a workflow");
  // A stage of the bundle's workflow held by another workflow.
  Workflow other =
      testutil::bare_workflow("other", "app", WorkflowStatus::kRunning, 1);
  StageExecution stage =
      testutil::bare_stage("other", "wf-b.prepare", "prepare", "wait");
  other.stages.push_back(stage);
  target->workflow_store().store(other);
  expect_rejected<InvalidArgumentError>(*target, tmp_ / "target",
                                        export_bundle("wf-b"),
                                        "already holds stage wf-b.prepare");
  target->close();
}

TEST_F(BundleTest, DamagedTruncatedAndForeignFilesAreRejected) {
  auto target = Database::open(tmp_ / "target", quiet_options());
  target->workflow_store().store(testutil::diamond_workflow("mine"));
  const std::filesystem::path dir = tmp_ / "target";
  const auto file = export_bundle("wf-b");
  const std::string bytes = read_file_bytes(file);
  const auto variant = [&](const std::string& name, const std::string& b) {
    auto path = tmp_ / name;
    write_bytes(path, b);
    return path;
  };
  // Not a bundle.
  expect_rejected<InvalidArgumentError>(
      *target, dir, variant("text", "hello, world\n"), "not a wfstore bundle");
  expect_rejected<InvalidArgumentError>(*target, dir, variant("empty", ""),
                                        "not a wfstore bundle");
  expect_rejected<InvalidArgumentError>(*target, dir, tmp_ / "missing",
                                        "no such bundle");
  // Truncated anywhere.
  for (std::size_t size :
       {std::size_t{5}, std::size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    SCOPED_TRACE(size);
    const auto path = variant("cut", bytes.substr(0, size));
    expect_rejected<CorruptionError>(*target, dir, path, "");
    EXPECT_THROW(read_bundle_info(path), CorruptionError);
  }
  // A byte flipped anywhere: the checksum.
  for (std::size_t at :
       {std::size_t{9}, std::size_t{30}, bytes.size() / 2, bytes.size() - 3}) {
    SCOPED_TRACE(at);
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x04);
    expect_rejected<CorruptionError>(*target, dir, variant("flip", flipped),
                                     "checksum mismatch");
  }
  // Another format version, whole and checksummed.
  std::string v2 = bytes;
  v2[8] = 2;
  expect_rejected<InvalidArgumentError>(*target, dir, variant("v2", rehash(v2)),
                                        "format version 2");
  // Tampered with the checksum recomputed: what no longer holds is caught.
  const std::vector<std::size_t> frames = frame_offsets(bytes);
  ASSERT_GE(frames.size(), 3u);
  {
    // The second event's LSN set to the first's.
    std::string t = bytes;
    t.replace(frames[1] + 4, 8, t.substr(frames[0] + 4, 8));
    expect_rejected<CorruptionError>(*target, dir, variant("lsn", rehash(t)),
                                     "does not follow");
  }
  {
    // An event's envelope naming another workflow.
    std::string t = bytes;
    const std::size_t at = t.find("wf-b", frames[2] + 4 + 56);
    ASSERT_NE(at, std::string::npos);
    t[at + 3] = 'x';
    expect_rejected<CorruptionError>(*target, dir, variant("wf", rehash(t)),
                                     "event 3 of");
  }
  {
    // A type id no build knows.
    std::string t = bytes;
    const std::size_t at = t.find("wf-b", frames[0] + 4 + 56);
    t[at - 5] = static_cast<char>(0x7f);  // the type's low byte
    expect_rejected<CorruptionError>(*target, dir, variant("type", rehash(t)),
                                     "event 1 of");
  }
  {
    // The stage removal naming a stage the workflow does not hold: the
    // events must be a history the store's own writes make.
    std::string t = bytes;
    const std::size_t at = t.rfind("prepare_hook_b");  // the StageRemoved
    ASSERT_NE(at, std::string::npos);
    ASSERT_GT(at, frames[1]);
    t[at + 13] = 'x';
    expect_rejected<InvalidArgumentError>(
        *target, dir, variant("removed", rehash(t)),
        "stage wf-b.prepare_hook_x is not a stage of the workflow");
  }
  {
    // The header counting one event more than the file holds.
    std::string t = bytes;
    t[12 + 16] = static_cast<char>(t[12 + 16] + 1);
    expect_rejected<CorruptionError>(*target, dir, variant("count", rehash(t)),
                                     "truncated");
  }
  target->close();
}

TEST_F(BundleTest, ExportAndImportRefuseBadArguments) {
  const History h(*source_);
  EXPECT_THAT([&] { h.export_workflow("nope", tmp_ / "nope.wfbundle"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("no events")));
  EXPECT_THROW(h.export_workflow("", tmp_ / "empty.wfbundle"),
               InvalidArgumentError);
  write_bytes(tmp_ / "taken", "mine");
  EXPECT_THAT([&] { h.export_workflow("wf-b", tmp_ / "taken"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("exists")));
  EXPECT_EQ(read_file_bytes(tmp_ / "taken"), "mine");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "nope.wfbundle"));
  // A directory is no bundle (not an I/O error).
  EXPECT_THAT(
      [&] { read_bundle_info(tmp_.path()); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("not a wfstore bundle")));

  const auto file = export_bundle("wf-b");
  {
    auto target = Database::open(tmp_ / "target", quiet_options());
    target->close();
  }
  auto ro = Database::open_read_only(tmp_ / "target", quiet_options());
  const auto before = hash_files(tmp_ / "target");
  EXPECT_THROW(import_bundle(*ro, file), IOError);
  ro->close();
  EXPECT_EQ(hash_files(tmp_ / "target"), before);
}

TEST_F(BundleTest, TooLargeToImportAtomically) {
  // Stage updates of about 12 MB each: the history exceeds one commit.
  std::string big(std::size_t{12} << 20, 'x');
  for (int i = 0; i < 6; ++i) {
    StageExecution stage =
        source_->workflow_store().retrieve_stage("wf-c.deploy").stage();
    big[0] = static_cast<char>('a' + i);
    stage.context.mutable_value()["blob"] = big;
    source_->workflow_store().store_stage(stage);
  }
  const auto file = export_bundle("wf-c");
  EXPECT_GT(read_bundle_info(file).bytes, kMaxCommitBytes);
  auto target = Database::open(tmp_ / "target", quiet_options());
  expect_rejected<InvalidArgumentError>(*target, tmp_ / "target", file,
                                        "too large to import atomically");
  target->close();
}

}  // namespace
}  // namespace wfstore
