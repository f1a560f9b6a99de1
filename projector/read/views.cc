// Loads and queries over the read models.

#include "wfstore_internal/views.h"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "wfstore/errors.h"

#include "wfstore_internal/keys.h"
#include "wfstore_internal/outputs_merge.h"
#include "wfstore_internal/stage_graph.h"
#include "wfstore_internal/view_meta.h"
#include "wfstore_internal/view_records.h"

namespace wfstore {
namespace {

using records::workflow_surrogate;

StageExecution load_stage_by_surrogate(const ViewReader& views,
                                       std::uint64_t stage) {
  const std::optional<std::string> value =
      views.get(Table::kStages, keys::encode_u64(stage));
  if (!value) {
    throw CorruptionError(fmt::format(
        "views table stage_order names stage {} that table stages lacks",
        stage));
  }
  return records::decode_stage_record(*value).stage;
}

// Calls fn(entry) for each stage_order entry of workflow `wf`, in order.
template <typename Fn>
void for_each_stage_entry(const ViewReader& views, std::uint64_t wf, Fn fn) {
  const std::string prefix = keys::encode_u64(wf);
  views.scan(Table::kStageOrder, prefix, keys::prefix_end(prefix),
             [&](std::string_view, std::string_view value) {
               fn(records::decode_stage_order(value));
               return true;
             });
}

std::vector<StageExecution> load_stages(const ViewReader& views,
                                        std::uint64_t wf) {
  std::vector<std::uint64_t> surrogates;
  for_each_stage_entry(views, wf, [&](const records::StageOrderEntry& entry) {
    surrogates.push_back(entry.stage);
  });
  std::vector<StageExecution> stages;
  stages.reserve(surrogates.size());
  for (std::uint64_t stage : surrogates) {
    stages.push_back(load_stage_by_surrogate(views, stage));
  }
  return stages;
}

// The whole workflow for the graph queries: every stage with tasks.
std::optional<Workflow> load_full(const ViewReader& views,
                                  std::string_view workflow_id) {
  return load_workflow(views, workflow_id, true);
}

template <typename Select>
StageSet select_stages(const ViewReader& views, std::string_view workflow_id,
                       Select select) {
  StageSet list;
  std::optional<Workflow> workflow = load_full(views, workflow_id);
  if (!workflow) return list;
  for (const StageExecution& stage : workflow->stages) {
    if (select(*workflow, stage)) list.stages.push_back(stage);
  }
  for (StageExecution& stage : workflow->stages) stage.tasks.clear();
  list.execution = std::make_shared<const Workflow>(std::move(*workflow));
  return list;
}

void check_page_size(const WorkflowCriteria& criteria) {
  validate_criteria(criteria);
}

struct IndexEntry {
  std::string start;  // the kStartTimeBytes of the key
  std::string id;
};

// Scans index `table` under `prefix` (owner surrogate or empty) and returns
// the ids `keep` accepts, ordered start_time DESC, NULLs last, then id, at
// most `limit` (0: all). `keep(status, start_time)`.
template <typename Keep>
std::vector<std::string> query_index(const ViewReader& views, Table table,
                                     const std::string& prefix,
                                     std::int64_t limit, Keep keep) {
  std::vector<IndexEntry> entries;
  const std::size_t start_at = prefix.size();
  views.scan(
      table, prefix, prefix.empty() ? std::string() : keys::prefix_end(prefix),
      [&](std::string_view key, std::string_view value) {
        if (key.size() != start_at + records::kStartTimeBytes + 8 ||
            value.empty()) {
          throw CorruptionError(
              fmt::format("views table {}: malformed entry {}",
                          table_name(table), keys::hex(key)));
        }
        const std::string_view start =
            key.substr(start_at, records::kStartTimeBytes);
        if (limit > 0 && entries.size() >= static_cast<std::size_t>(limit) &&
            entries.back().start != start) {
          return false;
        }
        const auto status_value = static_cast<std::uint8_t>(value[0]);
        const std::optional<WorkflowStatus> status =
            status_from_int(status_value);
        if (!status) {
          throw CorruptionError(fmt::format("views table {}: bad status {}",
                                            table_name(table), status_value));
        }
        if (keep(*status, records::decode_start_time(start))) {
          entries.push_back({std::string(start), std::string(value.substr(1))});
        }
        return true;
      });
  // Ties (equal start times) are in surrogate order: re-sort them by id.
  for (std::size_t i = 0; i < entries.size();) {
    std::size_t j = i + 1;
    while (j < entries.size() && entries[j].start == entries[i].start) ++j;
    std::sort(
        entries.begin() + static_cast<std::ptrdiff_t>(i),
        entries.begin() + static_cast<std::ptrdiff_t>(j),
        [](const IndexEntry& a, const IndexEntry& b) { return a.id < b.id; });
    i = j;
  }
  if (limit > 0 && entries.size() > static_cast<std::size_t>(limit)) {
    entries.resize(static_cast<std::size_t>(limit));
  }
  std::vector<std::string> ids;
  ids.reserve(entries.size());
  for (IndexEntry& entry : entries) ids.push_back(std::move(entry.id));
  return ids;
}

std::vector<std::string> query_by_owner(
    const ViewReader& views, Table table, std::string_view owner,
    const std::optional<WorkflowCriteria>& criteria) {
  if (criteria) check_page_size(*criteria);
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, owner);
  if (!surrogate) return {};
  const std::string prefix = keys::encode_u64(*surrogate);
  if (!criteria) {
    return query_index(
        views, table, prefix, 0,
        [](WorkflowStatus, std::optional<std::int64_t>) { return true; });
  }
  const WorkflowCriteria& c = *criteria;
  return query_index(
      views, table, prefix, c.page_size,
      [&](WorkflowStatus status, std::optional<std::int64_t> start) {
        if (!c.statuses.empty() && c.statuses.count(status) == 0) return false;
        if (c.start_time_after && (!start || *start <= *c.start_time_after)) {
          return false;
        }
        if (c.start_time_before && (!start || *start >= *c.start_time_before)) {
          return false;
        }
        return true;
      });
}

}  // namespace

