// Messages of the error classes that build their own text.

#include "wfstore/errors.h"

#include <fmt/format.h>

namespace wfstore {

WorkflowNotFoundError::WorkflowNotFoundError(const std::string& workflow_id)
    : NotFoundError(ErrorCode::kWorkflowNotFound,
                    fmt::format("Execution not found: {}", workflow_id)),
      workflow_id_(workflow_id) {}

StageNotFoundError::StageNotFoundError(const std::string& stage_id)
    : NotFoundError(ErrorCode::kStageNotFound,
                    fmt::format("Stage {} not found", stage_id)) {}

}  // namespace wfstore
