// Unit tests of the read side over the views: criteria queries (order, filters,
// Q1 bounds, page sizes), the recovery query, counts, the partial parent of
// retrieve_stage and the graph queries.

#include "wfstore_internal/views.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "tests/projector/state_machine_harness.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/keys.h"
#include "wfstore_internal/lmdb_views.h"
#include "wfstore_internal/memory_view_store.h"
#include "wfstore_internal/stage_graph.h"
#include "wfstore_internal/view_records.h"

namespace wfstore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testutil::Harness;

using Ids = std::vector<std::string>;

Workflow bare(const std::string& id, const std::string& application,
              std::optional<std::int64_t> start, WorkflowStatus status,
              std::optional<std::string> config = std::nullopt) {
  Workflow w = testutil::bare_workflow(id, application, status, start);
  w.pipeline_config_id = std::move(config);
  return w;
}

class CriteriaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    using S = WorkflowStatus;
    store(bare("e", "app", 300, S::kRunning, "cfg"));
    store(bare("a", "app", std::nullopt, S::kNotStarted, "cfg"));
    store(bare("c", "app", 300, S::kSucceeded, "cfg"));
    store(bare("b", "app", 100, S::kRunning));
    store(bare("d", "app", 200, S::kNotStarted, "cfg"));
    store(bare("z", "app", std::nullopt, S::kRunning));
    store(bare("o1", "other", 250, S::kRunning, "cfg2"));
    store(bare("o2", "other", std::nullopt, S::kNotStarted));
  }
  void store(const Workflow& w) {
    ASSERT_EQ(h_.apply(StoreWorkflow{w}).events.size(), 1u);
  }
  Ids by_app(const std::optional<WorkflowCriteria>& c) {
    return workflow_ids_by_application(h_.views, "app", c);
  }
  Harness h_;
};

TEST_F(CriteriaTest, OrderIsStartTimeDescendingNullsLastThenId) {
  EXPECT_EQ(by_app(std::nullopt), (Ids{"c", "e", "d", "b", "a", "z"}));
  EXPECT_EQ(workflow_ids_by_pipeline_config_id(h_.views, "cfg", std::nullopt),
            (Ids{"c", "e", "d", "a"}));
  EXPECT_THAT(by_app(WorkflowCriteria{}), ::testing::SizeIs(6));  // page 20
  EXPECT_THAT(workflow_ids_by_application(h_.views, "nobody", std::nullopt),
              IsEmpty());
}

TEST_F(CriteriaTest, PageSizeLimitsAfterOrderingTies) {
  WorkflowCriteria c;
  c.page_size = 1;
  EXPECT_EQ(by_app(c), (Ids{"c"}));
  c.page_size = 3;
  EXPECT_EQ(by_app(c), (Ids{"c", "e", "d"}));
  c.page_size = 5;
  EXPECT_EQ(by_app(c), (Ids{"c", "e", "d", "b", "a"}));
  c.page_size = 0;  // no limit
  EXPECT_THAT(by_app(c), ::testing::SizeIs(6));
  c.page_size = -1;
  EXPECT_THROW(by_app(c), InvalidArgumentError);
  EXPECT_THROW(pending_workflow_ids(h_.views, c), InvalidArgumentError);
}

TEST_F(CriteriaTest, StatusesFilterOnlyWhenNonEmpty) {
  WorkflowCriteria c;
  c.statuses = {WorkflowStatus::kRunning};
  EXPECT_EQ(by_app(c), (Ids{"e", "b", "z"}));
  c.statuses = {WorkflowStatus::kRunning, WorkflowStatus::kNotStarted};
  EXPECT_EQ(by_app(c), (Ids{"e", "d", "b", "a", "z"}));
  c.statuses.clear();
  EXPECT_THAT(by_app(c), ::testing::SizeIs(6));
}

TEST_F(CriteriaTest, TimeBoundsAreExclusiveAndExcludeNulls) {
  WorkflowCriteria c;
  c.start_time_after = 100;
  EXPECT_EQ(by_app(c), (Ids{"c", "e", "d"}));
  c.start_time_after.reset();
  c.start_time_before = 300;
  EXPECT_EQ(by_app(c), (Ids{"d", "b"}));
  c.start_time_after = 100;
  EXPECT_EQ(by_app(c), (Ids{"d"}));
}