std::optional<Workflow> load_workflow(const ViewReader& views,
                                      std::string_view id, bool with_stages) {
  const std::optional<std::uint64_t> surrogate = keys::lookup_id(views, id);
  if (!surrogate) return std::nullopt;
  std::optional<records::WorkflowRecord> record =
      records::load_workflow_record(views, *surrogate);
  if (!record) return std::nullopt;
  Workflow workflow = std::move(record->summary);
  if (with_stages) workflow.stages = load_stages(views, *surrogate);
  return workflow;
}

std::optional<StageExecution> load_stage(const ViewReader& views,
                                         std::string_view stage_id) {
  const std::optional<records::StageBytes> found =
      records::lookup_stage_record(views, stage_id);
  if (!found) return std::nullopt;
  return records::decode_stage_record(found->value).stage;
}

std::optional<StageInExecution> retrieve_stage(const ViewReader& views,
                                               std::string_view stage_id) {
  const std::optional<records::StageBytes> found =
      records::lookup_stage_record(views, stage_id);
  if (!found) return std::nullopt;
  const std::uint64_t surrogate = found->surrogate;
  records::StageRecord record = records::decode_stage_record(found->value);
  std::optional<records::WorkflowRecord> workflow =
      records::load_workflow_record(views, record.workflow);
  if (!workflow) {
    throw CorruptionError(fmt::format(
        "views table stages: stage {} names a missing workflow", stage_id));
  }
  StageInExecution result;
  result.execution = std::move(workflow->summary);
  const std::set<std::string>& requisites =
      record.stage.requisite_stage_ref_ids;
  std::vector<std::uint64_t> upstream;
  std::vector<std::uint64_t> children;
  for_each_stage_entry(
      views, record.workflow, [&](const records::StageOrderEntry& entry) {
        if (entry.stage == surrogate) return;
        if (entry.parent == surrogate) {
          children.push_back(entry.stage);
        } else if (requisites.count(std::string(entry.ref_id)) != 0) {
          upstream.push_back(entry.stage);
        }
      });
  result.execution.stages.reserve(1 + upstream.size() + children.size());
  result.execution.stages.push_back(std::move(record.stage));
  for (std::uint64_t stage : upstream) {
    result.execution.stages.push_back(load_stage_by_surrogate(views, stage));
  }
  for (std::uint64_t stage : children) {
    result.execution.stages.push_back(load_stage_by_surrogate(views, stage));
  }
  return result;
}

