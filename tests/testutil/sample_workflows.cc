// The sample workflows of sample_workflows.h.

#include "tests/testutil/sample_workflows.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "wfstore/limits.h"

namespace wfstore::testutil {
namespace {

using nlohmann::json;

constexpr std::int64_t kStart = 1'717'171'717'000;  // epoch ms, June 2024

// A finished task (times set, version bumped by its two updates).
void finish(TaskExecution& task, std::int64_t start, std::int64_t end) {
  task.start_time = start;
  task.end_time = end;
  task.version = 2;
}

// Appends a make_task() with the next index to `stage`; returns it.
TaskExecution& add_task(StageExecution& stage, std::string name,
                        std::string implementing_class, WorkflowStatus status) {
  return stage.tasks.emplace_back(
      make_task(stage.id, static_cast<int>(stage.tasks.size()), std::move(name),
                std::move(implementing_class), status));
}

// A synthetic stage of `parent`, owned as `owner`.
StageExecution synthetic_stage(const StageExecution& parent, std::string ref_id,
                               std::string type, std::string name,
                               WorkflowStatus status,
                               SyntheticStageOwner owner) {
  StageExecution stage = make_stage(parent.execution_id, std::move(ref_id),
                                    std::move(type), std::move(name), status);
  stage.parent_stage_id = parent.id;
  stage.synthetic_stage_owner = owner;
  return stage;
}

// A SUCCEEDED build stage of diamond_workflow(): it requires "setup", builds
// on `platform` from kStart + 1'300 to `end`, writes its binary, its artifact
// list and the scalar "winner", and has one "compile" task that ends at
// `compile_end`.
StageExecution build_stage(const std::string& workflow_id, std::string ref_id,
                           std::string name, const std::string& platform,
                           int jobs, std::int64_t compile_end,
                           std::int64_t end) {
  StageExecution stage =
      make_stage(workflow_id, ref_id, "build", std::move(name),
                 WorkflowStatus::kSucceeded);
  stage.requisite_stage_ref_ids = {"setup"};
  stage.context = json{{"platform", platform}, {"jobs", jobs}};
  stage.outputs = json{{"binary", "payments-" + platform + ".tar.gz"},
                       {"artifacts", json::array({platform + ".tar.gz"})},
                       {"winner", std::move(ref_id)}};
  stage.start_time = kStart + 1'300;
  stage.end_time = end;
  stage.version = 4;
  finish(add_task(stage, "compile", "stabilize.tasks.Shell",
                  WorkflowStatus::kSucceeded),
         kStart + 1'300, compile_end);
  return stage;
}

}  // namespace

Workflow bare_workflow(std::string id, std::string application,
                       WorkflowStatus status,
                       std::optional<std::int64_t> start_time) {
  Workflow w;
  w.id = std::move(id);
  w.application = std::move(application);
  w.status = status;
  w.start_time = start_time;
  return w;
}

StageExecution bare_stage(std::string workflow_id, std::string id,
                          std::string ref_id, std::string type) {
  StageExecution stage;
  stage.id = std::move(id);
  stage.execution_id = std::move(workflow_id);
  stage.ref_id = std::move(ref_id);
  stage.type = std::move(type);
  return stage;
}

StageExecution make_stage(const std::string& workflow_id, std::string ref_id,
                          std::string type, std::string name,
                          WorkflowStatus status) {
  std::string id = workflow_id + "." + ref_id;
  StageExecution stage = bare_stage(workflow_id, std::move(id),
                                    std::move(ref_id), std::move(type));
  stage.name = std::move(name);
  stage.status = status;
  return stage;
}

TaskExecution make_task(const std::string& stage_id, int index,
                        std::string name, std::string implementing_class,
                        WorkflowStatus status) {
  TaskExecution task;
  task.id = stage_id + ".t" + std::to_string(index);
  task.name = std::move(name);
  task.implementing_class = std::move(implementing_class);
  task.status = status;
  return task;
}

Workflow diamond_workflow(std::string id) {
  Workflow w = bare_workflow(std::move(id), "payments",
                             WorkflowStatus::kRunning, kStart);
  w.type = WorkflowType::kPipeline;
  w.name = "release-2024.06";
  w.context = json{{"environment", "production"},
                   {"requested_by", "ci-bot"},
                   {"regions", json::array({"eu-west-1", "us-east-1"})}};
  w.trigger.type = "webhook";
  w.trigger.user = "ci-bot";
  w.trigger.parameters = json{{"branch", "main"}, {"commit", "9f1c2ab"}};
  w.trigger.artifacts = json::array(
      {json{{"type", "docker"}, {"reference", "registry/payments:9f1c2ab"}}});
  w.trigger.payload = json{{"pusher", "alice"}, {"forced", false}};
  w.pipeline_config_id = "payments-release";
  w.origin = "api";

  StageExecution setup =
      make_stage(w.id, "setup", "setup", "Set up", WorkflowStatus::kSucceeded);
  setup.context = json{{"workspace", "/srv/build"}};
  setup.outputs = json{{"artifact_version", "1.4.2"},
                       {"artifacts", json::array({"manifest.json"})},
                       {"winner", "setup"}};
  setup.start_time = kStart;
  setup.end_time = kStart + 1'200;
  setup.version = 3;
  finish(add_task(setup, "checkout", "stabilize.tasks.Checkout",
                  WorkflowStatus::kSucceeded),
         kStart, kStart + 1'200);

  StageExecution linux_build =
      build_stage(w.id, "build_linux", "Build (linux)", "linux", 8,
                  kStart + 50'000, kStart + 60'000);
  finish(add_task(linux_build, "package", "stabilize.tasks.Shell",
                  WorkflowStatus::kSucceeded),
         kStart + 50'000, kStart + 60'000);
  linux_build.tasks.front().stage_start = true;
  linux_build.tasks.back().stage_end = true;

  StageExecution mac_build =
      build_stage(w.id, "build_mac", "Build (macOS)", "macos", 4,
                  kStart + 90'000, kStart + 90'000);

  StageExecution deploy =
      make_stage(w.id, "deploy", "deploy", "Deploy", WorkflowStatus::kRunning);
  deploy.requisite_stage_ref_ids = {"build_linux", "build_mac"};
  deploy.context = json{{"strategy", "red-black"},
                        {"_output_reducers", json{{"artifacts", "concat"}}}};
  deploy.start_time = kStart + 90'100;
  deploy.version = 2;
  deploy.join_type = JoinType::kAnd;
  deploy.mutex_key = "payments-production";
  TaskExecution& rollout = add_task(deploy, "rollout", "stabilize.tasks.Deploy",
                                    WorkflowStatus::kRunning);
  rollout.start_time = kStart + 90'200;
  rollout.version = 1;
  add_task(deploy, "wait_for_healthy", "stabilize.tasks.WaitForHealthy",
           WorkflowStatus::kNotStarted);

  StageExecution precheck = synthetic_stage(
      deploy, "deploy_precheck", "precheck", "Pre-deploy check",
      WorkflowStatus::kSucceeded, SyntheticStageOwner::kStageBefore);
  precheck.context = json{{"checks", json::array({"quota", "capacity"})}};
  precheck.outputs = json{{"precheck", "ok"}, {"winner", "deploy_precheck"}};
  precheck.start_time = kStart + 90'000;
  precheck.end_time = kStart + 90'100;
  precheck.version = 3;
  finish(add_task(precheck, "check_quota", "stabilize.tasks.CheckQuota",
                  WorkflowStatus::kSucceeded),
         kStart + 90'000, kStart + 90'100);

  StageExecution verify = synthetic_stage(
      deploy, "deploy_verify", "verify", "Verify deployment",
      WorkflowStatus::kNotStarted, SyntheticStageOwner::kStageAfter);
  verify.context = json{{"smoke_tests", json::array({"login", "charge"})}};
  verify.outputs = json{{"winner", "deploy_verify"}};
  add_task(verify, "smoke_test", "stabilize.tasks.SmokeTest",
           WorkflowStatus::kNotStarted);

  StageExecution notify = synthetic_stage(
      deploy, "deploy_notify", "notify", "Notify channel",
      WorkflowStatus::kNotStarted, SyntheticStageOwner::kStageAfter);
  notify.requisite_stage_ref_ids = {"deploy_verify"};
  notify.context = json{{"channel", "#releases"}};
  add_task(notify, "post_message", "stabilize.tasks.Notify",
           WorkflowStatus::kNotStarted);

  w.stages = {std::move(setup),  std::move(linux_build), std::move(mac_build),
              std::move(deploy), std::move(precheck),    std::move(verify),
              std::move(notify)};
  return w;
}

Workflow full_workflow(std::string id) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::uint64_t kUMax = std::numeric_limits<std::uint64_t>::max();

  const json nested = [] {
    json inner = json{{"leaf", "🌿 blatt"}};
    for (int depth = 0; depth < 20; ++depth) {
      inner = json{{"level", depth}, {"child", std::move(inner)}};
    }
    return inner;
  }();
  const json rich =
      json{{"int64_min", kMin},
           {"int64_max", kMax},
           {"uint64_max", kUMax},
           {"negative_one", -1},
           {"double", 3.141592653589793},
           {"tiny_double", 5e-324},
           {"big_double", 1.7976931348623157e308},
           {"null", nullptr},
           {"true", true},
           {"false", false},
           {"empty_object", json::object()},
           {"empty_array", json::array()},
           {"empty_string", ""},
           {"nul inside", std::string("a\0b", 3)},
           {"ключ 🔑", "значение — 値"},
           {"mixed", json::array({1, "two", 3.5, nullptr, json{{"k", "v"}}})},
           {"nested", nested}};

  Workflow w = bare_workflow(std::move(id), "applicación-ü",
                             WorkflowStatus::kSuspended, kStart);
  w.type = WorkflowType::kOrchestration;
  w.name = "全部のフィールド workflow";
  w.context = json{{"rich", rich}, {"region", "東京"}};
  w.trigger.type = "cron";
  w.trigger.user = "ünïcødé-üser";
  w.trigger.parameters = json{{"schedule", "0 * * * *"}, {"rich", rich}};
  w.trigger.artifacts =
      json::array({json{{"type", "s3"}, {"uri", "s3://bucket/ключ"}}, nested});
  w.trigger.payload = json{{"payload", rich}};
  w.end_time = kMax;
  w.start_time_expiry = kMin;
  w.is_canceled = true;
  w.canceled_by = "opérateur";
  // Exactly kMaxStringBytes bytes, with a multi-byte character at the end.
  w.cancellation_reason = std::string(kMaxStringBytes - 4, 'r') + "🛑";
  w.paused = PausedDetails{"pauser 🙈", kStart + 1, kStart + 2, 12345};
  w.pipeline_config_id = "config-Ω";
  w.is_limit_concurrent = true;
  w.max_concurrent_executions = kMax;
  w.keep_waiting_pipelines = true;
  w.origin = "deck-üi";

  StageExecution prepare = make_stage(w.id, "prepare", "prepare", "Prépare",
                                      WorkflowStatus::kSucceeded);
  prepare.context = json{{"input", rich}};
  prepare.outputs = json{{"prepared", true}, {"items", json::array({1, 2, 3})}};
  prepare.start_time = kStart;
  prepare.end_time = kStart + 10;
  prepare.version = 1;
  add_task(prepare, "prepare", "stabilize.tasks.Prepare",
           WorkflowStatus::kSucceeded);

  StageExecution hook_a = synthetic_stage(prepare, "prepare_hook_a", "hook",
                                          "Hook A", WorkflowStatus::kSucceeded,
                                          SyntheticStageOwner::kStageAfter);
  hook_a.outputs = json{{"hook", "a"}};

  StageExecution hook_b = synthetic_stage(
      prepare, "prepare_hook_b", "hook ü", "Hook B — every field",
      WorkflowStatus::kFailedContinue, SyntheticStageOwner::kStageAfter);
  hook_b.context =
      json{{"rich", rich},
           {"_output_reducers", json{{"items", "concat"}, {"total", "sum"}}}};
  hook_b.outputs = json{{"rich", rich}, {"items", json::array({4, 5})}};
  hook_b.requisite_stage_ref_ids = {"prepare_hook_a"};
  hook_b.start_time = kMin;
  hook_b.end_time = kMax;
  hook_b.start_time_expiry = kMax - 1;
  hook_b.scheduled_time = kMin + 1;
  hook_b.version = (std::int64_t{1} << 53) + 1;
  hook_b.join_type = JoinType::kNOfM;
  hook_b.join_threshold = kMax;
  hook_b.split_type = SplitType::kOr;
  hook_b.split_conditions = {{"fan_out", "ctx['items'] > 2"},
                             {"später", "ctx[\"ü\"] == '✓'"}};
  hook_b.mi_config =
      MultiInstanceConfig{kMax, "item_count", false, true, "items_ü", 2, true};
  hook_b.deferred_choice_group = "choice-α";
  hook_b.milestone_ref_id = "milestone-β";
  hook_b.milestone_status = "SUCCEEDED";
  hook_b.mutex_key = "mutex-γ";
  hook_b.cancel_region = "region-δ";
  TaskExecution full_task =
      make_task(hook_b.id, 0, "tâche complète", "stabilize.tasks.Everything",
                WorkflowStatus::kFailedContinue);
  full_task.start_time = kMin;
  full_task.end_time = kMax;
  full_task.stage_start = true;
  full_task.stage_end = true;
  full_task.loop_start = true;
  full_task.loop_end = true;
  full_task.task_exception_details =
      json{{"exception", json{{"type", "ValueError"},
                              {"message", "ungültig: \"x\""},
                              {"traceback", json::array({"a.py:1", "b.py:2"})},
                              {"rich", rich}}}};
  full_task.version = kMax - 1;
  hook_b.tasks.push_back(std::move(full_task));
  add_task(hook_b, "second", "stabilize.tasks.Second",
           WorkflowStatus::kTerminal);

  StageExecution fan_out = make_stage(w.id, "fan_out", "fan_out", "Fan out ⇶",
                                      WorkflowStatus::kRunning);
  fan_out.requisite_stage_ref_ids = {"prepare"};
  fan_out.context = json{{"items", json::array({"a", "b", "c"})}};
  fan_out.start_time = kStart + 20;
  fan_out.version = 7;
  fan_out.join_type = JoinType::kNOfM;
  fan_out.join_threshold = 2;
  fan_out.split_type = SplitType::kOr;
  fan_out.split_conditions = {{"next", "True"}};
  fan_out.mi_config =
      MultiInstanceConfig{3, "", true, false, "items", 2, false};
  for (int i = 0; i < 3; ++i) {
    TaskExecution& instance =
        add_task(fan_out, "instance-" + std::to_string(i),
                 "stabilize.tasks.Instance", WorkflowStatus::kRunning);
    instance.loop_start = i == 0;
    instance.loop_end = i == 2;
  }

  w.stages = {std::move(prepare), std::move(hook_a), std::move(hook_b),
              std::move(fan_out)};
  return w;
}

}  // namespace wfstore::testutil
