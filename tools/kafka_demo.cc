// run_kafka_demo: the demo store exported to a mock cluster, read back, and
// replicated.

#include "tools/kafka_demo.h"

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "wfstore/database.h"
#include "wfstore/history.h"
#include "wfstore/kafka_consumer.h"
#include "wfstore/kafka_exporter.h"
#include "wfstore/kafka_mock.h"
#include "wfstore/kafka_replica.h"
#include "wfstore/workflow_store.h"

namespace wfstore::tools {

bool run_kafka_demo(const std::filesystem::path& dir,
                    const std::filesystem::path& replica_dir,
                    const std::string& workflow_id) {
  const std::string topic = "wfstore.demo.events";
  KafkaMockCluster cluster(3);
  std::cout << fmt::format(
      "# streaming to Kafka: a mock cluster of {} brokers on {} (librdkafka's, "
      "the Kafka protocol on loopback), topic {}\n",
      cluster.brokers(), cluster.bootstrap_servers(), topic);
  auto db = Database::open_read_only(dir);
  const StoreSummary source = summarize_store(*db);

  KafkaExporterOptions export_options;
  export_options.brokers = cluster.bootstrap_servers();
  export_options.topic = topic;
  export_options.max_batch_events = 100;
  KafkaExportLag lag;
  {
    KafkaExporter exporter(*db, export_options);
    exporter.export_until_caught_up();
    lag = exporter.lag();
    std::cout << fmt::format(
        "# exported lsn 1..{} with transactional.id {}, one Kafka transaction "
        "per batch of at most {} events; the position is in {}; lag {} lsns\n",
        lag.exported_lsn, exporter.transactional_id(),
        export_options.max_batch_events, (dir / "exports").string(),
        lag.lag_lsns);
    std::cout << exporter.metric_lines();
  }

  KafkaConsumerOptions consume_options;
  consume_options.brokers = cluster.bootstrap_servers();
  consume_options.topic = topic;
  consume_options.store_id = source.store_id;
  KafkaConsumer consumer(consume_options);
  std::uint64_t consumed = 0;
  std::uint64_t expected = 1;
  bool in_order = true;
  std::uint64_t same_document = 0;
  const History history(*db);
  consumer.consume_until_caught_up([&](std::vector<ReceivedEvent>& batch) {
    for (const ReceivedEvent& r : batch) {
      ++consumed;
      in_order &= r.event.lsn == expected;
      expected = r.event.lsn + 1;
      const std::optional<Event> logged = history.event_at(r.event.lsn);
      if (logged && *logged == r.event) ++same_document;
    }
  });
  const bool exact =
      consumed == source.applied_lsn && in_order && same_document == consumed;
  std::cout << fmt::format(
      "# consumed from {} partitions: events written {} = events consumed {}, "
      "each exactly once in LSN order: {}; equal to the log's: {}\n",
      consumer.partitions(), source.applied_lsn, consumed,
      in_order ? "yes" : "NO", same_document == consumed ? "yes" : "NO");

  KafkaReplicaOptions replica_options;
  replica_options.brokers = cluster.bootstrap_servers();
  replica_options.topic = topic;
  replica_options.dir = replica_dir;
  ReplicaProgress progress;
  {
    KafkaReplica replica(replica_options);
    progress = replica.replicate_until_caught_up();
  }
  auto replica_db = Database::open_read_only(replica_dir);
  const Workflow at_source = db->workflow_store().retrieve(workflow_id);
  const Workflow at_replica =
      replica_db->workflow_store().retrieve(workflow_id);
  const bool same_views = progress.applied_lsn == source.applied_lsn &&
                          progress.view_checksum == source.view_checksum;
  const bool same_workflow = at_source == at_replica;
  std::cout << fmt::format(
      "# read replica in {} (views only, no log): applied lsn {}, view "
      "checksum {} {} the source's; retrieve({}) on the replica: {} with {} "
      "stages, {} the source's\n",
      replica_dir.string(), progress.applied_lsn,
      progress.view_checksum.substr(0, 16),
      same_views ? "equal to" : "DIFFERENT FROM", workflow_id,
      status_name(at_replica.status), at_replica.stages.size(),
      same_workflow ? "equal to" : "DIFFERENT FROM");
  return exact && same_views && same_workflow;
}

}  // namespace wfstore::tools
