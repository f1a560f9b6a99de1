// The standard workload of bench/workload.md, phase by phase, each answer
// checked; then the queue's push and poll+ack phases.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "wfstore/transaction.h"

#include "bench/store_bench.h"

namespace wfstore::bench {
namespace {

nlohmann::json stage_outputs(std::uint64_t k, int i) {
  return {{"result", fmt::format("ok-{}-{}", k, i)},
          {"last_stage", i},
          {"items", {fmt::format("item-{}", i)}}};
}

nlohmann::json expected_ancestor_outputs(std::uint64_t k) {
  nlohmann::json items = nlohmann::json::array();
  for (int i = 0; i < kStages - 1; ++i)
    items.push_back(fmt::format("item-{}", i));
  return {{"result", fmt::format("ok-{}-{}", k, kStages - 2)},
          {"last_stage", kStages - 2},
          {"items", items}};
}

void check_workflow(const Workflow& wf, const std::string& id) {
  expect(wf.id == id, "retrieve {}: got id {}", id, wf.id);
  expect(wf.stages.size() == kStages, "workflow {}: {} stages, expected {}", id,
         wf.stages.size(), kStages);
  for (const StageExecution& stage : wf.stages) {
    expect(stage.tasks.size() == 1, "stage {}: {} tasks, expected 1", stage.id,
           stage.tasks.size());
  }
}

}  // namespace

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

std::uint64_t thread_minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return static_cast<std::uint64_t>(usage.ru_minflt);
}

double page_fault_us() {
  constexpr std::size_t kPages = 4096;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<double> runs;
  for (int run = 0; run < 3; ++run) {
    void* map = ::mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return 0;
    volatile char* bytes = static_cast<char*>(map);
    const auto start = SteadyClock::now();
    for (std::size_t i = 0; i < kPages; ++i) bytes[i * page] = 1;
    runs.push_back(
        std::chrono::duration<double, std::micro>(SteadyClock::now() - start)
            .count() /
        static_cast<double>(kPages));
    ::munmap(map, kPages * page);
  }
  std::sort(runs.begin(), runs.end());
  return runs[1];
}

Phase timed(Database& db, const std::string& name, std::uint64_t ops,
            const std::function<void()>& body) {
  const DatabaseStats before = db.stats();
  const std::uint64_t faults_start = thread_minor_faults();
  const double cpu_start = thread_cpu_seconds();
  const auto start = SteadyClock::now();
  body();
  const double cpu_end = thread_cpu_seconds();
  Phase phase;
  phase.minor_faults = thread_minor_faults() - faults_start;
  phase.name = name;
  phase.n = ops;
  phase.seconds =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  phase.cpu_seconds = cpu_end - cpu_start;
  const DatabaseStats after = db.stats();
  phase.commits = after.commits - before.commits;
  if (phase.commits > 0) {
    phase.log_bytes_per_commit =
        static_cast<double>(after.bytes_appended - before.bytes_appended) /
        static_cast<double>(phase.commits);
  }
  return phase;
}

std::string workflow_id(std::uint64_t k) { return fmt::format("wf-{}", k); }

