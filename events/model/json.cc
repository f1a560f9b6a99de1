// wfstore::Json: CBOR bytes decoded lazily, and the CBOR checker that makes the
// lazy decode safe on bytes read from disk.

#include "wfstore/json.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "wfstore/errors.h"
#include "wfstore/limits.h"

#include "events/model/utf8.h"
#include "wfstore_internal/cbor_head.h"
#include "wfstore_internal/json_check.h"

namespace wfstore {

// Invariant: at least one of `cbor` (has_cbor) and `value` (decoded) is valid;
// both are then the same value. Each flag is set once under `mu` and read with
// acquire ordering, so const access is safe from many threads.
//
// Copies share one State (copy-on-write): a shared State is never changed
// except by those idempotent first fills. `shared` is set when a second Json
// takes the State and never cleared, so mutable_value() knows it must clone.
// `leaked` is set once mutable_value() has handed out a reference into the
// State; a copy of a leaked State is a deep copy, so writes through that
// reference never reach another Json.
// The implicit constructor is noexcept; nlohmann's null constructor only
// asserts its invariant.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Json::State {
  std::mutex mu;
  std::string cbor;
  nlohmann::json value;
  std::atomic<bool> has_cbor{false};
  std::atomic<bool> decoded{false};
  std::atomic<bool> shared{false};
  bool leaked = false;  // only written by the sole owner
};

namespace {

const nlohmann::json& empty_object() {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return kEmpty;
}

std::string encode(const nlohmann::json& value) {
  std::string bytes;
  nlohmann::json::to_cbor(value, bytes);
  return bytes;
}

// One pass over a CBOR item: well-formed, within the limits, only the types
// that nlohmann::json produces for finite JSON. Given `out`, the same pass
// also builds the value nlohmann::json::from_cbor would (one walk instead of a
// check and a parse); otherwise it allocates only the container stack
// (bounded by kMaxJsonDepth). Throws CorruptionError naming `field`.
class CborChecker {
 public:
  // `max_bytes`: the largest input accepted (a value's limit by default).
  CborChecker(std::string_view data, std::string_view field,
              nlohmann::json* out = nullptr,
              std::size_t max_bytes = kMaxJsonBytes)
      : data_(data), field_(field), out_(out), max_bytes_(max_bytes) {}

  void check() {
    if (data_.size() > max_bytes_) fail("value exceeds the JSON size limit");
    if (data_.empty()) fail("empty CBOR value");
    // Each entry counts the items still expected by an open container.
    std::vector<std::uint64_t> open;
    bool expect_key = false;
    std::vector<bool> is_map;
    item(open, is_map, expect_key);
    while (!open.empty()) {
      if (open.back() == 0) {
        open.pop_back();
        is_map.pop_back();
        if (out_ != nullptr) parents_.pop_back();
        continue;
      }
      --open.back();
      expect_key = !is_map.empty() && is_map.back() && open.back() % 2 == 1;
      item(open, is_map, expect_key);
    }
    if (pos_ != data_.size()) fail("trailing bytes after the CBOR value");
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw CorruptionError(fmt::format(
        "{}: malformed JSON encoding at byte {}: {}", field_, pos_, what));
  }

  // Places a value that was just read: the whole value, the next item of
  // the innermost open array, or the value of the pending key (the last of
  // equal keys wins, as in nlohmann's parse). Returns where it now lives.
  nlohmann::json* emit(nlohmann::json&& value) {
    if (parents_.empty()) {
      *out_ = std::move(value);
      return out_;
    }
    nlohmann::json& parent = *parents_.back();
    if (parent.is_array()) {
      auto& items = parent.get_ref<nlohmann::json::array_t&>();
      items.push_back(std::move(value));
      return &items.back();
    }
    nlohmann::json& slot =
        parent.get_ref<nlohmann::json::object_t&>()[std::move(key_)];
    key_.clear();
    slot = std::move(value);
    return &slot;
  }

  std::uint8_t byte() {
    if (pos_ >= data_.size()) fail("truncated");
    return static_cast<std::uint8_t>(data_[pos_++]);
  }

  std::uint64_t argument(std::uint8_t info) {
    const auto* const begin =
        reinterpret_cast<const unsigned char*>(data_.data());
    const unsigned char* p = begin + pos_;
    std::uint64_t v = 0;
    switch (cbor::read_argument(info, p, begin + data_.size(), v)) {
      case cbor::HeadStatus::kOk:
        break;
      case cbor::HeadStatus::kTruncated:
        pos_ = data_.size();
        fail("truncated");
      case cbor::HeadStatus::kIndefinite:
        fail("indefinite or reserved length");
    }
    pos_ = static_cast<std::size_t>(p - begin);
    return v;
  }

  std::uint64_t remaining() const { return data_.size() - pos_; }