TEST_F(CriteriaTest, PendingQueryKeepsNeverStartedAndIgnoresBefore) {
  WorkflowCriteria c;
  c.page_size = 0;
  c.statuses = {WorkflowStatus::kRunning, WorkflowStatus::kNotStarted};
  c.start_time_after = 200;  // inclusive, NULLs kept
  c.start_time_before = 1;   // ignored
  EXPECT_EQ(pending_workflow_ids(h_.views, c),
            (Ids{"e", "o1", "d", "a", "o2", "z"}));
  c.page_size = 2;
  EXPECT_EQ(pending_workflow_ids(h_.views, c), (Ids{"e", "o1"}));
}

TEST_F(CriteriaTest, IndexesFollowStatusAndStartTimeChanges) {
  Workflow b = *load_workflow(h_.views, "b", false);
  b.start_time = 1000;
  b.status = WorkflowStatus::kSucceeded;
  h_.apply(UpdateStatus::of(b));
  EXPECT_EQ(by_app(std::nullopt), (Ids{"b", "c", "e", "d", "a", "z"}));
  WorkflowCriteria c;
  c.statuses = {WorkflowStatus::kRunning};
  EXPECT_EQ(by_app(c), (Ids{"e", "z"}));
  h_.apply(Pause{"e", "x"});
  EXPECT_EQ(by_app(c), (Ids{"z"}));
  h_.apply(Resume{"e"});
  EXPECT_EQ(by_app(c), (Ids{"e", "z"}));
  h_.apply(SetWorkflowStatus{"z", WorkflowStatus::kRunning, 5, std::nullopt});
  EXPECT_EQ(by_app(c), (Ids{"e", "z"}));
  EXPECT_EQ(by_app(std::nullopt), (Ids{"b", "c", "e", "d", "z", "a"}));
  EXPECT_EQ(count_by_application(h_.views, "app"), 6u);
  h_.apply(DeleteWorkflow{"c"});
  EXPECT_EQ(count_by_application(h_.views, "app"), 5u);
  EXPECT_EQ(workflow_ids_by_pipeline_config_id(h_.views, "cfg", std::nullopt),
            (Ids{"e", "d", "a"}));
  EXPECT_EQ(count_by_application(h_.views, "other"), 2u);
  EXPECT_EQ(count_by_application(h_.views, "none"), 0u);
}

class GraphTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.apply(StoreWorkflow{testutil::diamond_workflow("wf")});
  }
  static std::vector<std::string> ids(
      const std::vector<StageExecution>& stages) {
    std::vector<std::string> out;
    for (const StageExecution& s : stages) out.push_back(s.id);
    return out;
  }
  Harness h_;
};

TEST_F(GraphTest, RetrieveStageBuildsThePartialParent) {
  std::optional<StageInExecution> r = retrieve_stage(h_.views, "wf.deploy");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->index, 0u);
  EXPECT_EQ(ids(r->execution.stages),
            (std::vector<std::string>{"wf.deploy", "wf.build_linux",
                                      "wf.build_mac", "wf.deploy_precheck",
                                      "wf.deploy_verify", "wf.deploy_notify"}));
  for (const StageExecution& s : r->execution.stages)
    EXPECT_FALSE(s.tasks.empty()) << s.id;
  EXPECT_EQ(r->execution.application, "payments");
  EXPECT_EQ(r->execution.context, testutil::diamond_workflow("wf").context);
  // No downstream, siblings, synthetic parent or grand-ancestors.
  r = retrieve_stage(h_.views, "wf.deploy_notify");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(ids(r->execution.stages),
            (std::vector<std::string>{"wf.deploy_notify", "wf.deploy_verify"}));
  r = retrieve_stage(h_.views, "wf.setup");
  EXPECT_EQ(ids(r->execution.stages), (std::vector<std::string>{"wf.setup"}));
  EXPECT_FALSE(retrieve_stage(h_.views, "missing").has_value());
}

