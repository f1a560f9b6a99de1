// Every value that can reach the log is validated by the rules its decoders
// enforce. A seeded generator sends random and adversarial values (malformed
// UTF-8 of every kind, empty strings, strings at and past 1 KiB, deep JSON,
// NaN and infinity, 64-bit edge integers, integers cast into enums, negative
// counts and durations) through every public entry point that appends: the
// WorkflowStore methods, Transaction operations, the Queue, AuditScope, the
// QueueProcessor's handler names and recover_pending. Every call must either
// succeed or throw a wfstore::Error and change nothing (log size, applied LSN,
// every view table); a value an independent oracle calls invalid must be an
// InvalidArgumentError. Afterwards every record of the log must decode (the
// log reader and the event codec, and every stored queue message through the
// wire parser), the views must equal a rebuild, and a rebuild must succeed.
//
// Also here: the entry-point tests of the queue's message validation and of
// AuditScope, which this property generalises.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "wfstore/audit_scope.h"
#include "wfstore/database.h"
#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/limits.h"
#include "wfstore/maintenance.h"
#include "wfstore/message.h"
#include "wfstore/model.h"
#include "wfstore/queue.h"
#include "wfstore/queue_processor.h"
#include "wfstore/recovery.h"
#include "wfstore/transaction.h"
#include "wfstore/workflow_store.h"

#include "tests/testutil/sample_messages.h"
#include "tests/testutil/sample_workflows.h"
#include "tests/testutil/store_test_util.h"
#include "tests/testutil/temp_dir.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// 2026-01-01 00:00:00 UTC.
constexpr std::int64_t kStartMs = 1'767'225'600'000;

// ---------------------------------------------------------------------------
// The oracle: written apart from the store's checks (events/model/utf8.cc,
// events/model/json.cc), from the well-formed byte sequences of the Unicode
// standard's Table 3-7.

bool well_formed_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto at = [&](std::size_t k) {
    return static_cast<unsigned char>(s[i + k]);
  };
  const auto in = [&](std::size_t k, unsigned lo, unsigned hi) {
    return i + k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  while (i < s.size()) {
    const unsigned b = at(0);
    std::size_t len = 0;
    bool ok = false;
    if (b <= 0x7F) {
      len = 1;
      ok = true;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
      ok = in(1, 0x80, 0xBF);
    } else if (b == 0xE0) {
      len = 3;
      ok = in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF);
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      len = 3;
      ok = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF);
    } else if (b == 0xED) {
      len = 3;
      ok = in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF);
    } else if (b == 0xF0) {
      len = 4;
      ok = in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF);
    } else if (b >= 0xF1 && b <= 0xF3) {
      len = 4;
      ok = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF);
    } else if (b == 0xF4) {
      len = 4;
      ok = in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF);
    }
    if (!ok) return false;
    i += len;
  }
  return true;
}

bool valid_string(std::string_view s) {
  return s.size() <= kMaxStringBytes && well_formed_utf8(s);
}
bool valid_key(std::string_view s) { return !s.empty() && valid_string(s); }
bool valid_optional(const std::optional<std::string>& s) {
  return !s || valid_string(*s);
}

// JSON: no binary values, finite numbers, well-formed strings and keys, at most
// kMaxJsonDepth nested containers. (The generator stays far below 16 MiB.)
bool valid_json(const json& value, std::size_t containers_above = 0) {
  switch (value.type()) {
    case json::value_t::binary:
      return false;
    case json::value_t::number_float:
      return std::isfinite(value.get<double>());
    case json::value_t::string:
      return well_formed_utf8(value.get_ref<const std::string&>());
    case json::value_t::array:
    case json::value_t::object:
      if (containers_above + 1 > kMaxJsonDepth) return false;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (value.is_object() && !well_formed_utf8(it.key())) return false;
        if (!valid_json(*it, containers_above + 1)) return false;
      }
      return true;
    default:
      return true;
  }
}

bool valid_status_name(std::string_view name) {
  static const std::set<std::string_view> kNames = {
      "NOT_STARTED", "RUNNING",         "PAUSED",   "SUSPENDED",
      "SUCCEEDED",   "FAILED_CONTINUE", "TERMINAL", "CANCELED",
      "REDIRECT",    "STOPPED",         "SKIPPED",  "BUFFERED"};
  return kNames.count(name) != 0;
}

// ---------------------------------------------------------------------------
// Adversarial values.

// Strings the store must accept (each valid UTF-8 of at most 1 KiB).
std::vector<std::string> valid_edge_strings() {
  return {
      "",
      "a",
      "h\xC3\xA9llo",                     // é
      "\xE2\x9C\x93",                     // U+2713
      "\xF0\x9D\x84\x9E",                 // U+1D11E, four bytes
      "\xED\x9F\xBF",                     // U+D7FF, just below the surrogates
      "\xEE\x80\x80",                     // U+E000, just above them
      "\xEF\xBF\xBF",                     // U+FFFF
      "\xF4\x8F\xBF\xBF",                 // U+10FFFF, the last code point
      "\xC2\x80",                         // U+0080, the shortest two-byte form
      std::string("a\0b", 3),             // an embedded NUL
      std::string(kMaxStringBytes, 'x'),  // exactly 1 KiB
      std::string(kMaxStringBytes - 2, 'x') + "\xC3\xA9",
      std::string(kMaxStringBytes - 4, 'x') + "\xF0\x9F\x98\x80",
  };
}

