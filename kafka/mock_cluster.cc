// KafkaMockCluster over rd_kafka_mock_cluster_new: a producer handle with no
// brokers of its own hosts the cluster's threads.

#include <array>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "wfstore/errors.h"
#include "wfstore/kafka_mock.h"

namespace wfstore {

KafkaMockCluster::KafkaMockCluster(int brokers) : brokers_(brokers) {
  if (brokers < 1 || brokers > 16) {
    throw InvalidArgumentError(
        fmt::format("a mock cluster has 1-16 brokers, not {}", brokers));
  }
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The host handle never talks to a broker; keep its logging quiet.
  if (rd_kafka_conf_set(conf, "log_level", "3", error.data(), error.size()) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw IOError(fmt::format("mock cluster: {}", error.data()));
  }
  host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  if (host_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw IOError(fmt::format("mock cluster: {}", error.data()));
  }
  cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(host_);
    throw IOError("mock cluster: librdkafka could not start it");
  }
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

KafkaMockCluster::~KafkaMockCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(host_);
}

void KafkaMockCluster::create_topic(const std::string& topic, int partitions) {
  if (topic.empty() || partitions < 1) {
    throw InvalidArgumentError(fmt::format(
        "mock cluster: topic '{}' with {} partitions", topic, partitions));
  }
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw IOError(fmt::format("mock cluster: cannot create topic '{}': {}",
                              topic, rd_kafka_err2str(err)));
  }
}

}  // namespace wfstore
