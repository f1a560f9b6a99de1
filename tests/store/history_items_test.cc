// The event items of the reference's conformance checklist (audit metadata,
// the event value and its identity, type names, a reader's position,
// upcasting, and an engine's run end to end), on real stores. The reference
// keeps events in a side table beside its state; here the log is the store,
// so several of its behaviours have no direct counterpart: each test says
// which behaviour it stands for and how wfstore differs.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"
#include "wfstore/history.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tests/store/history_script.h"
#include "tests/testutil/probe_event.h"
#include "tests/testutil/sample_events.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testutil::log_events;
using testutil::make_stage;
using testutil::make_task;
using testutil::quiet_options;
using testutil::TempDir;

std::vector<EventType> types_of(const std::vector<Event>& events) {
  std::vector<EventType> types;
  types.reserve(events.size());
  for (const Event& e : events) types.push_back(e.type());
  return types;
}

// ---- 72: audit metadata ----

// Stands for the reference's EventMetadata defaults (causation None, actor
// "system", source_handler None) and its to_dict/from_dict round trip. Ours:
// the audit fields belong to the commit (AuditScope), default to empty
// strings, and round-trip through the log and event_to_json's "audit" object.
TEST(HistoryItemsTest, Item72AuditMetadataRoundTripsAndDefaultsEmpty) {
  const TempDir tmp;
  auto db = Database::open(tmp / "s", quiet_options());
  WorkflowStore& store = db->workflow_store();
  store.store(testutil::diamond_workflow("wf-plain"));
  const AuditFields who{"alice ✓", "corr-72", "cause-9", "cli"};
  {
    AuditScope scope(who);
    store.store(testutil::diamond_workflow("wf-audited"));
    {
      AuditScope inner({"bob", "", "", ""});
      store.pause("wf-audited", "bob");
    }
    store.resume("wf-audited");
  }
  // A scope with a field that is not UTF-8 never takes effect.
  EXPECT_THROW(AuditScope({std::string("\xff"), "", "", ""}),
               InvalidArgumentError);
  store.delete_workflow("wf-plain");

  const std::vector<Event> events = log_events(tmp / "s");
  ASSERT_EQ(events.size(), 5u);
  const AuditMetadata none{};
  const AuditMetadata alice{who.actor, who.correlation_id, who.causation_id,
                            who.source};
  const AuditMetadata bob{"bob", "", "", ""};
  const std::vector<AuditMetadata> expected = {none, alice, bob, alice, none};
  for (std::size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].audit, expected[i]);
    const json audit = event_to_json(events[i]).at("audit");
    EXPECT_EQ(audit, (json{{"actor", expected[i].actor},
                           {"correlation_id", expected[i].correlation_id},
                           {"causation_id", expected[i].causation_id},
                           {"source", expected[i].source}}));
  }
  // The same envelope through the history API, and the audit filters.
  const History history(*db);
  EXPECT_EQ(history.events({}), events);
  EventQuery by_actor;
  by_actor.actor = who.actor;
  EXPECT_EQ(history.events(by_actor),
            (std::vector<Event>{events[1], events[3]}));
  EventQuery by_correlation;
  by_correlation.correlation_id = "corr-72";
  EXPECT_EQ(history.count(by_correlation), 2u);
  // The fields survive a reopen (they are in the log, not in memory).
  db->close();
  auto reopened = Database::open_read_only(tmp / "s", quiet_options());
  EXPECT_EQ(History(*reopened).events({}), events);
}

// ---- 73: the event value ----

