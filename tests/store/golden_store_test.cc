// The golden store of format release 1 (tests/data/golden/README.md): a small
// store directory written once by this release and checked in under
// tests/data/golden/store-v1 (STORE and log/ only; the views are disposable).
// Every later build must open it, rebuild its views from the log to the exact
// contents below, and never rewrite a byte of its history.
//
// WFSTORE_WRITE_GOLDEN_STORE=1 writes the golden store when it is missing; an
// existing golden store is never rewritten (a format change adds a new version
// with an upcaster and a new golden store next to this one).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "store/database_impl.h"
#include "tests/testutil/file_bytes.h"
#include "tests/testutil/run_tool.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/store_dir.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testutil::FakeClock;

constexpr std::int64_t kStartMs = 1'750'000'000'000;
constexpr std::int64_t kDayMs = 24 * 60 * 60 * 1000;

// What the golden history holds: its last LSN, its commits, and its events
// by type name.
constexpr std::uint64_t kGoldenLastLsn = 41;
constexpr std::uint64_t kGoldenCommits = 37;
const std::map<std::string, int> kGoldenEventCounts = {
    {"WorkflowStored", 4},      {"WorkflowStatusUpdated", 2},
    {"WorkflowStatusSet", 1},   {"WorkflowPaused", 1},
    {"WorkflowResumed", 1},     {"WorkflowCancelRequested", 1},
    {"WorkflowDeleted", 1},     {"StageAdded", 1},
    {"StageUpdated", 2},        {"StageRemoved", 1},
    {"MessageProcessed", 3},    {"ProcessedMessagesPurged", 1},
    {"ClaimAcquired", 3},       {"ClaimTransferred", 1},
    {"ClaimsPurged", 1},        {"MessagePushed", 6},
    {"MessageLeased", 2},       {"MessageAcked", 1},
    {"MessageRescheduled", 1},  {"MessageLeaseExtended", 1},
    {"MessageDeadLettered", 3}, {"DeadLetterReplayed", 1},
    {"QueueCleared", 1},        {"DeadLetterQueueCleared", 1},
};

fs::path golden_store_dir() {
  return fs::path(WFSTORE_TEST_DATA_DIR) / "golden" / "store-v1";
}

// Every file of the store's history (STORE and the log segments) by relative
// path, with its bytes.
std::map<std::string, std::string> history_files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  out[std::string(kStoreFileName)] =
      testutil::read_file_bytes(dir / kStoreFileName);
  for (const auto& entry : fs::directory_iterator(dir / "log")) {
    out["log/" + entry.path().filename().string()] =
        testutil::read_file_bytes(entry.path());
  }
  return out;
}

// The summary of the workflow `id` as `store` holds it, with `status`.
Workflow summary_with_status(WorkflowStore& store, const std::string& id,
                             WorkflowStatus status) {
  Workflow workflow = store.retrieve_execution_summary(id);
  workflow.status = status;
  return workflow;
}

// Writes the golden history into the (missing or empty) store `dir`: every
// event type of the catalogue, with a fake clock and fixed audit fields, so
// the decoded events are the same on every run (the store UUID, and with it
// the segment header and hashes, is random).
// A transaction that acquires one claim, which must be granted, and commits.
void claim_alone(WorkflowStore& store, std::string_view execution_id,
                 std::string_view claim_key, std::string_view stage_id,
                 bool steal_if_owner_terminal = false) {
  Transaction txn = store.transaction();
  EXPECT_TRUE(txn.acquire_claim(execution_id, claim_key, stage_id,
                                steal_if_owner_terminal));
  txn.commit();
}

