// `wfstore consume` and `wfstore replicate` (README "Streaming to Kafka"):
// read a store's events back from its Kafka topic in LSN order, printed
// (consume) or folded into a read replica directory (replicate). Both run
// until SIGINT or SIGTERM (a clean stop, exit 0) or, with --until-caught-up,
// until they reached the end the topic had when they started. A gap, a
// foreign record or a missing topic ends them with "wfstore: <message>" and
// the exit code of its error (cli_support.h).

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/kafka_consumer.h"
#include "wfstore/kafka_replica.h"
#include "wfstore/time_format.h"

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct TopicArgs {
  std::string brokers;
  std::string topic;
  bool until_caught_up = false;
};

void add_topic_options(CLI::App* cmd, TopicArgs& args) {
  cmd->add_option("--brokers", args.brokers,
                  "Kafka bootstrap servers (host:port[,host:port...])")
      ->required();
  cmd->add_option("--topic", args.topic, "The store's topic")->required();
  cmd->add_flag("--until-caught-up", args.until_caught_up,
                "Stop once the end the topic had at the start is reached");
}

void print_received(const ReceivedEvent& e, bool json) {
  if (json) {
    // The value is valid JSON text (the consumer parsed it), where a raw
    // line break can only be whitespace between tokens: a space keeps the
    // value and JSON Lines' one line per record.
    if (e.value.find_first_of("\r\n") == std::string::npos) {
      std::cout << e.value << '\n';
      return;
    }
    std::string line = e.value;
    std::replace_if(
        line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; },
        ' ');
    std::cout << line << '\n';
    return;
  }
  std::cout << fmt::format(
      "lsn={} commit={} timestamp={} type={} workflow_id={} actor={} "
      "partition={} offset={}\n",
      e.event.lsn, e.event.commit_id, format_time_ms(e.event.timestamp_ms),
      event_type_name(e.event.type()), e.event.workflow_id, e.event.audit.actor,
      e.partition, e.offset);
}

// Runs `connect`; false when it failed after SIGINT or SIGTERM asked to
// stop (a stop while connecting is a clean stop, not the connection's error).
template <typename Connect>
bool connect_unless_stopped(Connect&& connect) {
  try {
    connect();
  } catch (const Error&) {
    if (StopSignals::requested()) return false;
    throw;
  }
  return true;
}

}  // namespace

void add_consume_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<TopicArgs>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "consume",
      "Print a store's events from its Kafka topic in LSN order, each once");
  add_topic_options(cmd, *args);
  cmd->add_flag("--json", *json,
                "JSON Lines: each record's value (event_to_json) per line");
  action = [args, json] {
    KafkaConsumerOptions options;
    options.brokers = args->brokers;
    options.topic = args->topic;
    // Installed before the consumer connects, so a stop while it connects is
    // the same clean stop as one later.
    std::optional<StopSignals> signals;
    if (!args->until_caught_up) signals.emplace();
    std::optional<KafkaConsumer> connected;
    if (!connect_unless_stopped([&] { connected.emplace(options); })) {
      return kExitOk;
    }
    KafkaConsumer& consumer = *connected;
    const auto print = [&](std::vector<ReceivedEvent>& batch) {
      for (const ReceivedEvent& e : batch) print_received(e, *json);
      std::cout.flush();
    };
    if (args->until_caught_up) {
      consumer.consume_until_caught_up(print);
    } else {
      consumer.run(print, [] { return StopSignals::requested(); });
    }
    return kExitOk;
  };
}

void add_replicate_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<TopicArgs>();
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "replicate",
      "Fold a store's events from its Kafka topic into a read replica "
      "directory (created with the first record; open it with any read-only "
      "subcommand)");
  add_topic_options(cmd, *args);
  cmd->add_option("--dir", *dir, "The replica directory")->required();
  action = [args, dir] {
    KafkaReplicaOptions options;
    options.brokers = args->brokers;
    options.topic = args->topic;
    options.dir = *dir;
    std::optional<StopSignals> signals;  // as consume's
    if (!args->until_caught_up) signals.emplace();
    std::optional<KafkaReplica> connected;
    if (!connect_unless_stopped([&] { connected.emplace(options); })) {
      return kExitOk;
    }
    KafkaReplica& replica = *connected;
    const auto started = std::chrono::steady_clock::now();
    ReplicaProgress done;
    if (args->until_caught_up) {
      done = replica.replicate_until_caught_up();
    } else {
      done = replica.run([] { return StopSignals::requested(); });
    }
    const double seconds = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - started)
                               .count();
    std::cerr << fmt::format(
        "wfstore: replica {} at lsn {}: {} events folded in {:.2f} s\n", *dir,
        done.applied_lsn, done.events, seconds);
    return kExitOk;
  };
}

}  // namespace wfstore::tools
