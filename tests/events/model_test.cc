// Tests of the model's helpers: graph queries, get_context, the ancestor-output
// merge of docs/semantics.md §5.9, phase_version, output reducers, status
// predicates, enum names and equality.

#include "wfstore/model.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"

#include "tests/testutil/sample_workflows.h"
#include "wfstore_internal/stage_graph.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::ThrowsMessage;

// The ref_ids of `stages`, in order.
std::vector<std::string> refs(
    const std::vector<const StageExecution*>& stages) {
  std::vector<std::string> result;
  result.reserve(stages.size());
  for (const StageExecution* stage : stages) result.push_back(stage->ref_id);
  return result;
}

const StageExecution& stage_ref(const Workflow& w, std::string_view ref) {
  const StageExecution* stage = w.find_stage_by_ref(ref);
  EXPECT_NE(stage, nullptr) << ref;
  return *stage;
}

// A top-level stage of workflow "wf" with the given requisites and outputs.
StageExecution simple_stage(std::string ref, std::set<std::string> requisites,
                            json outputs) {
  StageExecution stage;
  stage.id = "wf." + ref;
  stage.execution_id = "wf";
  stage.ref_id = std::move(ref);
  stage.requisite_stage_ref_ids = std::move(requisites);
  stage.outputs = std::move(outputs);
  return stage;
}

Workflow workflow_of(std::vector<StageExecution> stages) {
  Workflow w;
  w.id = "wf";
  w.stages = std::move(stages);
  return w;
}

TEST(ModelTest, UpstreamAndDownstreamFollowRequisites) {
  const Workflow w = testutil::diamond_workflow("d1");
  EXPECT_THAT(refs(upstream_stages(w, stage_ref(w, "deploy"))),
              ElementsAre("build_linux", "build_mac"));
  EXPECT_THAT(refs(upstream_stages(w, stage_ref(w, "build_mac"))),
              ElementsAre("setup"));
  EXPECT_THAT(upstream_stages(w, stage_ref(w, "setup")), IsEmpty());
  EXPECT_THAT(refs(downstream_stages(w, stage_ref(w, "setup"))),
              ElementsAre("build_linux", "build_mac"));
  EXPECT_THAT(refs(downstream_stages(w, stage_ref(w, "build_linux"))),
              ElementsAre("deploy"));
  // Synthetic children are not downstream of their parent.
  EXPECT_THAT(downstream_stages(w, stage_ref(w, "deploy")), IsEmpty());
  EXPECT_THAT(refs(downstream_stages(w, stage_ref(w, "deploy_verify"))),
              ElementsAre("deploy_notify"));
  EXPECT_THAT(refs(upstream_stages(w, stage_ref(w, "deploy_notify"))),
              ElementsAre("deploy_verify"));
}

TEST(ModelTest, SyntheticBeforeAndAfterStagesFilterByParentId) {
  const Workflow w = testutil::diamond_workflow("d1");
  const StageExecution& deploy = stage_ref(w, "deploy");
  EXPECT_THAT(refs(synthetic_stages(w, deploy)),
              ElementsAre("deploy_precheck", "deploy_verify", "deploy_notify"));
  EXPECT_THAT(refs(before_stages(w, deploy)), ElementsAre("deploy_precheck"));
  EXPECT_THAT(refs(after_stages(w, deploy)),
              ElementsAre("deploy_verify", "deploy_notify"));
  EXPECT_THAT(synthetic_stages(w, stage_ref(w, "setup")), IsEmpty());
  EXPECT_TRUE(stage_ref(w, "deploy_precheck").is_synthetic());
  EXPECT_FALSE(deploy.is_synthetic());
}

TEST(ModelTest, SyntheticStagesMatchTheParentIdNotTheRefId) {
  Workflow w = testutil::diamond_workflow("d1");
  StageExecution impostor = simple_stage("impostor", {}, json::object());
  impostor.parent_stage_id = "deploy";  // The parent's ref_id, not its id.
  impostor.synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
  w.stages.push_back(std::move(impostor));
  EXPECT_THAT(refs(before_stages(w, stage_ref(w, "deploy"))),
              ElementsAre("deploy_precheck"));
}