void write_golden_history(const fs::path& dir) {
  auto clock = std::make_shared<FakeClock>(kStartMs);
  DatabaseOptions options;
  options.clock = clock;
  std::unique_ptr<Database> db = Database::open(dir, options);
  WorkflowStore& store = db->workflow_store();
  AuditScope audit({"golden-generator", "corr-golden", "cause-golden",
                    "tests/store/golden_store_test"});
  auto tick = [&] { clock->advance(1000); };

  // A dedup mark that the purge at the end removes.
  store.mark_message_processed("msg-old", "OldHandler", "wf-diamond");
  clock->advance(2 * kDayMs);

  store.store(testutil::diamond_workflow("wf-diamond"));
  tick();
  store.store(testutil::full_workflow("wf-full"));
  tick();
  store.store(testutil::diamond_workflow("wf-deleted"));
  tick();
  store.delete_workflow("wf-deleted");
  tick();

  // Stage update, add and remove.
  StageExecution deploy = store.retrieve_stage("wf-diamond.deploy").stage();
  deploy.status = WorkflowStatus::kSucceeded;
  deploy.outputs = Json(nlohmann::json{{"deployed", true}});
  deploy.end_time = clock->now_ms();
  store.store_stage(deploy);
  tick();
  StageExecution extra =
      testutil::bare_stage("wf-diamond", "wf-diamond.extra", "extra", "wait");
  extra.name = "Extra";
  store.add_stage(extra);
  tick();
  store.remove_stage("wf-diamond", "wf-diamond.extra");
  tick();

  // Workflow status, pause, resume, cancel.
  Workflow diamond =
      summary_with_status(store, "wf-diamond", WorkflowStatus::kRunning);
  diamond.start_time = clock->now_ms();
  store.update_status(diamond);
  tick();
  store.pause("wf-diamond", "ops@example.com");
  tick();
  store.resume("wf-diamond");
  tick();
  store.cancel("wf-full", "ops@example.com", "golden cancel");
  tick();

  std::optional<Queue> queue_holder;
  Queue& queue = queue_holder.emplace(*db);
  // One transaction: stage, workflow status, push, dedup mark, claim.
  StageExecution verify =
      store.retrieve_stage("wf-diamond.deploy_verify").stage();
  {
    Transaction txn = store.transaction(&queue);
    verify.status = WorkflowStatus::kRunning;
    verify.start_time = clock->now_ms();
    txn.store_stage(verify);
    Workflow status =
        summary_with_status(store, "wf-diamond", WorkflowStatus::kRunning);
    status.end_time = std::nullopt;
    txn.update_workflow_status(status);
    txn.push_message(
        testutil::start_stage("wf-diamond", "wf-diamond.deploy_verify"));
    txn.mark_message_processed("msg-txn", "StartStageHandler", "wf-diamond");
    EXPECT_TRUE(txn.acquire_claim("wf-diamond", "mutex:deploy",
                                  "wf-diamond.deploy_verify"));
    txn.commit();
  }
  tick();

  // A claim held by a SUCCEEDED stage, then stolen by another stage.
  claim_alone(store, "wf-diamond", "mutex:notify", "wf-diamond.setup");
  tick();
  claim_alone(store, "wf-diamond", "mutex:notify", "wf-diamond.deploy_notify",
              true);
  tick();

  // A claim of a workflow that completes, purged.
  store.store(testutil::diamond_workflow("wf-done"));
  tick();
  claim_alone(store, "wf-done", "mutex:deploy", "wf-done.deploy");
  tick();
  Workflow done =
      summary_with_status(store, "wf-done", WorkflowStatus::kSucceeded);
  done.end_time = clock->now_ms();
  store.update_status(done);
  tick();
  EXPECT_EQ(store.cleanup_completed_stage_claims(), 1u);
  tick();

  // The queue: lease and ack the transaction's message, lease, extend and
  // reschedule another, dead-letter and replay, clear both queues.
  const std::uint64_t a = queue.push(testutil::start_workflow("wf-diamond"));
  tick();
  std::optional<Delivery> first = queue.poll_one();
  EXPECT_TRUE(first.has_value());
  tick();
  if (first) queue.ack(first->id);
  tick();
  std::optional<Delivery> second = queue.poll_one();
  EXPECT_TRUE(second.has_value() && second->id == a);
  tick();
  EXPECT_TRUE(queue.extend_lock(a, milliseconds(120000)));
  tick();
  queue.reschedule(a, milliseconds(5000));
  tick();
  const std::uint64_t b = queue.push(testutil::start_workflow("wf-full"));
  tick();
  queue.move_to_dlq(b, "golden failure");
  tick();
  EXPECT_TRUE(queue.replay_dlq(b));
  tick();
  const std::uint64_t c = queue.push(testutil::start_workflow("wf-done"));
  tick();
  queue.move_to_dlq(c, "cleared failure");
  tick();
  EXPECT_EQ(queue.clear_dlq(), 1u);
  tick();
  queue.clear();
  tick();
  // What stays: one queued message and one dead letter.
  queue.push(testutil::start_stage("wf-diamond", "wf-diamond.deploy_notify"),
             milliseconds(60000));
  tick();
  const std::uint64_t dead = queue.push(testutil::start_workflow("wf-deleted"));
  tick();
  queue.move_to_dlq(dead, "kept dead letter");
  tick();

  // The purge of the old dedup mark.
  store.mark_message_processed("msg-new", "NewHandler", "wf-full");
  tick();
  EXPECT_EQ(store.cleanup_old_processed_messages(milliseconds(kDayMs)), 1u);
}

