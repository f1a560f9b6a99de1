// event_entities() for every event type, and the entity kind names.

#include <set>
#include <string>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "tests/testutil/sample_workflows.h"

namespace wfstore {
namespace {

using testutil::bare_stage;
using testutil::make_task;

EntityRef wf(std::string id) { return {EntityKind::kWorkflow, std::move(id)}; }
EntityRef stage(std::string id) { return {EntityKind::kStage, std::move(id)}; }
EntityRef task(std::string id) { return {EntityKind::kTask, std::move(id)}; }
EntityRef delivery(std::string id) {
  return {EntityKind::kDelivery, std::move(id)};
}

StageExecution stage_with_tasks(const std::string& wf_id,
                                const std::string& id) {
  StageExecution s = bare_stage(wf_id, id, id + "-ref", "test");
  s.tasks.push_back(make_task(id, 0, "a", "A", WorkflowStatus::kRunning));
  s.tasks.push_back(make_task(id, 1, "b", "B", WorkflowStatus::kRunning));
  return s;
}

TEST(EntityKindTest, NamesRoundTrip) {
  for (EntityKind kind : {EntityKind::kWorkflow, EntityKind::kStage,
                          EntityKind::kTask, EntityKind::kDelivery}) {
    EXPECT_EQ(find_entity_kind(entity_kind_name(kind)), kind);
  }
  EXPECT_EQ(entity_kind_name(EntityKind::kWorkflow), "workflow");
  EXPECT_EQ(entity_kind_name(EntityKind::kStage), "stage");
  EXPECT_EQ(entity_kind_name(EntityKind::kTask), "task");
  EXPECT_EQ(entity_kind_name(EntityKind::kDelivery), "delivery");
  EXPECT_EQ(find_entity_kind("Stage"), std::nullopt);
  EXPECT_EQ(find_entity_kind(""), std::nullopt);
  EXPECT_EQ(find_entity_kind("deliveries"), std::nullopt);
}

TEST(EventEntitiesTest, WorkflowStoredNamesWorkflowStagesAndTasks) {
  Workflow w = testutil::bare_workflow("w1", "app", WorkflowStatus::kRunning,
                                       std::nullopt);
  w.stages.push_back(stage_with_tasks("w1", "s1"));
  w.stages.push_back(stage_with_tasks("w1", "s2"));
  EXPECT_THAT(
      event_entities(WorkflowStored{w}),
      testing::ElementsAre(wf("w1"), stage("s1"), task("s1.t0"), task("s1.t1"),
                           stage("s2"), task("s2.t0"), task("s2.t1")));
  // The diamond: every stage and task id once.
  const Workflow diamond = testutil::diamond_workflow("d");
  const std::vector<EntityRef> refs = event_entities(WorkflowStored{diamond});
  std::size_t tasks = 0;
  for (const StageExecution& s : diamond.stages) tasks += s.tasks.size();
  EXPECT_EQ(refs.size(), 1 + diamond.stages.size() + tasks);
  EXPECT_EQ(
      std::set<std::string>({refs[0].id, refs[1].id}),  // workflow, first stage
      std::set<std::string>({"d", diamond.stages[0].id}));
}

TEST(EventEntitiesTest, WorkflowEventsNameTheWorkflow) {
  const std::vector<EntityRef> just_w1 = {wf("w1")};
  WorkflowStatusUpdated updated;
  updated.workflow_id = "w1";
  EXPECT_EQ(event_entities(updated), just_w1);
  WorkflowStatusSet set;
  set.workflow_id = "w1";
  EXPECT_EQ(event_entities(set), just_w1);
  EXPECT_EQ(event_entities(WorkflowPaused{"w1", "alice", 5}), just_w1);
  EXPECT_EQ(event_entities(WorkflowResumed{"w1", 6}), just_w1);
  EXPECT_EQ(event_entities(WorkflowCancelRequested{"w1", "bob", "why"}),
            just_w1);
  EXPECT_EQ(event_entities(WorkflowDeleted{"w1"}), just_w1);
}

TEST(EventEntitiesTest, StageEvents) {
  EXPECT_THAT(event_entities(StageAdded{stage_with_tasks("w1", "s1")}),
              testing::ElementsAre(wf("w1"), stage("s1"), task("s1.t0"),
                                   task("s1.t1")));
  StageUpdated updated;
  updated.execution_id = "w1";
  updated.stage_id = "s1";
  updated.tasks.push_back(
      make_task("s1", 1, "b", "B", WorkflowStatus::kSucceeded));
  EXPECT_THAT(event_entities(updated),
              testing::ElementsAre(wf("w1"), stage("s1"), task("s1.t1")));
  updated.tasks.clear();
  EXPECT_THAT(event_entities(updated),
              testing::ElementsAre(wf("w1"), stage("s1")));
  EXPECT_THAT(event_entities(StageRemoved{"w1", "s1"}),
              testing::ElementsAre(wf("w1"), stage("s1")));
}

TEST(EventEntitiesTest, ClaimsNameTheWorkflowAndStages) {
  EXPECT_THAT(event_entities(ClaimAcquired{"w1", "mutex", "s1", 1}),
              testing::ElementsAre(wf("w1"), stage("s1")));
  EXPECT_THAT(event_entities(ClaimTransferred{"w1", "mutex", "s1", "s2", 1}),
              testing::ElementsAre(wf("w1"), stage("s1"), stage("s2")));
  // A transfer to the same stage names it once.
  EXPECT_THAT(event_entities(ClaimTransferred{"w1", "mutex", "s1", "s1", 1}),
              testing::ElementsAre(wf("w1"), stage("s1")));
}

TEST(EventEntitiesTest, DedupMarkNamesTheWorkflowWhenItHasOne) {
  EXPECT_THAT(event_entities(MessageProcessed{"m1", "H", std::string("w1"), 5}),
              testing::ElementsAre(wf("w1")));
  EXPECT_THAT(event_entities(MessageProcessed{"m1", "H", std::nullopt, 5}),
              testing::IsEmpty());
  EXPECT_THAT(event_entities(MessageProcessed{"m1", "H", std::string(), 5}),
              testing::IsEmpty());
}

TEST(EventEntitiesTest, QueueEventsNameTheirDeliveries) {
  MessagePushed pushed;
  pushed.delivery_id = 7;
  pushed.execution_id = "w1";
  EXPECT_THAT(event_entities(pushed),
              testing::ElementsAre(wf("w1"), delivery("7")));
  pushed.execution_id.clear();
  EXPECT_THAT(event_entities(pushed), testing::ElementsAre(delivery("7")));
  EXPECT_THAT(event_entities(MessageLeased{8, "w1", 1, 100}),
              testing::ElementsAre(wf("w1"), delivery("8")));
  EXPECT_THAT(event_entities(MessageAcked{9, ""}),
              testing::ElementsAre(delivery("9")));
  EXPECT_THAT(event_entities(MessageRescheduled{10, "w2", 5}),
              testing::ElementsAre(wf("w2"), delivery("10")));
  EXPECT_THAT(
      event_entities(MessageLeaseExtended{18446744073709551615u, "w2", 5}),
      testing::ElementsAre(wf("w2"), delivery("18446744073709551615")));
  EXPECT_THAT(event_entities(MessageDeadLettered{11, "w1", "boom", 5}),
              testing::ElementsAre(wf("w1"), delivery("11")));
  EXPECT_THAT(event_entities(DeadLetterReplayed{11, 12, "w1", 5}),
              testing::ElementsAre(wf("w1"), delivery("11"), delivery("12")));
  EXPECT_THAT(event_entities(DeadLetterReplayed{11, 12, "", 5}),
              testing::ElementsAre(delivery("11"), delivery("12")));
}

TEST(EventEntitiesTest, PurgesAndClearsNameNothing) {
  EXPECT_THAT(event_entities(ProcessedMessagesPurged{5, 2}),
              testing::IsEmpty());
  EXPECT_THAT(event_entities(ClaimsPurged{{ClaimId{"w1", "mutex"}}}),
              testing::IsEmpty());
  EXPECT_THAT(event_entities(QueueCleared{}), testing::IsEmpty());
  EXPECT_THAT(event_entities(DeadLetterQueueCleared{}), testing::IsEmpty());
}

// The workflow an event names is the envelope's workflow id: the entity
// index and the per-workflow index agree.
TEST(EventEntitiesTest, WorkflowEntityIsTheEnvelopesWorkflow) {
  const Workflow full = testutil::full_workflow("wf-full");
  const std::vector<EventPayload> payloads = {
      WorkflowStored{full},
      StageAdded{full.stages.back()},
      StageRemoved{"wf-full", "x"},
      MessageProcessed{"m", std::nullopt, std::nullopt, 1},
      MessageProcessed{"m", std::nullopt, std::string("wf-full"), 1},
      MessageAcked{1, ""},
      ClaimsPurged{},
  };
  for (const EventPayload& payload : payloads) {
    const std::vector<EntityRef> refs = event_entities(payload);
    const std::string id = event_workflow_id(payload);
    if (id.empty()) {
      for (const EntityRef& ref : refs)
        EXPECT_NE(ref.kind, EntityKind::kWorkflow);
    } else {
      ASSERT_FALSE(refs.empty());
      EXPECT_EQ(refs.front(), wf(id));
    }
  }
}

}  // namespace
}  // namespace wfstore