// Stands for the reference's new Event (non-empty event_id, a datetime
// timestamp, sequence 0, immutable; with_sequence(42) copies it keeping the
// id). Ours: an Event exists only as read back from the log, so its identity
// is its LSN (> 0, never reassigned) and it carries its commit's time; it is
// a plain value: a copy is independent of the original, and reading the same
// LSN again gives an equal value.
TEST(HistoryItemsTest, Item73EventIsAValueIdentifiedByItsLsn) {
  const TempDir tmp;
  DatabaseOptions options = quiet_options();
  auto clock = std::make_shared<testutil::FakeClock>(1'717'000'000'000);
  options.clock = clock;
  auto db = Database::open(tmp / "s", options);
  db->workflow_store().store(testutil::diamond_workflow("wf-73"));
  clock->advance(250);
  {
    Transaction txn = db->workflow_store().transaction();
    for (const char* id : {"m-1", "m-2", "m-3"})
      txn.mark_message_processed(id, "H", "wf-73");
    txn.commit();
  }
  const History history(*db);
  const std::vector<Event> events = history.events({});
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].lsn, 1u);
  EXPECT_EQ(events[0].commit_id, 1u);
  EXPECT_EQ(events[0].timestamp_ms, 1'717'000'000'000);
  // One commit: consecutive LSNs, one commit id, one time.
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].lsn, events[i - 1].lsn + 1);
    EXPECT_EQ(events[i].commit_id, 2u);
    EXPECT_EQ(events[i].timestamp_ms, 1'717'000'000'250);
  }
  // A copy is independent; the original still equals the event at its LSN.
  const Event& original = events[2];
  Event copy = original;
  copy.lsn = 42;
  std::get<MessageProcessed>(copy.payload).message_id = "changed";
  EXPECT_EQ(original.lsn, 3u);
  EXPECT_NE(copy, original);
  EXPECT_EQ(std::get<MessageProcessed>(original.payload).message_id, "m-2");
  EXPECT_EQ(history.event_at(original.lsn), original);
  EXPECT_EQ(history.event_at(original.lsn), history.event_at(original.lsn));
  EXPECT_EQ(event_to_json(original).at("lsn"), original.lsn);
  EXPECT_EQ(history.event_at(0), std::nullopt);
  EXPECT_EQ(history.event_at(5), std::nullopt);
  EXPECT_EQ(history.commit_end(2), 4u);
  EXPECT_EQ(history.commit_end(1), 1u);
}

// ---- 74: type names ----

// Stands for the reference's to_dict writing enum values ("stage.started",
// "stage"), from_dict reading them back, and every EventType value holding a
// ".". Ours: event_to_json names each type by its distinct catalogue name
// (there is no JSON reader: the binary codec is the stored form, so the round
// trip is through the codec, and its JSON must be the same after it).
TEST(HistoryItemsTest, Item74EventJsonNamesEveryTypeDistinctly) {
  const std::vector<EventPayload> payloads =
      testutil::payloads_for(testutil::diamond_workflow("wf-74"));
  ASSERT_EQ(payloads.size(), std::variant_size_v<EventPayload>);
  std::set<std::string> names;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    ASSERT_EQ(payloads[i].index(), i);  // every type once
    const std::string name(event_type_name(event_type(payloads[i])));
    EXPECT_NE(name, "Unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(event_type_name(static_cast<EventType>(999)), "Unknown");
  const std::string body = encode_commit_body({"a", "c", "", "s"}, payloads);
  const DecodedCommit commit =
      decode_commit_body(7, 1'700'000'000'000, payloads.size(), body);
  ASSERT_EQ(commit.events.size(), payloads.size());
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const Event& event = commit.events[i];
    SCOPED_TRACE(event_type_name(event.type()));
    EXPECT_EQ(event.payload, payloads[i]);
    const json j = event_to_json(event);
    EXPECT_EQ(j.at("type"), event_type_name(event_type(payloads[i])));
    EXPECT_EQ(j.at("lsn"), 7 + i);
    EXPECT_EQ(j.at("payload"), payload_to_json(payloads[i]));
    EXPECT_EQ(j.at("schema_version"), event.schema_version());
    EXPECT_EQ(j.at("workflow_id"), event_workflow_id(payloads[i]));
  }
  // Statuses appear by name.
  EXPECT_EQ(payload_to_json(payloads[2]).at("status"), "SUCCEEDED");
  EXPECT_EQ(payload_to_json(payloads[0]).at("workflow").at("status"),
            status_name(testutil::diamond_workflow("wf-74").status));
}