// Events of every commit of the store's log, by type name.
std::map<std::string, int> event_counts(const fs::path& dir,
                                        std::uint64_t* last_lsn) {
  std::shared_ptr<FileSystem> file_system = posix_file_system();
  StoreDir store_dir = StoreDir::open_existing(file_system, dir, false);
  log::Reader reader(file_system, store_dir.log_dir(), store_dir.id(), 1,
                     [](const log::Damage& damage) {
                       ADD_FAILURE() << damage.segment << ": " << damage.reason;
                     });
  std::map<std::string, int> counts;
  log::Commit commit;
  std::int64_t previous_timestamp = kStartMs;
  while (reader.next(&commit)) {
    const DecodedCommit decoded = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    const AuditMetadata audit = {"golden-generator", "corr-golden",
                                 "cause-golden",
                                 "tests/store/golden_store_test"};
    EXPECT_EQ(decoded.audit, audit) << "commit " << commit.first_lsn;
    // The fake clock: the first commit at kStartMs, never going back.
    if (commit.first_lsn == 1) {
      EXPECT_EQ(commit.timestamp_ms, kStartMs);
    }
    EXPECT_GE(commit.timestamp_ms, previous_timestamp);
    previous_timestamp = commit.timestamp_ms;
    for (const Event& event : decoded.events) {
      ++counts[std::string(event_type_name(event_type(event.payload)))];
    }
  }
  *last_lsn = reader.last_lsn();
  return counts;
}

// Every event type of the catalogue, in type id order.
const std::vector<EventType>& all_event_types() {
  static const std::vector<EventType> types = {
      EventType::kWorkflowStored,      EventType::kWorkflowStatusUpdated,
      EventType::kWorkflowStatusSet,   EventType::kWorkflowPaused,
      EventType::kWorkflowResumed,     EventType::kWorkflowCancelRequested,
      EventType::kWorkflowDeleted,     EventType::kStageAdded,
      EventType::kStageUpdated,        EventType::kStageRemoved,
      EventType::kMessageProcessed,    EventType::kProcessedMessagesPurged,
      EventType::kClaimAcquired,       EventType::kClaimTransferred,
      EventType::kClaimsPurged,        EventType::kMessagePushed,
      EventType::kMessageLeased,       EventType::kMessageAcked,
      EventType::kMessageRescheduled,  EventType::kMessageLeaseExtended,
      EventType::kMessageDeadLettered, EventType::kDeadLetterReplayed,
      EventType::kQueueCleared,        EventType::kDeadLetterQueueCleared,
  };
  return types;
}

// The generator writes every event type; with WFSTORE_WRITE_GOLDEN_STORE=1 and
// no golden store yet, its STORE and log/ become tests/data/golden/store-v1.
TEST(GoldenStoreTest, GeneratorWritesEveryEventType) {
  testutil::TempDir temp;
  const fs::path dir = temp.path() / "store";
  write_golden_history(dir);
  std::uint64_t last_lsn = 0;
  const std::map<std::string, int> counts = event_counts(dir, &last_lsn);
  for (EventType type : all_event_types()) {
    EXPECT_GE(counts.count(std::string(event_type_name(type))), 1u)
        << event_type_name(type) << " is missing from the golden history";
  }
  EXPECT_EQ(counts.size(), all_event_types().size());

  if (testutil::env_knob("WFSTORE_WRITE_GOLDEN_STORE", 0) == 0) return;
  const fs::path golden = golden_store_dir();
  if (fs::exists(golden)) {
    GTEST_SKIP() << golden
                 << " exists and is never rewritten; a new format version "
                    "gets a new golden store next to it";
  }
  fs::create_directories(golden / "log");
  fs::copy_file(dir / kStoreFileName, golden / kStoreFileName);
  for (const auto& entry : fs::directory_iterator(dir / "log")) {
    fs::copy_file(entry.path(), golden / "log" / entry.path().filename());
  }
}

class GoldenStoreOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(golden_store_dir() / kStoreFileName))
        << golden_store_dir() << " is missing";
    dir_ = temp_.path() / "store";
    fs::create_directories(dir_ / "log");
    fs::copy_file(golden_store_dir() / kStoreFileName, dir_ / kStoreFileName);
    for (const auto& entry :
         fs::directory_iterator(golden_store_dir() / "log")) {
      fs::copy_file(entry.path(), dir_ / "log" / entry.path().filename());
    }
    before_ = history_files(dir_);
    ASSERT_EQ(before_.size(), 2u);  // STORE and one segment
  }

  testutil::TempDir temp_;
  fs::path dir_;
  std::map<std::string, std::string> before_;
};