TEST_F(GraphTest, UpstreamDownstreamAndSyntheticQueries) {
  StageSet up = upstream_stages(h_.views, "wf", "deploy");
  EXPECT_EQ(ids(up.stages),
            (std::vector<std::string>{"wf.build_linux", "wf.build_mac"}));
  ASSERT_NE(up.execution, nullptr);
  EXPECT_EQ(up.execution->stages.size(), 7u);
  for (const StageExecution& s : up.execution->stages)
    EXPECT_TRUE(s.tasks.empty());
  for (const StageExecution& s : up.stages) EXPECT_FALSE(s.tasks.empty());
  EXPECT_EQ(ids(downstream_stages(h_.views, "wf", "setup").stages),
            (std::vector<std::string>{"wf.build_linux", "wf.build_mac"}));
  EXPECT_EQ(ids(synthetic_stages(h_.views, "wf", "wf.deploy").stages),
            (std::vector<std::string>{"wf.deploy_precheck", "wf.deploy_verify",
                                      "wf.deploy_notify"}));
  EXPECT_THAT(synthetic_stages(h_.views, "wf", "deploy").stages,
              IsEmpty());  // id, not ref
  EXPECT_THAT(upstream_stages(h_.views, "wf", "setup").stages, IsEmpty());
  EXPECT_THAT(upstream_stages(h_.views, "wf", "nope").stages, IsEmpty());
  StageSet none = upstream_stages(h_.views, "missing", "deploy");
  EXPECT_EQ(none.execution, nullptr);
  EXPECT_THAT(none.stages, IsEmpty());
}

// `outputs` with a "pad" string of `letter`s making its CBOR exactly `size`
// bytes (at least 300).
nlohmann::json padded(nlohmann::json outputs, std::size_t size, char letter) {
  outputs["pad"] = std::string(256, letter);
  const std::size_t base = nlohmann::json::to_cbor(outputs).size();
  EXPECT_GE(size, base);
  outputs["pad"] = std::string(256 + size - base, letter);
  EXPECT_EQ(nlohmann::json::to_cbor(outputs).size(), size);
  return outputs;
}

