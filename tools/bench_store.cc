// `wfstore bench`: the standard workload of bench/workload.md phase by phase,
// each phase checked and set beside the raw loop that bounds it (DESIGN.md
// "Performance"), then the queue's push and poll+ack throughput and its
// blocking-poll wake-up latency, commit throughput by thread count and the
// rebuild rate.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "wfstore/database.h"
#include "wfstore/maintenance.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

#include "tools/bench.h"
#include "wfstore_internal/lmdb_raw_bench.h"
#include "wfstore_internal/view_records.h"

#ifndef WFSTORE_VERSION
#define WFSTORE_VERSION "unknown"
#endif

namespace wfstore::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace records = wfstore::records;

constexpr std::int64_t kBaseMs = 1700000000000;
constexpr int kStages = 10;
constexpr int kApplications = 10;
constexpr std::uint64_t kDedupIds = 10000;
// Longest a raw bound loop runs; it stops earlier after the phase's op count.
constexpr double kBoundSeconds = 1.0;

// A phase's answer was wrong: the bench fails.
class CheckFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void expect(bool ok, const std::string& what) {
  if (!ok) throw CheckFailed(what);
}

struct Phase {
  std::string name;
  std::uint64_t n = 0;
  double seconds = 0;
  // CPU time of the thread that ran the phase (the committing thread leads
  // every group): steadier than `seconds` on a loaded machine.
  double cpu_seconds = 0;
  double bound = 0;  // raw ops/s; 0 until measured
  double gate = 0;   // the least ratio DESIGN.md accepts
  // Commits the phase made (0 for a read phase) and the log bytes each
  // appended on average, to shape its raw loop.
  std::uint64_t commits = 0;
  double log_bytes_per_commit = 0;
  // Whether each commit waited for its fdatasync (sync-mode writes; leases and
  // acks follow QueueOptions::lease_durability).
  bool synced = false;

  double commits_per_op() const {
    return n > 0 ? static_cast<double>(commits) / static_cast<double>(n) : 0;
  }
  double ops_per_sec() const {
    return seconds > 0 ? static_cast<double>(n) / seconds : 0;
  }
  double ratio() const { return bound > 0 ? ops_per_sec() / bound : 0; }
  double cpu_us_per_op() const {
    return n > 0 ? 1e6 * cpu_seconds / static_cast<double>(n) : 0;
  }
  bool pass() const { return ratio() >= gate; }
};

struct ThreadRun {
  int threads = 0;
  std::uint64_t commits = 0;
  std::uint64_t fdatasyncs = 0;
  double seconds = 0;
  double rate() const {
    return seconds > 0 ? static_cast<double>(commits) / seconds : 0;
  }
};

struct RebuildRun {
  std::uint64_t events = 0;
  std::uint64_t view_entries = 0;  // a lower bound of the view writes
  std::uint64_t value_size = 0;    // log bytes per view entry: the raw puts'
  double seconds = 0;
  double raw_put_rate = 0;
  double events_per_sec() const {
    return static_cast<double>(events) / seconds;
  }
  double writes_per_sec() const {
    return static_cast<double>(view_entries) / seconds;
  }
  double ratio() const { return writes_per_sec() / raw_put_rate; }
};

// Blocking poll: from a push's commit returning to the waiting poll_one
// returning, in microseconds.
struct WakeupLatency {
  std::size_t samples = 0;
  double median_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

struct ModeRun {
  std::string durability;
  std::vector<Phase> phases;
  WakeupLatency wakeup;
  RebuildRun rebuild;
};

// The in-memory workload: the build of workload.md, updated by the phases.
struct Workload {
  std::uint64_t n = 0;
  std::vector<Workflow> workflows;
};

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
  expect(wf.id == id, fmt::format("retrieve {}: got id {}", id, wf.id));
  expect(wf.stages.size() == kStages,
         fmt::format("workflow {}: {} stages, expected {}", id,
                     wf.stages.size(), kStages));
  for (const StageExecution& stage : wf.stages) {
    expect(stage.tasks.size() == 1,
           fmt::format("stage {}: {} tasks, expected 1", stage.id,
                       stage.tasks.size()));
  }
}

