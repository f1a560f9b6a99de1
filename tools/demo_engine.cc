#include "tools/demo_engine.h"

#include <chrono>
#include <deque>
#include <iostream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "wfstore/audit_scope.h"
#include "wfstore/errors.h"

namespace wfstore::tools {
namespace {

// How long a PAUSED workflow's message waits before it is delivered again.
constexpr std::chrono::milliseconds kPausedDelay{50};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TaskExecution make_task(const std::string& id, const std::string& name,
                        const std::string& implementing_class) {
  TaskExecution task;
  task.id = id;
  task.name = name;
  task.implementing_class = implementing_class;
  task.stage_start = true;
  task.stage_end = true;
  return task;
}

}  // namespace

StageExecution make_stage(const Workflow& wf, const std::string& suffix,
                          const std::string& ref_id, const std::string& name,
                          std::set<std::string> requisites,
                          nlohmann::json context) {
  StageExecution stage;
  stage.id = wf.id + "-" + suffix;
  stage.execution_id = wf.id;
  stage.ref_id = ref_id;
  stage.type = "shell";
  stage.name = name;
  stage.requisite_stage_ref_ids = std::move(requisites);
  stage.context = Json(std::move(context));
  stage.tasks.push_back(
      make_task(stage.id + "-t1", name + " task", "stabilize.tasks.ShellTask"));
  return stage;
}

void add_guarded_deploy(Workflow& wf, const std::string& ref_id,
                        const std::string& name,
                        std::set<std::string> requisites, int percent,
                        const std::string& service) {
  StageExecution deploy = make_stage(
      wf, ref_id, ref_id, name, std::move(requisites), {{"percent", percent}});
  deploy.mutex_key = "deploy-" + service;
  wf.stages.push_back(deploy);
  StageExecution lock =
      make_stage(wf, ref_id + "-lock", ref_id + "-lock", "Acquire deploy lock",
                 {}, {{"lock", "deploy-" + service}});
  lock.parent_stage_id = deploy.id;
  lock.synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
  wf.stages.push_back(lock);
  StageExecution notify =
      make_stage(wf, ref_id + "-notify", ref_id + "-notify", "Notify #deploys",
                 {}, {{"channel", "#deploys"}});
  notify.parent_stage_id = deploy.id;
  notify.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  wf.stages.push_back(notify);
}

std::vector<const StageExecution*> dependencies(const Workflow& wf,
                                                const StageExecution& stage) {
  std::vector<const StageExecution*> deps;
  const StageExecution* anchor = &stage;
  if (stage.is_synthetic()) {
    const StageExecution* parent = wf.find_stage(*stage.parent_stage_id);
    if (stage.synthetic_stage_owner == SyntheticStageOwner::kStageAfter) {
      deps.push_back(parent);
      return deps;
    }
    anchor = parent;
  }
  for (const StageExecution* up : upstream_stages(wf, *anchor)) {
    deps.push_back(up);
    for (const StageExecution* after : after_stages(wf, *up)) {
      deps.push_back(after);
    }
  }
  if (anchor == &stage) {
    for (const StageExecution* before : before_stages(wf, stage)) {
      deps.push_back(before);
    }
  }
  return deps;
}

std::vector<const StageExecution*> ready_stages(const Workflow& wf) {
  std::vector<const StageExecution*> ready;
  for (const StageExecution& stage : wf.stages) {
    if (stage.status != WorkflowStatus::kNotStarted) continue;
    bool all = true;
    for (const StageExecution* dep : dependencies(wf, stage)) {
      all &= dep->status == WorkflowStatus::kSucceeded;
    }
    if (all) ready.push_back(&stage);
  }
  return ready;
}

DemoEngine::DemoEngine(WorkflowStore& store, Queue& queue, bool fixed,
                       std::string failing_workflow)
    : store_(store),
      queue_(queue),
      fixed_(fixed),
      failing_workflow_(std::move(failing_workflow)) {}

DemoEngine::DemoEngine(WorkflowStore& store, Queue& queue, EnginePlan plan)
    : store_(store), queue_(queue), quiet_(true), plan_(std::move(plan)) {}

void DemoEngine::register_with(QueueProcessor& processor) {
  using Handler = void (DemoEngine::*)(const Delivery&);
  const auto on = [&](const char* type, const char* handler_type,
                      Handler handler) {
    processor.register_handler(
        type, handler_type, [this, handler](const Delivery& d) {
          const AuditScope scope({fixed_ ? "engine@replay" : "engine@worker",
                                  std::string(message_execution_id(d.message)),
                                  "", "engine"});
          (this->*handler)(d);
        });
  };
  on("StartWorkflow", "StartWorkflowHandler", &DemoEngine::start_workflow);
  on("StartStage", "StartStageHandler", &DemoEngine::start_stage);
  on("CompleteStage", "CompleteStageHandler", &DemoEngine::complete_stage);
  on("CompleteWorkflow", "CompleteWorkflowHandler",
     &DemoEngine::complete_workflow);
  on("RunTask", "RunTaskHandler", &DemoEngine::run_task);
}

void DemoEngine::say(const std::string& line) {
  if (quiet_) return;
  std::scoped_lock lock(mu_);
  std::cout << line << "\n";
}

void DemoEngine::push_ready(Transaction& txn, const Workflow& wf) {
  for (const StageExecution* stage : ready_stages(wf)) {
    StartStage start;
    start.execution_id = wf.id;
    start.stage_id = stage->id;
    txn.push_message(start);
  }
}

// The operator's word on the delivery's workflow, read in `txn`: a canceled
// workflow ends CANCELED (and `stage`, when given and RUNNING, too; `ended`
// is set to CANCELED when this transaction ends the workflow), a PAUSED one
// gets the delivery's message again after kPausedDelay. Either way the
// delivery is marked processed in `txn` and the handler stops (false).
bool DemoEngine::admit(Transaction& txn, const Delivery& d,
                       const std::string& execution_id,
                       const char* handler_type, StageExecution* stage,
                       WorkflowStatus& ended) {
  Workflow wf = store_.retrieve_execution_summary(execution_id);
  if (wf.is_canceled) {
    const std::int64_t now = now_ms();
    if (stage != nullptr && stage->status == WorkflowStatus::kRunning) {
      stage->status = WorkflowStatus::kCanceled;
      stage->end_time = now;
      for (TaskExecution& task : stage->tasks) {
        task.status = WorkflowStatus::kCanceled;
        task.end_time = now;
      }
      txn.store_stage(*stage, "RUNNING");
    }
    if (!is_complete(wf.status)) {
      wf.status = WorkflowStatus::kCanceled;
      wf.end_time = now;
      txn.update_workflow_status(wf);
      ended = WorkflowStatus::kCanceled;
    }
  } else if (wf.status == WorkflowStatus::kPaused) {
    txn.push_message(d.message, kPausedDelay);
  } else {
    return true;
  }
  txn.mark_message_processed(d.message_id(), handler_type, execution_id);
  return false;
}

StageFault DemoEngine::fault_of(const StageExecution& stage) const {
  if (plan_.fault) return plan_.fault(stage);
  const bool canary =
      stage.execution_id == failing_workflow_ && stage.ref_id == "canary";
  return canary && !fixed_ ? StageFault::kFail : StageFault::kNone;
}

void DemoEngine::report(const std::string& id, WorkflowStatus ended) const {
  if (plan_.ended && is_complete(ended)) plan_.ended(id, ended);
}

void DemoEngine::start_workflow(const Delivery& d) {
  const auto& m = std::get<StartWorkflow>(d.message);
  run_transaction(store_, &queue_, [&](Transaction& txn) {
    Workflow wf = store_.retrieve(m.execution_id);
    if (wf.status != WorkflowStatus::kNotStarted) return;
    wf.status = WorkflowStatus::kRunning;
    wf.start_time = now_ms();
    txn.update_workflow_status(wf);
    push_ready(txn, wf);
    txn.mark_message_processed(d.message_id(), "StartWorkflowHandler", wf.id);
  });
  say(fmt::format("  delivery {:>3}  StartWorkflow     {}", d.id,
                  m.execution_id));
}

void DemoEngine::start_stage(const Delivery& d) {
  const auto& m = std::get<StartStage>(d.message);
  StageInExecution found = store_.retrieve_stage(m.stage_id);
  StageExecution& stage = found.stage();
  if (stage.status != WorkflowStatus::kNotStarted) return;  // redelivered
  const nlohmann::json inputs =
      store_.get_merged_ancestor_outputs(stage.execution_id, stage.ref_id);
  bool claimed = true;
  bool admitted = true;
  WorkflowStatus ended = WorkflowStatus::kNotStarted;
  try {
    run_transaction(store_, &queue_, [&](Transaction& txn) {
      ended = WorkflowStatus::kNotStarted;
      admitted = admit(txn, d, stage.execution_id, "StartStageHandler", nullptr,
                       ended);
      if (!admitted) return;
      if (stage.mutex_key) {
        claimed = txn.acquire_claim(stage.execution_id,
                                    "mutex:" + *stage.mutex_key, stage.id,
                                    /*steal_if_owner_terminal=*/true);
        if (!claimed) return;
      }
      stage.status = WorkflowStatus::kRunning;
      stage.start_time = now_ms();
      for (TaskExecution& task : stage.tasks) {
        task.status = WorkflowStatus::kRunning;
        task.start_time = stage.start_time;
      }
      txn.store_stage(stage, "NOT_STARTED");
      CompleteStage complete;
      complete.execution_id = stage.execution_id;
      complete.stage_id = stage.id;
      txn.push_message(complete, std::chrono::milliseconds{20});
      txn.mark_message_processed(d.message_id(), "StartStageHandler",
                                 stage.execution_id);
    });
  } catch (const ConcurrencyError&) {
    return;  // another worker started it (docs/semantics.md §6.6)
  }
  report(stage.execution_id, ended);
  if (!admitted) return;
  say(fmt::format(
      "  delivery {:>3}  StartStage        {:<18} inputs {} -> v{}{}", d.id,
      stage.ref_id, inputs.contains("result") ? inputs["result"].dump() : "{}",
      stage.version, claimed ? "" : " (mutex busy)"));
}

void DemoEngine::complete_stage(const Delivery& d) {
  const auto& m = std::get<CompleteStage>(d.message);
  // Outlive the transaction, as store_stage requires (a deque keeps its
  // elements in place as it grows).
  StageExecution stage;
  std::deque<StageExecution> waiting;
  bool canary = false;
  bool failed = false;
  WorkflowStatus ended = WorkflowStatus::kNotStarted;
  run_transaction(store_, &queue_, [&](Transaction& txn) {
    waiting.clear();
    ended = WorkflowStatus::kNotStarted;
    failed = false;
    stage = store_.retrieve_stage(m.stage_id).stage();
    if (stage.status != WorkflowStatus::kRunning) return;
    if (!admit(txn, d, stage.execution_id, "CompleteStageHandler", &stage,
               ended)) {
      return;
    }
    const StageFault fault = fault_of(stage);
    if (fault == StageFault::kThrowFirst && d.attempts <= 1) {
      throw std::runtime_error("stage " + stage.id +
                               ": transient fault (injected)");
    }
    canary =
        stage.execution_id == failing_workflow_ && stage.ref_id == "canary";
    failed = fault == StageFault::kFail;
    if (failed) {
      fail_stage(txn, stage, d);
      ended = WorkflowStatus::kTerminal;
      return;
    }
    stage.status = WorkflowStatus::kSucceeded;
    stage.end_time = now_ms();
    stage.outputs.mutable_value() = {
        {"result", stage.ref_id + " ok"},
        {"artifacts", {fmt::format("{}.log", stage.ref_id)}}};
    for (TaskExecution& task : stage.tasks) {
      task.status = WorkflowStatus::kSucceeded;
      task.end_time = stage.end_time;
    }
    txn.store_stage(stage, "RUNNING");
    txn.mark_message_processed(d.message_id(), "CompleteStageHandler",
                               stage.execution_id);
    Workflow wf = store_.retrieve(stage.execution_id);
    *wf.find_stage(stage.id) = stage;
    // Two upstream stages of a join that complete at once would each see
    // the other still running, and neither would start the join. Each
    // completion therefore also compare-and-sets the stages waiting on it:
    // of two such transactions the second fails at commit, reruns, and
    // sees both upstream stages done.
    for (const StageExecution& other : wf.stages) {
      if (other.status != WorkflowStatus::kNotStarted) continue;
      for (const StageExecution* dep : dependencies(wf, other)) {
        if (dep->id != stage.id) continue;
        waiting.push_back(other);
        txn.store_stage(waiting.back(), "NOT_STARTED");
        break;
      }
    }
    push_ready(txn, wf);
    bool done = true;
    for (const StageExecution& s : wf.stages) {
      done &= s.status == WorkflowStatus::kSucceeded;
    }
    if (done) {
      CompleteWorkflow complete;
      complete.execution_id = wf.id;
      txn.push_message(complete);
    }
  });
  report(stage.execution_id, ended);
  if (failed) {
    say(fmt::format(
        "  delivery {:>3}  CompleteStage     {:<18} FAILS: {} -> stage and "
        "workflow TERMINAL",
        d.id, stage.ref_id, kCanaryError));
  } else if (canary) {
    say(
        fmt::format("  delivery {:>3}  CompleteStage     {:<18} health "
                    "check passes (fixed)",
                    d.id, stage.ref_id));
  }
}

// The stage's check fails: the stage and its tasks end TERMINAL with the
// error in the stage context, and so does the workflow, in the transaction
// of `txn`.
void DemoEngine::fail_stage(Transaction& txn, StageExecution& stage,
                            const Delivery& d) {
  stage.status = WorkflowStatus::kTerminal;
  stage.end_time = now_ms();
  const std::string error = plan_.fault ? plan_.failure : kCanaryError;
  stage.context.mutable_value()["exception"] = {
      {"details", {{"error", error}}}};
  for (TaskExecution& task : stage.tasks) {
    task.status = WorkflowStatus::kTerminal;
    task.end_time = stage.end_time;
  }
  txn.store_stage(stage, "RUNNING");
  Workflow wf = store_.retrieve_execution_summary(stage.execution_id);
  wf.status = WorkflowStatus::kTerminal;
  wf.end_time = stage.end_time;
  txn.update_workflow_status(wf);
  txn.mark_message_processed(d.message_id(), "CompleteStageHandler",
                             stage.execution_id);
}

void DemoEngine::complete_workflow(const Delivery& d) {
  const auto& m = std::get<CompleteWorkflow>(d.message);
  WorkflowStatus ended = WorkflowStatus::kNotStarted;
  run_transaction(store_, &queue_, [&](Transaction& txn) {
    ended = WorkflowStatus::kNotStarted;
    if (!admit(txn, d, m.execution_id, "CompleteWorkflowHandler", nullptr,
               ended)) {
      return;
    }
    Workflow wf = store_.retrieve_execution_summary(m.execution_id);
    wf.status = WorkflowStatus::kSucceeded;
    wf.end_time = now_ms();
    txn.update_workflow_status(wf);
    txn.mark_message_processed(d.message_id(), "CompleteWorkflowHandler",
                               wf.id);
    ended = WorkflowStatus::kSucceeded;
  });
  report(m.execution_id, ended);
  say(fmt::format("  delivery {:>3}  CompleteWorkflow  {}", d.id,
                  m.execution_id));
}

// The poison message of the demo: its task always fails, unless fixed.
void DemoEngine::run_task(const Delivery& d) {
  const auto& m = std::get<RunTask>(d.message);
  if (fixed_) {
    say(fmt::format("  delivery {:>3}  RunTask {} attempt {}: ok (fixed)", d.id,
                    m.task_type, d.attempts));
    return;
  }
  say(fmt::format("  delivery {:>3}  RunTask {} attempt {}: fails", d.id,
                  m.task_type, d.attempts));
  throw std::runtime_error("task " + m.task_id + " crashed");
}

CommitWaiter::CommitWaiter(Database& db)
    : db_(db), id_(db.add_commit_listener([this](const CommitNotice&) {
        const std::scoped_lock lock(mu_);
        ++commits_;
        cv_.notify_all();
      })) {}

CommitWaiter::~CommitWaiter() { db_.remove_commit_listener(id_); }

bool CommitWaiter::wait_for(const std::function<bool()>& done) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds{60};
  std::unique_lock lock(mu_);
  while (true) {
    const std::uint64_t seen = commits_;
    lock.unlock();
    if (done()) return true;
    lock.lock();
    if (!cv_.wait_until(lock, deadline, [&] { return commits_ != seen; })) {
      return false;
    }
  }
}

QueueProcessorConfig engine_config() {
  QueueProcessorConfig config;
  config.max_workers = 2;
  config.retry_delay = std::chrono::milliseconds{50};
  config.dlq_check_interval = std::chrono::milliseconds{100};
  return config;
}

}  // namespace wfstore::tools