// merged_ancestor_outputs over the views reads the graph and the ancestors'
// outputs from stage_order; its answer is the model's over the whole
// stored workflow for every ref: parallel branches (ties in insertion order),
// dangling requisites, a self-edge, a cycle, a synthetic stage, a stage added
// later and outputs updated later; outputs around the 1 KiB the scan copies
// (1023, 1024, 1025 and 3000 bytes, sharing keys and lists with small ones)
// among them, an update growing outputs past it and one shrinking them below.
TEST(MergedAncestorOutputsTest, EqualsTheModelsMergeOverTheStoredWorkflow) {
  Harness h;
  Workflow w = testutil::bare_workflow("g", "app", WorkflowStatus::kRunning, 1);
  auto add = [&](const std::string& ref, std::set<std::string> requisites,
                 nlohmann::json outputs) {
    StageExecution s =
        testutil::make_stage("g", ref, "t", ref, WorkflowStatus::kSucceeded);
    s.requisite_stage_ref_ids = std::move(requisites);
    s.outputs = Json(std::move(outputs));
    return s;
  };
  using nlohmann::json;
  w.stages.push_back(
      add("a", {}, padded({{"v", "a"}, {"l", {"a"}}, {"a", 1}}, 3000, 'a')));
  w.stages.push_back(
      add("c", {"a"}, padded({{"v", "c"}, {"l", {"c"}}}, 1024, 'c')));
  w.stages.push_back(
      add("b", {"a"}, padded({{"v", "b"}, {"l", {"b"}}}, 1025, 'b')));
  w.stages.push_back(
      add("d", {"b", "c", "dangling"}, padded({{"v", "d"}}, 1023, 'd')));
  w.stages.push_back(add("self", {"self", "a"}, {{"v", "self"}}));
  w.stages.push_back(add("f", {"x"}, padded({{"v", "f"}}, 1025, 'f')));
  w.stages.push_back(add("x", {"f"}, {{"v", "x"}}));
  w.stages.push_back(add("h", {"f", "d", "self"}, {{"h", true}}));
  StageExecution synthetic = add("d_after", {"d"}, {{"v", "syn"}});
  synthetic.parent_stage_id = "g.d";
  synthetic.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  w.stages.push_back(synthetic);
  const auto equals_model = [&](const std::string& when) {
    SCOPED_TRACE(when);
    const std::optional<Workflow> stored = load_workflow(h.views, "g", true);
    ASSERT_TRUE(stored.has_value());
    for (const std::string ref : {"a", "b", "c", "d", "self", "f", "x", "h",
                                  "d_after", "late", "nope", "dangling"}) {
      EXPECT_EQ(merged_ancestor_outputs(h.views, "g", ref),
                internal::merged_ancestor_outputs(*stored, ref))
          << ref;
    }
  };
  ASSERT_EQ(h.apply(StoreWorkflow{w}).events.size(), 1u);
  equals_model("stored");
  StageExecution late = add("late", {"d_after", "b"}, {{"v", "late"}});
  ASSERT_EQ(h.apply(StoreStage{late, std::nullopt}).events.size(), 1u);
  equals_model("late added");
  // b shrinks below 1 KiB, c grows past it.
  StageExecution b = w.stages[2];
  b.outputs = Json(json{{"v", "b2"}, {"l", {"b2", "b3"}}});
  ASSERT_EQ(h.apply(StoreStage{b, "SUCCEEDED"}).events.size(), 1u);
  equals_model("b updated");
  StageExecution c = w.stages[1];
  c.outputs = Json(padded({{"v", "c2"}, {"l", {"c"}}}, 1025, 'C'));
  ASSERT_EQ(h.apply(StoreStage{c, "SUCCEEDED"}).events.size(), 1u);
  equals_model("c updated");
  ASSERT_EQ(load_workflow(h.views, "g", true)->stages.size(), 10u);
  // Parallel ancestors merge in insertion order: c before b, so b wins; lists
  // concatenate in that order; the updates are seen; the pad of the last
  // ancestor merged (d's own is not merged into d's answer) wins.
  EXPECT_EQ(merged_ancestor_outputs(h.views, "g", "d"),
            (json{{"v", "b2"},
                  {"l", {"a", "c", "b2", "b3"}},
                  {"a", 1},
                  {"pad", c.outputs.value()["pad"]}}));
  EXPECT_FALSE(merged_ancestor_outputs(h.views, "g", "h").contains("h"));
  EXPECT_EQ(merged_ancestor_outputs(h.views, "g", "late")["v"], "syn");
  ASSERT_EQ(h.apply(DeleteWorkflow{"g"}).events.size(), 1u);
  EXPECT_EQ(merged_ancestor_outputs(h.views, "g", "d"), json::object());
}

// Ancestors whose stage records lie in another key order than their merge
// order (a requisite stored after the stage that names it) merge in merge
// order, from memory views and from the same views in LMDB read through a
// snapshot.
TEST(MergedAncestorOutputsTest, MergeOrderNotKeyOrderOverMemoryAndLmdb) {
  Harness h;
  Workflow w = testutil::bare_workflow("g", "app", WorkflowStatus::kRunning, 1);
  auto add = [&](const std::string& ref, std::set<std::string> requisites) {
    StageExecution s =
        testutil::make_stage("g", ref, "t", ref, WorkflowStatus::kSucceeded);
    s.requisite_stage_ref_ids = std::move(requisites);
    s.outputs = Json(nlohmann::json{{"v", ref}, {"l", {ref}}});
    return s;
  };
  w.stages.push_back(add("target", {"mid"}));
  w.stages.push_back(add("mid", {"root"}));
  ASSERT_EQ(h.apply(StoreWorkflow{w}).events.size(), 1u);
  ASSERT_EQ(h.apply(StoreStage{add("root", {}), std::nullopt}).events.size(),
            1u);
  const nlohmann::json expected = {{"v", "mid"}, {"l", {"root", "mid"}}};
  EXPECT_EQ(merged_ancestor_outputs(h.views, "g", "target"), expected);

  testutil::TempDir dir;
  auto lmdb =
      LmdbViews::open(dir / "views", LmdbViewsOptions{std::uint64_t{64} << 20});
  lmdb->write([&](LmdbViews::WriteTxn& txn) {
    for (Table table : kAllTables) {
      for (const auto& [key, value] : dump_table(h.views, table)) {
        txn.put(table, key, value);
      }
    }
  });
  const LmdbViews::Snapshot snapshot = lmdb->begin_read();
  EXPECT_EQ(merged_ancestor_outputs(snapshot, "g", "target"), expected);
  EXPECT_EQ(merged_ancestor_outputs(snapshot, "g", "mid"),
            (nlohmann::json{{"v", "root"}, {"l", {"root"}}}));
}