TEST_F(GoldenStoreOpenTest, OpensWithTheExpectedContentsAndKeepsItsHistory) {
  auto clock = std::make_shared<FakeClock>(kStartMs + 10 * kDayMs);
  DatabaseOptions options;
  options.clock = clock;
  testutil::Warnings warnings;
  options.logger = warnings.logger();
  {
    std::unique_ptr<Database> db = Database::open(dir_, options);
    WorkflowStore& store = db->workflow_store();

    EXPECT_TRUE(store.exists("wf-diamond"));
    EXPECT_TRUE(store.exists("wf-full"));
    EXPECT_TRUE(store.exists("wf-done"));
    EXPECT_FALSE(store.exists("wf-deleted"));

    const Workflow diamond = store.retrieve("wf-diamond");
    EXPECT_EQ(diamond.status, WorkflowStatus::kRunning);
    EXPECT_EQ(diamond.stages.size(), 7u);
    const StageExecution deploy =
        store.retrieve_stage("wf-diamond.deploy").stage();
    EXPECT_EQ(deploy.status, WorkflowStatus::kSucceeded);
    // diamond_workflow() stores it at version 2; one update.
    EXPECT_EQ(deploy.version, 3);
    EXPECT_EQ(deploy.outputs.value(), nlohmann::json({{"deployed", true}}));
    const StageExecution verify =
        store.retrieve_stage("wf-diamond.deploy_verify").stage();
    EXPECT_EQ(verify.status, WorkflowStatus::kRunning);
    EXPECT_EQ(verify.version, 1);
    EXPECT_THROW(store.retrieve_stage("wf-diamond.extra"), StageNotFoundError);

    const Workflow full = store.retrieve_execution_summary("wf-full");
    EXPECT_TRUE(full.is_canceled);
    EXPECT_EQ(full.canceled_by, "ops@example.com");
    EXPECT_EQ(full.cancellation_reason, "golden cancel");
    EXPECT_EQ(store.retrieve_execution_summary("wf-done").status,
              WorkflowStatus::kSucceeded);
    ASSERT_TRUE(diamond.paused.has_value());
    EXPECT_EQ(diamond.paused->paused_by, "ops@example.com");

    EXPECT_THAT(store.get_processed_message_ids(),
                ::testing::ElementsAre("msg-txn", "msg-new"));
    EXPECT_FALSE(store.is_message_processed("msg-old"));

    {
      LmdbViews::Snapshot snapshot = database_impl(*db).views().begin_read();
      EXPECT_EQ(claim_holder(snapshot, "wf-diamond", "mutex:deploy"),
                "wf-diamond.deploy_verify");
      EXPECT_EQ(claim_holder(snapshot, "wf-diamond", "mutex:notify"),
                "wf-diamond.deploy_notify");
      EXPECT_EQ(claim_holder(snapshot, "wf-done", "mutex:deploy"),
                std::nullopt);
    }

    {
      Queue queue(*db);
      EXPECT_EQ(queue.size(), 1u);
      EXPECT_EQ(queue.dlq_size(), 1u);
      const std::vector<DeadLetter> dead = queue.list_dlq();
      ASSERT_EQ(dead.size(), 1u);
      EXPECT_EQ(dead[0].error, "kept dead letter");
      EXPECT_EQ(dead[0].message,
                Message(testutil::start_workflow("wf-deleted")));
    }
    EXPECT_EQ(db->stats().applied_lsn, kGoldenLastLsn);
    db->close();
  }

  // The whole log: every commit's events by type, and its integrity.
  std::uint64_t last_lsn = 0;
  EXPECT_EQ(event_counts(dir_, &last_lsn), kGoldenEventCounts);
  EXPECT_EQ(last_lsn, kGoldenLastLsn);
  StoreDir store_dir =
      StoreDir::open_existing(posix_file_system(), dir_, false);
  const log::VerifyReport log_report =
      log::verify_log(posix_file_system(), store_dir.log_dir(), store_dir.id());
  EXPECT_EQ(log_report.last_lsn, kGoldenLastLsn);
  EXPECT_EQ(log_report.commits, kGoldenCommits);
  EXPECT_EQ(log_report.segments, 1u);
  const ViewsVerifyReport views_report = verify_store_views(dir_);
  EXPECT_TRUE(views_report.equal())
      << ::testing::PrintToString(views_report.differences);
  EXPECT_EQ(views_report.applied_lsn, kGoldenLastLsn);

  // The offline tool agrees (log and views).
  const testutil::ToolRun tool =
      testutil::run_tool("verify --dir " + dir_.string());
  EXPECT_EQ(tool.status, 0) << tool.output;
  EXPECT_THAT(tool.output, ::testing::HasSubstr("commits:   37"));
  EXPECT_THAT(tool.output, ::testing::HasSubstr("last lsn:  41"));
  EXPECT_THAT(tool.output, ::testing::HasSubstr("views ok"));

  // Opening, reading, closing and verifying wrote no byte of history.
  EXPECT_EQ(history_files(dir_), before_);
}

}  // namespace
}  // namespace wfstore
