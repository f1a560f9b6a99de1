// The history indexes fold() writes (history_index.h): entity, type, commit,
// actor and correlation entries and the per-type counts; entity keys and bad
// entity ids; hash collisions told apart by the check; the log positions'
// one entry per block, and their absence from the checksum.

#include "wfstore_internal/history_index.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"

#include "tests/testutil/sample_workflows.h"
#include "wfstore_internal/checksum_view_store.h"
#include "wfstore_internal/fold.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/memory_view_store.h"

namespace wfstore {
namespace {

namespace hi = history_index;
using ::testing::HasSubstr;

Event make_event(std::uint64_t lsn, std::uint64_t commit_id,
                 std::int64_t time_ms, EventPayload payload,
                 AuditMetadata audit = {}) {
  Event e;
  e.lsn = lsn;
  e.commit_id = commit_id;
  e.timestamp_ms = time_ms;
  e.workflow_id = event_workflow_id(payload);
  e.audit = std::move(audit);
  e.payload = std::move(payload);
  return e;
}

std::vector<std::string> keys_of(const ViewReader& views, Table table) {
  std::vector<std::string> out;
  for (const auto& [key, value] : dump_table(views, table)) out.push_back(key);
  return out;
}

TEST(HistoryIndexTest, FoldWritesEveryIndexAndTheCommitEntriesOncePerCommit) {
  MemoryViewStore views;
  Workflow w = testutil::bare_workflow("w1", "app", WorkflowStatus::kRunning,
                                       std::nullopt);
  StageExecution s = testutil::bare_stage("w1", "s1", "s1", "t");
  s.tasks.push_back(
      testutil::make_task("s1", 0, "a", "A", WorkflowStatus::kRunning));
  w.stages.push_back(s);
  const AuditMetadata alice{"alice", "req-1", "", ""};
  fold(make_event(1, 1, 100, WorkflowStored{w}, alice), views);
  MessagePushed pushed;
  pushed.delivery_id = 1;
  pushed.execution_id = "w1";
  fold(make_event(2, 2, 100, pushed), views);
  fold(make_event(3, 2, 100, MessageAcked{1, "w1"}), views);
  fold(make_event(4, 4, 150, QueueCleared{}, alice), views);

  EXPECT_EQ(keys_of(views, Table::kEntityEvents),
            (std::vector<std::string>{
                hi::entity_key(EntityKind::kStage, keys::id_hash("s1"), 1),
                hi::entity_key(EntityKind::kTask, keys::id_hash("s1.t0"), 1),
                hi::entity_key(EntityKind::kDelivery, 1, 2),
                hi::entity_key(EntityKind::kDelivery, 1, 3),
            }));
  EXPECT_EQ(keys_of(views, Table::kTypeEvents),
            (std::vector<std::string>{
                hi::type_key(EventType::kWorkflowStored, 1),
                hi::type_key(EventType::kMessagePushed, 2),
                hi::type_key(EventType::kMessageAcked, 3),
                hi::type_key(EventType::kQueueCleared, 4),
            }));
  EXPECT_EQ(keys_of(views, Table::kCommits),
            (std::vector<std::string>{keys::encode_u64(1), keys::encode_u64(2),
                                      keys::encode_u64(4)}));
  EXPECT_EQ(keys_of(views, Table::kCommitTimes),
            (std::vector<std::string>{hi::commit_time_key(100, 1),
                                      hi::commit_time_key(100, 2),
                                      hi::commit_time_key(150, 4)}));
  EXPECT_EQ(
      keys_of(views, Table::kActorCommits),
      (std::vector<std::string>{keys::make_key({keys::id_hash("alice"), 1}),
                                keys::make_key({keys::id_hash("alice"), 4})}));
  EXPECT_EQ(
      keys_of(views, Table::kCorrelationCommits),
      (std::vector<std::string>{keys::make_key({keys::id_hash("req-1"), 1}),
                                keys::make_key({keys::id_hash("req-1"), 4})}));
  EXPECT_EQ(hi::event_count(views, EventType::kWorkflowStored), 1u);
  EXPECT_EQ(hi::event_count(views, EventType::kMessageAcked), 1u);
  EXPECT_EQ(hi::event_count(views, EventType::kStageUpdated), 0u);
  // The workflow index holds w1's three events.
  EXPECT_EQ(dump_table(views, Table::kWorkflowEvents).size(), 3u);

  EXPECT_EQ(hi::commit_holding(views, 3)->first_lsn, 2u);
  EXPECT_EQ(hi::commit_holding(views, 4)->time_ms, 150);
  EXPECT_EQ(hi::commit_holding(views, 0), std::nullopt);
  EXPECT_EQ(hi::commit_after(views, 2)->first_lsn, 4u);
  EXPECT_EQ(hi::commit_after(views, 4), std::nullopt);
  EXPECT_EQ(hi::first_commit_at_or_after(views, 100), 1u);
  EXPECT_EQ(hi::first_commit_at_or_after(views, 101), 4u);
  EXPECT_EQ(hi::first_commit_at_or_after(views, 151), std::nullopt);
}

TEST(HistoryIndexTest, EntityKeys) {
  EXPECT_EQ(hi::entity_index_key({EntityKind::kDelivery, "42"}).key, 42u);
  EXPECT_EQ(hi::entity_index_key({EntityKind::kDelivery, "0"}).key, 0u);
  EXPECT_EQ(
      hi::entity_index_key({EntityKind::kDelivery, "18446744073709551615"}).key,
      UINT64_MAX);
  EXPECT_FALSE(hi::entity_index_key({EntityKind::kDelivery, "42"}).check);
  const hi::EntityKey stage = hi::entity_index_key({EntityKind::kStage, "s"});
  EXPECT_EQ(stage.key, keys::id_hash("s"));
  EXPECT_EQ(stage.check, keys::id_hashes("s").check);
  EXPECT_NE(*stage.check, stage.key);
  for (const char* bad : {"", "a", "-1", "01", "1 ", "18446744073709551616"}) {
    EXPECT_THROW(hi::entity_index_key({EntityKind::kDelivery, bad}),
                 InvalidArgumentError)
        << bad;
  }
  EXPECT_THAT(
      [] {
        hi::entity_index_key({EntityKind::kTask, ""});
      },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("task id is empty")));
  EXPECT_THROW(hi::entity_index_key({EntityKind::kWorkflow, "w"}),
               InvalidArgumentError);
}

std::uint64_t one_hash(std::string_view) { return 7; }

TEST(HistoryIndexTest, CollidingIdsAreToldApartByTheCheck) {
  const keys::ScopedIdHashForTesting collide(&one_hash);
  MemoryViewStore views;
  fold(make_event(1, 1, 1, StageRemoved{"w", "stage-a"}), views);
  fold(make_event(2, 2, 1, StageRemoved{"w", "stage-b"}), views);
  const auto rows = dump_table(views, Table::kEntityEvents);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].first, hi::entity_key(EntityKind::kStage, 7, 1));
  EXPECT_EQ(rows[1].first, hi::entity_key(EntityKind::kStage, 7, 2));
  const hi::EntityKey a = hi::entity_index_key({EntityKind::kStage, "stage-a"});
  EXPECT_TRUE(hi::entity_check_matches(rows[0].second, a));
  EXPECT_FALSE(hi::entity_check_matches(rows[1].second, a));
  EXPECT_EQ(hi::indexed_type(rows[1].second, Table::kEntityEvents),
            EventType::kStageRemoved);
  // Colliding ids of one event share its entry, each check kept.
  fold(make_event(3, 3, 1, ClaimTransferred{"w", "k", "stage-a", "stage-b", 1}),
       views);
  const auto shared =
      views.get(Table::kEntityEvents, hi::entity_key(EntityKind::kStage, 7, 3));
  ASSERT_TRUE(shared);
  EXPECT_EQ(shared->size(), 2u + 16u);
  EXPECT_TRUE(hi::entity_check_matches(*shared, a));
  EXPECT_TRUE(hi::entity_check_matches(
      *shared, hi::entity_index_key({EntityKind::kStage, "stage-b"})));
  EXPECT_FALSE(hi::entity_check_matches(
      *shared, hi::entity_index_key({EntityKind::kStage, "stage-c"})));
}

