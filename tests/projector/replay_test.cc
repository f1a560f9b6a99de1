// Unit tests of replay (wfstore_internal/replay.h): a workflow's own events,
// folded into fresh in-memory views, give exactly the workflow the views of
// the whole log hold, after every command of a seeded sequence that
// interleaves several workflows; the queue's events alone give the queue and
// dead letters of the whole log; one event at a time, a WorkflowReplay shows
// each intermediate state.

#include "wfstore_internal/replay.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/projector/state_machine_harness.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/commands.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using testutil::Harness;

std::vector<Event> events_of(const std::vector<Event>& log,
                             const std::string& workflow_id) {
  std::vector<Event> out;
  for (const Event& event : log) {
    if (event.workflow_id == workflow_id) out.push_back(event);
  }
  return out;
}

std::vector<Event> queue_events(const std::vector<Event>& log) {
  std::vector<Event> out;
  for (const Event& event : log) {
    if (std::find(kQueueEventTypes.begin(), kQueueEventTypes.end(),
                  event.type()) != kQueueEventTypes.end()) {
      out.push_back(event);
    }
  }
  return out;
}

// Applies `command` to the harness, swallowing the rejections a random
// sequence meets (a missing id, a stale version, a duplicate).
void try_apply(Harness& h, const Command& command) {
  try {
    h.apply(command);
  } catch (const NotFoundError&) {
  } catch (const ConcurrencyError&) {
  } catch (const DuplicateError&) {
  } catch (const InvalidArgumentError&) {
  }
}

// A random command on workflows w0..w2 and deliveries below
// `next_delivery`.
Command random_command(std::mt19937& rng, int i, std::uint64_t next_delivery) {
  auto pick = [&](int n) {
    return static_cast<int>(rng() % static_cast<std::uint32_t>(n));
  };
  const std::uint64_t delivery = 1 + rng() % next_delivery;
  const std::string wf = "w" + std::to_string(pick(3));
  static constexpr const char* kRefs[] = {"setup", "build_linux", "deploy",
                                          "deploy_verify"};
  const std::string stage_id = wf + "." + kRefs[pick(4)];
  switch (pick(10)) {
    case 0:
      if (pick(3) == 0) return DeleteWorkflow{wf};
      return StoreWorkflow{testutil::diamond_workflow(wf)};
    case 1: {
      UpdateStatus u;
      u.workflow_id = wf;
      u.status = static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
      u.start_time = pick(5) * 1000;
      return u;
    }
    case 2:
      return pick(2) == 0 ? Command(Pause{wf, "p"}) : Command(Resume{wf});
    case 3:
      return Cancel{wf, "c", "r" + std::to_string(i)};
    case 4: {
      StageExecution s =
          testutil::bare_stage(wf, wf + ".x" + std::to_string(pick(3)),
                               "x" + std::to_string(pick(3)), "custom");
      s.requisite_stage_ref_ids = {"deploy"};
      return StoreStage{s, std::nullopt};
    }
    case 5:
      return RemoveStage{wf, wf + ".x" + std::to_string(pick(3))};
    case 6:
      return PushMessage{testutil::start_stage(wf, stage_id),
                         std::int64_t{10} * pick(3)};
    case 7:
      return LeaseNext{100, 2};
    case 8:
      switch (pick(10)) {
        case 0:
          return AckMessage{delivery};
        case 1:
          return MoveToDeadLetters{delivery, "boom"};
        case 2:
          return ReplayDeadLetter{delivery};
        case 3:
        case 4:
        case 5:
          return MoveToDeadLetters{delivery, "late"};
        case 6:
        case 7:
        case 8:
          return AckMessage{delivery};
        default:
          return pick(2) == 0 ? Command(ClearQueue{})
                              : Command(ClearDeadLetters{});
      }
    default: {
      StageExecution s = testutil::make_stage(wf, kRefs[pick(4)], "custom", "n",
                                              WorkflowStatus::kRunning);
      s.version = pick(3);
      s.context = nlohmann::json{{"i", i}};
      s.tasks = {testutil::make_task(s.id, 0, "t", "Impl",
                                     WorkflowStatus::kSucceeded)};
      return StoreStage{s, std::nullopt};
    }
  }
}

std::vector<std::uint64_t> queued_ids(const ViewReader& views) {
  std::vector<std::uint64_t> ids;
  for (std::uint64_t id = 1; id < next_delivery_id(views); ++id) {
    if (find_queued_message(views, id)) ids.push_back(id);
  }
  return ids;
}