TEST(ModelTest, HelpersReturnStagesInInsertionOrder) {
  Workflow w = testutil::diamond_workflow("d1");
  // Move build_mac before build_linux and deploy_notify before deploy_verify.
  std::swap(w.stages[1], w.stages[2]);
  std::swap(w.stages[5], w.stages[6]);
  EXPECT_THAT(refs(upstream_stages(w, stage_ref(w, "deploy"))),
              ElementsAre("build_mac", "build_linux"));
  EXPECT_THAT(refs(downstream_stages(w, stage_ref(w, "setup"))),
              ElementsAre("build_mac", "build_linux"));
  EXPECT_THAT(refs(after_stages(w, stage_ref(w, "deploy"))),
              ElementsAre("deploy_notify", "deploy_verify"));
  EXPECT_THAT(refs(synthetic_stages(w, stage_ref(w, "deploy"))),
              ElementsAre("deploy_precheck", "deploy_notify", "deploy_verify"));
}

TEST(ModelTest, FindStageByIdAndRef) {
  Workflow w = testutil::diamond_workflow("d1");
  ASSERT_NE(w.find_stage("d1.deploy"), nullptr);
  EXPECT_EQ(w.find_stage("d1.deploy")->ref_id, "deploy");
  EXPECT_EQ(w.find_stage("deploy"), nullptr);
  EXPECT_EQ(w.find_stage_by_ref("d1.deploy"), nullptr);
  EXPECT_EQ(w.find_stage_by_ref("build_mac"), &w.stages[2]);
  ASSERT_NE(w.find_stage("d1.setup"), nullptr);
  w.find_stage("d1.setup")->name = "renamed";
  EXPECT_EQ(w.stages[0].name, "renamed");
  const Workflow& cw = w;
  EXPECT_EQ(cw.find_stage("missing"), nullptr);
}

TEST(ModelTest, Item69GetContextLaterScalarWinsListsConcatenated) {
  // The later stage is inserted first: the requisite edge decides the order.
  const Workflow w = workflow_of({
      simple_stage("second_stage", {"first_stage"},
                   json{{"key", "second"}, {"items", {2, 3, 4}}}),
      simple_stage("first_stage", {},
                   json{{"key", "first"}, {"items", {1, 2}}, {"only", 1}}),
  });
  EXPECT_EQ(w.get_context(),
            (json{{"key", "second"}, {"items", {1, 2, 3, 4}}, {"only", 1}}));
}

TEST(ModelTest, GetContextIgnoresSyntheticStages) {
  const Workflow w = testutil::diamond_workflow("d1");
  const json context = w.get_context();
  EXPECT_FALSE(context.contains("precheck"));
  EXPECT_EQ(context["winner"], "build_mac");
  EXPECT_EQ(context["artifacts"],
            (json{"manifest.json", "linux.tar.gz", "macos.tar.gz"}));
  EXPECT_EQ(context["artifact_version"], "1.4.2");
}

TEST(ModelTest, GetContextOrdersParallelBranchesByInsertion) {
  Workflow w = testutil::diamond_workflow("d1");
  EXPECT_EQ(w.get_context()["winner"], "build_mac");
  EXPECT_EQ(testutil::diamond_workflow("d2").get_context(), w.get_context());
  std::swap(w.stages[1], w.stages[2]);
  const json swapped = w.get_context();
  EXPECT_EQ(swapped["winner"], "build_linux");
  EXPECT_EQ(swapped["artifacts"],
            (json{"manifest.json", "macos.tar.gz", "linux.tar.gz"}));
}

TEST(ModelTest, GetContextOmitsCycles) {
  const Workflow w = workflow_of({
      simple_stage("a", {}, json{{"a", 1}}),
      simple_stage("x", {"y", "a"}, json{{"x", 1}}),
      simple_stage("y", {"x"}, json{{"y", 1}}),
      simple_stage("after_cycle", {"x"}, json{{"z", 1}}),
      simple_stage("self", {"self"}, json{{"s", 1}}),
  });
  EXPECT_EQ(w.get_context(), (json{{"a", 1}}));
}