// The reference's entity_type values ("workflow", "stage", "task"): ours name
// the kinds of event_entities() the same way, and a delivery as "delivery".
TEST(HistoryItemsTest, Item74EntityKindsByName) {
  const std::vector<std::pair<EntityKind, std::string_view>> kinds = {
      {EntityKind::kWorkflow, "workflow"},
      {EntityKind::kStage, "stage"},
      {EntityKind::kTask, "task"},
      {EntityKind::kDelivery, "delivery"}};
  for (const auto& [kind, name] : kinds) {
    EXPECT_EQ(entity_kind_name(kind), name);
    EXPECT_EQ(find_entity_kind(name), kind);
  }
  EXPECT_EQ(find_entity_kind("Stage"), std::nullopt);
  EXPECT_EQ(find_entity_kind(""), std::nullopt);
  const Workflow wf = testutil::diamond_workflow("wf-74");
  const std::vector<EntityRef> touched =
      event_entities(StageRemoved{wf.id, wf.stages.at(1).id});
  ASSERT_FALSE(touched.empty());
  EXPECT_EQ(entity_kind_name(touched.back().kind), "stage");
}

// ---- 78: a reader's position ----

// Stands for the reference's subscription checkpoint (save with
// last_sequence 50, get, update to 75, delete). Ours is a reader's position:
// for_each_event returns the last LSN it visited, the position to resume
// from; resuming yields exactly the events after it, including those
// committed since. A reader keeps its position itself (starting over is
// position 0); durable named subscriptions kept by the store come with live
// follow, in the next part of the history API.
TEST(HistoryItemsTest, Item78ReaderPositionResumesWithTheRemainingEvents) {
  const TempDir tmp;
  auto db = Database::open(tmp / "s", quiet_options());
  WorkflowStore& store = db->workflow_store();
  for (int i = 0; i < 5; ++i)
    store.store(testutil::diamond_workflow("wf-" + std::to_string(i)));
  const std::vector<Event> all = log_events(tmp / "s");
  ASSERT_EQ(all.size(), 5u);

  // Read two events and stop: the position is the second's LSN.
  std::vector<Event> first;
  std::uint64_t position =
      for_each_event(tmp / "s", 0, [&](const Event& event) {
        first.push_back(event);
        return first.size() < 2;
      });
  EXPECT_EQ(position, all[1].lsn);
  EXPECT_EQ(first, (std::vector<Event>{all[0], all[1]}));
  // Resuming yields exactly the remaining three.
  std::vector<Event> rest;
  position = for_each_event(tmp / "s", position, [&](const Event& event) {
    rest.push_back(event);
    return true;
  });
  EXPECT_EQ(rest, std::vector<Event>(all.begin() + 2, all.end()));
  EXPECT_EQ(position, all.back().lsn);
  // At the end: nothing, and the position stays.
  EXPECT_EQ(for_each_event(tmp / "s", position,
                           [](const Event&) {
                             ADD_FAILURE() << "no event follows the end";
                             return true;
                           }),
            position);
  // The position advances over what is committed later (the reference's
  // update to 75), and the history API's from_lsn reads the same events.
  store.delete_workflow("wf-0");
  store.pause("wf-1", "ops");
  const std::vector<Event> later = log_events(tmp / "s", position);
  EXPECT_EQ(types_of(later),
            (std::vector<EventType>{EventType::kWorkflowDeleted,
                                    EventType::kWorkflowPaused}));
  EventQuery since;
  since.from_lsn = position;
  EXPECT_EQ(History(*db).events(since), later);
  // Starting over (the reference's delete) is position 0.
  EXPECT_EQ(log_events(tmp / "s", 0).size(), 7u);
}

// ---- 89: upcasting ----