// Records a commit's position the way a writer that does not carry the last
// entry would: reading it first.
void record_log_position(ViewStore& views, std::uint64_t first_lsn,
                         const hi::LogPosition& position) {
  hi::record_log_position_after(views, first_lsn, position,
                                hi::log_position_before(views, first_lsn));
}

TEST(HistoryIndexTest, LogPositionsKeepOneEntryPerBlockOutsideTheChecksum) {
  MemoryViewStore inner;
  ChecksumViewStore views(inner);
  const std::uint64_t block = log::kBlockSize;
  record_log_position(views, 1, {1, 0});
  record_log_position(views, 2, {1, 100});          // same block
  record_log_position(views, 5, {1, block + 10});   // next block
  record_log_position(views, 6, {1, block + 500});  // same
  record_log_position(views, 9, {9, 0});            // next segment
  record_log_position(views, 9, {9, 0});            // again: kept once
  record_log_position(views, 12, {9, 3 * block});
  EXPECT_EQ(
      keys_of(inner, Table::kLogPositions),
      (std::vector<std::string>{keys::encode_u64(1), keys::encode_u64(5),
                                keys::encode_u64(9), keys::encode_u64(12)}));
  EXPECT_EQ(views.checksum(), ViewChecksum{});
  EXPECT_EQ(hi::log_position_before(views, 0), std::nullopt);
  const auto at4 = hi::log_position_before(views, 4);
  ASSERT_TRUE(at4);
  EXPECT_EQ(at4->first_lsn, 1u);
  EXPECT_EQ(at4->position.offset, 0u);
  const auto at7 = hi::log_position_before(views, 7);
  EXPECT_EQ(at7->first_lsn, 5u);
  EXPECT_EQ(at7->position.offset, block + 10);
  const auto late = hi::log_position_before(views, UINT64_MAX);
  EXPECT_EQ(late->first_lsn, 12u);
  EXPECT_EQ(late->position.segment_first_lsn, 9u);
  EXPECT_FALSE(is_checksummed(Table::kLogPositions));
  EXPECT_FALSE(is_checksummed(Table::kMeta));
  EXPECT_TRUE(is_checksummed(Table::kEntityEvents));
  EXPECT_STREQ(table_name(Table::kLogPositions), "log_positions");
}

}  // namespace
}  // namespace wfstore