TEST(ModelTest, MergeOutputsFollowsTheReferenceRule) {
  json into = {{"list", {1, 1, 2}},
               {"dict", {{"a", 1}, {"b", 2}}},
               {"list_then_scalar", {1}},
               {"scalar_then_list", "x"},
               {"kept", true}};
  merge_outputs(into, {{"list", {2, 3, 3, 1, 4}},
                       {"dict", {{"c", 3}}},
                       {"list_then_scalar", 5},
                       {"scalar_then_list", {1, 2}},
                       {"new", nullptr}});
  EXPECT_EQ(into, (json{{"list", {1, 1, 2, 3, 4}},
                        {"dict", {{"c", 3}}},
                        {"list_then_scalar", 5},
                        {"scalar_then_list", {1, 2}},
                        {"kept", true},
                        {"new", nullptr}}));
}

TEST(ModelTest, MergeOutputsDeDuplicatesByValue) {
  json into = {{"items", {json{{"k", 1}}, "s"}}};
  merge_outputs(into, {{"items", {json{{"k", 1}}, json{{"k", 2}}, "s"}}});
  EXPECT_EQ(into["items"], (json{json{{"k", 1}}, "s", json{{"k", 2}}}));
}

TEST(ModelTest, TopologicalOrderKeepsInsertionOrderAmongReadyStages) {
  const std::vector<StageExecution> stages = {
      simple_stage("c", {"a"}, {}), simple_stage("b", {}, {}),
      simple_stage("a", {}, {}),    simple_stage("d", {"b", "c"}, {}),
      simple_stage("e", {"f"}, {}), simple_stage("f", {"e"}, {}),
  };
  std::vector<const StageExecution*> pointers;
  pointers.reserve(stages.size());
  for (const StageExecution& s : stages) pointers.push_back(&s);
  // b (1) and a (2) are ready first; c (0) becomes ready after a; e, f cycle.
  EXPECT_THAT(internal::topological_order(pointers), ElementsAre(1, 2, 0, 3));
}

TEST(ModelTest, Item70PhaseVersionOfStage) {
  StageExecution stage = simple_stage("s", {}, {});
  EXPECT_EQ(stage.phase_version(), (PhaseVersion{"NOT_STARTED", 0}));
  stage.status = WorkflowStatus::kFailedContinue;
  stage.version = 42;
  EXPECT_EQ(stage.phase_version(), (PhaseVersion{"FAILED_CONTINUE", 42}));
}

TEST(ModelTest, Item70PhaseVersionOfTask) {
  TaskExecution task;
  EXPECT_EQ(task.phase_version(), (PhaseVersion{"NOT_STARTED", 0}));
  task.status = WorkflowStatus::kRunning;
  task.version = 7;
  EXPECT_EQ(task.phase_version(), (PhaseVersion{"RUNNING", 7}));
}

TEST(ModelTest, MergedAncestorOutputsChainSeesNearestValue) {
  const Workflow w = workflow_of({
      simple_stage("a", {}, json{{"result", {{"from", "a"}, {"a_only", 1}}}}),
      simple_stage("b", {"a"}, json{{"result", {{"from", "b"}}}}),
      simple_stage("c", {"b"}, json{{"result", {{"from", "c"}}}}),
  });
  // B's dict replaces A's (no deep merge); C's own outputs are excluded.
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "c"),
            (json{{"result", {{"from", "b"}}}}));
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "b"),
            (json{{"result", {{"from", "a"}, {"a_only", 1}}}}));
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "a"), json::object());
}

TEST(ModelTest, MergedAncestorOutputsFanInIsDeterministic) {
  Workflow w = testutil::diamond_workflow("d1");
  ASSERT_NE(w.find_stage("d1.deploy"), nullptr);
  w.find_stage("d1.deploy")->outputs = json{{"winner", "deploy"}};
  const json merged = internal::merged_ancestor_outputs(w, "deploy");
  EXPECT_EQ(merged["winner"], "build_mac");  // The later-inserted branch.
  EXPECT_EQ(merged["artifacts"],
            (json{"manifest.json", "linux.tar.gz", "macos.tar.gz"}));
  EXPECT_FALSE(merged.contains("precheck"));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(
        internal::merged_ancestor_outputs(
            testutil::diamond_workflow("d" + std::to_string(i)), "deploy"),
        merged);
  }
  std::swap(w.stages[1], w.stages[2]);
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "deploy")["winner"],
            "build_linux");
}