// Strings the store must reject: not UTF-8, or longer than 1 KiB.
std::vector<std::string> invalid_edge_strings() {
  return {
      "\x80",                      // a lone continuation byte
      "\xBF",                      //
      "a\x80z",                    //
      "\xC0\x80",                  // overlong NUL
      "\xC0\xAF",                  // overlong '/'
      "\xC1\xBF",                  // overlong two-byte
      "\xE0\x80\xAF",              // overlong three-byte
      "\xE0\x9F\xBF",              // overlong U+07FF
      "\xF0\x80\x80\xAF",          // overlong four-byte
      "\xF0\x8F\xBF\xBF",          // overlong U+FFFF
      "\xED\xA0\x80",              // U+D800, a high surrogate
      "\xED\xAF\xBF",              // U+DBFF
      "\xED\xB0\x80",              // U+DC00, a low surrogate
      "\xED\xBF\xBF",              // U+DFFF
      "\xED\xA0\xBD\xED\xB8\x80",  // a CESU-8 surrogate pair
      "\xF4\x90\x80\x80",          // U+110000
      "\xF5\x80\x80\x80",          // lead byte past U+10FFFF
      "\xF7\xBF\xBF\xBF",          //
      "\xF8\x88\x80\x80\x80",      // five-byte form
      "\xFC\x84\x80\x80\x80\x80",  // six-byte form
      "\xFE",                      //
      "\xFF",                      //
      "\xC3",                      // truncated two-byte
      "\xE2\x82",                  // truncated three-byte
      "\xF0\x9F\x98",              // truncated four-byte
      "abc\xE2\x82",               // truncated at the end
      "\xE2\x82"
      "abc",               // truncated, then ASCII
      "\xC3\x28",          // a lead byte, then a non-continuation
      "\xE2\x28\xA1",      //
      "\xF0\x28\x8C\x28",  //
      std::string(kMaxStringBytes - 1, 'x') + "\xC3",  // 1 KiB, truncated
      std::string(kMaxStringBytes + 1, 'x'),           // 1 KiB + 1
      std::string(kMaxStringBytes - 1, 'x') + "\xC3\xA9",
      std::string(4 * kMaxStringBytes, 'x'),
  };
}

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t next() { return rng_(); }
  std::size_t below(std::size_t n) {
    return static_cast<std::size_t>(rng_() % n);
  }
  bool percent(int p) { return static_cast<int>(below(100)) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

  // A plain valid id or name.
  std::string plain() { return fmt::format("v{}", below(1000)); }

  // Any string: a plain one, an edge case on either side, or random bytes.
  std::string any_string() {
    switch (below(6)) {
      case 0:
        return pick(valid_edge_strings_);
      case 1:
      case 2:
        return pick(invalid_edge_strings_);
      case 3:
        return random_bytes();
      default:
        return plain();
    }
  }

  // Mostly plain, sometimes adversarial: most calls stay valid, so the store
  // also grows.
  std::string field() { return percent(80) ? plain() : any_string(); }

  std::optional<std::string> optional_field() {
    if (percent(30)) return std::nullopt;
    return field();
  }

  // Random bytes: ASCII, encoded code points of every length, raw high bytes;
  // at times near 1 KiB.
  std::string random_bytes() {
    const std::size_t length =
        percent(15) ? kMaxStringBytes - 4 + below(8) : below(12);
    std::string out;
    while (out.size() < length) {
      switch (below(5)) {
        case 0:
        case 1:
          out.push_back(static_cast<char>(0x20 + below(0x5F)));
          break;
        case 2:
          append_code_point(out, random_code_point());
          break;
        case 3:
          out.push_back(static_cast<char>(0x80 + below(0x80)));
          break;
        default:
          out.push_back(static_cast<char>(below(0x80)));
      }
    }
    return out;
  }

  std::int64_t any_int() {
    switch (below(8)) {
      case 0:
        return std::numeric_limits<std::int64_t>::min();
      case 1:
        return std::numeric_limits<std::int64_t>::max();
      case 2:
        return -1;
      case 3:
        return 0;
      case 4:
        return -static_cast<std::int64_t>(below(1'000'000));
      default:
        return static_cast<std::int64_t>(below(1'000'000'000));
    }
  }

  // Any byte cast into a one-byte enum, mostly one of its values.
  template <typename Enum>
  Enum any_enum(int count, bool* valid) {
    const int raw =
        percent(75) ? static_cast<int>(below(static_cast<std::size_t>(count)))
                    : static_cast<int>(below(256));
    *valid = *valid && raw < count;
    return static_cast<Enum>(raw);
  }

  // A JSON value of any kind; `budget` bounds its size.
  json any_json(int budget = 6) {
    if (percent(4))
      return deep(static_cast<std::size_t>(
          pick(std::vector<int>{1, 64, 127, 128, 129, 200})));
    switch (below(budget > 0 ? std::size_t{11} : std::size_t{8})) {
      case 0:
        return nullptr;
      case 1:
        return percent(50);
      case 2:
        return any_int();
      case 3:
        return std::numeric_limits<std::uint64_t>::max() - below(3);
      case 4:
        return pick(
            std::vector<double>{0.5, -0.0, 1e308, -1e308, 5e-324,
                                std::numeric_limits<double>::quiet_NaN(),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity()});
      case 5:
      case 6:
        return any_string();
      case 7:
        if (percent(20)) return json::binary({1, 2, 3});
        return plain();
      case 8: {
        json array = json::array();
        for (std::size_t n = below(4); n > 0; --n)
          array.push_back(any_json(budget - 2));
        return array;
      }
      default: {
        json object = json::object();
        for (std::size_t n = below(4); n > 0; --n)
          object[any_string()] = any_json(budget - 2);
        return object;
      }
    }
  }

  // A JSON field value: mostly a small valid object.
  json json_field() {
    if (percent(75)) return json{{plain(), plain()}, {"n", below(100)}};
    return any_json();
  }

  // `containers` nested arrays or objects.
  json deep(std::size_t containers) {
    const bool objects = percent(50);
    json value = objects ? json::object() : json::array();
    for (std::size_t i = 1; i < containers; ++i) {
      json outer = objects ? json::object() : json::array();
      if (objects) {
        outer["k"] = std::move(value);
      } else {
        outer.push_back(std::move(value));
      }
      value = std::move(outer);
    }
    return value;
  }

 private:
  std::uint32_t random_code_point() {
    switch (below(4)) {
      case 0:
        return 0x80 + static_cast<std::uint32_t>(below(0x780));
      case 1: {
        std::uint32_t cp = 0x800 + static_cast<std::uint32_t>(below(0xF800));
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
        return cp;
      }
      default:
        return 0x10000 + static_cast<std::uint32_t>(below(0x100000));
    }
  }

  static void append_code_point(std::string& out, std::uint32_t cp) {
    if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    }
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }

  std::mt19937_64 rng_;
  std::vector<std::string> valid_edge_strings_ = valid_edge_strings();
  std::vector<std::string> invalid_edge_strings_ = invalid_edge_strings();
};

// ---------------------------------------------------------------------------
// Messages: every field of every type, each value from the generator; *valid
// is cleared when one of them breaks a rule.

template <std::size_t I = 0>
Message default_message(std::size_t index) {
  if (index == I) return std::variant_alternative_t<I, Message>{};
  if constexpr (I + 1 < std::variant_size_v<Message>) {
    return default_message<I + 1>(index);
  } else {
    throw std::logic_error("no such message type");
  }
}

struct FieldFiller {
  Gen& g;
  bool& valid;

  void string(std::string& s) {
    s = g.field();
    valid = valid && valid_string(s);
  }
  // An id (a std::string or an optional one), which must not be empty.
  template <typename IdField>
  void key(IdField& into) {
    std::string s = g.field();
    valid = valid && valid_key(s);
    into = std::move(s);
  }
  void optional(std::optional<std::string>& s) {
    s = g.optional_field();
    valid = valid && valid_optional(s);
  }
  // A message dict sits one level inside the message's wire object.
  void dict(json& j) {
    j = g.json_field();
    valid = valid && j.is_object() && valid_json(j, 1);
  }
  void count(std::int64_t& n) {
    n = g.percent(80) ? static_cast<std::int64_t>(g.below(5)) : g.any_int();
    valid = valid && n >= 0;
  }
  // A model JSON field (a json or a Json).
  template <typename JsonField>
  void json_value(JsonField& into) {
    json value = g.json_field();
    valid = valid && valid_json(value);
    into = std::move(value);
  }
};

Message random_message(Gen& g, bool* valid) {
  Message message = default_message(g.below(std::variant_size_v<Message>));
  FieldFiller f{g, *valid};
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        f.optional(m.last_error);
        f.optional(m.last_error_type);
        if (g.percent(30)) {
          m.max_attempts = g.pick(
              std::vector<int>{1, 3, 10, 0, -1, std::numeric_limits<int>::max(),
                               std::numeric_limits<int>::min()});
          *valid = *valid && *m.max_attempts >= 1;
        }
        if constexpr (std::is_base_of_v<WorkflowLevel, T>) {
          f.string(m.execution_type);
          f.string(m.execution_id);
        }
        if constexpr (std::is_base_of_v<StageLevel, T>) {
          f.string(m.stage_id);
          f.count(m.retry_count);
        }
        if constexpr (std::is_base_of_v<TaskLevel, T>) f.string(m.task_id);
        if constexpr (std::is_same_v<T, CompleteWorkflow>)
          f.count(m.retry_count);
        if constexpr (std::is_same_v<T, CancelWorkflow>) {
          f.string(m.user);
          f.string(m.reason);
        }
        if constexpr (std::is_same_v<T, StartWaitingWorkflows>) {
          f.string(m.pipeline_config_id);
          m.purge_queue = g.percent(50);
        }
        if constexpr (std::is_same_v<T, CancelRegion>) f.string(m.region);
        if constexpr (std::is_same_v<T, ContinueParentStage>) {
          m.phase =
              g.any_enum<SyntheticStageOwner>(kSyntheticStageOwnerCount, valid);
        }
        if constexpr (std::is_same_v<T, JumpToStage>) {
          f.string(m.target_stage_ref_id);
          f.dict(m.jump_context);
          f.dict(m.jump_outputs);
        }
        if constexpr (std::is_same_v<T, SignalStage>) {
          f.string(m.signal_name);
          f.dict(m.signal_data);
          m.persistent = g.percent(50);
        }
        if constexpr (std::is_same_v<T, AddMultiInstance>) {
          f.dict(m.instance_context);
        }
        if constexpr (std::is_same_v<T, RunTask>) f.string(m.task_type);
        if constexpr (std::is_same_v<T, CompleteTask>) {
          m.status = g.any_enum<WorkflowStatus>(kWorkflowStatusCount, valid);
          if (g.percent(50)) {
            m.original_status =
                g.any_enum<WorkflowStatus>(kWorkflowStatusCount, valid);
          }
        }
        if constexpr (std::is_same_v<T, InvalidTaskType>) {
          f.string(m.task_type_name);
        }
      },
      message);
  return message;
}