// CPU seconds this thread has used.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         1e-9 * static_cast<double>(ts.tv_nsec);
}

// Times `body` as phase `name` of `ops` operations; write phases record their
// commits and the log bytes each appended.
Phase timed(Database& db, const std::string& name, std::uint64_t ops,
            const std::function<void()>& body) {
  const DatabaseStats before = db.stats();
  const double cpu_start = thread_cpu_seconds();
  const auto start = SteadyClock::now();
  body();
  const double cpu_end = thread_cpu_seconds();
  Phase phase;
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

Message start_stage(const Workflow& wf, int stage) {
  StartStage start;
  start.execution_id = wf.id;
  start.stage_id = wf.stages.at(static_cast<std::size_t>(stage)).id;
  return start;
}

// Checks that `delivery` is the StartStage of `stage` of `wf`.
void check_delivery(const std::optional<Delivery>& delivery, const Workflow& wf,
                    int stage) {
  expect(
      delivery.has_value(),
      fmt::format("poll: no delivery, expected stage {} of {}", stage, wf.id));
  expect(delivery->message == start_stage(wf, stage),
         fmt::format("poll: delivery {} is not stage {} of {}", delivery->id,
                     stage, wf.id));
}

std::vector<Phase> run_phases(Database& db, Queue& queue, Workload& w) {
  WorkflowStore& store = db.workflow_store();
  const std::uint64_t n = w.n;
  const std::uint64_t ancestors = std::min<std::uint64_t>(500, n);
  std::vector<Phase> phases;
  phases.push_back(timed(db, "store", n, [&] {
    for (const Workflow& wf : w.workflows) store.store(wf);
  }));
  phases.push_back(timed(db, "retrieve", n, [&] {
    for (std::uint64_t k = 0; k < n; ++k) {
      check_workflow(store.retrieve(workflow_id(k)), workflow_id(k));
    }
  }));
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
               fmt::format("stage {}: version {} after update, expected 1",
                           stage.id, stage.version));
      }
    }
  }));
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
      expect(stage.version == 2,
             fmt::format("stage {}: version {} after txn, expected 2", stage.id,
                         stage.version));
    }
    expect(queue.size() == n,
           fmt::format("txn: queue size {}, expected {}", queue.size(), n));
  }));
  phases.push_back(timed(db, "query", n, [&] {
    std::uint64_t total = 0;
    for (int a = 0; a < kApplications; ++a) {
      for (const Workflow& wf :
           store.retrieve_by_application(fmt::format("app-{}", a))) {
        check_workflow(wf, wf.id);
        ++total;
      }
    }
    expect(total == n,
           fmt::format("query: {} workflows, expected {}", total, n));
  }));
  phases.push_back(timed(db, "ancestors", ancestors, [&] {
    for (std::uint64_t k = 0; k < ancestors; ++k) {
      const nlohmann::json got =
          store.get_merged_ancestor_outputs(workflow_id(k), "stage-9");
      expect(
          got == expected_ancestor_outputs(k),
          fmt::format("ancestors of {}: got {}", workflow_id(k), got.dump()));
    }
  }));
  phases.push_back(timed(db, "dedup_mark", kDedupIds, [&] {
    for (std::uint64_t j = 0; j < kDedupIds; ++j) {
      store.mark_message_processed(fmt::format("dedup-msg-{}", j),
                                   "BenchHandler", workflow_id(j % n));
    }
  }));
  phases.push_back(timed(db, "dedup_check", kDedupIds, [&] {
    for (std::uint64_t j = 0; j < kDedupIds; ++j) {
      expect(store.is_message_processed(fmt::format("dedup-msg-{}", j)),
             fmt::format("dedup-msg-{} is not processed", j));
    }
  }));
  // Beyond the standard workload: the queue on its own. N more pushes (stage_2
  // of each workflow), then every delivery polled and acked in FIFO order:
  // the txn phase's N, then these N.
  phases.push_back(timed(db, "queue_push", n, [&] {
    for (std::uint64_t k = 0; k < n; ++k)
      queue.push(start_stage(w.workflows[k], 2));
    expect(queue.size() == 2 * n,
           fmt::format("queue_push: queue size {}, expected {}", queue.size(),
                       2 * n));
  }));
  phases.push_back(timed(db, "queue_poll_ack", 2 * n, [&] {
    for (std::uint64_t j = 0; j < 2 * n; ++j) {
      const std::optional<Delivery> delivery = queue.poll_one();
      check_delivery(delivery, w.workflows[j % n], j < n ? 1 : 2);
      queue.ack(delivery->id);
    }
    expect(queue.size() == 0,
           fmt::format("queue_poll_ack: {} left in the queue", queue.size()));
  }));
  const Durability lease_durability = db.options().queue.lease_durability;
  for (Phase& phase : phases) {
    const Durability d = phase.name == "queue_poll_ack"
                             ? lease_durability
                             : db.options().durability;
    phase.synced = phase.commits > 0 && d == Durability::kSync;
  }
  return phases;
}