// Stands for the reference's EventMigrator: a registered v1 -> v2 step
// applied on replay (legacy_status becomes status), replay unchanged with no
// migrations, strict mode refusing a missing path. Ours upcasts in the codec,
// so every reader (views' fold, history, export) sees the current version;
// the views fold an upcast event exactly as the event written natively. It
// is always strict: a payload with no path to the current version, or newer
// than this build's, is a clear CorruptionError, never skipped (the
// reference's lenient replay would silently drop the change).
class HistoryUpcastTest : public ::testing::Test {
 protected:
  void TearDown() override { reset_event_registry_for_testing(); }

  // A store in `dir` holding workflow "wf-89" (NOT_STARTED) stored through
  // the store, then one commit of `encoded_event` appended to its log as an
  // older build would have written it; the views have not applied it.
  static void write_store_with(const std::filesystem::path& dir,
                               const std::string& encoded_event) {
    {
      auto db = Database::open(dir, quiet_options());
      db->workflow_store().store(stored_workflow());
      db->close();
    }
    const std::shared_ptr<FileSystem> fs = posix_file_system();
    const StoreDir store_dir = StoreDir::open_existing(fs, dir, true);
    auto writer = log::Writer::open(fs, store_dir.log_dir(), store_dir.id());
    writer->append(
        writer->last_lsn() + 1, 1, 1'700'000'000'089,
        encode_body_for_testing({"old-build", "", "", ""}, {encoded_event}));
    writer->sync();
    writer->close();
  }

  static Workflow stored_workflow() {
    Workflow wf =
        testutil::bare_workflow("wf-89", "app", WorkflowStatus::kNotStarted, 5);
    wf.stages.push_back(
        make_stage(wf.id, "a", "shell", "A", WorkflowStatus::kNotStarted));
    return wf;
  }
};

TEST_F(HistoryUpcastTest, Item89OlderSchemaVersionsDecodeUpcastAndFoldAlike) {
  const TempDir tmp;
  // The old build wrote the probe at version 1 with a status name.
  write_store_with(tmp / "old", encode_event_for_testing(
                                    testutil::kProbeType, 1, "wf-89",
                                    testutil::probe_v1("wf-89", "RUNNING")));
  // Without its upcaster the event cannot be read: opening refuses, naming
  // it, and reading the history does too.
  EXPECT_THAT([&] { Database::open(tmp / "old", quiet_options()); },
              ThrowsMessage<CorruptionError>(HasSubstr("65281")));
  EXPECT_THROW(log_events(tmp / "old"), CorruptionError);

  testutil::register_probe();
  auto old_db = Database::open(tmp / "old", quiet_options());
  const std::vector<Event> events = log_events(tmp / "old");
  ASSERT_EQ(events.size(), 2u);
  const WorkflowStatusSet expected{"wf-89", WorkflowStatus::kRunning,
                                   std::nullopt, std::nullopt};
  EXPECT_EQ(events[1].payload, EventPayload(expected));
  EXPECT_EQ(events[1].workflow_id, "wf-89");
  EXPECT_EQ(events[1].audit.actor, "old-build");
  EXPECT_EQ(event_to_json(events[1]).at("payload").at("status"), "RUNNING");

  // The same change written natively by this build folds to the same state.
  auto new_db = Database::open(tmp / "new", quiet_options());
  new_db->workflow_store().store(stored_workflow());
  {
    Workflow running = stored_workflow();
    running.status = WorkflowStatus::kRunning;
    running.start_time.reset();
    Transaction txn = new_db->workflow_store().transaction();
    txn.update_workflow_status(running);
    txn.commit();
  }
  EXPECT_EQ(log_events(tmp / "new").at(1).payload, events[1].payload);
  EXPECT_EQ(old_db->workflow_store().retrieve("wf-89"),
            new_db->workflow_store().retrieve("wf-89"));
  EXPECT_EQ(old_db->workflow_store().retrieve("wf-89").status,
            WorkflowStatus::kRunning);
}