// ---------------------------------------------------------------------------
// Model values.

// One field of `stage` (not its id, execution_id or parent) set from the
// generator.
void mutate_stage(Gen& g, StageExecution& stage, bool* valid) {
  FieldFiller f{g, *valid};
  switch (g.below(16)) {
    case 0:
      f.string(stage.ref_id);
      break;
    case 1:
      f.string(stage.type);
      break;
    case 2:
      f.string(stage.name);
      break;
    case 3:
      stage.status = g.any_enum<WorkflowStatus>(kWorkflowStatusCount, valid);
      break;
    case 4:
      f.json_value(stage.context);
      break;
    case 5:
      f.json_value(stage.outputs);
      break;
    case 6: {
      std::string ref;
      f.string(ref);
      stage.requisite_stage_ref_ids.insert(ref);
      break;
    }
    case 7:
      stage.join_type = g.any_enum<JoinType>(kJoinTypeCount, valid);
      stage.join_threshold = g.any_int();
      *valid = *valid && !(stage.join_type == JoinType::kNOfM &&
                           stage.join_threshold < 0);
      break;
    case 8:
      stage.split_type = g.any_enum<SplitType>(kSplitTypeCount, valid);
      break;
    case 9: {
      std::string key;
      std::string value;
      f.string(key);
      f.string(value);
      stage.split_conditions[key] = value;
      break;
    }
    case 10: {
      MultiInstanceConfig mi;
      mi.count = g.any_int();
      mi.join_threshold = g.any_int();
      f.string(mi.count_from_context);
      f.string(mi.collection_from_context);
      stage.mi_config = mi;
      break;
    }
    case 11:
      f.optional(stage.deferred_choice_group);
      f.optional(stage.milestone_ref_id);
      f.optional(stage.milestone_status);
      break;
    case 12:
      f.optional(stage.mutex_key);
      f.optional(stage.cancel_region);
      break;
    case 13:
      stage.start_time = g.any_int();
      stage.end_time = g.any_int();
      stage.start_time_expiry = g.any_int();
      stage.scheduled_time = g.any_int();
      break;
    default: {
      // A task: new or one of the stage's.
      TaskExecution fresh;
      fresh.id = stage.id + ".t" + std::to_string(g.below(1000));
      TaskExecution& task = stage.tasks.empty() || g.percent(30)
                                ? stage.tasks.emplace_back(std::move(fresh))
                                : stage.tasks[g.below(stage.tasks.size())];
      switch (g.below(5)) {
        case 0:
          f.key(task.id);
          break;
        case 1:
          f.string(task.name);
          f.string(task.implementing_class);
          break;
        case 2:
          task.status = g.any_enum<WorkflowStatus>(kWorkflowStatusCount, valid);
          break;
        case 3:
          f.json_value(task.task_exception_details);
          break;
        default:
          task.start_time = g.any_int();
          task.end_time = g.any_int();
          task.stage_start = g.percent(50);
          task.loop_end = g.percent(50);
      }
    }
  }
}