// The raw LMDB transaction shape of each write phase's commits: the puts
// fold() makes (records, ids, indexes, the workflow event index, the applied
// LSN, queue counters).
RawTxnShape write_shape(const Phase& phase) {
  const auto bytes = static_cast<std::size_t>(phase.log_bytes_per_commit);
  RawTxnShape shape;
  if (phase.name == "store") {
    // The workflow record and 10 stage records; ids, stage order, indexes.
    shape.big_puts = 1 + kStages;
    shape.big_value_size = bytes / shape.big_puts;
    shape.small_puts = 3 * kStages + 6;
  } else if (phase.name == "stage_update") {
    shape.big_value_size = bytes;
    shape.small_puts = 2;
  } else if (phase.name == "txn") {
    // The stage record and the queued message; the stage's 2 small puts plus
    // the ready index, the next delivery id and the queue size.
    shape.gets = 2;
    shape.big_puts = 2;
    shape.big_value_size = bytes / 2;
    shape.small_puts = 5;
  } else if (phase.name == "queue_push") {
    // The queued message; ready index, next id, queue size, event index,
    // applied LSN.
    shape.big_value_size = bytes;
    shape.small_puts = 5;
  } else if (phase.name == "queue_poll_ack") {
    // A lease (the message record again, ready -> lease) or an ack (deletes,
    // the queue size); the applied LSN.
    shape.big_value_size = bytes;
    shape.small_puts = 3;
  } else {
    shape.big_value_size = bytes;
    shape.small_puts = 4;
  }
  return shape;
}

// The raw loop of a write phase runs the phase's commits (commits_per_op()
// per op); its rate is divided back into ops.
void measure_write_bound(Phase& phase, const std::filesystem::path& dir) {
  const auto record = static_cast<std::size_t>(phase.log_bytes_per_commit);
  const std::filesystem::path scratch = dir / ("bound-" + phase.name);
  std::filesystem::create_directories(scratch);
  const double per_op = phase.commits_per_op();
  if (phase.synced) {
    phase.gate = 0.8;
    phase.bound = raw_append_sync_rate(scratch / "raw.log", record,
                                       kBoundSeconds, phase.commits) /
                  per_op;
  } else {
    phase.gate = 0.5;
    RawAppendFile log(scratch / "raw.log");
    const std::string bytes(record, 'r');
    const RawTxnShape shape = write_shape(phase);
    std::uint64_t count = phase.commits;
    // A first short loop sizes the timed one to about kBoundSeconds.
    const RawBenchResult probe = raw_lmdb_txn_rate(
        scratch / "probe", std::min<std::uint64_t>(count, 200), shape,
        [&] { log.append(bytes, false); });
    count = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(probe.ops_per_second * kBoundSeconds), 1,
        count);
    phase.bound = raw_lmdb_txn_rate(scratch / "lmdb", count, shape,
                                    [&] { log.append(bytes, false); })
                      .ops_per_second /
                  per_op;
  }
  std::filesystem::remove_all(scratch);
}

