// The primitives of the event codec's grammar (see
// wfstore_internal/event_codec.h): a Writer and a bounded Reader over cereal's
// portable binary archives, fixed to little-endian. Private to the codec and
// its tests; this is the only header that includes cereal.

#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <cereal/archives/portable_binary.hpp>
#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/json.h"

namespace wfstore::codec {

// cereal's portable-binary tag for little-endian data; the first byte of every
// archive we write.
inline constexpr std::uint8_t kLittleEndianTag = 1;
// Longest unsigned LEB128 encoding of a 64-bit value.
inline constexpr std::size_t kMaxVarintBytes = 10;

// A stream buffer that appends everything written to a string.
class StringSink : public std::streambuf {
 public:
  // `out` must outlive the sink (or the next reset()).
  explicit StringSink(std::string& out) : out_(&out) {}
  void reset(std::string& out) { out_ = &out; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      out_->push_back(traits_type::to_char_type(ch));
    }
    return traits_type::not_eof(ch);
  }

 private:
  std::string* out_;
};

// A read-only stream buffer over borrowed bytes that knows how many remain.
class ViewSource : public std::streambuf {
 public:
  // `data` must outlive the source. The buffer is never written through.
  explicit ViewSource(std::string_view data) { reset(data); }
  void reset(std::string_view data) {
    char* begin = const_cast<char*>(data.data());
    setg(begin, begin, begin + data.size());
  }
  std::size_t remaining() const {
    return static_cast<std::size_t>(egptr() - gptr());
  }
  std::size_t position() const {
    return static_cast<std::size_t>(gptr() - eback());
  }
  // The next byte, consumed. REQUIRES: remaining() > 0.
  std::uint8_t next() {
    const auto byte = static_cast<std::uint8_t>(*gptr());
    gbump(1);
    return byte;
  }
  // The next `n` bytes, consumed. REQUIRES: n <= remaining().
  std::string_view take(std::size_t n) {
    std::string_view bytes(gptr(), n);
    setg(eback(), gptr() + n, egptr());
    return bytes;
  }
};

// Appends the grammar's primitives to a string. Construction writes the
// little-endian tag. Infallible except for std::bad_alloc.
class Writer {
 public:
  // `out` must outlive the writer.
  explicit Writer(std::string& out)
      : sink_(out),
        stream_(&sink_),
        archive_(stream_,
                 cereal::PortableBinaryOutputArchive::Options::LittleEndian()) {
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Writes from now on go to `out`, starting with the little-endian tag, as
  // for a new Writer (without the cost of a new stream). `out` must outlive
  // the writer or the next restart().
  void restart(std::string& out) {
    sink_.reset(out);
    u8(kLittleEndianTag);
  }

  void u8(std::uint8_t value) { archive_(value); }
  void u16(std::uint16_t value) { archive_(value); }
  void i64(std::int64_t value) { archive_(value); }
  void u64(std::uint64_t value) { archive_(value); }
  void boolean(bool value) { u8(value ? 1 : 0); }
  void varint(std::uint64_t value) {
    char buffer[kMaxVarintBytes];
    std::size_t n = 0;
    while (value >= 0x80) {
      buffer[n++] = static_cast<char>(value | 0x80);
      value >>= 7;
    }
    buffer[n++] = static_cast<char>(value);
    archive_(cereal::binary_data(buffer, n));
  }
  // len:varint byte*len; also the encoding of str.
  void bytes(std::string_view value) {
    varint(value.size());
    archive_(cereal::binary_data(value.data(), value.size()));
  }
  void json(const Json& value) { bytes(value.cbor()); }

 private:
  StringSink sink_;
  std::ostream stream_;
  cereal::PortableBinaryOutputArchive archive_;
};

// Reads the grammar's primitives from borrowed bytes. Every read checks the
// remaining input first, so a declared size never allocates more than the
// input holds. Failures throw CorruptionError naming `what`, the byte offset
// and the field.
class Reader {
 public:
  // Reads and checks the little-endian tag. `data` must outlive the reader;
  // `what` names the input in messages ("payload"); offsets in messages are
  // counted from `base_offset`.
  Reader(std::string_view data, std::string_view what,
         std::size_t base_offset = 0)
      : what_(what),
        base_offset_(base_offset),
        source_(check_tag(data, what, base_offset)),
        stream_(&source_),
        archive_(stream_,
                 cereal::PortableBinaryInputArchive::Options::LittleEndian()) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Reads `data` from now on, as a new Reader would (checking its tag),
  // without the cost of a new stream. `data` must outlive the reader or the
  // next restart().
  void restart(std::string_view data, std::size_t base_offset = 0) {
    base_offset_ = base_offset;
    source_.reset(check_tag(data, what_, base_offset));
    source_.take(1);
  }

