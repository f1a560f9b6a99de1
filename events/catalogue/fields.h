// The field table of every model struct and event payload: one function
// visit_fields(io, v) per type that calls io(name, member) for each field, in
// encoding order. It is the only list of a type's fields: the binary codec
// (value_codec.h) writes and reads them in this order, and the JSON form
// (event_json.cc) prints them as members named `name`. A model struct also has
// a kFieldPrefix, which the codec puts before a name in its corruption
// messages ("task.id"); an event payload's fields are named bare ("status").
//
// A new field changes the encoding of every payload that holds the type, so it
// comes with a new schema version of those payloads and an upcaster (see
// wfstore_internal/event_codec.h).

#pragma once

#include <string_view>
#include <type_traits>

#include "wfstore/event.h"
#include "wfstore/model.h"

namespace wfstore::fields {

// The prefix of a model struct's field names in codec messages; empty for
// event payloads.
template <typename T>
inline constexpr std::string_view kFieldPrefix = "";

template <>
inline constexpr std::string_view kFieldPrefix<Trigger> = "trigger";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, Trigger>
void visit_fields(Io& io, T& v) {
  io("type", v.type);
  io("user", v.user);
  io("parameters", v.parameters);
  io("artifacts", v.artifacts);
  io("payload", v.payload);
}

template <>
inline constexpr std::string_view kFieldPrefix<PausedDetails> = "paused";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, PausedDetails>
void visit_fields(Io& io, T& v) {
  io("paused_by", v.paused_by);
  io("pause_time", v.pause_time);
  io("resume_time", v.resume_time);
  io("paused_ms", v.paused_ms);
}

template <>
inline constexpr std::string_view kFieldPrefix<MultiInstanceConfig> =
    "mi_config";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MultiInstanceConfig>
void visit_fields(Io& io, T& v) {
  io("count", v.count);
  io("count_from_context", v.count_from_context);
  io("sync_on_complete", v.sync_on_complete);
  io("allow_dynamic", v.allow_dynamic);
  io("collection_from_context", v.collection_from_context);
  io("join_threshold", v.join_threshold);
  io("cancel_remaining", v.cancel_remaining);
}

template <>
inline constexpr std::string_view kFieldPrefix<TaskExecution> = "task";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, TaskExecution>
void visit_fields(Io& io, T& v) {
  io("id", v.id);
  io("name", v.name);
  io("implementing_class", v.implementing_class);
  io("status", v.status);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("stage_start", v.stage_start);
  io("stage_end", v.stage_end);
  io("loop_start", v.loop_start);
  io("loop_end", v.loop_end);
  io("task_exception_details", v.task_exception_details);
  io("version", v.version);
}

template <>
inline constexpr std::string_view kFieldPrefix<StageExecution> = "stage";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageExecution>
void visit_fields(Io& io, T& v) {
  io("id", v.id);
  io("execution_id", v.execution_id);
  io("ref_id", v.ref_id);
  io("type", v.type);
  io("name", v.name);
  io("status", v.status);
  io("context", v.context);
  io("outputs", v.outputs);
  io("tasks", v.tasks);
  io("requisite_stage_ref_ids", v.requisite_stage_ref_ids);
  io("parent_stage_id", v.parent_stage_id);
  io("synthetic_stage_owner", v.synthetic_stage_owner);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("start_time_expiry", v.start_time_expiry);
  io("scheduled_time", v.scheduled_time);
  io("version", v.version);
  io("join_type", v.join_type);
  io("join_threshold", v.join_threshold);
  io("split_type", v.split_type);
  io("split_conditions", v.split_conditions);
  io("mi_config", v.mi_config);
  io("deferred_choice_group", v.deferred_choice_group);
  io("milestone_ref_id", v.milestone_ref_id);
  io("milestone_status", v.milestone_status);
  io("mutex_key", v.mutex_key);
  io("cancel_region", v.cancel_region);
}

template <>
inline constexpr std::string_view kFieldPrefix<Workflow> = "workflow";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, Workflow>
void visit_fields(Io& io, T& v) {
  io("id", v.id);
  io("type", v.type);
  io("application", v.application);
  io("name", v.name);
  io("status", v.status);
  io("stages", v.stages);
  io("context", v.context);
  io("trigger", v.trigger);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("start_time_expiry", v.start_time_expiry);
  io("is_canceled", v.is_canceled);
  io("canceled_by", v.canceled_by);
  io("cancellation_reason", v.cancellation_reason);
  io("paused", v.paused);
  io("pipeline_config_id", v.pipeline_config_id);
  io("is_limit_concurrent", v.is_limit_concurrent);
  io("max_concurrent_executions", v.max_concurrent_executions);
  io("keep_waiting_pipelines", v.keep_waiting_pipelines);
  io("origin", v.origin);
}

template <>
inline constexpr std::string_view kFieldPrefix<ClaimId> = "claim";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimId>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("claim_key", v.claim_key);
}

