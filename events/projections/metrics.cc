// StageMetricsProjection: the reference's stage and task metrics over
// wfstore's events (docs/projections.md).

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "wfstore/projections.h"

namespace wfstore {
namespace {

double round2(double v) { return std::round(v * 100.0) / 100.0; }

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Highest value first, ties by key.
std::vector<std::pair<std::string, double>> top(
    std::vector<std::pair<std::string, double>> all, std::size_t n) {
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

nlohmann::json pairs_json(
    const std::vector<std::pair<std::string, double>>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [key, value] : v) out.push_back({key, round2(value)});
  return out;
}

}  // namespace

double EntityMetrics::success_rate() const {
  const std::uint64_t done = success_count + failure_count;
  return done == 0 ? 0.0
                   : static_cast<double>(success_count) * 100.0 /
                         static_cast<double>(done);
}

double EntityMetrics::failure_rate() const {
  const std::uint64_t done = success_count + failure_count;
  return done == 0 ? 0.0
                   : static_cast<double>(failure_count) * 100.0 /
                         static_cast<double>(done);
}

double EntityMetrics::avg_duration_ms() const {
  if (durations_ms.empty()) return 0.0;
  const double sum = std::accumulate(
      durations_ms.begin(), durations_ms.end(), 0.0,
      [](double acc, std::int64_t d) { return acc + static_cast<double>(d); });
  return sum / static_cast<double>(durations_ms.size());
}

double EntityMetrics::median_duration_ms() const {
  if (durations_ms.empty()) return 0.0;
  const std::vector<std::int64_t> s = sorted(durations_ms);
  const std::size_t n = s.size();
  if (n % 2 == 1) return static_cast<double>(s[n / 2]);
  return (static_cast<double>(s[n / 2 - 1]) + static_cast<double>(s[n / 2])) /
         2.0;
}

double EntityMetrics::p95_duration_ms() const {
  if (durations_ms.empty()) return 0.0;
  if (durations_ms.size() < 20) {
    return static_cast<double>(max_duration_ms());
  }
  const std::vector<std::int64_t> s = sorted(durations_ms);
  // int(n * 0.95) as Python truncates it: n * 95 / 100 in integers.
  const std::size_t index = std::min(s.size() * 95 / 100, s.size() - 1);
  return static_cast<double>(s[index]);
}

std::int64_t EntityMetrics::min_duration_ms() const {
  if (durations_ms.empty()) return 0;
  return *std::min_element(durations_ms.begin(), durations_ms.end());
}

std::int64_t EntityMetrics::max_duration_ms() const {
  if (durations_ms.empty()) return 0;
  return *std::max_element(durations_ms.begin(), durations_ms.end());
}

nlohmann::json EntityMetrics::to_json(bool task) const {
  nlohmann::json out;
  if (task) {
    out["task_name"] = key;
    out["implementing_class"] = implementing_class
                                    ? nlohmann::json(*implementing_class)
                                    : nlohmann::json();
  } else {
    out["stage_type"] = key;
  }
  out["execution_count"] = execution_count;
  out["success_count"] = success_count;
  out["failure_count"] = failure_count;
  out["skip_count"] = skip_count;
  out["retry_count"] = retry_count;
  out["success_rate"] = round2(success_rate());
  out["failure_rate"] = round2(failure_rate());
  out["avg_duration_ms"] = round2(avg_duration_ms());
  out["median_duration_ms"] = round2(median_duration_ms());
  out["p95_duration_ms"] = round2(p95_duration_ms());
  out["min_duration_ms"] = min_duration_ms();
  out["max_duration_ms"] = max_duration_ms();
  return out;
}

void StageMetricsProjection::apply(const Event& event) {
  const std::uint64_t before = tracker_.last_lsn();
  const std::vector<Transition> transitions = tracker_.apply(event);
  if (event.lsn == 0 || tracker_.last_lsn() != before) ++events_applied_;
  for (const Transition& t : transitions) apply(t);
}

void StageMetricsProjection::apply(const Transition& t) {
  const std::string type = t.event_type();
  if (t.version != 0) {
    if (!seen_versions_.emplace(t.entity_id, type, t.version).second) return;
  } else if (t.lsn != 0) {
    if (!seen_lsns_.emplace(t.lsn, type, t.entity_id).second) return;
  }
  EntityMetrics* m = nullptr;
  if (t.entity_kind == EntityKind::kStage) {
    const std::string key = t.stage_type.empty() ? "unknown" : t.stage_type;
    m = &stages_[key];
    m->key = key;
  } else if (t.entity_kind == EntityKind::kTask) {
    const std::string key = t.entity_name.empty() ? "unknown" : t.entity_name;
    m = &tasks_[key];
    m->key = key;
    const auto cls = t.details.find("implementing_class");
    if (!m->implementing_class && cls != t.details.end() && cls->is_string()) {
      m->implementing_class = cls->get<std::string>();
    }
  } else {
    return;
  }
  switch (t.verb) {
    case TransitionVerb::kStarted:
      ++m->execution_count;
      break;
    case TransitionVerb::kCompleted:
      ++m->success_count;
      if (t.duration_ms) m->durations_ms.push_back(*t.duration_ms);
      break;
    case TransitionVerb::kFailed:
      ++m->failure_count;
      if (t.duration_ms) m->durations_ms.push_back(*t.duration_ms);
      break;
    case TransitionVerb::kSkipped:
      ++m->skip_count;
      break;
    case TransitionVerb::kRetried:
      ++m->retry_count;
      break;
    default:
      break;
  }
}

void StageMetricsProjection::reset() {
  tracker_.reset();
  stages_.clear();
  tasks_.clear();
  seen_versions_.clear();
  seen_lsns_.clear();
  events_applied_ = 0;
}

const EntityMetrics* StageMetricsProjection::metrics_for_type(
    const std::string& stage_type) const {
  const auto it = stages_.find(stage_type);
  return it == stages_.end() ? nullptr : &it->second;
}

const EntityMetrics* StageMetricsProjection::task_metrics_for_name(
    const std::string& name) const {
  const auto it = tasks_.find(name);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, double>>
StageMetricsProjection::top_slowest_stages(std::size_t n) const {
  std::vector<std::pair<std::string, double>> all;
  for (const auto& [type, m] : stages_) {
    if (!m.durations_ms.empty()) all.emplace_back(type, m.avg_duration_ms());
  }
  return top(std::move(all), n);
}

std::vector<std::pair<std::string, double>>
StageMetricsProjection::top_failing_stages(std::size_t n) const {
  std::vector<std::pair<std::string, double>> all;
  for (const auto& [type, m] : stages_) {
    if (m.execution_count > 0) all.emplace_back(type, m.failure_rate());
  }
  return top(std::move(all), n);
}

nlohmann::json StageMetricsProjection::to_json() const {
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& [type, m] : stages_) stages[type] = m.to_json(false);
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& [name, m] : tasks_) tasks[name] = m.to_json(true);
  return {{"stages", std::move(stages)},
          {"tasks", std::move(tasks)},
          {"top_slowest_stages", pairs_json(top_slowest_stages())},
          {"top_failing_stages", pairs_json(top_failing_stages())},
          {"events", events_applied_},
          {"last_lsn", last_lsn()}};
}

}  // namespace wfstore