// A damaged outputs value in an ancestor's stage_order entry, where the merge
// reads it (malformed CBOR, a string that is not UTF-8, a first byte that no
// longer heads a map: an array, a number, a string, null, binary, a tag, each
// with the map's bytes after it) is CorruptionError, as reading the stage
// whole is.
TEST(MergedAncestorOutputsTest, DamagedAncestorOutputsAreCorruption) {
  struct Damage {
    const char* name;
    std::size_t from_end;  // 0: the map's head
    char byte;
  };
  for (const Damage& damage :
       {Damage{"malformed CBOR", 0, '\xff'}, Damage{"not UTF-8", 5, '\xff'},
        Damage{"array head", 0, '\x81'}, Damage{"integer", 0, '\x01'},
        Damage{"string head", 0, '\x61'}, Damage{"null", 0, '\xf6'},
        Damage{"binary head", 0, '\x41'}, Damage{"tag", 0, '\xc1'}}) {
    for (const std::size_t size : {std::size_t{0}, std::size_t{2000}}) {
      SCOPED_TRACE(damage.name);
      SCOPED_TRACE(size);  // 0: small outputs; else their size, read again
      Harness h;
      Workflow w =
          testutil::bare_workflow("g", "app", WorkflowStatus::kRunning, 1);
      StageExecution root = testutil::make_stage("g", "root", "t", "root",
                                                 WorkflowStatus::kRunning);
      const nlohmann::json root_outputs =
          size == 0 ? nlohmann::json{{"key", "value"}}
                    : padded({{"key", "value"}}, size, 'y');
      root.outputs = Json(root_outputs);
      StageExecution leaf = testutil::make_stage("g", "leaf", "t", "leaf",
                                                 WorkflowStatus::kRunning);
      leaf.requisite_stage_ref_ids = {"root"};
      w.stages = {root, leaf};
      ASSERT_EQ(h.apply(StoreWorkflow{w}).events.size(), 1u);
      ASSERT_EQ(merged_ancestor_outputs(h.views, "g", "leaf"), root_outputs);

      const std::vector<std::uint8_t> outputs =
          nlohmann::json::to_cbor(root_outputs);
      const std::string cbor(outputs.begin(), outputs.end());
      bool damaged = false;
      for (auto [key, value] : dump_table(h.views, Table::kStageOrder)) {
        if (records::decode_stage_order(value).ref_id != "root") continue;
        const std::size_t at = value.find(cbor);
        ASSERT_NE(at, std::string::npos);
        // The map's head, or the first byte of "value".
        value[damage.from_end == 0 ? at : at + cbor.size() - damage.from_end] =
            damage.byte;
        h.views.put(Table::kStageOrder, key, value);
        damaged = true;
      }
      ASSERT_TRUE(damaged);
      EXPECT_THROW((void)merged_ancestor_outputs(h.views, "g", "leaf"),
                   CorruptionError);
    }
  }
}