// One field of `workflow` (its own, or of a stage) set from the generator.
void mutate_workflow(Gen& g, Workflow& workflow, bool* valid) {
  FieldFiller f{g, *valid};
  switch (g.below(14)) {
    case 0:
      f.string(workflow.application);
      f.string(workflow.name);
      break;
    case 1:
      f.string(workflow.origin);
      break;
    case 2:
      workflow.status = g.any_enum<WorkflowStatus>(kWorkflowStatusCount, valid);
      break;
    case 3:
      workflow.type = g.any_enum<WorkflowType>(kWorkflowTypeCount, valid);
      break;
    case 4:
      f.json_value(workflow.context);
      break;
    case 5:
      f.string(workflow.trigger.type);
      f.string(workflow.trigger.user);
      f.json_value(workflow.trigger.parameters);
      break;
    case 6:
      f.json_value(workflow.trigger.artifacts);
      f.json_value(workflow.trigger.payload);
      break;
    case 7:
      f.optional(workflow.canceled_by);
      f.optional(workflow.cancellation_reason);
      f.optional(workflow.pipeline_config_id);
      break;
    case 8: {
      PausedDetails paused;
      f.string(paused.paused_by);
      paused.pause_time = g.any_int();
      paused.paused_ms = g.any_int();
      workflow.paused = paused;
      break;
    }
    case 9:
      workflow.start_time = g.any_int();
      workflow.end_time = g.any_int();
      workflow.max_concurrent_executions = g.any_int();
      break;
    case 10: {
      // A stage's parent: the stage's own workflow's, or any string.
      StageExecution& stage = workflow.stages[g.below(workflow.stages.size())];
      f.key(stage.parent_stage_id);
      stage.synthetic_stage_owner =
          g.any_enum<SyntheticStageOwner>(kSyntheticStageOwnerCount, valid);
      break;
    }
    default:
      mutate_stage(g, workflow.stages[g.below(workflow.stages.size())], valid);
  }
}

// ---------------------------------------------------------------------------
// The harness.

struct State {
  std::uint64_t applied_lsn = 0;
  std::uint64_t log_bytes = 0;
  testutil::TableDump views;
};

class LogInputPropertyTest : public ::testing::Test {
 protected:
  void open() {
    DatabaseOptions options;
    options.durability = Durability::kBuffered;
    options.clock = clock_;
    options.logger = [](LogLevel, std::string_view) {};
    std::filesystem::create_directories(path_);
    db_ = Database::open(path_, options);
    queue_ = std::make_unique<Queue>(*db_);
  }

  void close() {
    processor_.reset();
    queue_.reset();
    if (db_) db_->close();
    db_.reset();
  }

  WorkflowStore& store() { return db_->workflow_store(); }

  State state() {
    return State{db_->stats().applied_lsn, testutil::log_bytes(path_),
                 testutil::dump_all(*db_)};
  }

  // Runs `call`. A call that throws must throw a wfstore::Error and change
  // nothing; one with a value the oracle calls invalid must throw
  // InvalidArgumentError. `invalid` false means "valid as far as the oracle
  // knows": the call may still fail for another reason (a duplicate, a
  // version conflict, a missing workflow).
  void check(const std::string& what, bool invalid,
             const std::function<void()>& call) {
    const State before = state();
    std::string error;
    bool rejected_as_invalid = false;
    try {
      call();
      ++accepted_;
    } catch (const InvalidArgumentError& e) {
      rejected_as_invalid = true;
      error = e.what();
    } catch (const Error& e) {
      error = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": threw a " << typeid(e).name()
                    << " that is not a wfstore::Error: " << e.what();
      error = e.what();
    }
    if (invalid) {
      ++expected_invalid_;
      EXPECT_TRUE(rejected_as_invalid)
          << what << ": an invalid value was not rejected as invalid"
          << (error.empty() ? " (accepted)" : " but with: " + error);
    }
    if (!error.empty()) {
      ++rejected_;
      const State after = state();
      EXPECT_EQ(after.applied_lsn, before.applied_lsn) << what << ": " << error;
      EXPECT_EQ(after.log_bytes, before.log_bytes) << what << ": " << error;
      EXPECT_TRUE(after.views == before.views)
          << what << ": a rejected call changed the views: " << error;
    }
  }

  std::string pool_workflow(Gen& g) {
    return fmt::format("wf-{}", g.below(kWorkflows));
  }

