// The time-travel property (docs/history.md): a seeded random workload over a
// real store (stores and re-stores of deleted ids, stage updates with tasks,
// transactions of several stages with queue pushes, status updates, pause,
// resume, cancel, deletes, added and removed stages, claims, queue push, poll,
// ack, reschedule, dead letters and replays), recording every workflow's
// retrieve() and the queue right after every commit; then the workflow and
// the queue as of EVERY LSN must equal what was recorded for the commit that
// holds it.

#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/history.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "wfstore_internal/store_core.h"
#include "wfstore_internal/views.h"

namespace wfstore::testutil {

// The state right after one commit.
struct RecordedCommit {
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;
  // Every workflow id the workload used so far: retrieve(), or nullopt when
  // it raised NotFoundError.
  std::map<std::string, std::optional<Workflow>> workflows;
  // Queued deliveries by id with their payload's CBOR, dead letters by id
  // with their error.
  std::map<std::uint64_t, std::string> queued;
  std::map<std::uint64_t, std::string> dead_letters;
};

struct TimeTravelRun {
  std::vector<RecordedCommit> commits;  // in LSN order
  std::vector<std::string> workflow_ids;
  std::uint64_t multi_event_commits = 0;
};

// The queue as the views hold it now.
inline void record_queue(Database& db, RecordedCommit& out) {
  const LmdbViews::Snapshot views = store_core(db).read();
  for (std::uint64_t id = 1; id < next_delivery_id(views); ++id) {
    if (std::optional<QueuedMessage> m = find_queued_message(views, id)) {
      out.queued.emplace(id, m->payload_cbor);
    }
  }
  for (const StoredDeadLetter& d :
       list_dead_letters(views, SIZE_MAX, std::nullopt)) {
    out.dead_letters.emplace(d.id, d.error);
  }
}

// Runs `ops` random operations on `db` (its clock: `clock`), recording every
// commit.
inline TimeTravelRun run_time_travel_workload(Database& db, FakeClock& clock,
                                              std::uint32_t seed, int ops) {
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) {
    return static_cast<std::size_t>(rng() % n);
  };
  WorkflowStore& store = db.workflow_store();
  Queue queue(db);
  TimeTravelRun run;
  std::vector<std::string> deleted;
  std::uint64_t pushed = 0;
  std::uint64_t last_pushed = 0;
  const auto random_id = [&]() -> std::string {
    if (run.workflow_ids.empty()) return "none";
    return run.workflow_ids[pick(run.workflow_ids.size())];
  };
  const auto new_workflow = [&](const std::string& id) {
    Workflow wf = bare_workflow(id, fmt::format("app{}", pick(3)),
                                WorkflowStatus::kNotStarted, std::nullopt);
    wf.context = nlohmann::json{{"seed", seed}, {"id", id}};
    for (const char* ref : {"build", "test", "deploy"}) {
      StageExecution stage =
          make_stage(id, ref, "custom", ref, WorkflowStatus::kNotStarted);
      for (int t = 0; t < 2; ++t) {
        stage.tasks.push_back(make_task(stage.id, t, fmt::format("task{}", t),
                                        "Impl", WorkflowStatus::kNotStarted));
      }
      if (!wf.stages.empty()) {
        stage.requisite_stage_ref_ids = {wf.stages.back().ref_id};
      }
      wf.stages.push_back(std::move(stage));
    }
    return wf;
  };
  // A stage of a random workflow, changed.
  const auto changed_stage = [&]() -> StageExecution {
    const Workflow wf = store.retrieve(random_id());
    if (wf.stages.empty()) throw StageNotFoundError(wf.id + ".none");
    StageExecution stage = wf.stages[pick(wf.stages.size())];
    stage.status = static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
    stage.context.mutable_value()["n"] = static_cast<int>(pick(1000));
    stage.start_time = static_cast<std::int64_t>(pick(5000));
    if (!stage.tasks.empty()) {
      stage.tasks[pick(stage.tasks.size())].status =
          static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
    }
    if (pick(4) == 0) {
      stage.tasks.push_back(make_task(stage.id, static_cast<int>(pick(50)) + 2,
                                      "extra", "Impl",
                                      WorkflowStatus::kRunning));
    }
    return stage;
  };