TEST(ModelTest, MergedAncestorOutputsSyntheticParentIsNoAncestor) {
  const Workflow w = testutil::diamond_workflow("d1");
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "deploy_verify"),
            json::object());
  // Synthetic siblings are nodes like any other.
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "deploy_notify"),
            (json{{"winner", "deploy_verify"}}));
}

TEST(ModelTest, MergedAncestorOutputsOmitsCyclesAndDanglingRefs) {
  const Workflow w = workflow_of({
      simple_stage("a", {}, json{{"a", 1}}),
      simple_stage("x", {"y", "a"}, json{{"x", 1}}),
      simple_stage("y", {"x"}, json{{"y", 1}}),
      simple_stage("t", {"x", "a", "ghost"}, json{{"t", 1}}),
      simple_stage("u", {"v"}, json{{"u", 1}}),
      simple_stage("v", {"u"}, json{{"v", 1}}),
  });
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "t"), (json{{"a", 1}}));
  // The target is never its own ancestor, even on a cycle.
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "u"), (json{{"v", 1}}));
}

TEST(ModelTest, MergedAncestorOutputsOfMissingRefIsEmpty) {
  const Workflow w = testutil::diamond_workflow("d1");
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "nope"), json::object());
  EXPECT_EQ(internal::merged_ancestor_outputs(w, "d1.deploy"), json::object());
}

TEST(ModelTest, OutputReducersRoundTripThroughContext) {
  StageExecution stage = simple_stage("s", {}, {});
  stage.context = json{{"keep", 1}};
  EXPECT_THAT(stage.output_reducers(), IsEmpty());
  const std::map<std::string, std::string> reducers = {{"items", "concat"},
                                                       {"total", "sum"}};
  stage.set_output_reducers(reducers);
  EXPECT_EQ(
      stage.context.value(),
      (json{{"keep", 1},
            {"_output_reducers", {{"items", "concat"}, {"total", "sum"}}}}));
  EXPECT_EQ(stage.output_reducers(), reducers);
  // Survives a CBOR round trip, as a stored context would.
  StageExecution reread = stage;
  reread.context = Json::from_cbor(stage.context.cbor());
  EXPECT_EQ(reread.output_reducers(), reducers);
  stage.set_output_reducers({});
  EXPECT_EQ(stage.context.value(), (json{{"keep", 1}}));
}

TEST(ModelTest, OutputReducersOfMalformedContextAreEmpty) {
  StageExecution stage;
  stage.context = json{{"_output_reducers", {{"a", 1}}}};
  EXPECT_THAT(stage.output_reducers(), IsEmpty());
  stage.context = json{{"_output_reducers", "concat"}};
  EXPECT_THAT(stage.output_reducers(), IsEmpty());
  stage.context = json::array();
  EXPECT_THAT(stage.output_reducers(), IsEmpty());
  const Workflow diamond = testutil::diamond_workflow("d");
  ASSERT_NE(diamond.find_stage("d.deploy"), nullptr);
  EXPECT_EQ(diamond.find_stage("d.deploy")->output_reducers(),
            (std::map<std::string, std::string>{{"artifacts", "concat"}}));
}

