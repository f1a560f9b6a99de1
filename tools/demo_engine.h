// The demo's engine (tools/demo_engine.cc): handlers on the store's queue that
// run deployment workflows the way stabilize's engine does, for the demo's
// three workflows (tools/demo.cc) and its fleet (tools/demo_fleet.cc).

#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"
#include "wfstore/transaction.h"

namespace wfstore::tools {

// A stage of workflow `wf` (id `<wf.id>-<suffix>`) with one shell task.
StageExecution make_stage(const Workflow& wf, const std::string& suffix,
                          const std::string& ref_id, const std::string& name,
                          std::set<std::string> requisites,
                          nlohmann::json context);

// Appends to wf.stages a deploy stage `ref_id` (its id suffix too) after
// `requisites`, guarded by the service's deploy mutex, with its synthetic
// before-stage taking the deploy lock (`<ref_id>-lock`) and after-stage
// notifying #deploys (`<ref_id>-notify`).
void add_guarded_deploy(Workflow& wf, const std::string& ref_id,
                        const std::string& name,
                        std::set<std::string> requisites, int percent,
                        const std::string& service);

// The stages a stage waits for: its requisites (with their after-stages) and
// its before-stages; a before-stage waits for its parent's requisites; an
// after-stage for its parent. The pointers point into `wf`.
std::vector<const StageExecution*> dependencies(const Workflow& wf,
                                                const StageExecution& stage);

// NOT_STARTED stages whose dependencies all succeeded (pointers into `wf`).
std::vector<const StageExecution*> ready_stages(const Workflow& wf);

// What a plan makes of a stage's completion.
enum class StageFault : std::uint8_t {
  kNone,  // the stage succeeds
  kFail,  // its check fails: the stage and its workflow end TERMINAL
  // The handler throws on the delivery's first attempt (a transient fault);
  // the processor reschedules the message and the next attempt succeeds.
  kThrowFirst,
};

// An engine's plan, for a fleet: faults by stage and a report of each
// workflow the engine ends. Both are called on worker threads, concurrently.
struct EnginePlan {
  // The fault of the completion of `stage`; null: none.
  std::function<StageFault(const StageExecution& stage)> fault;
  // Called after the commit that gave workflow `id` the complete status
  // `status` (SUCCEEDED, TERMINAL or CANCELED); null: nothing.
  std::function<void(const std::string& id, WorkflowStatus status)> ended;
  // The error a failing stage records in its context.
  std::string failure = "check failed";
};

// A small engine on the store's queue: each handler changes stages and pushes
// the next messages in one transaction, as stabilize's handlers do; the
// processor dedups, marks, acks and retries around them. Every handler first
// reads its workflow: a PAUSED one gets the delivery's message again after a
// delay (nothing else changes until it is resumed); a canceled one ends
// CANCELED, with the stage being completed (CompleteStage) CANCELED too.
//
// Thread-safety: the handlers run on any number of worker threads at once;
// the engine must outlive the processors it is registered with.
class DemoEngine {
 public:
  // The demo's engine, printing one line per handled delivery: the canary
  // stage of `failing_workflow` fails (its error budget is exceeded) and ends
  // the workflow TERMINAL, and the demo's poison task (RunTask) throws,
  // unless `fixed` (the fix of the failure, for the re-run on a fork).
  DemoEngine(WorkflowStore& store, Queue& queue, bool fixed = false,
             std::string failing_workflow = "");
  // A fleet's engine: quiet, with the faults of `plan`; RunTask throws.
  DemoEngine(WorkflowStore& store, Queue& queue, EnginePlan plan);

  // Registers the handlers; each runs under an audit scope naming the
  // engine as actor and the delivery's workflow as correlation id, so the
  // history says who made every change.
  void register_with(QueueProcessor& processor);

  // Prints `line` on stdout (one whole line among concurrent handlers).
  void say(const std::string& line);

  // The canary's error in the demo.
  static constexpr const char* kCanaryError =
      "5xx rate 7.3% on the canary, budget 1%";

 private:
  void push_ready(Transaction& txn, const Workflow& wf);
  bool admit(Transaction& txn, const Delivery& d,
             const std::string& execution_id, const char* handler_type,
             StageExecution* stage, WorkflowStatus& ended);
  StageFault fault_of(const StageExecution& stage) const;
  void report(const std::string& id, WorkflowStatus ended) const;
  void start_workflow(const Delivery& d);
  void start_stage(const Delivery& d);
  void complete_stage(const Delivery& d);
  void fail_stage(Transaction& txn, StageExecution& stage, const Delivery& d);
  void complete_workflow(const Delivery& d);
  void run_task(const Delivery& d);

  WorkflowStore& store_;
  Queue& queue_;
  bool fixed_ = false;
  bool quiet_ = false;
  std::string failing_workflow_;
  EnginePlan plan_;
  std::mutex mu_;
};

// Waits for a state of the store: `done` is checked again after every commit
// (a commit listener wakes the waiter), for at most 60 s.
class CommitWaiter {
 public:
  explicit CommitWaiter(Database& db);
  ~CommitWaiter();
  CommitWaiter(const CommitWaiter&) = delete;
  CommitWaiter& operator=(const CommitWaiter&) = delete;

  // True once `done` holds; false when 60 s pass without it.
  bool wait_for(const std::function<bool()>& done);

 private:
  Database& db_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t commits_ = 0;
  std::uint64_t id_;
};

// The demo engine's processor: 2 workers, quick retries and DLQ sweeps.
QueueProcessorConfig engine_config();

}  // namespace wfstore::tools