  std::uint64_t last_lsn = db.stats().applied_lsn;
  std::uint64_t last_commits = db.stats().commits;
  for (int i = 0; i < ops; ++i) {
    clock.advance(static_cast<std::int64_t>(1 + pick(50)));
    AuditScope audit({fmt::format("actor-{}", pick(4)),
                      fmt::format("req-{}", i), "", "workload"});
    // The middle operation is a push and the next one moves that message to
    // the dead letters, so every run has dead letters.
    const std::size_t op = i == ops / 2 ? 10 : pick(14);
    try {
      if (i == ops / 2 + 1) {
        queue.move_to_dlq(last_pushed, "failed in the middle");
      } else {
        switch (op) {
          case 0:
          case 1: {
            std::string id;
            if (!deleted.empty() && pick(2) == 0) {
              id = deleted.back();
              deleted.pop_back();
            } else {
              id = fmt::format("wf{}", run.workflow_ids.size());
              run.workflow_ids.push_back(id);
            }
            store.store(new_workflow(id));
            break;
          }
          case 2:
          case 3: {
            StageExecution stage = changed_stage();
            store.store_stage(stage);
            break;
          }
          case 4: {
            const Workflow wf = store.retrieve(random_id());
            Transaction txn = store.transaction();
            for (std::size_t s = 0; s < wf.stages.size() && s < 2; ++s) {
              StageExecution stage = wf.stages[s];
              stage.status = WorkflowStatus::kRunning;
              stage.outputs = nlohmann::json{{"step", i}};
              txn.store_stage(stage);
              txn.push_message(start_stage(wf.id, stage.id));
            }
            Workflow status = wf;
            status.status = WorkflowStatus::kRunning;
            status.start_time = clock.now_ms();
            txn.update_workflow_status(status);
            txn.commit();
            break;
          }
          case 5: {
            Workflow wf = store.retrieve(random_id());
            wf.status = static_cast<WorkflowStatus>(pick(kWorkflowStatusCount));
            wf.end_time = static_cast<std::int64_t>(pick(5000));
            store.update_status(wf);
            break;
          }
          case 6:
            if (pick(2) == 0) {
              store.pause(random_id(), "ops");
            } else {
              store.resume(random_id());
            }
            break;
          case 7:
            if (pick(2) == 0) {
              store.cancel(random_id(), "ops", fmt::format("reason {}", i));
            } else {
              const std::string id = random_id();
              store.delete_workflow(id);
              deleted.push_back(id);
            }
            break;
          case 8: {
            const std::string wf = random_id();
            if (pick(2) == 0) {
              StageExecution stage =
                  bare_stage(wf, fmt::format("{}.x{}", wf, i),
                             fmt::format("x{}", i), "wait");
              stage.tasks.push_back(make_task(stage.id, 0, "wait", "Impl",
                                              WorkflowStatus::kNotStarted));
              store.add_stage(stage);
            } else {
              const Workflow found = store.retrieve(wf);
              if (!found.stages.empty()) {
                store.remove_stage(wf,
                                   found.stages[pick(found.stages.size())].id);
              }
            }
            break;
          }
          case 9: {
            const Workflow wf = store.retrieve(random_id());
            Transaction txn = store.transaction();
            txn.acquire_claim(wf.id, fmt::format("lock{}", pick(2)),
                              wf.stages.empty() ? "none" : wf.stages[0].id,
                              true);
            txn.mark_message_processed(fmt::format("m{}", i), "Handler", wf.id);
            txn.commit();
            break;
          }
          case 10:
          case 11:
            last_pushed =
                queue.push(run_task(random_id(), "s", fmt::format("t{}", i)),
                           std::chrono::milliseconds(pick(3) * 20));
            ++pushed;
            break;
          default: {
            const std::uint64_t id = 1 + rng() % (pushed + 1);
            switch (pick(6)) {
              case 0:
                (void)queue.poll_one();
                break;
              case 1:
                queue.ack(id);
                break;
              case 2:
                // Half of the moves take the newest message, which is most
                // likely still there, so every run has dead letters.
                queue.move_to_dlq(
                    pick(2) == 0 && last_pushed != 0 ? last_pushed : id,
                    fmt::format("failed at {}", i));
                break;
              case 3:
                queue.replay_dlq(id);
                break;
              case 4:
                queue.reschedule(id, std::chrono::milliseconds(pick(100)));
                break;
              default:
                if (pick(10) == 0) queue.clear_dlq();
                break;
            }
            break;
          }
        }
      }
    } catch (const NotFoundError&) {
    } catch (const ConcurrencyError&) {
    } catch (const DuplicateError&) {
    }
    const DatabaseStats stats = db.stats();
    // One commit at most per operation, so the state recorded below is the
    // state right after it.
    EXPECT_LE(stats.commits, last_commits + 1) << "operation " << i;
    last_commits = stats.commits;
    const std::uint64_t lsn = stats.applied_lsn;
    if (lsn == last_lsn) continue;
    RecordedCommit commit;
    commit.first_lsn = last_lsn + 1;
    commit.last_lsn = lsn;
    if (lsn > last_lsn + 1) ++run.multi_event_commits;
    for (const std::string& id : run.workflow_ids) {
      try {
        commit.workflows.emplace(id, store.retrieve(id));
      } catch (const NotFoundError&) {
        commit.workflows.emplace(id, std::nullopt);
      }
    }
    record_queue(db, commit);
    run.commits.push_back(std::move(commit));
    last_lsn = lsn;
  }
  return run;
}