TEST_F(HistoryUpcastTest, Item89NewerSchemaVersionIsRejectedClearly) {
  const TempDir tmp;
  write_store_with(
      tmp / "s",
      encode_event_for_testing(
          EventType::kWorkflowStatusSet, 2, "wf-89",
          encode_payload(WorkflowStatusSet{"wf-89", WorkflowStatus::kRunning,
                                           std::nullopt, std::nullopt})));
  const auto newer = HasSubstr(
      "WorkflowStatusSet: schema version 2 is newer than supported version "
      "1");
  EXPECT_THAT([&] { Database::open(tmp / "s", quiet_options()); },
              ThrowsMessage<CorruptionError>(newer));
  EXPECT_THAT([&] { log_events(tmp / "s"); },
              ThrowsMessage<CorruptionError>(newer));
  // The events before it still read.
  std::vector<Event> before;
  for_each_event(tmp / "s", 0, [&](const Event& event) {
    before.push_back(event);
    return false;
  });
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].type(), EventType::kWorkflowStored);
}

// ---- 90: an engine's run end to end ----

// A small engine driving the store as stabilize's handlers do: each handler
// changes the workflow or one stage and pushes the next messages in one
// transaction under an audit scope naming itself, and marks its delivery
// processed; a worker polls and acks.
class Engine {
 public:
  Engine(Database& db, Queue& queue) : db_(db), queue_(queue) {}

  // Stores `wf` and runs it to its end; the stage with ref `failing_ref`
  // (if any) ends TERMINAL, which ends the workflow TERMINAL.
  void run(const Workflow& wf, std::string_view failing_ref = "") {
    failing_ref_ = failing_ref;
    {
      AuditScope scope({"api-user", wf.id, "", "api"});
      db_.workflow_store().store(wf);
      StartWorkflow start;
      start.execution_id = wf.id;
      queue_.push(start);
    }
    for (;;) {
      AuditScope scope({"worker", wf.id, "", "worker"});
      std::optional<Delivery> d = queue_.poll_one();
      if (!d) break;
      handle(*d);
      queue_.ack(d->id);
    }
  }

 private:
  void handle(const Delivery& d) {
    WorkflowStore& store = db_.workflow_store();
    Workflow wf = store.retrieve(message_execution_id(d.message));
    const std::string handler =
        std::string(message_type_name(d.message)) + "Handler";
    AuditScope scope({"engine", wf.id, d.message_id(), handler});
    Transaction txn = store.transaction(&queue_);
    if (std::holds_alternative<StartWorkflow>(d.message)) {
      wf.status = WorkflowStatus::kRunning;
      wf.start_time = 100;
      txn.update_workflow_status(wf);
      for (StageExecution& s : wf.stages) {
        if (s.requisite_stage_ref_ids.empty()) push_stage<StartStage>(txn, s);
      }
    } else if (const auto* m = std::get_if<StartStage>(&d.message)) {
      StageExecution& s = *wf.find_stage(m->stage_id);
      set_status(s, WorkflowStatus::kRunning);
      txn.store_stage(s);
      push_stage<CompleteStage>(txn, s);
    } else if (const auto* c = std::get_if<CompleteStage>(&d.message)) {
      StageExecution& s = *wf.find_stage(c->stage_id);
      set_status(s, s.ref_id == failing_ref_ ? WorkflowStatus::kTerminal
                                             : WorkflowStatus::kSucceeded);
      txn.store_stage(s);
      push_next(txn, wf, s);
    } else if (std::holds_alternative<CompleteWorkflow>(d.message)) {
      const bool failed = std::any_of(
          wf.stages.begin(), wf.stages.end(),
          [](const auto& s) { return s.status == WorkflowStatus::kTerminal; });
      wf.status =
          failed ? WorkflowStatus::kTerminal : WorkflowStatus::kSucceeded;
      wf.end_time = 200;
      txn.update_workflow_status(wf);
    }
    txn.mark_message_processed(d.message_id(), handler, wf.id);
    txn.commit();
  }

  static void set_status(StageExecution& stage, WorkflowStatus status) {
    stage.status = status;
    for (TaskExecution& task : stage.tasks) task.status = status;
  }

  template <typename M>
  static void push_stage(Transaction& txn, const StageExecution& stage) {
    M message;
    message.execution_id = stage.execution_id;
    message.stage_id = stage.id;
    txn.push_message(message);
  }