  void item(std::vector<std::uint64_t>& open, std::vector<bool>& is_map,
            bool expect_key) {
    const std::uint8_t initial = byte();
    const auto major = static_cast<std::uint8_t>(initial >> 5);
    const auto info = static_cast<std::uint8_t>(initial & 0x1f);
    if (expect_key && major != 3) fail("object key is not a string");
    switch (major) {
      case 0: {
        const std::uint64_t n = argument(info);
        if (out_ != nullptr) emit(nlohmann::json(n));
        return;
      }
      case 1: {
        // nlohmann decodes -1 - n into an int64 and would silently wrap.
        const std::uint64_t n = argument(info);
        if (n > static_cast<std::uint64_t>(
                    std::numeric_limits<std::int64_t>::max()))
          fail("negative integer out of range");
        if (out_ != nullptr) {
          emit(nlohmann::json(std::int64_t{-1} - static_cast<std::int64_t>(n)));
        }
        return;
      }
      case 2:
        fail("binary values are not allowed");
      case 3: {
        const std::uint64_t n = argument(info);
        if (n > remaining()) fail("truncated string");
        const std::string_view text =
            data_.substr(pos_, static_cast<std::size_t>(n));
        if (!utf8::is_valid(text)) fail("string is not valid UTF-8");
        pos_ += static_cast<std::size_t>(n);
        if (out_ != nullptr) {
          if (expect_key) {
            key_.assign(text);
          } else {
            emit(nlohmann::json(std::string(text)));
          }
        }
        return;
      }
      case 4:
      case 5: {
        const std::uint64_t n = argument(info);
        const std::uint64_t items = major == 5 ? n * 2 : n;
        // Every item takes at least one byte, which bounds counts by the input
        // size.
        if (n > remaining() || items > remaining())
          fail("container larger than its input");
        if (open.size() >= kMaxJsonDepth)
          fail("nesting deeper than the JSON depth limit");
        open.push_back(items);
        is_map.push_back(major == 5);
        // No reserve for the declared count: it is bounded by the input left,
        // not by the enclosing container's, so nested declarations add up.
        if (out_ != nullptr) {
          parents_.push_back(emit(
              major == 5 ? nlohmann::json(nlohmann::json::value_t::object)
                         : nlohmann::json(nlohmann::json::value_t::array)));
        }
        return;
      }
      case 6:
        fail("tagged values are not allowed");
      default:
        break;
    }
    switch (info) {
      case 20:
      case 21:
        if (out_ != nullptr) emit(nlohmann::json(info == 21));
        return;
      case 22:
        if (out_ != nullptr) emit(nlohmann::json(nullptr));
        return;
      case 25: {
        const auto half = static_cast<std::uint16_t>(argument(info));
        if ((half & 0x7c00) == 0x7c00) fail("non-finite number");
        if (out_ != nullptr) {
          // IEEE 754 binary16, finite: subnormal below exponent 1.
          const int exponent = (half >> 10) & 0x1f;
          const unsigned mantissa = half & 0x3ffU;
          const double magnitude =
              exponent == 0 ? std::ldexp(mantissa, -24)
                            : std::ldexp(mantissa + 1024, exponent - 25);
          emit(nlohmann::json((half & 0x8000U) != 0 ? -magnitude : magnitude));
        }
        return;
      }
      case 26: {
        const auto bits = static_cast<std::uint32_t>(argument(info));
        float f = 0;
        std::memcpy(&f, &bits, sizeof f);
        if (!std::isfinite(f)) fail("non-finite number");
        if (out_ != nullptr) emit(nlohmann::json(static_cast<double>(f)));
        return;
      }
      case 27: {
        const std::uint64_t bits = argument(info);
        double d = 0;
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) fail("non-finite number");
        if (out_ != nullptr) emit(nlohmann::json(d));
        return;
      }
      default:
        fail("unsupported simple value");
    }
  }

  std::string_view data_;
  std::string_view field_;
  std::size_t pos_ = 0;
  nlohmann::json* out_;  // null: check only
  std::size_t max_bytes_;
  // While building: the open containers, innermost last, and the key read
  // for the next value of the innermost object.
  std::vector<nlohmann::json*> parents_;
  std::string key_;
};

[[noreturn]] void invalid(std::string_view field, std::string_view what) {
  throw InvalidArgumentError(fmt::format("{}: {}", field, what));
}

// Depth, binary, non-finite and UTF-8 checks over a parsed value, without
// recursion.
void check_value(const nlohmann::json& root, std::string_view field) {
  struct Frame {
    const nlohmann::json* value;
    std::size_t depth;
  };
  std::vector<Frame> stack{{&root, 0}};
  while (!stack.empty()) {
    const Frame frame = stack.back();
    stack.pop_back();
    const nlohmann::json& v = *frame.value;
    switch (v.type()) {
      case nlohmann::json::value_t::binary:
        invalid(field, "binary values are not allowed in JSON");
      case nlohmann::json::value_t::number_float:
        if (!std::isfinite(v.get<double>()))
          invalid(field, "NaN and infinity are not allowed");
        break;
      case nlohmann::json::value_t::string:
        if (!utf8::is_valid(v.get_ref<const std::string&>())) {
          invalid(field, "string is not valid UTF-8");
        }
        break;
      case nlohmann::json::value_t::object:
      case nlohmann::json::value_t::array:
        if (frame.depth + 1 > kMaxJsonDepth) {
          invalid(field, fmt::format("JSON nested deeper than {} levels",
                                     kMaxJsonDepth));
        }
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (v.is_object() && !utf8::is_valid(it.key())) {
            invalid(field, "object key is not valid UTF-8");
          }
          stack.push_back({&*it, frame.depth + 1});
        }
        break;
      default:
        break;
    }
  }
}

}  // namespace

