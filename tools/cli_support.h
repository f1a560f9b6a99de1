// What the wfstore subcommands share: the exit codes and the error that
// carries one, opening a store for reading, resolving a point argument to an
// LSN, reading event type and entity arguments, progress on a terminal.

#pragma once

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/history_documents.h"

namespace wfstore::tools {

// The exit codes of every subcommand (README, "Exit codes").
inline constexpr int kExitOk = 0;
// The check failed: verify found damage or a difference. Also: --dir names
// no store (the code `log` and `verify` always gave for it).
inline constexpr int kExitCheckFailed = 1;
// Bad arguments (CLI11's, a malformed time or LSN, ...).
inline constexpr int kExitUsage = 2;
// An unknown workflow id, an LSN beyond the end, a missing file.
inline constexpr int kExitNotFound = 3;
// The store or file is damaged (CorruptionError).
inline constexpr int kExitDamaged = 4;
// Other errors (IOError, a locked store, ...).
inline constexpr int kExitError = 5;
// salvage only: the new store was written and verifies, but it lacks LSNs the
// source shows existed (the report names them). A salvage that lost nothing
// exits 0; codes 1-5 mean no store was written.
inline constexpr int kExitSalvageLost = 6;

// The footer of every subcommand's --help.
inline constexpr std::string_view kExitCodesHelp =
    "Exit codes: 0 success; 1 the check failed (verify found damage or a "
    "difference) or --dir is not a store; 2 usage error; 3 not found (unknown "
    "workflow id, LSN beyond the end); 4 the store or file is damaged; 5 "
    "other errors (I/O, a locked store, ...); 6 salvage only: the new store "
    "was written but lost events the source shows existed.";

// An error with its exit code; main() prints "wfstore: <what>" and exits
// with `code`.
class ToolError : public std::runtime_error {
 public:
  ToolError(int code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// The exit code of an error escaping a subcommand.
int exit_code_of(const std::exception& error);

// Throws ToolError(kExitCheckFailed) naming why unless `dir` holds a store.
void require_store(const std::filesystem::path& dir);

// Opens the store in `dir` for reading only (a writer may go on).
std::unique_ptr<Database> open_store(const std::filesystem::path& dir);

// The LSN a point argument names (wfstore::resolve_point, resolve_as_of):
// PointNotFoundError for an LSN beyond the end exits 3, InvalidArgumentError
// for no point 2.
using wfstore::resolve_as_of;
using wfstore::resolve_point;

// A CLI11 transform reading a decimal number of `min`..2^64-1 and rewriting
// it without leading zeros (CLI11 itself reads "-1" as 2^64-1, "0x10" as hex
// and "010" as octal).
CLI::Validator decimal_u64(std::uint64_t min);

// The event type named `name` as event_type_name() prints it, or nullopt.
std::optional<EventType> find_event_type(std::string_view name);
// A CLI11 validator of event type names.
CLI::Validator event_type_validator();
// Parses "KIND:ID" (kind: workflow, stage, task or delivery), or nullopt.
std::optional<EntityRef> parse_entity(std::string_view text);
CLI::Validator entity_validator();
// "stage:<id>".
std::string entity_text(const EntityRef& entity);

// The audit fields as event_to_json() prints them.
using wfstore::audit_to_json;

// `text` cut to `width` characters with "..." when longer.
std::string truncated(const std::string& text, std::size_t width);

// Prints `line` to stderr when stderr is a terminal (progress of long work).
void progress(const std::string& line);

// The workflow's events, in LSN order, page by page through
// History::events(); calls `visit` with each until it returns false.
void for_each_workflow_event(const History& history,
                             const std::string& workflow_id,
                             const std::function<bool(const Event&)>& visit);

// Throws ToolError(kExitNotFound) unless the store holds events of
// `workflow_id`.
void require_workflow_events(const History& history,
                             const std::string& workflow_id);

// While it lives, SIGINT and SIGTERM set a flag instead of ending the process
// (the clean stop of the following subcommands: `log --follow`, `stream`,
// `consume`, `replicate`, `kafka-mock`); the previous handlers come back when
// it is destroyed. One at a time, on the main thread.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // True once SIGINT or SIGTERM arrived since the construction; any thread.
  static bool requested();

 private:
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
};

}  // namespace wfstore::tools
