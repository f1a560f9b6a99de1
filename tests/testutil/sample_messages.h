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

// A task-level message of type M for the task `task_id`.
template <typename M>
M task_message(std::string execution_id, std::string stage_id,
               std::string task_id) {
  M message;
  message.execution_id = std::move(execution_id);
  message.stage_id = std::move(stage_id);
  message.task_id = std::move(task_id);
  return message;
}

inline StartTask start_task(std::string execution_id, std::string stage_id,
                            std::string task_id) {
  return task_message<StartTask>(std::move(execution_id), std::move(stage_id),
                                 std::move(task_id));
}

inline RunTask run_task(std::string execution_id, std::string stage_id,
                        std::string task_id, std::string task_type = "shell") {
  RunTask message = task_message<RunTask>(
      std::move(execution_id), std::move(stage_id), std::move(task_id));
  message.task_type = std::move(task_type);
  return message;
}

}  // namespace wfstore::testutil