  std::size_t remaining() const { return source_.remaining(); }

  std::uint8_t u8(std::string_view field) { return fixed<std::uint8_t>(field); }
  std::uint16_t u16(std::string_view field) {
    return fixed<std::uint16_t>(field);
  }
  std::int64_t i64(std::string_view field) {
    return fixed<std::int64_t>(field);
  }
  std::uint64_t u64(std::string_view field) {
    return fixed<std::uint64_t>(field);
  }
  bool boolean(std::string_view field) {
    const std::uint8_t value = u8(field);
    if (value > 1) fail(field, fmt::format("invalid boolean {}", value));
    return value == 1;
  }
  std::uint64_t varint(std::string_view field) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (remaining() == 0) fail(field, "truncated");
      const std::uint8_t byte = source_.next();
      const std::uint64_t bits = byte & 0x7fU;
      // The tenth byte may only hold the top bit of a 64-bit value.
      if (i == kMaxVarintBytes - 1 && bits > 1) fail(field, "varint overflow");
      value |= bits << (7 * i);
      if ((byte & 0x80U) == 0) {
        if (byte == 0 && i > 0) fail(field, "overlong varint");
        return value;
      }
    }
    fail(field, "varint overflow");
  }
  // A count of items that each take at least `min_item_bytes` of input.
  std::size_t count(std::string_view field, std::size_t min_item_bytes = 1) {
    const std::uint64_t n = varint(field);
    if (n > remaining() / min_item_bytes) {
      fail(field, fmt::format("count {} exceeds the remaining {} bytes", n,
                              remaining()));
    }
    return static_cast<std::size_t>(n);
  }
  // len:varint byte*len, borrowed from the input.
  std::string_view bytes(std::string_view field) {
    const std::uint64_t n = varint(field);
    if (n > remaining()) {
      fail(field, fmt::format("length {} exceeds the remaining {} bytes", n,
                              remaining()));
    }
    return source_.take(static_cast<std::size_t>(n));
  }
  // bytes that must be valid UTF-8.
  std::string str(std::string_view field);
  // bytes holding checked CBOR.
  Json json(std::string_view field) {
    const std::string_view cbor = bytes(field);
    return Json::from_cbor(std::string(cbor), field);
  }

  // Throws unless the input is exhausted.
  void expect_end() {
    if (remaining() != 0) {
      fail("end", fmt::format("{} trailing bytes", remaining()));
    }
  }

  [[noreturn]] void fail(std::string_view field, std::string_view why) const {
    throw CorruptionError(fmt::format("{} byte {}: {}: {}", what_,
                                      base_offset_ + source_.position(), field,
                                      why));
  }

 private:
  static std::string_view check_tag(std::string_view data,
                                    std::string_view what,
                                    std::size_t base_offset) {
    if (data.empty()) {
      throw CorruptionError(fmt::format(
          "{} byte {}: truncated before the endian tag", what, base_offset));
    }
    if (static_cast<std::uint8_t>(data[0]) != kLittleEndianTag) {
      throw CorruptionError(fmt::format("{} byte {}: bad endian tag {}", what,
                                        base_offset,
                                        static_cast<std::uint8_t>(data[0])));
    }
    return data;
  }

  template <typename T>
  T fixed(std::string_view field) {
    if (remaining() < sizeof(T)) fail(field, "truncated");
    T value{};
    archive_(value);
    return value;
  }

  std::string_view what_;
  std::size_t base_offset_;
  ViewSource source_;
  std::istream stream_;
  cereal::PortableBinaryInputArchive archive_;
};

}  // namespace wfstore::codec
