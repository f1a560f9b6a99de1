// KafkaMockCluster: a real Kafka-protocol cluster on loopback that a plain
// librdkafka client can produce to and read back from.

#include "wfstore/kafka_mock.h"

#include <array>
#include <string>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include "wfstore/errors.h"

namespace wfstore {
namespace {

TEST(KafkaMockClusterTest, AProducedRecordIsReadBack) {
  KafkaMockCluster cluster(3);
  EXPECT_EQ(cluster.brokers(), 3);
  EXPECT_EQ(cluster.bootstrap_servers().rfind("127.0.0.1:", 0), 0u);
  cluster.create_topic("t", 1);

  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers",
                              cluster.bootstrap_servers().c_str(), error.data(),
                              error.size()),
            RD_KAFKA_CONF_OK);
  rd_kafka_t* producer =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  ASSERT_NE(producer, nullptr) << error.data();
  const std::string value = "hello";
  // rd_kafka_produceva: the RD_KAFKA_V_* macros expand to C casts.
  std::array<rd_kafka_vu_t, 3> vus{};
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = "t";
  vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[1].u.mem.ptr = const_cast<char*>(value.data());
  vus[1].u.mem.size = value.size();
  vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[2].u.i = RD_KAFKA_MSG_F_COPY;
  rd_kafka_error_t* produce_error =
      rd_kafka_produceva(producer, vus.data(), vus.size());
  ASSERT_EQ(produce_error, nullptr) << rd_kafka_error_string(produce_error);
  ASSERT_EQ(rd_kafka_flush(producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(producer);

  conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers",
                              cluster.bootstrap_servers().c_str(), error.data(),
                              error.size()),
            RD_KAFKA_CONF_OK);
  ASSERT_EQ(
      rd_kafka_conf_set(conf, "group.id", "g", error.data(), error.size()),
      RD_KAFKA_CONF_OK);
  rd_kafka_t* consumer =
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, error.data(), error.size());
  ASSERT_NE(consumer, nullptr) << error.data();
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, "t", 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(rd_kafka_assign(consumer, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      got.assign(static_cast<const char*>(m->payload), m->len);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  EXPECT_EQ(got, value);
}

TEST(KafkaMockClusterTest, BadArgumentsAreRejected) {
  EXPECT_THROW(KafkaMockCluster(0), InvalidArgumentError);
  EXPECT_THROW(KafkaMockCluster(17), InvalidArgumentError);
  KafkaMockCluster cluster;
  EXPECT_THROW(cluster.create_topic("", 1), InvalidArgumentError);
  EXPECT_THROW(cluster.create_topic("t", 0), InvalidArgumentError);
}

}  // namespace
}  // namespace wfstore