  // After `done` completed: its downstream stages whose requisites all
  // succeeded start; the workflow completes when no stage can run any more.
  static void push_next(Transaction& txn, const Workflow& wf,
                        const StageExecution& done) {
    auto succeeded = [&](const std::string& ref) {
      return wf.find_stage_by_ref(ref)->status == WorkflowStatus::kSucceeded;
    };
    bool started = false;
    if (done.status == WorkflowStatus::kSucceeded) {
      for (const StageExecution& s : wf.stages) {
        if (!s.requisite_stage_ref_ids.contains(done.ref_id)) continue;
        if (std::all_of(s.requisite_stage_ref_ids.begin(),
                        s.requisite_stage_ref_ids.end(), succeeded)) {
          push_stage<StartStage>(txn, s);
          started = true;
        }
      }
    }
    const bool running = std::any_of(
        wf.stages.begin(), wf.stages.end(),
        [](const auto& s) { return s.status == WorkflowStatus::kRunning; });
    if (!started && !running) {
      CompleteWorkflow complete;
      complete.execution_id = wf.id;
      txn.push_message(complete);
    }
  }

  Database& db_;
  Queue& queue_;
  std::string failing_ref_;
};

// A workflow of stages "a", "b" (needs a), ... in a line; or the diamond
// a -> (b | c) -> d. Every stage has one task.
Workflow engine_workflow(const std::string& id, bool diamond) {
  Workflow wf =
      testutil::bare_workflow(id, "app", WorkflowStatus::kNotStarted, {});
  const std::vector<std::pair<std::string, std::set<std::string>>> shape =
      diamond
          ? std::vector<std::pair<std::string, std::set<std::string>>>{{"a",
                                                                        {}},
                                                                       {"b",
                                                                        {"a"}},
                                                                       {"c",
                                                                        {"a"}},
                                                                       {"d",
                                                                        {"b",
                                                                         "c"}}}
          : std::vector<std::pair<std::string, std::set<std::string>>>{
                {"a", {}}, {"b", {"a"}}};
  for (const auto& [ref, requisites] : shape) {
    StageExecution s =
        make_stage(id, ref, "shell", ref, WorkflowStatus::kNotStarted);
    s.requisite_stage_ref_ids = requisites;
    s.tasks.push_back(make_task(s.id, 0, ref + " task", "t.Task",
                                WorkflowStatus::kNotStarted));
    wf.stages.push_back(s);
  }
  return wf;
}

// The workflow's events (every event whose envelope names it) of each run.
struct EngineRun {
  TempDir tmp;
  std::unique_ptr<Database> db;
  std::vector<Event> all;

  EngineRun() : db(Database::open(tmp / "s", quiet_options())) {
    Queue queue(*db);
    Engine engine(*db, queue);
    engine.run(engine_workflow("wf-line", false));
    engine.run(engine_workflow("wf-fail", false), "a");
    engine.run(engine_workflow("wf-diamond", true));
    all = log_events(tmp / "s");
  }

  std::vector<Event> of(std::string_view workflow_id) const {
    std::vector<Event> out;
    for (const Event& e : all) {
      if (e.workflow_id == workflow_id) out.push_back(e);
    }
    return out;
  }
};

// The LSN of the event of `events` that `pick` selects; 0 when none does.
template <typename Pick>
std::uint64_t lsn_of(const std::vector<Event>& events, Pick pick) {
  for (const Event& e : events) {
    if (pick(e)) return e.lsn;
  }
  return 0;
}

// The LSN of the StageUpdated that set stage `ref` of `wf` to `status`.
std::uint64_t stage_update(const std::vector<Event>& events,
                           const std::string& wf, const std::string& ref,
                           WorkflowStatus status) {
  return lsn_of(events, [&](const Event& e) {
    const auto* u = std::get_if<StageUpdated>(&e.payload);
    return u != nullptr && u->stage_id == wf + "." + ref && u->status == status;
  });
}

