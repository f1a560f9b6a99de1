// Queue messages for tests: the few shapes every queue, transaction and
// processor test pushes.

#pragma once

#include <string>
#include <utility>

#include "wfstore/message.h"

namespace wfstore::testutil {

inline StartWorkflow start_workflow(std::string execution_id) {
  StartWorkflow message;
  message.execution_id = std::move(execution_id);
  return message;
}

inline StartStage start_stage(std::string execution_id, std::string stage_id) {
  StartStage message;
  message.execution_id = std::move(execution_id);
  message.stage_id = std::move(stage_id);
  return message;
}

inline RunTask run_task(std::string execution_id, std::string stage_id,
                        std::string task_id, std::string task_type = "shell") {
  RunTask message;
  message.execution_id = std::move(execution_id);
  message.stage_id = std::move(stage_id);
  message.task_id = std::move(task_id);
  message.task_type = std::move(task_type);
  return message;
}

}  // namespace wfstore::testutil