  // A workflow id: of the pool, a fresh one, or any string.
  std::string workflow_id(Gen& g, bool* valid) {
    if (g.percent(70)) return pool_workflow(g);
    if (g.percent(50)) return fmt::format("wf-new-{}", g.next() % 1'000'000);
    std::string id = g.any_string();
    *valid = *valid && valid_key(id);
    return id;
  }

  std::optional<StageExecution> stored_stage(Gen& g, const std::string& wf) {
    try {
      const Workflow workflow = store().retrieve(wf);
      if (workflow.stages.empty()) return std::nullopt;
      return workflow.stages[g.below(workflow.stages.size())];
    } catch (const WorkflowNotFoundError&) {
      return std::nullopt;
    }
  }

  // One random call through one entry point.
  void step(Gen& g) {
    bool valid = true;
    switch (g.below(22)) {
      case 0:
      case 1: {  // store
        Workflow w = testutil::diamond_workflow(
            g.percent(30) ? pool_workflow(g)
                          : fmt::format("wf-s{}", g.next() % 1'000'000));
        // One field: a later change of the same field could undo an
        // invalid value the oracle counted.
        mutate_workflow(g, w, &valid);
        check("store", !valid, [&] {
          store().store(w);
          Workflow expected = w;
          for (StageExecution& s : expected.stages)
            for (TaskExecution& t : s.tasks) t.version = 0;
          EXPECT_EQ(store().retrieve(w.id), expected) << "store round trip";
        });
        break;
      }
      case 2:
      case 3:
      case 4: {  // store_stage / add_stage of a stored stage
        const std::string wf = pool_workflow(g);
        std::optional<StageExecution> stage = stored_stage(g, wf);
        if (!stage) break;
        mutate_stage(g, *stage, &valid);
        if (g.percent(15)) {
          // Another workflow's id, a missing one, or any string.
          bool id_valid = true;
          stage->execution_id = workflow_id(g, &id_valid);
          valid = valid && id_valid && stage->execution_id == wf;
        }
        std::optional<std::string> phase;
        if (g.percent(30)) {
          phase = g.percent(50) &&
                          static_cast<int>(stage->status) < kWorkflowStatusCount
                      ? std::string(status_name(stage->status))
                      : g.any_string();
          valid = valid && valid_status_name(*phase);
        }
        if (g.percent(30)) {
          check("txn.store_stage", !valid, [&] {
            Transaction txn = store().transaction();
            txn.store_stage(*stage, phase);
            txn.commit();
          });
        } else if (!phase && g.percent(30)) {
          check("add_stage", !valid, [&] { store().add_stage(*stage); });
        } else {
          check("store_stage", !valid,
                [&] { store().store_stage(*stage, phase); });
        }
        break;
      }
      case 5: {  // add_stage of a new stage
        const std::string wf = pool_workflow(g);
        StageExecution stage;
        stage.id = fmt::format("{}.n{}", wf, g.next() % 1'000'000);
        stage.execution_id = wf;
        stage.ref_id = stage.id;
        mutate_stage(g, stage, &valid);
        if (g.percent(20)) {
          std::string parent = g.percent(50)
                                   ? fmt::format("{}.setup", pool_workflow(g))
                                   : g.any_string();
          valid = valid && valid_key(parent);
          stage.parent_stage_id = std::move(parent);
          stage.synthetic_stage_owner = SyntheticStageOwner::kStageBefore;
        }
        check("add_stage new", !valid, [&] { store().add_stage(stage); });
        break;
      }
      case 6: {  // update_status and txn.update_workflow_status
        Workflow w = testutil::diamond_workflow(workflow_id(g, &valid));
        w.status = g.any_enum<WorkflowStatus>(kWorkflowStatusCount, &valid);
        // The transaction's form takes only the id, status and times.
        const bool status_valid = valid;
        FieldFiller f{g, valid};
        f.optional(w.canceled_by);
        f.optional(w.cancellation_reason);
        if (g.percent(30)) {
          PausedDetails paused;
          f.string(paused.paused_by);
          paused.pause_time = g.any_int();
          w.paused = paused;
        }
        w.start_time = g.any_int();
        w.end_time = g.any_int();
        if (g.percent(50)) {
          check("update_status", !valid, [&] { store().update_status(w); });
        } else {
          check("txn.update_workflow_status", !status_valid, [&] {
            Transaction txn = store().transaction();
            txn.update_workflow_status(w);
            txn.commit();
          });
        }
        break;
      }
      case 7: {  // pause, resume, cancel
        const std::string wf = workflow_id(g, &valid);
        const std::string by = g.field();
        const std::string reason = g.field();
        switch (g.below(3)) {
          case 0:
            check("pause", !valid || !valid_string(by),
                  [&] { store().pause(wf, by); });
            break;
          case 1:
            check("resume", !valid, [&] { store().resume(wf); });
            break;
          default:
            check("cancel",
                  !valid || !valid_string(by) || !valid_string(reason),
                  [&] { store().cancel(wf, by, reason); });
        }
        break;
      }
      case 8: {  // remove_stage, delete_workflow (rare: they shrink the pool)
        if (!g.percent(25)) break;
        const std::string wf = workflow_id(g, &valid);
        if (g.percent(50)) {
          std::string stage = g.percent(70)
                                  ? fmt::format("{}.deploy", pool_workflow(g))
                                  : g.any_string();
          check("remove_stage", !valid || !valid_key(stage),
                [&] { store().remove_stage(wf, stage); });
        } else {
          check("delete_workflow", !valid,
                [&] { store().delete_workflow(wf); });
        }
        break;
      }
      case 9: {  // mark_message_processed, plain and in a transaction
        FieldFiller f{g, valid};
        std::string id = g.field();
        valid = valid_key(id);
        std::optional<std::string> handler;
        std::optional<std::string> execution;
        f.optional(handler);
        f.optional(execution);
        if (g.percent(50)) {
          check("mark_message_processed", !valid, [&] {
            store().mark_message_processed(id, handler, execution);
          });
        } else {
          check("txn.mark_message_processed", !valid, [&] {
            Transaction txn = store().transaction();
            txn.mark_message_processed(id, handler, execution);
            txn.commit();
          });
        }
        break;
      }
      case 10: {  // cleanups
        const std::int64_t age = g.any_int();
        check("cleanup_old_processed_messages", age < 0, [&] {
          store().cleanup_old_processed_messages(
              std::chrono::milliseconds(age));
        });
        check("cleanup_completed_stage_claims", false,
              [&] { store().cleanup_completed_stage_claims(); });
        break;
      }
      case 11: {  // txn.acquire_claim
        const std::string wf = workflow_id(g, &valid);
        std::string claim = g.field();
        std::string stage = g.percent(60)
                                ? fmt::format("{}.deploy", pool_workflow(g))
                                : g.field();
        valid = valid && valid_key(claim) && valid_key(stage);
        const bool steal = g.percent(50);
        check("txn.acquire_claim", !valid, [&] {
          Transaction txn = store().transaction();
          txn.acquire_claim(wf, claim, stage, steal);
          txn.commit();
        });
        break;
      }
      case 12:
      case 13:
      case 14: {  // push, ensure, txn.push_message
        const Message message = random_message(g, &valid);
        const std::int64_t delay =
            g.percent(80) ? static_cast<std::int64_t>(g.below(5000))
                          : g.any_int();
        valid = valid && delay >= 0;
        const std::chrono::milliseconds d(delay);
        switch (g.below(3)) {
          case 0:
            check("queue.push", !valid, [&] { queue_->push(message, d); });
            break;
          case 1:
            check("queue.ensure", !valid, [&] { queue_->ensure(message, d); });
            break;
          default:
            check("txn.push_message", !valid, [&] {
              Transaction txn = store().transaction(queue_.get());
              txn.push_message(message, d);
              if (g.percent(50)) txn.mark_message_processed(g.plain());
              txn.commit();
            });
        }
        break;
      }
      case 15:
      case 16: {  // poll, then ack, reschedule, extend_lock or move_to_dlq
        std::optional<Delivery> delivery;
        check("queue.poll_one", false, [&] { delivery = queue_->poll_one(); });
        const std::uint64_t id =
            delivery ? delivery->id
                     : (g.percent(50) ? g.next() % 100 : g.next());
        switch (g.below(4)) {
          case 0:
            check("queue.ack", false, [&] { queue_->ack(id); });
            break;
          case 1: {
            const std::int64_t delay = g.any_int();
            check("queue.reschedule", delay < 0, [&] {
              queue_->reschedule(id, std::chrono::milliseconds(delay));
            });
            break;
          }
          case 2: {
            const std::int64_t lease = g.any_int();
            check("queue.extend_lock", lease <= 0, [&] {
              queue_->extend_lock(id, std::chrono::milliseconds(lease));
            });
            break;
          }
          default: {
            // Longer text is cut at a character boundary, so a malformed
            // tail past 1 KiB may be cut away: only short text is certain.
            const std::string error = g.any_string();
            check("queue.move_to_dlq",
                  !well_formed_utf8(error) && error.size() <= kMaxStringBytes,
                  [&] { queue_->move_to_dlq(id, error); });
          }
        }
        break;
      }
      case 17: {  // dead letters and expiry
        check("queue.check_and_move_expired", false,
              [&] { queue_->check_and_move_expired(); });
        const std::uint64_t id = g.next() % 200;
        check("queue.replay_dlq", false, [&] { queue_->replay_dlq(id); });
        if (g.percent(5))
          check("queue.clear_dlq", false, [&] { queue_->clear_dlq(); });
        if (g.percent(3)) check("queue.clear", false, [&] { queue_->clear(); });
        break;
      }
      case 18: {  // a processor: handler names become dedup marks
        const std::string name = g.field();
        std::unique_ptr<QueueProcessor> processor;
        check("QueueProcessor.register_handler", !valid_string(name), [&] {
          auto p = std::make_unique<QueueProcessor>(store(), *queue_);
          for (const std::string_view type : message_type_names()) {
            p->register_handler(type, name, [&g](const Delivery&) {
              if (g.percent(20))
                throw std::runtime_error("\xFF handler failed");
            });
          }
          processor = std::move(p);
        });
        if (processor) {
          check("QueueProcessor.process_one", false,
                [&] { processor->process_one(); });
        }
        break;
      }
      case 19: {  // recover_pending
        RecoveryOptions options;
        if (g.percent(50)) {
          options.application = g.field();
          valid = valid_string(*options.application);
        }
        const std::int64_t age =
            g.percent(80) ? std::int64_t{86'400'000} * 365 * 30 : g.any_int();
        options.max_age = std::chrono::milliseconds(age);
        valid = valid && age >= 0;
        check("recover_pending", !valid,
              [&] { recover_pending(store(), *queue_, options); });
        break;
      }
      default: {  // an AuditScope around another call
        AuditFields fields;
        FieldFiller f{g, valid};
        f.string(fields.actor);
        f.string(fields.correlation_id);
        f.string(fields.causation_id);
        f.string(fields.source);
        const AuditFields outer = AuditScope::current();
        std::optional<AuditScope> scope;
        check("AuditScope", !valid, [&] { scope.emplace(fields); });
        if (!scope) {
          EXPECT_EQ(AuditScope::current().actor, outer.actor);
          EXPECT_EQ(AuditScope::current().source, outer.source);
        }
        step(g);
      }
    }
    clock_->advance(static_cast<std::int64_t>(g.below(20'000)));
  }

  // Every record of the log decodes; every stored queue message parses back
  // and validates; the views equal a rebuild; a rebuild succeeds.
  void check_log(std::uint64_t applied_lsn) {
    const StoreDir dir =
        StoreDir::open_existing(posix_file_system(), path_, false);
    log::Reader reader(posix_file_system(), dir.log_dir(), dir.id(), 1,
                       [](const log::Damage& damage) {
                         ADD_FAILURE()
                             << "log damage at " << damage.segment << ":"
                             << damage.offset << ": " << damage.reason;
                       });
    std::uint64_t next_lsn = 1;
    std::size_t pushed = 0;
    log::Commit commit;
    while (reader.next(&commit)) {
      EXPECT_EQ(commit.first_lsn, next_lsn);
      next_lsn = commit.last_lsn() + 1;
      DecodedCommit decoded;
      try {
        decoded = decode_commit_body(commit.first_lsn, commit.timestamp_ms,
                                     commit.event_count, commit.body);
      } catch (const Error& e) {
        ADD_FAILURE() << "commit " << commit.first_lsn << ": " << e.what();
        continue;
      }
      for (const Event& event : decoded.events) {
        const auto* message = std::get_if<MessagePushed>(&event.payload);
        if (message == nullptr) continue;
        ++pushed;
        try {
          validate_message(message_from_wire(message->message_type,
                                             message->payload.value()));
        } catch (const Error& e) {
          ADD_FAILURE() << "stored " << message->message_type << " at LSN "
                        << event.lsn << ": " << e.what();
        }
      }
    }
    EXPECT_EQ(next_lsn, applied_lsn + 1);
    EXPECT_GT(pushed, 0u);
    try {
      const ViewsVerifyReport report = verify_store_views(path_);
      EXPECT_TRUE(report.equal())
          << ::testing::PrintToString(report.differences);
      rebuild_store_views(path_);
    } catch (const Error& e) {
      ADD_FAILURE() << "verify or rebuild: " << e.what();
    }
  }

  static constexpr std::size_t kWorkflows = 4;

  testutil::TempDir dir_;
  // The store's directory, under dir_.
  std::filesystem::path path_ = dir_ / "store";
  std::shared_ptr<testutil::FakeClock> clock_ =
      std::make_shared<testutil::FakeClock>(kStartMs);
  std::unique_ptr<Database> db_;
  std::unique_ptr<Queue> queue_;
  std::unique_ptr<QueueProcessor> processor_;
  std::size_t accepted_ = 0;
  std::size_t rejected_ = 0;
  std::size_t expected_invalid_ = 0;
};

// Seeds 1-3 always; WFSTORE_PROPERTY_SEED=n runs seed n instead, and
// WFSTORE_PROPERTY_STEPS sets the calls per seed (800).
TEST_F(LogInputPropertyTest, EveryValueThatReachesTheLogDecodes) {
  const long chosen = testutil::env_knob("WFSTORE_PROPERTY_SEED", 0);
  const long steps = testutil::env_knob("WFSTORE_PROPERTY_STEPS", 800);
  const std::vector<std::uint64_t> seeds =
      chosen > 0
          ? std::vector<std::uint64_t>{static_cast<std::uint64_t>(chosen)}
          : std::vector<std::uint64_t>{1, 2, 3};
  for (const std::uint64_t seed : seeds) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    Gen g(seed * 0x9E3779B97F4A7C15ULL);
    path_ = dir_ / fmt::format("seed-{}", seed);
    accepted_ = rejected_ = expected_invalid_ = 0;
    open();
    for (std::size_t i = 0; i < kWorkflows; ++i) {
      store().store(testutil::diamond_workflow(fmt::format("wf-{}", i)));
    }
    for (long i = 0; i < steps && !HasFatalFailure(); ++i) {
      SCOPED_TRACE(fmt::format("step {}", i));
      step(g);
    }
    const std::uint64_t applied = db_->stats().applied_lsn;
    close();
    std::printf("seed %llu: %zu calls accepted, %zu rejected (%zu invalid)\n",
                static_cast<unsigned long long>(seed), accepted_, rejected_,
                expected_invalid_);
    // Not vacuous: the store grew, and many calls were rejected.
    const auto share = [&](std::size_t per_400) {
      return static_cast<std::size_t>(steps) * per_400 / 400;
    };
    EXPECT_GT(accepted_, share(150));
    EXPECT_GT(expected_invalid_, share(60));
    EXPECT_GE(rejected_, expected_invalid_);
    check_log(applied);
  }
}

// ---------------------------------------------------------------------------
// The entry points one by one.

class LogInputTest : public LogInputPropertyTest {
 protected:
  void SetUp() override { open(); }
  void TearDown() override { close(); }

  void expect_rejected(const std::function<void()>& call,
                       const std::string& message) {
    const State before = state();
    EXPECT_THAT(call, ThrowsMessage<InvalidArgumentError>(HasSubstr(message)));
    const State after = state();
    EXPECT_EQ(after.applied_lsn, before.applied_lsn);
    EXPECT_EQ(after.log_bytes, before.log_bytes);
    EXPECT_TRUE(after.views == before.views);
  }

  // push, ensure and a transaction's push_message each reject `message`
  // naming `text`, and change nothing.
  void expect_every_push_rejected(const Message& message,
                                  const std::string& text) {
    expect_rejected([&] { queue_->push(message); }, text);
    expect_rejected([&] { queue_->ensure(message); }, text);
    expect_rejected(
        [&] {
          Transaction txn = store().transaction(queue_.get());
          txn.push_message(message);
          txn.commit();
        },
        text);
  }
};

// The enums of CompleteTask and ContinueParentStage reached the wire encoder:
// push failed with the commit group's IOError, txn.push_message with a raw
// std::out_of_range.
TEST_F(LogInputTest, QueueEntryPointsRejectIntegersCastIntoMessageEnums) {
  CompleteTask status;
  status.execution_id = "wf";
  status.status = static_cast<WorkflowStatus>(50);
  CompleteTask original;
  original.original_status = static_cast<WorkflowStatus>(99);
  ContinueParentStage phase;
  phase.phase = static_cast<SyntheticStageOwner>(7);
  const std::vector<std::pair<Message, std::string>> cases = {
      {status, "CompleteTask.status: unknown status 50"},
      {original, "CompleteTask.original_status: unknown status 99"},
      {phase, "ContinueParentStage.phase: unknown synthetic stage owner 7"}};
  queue_->push(testutil::start_workflow("wf"));
  for (const auto& [message, text] : cases) {
    SCOPED_TRACE(text);
    expect_every_push_rejected(message, text);
    // The transaction stays usable after the rejected operation.
    Transaction txn = store().transaction(queue_.get());
    EXPECT_THROW(txn.push_message(message), InvalidArgumentError);
    txn.push_message(testutil::start_workflow("wf"));
    txn.commit();
  }
  EXPECT_EQ(queue_->size(), 4u);
}

TEST_F(LogInputTest, QueueEntryPointsRejectEveryInvalidMessageFieldNamingIt) {
  RunTask utf8 = testutil::run_task("wf", "st", "tk");
  utf8.task_type = "\xED\xA0\x80";
  SignalStage array;
  array.signal_data = json::array();
  StartStage negative;
  negative.retry_count = -1;
  StartWorkflow attempts;
  attempts.max_attempts = 0;
  JumpToStage nan;
  nan.jump_context["x"] = std::numeric_limits<double>::quiet_NaN();
  CancelWorkflow long_reason;
  long_reason.reason = std::string(kMaxStringBytes + 1, 'r');
  const std::vector<std::pair<Message, std::string>> cases = {
      {utf8, "RunTask.task_type"},
      {array, "SignalStage.signal_data"},
      {negative, "StartStage.retry_count"},
      {attempts, "StartWorkflow.max_attempts"},
      {nan, "JumpToStage.jump_context"},
      {long_reason, "CancelWorkflow.reason"}};
  for (const auto& [message, text] : cases) {
    SCOPED_TRACE(text);
    expect_every_push_rejected(message, text);
  }
}

// Invalid UTF-8 in an audit field was appended and made the log undecodable
// (`audit.actor: invalid UTF-8`), so verify and rebuild failed.
TEST_F(LogInputTest, AuditScopeRejectsInvalidUtf8AndKeepsThePreviousScope) {
  AuditScope outer(AuditFields{"alice", "corr", "cause", "cli"});
  for (const std::string& bad : invalid_edge_strings()) {
    SCOPED_TRACE(::testing::PrintToString(bad.substr(0, 16)));
    const std::string field =
        bad.size() > kMaxStringBytes
            ? fmt::format("string of {} bytes", bad.size())
            : "string is not valid UTF-8";
    expect_rejected(
        [&] {
          AuditScope scope(AuditFields{bad, "", "", ""});
        },
        "audit.actor: " + field);
    expect_rejected(
        [&] {
          AuditScope scope(AuditFields{"", bad, "", ""});
        },
        "audit.correlation_id: " + field);
    expect_rejected(
        [&] {
          AuditScope scope(AuditFields{"", "", bad, ""});
        },
        "audit.causation_id: " + field);
    expect_rejected(
        [&] {
          AuditScope scope(AuditFields{"", "", "", bad});
        },
        "audit.source: " + field);
    EXPECT_EQ(AuditScope::current().actor, "alice");
    EXPECT_EQ(AuditScope::current().correlation_id, "corr");
    EXPECT_EQ(AuditScope::current().causation_id, "cause");
    EXPECT_EQ(AuditScope::current().source, "cli");
  }
  for (const std::string& good : valid_edge_strings()) {
    AuditScope scope(AuditFields{good, good, good, good});
    EXPECT_EQ(AuditScope::current().actor, good);
  }
  EXPECT_EQ(AuditScope::current().actor, "alice");
  // A commit made after the rejections carries the outer scope's fields.
  store().mark_message_processed("m");
  close();
  const StoreDir dir =
      StoreDir::open_existing(posix_file_system(), path_, false);
  log::Reader reader(posix_file_system(), dir.log_dir(), dir.id(), 1,
                     [](const log::Damage& d) { ADD_FAILURE() << d.reason; });
  log::Commit commit;
  std::vector<std::string> actors;
  while (reader.next(&commit)) {
    actors.push_back(decode_commit_body(commit.first_lsn, commit.timestamp_ms,
                                        commit.event_count, commit.body)
                         .audit.actor);
  }
  EXPECT_EQ(actors, std::vector<std::string>{"alice"});
  EXPECT_TRUE(verify_store_views(path_).equal());
}

TEST_F(LogInputTest, AuditScopeAcceptsFieldsOfExactlyOneKibibyte) {
  const std::string kib(kMaxStringBytes, 'a');
  {
    AuditScope scope(AuditFields{kib, kib, kib, kib});
    store().mark_message_processed("m");
  }
  expect_rejected(
      [&] {
        AuditScope scope(AuditFields{kib + "a", "", "", ""});
      },
      "audit.actor: string of 1025 bytes exceeds the limit of 1024 bytes");
  close();
  EXPECT_TRUE(verify_store_views(path_).equal());
}

// A dict at the JSON depth limit was accepted by push and stored one level
// deeper, inside the wire object: the log then held a record its decoder
// rejects.
TEST_F(LogInputTest, PushRejectsADictThatTheWireObjectWouldNestPastTheLimit) {
  SignalStage signal;
  signal.signal_data = json::object();
  for (std::size_t i = 1; i < kMaxJsonDepth; ++i) {
    signal.signal_data = json{{"k", std::move(signal.signal_data)}};
  }
  expect_rejected([&] { queue_->push(signal); }, "SignalStage.signal_data");
  expect_rejected(
      [&] {
        Transaction txn = store().transaction(queue_.get());
        txn.push_message(signal);
        txn.commit();
      },
      "SignalStage.signal_data");
  signal.signal_data = std::move(signal.signal_data["k"]);
  queue_->push(signal);
  close();
  EXPECT_TRUE(verify_store_views(path_).equal());
  open();
  const std::optional<Delivery> delivery = queue_->poll_one();
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->message, Message(signal));
}

}  // namespace
}  // namespace wfstore
