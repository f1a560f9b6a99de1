// Realistic sample workflows shared by the model, codec and store tests and the
// demo: a diamond with synthetic stages, and one with every field set; and the
// builders of bare workflows, stages and tasks that tests fill in themselves.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wfstore/model.h"

namespace wfstore::testutil {

// A release pipeline shaped as a diamond with synthetic stages, in insertion
// order:
//   0 setup          (ref "setup")          initial, SUCCEEDED
//   1 build_linux    (ref "build_linux")    requires setup, SUCCEEDED
//   2 build_mac      (ref "build_mac")      requires setup, SUCCEEDED
//   3 deploy         (ref "deploy")         joins both builds, RUNNING
//   4 deploy_precheck  STAGE_BEFORE of deploy, SUCCEEDED
//   5 deploy_verify    STAGE_AFTER of deploy, NOT_STARTED
//   6 deploy_notify    STAGE_AFTER of deploy, requires deploy_verify
// Every stage has tasks, a context and outputs. The builds both write the
// scalar "winner" and the list "artifacts"; the synthetic stages write
// "winner" too, so get_context() shows that they are ignored. Stage and task
// ids are derived from `id` ("<id>.setup", "<id>.setup.t0", ...), so several
// diamonds can live in one store.
Workflow diamond_workflow(std::string id);

// A valid workflow in which every field of every model type is set to a
// non-default value: unicode strings (also in JSON keys), a string of exactly
// kMaxStringBytes bytes (cancellation_reason), nested JSON with 64-bit edge
// integers, doubles, nulls, empty containers and an embedded NUL, int64 edge
// values in time fields, mi_config, split_conditions, every optional set.
// Stages (insertion order): "prepare"; "prepare_hook_a" and "prepare_hook_b"
// (STAGE_AFTER of prepare; hook_b requires hook_a and sets every stage field);
// "fan_out" (requires prepare, N_OF_M join, OR split, every task field set).
// Ids are derived from `id` as in diamond_workflow().
Workflow full_workflow(std::string id);

// A workflow `id` of `application` with `status` and `start_time`; every other
// field at its default.
Workflow bare_workflow(std::string id, std::string application,
                       WorkflowStatus status,
                       std::optional<std::int64_t> start_time);

// A stage `id` of the workflow `workflow_id` with `ref_id` and `type`; every
// other field at its default.
StageExecution bare_stage(std::string workflow_id, std::string id,
                          std::string ref_id, std::string type);

// A stage "<workflow_id>.<ref_id>" with `type`, `name` and `status`; every other
// field at its default.
StageExecution make_stage(const std::string& workflow_id, std::string ref_id,
                          std::string type, std::string name,
                          WorkflowStatus status);

// A task "<stage_id>.t<index>" with `name`, `implementing_class` and `status`;
// every other field at its default.
TaskExecution make_task(const std::string& stage_id, int index,
                        std::string name, std::string implementing_class,
                        WorkflowStatus status);

}  // namespace wfstore::testutil
