#include "tools/demo_fleet.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"

#include "tools/demo_engine.h"

namespace wfstore::tools {
namespace {

using Clock = std::chrono::steady_clock;

// What the fleet plans for a workflow.
enum class Fate : std::uint8_t {
  kSucceeds,
  kTransientFault,  // a test's completion throws once; retried, SUCCEEDED
  kFails,           // a stage's check fails: TERMINAL
  kPausedResumed,   // paused while running, resumed later: SUCCEEDED
  kCanceled,        // canceled while running: CANCELED
};

const char* fate_name(Fate fate) {
  switch (fate) {
    case Fate::kSucceeds:
      return "succeeds";
    case Fate::kTransientFault:
      return "transient fault, retried";
    case Fate::kFails:
      return "fails";
    case Fate::kPausedResumed:
      return "paused and resumed";
    case Fate::kCanceled:
      return "canceled";
  }
  return "?";
}

struct Plan {
  std::string id;
  Fate fate = Fate::kSucceeds;
  // The stage (ref id) whose completion fails or throws once.
  std::string stage;

  WorkflowStatus final_status() const {
    if (fate == Fate::kFails) return WorkflowStatus::kTerminal;
    if (fate == Fate::kCanceled) return WorkflowStatus::kCanceled;
    return WorkflowStatus::kSucceeded;
  }
};

// The plan of workflow `i`: 1 in 50 canceled, 1 in 25 fails (alternately its
// unit tests and its deploy), 1 in 20 paused and resumed, 1 in 10 meets a
// transient fault in one of its tests, the rest succeed.
Plan plan_of(std::size_t i) {
  Plan plan;
  plan.id = fmt::format("01JFLEET{:018}", i);
  if (i % 50 == 17) {
    plan.fate = Fate::kCanceled;
  } else if (i % 25 == 7) {
    plan.fate = Fate::kFails;
    plan.stage = (i / 25) % 2 == 0 ? "deploy" : "unit-tests";
  } else if (i % 20 == 11) {
    plan.fate = Fate::kPausedResumed;
  } else if (i % 10 == 3) {
    static const char* const kTests[] = {"unit-tests", "integration-tests",
                                         "e2e-tests"};
    plan.fate = Fate::kTransientFault;
    plan.stage = kTests[(i / 10) % 3];
  }
  return plan;
}

// build -> (unit-tests | integration-tests | e2e-tests) -> deploy (before:
// deploy-lock, after: deploy-notify) -> verify
Workflow fleet_workflow(const Plan& plan, std::size_t i) {
  const std::string service = fmt::format("svc-{:03}", i);
  Workflow wf;
  wf.id = plan.id;
  wf.application = "fleet";
  wf.name = fmt::format("deploy {} #{}", service, 1000 + i);
  wf.pipeline_config_id = "deploy-" + service;
  wf.origin = "api";
  wf.trigger.type = "git";
  wf.trigger.user = "ci-bot";
  wf.trigger.parameters =
      Json(nlohmann::json{{"branch", "main"}, {"build", 1000 + i}});
  wf.context = Json(nlohmann::json{{"service", service}, {"region", "eu"}});
  wf.stages.push_back(make_stage(wf, "build", "build", "Build", {},
                                 {{"command", "make release"}}));
  for (const char* suite : {"unit", "integration", "e2e"}) {
    wf.stages.push_back(make_stage(wf, suite, std::string(suite) + "-tests",
                                   std::string(suite) + " tests", {"build"},
                                   {{"suite", suite}}));
  }
  add_guarded_deploy(wf, "deploy", "Deploy",
                     {"unit-tests", "integration-tests", "e2e-tests"}, 100,
                     service);
  wf.stages.push_back(make_stage(wf, "verify", "verify", "Verify", {"deploy"},
                                 {{"probe", "/healthz"}}));
  return wf;
}

// What is wrong with the final state of `wf` given its plan; empty when
// nothing.
std::string check_workflow(const Workflow& wf, const Plan& plan) {
  if (wf.status != plan.final_status()) {
    return fmt::format("status {}, planned {}", status_name(wf.status),
                       status_name(plan.final_status()));
  }
  if (wf.stages.size() != 8) {
    return fmt::format("{} stages, planned 8", wf.stages.size());
  }
  const auto stage = [&](const std::string& ref) -> const StageExecution& {
    for (const StageExecution& s : wf.stages) {
      if (s.ref_id == ref) return s;
    }
    throw InvalidArgumentError("no stage " + ref);
  };
  for (const StageExecution& s : wf.stages) {
    if (s.status == WorkflowStatus::kRunning) {
      return "stage " + s.ref_id + " still RUNNING";
    }
  }
  const bool paused = wf.paused.has_value();
  if (plan.fate == Fate::kPausedResumed) {
    if (!paused || !wf.paused->pause_time || !wf.paused->resume_time ||
        wf.paused->paused_ms < 0) {
      return "not paused and resumed";
    }
  } else if (paused) {
    return "paused, not planned";
  }
  if (wf.is_canceled != (plan.fate == Fate::kCanceled)) {
    return fmt::format("is_canceled {}", wf.is_canceled);
  }
  switch (plan.fate) {
    case Fate::kSucceeds:
    case Fate::kTransientFault:
    case Fate::kPausedResumed:
      for (const StageExecution& s : wf.stages) {
        if (s.status != WorkflowStatus::kSucceeded) {
          return fmt::format("stage {} {}", s.ref_id, status_name(s.status));
        }
        for (const TaskExecution& t : s.tasks) {
          if (t.status != WorkflowStatus::kSucceeded) {
            return fmt::format("task {} {}", t.id, status_name(t.status));
          }
        }
      }
      if (!wf.start_time || !wf.end_time || *wf.end_time < *wf.start_time) {
        return "no start or end time";
      }
      break;
    case Fate::kFails: {
      const StageExecution& failed = stage(plan.stage);
      if (failed.status != WorkflowStatus::kTerminal ||
          !failed.context.value().contains("exception")) {
        return fmt::format("stage {} {}, planned TERMINAL with its error",
                           plan.stage, status_name(failed.status));
      }
      for (const char* ref : {"deploy-notify", "verify"}) {
        if (stage(ref).status != WorkflowStatus::kNotStarted) {
          return fmt::format("stage {} {} after the failure", ref,
                             status_name(stage(ref).status));
        }
      }
      break;
    }
    case Fate::kCanceled:
      if (wf.canceled_by != "operator@example.com" ||
          wf.cancellation_reason != "superseded by a newer build") {
        return "cancel details differ";
      }
      if (stage("verify").status == WorkflowStatus::kSucceeded) {
        return "verify SUCCEEDED after the cancel";
      }
      break;
  }
  return "";
}

// The progress of the fleet on stderr: a bar redrawn in place every 0.1 s
// on a terminal, else a plain line every 2 s.
class Progress {
 public:
  explicit Progress(std::size_t total)
      : total_(total), tty_(::isatty(STDERR_FILENO) != 0) {}

