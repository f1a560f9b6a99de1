// `wfstore demo`: the main job, a realistic demonstration of what wfstore does
// today.
//
// It builds two deployment workflows (parallel test branches joining into a
// canary deploy with synthetic before/after stages), produces the events that
// storing and running them produces, commits them (one log record per commit,
// as a transaction would) to a real append-only log with fdatasync, reads the
// log back, decodes every event and prints it as JSON, then verifies checksums,
// LSN continuity and the hash chain and prints the head hash.

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/event.h"
#include "wfstore/file_system.h"
#include "wfstore/message.h"
#include "wfstore/model.h"

#include "tools/commands.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_verify.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/stage_graph.h"
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

// One commit: the events of one store call or transaction, and who made it.
struct DemoCommit {
  AuditMetadata audit;
  std::vector<EventPayload> events;
};

// The commits of running a stage: start it (stage RUNNING + its StartStage
// message consumed), then complete it with outputs and queue the downstream
// stages' StartStage.
void run_stage(const Workflow& wf, StageExecution& stage, std::int64_t& now,
               std::uint64_t& delivery_id, nlohmann::json outputs,
               std::vector<DemoCommit>& commits) {
  const AuditMetadata audit{"engine@worker-1", wf.id, "StartStage:" + stage.id,
                            "demo"};
  stage.status = WorkflowStatus::kRunning;
  stage.start_time = now;
  StageUpdated running{
      wf.id,         stage.id,      stage.version + 1, stage.status,
      stage.context, stage.outputs, stage.start_time,  stage.end_time,
      stage.tasks};
  stage.version += 1;
  for (TaskExecution& task : stage.tasks) {
    task.status = WorkflowStatus::kRunning;
    task.start_time = now;
  }
  running.tasks = stage.tasks;
  for (TaskExecution& task : running.tasks) task.version += 1;
  for (TaskExecution& task : stage.tasks) task.version += 1;
  commits.push_back({audit, {running}});

  now += 1500;
  stage.status = WorkflowStatus::kSucceeded;
  stage.end_time = now;
  stage.outputs = Json(std::move(outputs));
  for (TaskExecution& task : stage.tasks) {
    task.status = WorkflowStatus::kSucceeded;
    task.end_time = now;
    task.version += 1;
  }
  stage.version += 1;
  DemoCommit done{audit, {}};
  done.events.push_back(StageUpdated{
      wf.id, stage.id, stage.version, stage.status, stage.context,
      stage.outputs, stage.start_time, stage.end_time, stage.tasks});
  for (const StageExecution* next : downstream_stages(wf, stage)) {
    StartStage message;
    message.execution_id = wf.id;
    message.stage_id = next->id;
    done.events.push_back(MessagePushed{
        ++delivery_id, wf.id, "StartStage",
        Json(message_to_wire(Message(message), now)), now, std::nullopt});
  }
  done.events.push_back(MessageProcessed{std::to_string(delivery_id),
                                         "StartStageHandler", wf.id, now});
  commits.push_back(std::move(done));
  now += 200;
}

std::vector<DemoCommit> scenario(std::vector<Workflow>& workflows) {
  std::vector<DemoCommit> commits;
  std::int64_t now = kBaseMs;
  std::uint64_t delivery_id = 0;
  workflows.push_back(
      deployment("01JDEPLOYPAYMENTSAPI000001", "payments-api", 418));
  workflows.push_back(deployment("01JDEPLOYLEDGER00000000002", "ledger", 77));
  for (const Workflow& wf : workflows) {
    commits.push_back(
        {{"alice@example.com", wf.id, "", "api"}, {WorkflowStored{wf}}});
  }
  Workflow& wf = workflows.front();
  wf.status = WorkflowStatus::kRunning;
  wf.start_time = now;
  commits.push_back(
      {{"engine@worker-1", wf.id, "StartWorkflow", "demo"},
       {WorkflowStatusSet{wf.id, wf.status, wf.start_time, wf.end_time}}});
  int n = 0;
  for (const std::string ref :
       {"build", "unit-tests", "integration-tests", "canary-lock", "canary",
        "canary-notify", "prod"}) {
    for (StageExecution& stage : wf.stages) {
      if (stage.ref_id != ref) continue;
      run_stage(wf, stage, now, delivery_id,
                {{"result", ref + " ok"},
                 {"artifacts", {fmt::format("{}-{}.log", ref, ++n)}}},
                commits);
    }
  }
  wf.status = WorkflowStatus::kSucceeded;
  wf.end_time = now;
  commits.push_back(
      {{"engine@worker-1", wf.id, "CompleteWorkflow", "demo"},
       {WorkflowStatusSet{wf.id, wf.status, wf.start_time, wf.end_time}}});
  Workflow& other = workflows.back();
  commits.push_back({{"bob@example.com", other.id, "", "cli"},
                     {WorkflowPaused{other.id, "bob@example.com", now}}});
  commits.push_back({{"bob@example.com", other.id, "", "cli"},
                     {WorkflowCancelRequested{other.id, "bob@example.com",
                                              "freeze window"}}});
  return commits;
}

