// `wfstore demo`: the main job, a realistic demonstration of what wfstore does.
//
// It opens a store, stores two deployment workflows (parallel test branches
// joining into a canary deploy with synthetic before/after stages), runs one
// the way an engine does (compare-and-set per stage, ancestor outputs as
// inputs, dedup marks), pauses, resumes and cancels the other, shows a stale
// copy and bad input refused, reopens the store, queries it, prints the decoded
// history from the log, and verifies the hash chain and that the views equal a
// rebuild.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"
#include "wfstore/logger.h"
#include "wfstore/maintenance.h"
#include "wfstore/model.h"

#include "tools/commands.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::tools {
namespace {

constexpr std::int64_t kBaseMs = 1764331200000;  // 2025-11-28T12:00:00Z

struct DemoOptions {
  std::string dir;
  bool json = false;
};

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

// build -> (unit-tests | integration-tests) -> canary (before: lock, after:
// notify) -> prod
Workflow deployment(const std::string& id, const std::string& service,
                    int build_number) {
  Workflow wf;
  wf.id = id;
  wf.application = "payments";
  wf.name = fmt::format("deploy {} #{}", service, build_number);
  wf.pipeline_config_id = "deploy-" + service;
  wf.origin = "api";
  wf.trigger.type = "git";
  wf.trigger.user = "ci-bot";
  wf.trigger.parameters =
      Json(nlohmann::json{{"branch", "main"}, {"build", build_number}});
  wf.context =
      Json(nlohmann::json{{"service", service}, {"region", "eu-west-1"}});
  wf.stages.push_back(make_stage(wf, "build", "build", "Build", {},
                                 {{"command", "make release"}}));
  wf.stages.push_back(make_stage(wf, "unit", "unit-tests", "Unit tests",
                                 {"build"}, {{"suite", "unit"}}));
  wf.stages.push_back(make_stage(wf, "integ", "integration-tests",
                                 "Integration tests", {"build"},
                                 {{"suite", "integration"}}));
  StageExecution canary =
      make_stage(wf, "canary", "canary", "Canary deploy",
                 {"unit-tests", "integration-tests"}, {{"percent", 5}});
  canary.mutex_key = "deploy-" + service;
  wf.stages.push_back(canary);
  StageExecution lock =
      make_stage(wf, "canary-lock", "canary-lock", "Acquire deploy lock", {},
                 {{"lock", "deploy-" + service}});
  lock.parent_stage_id = canary.id;
  lock.synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
  wf.stages.push_back(lock);
  StageExecution notify =
      make_stage(wf, "canary-notify", "canary-notify", "Notify #deploys", {},
                 {{"channel", "#deploys"}});
  notify.parent_stage_id = canary.id;
  notify.synthetic_stage_owner = SyntheticStageOwner::kStageAfter;
  wf.stages.push_back(notify);
  wf.stages.push_back(make_stage(wf, "prod", "prod", "Production deploy",
                                 {"canary"}, {{"percent", 100}}));
  return wf;
}

// Runs one stage the way an engine does: claim it with a compare-and-set from
// NOT_STARTED, plan its inputs from its ancestors' outputs, complete it with a
// compare-and-set from RUNNING, and mark the message that started it processed.
void run_stage(WorkflowStore& store, const std::string& stage_id,
               std::int64_t& now, int delivery) {
  StageInExecution found = store.retrieve_stage(stage_id);
  StageExecution& stage = found.stage();
  const nlohmann::json inputs =
      store.get_merged_ancestor_outputs(stage.execution_id, stage.ref_id);
  stage.status = WorkflowStatus::kRunning;
  stage.start_time = now;
  for (TaskExecution& task : stage.tasks) {
    task.status = WorkflowStatus::kRunning;
    task.start_time = now;
  }
  store.store_stage(stage, "NOT_STARTED");
  now += 1500;
  stage.status = WorkflowStatus::kSucceeded;
  stage.end_time = now;
  stage.outputs.mutable_value() = {
      {"result", stage.ref_id + " ok"},
      {"artifacts", {fmt::format("{}.log", stage.ref_id)}}};
  for (TaskExecution& task : stage.tasks) {
    task.status = WorkflowStatus::kSucceeded;
    task.end_time = now;
  }
  store.store_stage(stage, "RUNNING");
  store.mark_message_processed(std::to_string(delivery), "StartStageHandler",
                               stage.execution_id);
  const std::string result =
      inputs.contains("result") ? inputs["result"].dump() : "none";
  const std::size_t artifacts =
      inputs.contains("artifacts") ? inputs["artifacts"].size() : 0;
  std::cout << fmt::format(
      "  {:<18} inputs: result {:<24} {} artifacts  -> stage version {}\n",
      stage.ref_id, result, artifacts, stage.version);
  now += 200;
}

// Prints every event of the log with its position, commit and actor.
std::size_t print_history(const std::filesystem::path& dir, bool json) {
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store = StoreDir::open_existing(fs, dir, /*lock=*/false);
  log::Reader reader(fs, store.log_dir(), store.id(), 1,
                     [](const log::Damage& damage) {
                       std::cerr << "damage: " << damage.reason << "\n";
                     });
  log::Commit commit;
  std::size_t events = 0;
  while (reader.next(&commit)) {
    const DecodedCommit body = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    for (const Event& event : body.events) {
      ++events;
      if (json) {
        std::cout << event_to_json(event).dump() << "\n";
      } else {
        std::cout << fmt::format("  lsn {:>3} commit {:>3} {:<24} {:<27} {}\n",
                                 event.lsn, event.commit_id,
                                 event_type_name(event.type()),
                                 event.workflow_id, event.audit.actor);
      }
    }
  }
  return events;
}

int run_demo(const DemoOptions& options) {
  std::filesystem::path dir = options.dir;
  std::filesystem::path scratch;
  if (dir.empty()) {
    scratch = std::filesystem::temp_directory_path() /
              fmt::format("wfstore-demo-{}", static_cast<long>(::getpid()));
    std::filesystem::remove_all(scratch);
    dir = scratch;
  }
  DatabaseOptions db_options;
  db_options.logger = [](LogLevel level, std::string_view message) {
    std::cout << "  [" << log_level_name(level) << "] " << message << "\n";
  };
  Workflow api = deployment("01JDEPLOYPAYMENTSAPI000001", "payments-api", 418);
  Workflow ledger = deployment("01JDEPLOYLEDGER00000000002", "ledger", 77);
  std::int64_t now = kBaseMs;

  std::cout << "# wfstore demo: store directory " << dir.string() << "\n";
  {
    auto db = Database::open(dir, db_options);
    WorkflowStore& store = db->workflow_store();
    {
      AuditScope audit({"alice@example.com", "release-2025-11-28", "", "api"});
      store.store(api);
      store.store(ledger);
    }
    std::cout << "# stored 2 workflows with 7 stages each (durable: fdatasync "
                 "per commit)\n";

    std::cout << "# running '" << api.name
              << "' stage by stage (compare-and-set on each stage):\n";
    AuditScope engine({"engine@worker-1", api.id, "", "engine"});
    api.status = WorkflowStatus::kRunning;
    api.start_time = now;
    store.update_status(api);
    int delivery = 0;
    for (const std::string ref :
         {"build", "unit-tests", "integration-tests", "canary-lock", "canary",
          "canary-notify", "prod"}) {
      run_stage(store, api.find_stage_by_ref(ref)->id, now, ++delivery);
    }
    api.status = WorkflowStatus::kSucceeded;
    api.end_time = now;
    store.update_status(api);

    StageExecution stale = api.stages.front();  // still at version 0
    stale.status = WorkflowStatus::kTerminal;
    try {
      store.store_stage(stale);
    } catch (const ConcurrencyError& e) {
      std::cout << "# a stale copy is refused: " << e.what() << "\n";
    }
    const std::uint64_t lsn_before = db->stats().applied_lsn;
    Workflow bad = ledger;
    bad.id.clear();
    try {
      store.store(bad);
    } catch (const InvalidArgumentError& e) {
      std::cout << "# bad input is refused and appends nothing: " << e.what()
                << " (lsn still " << db->stats().applied_lsn
                << " == " << lsn_before << ")\n";
    }
    std::cout << "# 'StartStage' delivery 3 already handled: " << std::boolalpha
              << store.is_message_processed("3") << "\n";

    AuditScope operator_scope({"bob@example.com", ledger.id, "", "cli"});
    store.pause(ledger.id, "bob@example.com");
    store.resume(ledger.id);
    store.resume(ledger.id);  // not PAUSED any more: a logged no-op
    store.cancel(ledger.id, "bob@example.com", "freeze window");
    db->close();
  }

  auto db = Database::open(dir, db_options);
  WorkflowStore& store = db->workflow_store();
  std::cout << "# reopened; workflows of application 'payments' (newest "
               "first):\n";
  for (const Workflow& wf : store.retrieve_by_application("payments")) {
    std::cout << fmt::format("  {} {:<24} {:<10} canceled={} stages={}\n",
                             wf.id, wf.name, status_name(wf.status),
                             wf.is_canceled, wf.stages.size());
  }
  std::cout << "# 'prod' sees its ancestors' outputs: "
            << store.get_merged_ancestor_outputs(api.id, "prod").dump() << "\n";
  const DatabaseStats stats = db->stats();
  std::cout << fmt::format("# stats: applied lsn {}, durable lsn {}\n",
                           stats.applied_lsn, stats.durable_lsn);
  db->close();

  std::cout << "# the history (the log, decoded):\n";
  const std::size_t events = print_history(dir, options.json);
  std::shared_ptr<FileSystem> fs = posix_file_system();
  const StoreDir store_dir = StoreDir::open_existing(fs, dir, /*lock=*/false);
  const log::VerifyReport report =
      log::verify_log(fs, store_dir.log_dir(), store_dir.id());
  const ViewsVerifyReport views = verify_store_views(dir);
  std::cout << fmt::format(
      "# verify: {} events in {} commits, LSN {}..{}, hash chain intact, head "
      "hash {}\n# views {} a rebuild from the log (checksum {})\n",
      events, report.commits, report.first_lsn, report.last_lsn,
      log::to_hex(report.head_hash), views.equal() ? "equal" : "DIFFER FROM",
      views.checksum.substr(0, 16));
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
  return views.equal() ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Run the wfstore demonstration");
  cmd->add_option(
      "--dir", options->dir,
      "Store directory to create (missing or empty); default: a temporary one, "
      "removed afterwards");
  cmd->add_flag("--json", options->json,
                "Print every event as its full JSON document");
  action = [options] { return run_demo(*options); };
}

}  // namespace wfstore::tools