Workflow build_workflow(std::uint64_t k) {
  Workflow wf;
  wf.id = workflow_id(k);
  wf.application = fmt::format("app-{}", k % kApplications);
  wf.name = fmt::format("bench-workflow-{}", k);
  wf.context =
      Json(nlohmann::json{{"env", k % 2 == 0 ? "prod" : "staging"},
                          {"region", fmt::format("region-{}", k % 4)},
                          {"owner", fmt::format("user-{}", k % 50)},
                          {"priority", k % 5},
                          {"retries", 3},
                          {"timeout_s", 300},
                          {"dry_run", false},
                          {"tags", {"bench", fmt::format("batch-{}", k % 20)}},
                          {"version", "1.0.0"},
                          {"seq", k}});
  for (int i = 0; i < kStages; ++i) {
    StageExecution stage;
    stage.id = fmt::format("{}-s{}", wf.id, i);
    stage.execution_id = wf.id;
    stage.type = "bench";
    stage.name = fmt::format("Stage {}", i);
    stage.ref_id = fmt::format("stage-{}", i);
    stage.context =
        Json(nlohmann::json{{"stage_index", i},
                            {"timeout_s", 30},
                            {"command", fmt::format("echo {}-{}", k, i)}});
    if (i > 0) stage.requisite_stage_ref_ids = {fmt::format("stage-{}", i - 1)};
    TaskExecution task;
    task.id = stage.id + "-t";
    task.name = fmt::format("task-{}", i);
    task.implementing_class = "bench.NoopTask";
    task.stage_start = true;
    task.stage_end = true;
    stage.tasks.push_back(std::move(task));
    wf.stages.push_back(std::move(stage));
  }
  return wf;
}

Message start_stage(const Workflow& wf, int stage) {
  StartStage start;
  start.execution_id = wf.id;
  start.stage_id = wf.stages.at(static_cast<std::size_t>(stage)).id;
  return start;
}

// Checks that `delivery` is the StartStage of `stage` of `wf`.
void check_delivery(const std::optional<Delivery>& delivery, const Workflow& wf,
                    int stage) {
  expect(delivery.has_value(), "poll: no delivery, expected stage {} of {}",
         stage, wf.id);
  expect(delivery->message == start_stage(wf, stage),
         "poll: delivery {} is not stage {} of {}", delivery->id, stage, wf.id);
}