int run_demo(const DemoOptions& options) {
  std::shared_ptr<FileSystem> fs = posix_file_system();
  std::filesystem::path dir = options.dir;
  std::filesystem::path scratch;
  if (dir.empty()) {
    scratch = std::filesystem::temp_directory_path() /
              fmt::format("wfstore-demo-{}", static_cast<long>(::getpid()));
    std::filesystem::remove_all(scratch);
    dir = scratch;
  }
  std::vector<Workflow> workflows;
  const std::vector<DemoCommit> commits = scenario(workflows);
  for (const Workflow& wf : workflows) validate_workflow(wf);

  std::cout << "# wfstore demo: store directory " << dir.string() << "\n";
  std::uint64_t last_lsn = 0;
  {
    StoreDir store = StoreDir::create_or_open(fs, dir);
    std::cout << "# store id " << store.id().to_string() << "\n";
    auto writer = log::Writer::open(fs, store.log_dir(), store.id());
    std::int64_t timestamp = kBaseMs;
    for (const DemoCommit& commit : commits) {
      const std::uint64_t first = writer->last_lsn() + 1;
      writer->append(first, static_cast<std::uint32_t>(commit.events.size()),
                     timestamp++,
                     encode_commit_body(commit.audit, commit.events));
      writer->sync();
    }
    last_lsn = writer->last_lsn();
    writer->close();
  }
  std::cout << fmt::format("# {} commits, {} events appended and fdatasynced\n",
                           commits.size(), last_lsn);

  StoreDir store = StoreDir::open_existing(fs, dir, /*lock=*/false);
  log::Reader reader(fs, store.log_dir(), store.id(), 1,
                     [](const log::Damage& damage) {
                       std::cerr << "damage: " << damage.reason << "\n";
                     });
  log::Commit commit;
  std::size_t decoded = 0;
  while (reader.next(&commit)) {
    const DecodedCommit body = decode_commit_body(
        commit.first_lsn, commit.timestamp_ms, commit.event_count, commit.body);
    for (const Event& event : body.events) {
      ++decoded;
      const nlohmann::json doc = event_to_json(event);
      if (options.json) {
        std::cout << doc.dump() << "\n";
      } else {
        std::cout << fmt::format(
            "lsn {:>3}  commit {:>3}  {:<24} {:<28} actor={}\n", event.lsn,
            event.commit_id, event_type_name(event.type()), event.workflow_id,
            event.audit.actor);
      }
    }
  }
  const log::VerifyReport report =
      log::verify_log(fs, store.log_dir(), store.id());
  std::cout << fmt::format(
      "# read back {} events; verify: {} segment(s), {} commits, "
      "LSN {}..{}, head hash {}\n",
      decoded, report.segments, report.commits, report.first_lsn,
      report.last_lsn, log::to_hex(report.head_hash));

  const Workflow& wf = workflows.front();
  std::cout << "# merged ancestor outputs seen by 'prod': "
            << internal::merged_ancestor_outputs(wf, "prod").dump() << "\n";
  std::cout << "# workflow context (get_context): " << wf.get_context().dump()
            << "\n";
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
  return 0;
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