template <>
inline constexpr std::string_view kFieldPrefix<AuditMetadata> = "audit";
template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, AuditMetadata>
void visit_fields(Io& io, T& v) {
  io("actor", v.actor);
  io("correlation_id", v.correlation_id);
  io("causation_id", v.causation_id);
  io("source", v.source);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStored>
void visit_fields(Io& io, T& v) { io("workflow", v.workflow); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStatusUpdated>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("status", v.status);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("is_canceled", v.is_canceled);
  io("canceled_by", v.canceled_by);
  io("cancellation_reason", v.cancellation_reason);
  io("paused", v.paused);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowStatusSet>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("status", v.status);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowPaused>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("paused_by", v.paused_by);
  io("pause_time", v.pause_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowResumed>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("resume_time", v.resume_time);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowCancelRequested>
void visit_fields(Io& io, T& v) {
  io("workflow_id", v.workflow_id);
  io("canceled_by", v.canceled_by);
  io("reason", v.reason);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, WorkflowDeleted>
void visit_fields(Io& io, T& v) { io("workflow_id", v.workflow_id); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageAdded>
void visit_fields(Io& io, T& v) { io("stage", v.stage); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageUpdated>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("stage_id", v.stage_id);
  io("version", v.version);
  io("status", v.status);
  io("context", v.context);
  io("outputs", v.outputs);
  io("start_time", v.start_time);
  io("end_time", v.end_time);
  io("tasks", v.tasks);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, StageRemoved>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("stage_id", v.stage_id);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageProcessed>
void visit_fields(Io& io, T& v) {
  io("message_id", v.message_id);
  io("handler_type", v.handler_type);
  io("execution_id", v.execution_id);
  io("processed_at", v.processed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ProcessedMessagesPurged>
void visit_fields(Io& io, T& v) {
  io("cutoff", v.cutoff);
  io("count", v.count);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimAcquired>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("claim_key", v.claim_key);
  io("stage_id", v.stage_id);
  io("claimed_at", v.claimed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimTransferred>
void visit_fields(Io& io, T& v) {
  io("execution_id", v.execution_id);
  io("claim_key", v.claim_key);
  io("from_stage_id", v.from_stage_id);
  io("to_stage_id", v.to_stage_id);
  io("claimed_at", v.claimed_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, ClaimsPurged>
void visit_fields(Io& io, T& v) { io("claims", v.claims); }

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessagePushed>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("message_type", v.message_type);
  io("payload", v.payload);
  io("deliver_at", v.deliver_at);
  io("max_attempts", v.max_attempts);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageLeased>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("attempt", v.attempt);
  io("lease_until", v.lease_until);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageAcked>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageRescheduled>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("deliver_at", v.deliver_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageLeaseExtended>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("lease_until", v.lease_until);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, MessageDeadLettered>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("execution_id", v.execution_id);
  io("error", v.error);
  io("moved_at", v.moved_at);
}

template <typename Io, typename T>
requires std::is_same_v<std::remove_const_t<T>, DeadLetterReplayed>
void visit_fields(Io& io, T& v) {
  io("delivery_id", v.delivery_id);
  io("new_delivery_id", v.new_delivery_id);
  io("execution_id", v.execution_id);
  io("deliver_at", v.deliver_at);
}

template <typename Io, typename T>
requires(std::is_same_v<std::remove_const_t<T>, QueueCleared> ||
         std::is_same_v<std::remove_const_t<T>,
                        DeadLetterQueueCleared>) void visit_fields(Io&, T&) {}

// An io that ignores every field.
struct IgnoreFields {
  template <typename U>
  void operator()(std::string_view, const U&) const {}
};

// A struct with a field table (every model struct and event payload above).
template <typename T>
concept HasFieldTable = requires(IgnoreFields& io, const T& v) {
  visit_fields(io, v);
};

}  // namespace wfstore::fields