TEST(ModelTest, StatusPredicatesMatchTheSpecTable) {
  struct Row {
    WorkflowStatus status;
    const char* name;
    bool complete, halt, successful, failure, continuable, active, dirty;
  };
  using S = WorkflowStatus;
  const std::vector<Row> table = {
      {S::kNotStarted, "NOT_STARTED", false, false, false, false, false, true,
       false},
      {S::kRunning, "RUNNING", false, false, false, false, false, true, true},
      {S::kPaused, "PAUSED", false, false, false, false, false, true, false},
      {S::kSuspended, "SUSPENDED", false, false, false, false, false, true,
       false},
      {S::kSucceeded, "SUCCEEDED", true, false, true, false, true, false,
       false},
      {S::kFailedContinue, "FAILED_CONTINUE", true, false, false, true, true,
       false, false},
      {S::kTerminal, "TERMINAL", true, true, false, true, false, false, false},
      {S::kCanceled, "CANCELED", true, true, false, false, false, false, false},
      {S::kRedirect, "REDIRECT", false, false, false, false, true, false, true},
      {S::kStopped, "STOPPED", true, true, false, true, false, false, false},
      {S::kSkipped, "SKIPPED", true, false, true, false, true, false, false},
      {S::kBuffered, "BUFFERED", false, false, false, false, false, false,
       false},
  };
  ASSERT_EQ(table.size(), static_cast<std::size_t>(kWorkflowStatusCount));
  for (int i = 0; i < kWorkflowStatusCount; ++i) {
    const Row& row = table[static_cast<std::size_t>(i)];
    SCOPED_TRACE(row.name);
    EXPECT_EQ(static_cast<int>(row.status), i);
    EXPECT_EQ(status_name(row.status), row.name);
    EXPECT_EQ(is_complete(row.status), row.complete);
    EXPECT_EQ(is_halt(row.status), row.halt);
    EXPECT_EQ(is_successful(row.status), row.successful);
    EXPECT_EQ(is_failure(row.status), row.failure);
    EXPECT_EQ(is_continuable(row.status), row.continuable);
    EXPECT_EQ(is_active(row.status), row.active);
    EXPECT_EQ(is_dirty(row.status), row.dirty);
  }
}

TEST(ModelTest, StatusNamesRoundTrip) {
  for (int i = 0; i < kWorkflowStatusCount; ++i) {
    const auto status = status_from_int(i);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(find_status(status_name(*status)), status);
    EXPECT_EQ(parse_status(status_name(*status), "status"), *status);
  }
  EXPECT_EQ(status_from_int(-1), std::nullopt);
  EXPECT_EQ(status_from_int(kWorkflowStatusCount), std::nullopt);
  EXPECT_EQ(find_status("running"), std::nullopt);
  EXPECT_THAT([] { parse_status("DONE", "stages[3].status"); },
              ThrowsMessage<InvalidArgumentError>(
                  HasSubstr("stages[3].status: unknown status 'DONE'")));
}

