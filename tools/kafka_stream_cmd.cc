// `wfstore stream --dir D --brokers B --topic T [--until-caught-up]`: exports
// the store's events to a Kafka topic (KafkaExporter on a read-only open, so
// a writer process may go on) until SIGINT or SIGTERM (exit 0), or with
// --until-caught-up until it reached the store's end as of its start (exit
// 0; a signal first: exit 5).
// `wfstore kafka-mock [--brokers N]`: an in-process mock Kafka cluster
// (KafkaMockCluster); prints its bootstrap servers as the first line and runs
// until SIGINT or SIGTERM.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"

#include "tools/cli_support.h"
#include "tools/commands.h"

namespace wfstore::tools {
namespace {

struct StreamOptions {
  std::string dir;
  std::string brokers;
  std::string topic;
  bool until_caught_up = false;
  std::size_t batch_events = KafkaExporterOptions{}.max_batch_events;
  std::int64_t give_up_ms = -1;  // -1: 30 s with --until-caught-up, else 0
  std::vector<std::string> properties;
};

int run_stream(const StreamOptions& s) {
  KafkaExporterOptions o;
  o.brokers = s.brokers;
  o.topic = s.topic;
  o.max_batch_events = s.batch_events;
  const std::int64_t give_up =
      s.give_up_ms >= 0 ? s.give_up_ms : (s.until_caught_up ? 30000 : 0);
  o.give_up_after = std::chrono::milliseconds(give_up);
  for (const std::string& p : s.properties) {
    const std::size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ToolError(kExitUsage,
                      fmt::format("--property '{}' is not NAME=VALUE", p));
    }
    o.properties.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  require_store(s.dir);
  auto db = open_store(s.dir);
  KafkaExporter exporter(*db, o);
  const StopSignals signals;
  if (s.until_caught_up) {
    const std::uint64_t end = exporter.lag().store_lsn;
    const std::uint64_t lsn = exporter.export_until_caught_up(
        [] { return StopSignals::requested(); });
    if (lsn < end) {
      throw ToolError(kExitError,
                      fmt::format("stopped by a signal before catching up: "
                                  "topic '{}' exported up to lsn {} of {}",
                                  s.topic, lsn, end));
    }
    std::cerr << fmt::format("wfstore: exported topic '{}' up to lsn {}\n",
                             s.topic, lsn);
    return kExitOk;
  }
  exporter.run([] { return StopSignals::requested(); });
  std::cerr << fmt::format(
      "wfstore: stopped; topic '{}' exported up to lsn {}\n", s.topic,
      exporter.lag().exported_lsn);
  return kExitOk;
}

}  // namespace

void add_stream_command(CLI::App& app, Action& action) {
  auto s = std::make_shared<StreamOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stream",
      "Export the store's events to a Kafka topic (one transaction per batch; "
      "the position is kept in the store's exports/ directory) until SIGINT "
      "or SIGTERM, or with --until-caught-up up to the store's end");
  cmd->add_option("--dir", s->dir, "The store directory")->required();
  cmd->add_option("--brokers", s->brokers,
                  "Kafka bootstrap servers, host:port[,host:port...]")
      ->required();
  cmd->add_option("--topic", s->topic,
                  "The topic (created by the brokers' auto-creation)")
      ->required();
  cmd->add_flag("--until-caught-up", s->until_caught_up,
                "Exit 0 once the events that existed at the start are "
                "exported");
  cmd->add_option("--batch-events", s->batch_events,
                  "Events per Kafka transaction at most (default 10000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24));
  cmd->add_option("--give-up-ms", s->give_up_ms,
                  "Fail (exit 5) after this long without a committed batch; "
                  "0 retries for ever (default 30000 with --until-caught-up, "
                  "else 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--property", s->properties,
                  "An extra librdkafka producer property NAME=VALUE "
                  "(repeatable)");
  action = [s] { return run_stream(*s); };
}

void add_kafka_mock_command(CLI::App& app, Action& action) {
  auto brokers = std::make_shared<int>(1);
  CLI::App* cmd = app.add_subcommand(
      "kafka-mock",
      "Run librdkafka's mock Kafka cluster on loopback (for tests and demos): "
      "prints the bootstrap servers, runs until SIGINT or SIGTERM");
  cmd->add_option("--brokers", *brokers, "Brokers (1-16, default 1)")
      ->check(CLI::Range(1, 16));
  action = [brokers] {
    const StopSignals signals;
    const KafkaMockCluster cluster(*brokers);
    std::cout << cluster.bootstrap_servers() << std::endl;
    while (!StopSignals::requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return kExitOk;
  };
}

}  // namespace wfstore::tools