// Records of the workflows' bytes in the views' own layout, for read bounds.
std::vector<std::string> workflow_records(const Workload& w, bool summary) {
  std::vector<std::string> rows;
  const std::uint64_t sample = std::min<std::uint64_t>(w.n, 200);
  for (std::uint64_t k = 0; k < sample; ++k) {
    const Workflow& wf = w.workflows[k];
    if (summary) {
      Workflow head = wf;
      head.stages.clear();
      rows.push_back(records::encode_workflow_record(head, kStages));
    }
    for (std::size_t i = 0; i < wf.stages.size(); ++i) {
      rows.push_back(records::encode_stage_record(wf.stages[i], k + 1, i));
    }
  }
  return rows;
}

void measure_read_bound(Phase& phase, const Workload& w,
                        const std::filesystem::path& dir) {
  phase.gate = 0.3;
  const std::filesystem::path scratch = dir / ("bound-" + phase.name);
  std::uint64_t seen = 0;
  RawBenchResult result;
  const std::uint64_t count = phase.name == "dedup_check"
                                  ? phase.n
                                  : std::min<std::uint64_t>(phase.n, 2000);
  if (phase.name == "retrieve" || phase.name == "query") {
    const std::size_t per_op = 1 + kStages;
    result = raw_lmdb_get_rate(scratch, workflow_records(w, true), per_op,
                               count, [&](std::string_view v) {
                                 if (seen++ % per_op == 0) {
                                   records::decode_workflow_record(v);
                                 } else {
                                   records::decode_stage_record(v);
                                 }
                               });
  } else if (phase.name == "ancestors") {
    // Every stage record of the workflow; the outputs of the 9 ancestors.
    std::size_t keys = 0;
    result = raw_lmdb_get_rate(scratch, workflow_records(w, false), kStages,
                               count, [&](std::string_view v) {
                                 const records::StageRecord r =
                                     records::decode_stage_record(v);
                                 if (seen++ % kStages != kStages - 1) {
                                   keys += r.stage.outputs.value().size();
                                 }
                               });
    expect(keys > 0, "ancestors bound: no outputs decoded");
  } else {
    std::vector<std::string> rows;
    for (std::uint64_t j = 0; j < 1000; ++j) {
      records::ProcessedRecord r;
      r.processed_at = kBaseMs;
      r.lsn = j + 1;
      r.handler_type = "BenchHandler";
      r.execution_id = workflow_id(j % w.n);
      rows.push_back(records::encode_processed(r));
    }
    result = raw_lmdb_get_rate(scratch, rows, 1, count, [](std::string_view v) {
      records::decode_processed(v);
    });
  }
  phase.bound = result.ops_per_second;
  std::filesystem::remove_all(scratch);
}

void measure_bounds(std::vector<Phase>& phases, const Workload& w,
                    const std::filesystem::path& dir) {
  for (Phase& phase : phases) {
    if (phase.commits > 0) {
      measure_write_bound(phase, dir);
    } else {
      measure_read_bound(phase, w, dir);
    }
  }
}