  void show(std::size_t ended, std::uint64_t commits, double seconds,
            bool last) {
    if (!last && seconds < next_) return;
    next_ = seconds + (tty_ ? 0.1 : 2.0);
    if (!tty_) {
      std::cerr << fmt::format(
          "fleet: {}/{} workflows ended, {} commits, {:.1f} s\n", ended, total_,
          commits, seconds);
      return;
    }
    constexpr std::size_t kWidth = 40;
    const std::size_t filled = total_ == 0 ? kWidth : ended * kWidth / total_;
    std::cerr << fmt::format(
        "\rfleet [{}{}] {}/{} workflows ended, {} commits, {:.1f} s{}",
        std::string(filled, '#'), std::string(kWidth - filled, '-'), ended,
        total_, commits, seconds, last ? "\n" : "");
    std::cerr.flush();
  }

 private:
  std::size_t total_;
  bool tty_;
  double next_ = 0;  // seconds
};

// The operator's actions on the planned workflows: each is paused (or
// canceled) once it runs, and a paused one is resumed 300 ms later.
class Operator {
 public:
  Operator(WorkflowStore& store, const std::vector<Plan>& plans)
      : store_(store) {
    for (const Plan& plan : plans) {
      if (plan.fate == Fate::kPausedResumed || plan.fate == Fate::kCanceled) {
        pending_.push_back({&plan, {}, false});
      }
    }
  }