StageSet upstream_stages(const ViewReader& views, std::string_view workflow_id,
                         std::string_view stage_ref_id) {
  std::optional<std::set<std::string>> requisites;
  return select_stages(
      views, workflow_id,
      [&](const Workflow& workflow, const StageExecution& stage) {
        if (!requisites) {
          const StageExecution* target =
              workflow.find_stage_by_ref(stage_ref_id);
          requisites = target != nullptr ? target->requisite_stage_ref_ids
                                         : std::set<std::string>();
        }
        return requisites->count(stage.ref_id) != 0;
      });
}

StageSet downstream_stages(const ViewReader& views,
                           std::string_view workflow_id,
                           std::string_view stage_ref_id) {
  const std::string ref(stage_ref_id);
  return select_stages(views, workflow_id,
                       [&](const Workflow&, const StageExecution& stage) {
                         return stage.requisite_stage_ref_ids.count(ref) != 0;
                       });
}

StageSet synthetic_stages(const ViewReader& views, std::string_view workflow_id,
                          std::string_view parent_stage_id) {
  return select_stages(views, workflow_id,
                       [&](const Workflow&, const StageExecution& stage) {
                         return stage.parent_stage_id &&
                                *stage.parent_stage_id == parent_stage_id;
                       });
}

// Outputs up to this size are copied while the graph is scanned; larger ones
// are read again only if their stage turns out to be an ancestor, so a call
// never copies the outputs of stages it does not merge beyond this much each.
constexpr std::size_t kScannedOutputsBytes = 1024;

// Everything comes from the workflow's stage_order entries (ref ids,
// requisites, outputs); no stage record is read.
nlohmann::json merged_ancestor_outputs(const ViewReader& views,
                                       std::string_view workflow_id,
                                       std::string_view stage_ref_id) {
  const std::optional<std::uint64_t> wf = keys::lookup_id(views, workflow_id);
  if (!wf) return nlohmann::json::object();
  // Per entry: its key, its ref id, its packed requisites and (when small)
  // its outputs, copied into one buffer (scan() lends values only to its
  // callback) as offsets, made views once the buffer stops growing.
  struct Span {
    std::size_t at = 0;
    std::size_t size = 0;
  };
  struct Copied {
    Span key, ref_id, requisites, outputs;
    bool outputs_copied = false;
  };
  std::string bytes;
  bytes.reserve(1024);
  std::vector<Copied> copied;
  copied.reserve(16);
  const auto copy = [&bytes](std::string_view part) {
    const Span span{bytes.size(), part.size()};
    bytes.append(part);
    return span;
  };
  const std::string prefix = keys::encode_u64(*wf);
  views.scan(Table::kStageOrder, prefix, keys::prefix_end(prefix),
             [&](std::string_view key, std::string_view value) {
               const records::StageOrderEntry entry =
                   records::decode_stage_order(value);
               Copied& c = copied.emplace_back();
               c.key = copy(key);
               c.ref_id = copy(entry.ref_id);
               c.requisites = copy(entry.requisites.bytes);
               c.outputs_copied =
                   entry.outputs.bytes.size() <= kScannedOutputsBytes;
               if (c.outputs_copied) c.outputs = copy(entry.outputs.bytes);
               return true;
             });
  const auto view = [&bytes](Span span) {
    return std::string_view(bytes).substr(span.at, span.size);
  };
  std::vector<internal::StageNode> nodes;
  nodes.reserve(copied.size());
  for (const Copied& c : copied) {
    nodes.push_back(
        {view(c.ref_id), records::PackedStrings{view(c.requisites)}.unpack()});
  }
  const std::vector<std::size_t> order =
      internal::ancestor_merge_order(nodes, stage_ref_id);
  // The large outputs of ancestors, read again (the merge borrows them).
  std::vector<std::string> large;  // reserved: views of its strings stay valid
  large.reserve(static_cast<std::size_t>(
      std::count_if(order.begin(), order.end(),
                    [&](std::size_t i) { return !copied[i].outputs_copied; })));
  internal::OutputsMerge merge;
  for (const std::size_t i : order) {
    const Copied& c = copied[i];
    if (c.outputs_copied) {
      merge.add_stored(view(c.outputs));
      continue;
    }
    std::string& outputs = large.emplace_back();
    views.get_with(Table::kStageOrder, view(c.key),
                   [&](std::optional<std::string_view> value) {
                     if (!value) {
                       throw CorruptionError(
                           "views table stage_order: an entry vanished within "
                           "one read");
                     }
                     outputs = std::string(
                         records::decode_stage_order(*value).outputs.bytes);
                   });
    merge.add_stored(outputs);
  }
  return merge.take();
}