// A consumer thread waits in poll_one(timeout) on the empty `queue`; once it
// is waiting, this thread pushes one message. Each sample is the time from
// push() returning (its commit acknowledged) to poll_one() returning, taken on
// one steady clock; a consumer that wakes before push() returns counts 0.
WakeupLatency measure_wakeup_latency(Queue& queue, const Workload& w,
                                     std::size_t samples) {
  using std::chrono::microseconds;
  std::vector<SteadyClock::time_point> pushed(samples);
  std::vector<SteadyClock::time_point> received(samples);
  std::atomic<std::size_t> waiting{0};  // samples the consumer waits for
  std::atomic<std::size_t> done{0};     // samples received and acked
  std::exception_ptr failure;
  std::thread consumer([&] {
    try {
      for (std::size_t s = 0; s < samples; ++s) {
        waiting.store(s + 1);
        const std::optional<Delivery> delivery =
            queue.poll_one(std::chrono::seconds(30));
        received[s] = SteadyClock::now();
        check_delivery(delivery, w.workflows[s % w.n], 3);
        queue.ack(delivery->id);
        done.store(s + 1);
      }
    } catch (...) {
      failure = std::current_exception();
      done.store(samples);
    }
  });
  for (std::size_t s = 0; s < samples && done.load() < samples; ++s) {
    while (waiting.load() < s + 1 && done.load() < samples)
      std::this_thread::sleep_for(microseconds(20));
    // Time for the consumer to find the queue empty and block.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    queue.push(start_stage(w.workflows[s % w.n], 3));
    pushed[s] = SteadyClock::now();
    while (done.load() < s + 1) std::this_thread::sleep_for(microseconds(20));
  }
  consumer.join();
  if (failure) std::rethrow_exception(failure);
  std::vector<double> us;
  us.reserve(samples);
  for (std::size_t s = 0; s < samples; ++s) {
    us.push_back(std::max(
        0.0, std::chrono::duration<double, std::micro>(received[s] - pushed[s])
                 .count()));
  }
  std::sort(us.begin(), us.end());
  WakeupLatency latency;
  latency.samples = samples;
  latency.median_us = us[samples / 2];
  latency.p99_us = us[std::min(samples - 1, samples * 99 / 100)];
  latency.max_us = us.back();
  return latency;
}

ModeRun run_mode(const std::filesystem::path& dir, Durability durability,
                 std::uint64_t n, std::size_t wakeup_samples) {
  ModeRun run;
  run.durability = durability == Durability::kSync ? "sync" : "buffered";
  const std::filesystem::path store_dir = dir / run.durability;
  Workload w;
  w.n = n;
  for (std::uint64_t k = 0; k < n; ++k)
    w.workflows.push_back(build_workflow(k));
  {
    DatabaseOptions options;
    options.durability = durability;
    auto db = Database::open(store_dir, options);
    {
      Queue queue(*db);
      run.phases = run_phases(*db, queue, w);
      run.wakeup = measure_wakeup_latency(queue, w, wakeup_samples);
    }
    db->close();
  }
  measure_bounds(run.phases, w, dir);
  return run;
}

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
  std::uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return bytes;
}

// Rebuilds the views of the store in `store_dir` and measures the raw batched
// LMDB put rate beside it.
RebuildRun run_rebuild(const std::filesystem::path& store_dir,
                       const std::filesystem::path& scratch) {
  RebuildRun run;
  const RebuildReport report = rebuild_store_views(store_dir);
  run.events = report.events;
  run.seconds = report.seconds;
  run.view_entries = lmdb_entry_count(store_dir / "views");
  run.value_size = std::clamp<std::uint64_t>(
      directory_bytes(store_dir / "log") /
          std::max<std::uint64_t>(run.view_entries, 1),
      16, 4096);
  run.raw_put_rate =
      raw_lmdb_batched_put_rate(
          scratch, std::max<std::uint64_t>(run.view_entries, 100000),
          static_cast<std::size_t>(run.value_size))
          .ops_per_second;
  std::filesystem::remove_all(scratch);
  return run;
}