// The LSN of the WorkflowStatusSet that set the workflow's `status`.
std::uint64_t status_set(const std::vector<Event>& events,
                         WorkflowStatus status) {
  return lsn_of(events, [&](const Event& e) {
    const auto* s = std::get_if<WorkflowStatusSet>(&e.payload);
    return s != nullptr && s->status == status;
  });
}

// Stands for the reference's recorder run: WORKFLOW_CREATED < STARTED <
// COMPLETED, STAGE_STARTED/COMPLETED, TASK_COMPLETED, all sequences > 0 and a
// non-empty source_handler. Ours records the state changes themselves
// (WorkflowStored, the StageUpdated of each stage's start and end with its
// task, WorkflowStatusSet at the workflow's start and end), in the same
// commit as the change; there is no recorder to configure, so the
// reference's "no recorder, no events" has no counterpart: a store without
// its log does not exist.
TEST(HistoryItemsTest, Item90EngineRunRecordsEveryChangeInLsnOrder) {
  const EngineRun run;
  const std::vector<Event> events = run.of("wf-line");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type(), EventType::kWorkflowStored);
  const std::uint64_t started = status_set(events, WorkflowStatus::kRunning);
  const std::uint64_t a_running =
      stage_update(events, "wf-line", "a", WorkflowStatus::kRunning);
  const std::uint64_t a_done =
      stage_update(events, "wf-line", "a", WorkflowStatus::kSucceeded);
  const std::uint64_t b_running =
      stage_update(events, "wf-line", "b", WorkflowStatus::kRunning);
  const std::uint64_t b_done =
      stage_update(events, "wf-line", "b", WorkflowStatus::kSucceeded);
  const std::uint64_t completed =
      status_set(events, WorkflowStatus::kSucceeded);
  EXPECT_LT(events.front().lsn, started);
  EXPECT_LT(started, a_running);
  EXPECT_LT(a_running, a_done);
  EXPECT_LT(a_done, b_running);
  EXPECT_LT(b_running, b_done);
  EXPECT_LT(b_done, completed);
  // The task's update travels with its stage's.
  for (const Event& e : events) {
    if (const auto* u = std::get_if<StageUpdated>(&e.payload)) {
      ASSERT_EQ(u->tasks.size(), 1u);
      EXPECT_EQ(u->tasks[0].status, u->status);
    }
  }
  // Every event: an LSN, in increasing order, and the handler that made it.
  std::uint64_t previous = 0;
  for (const Event& e : run.all) {
    EXPECT_GT(e.lsn, previous);
    previous = e.lsn;
    EXPECT_FALSE(e.audit.source.empty()) << event_to_json(e).dump();
  }
  EXPECT_EQ(run.db->workflow_store().retrieve("wf-line").status,
            WorkflowStatus::kSucceeded);
}

// The reference's failing run: TASK_FAILED, STAGE_FAILED, WORKFLOW_FAILED
// and no WORKFLOW_COMPLETED. Ours: the TERMINAL stage (with its task) and
// workflow statuses, and no SUCCEEDED one.
TEST(HistoryItemsTest, Item90FailingRunRecordsTerminalStatuses) {
  const EngineRun run;
  const std::vector<Event> events = run.of("wf-fail");
  const std::uint64_t a_failed =
      stage_update(events, "wf-fail", "a", WorkflowStatus::kTerminal);
  const std::uint64_t failed = status_set(events, WorkflowStatus::kTerminal);
  EXPECT_GT(a_failed, 0u);
  EXPECT_LT(a_failed, failed);
  EXPECT_EQ(status_set(events, WorkflowStatus::kSucceeded), 0u);
  EXPECT_EQ(stage_update(events, "wf-fail", "b", WorkflowStatus::kRunning), 0u);
  EXPECT_EQ(run.db->workflow_store().retrieve("wf-fail").status,
            WorkflowStatus::kTerminal);
}

