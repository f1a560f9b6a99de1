// The queue message catalogue: the 23 message types of stabilize
// (docs/semantics.md §4.2) as plain structs, the Message variant over them, and
// their wire JSON (the reference's payload, with the type name stored beside
// it).
//
// Messages are plain values. Thread-safety: as for standard value types; the
// free functions are safe to call concurrently.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "wfstore/model.h"

namespace wfstore {

// The value written as `max_attempts` on the wire when a message leaves it
// unset.
inline constexpr int kDefaultMessageMaxAttempts = 10;

// Fields every message has. last_error and last_error_type travel on the wire;
// max_attempts does not survive parsing (the reference pops it): unset means
// the queue's own limit (Q5 in docs/semantics.md §9).
struct MessageCommon {
  std::optional<std::string> last_error;
  std::optional<std::string> last_error_type;
  std::optional<int> max_attempts;
};

// The reference's abstract WorkflowLevel, StageLevel and TaskLevel. They are
// bases only: they are not alternatives of Message.
struct WorkflowLevel : MessageCommon {
  std::string execution_type = "PIPELINE";
  std::string execution_id;
};

struct StageLevel : WorkflowLevel {
  std::string stage_id;
  std::int64_t retry_count = 0;
};

struct TaskLevel : StageLevel {
  std::string task_id;
};

// Each concrete message compares equal to another of its type when every field,
// including max_attempts, is equal (JSON fields compare as values).

struct StartWorkflow : WorkflowLevel {
  friend bool operator==(const StartWorkflow& a, const StartWorkflow& b);
  friend bool operator!=(const StartWorkflow& a, const StartWorkflow& b) {
    return !(a == b);
  }
};

struct CompleteWorkflow : WorkflowLevel {
  std::int64_t retry_count = 0;

  friend bool operator==(const CompleteWorkflow& a, const CompleteWorkflow& b);
  friend bool operator!=(const CompleteWorkflow& a, const CompleteWorkflow& b) {
    return !(a == b);
  }
};

struct CancelWorkflow : WorkflowLevel {
  std::string user;
  std::string reason;

  friend bool operator==(const CancelWorkflow& a, const CancelWorkflow& b);
  friend bool operator!=(const CancelWorkflow& a, const CancelWorkflow& b) {
    return !(a == b);
  }
};

// Not workflow-level in the reference: it has no execution_type or
// execution_id.
struct StartWaitingWorkflows : MessageCommon {
  std::string pipeline_config_id;
  bool purge_queue = false;

  friend bool operator==(const StartWaitingWorkflows& a,
                         const StartWaitingWorkflows& b);
  friend bool operator!=(const StartWaitingWorkflows& a,
                         const StartWaitingWorkflows& b) {
    return !(a == b);
  }
};

struct StartStage : StageLevel {
  friend bool operator==(const StartStage& a, const StartStage& b);
  friend bool operator!=(const StartStage& a, const StartStage& b) {
    return !(a == b);
  }
};

struct CompleteStage : StageLevel {
  friend bool operator==(const CompleteStage& a, const CompleteStage& b);
  friend bool operator!=(const CompleteStage& a, const CompleteStage& b) {
    return !(a == b);
  }
};

struct SkipStage : StageLevel {
  friend bool operator==(const SkipStage& a, const SkipStage& b);
  friend bool operator!=(const SkipStage& a, const SkipStage& b) {
    return !(a == b);
  }
};

struct CancelStage : StageLevel {
  friend bool operator==(const CancelStage& a, const CancelStage& b);
  friend bool operator!=(const CancelStage& a, const CancelStage& b) {
    return !(a == b);
  }
};

struct RestartStage : StageLevel {
  friend bool operator==(const RestartStage& a, const RestartStage& b);
  friend bool operator!=(const RestartStage& a, const RestartStage& b) {
    return !(a == b);
  }
};

struct ResumeStage : StageLevel {
  friend bool operator==(const ResumeStage& a, const ResumeStage& b);
  friend bool operator!=(const ResumeStage& a, const ResumeStage& b) {
    return !(a == b);
  }
};

struct ContinueParentStage : StageLevel {
  SyntheticStageOwner phase = SyntheticStageOwner::kStageAfter;

