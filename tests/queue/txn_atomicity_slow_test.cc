// Atomicity of transactions under SIGKILL, with a real child process: the
// child is an engine working through chains of stages, each step one
// transaction (the stage SUCCEEDED + the next stage's StartStage + the dedup
// mark of the delivery) followed by an ack. The parent kills it at random
// moments and, after each kill, reopens the store and checks that every step
// is wholly there or wholly absent, that every step the child saw committed
// is there, and that the views equal a rebuild from the log. A last child
// then runs every workflow to its end.
//
// Knobs: WFSTORE_TXN_CRASH_KILLS (kills per durability mode, default 30; CI
// runs the default), WFSTORE_SEED (reproduce a run).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "store/database_impl.h"
#include "tests/testutil/child_process.h"
#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/views.h"

namespace wfstore {
namespace {

using testutil::ChildProcess;
using testutil::TempDir;

constexpr int kStages = 10;
constexpr const char* kHandler = "TxnCrashEngine";

std::string workflow_id(int k) { return fmt::format("txn-wf-{}", k); }
std::string stage_id(int k, int i) {
  return fmt::format("{}-s{}", workflow_id(k), i);
}

// A chain of kStages stages, one task each, everything NOT_STARTED.
Workflow chain_workflow(int k) {
  Workflow wf;
  wf.id = workflow_id(k);
  wf.application = "txn-crash";
  wf.name = fmt::format("chain-{}", k);
  for (int i = 0; i < kStages; ++i) {
    StageExecution stage = testutil::bare_stage(
        wf.id, stage_id(k, i), fmt::format("step-{}", i), "step");
    stage.name = fmt::format("Step {}", i);
    if (i > 0) stage.requisite_stage_ref_ids = {fmt::format("step-{}", i - 1)};
    TaskExecution task = testutil::make_task(
        stage.id, 0, "run", "crash.NoopTask", WorkflowStatus::kNotStarted);
    task.stage_start = true;
    task.stage_end = true;
    stage.tasks.push_back(std::move(task));
    wf.stages.push_back(std::move(stage));
  }
  return wf;
}

StartStage start_stage(int k, int i) {
  return testutil::start_stage(workflow_id(k), stage_id(k, i));
}

DatabaseOptions store_options(Durability durability) {
  DatabaseOptions options;
  options.durability = durability;
  // A killed child leaves its lease behind; the next one must not wait long.
  options.queue.lease_duration = std::chrono::milliseconds(300);
  // Every kill between poll and ack costs an attempt.
  options.queue.max_attempts = 100000;
  return options;
}

// (workflow, stage) from a stage id made by stage_id().
std::pair<int, int> parse_stage_id(const std::string& id) {
  int k = -1;
  int i = -1;
  if (std::sscanf(id.c_str(), "txn-wf-%d-s%d", &k, &i) != 2) {
    throw std::runtime_error("not a chain stage id: " + id);
  }
  return {k, i};
}

// The child: polls, handles each StartStage in one transaction, reports
// "k i delivery" once the commit returned, then acks. Returns when the queue
// is empty; with a `budget`, once it committed that many steps it reports
// "idle" and waits to be killed instead, so that a kill never finds it gone
// however late it comes, and the steps left for later children are known.
void run_engine(const std::filesystem::path& dir, Durability durability,
                int report_fd, std::optional<int> budget = std::nullopt) {
  auto db = Database::open(dir, store_options(durability));
  WorkflowStore& store = db->workflow_store();
  {
    Queue queue(*db);
    for (int steps = 0;;) {
      if (budget && steps == *budget) {
        testutil::report_line(report_fd, "idle");
        for (;;) pause();
      }
      std::optional<Delivery> delivery =
          queue.poll_one(std::chrono::milliseconds(100));
      if (!delivery) {
        if (queue.size() == 0) break;
        continue;
      }
      const std::string message_id = delivery->message_id();
      // A redelivery of a step that committed before a kill: only the ack is
      // left to do.
      if (store.is_message_processed(message_id)) {
        queue.ack(delivery->id);
        continue;
      }
      const auto& start = std::get<StartStage>(delivery->message);
      const std::pair<int, int> position = parse_stage_id(start.stage_id);
      const int k = position.first;
      const int i = position.second;
      StageInExecution found = store.retrieve_stage(start.stage_id);
      StageExecution& stage = found.stage();
      stage.status = WorkflowStatus::kSucceeded;
      stage.end_time = 1700000000000 + i;
      stage.outputs = Json(nlohmann::json{{"delivery", message_id}});
      for (TaskExecution& task : stage.tasks) {
        task.status = WorkflowStatus::kSucceeded;
      }
      Workflow& wf = found.execution;
      wf.status = WorkflowStatus::kSucceeded;
      wf.end_time = 1700000000000 + kStages;
      run_transaction(store, &queue, [&](Transaction& txn) {
        txn.store_stage(stage, "NOT_STARTED");
        if (i + 1 < kStages) {
          txn.push_message(start_stage(k, i + 1));
        } else {
          txn.update_workflow_status(wf);
        }
        txn.mark_message_processed(message_id, kHandler, workflow_id(k));
      });
      ++steps;
      testutil::report_line(report_fd,
                            fmt::format("{} {} {}", k, i, message_id));
      queue.ack(delivery->id);
    }
  }
  db->close();
}

// One step the child reported committed.
struct Acked {
  int k = 0;
  int i = 0;
  std::string delivery;
};

Acked parse_acked(const std::string& line) {
  Acked a;
  std::istringstream in(line);
  in >> a.k >> a.i >> a.delivery;
  return a;
}

struct QueuedStart {
  std::string delivery;
  std::int64_t attempts = 0;
  bool leased = false;
};

// What check_store() saw.
struct StoreCounts {
  int succeeded_stages = 0;
  int completed_workflows = 0;
  std::uint64_t queue_size = 0;
  int leased = 0;
  int redeliverable_done = 0;  // committed steps whose ack was lost
};

// Reopens the store in `dir` (recovery) and checks every invariant of the
// engine's steps; then, closed, that the views equal a rebuild of the log.
StoreCounts check_store(const std::filesystem::path& dir, Durability durability,
                        int workflows, const std::vector<Acked>& acked) {
  StoreCounts counts;
  {
    auto db = Database::open(dir, store_options(durability));
    WorkflowStore& store = db->workflow_store();
    // Every queued delivery, by the stage it starts; the processed ids.
    std::map<std::string, std::vector<QueuedStart>> queued;
    std::vector<std::string> processed;
    {
      const LmdbViews::Snapshot views = database_impl(*db).views().begin_read();
      const std::uint64_t next_id = next_delivery_id(views);
      std::uint64_t found = 0;
      for (std::uint64_t id = 1; id < next_id; ++id) {
        const std::optional<QueuedMessage> m = find_queued_message(views, id);
        if (!m) continue;
        ++found;
        EXPECT_EQ(m->message_type, "StartStage") << "delivery " << id;
        const Message message = message_from_wire(
            m->message_type,
            Json::from_cbor(m->payload_cbor, "payload").value());
        QueuedStart q;
        q.delivery = std::to_string(id);
        q.attempts = m->attempts;
        q.leased = m->lease_until.has_value();
        // A leased delivery was polled: it counted an attempt.
        EXPECT_GE(q.attempts, q.leased ? 1 : 0) << "delivery " << id;
        counts.leased += q.leased ? 1 : 0;
        queued[std::string(message_stage_id(message))].push_back(q);
      }
      counts.queue_size = queue_size(views);
      EXPECT_EQ(counts.queue_size, found);
      EXPECT_EQ(dead_letter_count(views), 0u);
      processed = processed_message_ids(views, std::nullopt);
    }

    std::set<std::string> succeeded_deliveries;
    for (int k = 0; k < workflows; ++k) {
      SCOPED_TRACE(workflow_id(k));
      const Workflow wf = store.retrieve(workflow_id(k));
      if (wf.stages.size() != static_cast<std::size_t>(kStages)) {
        ADD_FAILURE() << wf.stages.size() << " stages";
        continue;
      }
      for (int i = 0; i < kStages; ++i) {
        SCOPED_TRACE(fmt::format("stage {}", i));
        const StageExecution& stage = wf.stages[static_cast<std::size_t>(i)];
        const bool succeeded = stage.status == WorkflowStatus::kSucceeded;
        const bool started =
            i == 0 || wf.stages[static_cast<std::size_t>(i) - 1].status ==
                          WorkflowStatus::kSucceeded;
        const std::vector<QueuedStart>& mine = queued[stage.id];
        if (succeeded) {
          ++counts.succeeded_stages;
          EXPECT_TRUE(started) << "a stage succeeded before its predecessor";
          EXPECT_EQ(stage.version, 1);
          EXPECT_EQ(stage.tasks.at(0).status, WorkflowStatus::kSucceeded);
          const nlohmann::json& outputs = stage.outputs.value();
          const std::string delivery = outputs.value("delivery", "");
          EXPECT_FALSE(delivery.empty()) << outputs.dump();
          succeeded_deliveries.insert(delivery);
          // The stage change and its dedup mark went together.
          EXPECT_TRUE(store.is_message_processed(delivery)) << delivery;
          // Still queued only when the ack was lost, as the same delivery.
          EXPECT_LE(mine.size(), 1u);
          for (const QueuedStart& q : mine) {
            EXPECT_EQ(q.delivery, delivery);
            ++counts.redeliverable_done;
          }
        } else {
          EXPECT_EQ(stage.version, 0);
          EXPECT_EQ(stage.tasks.at(0).status, WorkflowStatus::kNotStarted);
          // Exactly one StartStage once the predecessor committed, none before;
          // never marked processed.
          EXPECT_EQ(mine.size(), started ? 1u : 0u);
          for (const QueuedStart& q : mine) {
            EXPECT_FALSE(store.is_message_processed(q.delivery)) << q.delivery;
          }
        }
        // ... and the next stage's StartStage went with them: queued, leased
        // or already handled.
        if (i + 1 < kStages) {
          const StageExecution& next =
              wf.stages[static_cast<std::size_t>(i) + 1];
          const bool next_exists = !queued[next.id].empty() ||
                                   next.status == WorkflowStatus::kSucceeded;
          EXPECT_EQ(succeeded, next_exists);
        } else {
          EXPECT_EQ(succeeded, wf.status == WorkflowStatus::kSucceeded);
          if (succeeded) ++counts.completed_workflows;
        }
      }
    }
    // No dedup mark without its stage change.
    EXPECT_EQ(std::set<std::string>(processed.begin(), processed.end()),
              succeeded_deliveries);
    EXPECT_EQ(processed.size(), succeeded_deliveries.size());

    // Every step the child saw committed survived.
    for (const Acked& a : acked) {
      const StageInExecution s = store.retrieve_stage(stage_id(a.k, a.i));
      EXPECT_EQ(s.stage().status, WorkflowStatus::kSucceeded)
          << "acknowledged step " << stage_id(a.k, a.i) << " lost";
      EXPECT_EQ(s.stage().outputs.value().value("delivery", ""), a.delivery);
    }
    db->close();
  }
  const ViewsVerifyReport verify = verify_store_views(dir);
  EXPECT_TRUE(verify.equal()) << ::testing::PrintToString(verify.differences);
  return counts;
}

void run_crash_loop(Durability durability) {
  const TempDir dir;
  const std::uint32_t seed = testutil::random_seed();
  const long kills = testutil::env_knob("WFSTORE_TXN_CRASH_KILLS", 30);
  // A child killed after w reported steps may commit kStepMargin more before
  // it idles (however late the kill comes: a busy machine), so the kills
  // consume at most kills * (4 + kStepMargin) steps; the workflows hold more,
  // and the last child completes the rest.
  constexpr int kMaxWaitSteps = 4;
  constexpr int kStepMargin = 40;
  const int workflows = static_cast<int>(
      std::max(40L, kills * (kMaxWaitSteps + kStepMargin) / kStages + 5));
  std::mt19937 rng(seed);
  {
    auto db = Database::open(dir.path(), store_options(durability));
    {
      Queue queue(*db);
      for (int k = 0; k < workflows; ++k) {
        db->workflow_store().store(chain_workflow(k));
        queue.push(start_stage(k, 0));
      }
    }
    db->close();
  }
  std::vector<Acked> acked;
  int killed_mid_step = 0;
  int lost_acks = 0;
  for (long round = 0; round < kills; ++round) {
    SCOPED_TRACE(fmt::format("kill {}, seed {}", round, seed));
    // Kill after 0-4 reported steps plus 0-1 ms: during open, inside a
    // transaction (a sync step takes milliseconds), between commit and ack,
    // while polling.
    const int wait_steps =
        std::uniform_int_distribution<int>(0, kMaxWaitSteps)(rng);
    const int wait_us = std::uniform_int_distribution<int>(0, 1000)(rng);
    ChildProcess child = ChildProcess::spawn([&](int fd) {
      run_engine(dir.path(), durability, fd, wait_steps + kStepMargin);
    });
    // "idle" comes only after wait_steps + kStepMargin steps.
    ASSERT_NO_FATAL_FAILURE(testutil::kill_after_lines(
        child, wait_steps, std::chrono::microseconds(wait_us),
        [&](const std::string& line) {
          if (line != "idle") acked.push_back(parse_acked(line));
        }));
    const StoreCounts counts =
        check_store(dir.path(), durability, workflows, acked);
    if (::testing::Test::HasFailure()) return;
    killed_mid_step += counts.leased > 0 ? 1 : 0;
    lost_acks += counts.redeliverable_done > 0 ? 1 : 0;
  }
  // The last child runs every workflow to its end.
  ChildProcess last = ChildProcess::spawn(
      [&](int fd) { run_engine(dir.path(), durability, fd); });
  for (const std::string& line : last.drain()) {
    acked.push_back(parse_acked(line));
  }
  const int status = last.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << testutil::describe_wait_status(status);
  const StoreCounts counts =
      check_store(dir.path(), durability, workflows, acked);
  EXPECT_EQ(counts.completed_workflows, workflows);
  EXPECT_EQ(counts.succeeded_stages, workflows * kStages);
  EXPECT_EQ(counts.queue_size, 0u);
  EXPECT_GT(killed_mid_step, 0) << "no kill left a leased delivery behind";
  std::fprintf(stderr,
               "%ld kills (%d left a lease, %d a committed step unacked), "
               "%zu steps reported committed, %d workflows completed\n",
               kills, killed_mid_step, lost_acks, acked.size(), workflows);
}

TEST(TxnAtomicitySlowTest, SigkillInSyncModeLeavesEachStepWholeOrAbsent) {
  run_crash_loop(Durability::kSync);
}

TEST(TxnAtomicitySlowTest, SigkillInBufferedModeLeavesEachStepWholeOrAbsent) {
  run_crash_loop(Durability::kBuffered);
}

}  // namespace
}  // namespace wfstore