// The reference's diamond: 4 STAGE_STARTED and 4 STAGE_COMPLETED with the
// right workflow_id. Ours: each stage's start and end update, in the
// diamond's order, in the envelope of its workflow.
TEST(HistoryItemsTest, Item90DiamondRecordsEachStageWithItsWorkflow) {
  const EngineRun run;
  const std::vector<Event> events = run.of("wf-diamond");
  std::size_t updates = 0;
  for (const Event& e : run.all) {
    if (const auto* u = std::get_if<StageUpdated>(&e.payload)) {
      EXPECT_EQ(e.workflow_id, u->execution_id);
      EXPECT_THAT(u->stage_id, ::testing::StartsWith(e.workflow_id + "."));
      if (e.workflow_id == "wf-diamond") ++updates;
    }
  }
  EXPECT_EQ(updates, 8u);
  for (const char* ref : {"a", "b", "c", "d"}) {
    const std::uint64_t start =
        stage_update(events, "wf-diamond", ref, WorkflowStatus::kRunning);
    const std::uint64_t end =
        stage_update(events, "wf-diamond", ref, WorkflowStatus::kSucceeded);
    EXPECT_GT(start, 0u) << ref;
    EXPECT_LT(start, end) << ref;
  }
  const auto done = [&](const char* ref) {
    return stage_update(events, "wf-diamond", ref, WorkflowStatus::kSucceeded);
  };
  const auto start = [&](const char* ref) {
    return stage_update(events, "wf-diamond", ref, WorkflowStatus::kRunning);
  };
  EXPECT_LT(done("a"), start("b"));
  EXPECT_LT(done("a"), start("c"));
  EXPECT_LT(std::max(done("b"), done("c")), start("d"));
  EXPECT_LT(done("d"), status_set(events, WorkflowStatus::kSucceeded));
}

// The reference's EventQuery(workflow_id, event_types=[CREATED, COMPLETED])
// returning exactly 2: ours selects by workflow and two types.
TEST(HistoryItemsTest, Item90QueryByWorkflowAndTwoTypes) {
  const EngineRun run;
  const History history(*run.db);
  EventQuery query;
  query.workflow_id = "wf-line";
  query.types = {EventType::kWorkflowStored, EventType::kWorkflowStatusSet};
  std::vector<Event> expected;
  for (const Event& e : run.of("wf-line")) {
    if (e.type() == EventType::kWorkflowStored ||
        e.type() == EventType::kWorkflowStatusSet)
      expected.push_back(e);
  }
  ASSERT_EQ(expected.size(), 3u);  // stored, started, completed
  EXPECT_EQ(history.events(query), expected);
  EXPECT_EQ(history.count(query), 3u);
  query.limit = 1;
  query.ascending = false;
  EXPECT_EQ(history.events(query), std::vector<Event>{expected.back()});
}

// The reference's "replayed status equals the live status": ours folds the
// workflow's events with the views' fold (time travel); as of its last LSN
// it equals retrieve(), and as of each of its commits it has that commit's
// status.
TEST(HistoryItemsTest, Item90AsOfLastLsnEqualsRetrieve) {
  const EngineRun run;
  const History history(*run.db);
  for (const char* id : {"wf-line", "wf-fail", "wf-diamond"}) {
    const std::vector<Event> events = run.of(id);
    const std::optional<Workflow> as_of =
        history.workflow_as_of(id, events.back().lsn);
    ASSERT_TRUE(as_of.has_value()) << id;
    EXPECT_EQ(*as_of, run.db->workflow_store().retrieve(id)) << id;
    EXPECT_EQ(history.workflow_as_of(id, history.current_lsn()), as_of);
    const std::uint64_t started = status_set(events, WorkflowStatus::kRunning);
    EXPECT_EQ(history.workflow_as_of(id, started)->status,
              WorkflowStatus::kRunning);
    EXPECT_EQ(history.workflow_as_of(id, events.front().lsn)->status,
              WorkflowStatus::kNotStarted);
    EXPECT_EQ(history.workflow_as_of(id, events.front().lsn - 1), std::nullopt);
  }
}

}  // namespace
}  // namespace wfstore
