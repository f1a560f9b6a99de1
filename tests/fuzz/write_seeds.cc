// fuzz_write_seeds <source dir> <output dir>: writes the generated seed corpora
// of the fuzz targets (tests/fuzz/README.md) from real data: the golden event
// bodies and the golden store's log (tests/data/golden/), the message fixtures
// (tests/data/fixtures/messages/), and logs the log writer writes here.
// Writes <output dir>/{log,event,cbor,message}/<name>; existing files of the
// same name are replaced. Exits 1 with a message on any failure.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/file_system.h"

#include "tests/testutil/file_bytes.h"
#include "wfstore_internal/event_codec.h"
#include "wfstore_internal/log_format.h"
#include "wfstore_internal/log_reader.h"
#include "wfstore_internal/log_writer.h"
#include "wfstore_internal/store_dir.h"

namespace wfstore {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSegmentSeparator = "--wfstore-fuzz-next-segment--";

std::string slurp(const fs::path& path) {
  std::optional<std::string> bytes = testutil::try_read_file_bytes(path);
  if (!bytes) throw IOError("cannot read " + path.string());
  return std::move(*bytes);
}

void spit(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw IOError("cannot write " + path.string());
}

// Every commit body of the log in `log_dir`.
std::vector<log::Commit> commits_of(const fs::path& log_dir,
                                    const StoreId& store) {
  std::vector<log::Commit> out;
  log::Reader reader(posix_file_system(), log_dir, store, 0,
                     [](const log::Damage& d) {
                       throw CorruptionError(d.segment + ": " + d.reason);
                     });
  log::Commit commit;
  while (reader.next(&commit)) out.push_back(commit);
  return out;
}

// The JSON values inside an event (whole payload, and every object or array
// one level down), as CBOR.
void collect_json(const nlohmann::json& value, int depth,
                  std::set<std::string>* out) {
  if (value.is_object() || value.is_array()) {
    std::string bytes;
    nlohmann::json::to_cbor(value, bytes);
    out->insert(std::move(bytes));
    if (depth >= 1) return;
    for (const auto& item : value) collect_json(item, depth + 1, out);
  }
}

// Logs the writer writes: several segments (a small roll size), commits whose
// records span blocks (FIRST, MIDDLE, LAST), and a torn tail.
void write_logs(const fs::path& scratch, const std::vector<log::Commit>& real,
                const fs::path& out_dir) {
  StoreId store;
  for (std::size_t i = 0; i < store.bytes.size(); ++i) {
    store.bytes[i] = static_cast<std::uint8_t>(0xa0 + i);
  }
  const auto write = [&](const std::string& name, std::uint64_t roll_bytes,
                         const std::vector<std::size_t>& body_sizes) {
    const fs::path dir = scratch / name;
    fs::remove_all(dir);
    log::WriterOptions options;
    options.roll_bytes = roll_bytes;
    auto writer = log::Writer::open(posix_file_system(), dir, store, options);
    std::uint64_t lsn = 1;
    for (std::size_t i = 0; i < body_sizes.size(); ++i) {
      const log::Commit& source = real[i % real.size()];
      std::string body = source.body;
      if (body_sizes[i] > body.size()) body.resize(body_sizes[i], 'x');
      writer->append(lsn, source.event_count, source.timestamp_ms, body);
      if (i % 2 == 1) writer->sync();
      lsn += source.event_count;
    }
    writer->sync();
    writer->close();
    std::string joined;
    for (const std::string& file : posix_file_system()->list_dir(dir)) {
      if (!joined.empty()) joined += kSegmentSeparator;
      joined += slurp(dir / file);
    }
    spit(out_dir / name, joined);
    return joined;
  };
  write("writer-one-segment", log::kDefaultRollBytes, {0, 0, 0, 0});
  write("writer-three-segments", 600, {0, 0, 0, 0, 0, 0});
  const std::string spanning = write("writer-record-spans-two-blocks",
                                     log::kDefaultRollBytes, {0, 33000, 0});
  write("writer-record-spans-three-blocks", log::kDefaultRollBytes, {0, 70000});
  spit(out_dir / "writer-torn-tail", spanning.substr(0, spanning.size() - 50));
  spit(out_dir / "writer-torn-in-first-fragment",
       spanning.substr(0, log::kBlockSize + 100));
}

void write_seeds(const fs::path& source, const fs::path& out) {
  const fs::path golden = source / "tests/data/golden";
  const fs::path segment = golden / "store-v1/log/00000000000000000001.log";
  const std::string segment_bytes = slurp(segment);
  spit(out / "log/store-v1-segment-1", segment_bytes);

  StoreId store;
  std::string error;
  const auto header = log::decode_segment_header(
      std::string_view(segment_bytes)
          .substr(log::kHeaderSize, log::kSegmentHeaderSize),
      &error);
  if (!header) throw CorruptionError("golden segment header: " + error);
  store.bytes = header->store_uuid;

  std::set<std::string> cbor;
  const auto add_events = [&](const std::vector<Event>& events) {
    for (const Event& event : events) {
      collect_json(payload_to_json(event.payload), 0, &cbor);
    }
  };
  const std::vector<log::Commit> commits =
      commits_of(segment.parent_path(), store);
  for (const log::Commit& c : commits) {
    spit(out / fmt::format("event/store-v1-commit-{:02}", c.first_lsn), c.body);
    add_events(
        decode_commit_body(c.first_lsn, c.timestamp_ms, c.event_count, c.body)
            .events);
  }
  for (const auto& entry : fs::directory_iterator(golden)) {
    if (entry.path().extension() != ".bin") continue;
    const std::string body = slurp(entry.path());
    spit(out / ("event/golden-" + entry.path().stem().string()), body);
    add_events(decode_commit_body(1, 0, 1, body).events);
  }
  std::size_t i = 0;
  for (const std::string& bytes : cbor) {
    spit(out / fmt::format("cbor/event-json-{:03}", i++), bytes);
  }
  const nlohmann::json kinds = nlohmann::json::parse(R"({
      "half": 1.5, "float": 0.1, "big": 18446744073709551615,
      "negative": -9223372036854775808, "text": "h\u00e9 \u2603 \ud83d\ude00",
      "list": [null, true, false, [], {}, -1, 0, 23, 24, 255, 256, 65536],
      "nested": {"a": {"b": {"c": [[[1]]]}}}})");
  std::string kinds_cbor;
  nlohmann::json::to_cbor(kinds, kinds_cbor);
  spit(out / "cbor/kinds", kinds_cbor);
  // A half-precision float, which nlohmann never writes but reads.
  spit(out / "cbor/half-float", std::string("\xa1\x61x\xf9\x3e\x00", 6));

  for (const auto& entry :
       fs::directory_iterator(source / "tests/data/fixtures/messages")) {
    if (entry.path().extension() != ".json") continue;
    const std::string text = slurp(entry.path());
    spit(out / ("message/fixture-" + entry.path().stem().string()), text);
  }

  const fs::path scratch =
      fs::temp_directory_path() / fmt::format("wfstore-seeds-{}", ::getpid());
  write_logs(scratch, commits, out / "log");
  fs::remove_all(scratch);
}

}  // namespace
}  // namespace wfstore

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_write_seeds <source dir> <output dir>\n");
    return 2;
  }
  try {
    wfstore::write_seeds(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_write_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
