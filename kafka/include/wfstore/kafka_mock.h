// KafkaMockCluster: librdkafka's built-in mock cluster, a Kafka-protocol
// broker set listening on loopback inside this process, for tests, the demo,
// benchmarks and `wfstore kafka-mock`. Any Kafka client (the exporter, a
// consumer, kcat in another process) connects to bootstrap_servers().
//
// Limits of Debian's librdkafka 2.0.2 mock (README "Streaming to Kafka"): it
// does not apply transaction commit or abort (records of an aborted
// transaction stay visible to every consumer), gives every new producer a
// fresh producer id without fencing the old one, auto-creates a topic with 4
// partitions, and keeps about 5 MiB or 100,000 message sets per partition.
//
// Thread-safety: the methods may be called from any thread; the cluster runs
// on librdkafka's own threads. Lifetime: clients should be destroyed before
// the cluster (a client of a destroyed cluster only sees brokers down).

#pragma once

#include <string>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace wfstore {

class KafkaMockCluster {
 public:
  // Starts `brokers` (1-16) mock brokers on 127.0.0.1, each on a free port.
  // Throws InvalidArgumentError for a bad broker count, IOError when
  // librdkafka cannot start the cluster.
  explicit KafkaMockCluster(int brokers = 1);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // "127.0.0.1:<port>[,127.0.0.1:<port>...]", the bootstrap.servers value.
  const std::string& bootstrap_servers() const { return bootstraps_; }
  int brokers() const { return brokers_; }

  // Creates `topic` with `partitions` partitions (the mock cannot create
  // topics over the protocol; producers auto-create with 4). Throws
  // InvalidArgumentError for a bad name or count, IOError when the mock
  // refuses (e.g. the topic exists).
  void create_topic(const std::string& topic, int partitions);

  // The mock's handle, for fault injection with rdkafka_mock.h
  // (rd_kafka_mock_broker_set_down, rd_kafka_mock_push_request_errors, ...);
  // valid while this object lives. Broker ids are 1..brokers().
  rd_kafka_mock_cluster_s* handle() const { return cluster_; }

 private:
  int brokers_ = 0;
  rd_kafka_s* host_ = nullptr;  // the client handle that hosts the cluster
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  std::string bootstraps_;
};

}  // namespace wfstore