std::vector<Phase> run_phases(Database& db, Queue& queue, Workload& w) {
  WorkflowStore& store = db.workflow_store();
  const std::uint64_t n = w.n;
  const std::uint64_t ancestors = std::min<std::uint64_t>(500, n);
  std::vector<Phase> phases;
  phases.push_back(timed(db, "store", n, [&] {
    for (const Workflow& wf : w.workflows) store.store(wf);
  }));
  expect(phases.back().commits == n, "store: {} commits, expected {}",
         phases.back().commits, n);
  phases.back().check = "one commit per workflow, each read back by retrieve";
  phases.push_back(timed(db, "retrieve", n, [&] {
    for (std::uint64_t k = 0; k < n; ++k) {
      check_workflow(store.retrieve(workflow_id(k)), workflow_id(k));
    }
  }));
  phases.back().check = "each workflow's id, 10 stages of one task each";
  phases.push_back(timed(db, "stage_update", n * kStages, [&] {
    for (std::uint64_t k = 0; k < n; ++k) {
      for (int i = 0; i < kStages; ++i) {
        StageExecution& stage =
            w.workflows[k].stages[static_cast<std::size_t>(i)];
        stage.status = WorkflowStatus::kRunning;
        stage.start_time = kBaseMs + static_cast<std::int64_t>(k) * 100 + i;
        stage.outputs = Json(stage_outputs(k, i));
        store.store_stage(stage, "NOT_STARTED");
        expect(stage.version == 1,
               "stage {}: version {} after update, expected 1", stage.id,
               stage.version);
      }
    }
  }));
  phases.back().check = "each stage at version 1; outputs read by ancestors";
  phases.push_back(timed(db, "txn", n, [&] {
    for (std::uint64_t k = 0; k < n; ++k) {
      Workflow& wf = w.workflows[k];
      StageExecution& stage = wf.stages[0];
      stage.status = WorkflowStatus::kSucceeded;
      stage.end_time = kBaseMs + static_cast<std::int64_t>(k) * 100 + 1000;
      Transaction txn = store.transaction(&queue);
      txn.store_stage(stage, "RUNNING");
      txn.push_message(start_stage(wf, 1));
      txn.commit();
      expect(stage.version == 2, "stage {}: version {} after txn, expected 2",
             stage.id, stage.version);
    }
    expect(queue.size() == n, "txn: queue size {}, expected {}", queue.size(),
           n);
  }));
  phases.back().check =
      "stage_0 at version 2; queue size N; each message polled";
  phases.push_back(timed(db, "query", n, [&] {
    std::uint64_t total = 0;
    for (int a = 0; a < kApplications; ++a) {
      for (const Workflow& wf :
           store.retrieve_by_application(fmt::format("app-{}", a))) {
        check_workflow(wf, wf.id);
        ++total;
      }
    }
    expect(total == n, "query: {} workflows, expected {}", total, n);
  }));
  phases.back().check = "N workflows in all, 10 stages of one task each";
  // The answers are checked after the clock stops: building the expected
  // document costs about as much as the call (stabilize's run does the same).
  std::vector<std::string> ancestor_ids;
  ancestor_ids.reserve(ancestors);
  for (std::uint64_t k = 0; k < ancestors; ++k) {
    ancestor_ids.push_back(workflow_id(k));
  }
  std::vector<nlohmann::json> merged(ancestors);
  phases.push_back(timed(db, "ancestors", ancestors, [&] {
    for (std::uint64_t k = 0; k < ancestors; ++k) {
      merged[k] = store.get_merged_ancestor_outputs(ancestor_ids[k], "stage-9");
    }
  }));
  for (std::uint64_t k = 0; k < ancestors; ++k) {
    expect(merged[k] == expected_ancestor_outputs(k), "ancestors of {}: got {}",
           ancestor_ids[k], merged[k].dump());
  }
  phases.back().check =
      "each answer equals the workload's expected merge (checked after the "
      "clock stops)";
  phases.push_back(timed(db, "dedup_mark", w.dedup, [&] {
    for (std::uint64_t j = 0; j < w.dedup; ++j) {
      store.mark_message_processed(fmt::format("dedup-msg-{}", j),
                                   "BenchHandler", workflow_id(j % n));
    }
  }));
  expect(phases.back().commits == w.dedup,
         "dedup_mark: {} commits, expected {}", phases.back().commits, w.dedup);
  phases.back().check = "one commit per id; each id read back by dedup_check";
  phases.push_back(timed(db, "dedup_check", w.dedup, [&] {
    for (std::uint64_t j = 0; j < w.dedup; ++j) {
      expect(store.is_message_processed(fmt::format("dedup-msg-{}", j)),
             "dedup-msg-{} is not processed", j);
    }
  }));
  phases.back().check = "every id processed";
  // Beyond the standard workload: the queue on its own. N more pushes (stage_2
  // of each workflow), then every delivery polled and acked in FIFO order:
  // the txn phase's N, then these N.
  phases.push_back(timed(db, "queue_push", n, [&] {
    for (std::uint64_t k = 0; k < n; ++k)
      queue.push(start_stage(w.workflows[k], 2));
    expect(queue.size() == 2 * n, "queue_push: queue size {}, expected {}",
           queue.size(), 2 * n);
  }));
  phases.back().check = "queue size 2N; each message polled in FIFO order";
  phases.push_back(timed(db, "queue_poll_ack", 2 * n, [&] {
    for (std::uint64_t j = 0; j < 2 * n; ++j) {
      const std::optional<Delivery> delivery = queue.poll_one();
      check_delivery(delivery, w.workflows[j % n], j < n ? 1 : 2);
      queue.ack(delivery->id);
    }
    expect(queue.size() == 0, "queue_poll_ack: {} left in the queue",
           queue.size());
  }));
  phases.back().check = "each delivery the expected message, FIFO; queue empty";
  const Durability lease_durability = db.options().queue.lease_durability;
  for (Phase& phase : phases) {
    const Durability d = phase.name == "queue_poll_ack"
                             ? lease_durability
                             : db.options().durability;
    phase.synced = phase.commits > 0 && d == Durability::kSync;
  }
  return phases;
}

}  // namespace wfstore::bench
