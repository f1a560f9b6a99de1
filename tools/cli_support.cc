// The subcommands' shared parts.

#include "tools/cli_support.h"

#include <atomic>
#include <iostream>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "wfstore/errors.h"
#include "wfstore/file_system.h"
#include "wfstore/history_documents.h"

#include "tools/time_arg.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore::tools {
namespace {

template <std::size_t... I>
std::vector<EventType> catalogue_types(std::index_sequence<I...>) {
  return {std::variant_alternative_t<I, EventPayload>::kType...};
}

// Every event type of the catalogue, in type order.
const std::vector<EventType>& all_event_types() {
  static const std::vector<EventType> types = catalogue_types(
      std::make_index_sequence<std::variant_size_v<EventPayload>>());
  return types;
}

// Set by SIGINT and SIGTERM while a StopSignals lives; read by any thread.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free,
              "a signal handler may only touch a lock-free atomic");

void on_stop_signal(int /*signal*/) { g_stop.store(true); }

}  // namespace

int exit_code_of(const std::exception& error) {
  if (const auto* tool = dynamic_cast<const ToolError*>(&error)) {
    return tool->code();
  }
  if (dynamic_cast<const NotFoundError*>(&error) != nullptr) {
    return kExitNotFound;
  }
  if (dynamic_cast<const CorruptionError*>(&error) != nullptr) {
    return kExitDamaged;
  }
  if (dynamic_cast<const InvalidArgumentError*>(&error) != nullptr) {
    return kExitUsage;
  }
  return kExitError;
}

void require_store(const std::filesystem::path& dir) {
  try {
    StoreDir::open_existing(posix_file_system(), dir, /*lock=*/false);
  } catch (const InvalidArgumentError& e) {
    throw ToolError(kExitCheckFailed, e.what());
  }
}

std::unique_ptr<Database> open_store(const std::filesystem::path& dir) {
  require_store(dir);
  return Database::open_read_only(dir);
}

CLI::Validator decimal_u64(std::uint64_t min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        const std::optional<std::uint64_t> value = parse_decimal_u64(text);
        if (!value || *value < min) {
          return fmt::format("{} is not a decimal number of {}..{}", text, min,
                             UINT64_MAX);
        }
        text = std::to_string(*value);
        return "";
      },
      "");
}

std::optional<EventType> find_event_type(std::string_view name) {
  for (EventType type : all_event_types()) {
    if (event_type_name(type) == name) return type;
  }
  return std::nullopt;
}

CLI::Validator event_type_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (find_event_type(text)) return "";
        std::string names;
        for (EventType type : all_event_types()) {
          names += (names.empty() ? "" : ", ");
          names += event_type_name(type);
        }
        return fmt::format("'{}' is no event type; the types: {}", text, names);
      },
      "TYPE");
}

std::optional<EntityRef> parse_entity(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return std::nullopt;
  }
  const std::optional<EntityKind> kind =
      find_entity_kind(text.substr(0, colon));
  if (!kind) return std::nullopt;
  return EntityRef{*kind, std::string(text.substr(colon + 1))};
}

CLI::Validator entity_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (parse_entity(text)) return "";
        return fmt::format(
            "'{}' is not KIND:ID with KIND one of workflow, stage, task, "
            "delivery (e.g. stage:build-1)",
            text);
      },
      "KIND:ID");
}

std::string entity_text(const EntityRef& entity) {
  return fmt::format("{}:{}", entity_kind_name(entity.kind), entity.id);
}

std::string truncated(const std::string& text, std::size_t width) {
  if (text.size() <= width || width < 4) return text;
  return text.substr(0, width - 3) + "...";
}

void progress(const std::string& line) {
  if (::isatty(STDERR_FILENO) != 0) std::cerr << line << '\n';
}

void for_each_workflow_event(const History& history,
                             const std::string& workflow_id,
                             const std::function<bool(const Event&)>& visit) {
  EventQuery query;
  query.workflow_id = workflow_id;
  query.to_lsn = history.current_lsn();
  if (*query.to_lsn == 0) return;
  while (true) {
    const std::vector<Event> page = history.events(query);
    for (const Event& event : page) {
      if (!visit(event)) return;
    }
    if (page.size() < query.limit || page.back().lsn >= *query.to_lsn) return;
    query.from_lsn = page.back().lsn;
  }
}

void require_workflow_events(const History& history,
                             const std::string& workflow_id) {
  if (!has_workflow_events(history, workflow_id)) {
    throw ToolError(
        kExitNotFound,
        fmt::format("workflow {} has no events in this store", workflow_id));
  }
}

StopSignals::StopSignals() {
  g_stop.store(false);
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // A signal restarts the call it interrupts: a write to a full stdout pipe
  // goes on instead of failing with EINTR (which would leave std::cout
  // failed and every later line lost).
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &old_int_);
  sigaction(SIGTERM, &action, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool StopSignals::requested() { return g_stop.load(); }

}  // namespace wfstore::tools