  friend bool operator==(const ContinueParentStage& a,
                         const ContinueParentStage& b);
  friend bool operator!=(const ContinueParentStage& a,
                         const ContinueParentStage& b) {
    return !(a == b);
  }
};

struct JumpToStage : StageLevel {
  std::string target_stage_ref_id;
  nlohmann::json jump_context = nlohmann::json::object();
  nlohmann::json jump_outputs = nlohmann::json::object();

  friend bool operator==(const JumpToStage& a, const JumpToStage& b);
  friend bool operator!=(const JumpToStage& a, const JumpToStage& b) {
    return !(a == b);
  }
};

struct SignalStage : StageLevel {
  std::string signal_name;
  nlohmann::json signal_data = nlohmann::json::object();
  bool persistent = false;

  friend bool operator==(const SignalStage& a, const SignalStage& b);
  friend bool operator!=(const SignalStage& a, const SignalStage& b) {
    return !(a == b);
  }
};

struct CancelRegion : WorkflowLevel {
  std::string region;

  friend bool operator==(const CancelRegion& a, const CancelRegion& b);
  friend bool operator!=(const CancelRegion& a, const CancelRegion& b) {
    return !(a == b);
  }
};

struct AddMultiInstance : StageLevel {
  nlohmann::json instance_context = nlohmann::json::object();

  friend bool operator==(const AddMultiInstance& a, const AddMultiInstance& b);
  friend bool operator!=(const AddMultiInstance& a, const AddMultiInstance& b) {
    return !(a == b);
  }
};

struct StartTask : TaskLevel {
  friend bool operator==(const StartTask& a, const StartTask& b);
  friend bool operator!=(const StartTask& a, const StartTask& b) {
    return !(a == b);
  }
};

struct PauseTask : TaskLevel {
  friend bool operator==(const PauseTask& a, const PauseTask& b);
  friend bool operator!=(const PauseTask& a, const PauseTask& b) {
    return !(a == b);
  }
};

struct RunTask : TaskLevel {
  std::string task_type;

  friend bool operator==(const RunTask& a, const RunTask& b);
  friend bool operator!=(const RunTask& a, const RunTask& b) {
    return !(a == b);
  }
};

struct CompleteTask : TaskLevel {
  WorkflowStatus status = WorkflowStatus::kSucceeded;
  std::optional<WorkflowStatus> original_status;

  friend bool operator==(const CompleteTask& a, const CompleteTask& b);
  friend bool operator!=(const CompleteTask& a, const CompleteTask& b) {
    return !(a == b);
  }
};

// Diagnostic markers: the reference logs and consumes them.
struct InvalidWorkflowId : WorkflowLevel {
  friend bool operator==(const InvalidWorkflowId& a,
                         const InvalidWorkflowId& b);
  friend bool operator!=(const InvalidWorkflowId& a,
                         const InvalidWorkflowId& b) {
    return !(a == b);
  }
};

struct InvalidStageId : StageLevel {
  friend bool operator==(const InvalidStageId& a, const InvalidStageId& b);
  friend bool operator!=(const InvalidStageId& a, const InvalidStageId& b) {
    return !(a == b);
  }
};

struct InvalidTaskId : TaskLevel {
  friend bool operator==(const InvalidTaskId& a, const InvalidTaskId& b);
  friend bool operator!=(const InvalidTaskId& a, const InvalidTaskId& b) {
    return !(a == b);
  }
};

struct InvalidTaskType : TaskLevel {
  std::string task_type_name;