TEST(ModelTest, OtherEnumNamesRoundTrip) {
  for (const WorkflowType t :
       {WorkflowType::kPipeline, WorkflowType::kOrchestration}) {
    EXPECT_EQ(parse_workflow_type(workflow_type_name(t), "type"), t);
  }
  EXPECT_EQ(workflow_type_name(WorkflowType::kOrchestration), "ORCHESTRATION");
  for (const SyntheticStageOwner o :
       {SyntheticStageOwner::kStageBefore, SyntheticStageOwner::kStageAfter}) {
    EXPECT_EQ(parse_synthetic_stage_owner(synthetic_stage_owner_name(o), "o"),
              o);
  }
  EXPECT_EQ(synthetic_stage_owner_name(SyntheticStageOwner::kStageAfter),
            "STAGE_AFTER");
  for (const JoinType j : {JoinType::kAnd, JoinType::kOr, JoinType::kMultiMerge,
                           JoinType::kDiscriminator, JoinType::kNOfM}) {
    EXPECT_EQ(parse_join_type(join_type_name(j), "join_type"), j);
  }
  EXPECT_EQ(join_type_name(JoinType::kNOfM), "N_OF_M");
  for (const SplitType s : {SplitType::kAnd, SplitType::kOr}) {
    EXPECT_EQ(parse_split_type(split_type_name(s), "split_type"), s);
  }
  EXPECT_THAT([] { parse_workflow_type("FLOW", "workflow.type"); },
              ThrowsMessage<InvalidArgumentError>(HasSubstr("workflow.type")));
  EXPECT_THAT(
      [] { parse_synthetic_stage_owner("STAGE_ON_FAILURE", "stage.owner"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("stage.owner")));
  EXPECT_THAT(
      [] { parse_join_type("XOR", "stages[0].join_type"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("stages[0].join_type")));
  EXPECT_THAT(
      [] { parse_split_type("and", "stages[0].split_type"); },
      ThrowsMessage<InvalidArgumentError>(HasSubstr("stages[0].split_type")));
}

TEST(ModelTest, EqualityComparesEveryField) {
  const Workflow base = testutil::full_workflow("f1");
  EXPECT_EQ(base, testutil::full_workflow("f1"));
  // JSON compares by value: decoded and CBOR-backed forms are equal.
  Workflow reread = base;
  reread.stages[2].outputs = Json::from_cbor(base.stages[2].outputs.cbor());
  EXPECT_EQ(reread, base);

  using Mutation = std::function<void(Workflow&)>;
  auto stage = [](Workflow& w) -> StageExecution& { return w.stages[2]; };
  auto task = [&](Workflow& w) -> TaskExecution& { return stage(w).tasks[0]; };
  const std::vector<std::pair<const char*, Mutation>> mutations = {
      {"id", [](Workflow& w) { w.id += "x"; }},
      {"type", [](Workflow& w) { w.type = WorkflowType::kPipeline; }},
      {"application", [](Workflow& w) { w.application += "x"; }},
      {"name", [](Workflow& w) { w.name += "x"; }},
      {"status", [](Workflow& w) { w.status = WorkflowStatus::kRunning; }},
      {"stages", [](Workflow& w) { w.stages.pop_back(); }},
      {"context", [](Workflow& w) { w.context.mutable_value()["x"] = 1; }},
      {"trigger.type", [](Workflow& w) { w.trigger.type += "x"; }},
      {"trigger.user", [](Workflow& w) { w.trigger.user += "x"; }},
      {"trigger.parameters",
       [](Workflow& w) { w.trigger.parameters = json::object(); }},
      {"trigger.artifacts",
       [](Workflow& w) { w.trigger.artifacts = json::array(); }},
      {"trigger.payload",
       [](Workflow& w) { w.trigger.payload = json::object(); }},
      {"start_time", [](Workflow& w) { w.start_time.reset(); }},
      {"end_time", [](Workflow& w) { *w.end_time -= 1; }},
      {"start_time_expiry", [](Workflow& w) { *w.start_time_expiry += 1; }},
      {"is_canceled", [](Workflow& w) { w.is_canceled = false; }},
      {"canceled_by", [](Workflow& w) { w.canceled_by.reset(); }},
      {"cancellation_reason", [](Workflow& w) { w.cancellation_reason = ""; }},
      {"paused.paused_by", [](Workflow& w) { w.paused->paused_by = ""; }},
      {"paused.pause_time", [](Workflow& w) { w.paused->pause_time.reset(); }},
      {"paused.resume_time", [](Workflow& w) { *w.paused->resume_time += 1; }},
      {"paused.paused_ms", [](Workflow& w) { w.paused->paused_ms = 0; }},
      {"pipeline_config_id", [](Workflow& w) { w.pipeline_config_id = "x"; }},
      {"is_limit_concurrent",
       [](Workflow& w) { w.is_limit_concurrent = false; }},
      {"max_concurrent_executions",
       [](Workflow& w) { w.max_concurrent_executions = 1; }},
      {"keep_waiting_pipelines",
       [](Workflow& w) { w.keep_waiting_pipelines = false; }},
      {"origin", [](Workflow& w) { w.origin = "unknown"; }},
      {"stage.id", [&](Workflow& w) { stage(w).id += "x"; }},
      {"stage.execution_id",
       [&](Workflow& w) { stage(w).execution_id += "x"; }},
      {"stage.ref_id", [&](Workflow& w) { stage(w).ref_id += "x"; }},
      {"stage.type", [&](Workflow& w) { stage(w).type += "x"; }},
      {"stage.name", [&](Workflow& w) { stage(w).name += "x"; }},
      {"stage.status",
       [&](Workflow& w) { stage(w).status = WorkflowStatus::kSucceeded; }},
      {"stage.context",
       [&](Workflow& w) { stage(w).context = json::object(); }},
      {"stage.outputs",
       [&](Workflow& w) { stage(w).outputs = json::object(); }},
      {"stage.tasks", [&](Workflow& w) { stage(w).tasks.pop_back(); }},
      {"stage.requisite_stage_ref_ids",
       [&](Workflow& w) { stage(w).requisite_stage_ref_ids.insert("z"); }},
      {"stage.parent_stage_id",
       [&](Workflow& w) { stage(w).parent_stage_id.reset(); }},
      {"stage.synthetic_stage_owner",
       [&](Workflow& w) {
         stage(w).synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
       }},
      {"stage.start_time", [&](Workflow& w) { *stage(w).start_time += 1; }},
      {"stage.end_time", [&](Workflow& w) { *stage(w).end_time -= 1; }},
      {"stage.start_time_expiry",
       [&](Workflow& w) { stage(w).start_time_expiry.reset(); }},
      {"stage.scheduled_time",
       [&](Workflow& w) { stage(w).scheduled_time.reset(); }},
      {"stage.version", [&](Workflow& w) { stage(w).version += 1; }},
      {"stage.join_type",
       [&](Workflow& w) { stage(w).join_type = JoinType::kOr; }},
      {"stage.join_threshold",
       [&](Workflow& w) { stage(w).join_threshold = 1; }},
      {"stage.split_type",
       [&](Workflow& w) { stage(w).split_type = SplitType::kAnd; }},
      {"stage.split_conditions",
       [&](Workflow& w) { stage(w).split_conditions.clear(); }},
      {"stage.mi_config", [&](Workflow& w) { stage(w).mi_config.reset(); }},
      {"mi_config.count", [&](Workflow& w) { stage(w).mi_config->count = 1; }},
      {"mi_config.count_from_context",
       [&](Workflow& w) { stage(w).mi_config->count_from_context = ""; }},
      {"mi_config.sync_on_complete",
       [&](Workflow& w) { stage(w).mi_config->sync_on_complete = true; }},
      {"mi_config.allow_dynamic",
       [&](Workflow& w) { stage(w).mi_config->allow_dynamic = false; }},
      {"mi_config.collection_from_context",
       [&](Workflow& w) { stage(w).mi_config->collection_from_context = ""; }},
      {"mi_config.join_threshold",
       [&](Workflow& w) { stage(w).mi_config->join_threshold = 0; }},
      {"mi_config.cancel_remaining",
       [&](Workflow& w) { stage(w).mi_config->cancel_remaining = false; }},
      {"stage.deferred_choice_group",
       [&](Workflow& w) { stage(w).deferred_choice_group.reset(); }},
      {"stage.milestone_ref_id",
       [&](Workflow& w) { stage(w).milestone_ref_id.reset(); }},
      {"stage.milestone_status",
       [&](Workflow& w) { stage(w).milestone_status.reset(); }},
      {"stage.mutex_key", [&](Workflow& w) { stage(w).mutex_key.reset(); }},
      {"stage.cancel_region",
       [&](Workflow& w) { stage(w).cancel_region.reset(); }},
      {"task.id", [&](Workflow& w) { task(w).id += "x"; }},
      {"task.name", [&](Workflow& w) { task(w).name += "x"; }},
      {"task.implementing_class",
       [&](Workflow& w) { task(w).implementing_class += "x"; }},
      {"task.status",
       [&](Workflow& w) { task(w).status = WorkflowStatus::kRunning; }},
      {"task.start_time", [&](Workflow& w) { task(w).start_time.reset(); }},
      {"task.end_time", [&](Workflow& w) { task(w).end_time.reset(); }},
      {"task.stage_start", [&](Workflow& w) { task(w).stage_start = false; }},
      {"task.stage_end", [&](Workflow& w) { task(w).stage_end = false; }},
      {"task.loop_start", [&](Workflow& w) { task(w).loop_start = false; }},
      {"task.loop_end", [&](Workflow& w) { task(w).loop_end = false; }},
      {"task.task_exception_details",
       [&](Workflow& w) { task(w).task_exception_details = json::object(); }},
      {"task.version", [&](Workflow& w) { task(w).version = 0; }},
  };
  for (const auto& [name, mutate] : mutations) {
    Workflow changed = base;
    mutate(changed);
    EXPECT_FALSE(changed == base) << name;
    EXPECT_FALSE(base == changed) << name;
  }
}

TEST(ModelTest, SampleWorkflowsAreValid) {
  EXPECT_NO_THROW(validate_workflow(testutil::diamond_workflow("d1")));
  EXPECT_NO_THROW(validate_workflow(testutil::full_workflow("f1")));
}

}  // namespace
}  // namespace wfstore