Json::Json() = default;

Json::Json(nlohmann::json value) : state_(std::make_shared<State>()) {
  state_->value = std::move(value);
  state_->decoded.store(true, std::memory_order_release);
}

std::shared_ptr<Json::State> Json::deep_copy(const State& other) {
  auto state = std::make_shared<State>();
  const bool decoded = other.decoded.load(std::memory_order_acquire);
  const bool has_cbor = other.has_cbor.load(std::memory_order_acquire);
  if (has_cbor) {
    state->cbor = other.cbor;
    state->has_cbor.store(true, std::memory_order_release);
  }
  if (decoded) {
    state->value = other.value;
    state->decoded.store(true, std::memory_order_release);
  }
  return state;
}

Json::Json(const Json& other) {
  if (!other.state_) return;
  if (other.state_->leaked) {
    state_ = deep_copy(*other.state_);
    return;
  }
  other.state_->shared.store(true, std::memory_order_relaxed);
  state_ = other.state_;
}

Json::Json(Json&& other) noexcept = default;

Json& Json::operator=(const Json& other) {
  if (this != &other) *this = Json(other);
  return *this;
}

Json& Json::operator=(Json&& other) noexcept = default;

Json::~Json() = default;

Json Json::from_cbor(std::string cbor, std::string_view field) {
  internal::check_json_cbor(cbor, field);
  Json json;
  json.state_ = std::make_shared<State>();
  json.state_->cbor = std::move(cbor);
  json.state_->has_cbor.store(true, std::memory_order_release);
  return json;
}

const nlohmann::json& Json::value() const {
  if (!state_) return empty_object();
  if (!state_->decoded.load(std::memory_order_acquire)) {
    std::scoped_lock lock(state_->mu);
    if (!state_->decoded.load(std::memory_order_relaxed)) {
      // The bytes passed CborChecker, so this pass cannot fail (it checks
      // again as it builds).
      state_->value = internal::decode_json_cbor(state_->cbor, "json");
      state_->decoded.store(true, std::memory_order_release);
    }
  }
  return state_->value;
}

nlohmann::json& Json::mutable_value() {
  if (!state_) {
    state_ = std::make_shared<State>();
    state_->value = nlohmann::json::object();
    state_->decoded.store(true, std::memory_order_release);
  } else {
    // A shared State is cloned before the decode, so the other copies keep
    // their bytes undecoded.
    if (state_->shared.load(std::memory_order_relaxed)) {
      state_ = deep_copy(*state_);
    }
    value();
  }
  // Sole owner from here on.
  state_->leaked = true;
  state_->has_cbor.store(false, std::memory_order_release);
  state_->cbor.clear();
  state_->cbor.shrink_to_fit();
  return state_->value;
}

const std::string& Json::cbor() const {
  if (!state_) {
    static const std::string kEmptyObject = encode(empty_object());
    return kEmptyObject;
  }
  if (!state_->has_cbor.load(std::memory_order_acquire)) {
    std::scoped_lock lock(state_->mu);
    if (!state_->has_cbor.load(std::memory_order_relaxed)) {
      state_->cbor = encode(state_->value);
      state_->has_cbor.store(true, std::memory_order_release);
    }
  }
  return state_->cbor;
}

bool Json::is_decoded() const noexcept {
  return !state_ || state_->decoded.load(std::memory_order_acquire);
}

bool operator==(const Json& a, const Json& b) {
  if (a.state_ && b.state_ && !a.is_decoded() && !b.is_decoded()) {
    return a.state_->cbor == b.state_->cbor || a.value() == b.value();
  }
  return a.value() == b.value();
}

void validate_json(const Json& value, std::string_view field) {
  if (!value.is_decoded())
    return;  // Checked by from_cbor, and unchanged since.
  check_value(value.value(), field);
  // Encoding once here keeps the bytes in the value (and in the copies that
  // share it), so the log and view writes that follow reuse them.
  const std::size_t size = value.cbor().size();
  if (size > kMaxJsonBytes) {
    invalid(field,
            fmt::format("JSON value of {} bytes exceeds the limit of {} bytes",
                        size, kMaxJsonBytes));
  }
}

namespace internal {

void check_json_cbor(std::string_view cbor, std::string_view field) {
  CborChecker(cbor, field).check();
}

nlohmann::json decode_json_cbor(std::string_view cbor, std::string_view field,
                                std::size_t max_bytes) {
  nlohmann::json value;
  CborChecker(cbor, field, &value, max_bytes).check();
  return value;
}

}  // namespace internal

}  // namespace wfstore