  // One pass over the pending actions.
  void step() {
    const auto now = Clock::now();
    std::erase_if(pending_, [&](Action& action) {
      const std::string& id = action.plan->id;
      const AuditScope scope({"operator@example.com", id, "", "cli"});
      if (action.paused) {
        if (now - action.paused_at < std::chrono::milliseconds{300})
          return false;
        store_.resume(id);
        return true;
      }
      try {
        if (store_.retrieve_execution_summary(id).status !=
            WorkflowStatus::kRunning) {
          return false;
        }
      } catch (const WorkflowNotFoundError&) {
        return false;  // not submitted yet
      }
      if (action.plan->fate == Fate::kCanceled) {
        store_.cancel(id, "operator@example.com",
                      "superseded by a newer build");
        return true;
      }
      store_.pause(id, "operator@example.com");
      action.paused = true;
      action.paused_at = now;
      return false;
    });
  }

 private:
  struct Action {
    const Plan* plan;
    Clock::time_point paused_at;
    bool paused;
  };
  WorkflowStore& store_;
  std::vector<Action> pending_;
};

}  // namespace

bool run_fleet(const std::filesystem::path& dir, const FleetOptions& options) {
  const std::size_t n = options.workflows;
  std::vector<Plan> plans;
  std::unordered_map<std::string, const Plan*> plan_by_id;
  std::map<std::string, std::size_t> planned;
  plans.reserve(n);
  for (std::size_t i = 0; i < n; ++i) plans.push_back(plan_of(i));
  std::size_t faults = 0;
  std::size_t failing = 0;
  std::size_t paused = 0;
  std::size_t canceled = 0;
  for (const Plan& plan : plans) {
    plan_by_id[plan.id] = &plan;
    ++planned[std::string(status_name(plan.final_status()))];
    faults += plan.fate == Fate::kTransientFault;
    failing += plan.fate == Fate::kFails;
    paused += plan.fate == Fate::kPausedResumed;
    canceled += plan.fate == Fate::kCanceled;
  }

  DatabaseOptions db_options;
  std::atomic<std::uint64_t> warnings{0};
  db_options.logger = [&warnings](LogLevel, std::string_view) { ++warnings; };
  // Long enough that no handler outlives its lease on a loaded machine; the
  // poison message is dead-lettered after its third attempt.
  db_options.queue.lease_duration = std::chrono::milliseconds{30000};
  db_options.queue.max_attempts = 3;
  auto db = Database::open(dir, db_options);
  WorkflowStore& store = db->workflow_store();
  Queue queue(*db);
  const DatabaseStats before = db->stats();

  std::mutex mu;
  std::set<std::string> ended;  // the fleet's workflows the engine ended
  std::atomic<std::size_t> ended_count{0};
  EnginePlan engine_plan;
  engine_plan.fault = [&plan_by_id](const StageExecution& stage) {
    const auto found = plan_by_id.find(stage.execution_id);
    if (found == plan_by_id.end() || found->second->stage != stage.ref_id) {
      return StageFault::kNone;
    }
    return found->second->fate == Fate::kFails ? StageFault::kFail
                                               : StageFault::kThrowFirst;
  };
  // The store's other workflows (the demo's) are no part of the count: the
  // engine also handles the messages they left queued.
  engine_plan.ended = [&](const std::string& id, WorkflowStatus) {
    if (!plan_by_id.contains(id)) return;
    const std::scoped_lock lock(mu);
    if (ended.insert(id).second) ++ended_count;
  };
  engine_plan.failure = "smoke check failed (injected)";
  DemoEngine engine(store, queue, std::move(engine_plan));
  QueueProcessorConfig config = engine_config();
  config.max_workers = options.workers;
  config.poll_frequency = std::chrono::milliseconds{20};
  QueueProcessor processor(store, queue, config);
  engine.register_with(processor);

  std::cout << fmt::format(
      "# the fleet: {} deployment workflows (8 stages each) submitted by 4 "
      "threads and run by {} worker threads, durable; planned: {} fail, {} "
      "meet a transient fault, {} paused and resumed, {} canceled, 1 poison "
      "message\n",
      n, options.workers, failing, faults, paused, canceled);
  std::cout.flush();
  const auto start = Clock::now();
  processor.start();
  {
    // The poison message: its task always throws.
    const AuditScope scope({"ci-bot", "fleet", "", "api"});
    RunTask poison;
    poison.execution_id = plans.empty() ? "none" : plans.front().id;
    poison.stage_id = poison.execution_id + "-build";
    poison.task_id = poison.stage_id + "-t1";
    poison.task_type = "explode";
    queue.push(poison);
  }
  std::string submit_error;  // the first, guarded by mu
  std::vector<std::jthread> submitters;
  constexpr std::size_t kSubmitters = 4;
  for (std::size_t k = 0; k < kSubmitters; ++k) {
    submitters.emplace_back([&, k] {
      try {
        for (std::size_t i = k; i < n; i += kSubmitters) {
          const AuditScope scope({"ci-bot", plans[i].id, "", "api"});
          store.store(fleet_workflow(plans[i], i));
          StartWorkflow message;
          message.execution_id = plans[i].id;
          queue.push(message);
        }
      } catch (const std::exception& e) {
        const std::scoped_lock lock(mu);
        if (submit_error.empty()) submit_error = e.what();
      }
    });
  }
  Operator op(store, plans);
  Progress progress(n);
  const auto deadline = start + std::chrono::seconds{120};
  bool drained = false;
  while (Clock::now() < deadline) {
    op.step();
    const double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    progress.show(ended_count, db->stats().commits - before.commits, seconds,
                  false);
    if (const std::scoped_lock lock(mu); !submit_error.empty()) break;
    if (ended_count == n && queue.size() == 0 && queue.dlq_size() >= 1) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  for (std::jthread& t : submitters) t.join();
  const double wall =
      std::chrono::duration<double>(Clock::now() - start).count();
  processor.stop();
  const DatabaseStats after = db->stats();
  progress.show(ended_count, after.commits - before.commits, wall, true);

  const QueueProcessorStats stats = processor.stats();
  std::map<std::string, std::size_t> by_status;
  nlohmann::json wrong = nlohmann::json::array();
  std::size_t wrong_count = 0;
  for (const Plan& plan : plans) {
    std::string problem;
    try {
      const Workflow wf = store.retrieve(plan.id);
      ++by_status[std::string(status_name(wf.status))];
      problem = check_workflow(wf, plan);
    } catch (const Error& e) {
      ++by_status["missing"];
      problem = e.what();
    }
    if (problem.empty()) continue;
    ++wrong_count;
    if (wrong.size() < 20) {
      wrong.push_back({{"id", plan.id},
                       {"plan", fate_name(plan.fate)},
                       {"problem", problem}});
    }
  }
  const std::vector<DeadLetter> letters = queue.list_dlq();
  const bool dead_letter_ok = letters.size() == 1 &&
                              letters.front().message_type == "RunTask" &&
                              letters.front().attempts == 3;
  // Each transient fault fails its delivery once, the poison one 3 times.
  const bool retries_ok = stats.failed == faults + 3;

  const std::uint64_t commits = after.commits - before.commits;
  const std::uint64_t events = after.applied_lsn - before.applied_lsn;
  const std::uint64_t fdatasyncs = after.fdatasyncs - before.fdatasyncs;
  const double per_sync = commits == 0 ? 0.0
                                       : static_cast<double>(fdatasyncs) /
                                             static_cast<double>(commits);
  // Per second of the fleet's wall time.
  const auto rate = [wall](std::uint64_t count) {
    return static_cast<double>(count) / wall;
  };
  const bool ok = drained && wrong_count == 0 && dead_letter_ok && retries_ok &&
                  submit_error.empty();

  std::cout << fmt::format("# the fleet ran in {:.2f} s:\n", wall);
  std::cout << fmt::format("  {:<12} {:>8} {:>8}\n", "status", "planned",
                           "final");
  std::map<std::string, std::size_t> statuses = planned;
  for (const auto& [name, count] : by_status) statuses.emplace(name, 0);
  for (const auto& entry : statuses) {
    const std::string& name = entry.first;
    std::cout << fmt::format("  {:<12} {:>8} {:>8}\n", name,
                             planned.count(name) ? planned[name] : 0,
                             by_status.count(name) ? by_status[name] : 0);
  }
  std::cout << fmt::format(
      "  processor: {} handled, {} deduplicated, {} failed and retried, {} "
      "dead-lettered; {} warnings logged\n",
      stats.handled, stats.deduplicated, stats.failed, stats.dead_lettered,
      warnings.load());
  std::cout << fmt::format(
      "  written: {} events in {} commits, {} fdatasyncs = {:.3f} per "
      "commit\n",
      events, commits, fdatasyncs, per_sync);
  std::cout << fmt::format(
      "  throughput: {:.0f} workflows/s, {:.0f} commits/s, {:.0f} events/s\n",
      rate(n), rate(commits), rate(events));
  std::cout << fmt::format(
      "# fleet check: {} of {} workflows in their planned final state; "
      "retries as planned: {}; the poison message dead-lettered: {}{}\n",
      n - wrong_count, n, retries_ok ? "yes" : "NO",
      dead_letter_ok ? "yes" : "NO",
      drained ? "" : "; FAILED: not drained in 120 s");
  if (!submit_error.empty()) {
    std::cout << "# FAILED: submitting the fleet: " << submit_error << "\n";
  }
  for (const nlohmann::json& w : wrong) {
    std::cout << fmt::format(
        "#   WRONG {} ({}): {}\n", w["id"].get<std::string>(),
        w["plan"].get<std::string>(), w["problem"].get<std::string>());
  }

  if (!options.summary_json.empty()) {
    const nlohmann::json summary = {
        {"workflows", n},
        {"workers", options.workers},
        {"planned", planned},
        {"by_status", by_status},
        {"paused_resumed", paused},
        {"canceled", canceled},
        {"failed_stages", failing},
        {"transient_faults", faults},
        {"dead_letters", letters.size()},
        {"processor",
         {{"handled", stats.handled},
          {"deduplicated", stats.deduplicated},
          {"failed", stats.failed},
          {"dead_lettered", stats.dead_lettered}}},
        {"events", events},
        {"commits", commits},
        {"fdatasyncs", fdatasyncs},
        {"fdatasyncs_per_commit", per_sync},
        {"wall_seconds", wall},
        {"workflows_per_second", rate(n)},
        {"commits_per_second", rate(commits)},
        {"events_per_second", rate(events)},
        {"checks",
         {{"workflows_checked", n},
          {"workflows_wrong", wrong_count},
          {"wrong", wrong},
          {"drained", drained},
          {"retries_as_planned", retries_ok},
          {"dead_letter_as_planned", dead_letter_ok},
          {"submit_error", submit_error}}},
        {"ok", ok}};
    std::ofstream out(options.summary_json);
    out << summary.dump(2) << "\n";
    out.close();
    if (!out) {
      throw IOError("cannot write the summary to " + options.summary_json);
    }
    std::cout << "# the fleet's summary: " << options.summary_json << "\n";
  }
  return ok;
}

}  // namespace wfstore::tools