// The recorded commit that holds `lsn` (> 0).
inline const RecordedCommit& commit_holding(const TimeTravelRun& run,
                                            std::uint64_t lsn) {
  const auto it = std::lower_bound(
      run.commits.begin(), run.commits.end(), lsn,
      [](const RecordedCommit& c, std::uint64_t l) { return c.last_lsn < l; });
  return *it;
}

// Checks workflow_as_of for every workflow and queue_as_of at every LSN of
// the run (queue payloads at every `payload_every`-th LSN).
inline void expect_time_travel_matches(Database& db, const TimeTravelRun& run,
                                       std::uint64_t payload_every) {
  ASSERT_FALSE(run.commits.empty());
  // Each operation made at most one commit: the recorded commits tile the log.
  std::uint64_t expected_first = 1;
  for (const RecordedCommit& commit : run.commits) {
    ASSERT_EQ(commit.first_lsn, expected_first);
    expected_first = commit.last_lsn + 1;
  }
  History history(db);
  const std::uint64_t last = run.commits.back().last_lsn;
  ASSERT_EQ(history.current_lsn(), last);
  for (const std::string& id : run.workflow_ids) {
    EXPECT_EQ(history.workflow_as_of(id, 0), std::nullopt) << id;
  }
  EXPECT_TRUE(history.queue_as_of(0).queued.empty());
  for (std::uint64_t lsn = 1; lsn <= last; ++lsn) {
    const RecordedCommit& commit = commit_holding(run, lsn);
    for (const std::string& id : run.workflow_ids) {
      const auto it = commit.workflows.find(id);
      const std::optional<Workflow> expected =
          it == commit.workflows.end() ? std::nullopt : it->second;
      ASSERT_EQ(history.workflow_as_of(id, lsn), expected)
          << id << " as of LSN " << lsn << " (commit " << commit.first_lsn
          << ".." << commit.last_lsn << ")";
    }
    const QueueState queue = history.queue_as_of(lsn);
    EXPECT_EQ(queue.lsn, commit.last_lsn);
    ASSERT_EQ(queue.queued.size(), commit.queued.size()) << "LSN " << lsn;
    ASSERT_EQ(queue.dead_letters.size(), commit.dead_letters.size())
        << "LSN " << lsn;
    if (lsn % payload_every != 0) continue;
    std::map<std::uint64_t, std::string> queued;
    for (const QueuedDeliveryState& d : queue.queued) {
      queued.emplace(d.delivery_id, d.payload.cbor());
    }
    EXPECT_EQ(queued, commit.queued) << "LSN " << lsn;
    std::map<std::uint64_t, std::string> dead;
    for (const DeadLetterState& d : queue.dead_letters) {
      dead.emplace(d.delivery_id, d.error);
    }
    EXPECT_EQ(dead, commit.dead_letters) << "LSN " << lsn;
  }
}

}  // namespace wfstore::testutil