// Commits of `threads` threads doing mark_message_processed for `seconds`.
ThreadRun run_threads(Database& db, int threads, double seconds) {
  WorkflowStore& store = db.workflow_store();
  const DatabaseStats before = db.stats();
  const auto start = SteadyClock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&store, deadline, threads, t] {
      for (std::uint64_t i = 0; SteadyClock::now() < deadline; ++i) {
        store.mark_message_processed(
            fmt::format("threads-{}-{}-{}", threads, t, i), "BenchHandler");
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  ThreadRun run;
  run.threads = threads;
  run.seconds =
      std::chrono::duration<double>(SteadyClock::now() - start).count();
  const DatabaseStats after = db.stats();
  run.commits = after.commits - before.commits;
  run.fdatasyncs = after.fdatasyncs - before.fdatasyncs;
  return run;
}

std::vector<ThreadRun> run_thread_counts(const std::filesystem::path& dir,
                                         double seconds) {
  DatabaseOptions options;
  options.durability = Durability::kSync;
  auto db = Database::open(dir, options);
  std::vector<ThreadRun> runs;
  for (int threads : {1, 2, 4, 8, 16}) {
    runs.push_back(run_threads(*db, threads, seconds));
  }
  db->close();
  return runs;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        return line.substr(line.find_first_not_of(' ', colon + 1));
      }
    }
  }
  return "unknown";
}

int nproc() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

double thread_scaling(const std::vector<ThreadRun>& runs) {
  return runs.back().rate() / runs.front().rate();
}

void print_text(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n) {
  std::cout << fmt::format("# wfstore {} bench, standard workload N={}\n",
                           WFSTORE_VERSION, n);
  std::cout << fmt::format("# machine: nproc={} cpu=\"{}\" loadavg=\"{}\"\n",
                           nproc(), cpu_model(), load_average());
  for (const ModeRun& mode : modes) {
    std::cout << fmt::format("# durability={}\n", mode.durability);
    for (const Phase& p : mode.phases) {
      std::cout << fmt::format(
          "phase={} n={} seconds={:.3f} ops_per_sec={:.0f} bound={:.0f} "
          "ratio={:.2f} cpu_us_per_op={:.1f}\n",
          p.name, p.n, p.seconds, p.ops_per_sec(), p.bound, p.ratio(),
          p.cpu_us_per_op());
      std::cout << fmt::format(
          "# gate phase={} ratio={:.2f} min={:.1f} gate={}\n", p.name,
          p.ratio(), p.gate, p.pass() ? "pass" : "FAIL");
    }
    const WakeupLatency& l = mode.wakeup;
    std::cout << fmt::format(
        "# wakeup_latency_us durability={} samples={} median={:.0f} "
        "p99={:.0f} max={:.0f}\n",
        mode.durability, l.samples, l.median_us, l.p99_us, l.max_us);
    const RebuildRun& r = mode.rebuild;
    std::cout << fmt::format(
        "# rebuild durability={} events={} seconds={:.3f} "
        "events_per_sec={:.0f} "
        "view_entries={} view_writes_per_sec={:.0f} "
        "raw_batched_put_per_sec={:.0f} "
        "raw_value_bytes={} ratio={:.2f} gate={}\n",
        mode.durability, r.events, r.seconds, r.events_per_sec(),
        r.view_entries, r.writes_per_sec(), r.raw_put_rate, r.value_size,
        r.ratio(), r.ratio() >= 0.5 ? "pass" : "FAIL");
  }
  if (threads.empty()) {
    std::cout << "# commit threads: sync mode only (not run)\n";
    return;
  }
  for (const ThreadRun& t : threads) {
    std::cout << fmt::format(
        "# commit threads={} durability=sync commits={} seconds={:.3f} "
        "commits_per_sec={:.0f} fdatasyncs_per_commit={:.3f}\n",
        t.threads, t.commits, t.seconds, t.rate(),
        t.commits > 0
            ? static_cast<double>(t.fdatasyncs) / static_cast<double>(t.commits)
            : 0);
  }
  const double scaling = thread_scaling(threads);
  std::cout << fmt::format("# commit threads 16/1={:.2f} min=8.0 gate={}\n",
                           scaling, scaling >= 8 ? "pass" : "FAIL");
}