std::vector<std::string> workflow_ids_by_application(
    const ViewReader& views, std::string_view application,
    const std::optional<WorkflowCriteria>& criteria) {
  return query_by_owner(views, Table::kByApplication, application, criteria);
}

std::vector<std::string> workflow_ids_by_pipeline_config_id(
    const ViewReader& views, std::string_view pipeline_config_id,
    const std::optional<WorkflowCriteria>& criteria) {
  return query_by_owner(views, Table::kByPipelineConfig, pipeline_config_id,
                        criteria);
}

std::vector<std::string> pending_workflow_ids(
    const ViewReader& views, const WorkflowCriteria& criteria) {
  check_page_size(criteria);
  return query_index(
      views, Table::kByStartTime, std::string(), criteria.page_size,
      [&](WorkflowStatus status, std::optional<std::int64_t> start) {
        if (!criteria.statuses.empty() &&
            criteria.statuses.count(status) == 0) {
          return false;
        }
        return !criteria.start_time_after || !start ||
               *start >= *criteria.start_time_after;
      });
}

std::size_t count_by_application(const ViewReader& views,
                                 std::string_view application) {
  const std::optional<std::uint64_t> surrogate =
      keys::lookup_id(views, application);
  if (!surrogate) return 0;
  const std::string prefix = keys::encode_u64(*surrogate);
  std::size_t count = 0;
  views.scan(Table::kByApplication, prefix, keys::prefix_end(prefix),
             [&](std::string_view, std::string_view) {
               ++count;
               return true;
             });
  return count;
}

bool workflow_exists(const ViewReader& views, std::string_view workflow_id) {
  return workflow_surrogate(views, workflow_id).has_value();
}

bool is_message_processed(const ViewReader& views,
                          std::string_view message_id) {
  bool found = false;
  views.get_with(Table::kProcessedMessages, records::processed_key(message_id),
                 [&](std::optional<std::string_view> value) {
                   found = value.has_value() &&
                           records::has_processed(*value, message_id);
                 });
  return found;
}

std::vector<std::string> processed_message_ids(
    const ViewReader& views, std::optional<std::size_t> limit) {
  std::vector<std::string> ids;
  if (limit && *limit == 0) return ids;
  views.scan(Table::kProcessedByTime, "", "",
             [&](std::string_view, std::string_view value) {
               ids.emplace_back(value);
               return !limit || ids.size() < *limit;
             });
  return ids;
}

std::optional<std::string> claim_holder(const ViewReader& views,
                                        std::string_view execution_id,
                                        std::string_view claim_key) {
  const std::optional<std::uint64_t> execution =
      keys::lookup_id(views, execution_id);
  const std::optional<std::uint64_t> claim = keys::lookup_id(views, claim_key);
  if (!execution || !claim) return std::nullopt;
  const std::optional<std::string> value =
      views.get(Table::kClaims, keys::make_key({*execution, *claim}));
  if (!value) return std::nullopt;
  return records::decode_claim(*value).stage_id;
}

std::vector<std::uint64_t> workflow_event_lsns(const ViewReader& views,
                                               std::string_view workflow_id) {
  std::vector<std::uint64_t> lsns;
  const std::optional<std::uint64_t> wf = keys::lookup_id(views, workflow_id);
  if (!wf) return lsns;
  const std::string prefix = keys::encode_u64(*wf);
  views.scan(Table::kWorkflowEvents, prefix, keys::prefix_end(prefix),
             [&](std::string_view key, std::string_view) {
               keys::KeyReader reader(key);
               reader.u64();
               lsns.push_back(reader.u64());
               return true;
             });
  return lsns;
}

std::uint64_t applied_lsn(const ViewReader& views) {
  return meta_u64(views, kMetaAppliedLsn).value_or(0);
}

std::uint64_t next_delivery_id(const ViewReader& views) {
  return meta_u64(views, kMetaNextDeliveryId).value_or(1);
}

}  // namespace wfstore
