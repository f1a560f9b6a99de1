// The store the viewer's browser test (browser_test.py) looks at, written as
// an engine would write it:
//
//   browser_store create DIR [WORKFLOWS] [BIG_EVENTS]
//     creates DIR with the deployment workflow kDag (build -> unit-tests |
//     integration-tests -> canary with a before- and an after-stage -> prod),
//     run up to its canary (prod not started, the workflow RUNNING, one
//     commit per step); a workflow whose name and context are markup; a
//     workflow of about BIG_EVENTS events (default 0: none); and WORKFLOWS
//     small workflows (default 20) over three applications and several
//     statuses. Prints the ids as JSON on stdout.
//   browser_store set DIR ID STATUS
//     one commit: workflow ID to STATUS (a status name, e.g. TERMINAL).
//   browser_store finish DIR
//     one commit: kDag's prod stage and the workflow SUCCEEDED.
// (The live updates the page must show while it is open.)
//
// Commits are buffered (fdatasync in the background): the test needs them
// visible, not durable.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/model.h"
#include "wfstore/options.h"
#include "wfstore/queue.h"
#include "wfstore/transaction.h"

namespace {

using wfstore::AuditScope;
using wfstore::Json;
using wfstore::StageExecution;
using wfstore::TaskExecution;
using wfstore::Workflow;
using wfstore::WorkflowStatus;

constexpr const char* kDag = "01VIEWERDAG000000000000001";
constexpr const char* kHostile = "01VIEWERMARKUP000000000002";
constexpr const char* kBig = "01VIEWERBIG000000000000003";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StageExecution make_stage(const Workflow& wf, const std::string& ref_id,
                          const std::string& name,
                          std::set<std::string> requisites,
                          nlohmann::json context) {
  StageExecution stage;
  stage.id = wf.id + "-" + ref_id;
  stage.execution_id = wf.id;
  stage.ref_id = ref_id;
  stage.type = "shell";
  stage.name = name;
  stage.requisite_stage_ref_ids = std::move(requisites);
  stage.context = Json(std::move(context));
  TaskExecution task;
  task.id = stage.id + "-t1";
  task.name = name + " task";
  task.implementing_class = "stabilize.tasks.ShellTask";
  task.stage_start = true;
  task.stage_end = true;
  stage.tasks.push_back(task);
  return stage;
}

Workflow deployment(const std::string& id, const std::string& application,
                    const std::string& name) {
  Workflow wf;
  wf.id = id;
  wf.application = application;
  wf.name = name;
  wf.origin = "api";
  wf.trigger.type = "git";
  wf.trigger.user = "ci-bot";
  wf.context = Json(nlohmann::json{{"service", "billing"}, {"region", "eu"}});
  wf.stages.push_back(make_stage(wf, "build", "Build", {}, {{"cmd", "make"}}));
  wf.stages.push_back(
      make_stage(wf, "unit-tests", "Unit tests", {"build"}, {{"suite", "u"}}));
  wf.stages.push_back(make_stage(wf, "integration-tests", "Integration tests",
                                 {"build"}, {{"suite", "i"}}));
  wf.stages.push_back(make_stage(wf, "canary", "Canary deploy",
                                 {"unit-tests", "integration-tests"},
                                 {{"percent", 5}}));
  StageExecution lock =
      make_stage(wf, "canary-lock", "Acquire deploy lock", {}, {});
  lock.parent_stage_id = wf.id + "-canary";
  lock.synthetic_stage_owner = wfstore::SyntheticStageOwner::kStageBefore;
  wf.stages.push_back(lock);
  StageExecution notify =
      make_stage(wf, "canary-notify", "Notify #deploys", {}, {});
  notify.parent_stage_id = wf.id + "-canary";
  notify.synthetic_stage_owner = wfstore::SyntheticStageOwner::kStageAfter;
  wf.stages.push_back(notify);
  wf.stages.push_back(
      make_stage(wf, "prod", "Production deploy", {"canary"}, {}));
  return wf;
}

// One commit: the stage (and its tasks) to `status`.
void set_stage(wfstore::WorkflowStore& store, const std::string& stage_id,
               WorkflowStatus status, nlohmann::json outputs = {}) {
  StageExecution stage = store.retrieve_stage(stage_id).stage();
  stage.status = status;
  const std::int64_t t = now_ms();
  if (status == WorkflowStatus::kRunning) stage.start_time = t;
  if (status != WorkflowStatus::kRunning) stage.end_time = t;
  if (!outputs.is_null()) stage.outputs = Json(std::move(outputs));
  for (TaskExecution& task : stage.tasks) {
    task.status = status;
    task.start_time = stage.start_time;
    task.end_time = stage.end_time;
  }
  store.store_stage(stage);
}

void set_workflow(wfstore::WorkflowStore& store, const std::string& id,
                  WorkflowStatus status) {
  Workflow wf = store.retrieve_execution_summary(id);
  wf.status = status;
  if (status == WorkflowStatus::kRunning) wf.start_time = now_ms();
  if (status != WorkflowStatus::kRunning) wf.end_time = now_ms();
  store.update_status(wf);
}

wfstore::DatabaseOptions options() {
  wfstore::DatabaseOptions o;
  o.durability = wfstore::Durability::kBuffered;
  return o;
}

int create(const std::string& dir, int workflows, int big_events) {
  auto db = wfstore::Database::open(dir, options());
  wfstore::WorkflowStore& store = db->workflow_store();
  wfstore::Queue queue(*db);
  const AuditScope audit({"engine@worker", kDag, "", "engine"});

  store.store(deployment(kDag, "payments", "deploy billing #12"));
  set_workflow(store, kDag, WorkflowStatus::kRunning);
  const std::string s = std::string(kDag) + "-";
  for (const char* ref : {"build", "unit-tests", "integration-tests",
                          "canary-lock", "canary", "canary-notify"}) {
    set_stage(store, s + ref, WorkflowStatus::kRunning);
    set_stage(store, s + ref, WorkflowStatus::kSucceeded,
              {{"result", std::string(ref) + " ok"}, {"attempt", 1}});
  }
  wfstore::StartStage start;
  start.execution_id = kDag;
  start.stage_id = s + "prod";
  queue.push(start, std::chrono::hours{1});

  Workflow hostile = deployment(
      kHostile, "payments", "<img src=x id=injected> & \"quoted\" </script>");
  hostile.context = Json(
      nlohmann::json{{"<b>key</b>", "<script>document.title='pwned'</script>"},
                     {"nested", {{"list", {1, "two", nullptr, true}}}}});
  store.store(hostile);

  if (big_events > 0) {
    Workflow big = deployment(kBig, "search", "reindex catalogue");
    store.store(big);
    set_workflow(store, kBig, WorkflowStatus::kRunning);
    // One StageUpdated event per commit.
    const std::string b = std::string(kBig) + "-build";
    for (int i = 0; i < big_events; ++i) {
      StageExecution stage = store.retrieve_stage(b).stage();
      stage.status = WorkflowStatus::kRunning;
      stage.context = Json(nlohmann::json{{"progress", i}});
      store.store_stage(stage);
    }
  }

  const char* apps[] = {"payments", "search", "ledger"};
  const WorkflowStatus statuses[] = {
      WorkflowStatus::kSucceeded, WorkflowStatus::kRunning,
      WorkflowStatus::kTerminal, WorkflowStatus::kNotStarted};
  for (int i = 0; i < workflows; ++i) {
    Workflow wf;
    wf.id = fmt::format("01VIEWERFILL{:014}", i);
    wf.application = apps[i % 3];
    wf.name = fmt::format("nightly {} #{}", wf.application, i);
    wf.stages.push_back(make_stage(wf, "run", "Run", {}, {}));
    wf.status = statuses[i % 4];
    if (wf.status != WorkflowStatus::kNotStarted) {
      // At least two hours before the workflows above, 10 s apart.
      wf.start_time = now_ms() - 7'200'000 - 10'000LL * (workflows - i);
    }
    store.store(wf);
  }
  db->close();
  std::cout << nlohmann::json{{"dag", kDag},
                              {"hostile", kHostile},
                              {"big", big_events > 0 ? kBig : ""}}
                   .dump()
            << std::endl;
  return 0;
}

int set(const std::string& dir, const std::string& id,
        const std::string& status) {
  auto db = wfstore::Database::open(dir, options());
  const AuditScope audit({"scheduler", id, "", "engine"});
  set_workflow(db->workflow_store(), id,
               wfstore::parse_status(status, "STATUS"));
  db->close();
  return 0;
}

int finish(const std::string& dir) {
  auto db = wfstore::Database::open(dir, options());
  wfstore::WorkflowStore& store = db->workflow_store();
  const AuditScope audit({"engine@worker", kDag, "", "engine"});
  StageExecution prod =
      store.retrieve_stage(std::string(kDag) + "-prod").stage();
  prod.status = WorkflowStatus::kSucceeded;
  prod.start_time = prod.end_time = now_ms();
  Workflow wf = store.retrieve_execution_summary(kDag);
  wf.status = WorkflowStatus::kSucceeded;
  wf.end_time = now_ms();
  wfstore::run_transaction(store, nullptr, [&](wfstore::Transaction& txn) {
    txn.store_stage(prod);
    txn.update_workflow_status(wf);
  });
  db->close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 2 && args[0] == "create") {
      return create(args[1], args.size() > 2 ? std::stoi(args[2]) : 20,
                    args.size() > 3 ? std::stoi(args[3]) : 0);
    }
    if (args.size() == 4 && args[0] == "set") {
      return set(args[1], args[2], args[3]);
    }
    if (args.size() == 2 && args[0] == "finish") return finish(args[1]);
    std::cerr << "usage: browser_store create DIR [WORKFLOWS] [BIG_EVENTS] | "
                 "set DIR ID STATUS | finish DIR\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "browser_store: " << e.what() << "\n";
    return 1;
  }
}