// The merged answer may be larger than one value's size limit: each
// ancestor's outputs were within it.
TEST(MergedAncestorOutputsTest, AnswerLargerThanOneValuesLimit) {
  Harness h;
  Workflow w = testutil::bare_workflow("g", "app", WorkflowStatus::kRunning, 1);
  const std::string big(kMaxJsonBytes / 2 + 1024, 'x');
  StageExecution a =
      testutil::make_stage("g", "a", "t", "a", WorkflowStatus::kSucceeded);
  a.outputs = Json(nlohmann::json{{"a", big}});
  StageExecution b =
      testutil::make_stage("g", "b", "t", "b", WorkflowStatus::kSucceeded);
  b.outputs = Json(nlohmann::json{{"b", big}});
  StageExecution leaf =
      testutil::make_stage("g", "leaf", "t", "leaf", WorkflowStatus::kRunning);
  leaf.requisite_stage_ref_ids = {"a", "b"};
  w.stages = {a, b, leaf};
  ASSERT_EQ(h.apply(StoreWorkflow{w}).events.size(), 1u);
  const nlohmann::json merged = merged_ancestor_outputs(h.views, "g", "leaf");
  EXPECT_EQ(merged, (nlohmann::json{{"a", big}, {"b", big}}));
  EXPECT_EQ(merged, internal::merged_ancestor_outputs(w, "leaf"));
}

TEST_F(GraphTest, MergedAncestorOutputsUsesTheStoredWorkflow) {
  const Workflow w = testutil::diamond_workflow("wf");
  EXPECT_EQ(merged_ancestor_outputs(h_.views, "wf", "deploy"),
            internal::merged_ancestor_outputs(w, "deploy"));
  EXPECT_FALSE(merged_ancestor_outputs(h_.views, "wf", "deploy").empty());
  EXPECT_EQ(merged_ancestor_outputs(h_.views, "missing", "deploy"),
            nlohmann::json::object());
  EXPECT_EQ(merged_ancestor_outputs(h_.views, "wf", "nope"),
            nlohmann::json::object());
}

TEST(ViewsTest, EmptyViews) {
  MemoryViewStore views;
  EXPECT_EQ(applied_lsn(views), 0u);
  EXPECT_EQ(next_delivery_id(views), 1u);
  EXPECT_FALSE(workflow_exists(views, "x"));
  EXPECT_FALSE(load_workflow(views, "x", true).has_value());
  EXPECT_FALSE(is_message_processed(views, "x"));
  EXPECT_THAT(processed_message_ids(views, std::nullopt), IsEmpty());
  EXPECT_THAT(pending_workflow_ids(views, WorkflowCriteria{}), IsEmpty());
}

// find_stage keeps the last record it decoded per thread, keyed by its bytes:
// two stores holding the same stage id with other contents, and a record
// rewritten in place, must each read back their own bytes.
TEST(FindStageTest, TheDecodeMemoNeverAnswersForOtherBytes) {
  StageExecution stage = testutil::diamond_workflow("wf").stages.at(0);
  stage.version = 0;
  MemoryViewStore first;
  MemoryViewStore second;
  const std::uint64_t id_first = keys::intern_id(first, stage.id);
  const std::uint64_t id_second = keys::intern_id(second, stage.id);
  first.put(Table::kStages, keys::encode_u64(id_first),
            records::encode_stage_record(stage, 7, 1));
  stage.version = 5;
  stage.outputs = nlohmann::json{{"second", true}};
  second.put(Table::kStages, keys::encode_u64(id_second),
             records::encode_stage_record(stage, 8, 2));
  for (int round = 0; round < 2; ++round) {
    const std::optional<records::FoundStage> a =
        records::find_stage(first, stage.id);
    const std::optional<records::FoundStage> b =
        records::find_stage(second, stage.id);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->record->stage.version, 0);
    EXPECT_EQ(a->record->workflow, 7u);
    EXPECT_EQ(b->record->stage.version, 5);
    EXPECT_EQ(b->record->workflow, 8u);
    EXPECT_EQ(b->record->stage.outputs.value(),
              (nlohmann::json{{"second", true}}));
  }
  // Read twice in a row (a memo hit), then rewritten: the new bytes win.
  const std::optional<records::FoundStage> hit =
      records::find_stage(second, stage.id);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->record->stage.version, 5);
  stage.version = 6;
  second.put(Table::kStages, keys::encode_u64(id_second),
             records::encode_stage_record(stage, 8, 2));
  const std::optional<records::FoundStage> rewritten =
      records::find_stage(second, stage.id);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(rewritten->record->stage.version, 6);
  // The record handed out before is unchanged.
  EXPECT_EQ(hit->record->stage.version, 5);
  EXPECT_FALSE(records::find_stage(second, "no-such-stage"));
}

}  // namespace
}  // namespace wfstore
