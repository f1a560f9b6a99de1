// Reading an exported topic back with a plain librdkafka consumer (every
// partition from the beginning to its end) and checking it against the
// store's log: every LSN exactly once after dropping duplicates, each record
// equal to the event it stands for, duplicates identical and in whole runs,
// per-workflow order within a partition.

#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "wfstore/database.h"
#include "wfstore/event.h"
#include "wfstore/kafka_record.h"

#include "wfstore_internal/committed_events.h"
#include "wfstore_internal/kafka_client.h"
#include "wfstore_internal/log_format.h"

namespace wfstore::testutil {

// The message of a background run's error, or "".
inline std::string what_of(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  }
}

struct ReadRecord {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  KafkaRecord record;
  std::uint64_t lsn = 0;  // the lsn header
};

// Every record of `topic` (all partitions, from the beginning to the end),
// in partition and offset order. Fails the test on an error.
inline std::vector<ReadRecord> read_topic(const std::string& brokers,
                                          const std::string& topic) {
  std::vector<ReadRecord> out;
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"bootstrap.servers", brokers},
           {"group.id", "wfstore-read-back"},
           {"enable.partition.eof", "true"},
           {"enable.auto.commit", "false"},
           {"log_level", "3"}}) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error.data(),
                          error.size()) != RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << error.data();
      return out;
    }
  }
  rd_kafka_t* rk =
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, error.data(), error.size());
  if (rk == nullptr) {
    ADD_FAILURE() << error.data();
    return out;
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int partitions = 0;
  for (int attempt = 0; attempt < 50 && partitions == 0; ++attempt) {
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      partitions = md->topics[0].partition_cnt;
    }
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    md = nullptr;
  }
  rd_kafka_topic_destroy(rkt);
  EXPECT_GT(partitions, 0) << "no metadata for topic " << topic;
  rd_kafka_topic_partition_list_t* parts =
      rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);
  int at_end = 0;
  std::vector<bool> ended(static_cast<std::size_t>(partitions), false);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (at_end < partitions && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (!ended[static_cast<std::size_t>(m->partition)]) {
        ended[static_cast<std::size_t>(m->partition)] = true;
        ++at_end;
      }
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ADD_FAILURE() << "consume: " << rd_kafka_message_errstr(m);
    } else {
      ReadRecord r;
      r.partition = m->partition;
      r.offset = m->offset;
      r.record = record_of_message(*m);
      for (const auto& [name, value] : r.record.headers) {
        if (name == kHeaderLsn) r.lsn = std::stoull(value);
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(at_end, partitions) << "did not reach the end of every partition";
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  std::sort(out.begin(), out.end(),
            [](const ReadRecord& a, const ReadRecord& b) {
              return std::pair(a.partition, a.offset) <
                     std::pair(b.partition, b.offset);
            });
  return out;
}

struct ExportCheck {
  std::uint64_t distinct = 0;    // LSNs read
  std::uint64_t duplicates = 0;  // records beyond the first of their LSN
  std::uint64_t longest_duplicate_run = 0;
  // The fewest re-sent runs (consecutive LSNs, at most max_run each) whose
  // copies add up to exactly the duplicates: each restart re-sends one run.
  std::uint64_t resend_runs = 0;
};

// The fewest runs of consecutive LSNs of at most `max_run` events whose
// copies, stacked, give each LSN exactly its extra copies: sweeping up the
// LSNs, a run opens where the extra copies rise, the oldest runs end where
// they fall, and a run reaching `max_run` events ends (another opens if the
// LSN still needs it). Ending the oldest first is never worse: any run the
// sweep keeps is at most as long as one it could have kept instead.
inline std::uint64_t fewest_resend_runs(
    const std::map<std::uint64_t, std::size_t>& extra_copies,
    std::uint64_t max_run) {
  std::uint64_t runs = 0;
  std::deque<std::uint64_t> open;  // first LSNs of the open runs, oldest first
  std::uint64_t previous = 0;
  for (const auto& [lsn, extra] : extra_copies) {
    if (lsn != previous + 1) open.clear();  // a gap ends every run
    while (!open.empty() && lsn - open.front() >= max_run) open.pop_front();
    while (open.size() > extra) open.pop_front();
    while (open.size() < extra) {
      open.push_back(lsn);
      ++runs;
    }
    previous = lsn;
  }
  return runs;
}

// Checks `records` against the events of `database` 1..`last_lsn`: each LSN
// present, every copy equal to the event's record, per-workflow order within
// a partition, duplicates forming at most `max_resends` runs of consecutive
// LSNs of at most `max_run` events each (none when `max_run` is 0). Adds
// failures to the test.
inline ExportCheck check_export(Database& database,
                                const std::vector<ReadRecord>& records,
                                std::uint64_t last_lsn, std::uint64_t max_run,
                                std::uint64_t max_resends = 1) {
  ExportCheck check;
  const std::string store_id = store_files(database).store_id;
  std::map<std::uint64_t, std::vector<const ReadRecord*>> by_lsn;
  for (const ReadRecord& r : records) by_lsn[r.lsn].push_back(&r);
  EXPECT_EQ(by_lsn.count(0), 0u) << "a record without an lsn header";
  std::uint64_t failures = 0;
  std::uint64_t after = 0;
  while (after < last_lsn && failures < 20) {
    const CommittedEvents read =
        read_committed_events(database, after, 1000, true);
    if (read.events.empty()) {
      ADD_FAILURE() << "the store ends at lsn " << after;
      break;
    }
    for (std::size_t i = 0; i < read.events.size() && failures < 20; ++i) {
      const Event& e = read.events[i];
      if (e.lsn > last_lsn) break;
      const auto it = by_lsn.find(e.lsn);
      if (it == by_lsn.end()) {
        ADD_FAILURE() << "lsn " << e.lsn << " is missing";
        ++failures;
        continue;
      }
      ++check.distinct;
      check.duplicates += it->second.size() - 1;
      const std::vector<std::pair<std::string, std::string>> headers = {
          {std::string(kHeaderLsn), std::to_string(e.lsn)},
          {std::string(kHeaderType), std::string(event_type_name(e.type()))},
          {std::string(kHeaderSchemaVersion),
           std::to_string(e.schema_version())},
          {std::string(kHeaderStoreId), store_id},
          {std::string(kHeaderCommitHash), log::to_hex(read.commit_hashes[i])},
          {std::string(kHeaderCommitLastLsn),
           std::to_string(read.commit_last_lsns[i])},
      };
      const nlohmann::json expected = event_to_json(e);
      const std::string key = e.workflow_id.empty() ? store_id : e.workflow_id;
      for (const ReadRecord* r : it->second) {
        bool ok = r->record.key == key && r->record.headers == headers;
        const nlohmann::json value = nlohmann::json::parse(r->record.value);
        for (const auto& [field, v] : expected.items()) {
          if (!value.contains(field) || value.at(field) != v) {
            ADD_FAILURE() << "lsn " << e.lsn << ": field " << field << " is "
                          << (value.contains(field) ? value.at(field).dump()
                                                    : "missing")
                          << ", expected " << v.dump();
            ok = false;
          }
        }
        ok = ok && value.size() == expected.size();
        if (!ok) {
          ADD_FAILURE() << "lsn " << e.lsn << ": record differs (key "
                        << r->record.key << ", value " << r->record.value
                        << ")";
          ++failures;
        }
      }
    }
    after = read.events.back().lsn;
  }
  EXPECT_EQ(by_lsn.size() - by_lsn.count(0), check.distinct)
      << "records of LSNs beyond " << last_lsn;
  // Duplicates form runs of consecutive LSNs.
  std::uint64_t run = 0;
  for (const auto& [lsn, copies] : by_lsn) {
    if (copies.size() > 1) {
      run = by_lsn.count(lsn - 1) != 0 && by_lsn.at(lsn - 1).size() > 1
                ? run + 1
                : 1;
      check.longest_duplicate_run = std::max(check.longest_duplicate_run, run);
    }
  }
  std::map<std::uint64_t, std::size_t> extra_copies;
  for (const auto& [lsn, copies] : by_lsn) {
    if (copies.size() > 1) extra_copies[lsn] = copies.size() - 1;
  }
  if (max_run == 0) {
    EXPECT_EQ(check.duplicates, 0u);
  } else {
    check.resend_runs = fewest_resend_runs(extra_copies, max_run);
    EXPECT_LE(check.resend_runs, max_resends)
        << "duplicates need " << check.resend_runs
        << " re-sent runs of at most " << max_run << " events";
  }
  // Per partition and key: the first copy of each LSN in increasing order.
  std::map<std::pair<std::int32_t, std::string>, std::uint64_t> last;
  std::map<std::uint64_t, bool> seen;
  for (const ReadRecord& r : records) {
    if (seen[r.lsn]) continue;
    seen[r.lsn] = true;
    std::uint64_t& prev = last[{r.partition, r.record.key}];
    EXPECT_LT(prev, r.lsn) << "key " << r.record.key << " out of order";
    prev = r.lsn;
  }
  // One key, one partition.
  std::map<std::string, std::int32_t> partition_of;
  for (const ReadRecord& r : records) {
    const auto [it, inserted] = partition_of.emplace(r.record.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << "key " << r.record.key;
  }
  return check;
}

}  // namespace wfstore::testutil
