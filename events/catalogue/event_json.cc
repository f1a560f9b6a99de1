// The documented JSON form of events (event_to_json): what the CLI prints and
// the Kafka exporter sends.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "wfstore/event.h"
#include "wfstore/model.h"

#include "events/catalogue/type_traits.h"

namespace wfstore {
namespace {

nlohmann::json to_json_value(const TaskExecution& task);
nlohmann::json to_json_value(const StageExecution& stage);
nlohmann::json to_json_value(const Workflow& workflow);
nlohmann::json to_json_value(const PausedDetails& paused);
nlohmann::json to_json_value(const Trigger& trigger);
nlohmann::json to_json_value(const MultiInstanceConfig& mi);
nlohmann::json to_json_value(const ClaimId& claim);

template <typename T>
nlohmann::json to_json_value(const T& v) {
  if constexpr (std::is_same_v<T, WorkflowStatus>) {
    return status_name(v);
  } else if constexpr (std::is_same_v<T, WorkflowType>) {
    return workflow_type_name(v);
  } else if constexpr (std::is_same_v<T, SyntheticStageOwner>) {
    return synthetic_stage_owner_name(v);
  } else if constexpr (std::is_same_v<T, JoinType>) {
    return join_type_name(v);
  } else if constexpr (std::is_same_v<T, SplitType>) {
    return split_type_name(v);
  } else if constexpr (std::is_same_v<T, Json>) {
    return v.value();
  } else if constexpr (IsOptional<T>::value) {
    if (!v) return nullptr;
    return to_json_value(*v);
  } else if constexpr (IsVector<T>::value ||
                       std::is_same_v<T, std::set<std::string>>) {
    nlohmann::json array = nlohmann::json::array();
    for (const auto& item : v) array.push_back(to_json_value(item));
    return array;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : v) object[key] = value;
    return object;
  } else {
    return v;
  }
}

nlohmann::json to_json_value(const PausedDetails& paused) {
  return {{"paused_by", paused.paused_by},
          {"pause_time", to_json_value(paused.pause_time)},
          {"resume_time", to_json_value(paused.resume_time)},
          {"paused_ms", paused.paused_ms}};
}

nlohmann::json to_json_value(const Trigger& trigger) {
  return {{"type", trigger.type},
          {"user", trigger.user},
          {"parameters", trigger.parameters.value()},
          {"artifacts", trigger.artifacts.value()},
          {"payload", trigger.payload.value()}};
}

nlohmann::json to_json_value(const MultiInstanceConfig& mi) {
  return {{"count", mi.count},
          {"count_from_context", mi.count_from_context},
          {"sync_on_complete", mi.sync_on_complete},
          {"allow_dynamic", mi.allow_dynamic},
          {"collection_from_context", mi.collection_from_context},
          {"join_threshold", mi.join_threshold},
          {"cancel_remaining", mi.cancel_remaining}};
}

nlohmann::json to_json_value(const ClaimId& claim) {
  return {{"execution_id", claim.execution_id}, {"claim_key", claim.claim_key}};
}

nlohmann::json to_json_value(const TaskExecution& task) {
  return {{"id", task.id},
          {"name", task.name},
          {"implementing_class", task.implementing_class},
          {"status", to_json_value(task.status)},
          {"start_time", to_json_value(task.start_time)},
          {"end_time", to_json_value(task.end_time)},
          {"stage_start", task.stage_start},
          {"stage_end", task.stage_end},
          {"loop_start", task.loop_start},
          {"loop_end", task.loop_end},
          {"task_exception_details", task.task_exception_details.value()},
          {"version", task.version}};
}

nlohmann::json to_json_value(const StageExecution& stage) {
  return {
      {"id", stage.id},
      {"execution_id", stage.execution_id},
      {"ref_id", stage.ref_id},
      {"type", stage.type},
      {"name", stage.name},
      {"status", to_json_value(stage.status)},
      {"context", stage.context.value()},
      {"outputs", stage.outputs.value()},
      {"tasks", to_json_value(stage.tasks)},
      {"requisite_stage_ref_ids", to_json_value(stage.requisite_stage_ref_ids)},
      {"parent_stage_id", to_json_value(stage.parent_stage_id)},
      {"synthetic_stage_owner", to_json_value(stage.synthetic_stage_owner)},
      {"start_time", to_json_value(stage.start_time)},
      {"end_time", to_json_value(stage.end_time)},
      {"start_time_expiry", to_json_value(stage.start_time_expiry)},
      {"scheduled_time", to_json_value(stage.scheduled_time)},
      {"version", stage.version},
      {"join_type", to_json_value(stage.join_type)},
      {"join_threshold", stage.join_threshold},
      {"split_type", to_json_value(stage.split_type)},
      {"split_conditions", to_json_value(stage.split_conditions)},
      {"mi_config", to_json_value(stage.mi_config)},
      {"deferred_choice_group", to_json_value(stage.deferred_choice_group)},
      {"milestone_ref_id", to_json_value(stage.milestone_ref_id)},
      {"milestone_status", to_json_value(stage.milestone_status)},
      {"mutex_key", to_json_value(stage.mutex_key)},
      {"cancel_region", to_json_value(stage.cancel_region)}};
}

nlohmann::json to_json_value(const Workflow& workflow) {
  return {{"id", workflow.id},
          {"type", to_json_value(workflow.type)},
          {"application", workflow.application},
          {"name", workflow.name},
          {"status", to_json_value(workflow.status)},
          {"stages", to_json_value(workflow.stages)},
          {"context", workflow.context.value()},
          {"trigger", to_json_value(workflow.trigger)},
          {"start_time", to_json_value(workflow.start_time)},
          {"end_time", to_json_value(workflow.end_time)},
          {"start_time_expiry", to_json_value(workflow.start_time_expiry)},
          {"is_canceled", workflow.is_canceled},
          {"canceled_by", to_json_value(workflow.canceled_by)},
          {"cancellation_reason", to_json_value(workflow.cancellation_reason)},
          {"paused", to_json_value(workflow.paused)},
          {"pipeline_config_id", to_json_value(workflow.pipeline_config_id)},
          {"is_limit_concurrent", workflow.is_limit_concurrent},
          {"max_concurrent_executions", workflow.max_concurrent_executions},
          {"keep_waiting_pipelines", workflow.keep_waiting_pipelines},
          {"origin", workflow.origin}};
}

// Collects a payload's fields as JSON members.
struct JsonFields {
  nlohmann::json& out;
  template <typename T>
  void operator()(const char* name, const T& value) {
    out[name] = to_json_value(value);
  }
};

template <typename P>
void payload_fields(JsonFields& f, const P& p) {
  if constexpr (std::is_same_v<P, WorkflowStored>) {
    f("workflow", p.workflow);
  } else if constexpr (std::is_same_v<P, WorkflowStatusUpdated>) {
    f("workflow_id", p.workflow_id);
    f("status", p.status);
    f("start_time", p.start_time);
    f("end_time", p.end_time);
    f("is_canceled", p.is_canceled);
    f("canceled_by", p.canceled_by);
    f("cancellation_reason", p.cancellation_reason);
    f("paused", p.paused);
  } else if constexpr (std::is_same_v<P, WorkflowStatusSet>) {
    f("workflow_id", p.workflow_id);
    f("status", p.status);
    f("start_time", p.start_time);
    f("end_time", p.end_time);
  } else if constexpr (std::is_same_v<P, WorkflowPaused>) {
    f("workflow_id", p.workflow_id);
    f("paused_by", p.paused_by);
    f("pause_time", p.pause_time);
  } else if constexpr (std::is_same_v<P, WorkflowResumed>) {
    f("workflow_id", p.workflow_id);
    f("resume_time", p.resume_time);
  } else if constexpr (std::is_same_v<P, WorkflowCancelRequested>) {
    f("workflow_id", p.workflow_id);
    f("canceled_by", p.canceled_by);
    f("reason", p.reason);
  } else if constexpr (std::is_same_v<P, WorkflowDeleted>) {
    f("workflow_id", p.workflow_id);
  } else if constexpr (std::is_same_v<P, StageAdded>) {
    f("stage", p.stage);
  } else if constexpr (std::is_same_v<P, StageUpdated>) {
    f("execution_id", p.execution_id);
    f("stage_id", p.stage_id);
    f("version", p.version);
    f("status", p.status);
    f("context", p.context);
    f("outputs", p.outputs);
    f("start_time", p.start_time);
    f("end_time", p.end_time);
    f("tasks", p.tasks);
  } else if constexpr (std::is_same_v<P, StageRemoved>) {
    f("execution_id", p.execution_id);
    f("stage_id", p.stage_id);
  } else if constexpr (std::is_same_v<P, MessageProcessed>) {
    f("message_id", p.message_id);
    f("handler_type", p.handler_type);
    f("execution_id", p.execution_id);
    f("processed_at", p.processed_at);
  } else if constexpr (std::is_same_v<P, ProcessedMessagesPurged>) {
    f("cutoff", p.cutoff);
    f("count", p.count);
  } else if constexpr (std::is_same_v<P, ClaimAcquired>) {
    f("execution_id", p.execution_id);
    f("claim_key", p.claim_key);
    f("stage_id", p.stage_id);
    f("claimed_at", p.claimed_at);
  } else if constexpr (std::is_same_v<P, ClaimTransferred>) {
    f("execution_id", p.execution_id);
    f("claim_key", p.claim_key);
    f("from_stage_id", p.from_stage_id);
    f("to_stage_id", p.to_stage_id);
    f("claimed_at", p.claimed_at);
  } else if constexpr (std::is_same_v<P, ClaimsPurged>) {
    f("claims", p.claims);
  } else if constexpr (std::is_same_v<P, MessagePushed>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
    f("message_type", p.message_type);
    f("payload", p.payload);
    f("deliver_at", p.deliver_at);
    f("max_attempts", p.max_attempts);
  } else if constexpr (std::is_same_v<P, MessageLeased>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
    f("attempt", p.attempt);
    f("lease_until", p.lease_until);
  } else if constexpr (std::is_same_v<P, MessageAcked>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
  } else if constexpr (std::is_same_v<P, MessageRescheduled>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
    f("deliver_at", p.deliver_at);
  } else if constexpr (std::is_same_v<P, MessageLeaseExtended>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
    f("lease_until", p.lease_until);
  } else if constexpr (std::is_same_v<P, MessageDeadLettered>) {
    f("delivery_id", p.delivery_id);
    f("execution_id", p.execution_id);
    f("error", p.error);
    f("moved_at", p.moved_at);
  } else if constexpr (std::is_same_v<P, DeadLetterReplayed>) {
    f("delivery_id", p.delivery_id);
    f("new_delivery_id", p.new_delivery_id);
    f("execution_id", p.execution_id);
    f("deliver_at", p.deliver_at);
  } else {
    static_assert(std::is_same_v<P, QueueCleared> ||
                  std::is_same_v<P, DeadLetterQueueCleared>);
  }
}

}  // namespace

nlohmann::json payload_to_json(const EventPayload& payload) {
  nlohmann::json out = nlohmann::json::object();
  JsonFields fields{out};
  std::visit([&](const auto& p) { payload_fields(fields, p); }, payload);
  return out;
}

nlohmann::json event_to_json(const Event& event) {
  return {{"lsn", event.lsn},
          {"commit_id", event.commit_id},
          {"timestamp", event.timestamp_ms},
          {"type", event_type_name(event.type())},
          {"schema_version", event.schema_version()},
          {"workflow_id", event.workflow_id},
          {"audit",
           {{"actor", event.audit.actor},
            {"correlation_id", event.audit.correlation_id},
            {"causation_id", event.audit.causation_id},
            {"source", event.audit.source}}},
          {"payload", payload_to_json(event.payload)}};
}

}  // namespace wfstore
