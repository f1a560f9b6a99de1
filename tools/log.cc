// `wfstore log --dir D [--json] [filters]`: prints the events of a store's
// log, one line each (with --json, each event's JSON document: JSON Lines).
// Without filters it reads the log itself in LSN order (--after, --limit);
// with any filter of EventQuery it asks the history API, which serves them
// from the views' indexes. With --follow it prints every event after --after
// and then each new commit's events as they become visible, until SIGINT or
// SIGTERM (exit 0); the filters select events one by one. Read-only; a live
// writer may go on.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "wfstore/event.h"
#include "wfstore/history.h"
#include "wfstore/subscriptions.h"

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/time_arg.h"

namespace wfstore::tools {
namespace {

struct LogOptions {
  std::string dir;
  bool json = false;
  std::uint64_t after = 0;  // --after or --from
  std::uint64_t limit = 0;  // 0: every event
  // The filters of EventQuery.
  // Set when given, even empty: an empty workflow id is refused, an empty
  // actor or correlation id selects the commits without one.
  std::optional<std::string> workflow;
  std::string entity;
  std::vector<std::string> types;
  std::optional<std::string> actor;
  std::optional<std::string> correlation;
  std::optional<std::uint64_t> to;
  std::string since;
  std::string until;
  std::uint64_t offset = 0;
  bool desc = false;
  bool filtered = false;  // set once parsed: any filter given
  bool follow = false;
  std::uint64_t poll_ms = 10;  // --follow: how often to look for commits
};

void print_event(const Event& event, bool json) {
  if (json) {
    std::cout << event_to_json(event).dump() << '\n';
    return;
  }
  std::cout << fmt::format(
      "lsn={} commit={} timestamp={} type={} workflow_id={} actor={} "
      "payload={}\n",
      event.lsn, event.commit_id, event.timestamp_ms,
      event_type_name(event.type()), event.workflow_id, event.audit.actor,
      payload_to_json(event.payload).dump());
}

// Reads the log itself: every event after o.after, up to o.limit.
int run_log_scan(const LogOptions& o) {
  require_store(o.dir);
  std::uint64_t printed = 0;
  for_each_event(
      o.dir, o.after,
      [&](const Event& event) {
        print_event(event, o.json);
        ++printed;
        return o.limit == 0 || printed < o.limit;
      },
      [](LogLevel level, std::string_view message) {
        std::cerr << "wfstore: " << log_level_name(level) << ": " << message
                  << '\n';
      });
  return kExitOk;
}

// Asks History::events() page by page: the first page skips o.offset
// matches, later pages continue after the last event printed.
// The options' event criteria: workflow, entity, types, actor, correlation
// id and time range (not the LSN range or paging).
EventQuery criteria_of(const LogOptions& o) {
  EventQuery query;
  query.workflow_id = o.workflow;
  if (!o.entity.empty()) query.entity = parse_entity(o.entity);
  for (const std::string& name : o.types) {
    query.types.push_back(*find_event_type(name));
  }
  query.actor = o.actor;
  query.correlation_id = o.correlation;
  if (!o.since.empty()) query.from_time_ms = parse_iso_time_ms(o.since);
  if (!o.until.empty()) query.to_time_ms = parse_iso_time_ms(o.until);
  return query;
}

int run_log_query(const LogOptions& o) {
  auto db = open_store(o.dir);
  const History history(*db);
  EventQuery query = criteria_of(o);
  if (o.after != 0) query.from_lsn = o.after;
  query.to_lsn = o.to;
  if (query.from_lsn && query.to_lsn && *query.from_lsn >= *query.to_lsn) {
    throw ToolError(kExitUsage, "--from (exclusive) must be below --to");
  }
  // Pages end at the LSN the views held when the command began.
  const std::uint64_t end = history.current_lsn();
  if (!query.to_lsn || *query.to_lsn > end) query.to_lsn = end;
  if (query.from_lsn && *query.from_lsn >= *query.to_lsn) return kExitOk;
  query.offset = o.offset;
  query.ascending = !o.desc;
  constexpr std::size_t kPage = 1000;
  std::uint64_t printed = 0;
  while (true) {
    query.limit = kPage;
    if (o.limit != 0 && o.limit - printed < kPage) {
      query.limit = static_cast<std::size_t>(o.limit - printed);
    }
    const std::vector<Event> page = history.events(query);
    for (const Event& event : page) print_event(event, o.json);
    printed += page.size();
    if (page.size() < query.limit || (o.limit != 0 && printed >= o.limit)) {
      return kExitOk;
    }
    query.offset = 0;
    if (query.ascending) {
      query.from_lsn = page.back().lsn;
      if (*query.from_lsn >= *query.to_lsn) return kExitOk;
    } else {
      if (page.back().lsn <= 1 ||
          (query.from_lsn && page.back().lsn - 1 <= *query.from_lsn)) {
        return kExitOk;
      }
      query.to_lsn = page.back().lsn - 1;
    }
  }
}

// Prints the events after o.after, then follows the store's new commits
// (follow_events on a read-only open) until SIGINT or SIGTERM, --limit
// events printed or the --to LSN passed. Flushes stdout once the commits
// visible so far are printed, before each wait.
int run_log_follow(const LogOptions& o) {
  if (o.desc || o.offset != 0) {
    throw ToolError(kExitUsage,
                    "--follow prints in LSN order from --after: "
                    "--desc and --offset do not apply");
  }
  auto db = open_store(o.dir);
  if (o.workflow && o.workflow->empty())
    throw ToolError(kExitUsage, "--workflow: the workflow id is empty");
  // run_log_query's criteria, refused as it refuses them and checked on each
  // event.
  const EventQuery filter = criteria_of(o);
  check_event_query(filter);
  if (o.to && *o.to <= o.after) {
    throw ToolError(kExitUsage, "--from (exclusive) must be below --to");
  }
  {
    const std::uint64_t current = History(*db).current_lsn();
    if (o.after > current) {
      throw ToolError(kExitNotFound,
                      fmt::format("--after {} is beyond the store's last "
                                  "event (lsn {})",
                                  o.after, current));
    }
  }
  const StopSignals signals;
  std::uint64_t printed = 0;
  follow_events(
      *db, o.after,
      [&](const Event& event) {
        if (o.to && event.lsn > *o.to) return false;
        if (event_matches(event, filter)) {
          print_event(event, o.json);
          ++printed;
          if (o.limit != 0 && printed >= o.limit) return false;
        }
        return !(o.to && event.lsn == *o.to);
      },
      [] {
        std::cout.flush();
        return StopSignals::requested();
      },
      std::chrono::milliseconds{o.poll_ms});
  std::cout.flush();
  return kExitOk;
}

}  // namespace

void add_log_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<LogOptions>();
  CLI::App* cmd = app.add_subcommand(
      "log", "Print a store's events in LSN order, one line each");
  cmd->add_option("--dir", o->dir, "The store directory")->required();
  cmd->add_flag("--json", o->json,
                "Print each event as its JSON document (JSON Lines)");
  CLI::Option* after =
      cmd->add_option("--after", o->after, "Print only events after this LSN")
          ->transform(decimal_u64(0));
  cmd->add_option("--from", o->after,
                  "Print only events after this LSN (exclusive; as --after)")
      ->transform(decimal_u64(0))
      ->excludes(after);
  cmd->add_option("--to", o->to, "Print only events up to this LSN (inclusive)")
      ->transform(decimal_u64(0));
  cmd->add_option("--limit", o->limit, "Print at most this many events")
      ->transform(decimal_u64(1));
  cmd->add_option("--offset", o->offset, "Skip this many matching events first")
      ->transform(decimal_u64(0));
  cmd->add_flag("--desc", o->desc, "Newest first");
  cmd->add_option("--workflow", o->workflow, "Only events of this workflow id");
  cmd->add_option("--entity", o->entity,
                  "Only events touching this entity: workflow:ID, stage:ID, "
                  "task:ID or delivery:N")
      ->check(entity_validator());
  cmd->add_option("--type", o->types,
                  "Only events of this type (repeatable), e.g. StageUpdated")
      ->check(event_type_validator());
  cmd->add_option("--actor", o->actor,
                  "Only events of commits by this actor ('': by none)");
  cmd->add_option("--correlation", o->correlation,
                  "Only events of commits with this correlation id");
  cmd->add_option("--since", o->since,
                  "Only events committed at or after this ISO-8601 time")
      ->check(time_validator());
  cmd->add_option("--until", o->until,
                  "Only events committed at or before this ISO-8601 time")
      ->check(time_validator());
  cmd->add_flag("--follow,-f", o->follow,
                "After the events so far, print each new commit's events as "
                "it becomes visible (a writer may go on), until SIGINT or "
                "SIGTERM (exit 0); filters apply event by event");
  cmd->add_option("--poll-ms", o->poll_ms,
                  "--follow: how often to look for new commits, in "
                  "milliseconds (default 10)")
      ->transform(decimal_u64(1));
  action = [o, cmd] {
    if (o->follow) return run_log_follow(*o);
    if (cmd->count("--poll-ms") != 0)
      throw ToolError(kExitUsage, "--poll-ms applies to --follow only");
    for (const char* name :
         {"--from", "--to", "--offset", "--desc", "--workflow", "--entity",
          "--type", "--actor", "--correlation", "--since", "--until"}) {
      o->filtered |= cmd->count(name) != 0;
    }
    return o->filtered ? run_log_query(*o) : run_log_scan(*o);
  };
}

}  // namespace wfstore::tools