TEST(ReplayTest, AWorkflowsOwnEventsGiveTheWholeLogsWorkflowAfterEveryCommand) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  Harness h;
  for (int i = 0; i < 3; ++i) {
    h.apply(StoreWorkflow{testutil::diamond_workflow("w" + std::to_string(i))});
  }
  int present = 0;
  for (int i = 0; i < 300; ++i) {
    try_apply(h, random_command(rng, i, next_delivery_id(h.views)));
    h.now_ms += 7;
    for (int w = 0; w < 3; ++w) {
      const std::string id = "w" + std::to_string(w);
      const std::optional<Workflow> expected =
          load_workflow(h.views, id, /*with_stages=*/true);
      present += expected ? 1 : 0;
      ASSERT_EQ(replay_workflow(events_of(h.log, id), id), expected)
          << id << " after command " << i;
    }
  }
  EXPECT_GT(present, 300);  // the workflows mostly exist
  EXPECT_EQ(replay_workflow({}, "w0"), std::nullopt);
}

TEST(ReplayTest, TheQueuesEventsAloneGiveItsDeliveriesAndDeadLetters) {
  const std::uint32_t seed = testutil::random_seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  Harness h;
  h.apply(StoreWorkflow{testutil::diamond_workflow("w0")});
  std::size_t most_queued = 0;
  std::size_t most_dead = 0;
  // Checks the replayed queue against the views after command `i`.
  const auto check = [&](int i) {
    const ReplayedQueue queue = replay_queue(queue_events(h.log));
    const std::vector<std::uint64_t> ids = queued_ids(h.views);
    ASSERT_EQ(queue.queued.size(), ids.size()) << "after command " << i;
    ASSERT_EQ(queue.queued.size(), queue_size(h.views));
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const std::optional<QueuedMessage> m =
          find_queued_message(h.views, ids[k]);
      const QueuedMessage& r = queue.queued[k];
      ASSERT_EQ(r.delivery_id, ids[k]);
      EXPECT_EQ(r.payload_cbor, m->payload_cbor);
      EXPECT_EQ(r.message_type, m->message_type);
      EXPECT_EQ(r.attempts, m->attempts);
      EXPECT_EQ(r.lease_until, m->lease_until);
      EXPECT_EQ(r.deliver_at, m->deliver_at);
    }
    ASSERT_EQ(queue.dead_letters.size(), dead_letter_count(h.views));
    std::vector<StoredDeadLetter> letters =
        list_dead_letters(h.views, 1000, std::nullopt);
    std::sort(letters.begin(), letters.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    for (std::size_t k = 0; k < letters.size(); ++k) {
      EXPECT_EQ(queue.dead_letters[k].id, letters[k].id);
      EXPECT_EQ(queue.dead_letters[k].error, letters[k].error);
      EXPECT_EQ(queue.dead_letters[k].payload_cbor, letters[k].payload_cbor);
    }
    most_queued = std::max(most_queued, ids.size());
    most_dead = std::max(most_dead, letters.size());
  };
  int i = 0;
  for (; i < 300; ++i) {
    try_apply(h, random_command(rng, i, next_delivery_id(h.views)));
    h.now_ms += 40;
    check(i);
    if (HasFatalFailure()) return;
  }
  // A random sequence may dead-letter nothing; this tail always does.
  const std::uint64_t delivery = next_delivery_id(h.views);
  for (const Command& command :
       {Command(PushMessage{testutil::start_stage("w0", "w0.setup"), 0}),
        Command(MoveToDeadLetters{delivery, "tail"})}) {
    h.apply(command);
    check(i++);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(most_queued, 2u);
  EXPECT_GT(most_dead, 0u);
}

TEST(ReplayTest, OneEventAtATimeShowsEachIntermediateState) {
  Harness h;
  h.apply(StoreWorkflow{testutil::diamond_workflow("wf")});
  const Workflow wf = std::get<WorkflowStored>(h.log.at(0).payload).workflow;
  const StageExecution& setup = wf.stages.at(0);
  h.apply(Pause{"wf", "ops"});
  h.apply(RemoveStage{"wf", setup.id});

  WorkflowReplay replay("wf");
  EXPECT_EQ(replay.workflow(), std::nullopt);
  replay.apply(h.log.at(0));
  ASSERT_TRUE(replay.summary());
  EXPECT_TRUE(replay.summary()->stages.empty());
  EXPECT_EQ(replay.workflow(), wf);
  EXPECT_EQ(replay.stage(setup.id), setup);
  replay.apply(h.log.at(1));
  EXPECT_EQ(replay.summary()->status, WorkflowStatus::kPaused);
  replay.apply(h.log.at(2));
  EXPECT_EQ(replay.stage(setup.id), std::nullopt);
  EXPECT_EQ(replay.workflow()->stages.size(), wf.stages.size() - 1);
  EXPECT_EQ(replay.workflow(), load_workflow(h.views, "wf", true));
}

}  // namespace
}  // namespace wfstore