  friend bool operator==(const InvalidTaskType& a, const InvalidTaskType& b);
  friend bool operator!=(const InvalidTaskType& a, const InvalidTaskType& b) {
    return !(a == b);
  }
};

// Any queue message. Alternatives are in the order of docs/semantics.md §4.2
// and message_type_names(); std::variant's == and != compare the type, then the
// fields.
using Message =
    std::variant<StartWorkflow, CompleteWorkflow, CancelWorkflow,
                 StartWaitingWorkflows, StartStage, CompleteStage, SkipStage,
                 CancelStage, RestartStage, ResumeStage, ContinueParentStage,
                 JumpToStage, SignalStage, CancelRegion, AddMultiInstance,
                 StartTask, PauseTask, RunTask, CompleteTask, InvalidWorkflowId,
                 InvalidStageId, InvalidTaskId, InvalidTaskType>;

// The type name of `message` as the reference stores it ("StartWorkflow", ...).
// The view refers to static storage.
std::string_view message_type_name(const Message& message);

// The names of all 23 types, in the order of Message's alternatives. Static
// storage.
const std::vector<std::string_view>& message_type_names();

// The fields common to all messages (last_error, last_error_type,
// max_attempts).
const MessageCommon& message_common(const Message& message);
MessageCommon& message_common(Message& message);

// execution_id of a workflow-, stage- or task-level message; empty for
// StartWaitingWorkflows. The view is valid while `message` lives and is not
// modified.
std::string_view message_execution_id(const Message& message);
// stage_id of a stage- or task-level message; empty for any other type. Same
// lifetime.
std::string_view message_stage_id(const Message& message);
// task_id of a task-level message; empty for any other type. Same lifetime.
std::string_view message_task_id(const Message& message);

// The reference's wire JSON of `message` (docs/semantics.md §4.2 "Wire
// format"): an object with every field of the type, enums by name,
// `max_attempts` (kDefaultMessageMaxAttempts when unset), `attempts` 0,
// `message_id` null, and `created_at` as created_at_ms (epoch milliseconds)
// rendered in the local time zone like Python's naive datetime.isoformat():
// "2026-11-28T12:34:56.789000", without the fraction when it is zero. The type
// name is not part of it. Validates `message` first (validate_message()), so
// that whatever it returns parses back with message_from_wire(). Throws
// InvalidArgumentError naming "<Type>.<field>" for a message validate_message()
// rejects (an enum field holding an integer that is none of the enum's values
// included), or naming created_at when the time is outside years 1-9999 or the
// local time cannot be computed.
nlohmann::json message_to_wire(const Message& message,
                               std::int64_t created_at_ms);

// Parses the wire JSON of a message of type `type_name`. message_id,
// created_at, attempts and max_attempts are ignored whatever their value, as in
// the reference (so max_attempts comes back unset); a missing field takes its
// default. Throws InvalidArgumentError naming the type and, where there is one,
// the field, for: an unknown type name, a payload that is not an object, an
// unknown field, a field of the wrong JSON type (null only where the field is
// optional; an integer must fit in its field), an unknown enum name, and a dict
// field that is not an object. Does not check limits (see validate_message()).
Message message_from_wire(std::string_view type_name,
                          const nlohmann::json& payload);

// message_from_wire() of JSON text. Additionally throws InvalidArgumentError
// naming the type and "payload" when `json_text` is not one well-formed JSON
// value.
Message message_from_wire_text(std::string_view type_name,
                               std::string_view json_text);

// Checks every field of `message` by the rules its wire form and the store's
// decoder enforce, and the limits of README.md "Limits": every string field
// (ids, names, last_error and last_error_type included) is valid UTF-8 of at
// most kMaxStringBytes; every enum field (CompleteTask.status and
// original_status, ContinueParentStage.phase) holds one of its enum's values,
// not another integer cast into it; every dict field is a JSON object that
// passes validate_json() and nests at most kMaxJsonDepth - 1 levels (the wire
// object holding it is one more); the wire form as a whole stays within
// kMaxJsonBytes (the dict fields share that limit), as the log's decoder
// requires of the stored message; max_attempts, when set, is positive;
// retry_count is not negative. Throws InvalidArgumentError naming
// "<Type>.<field>"
// ("CompleteTask.status: unknown status 50"). The queue's push and ensure and
// Transaction::push_message validate through it before anything is appended.
void validate_message(const Message& message);

}  // namespace wfstore