void print_json(const std::vector<ModeRun>& modes,
                const std::vector<ThreadRun>& threads, std::uint64_t n) {
  nlohmann::json doc;
  doc["version"] = WFSTORE_VERSION;
  doc["n"] = n;
  doc["machine"] = {
      {"nproc", nproc()}, {"cpu", cpu_model()}, {"loadavg", load_average()}};
  for (const ModeRun& mode : modes) {
    nlohmann::json m;
    m["durability"] = mode.durability;
    for (const Phase& p : mode.phases) {
      m["phases"].push_back({{"phase", p.name},
                             {"n", p.n},
                             {"seconds", p.seconds},
                             {"ops_per_sec", p.ops_per_sec()},
                             {"bound", p.bound},
                             {"ratio", p.ratio()},
                             {"cpu_us_per_op", p.cpu_us_per_op()},
                             {"gate_min", p.gate},
                             {"gate", p.pass() ? "pass" : "FAIL"}});
    }
    const WakeupLatency& l = mode.wakeup;
    m["wakeup_latency_us"] = {{"samples", l.samples},
                              {"median", l.median_us},
                              {"p99", l.p99_us},
                              {"max", l.max_us}};
    const RebuildRun& r = mode.rebuild;
    m["rebuild"] = {{"events", r.events},
                    {"seconds", r.seconds},
                    {"events_per_sec", r.events_per_sec()},
                    {"view_entries", r.view_entries},
                    {"view_writes_per_sec", r.writes_per_sec()},
                    {"raw_value_bytes", r.value_size},
                    {"raw_batched_put_per_sec", r.raw_put_rate},
                    {"ratio", r.ratio()},
                    {"gate", r.ratio() >= 0.5 ? "pass" : "FAIL"}};
    doc["runs"].push_back(m);
  }
  for (const ThreadRun& t : threads) {
    doc["commit_threads"].push_back({{"threads", t.threads},
                                     {"commits", t.commits},
                                     {"seconds", t.seconds},
                                     {"commits_per_sec", t.rate()},
                                     {"fdatasyncs", t.fdatasyncs}});
  }
  if (!threads.empty())
    doc["commit_threads_16_over_1"] = thread_scaling(threads);
  std::cout << doc.dump(2) << "\n";
}

// A scratch directory removed on scope exit.
struct ScratchDir {
  std::filesystem::path path;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

int run_store_bench(const StoreBenchOptions& options) {
  const std::filesystem::path parent =
      options.dir.empty() ? std::filesystem::temp_directory_path()
                          : std::filesystem::absolute(options.dir);
  ScratchDir scratch{parent / fmt::format("wfstore-bench-{}", ::getpid())};
  std::filesystem::create_directories(scratch.path);
  std::vector<Durability> modes;
  if (options.durability != "buffered") modes.push_back(Durability::kSync);
  if (options.durability != "sync") modes.push_back(Durability::kBuffered);
  std::vector<ModeRun> runs;
  std::vector<ThreadRun> threads;
  try {
    for (Durability mode : modes) {
      runs.push_back(
          run_mode(scratch.path, mode, options.n, options.wakeup_samples));
      runs.back().rebuild = run_rebuild(scratch.path / runs.back().durability,
                                        scratch.path / "bound-rebuild");
      if (mode == Durability::kSync) {
        threads =
            run_thread_counts(scratch.path / "threads", options.thread_seconds);
      }
    }
  } catch (const CheckFailed& e) {
    std::cerr << "wfstore: bench: wrong answer: " << e.what() << "\n";
    return 1;
  }
  if (options.json) {
    print_json(runs, threads, options.n);
  } else {
    print_text(runs, threads, options.n);
  }
  return 0;
}

}  // namespace wfstore::tools
