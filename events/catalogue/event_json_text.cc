// event_json_text and append_commit_json_texts: the text of
// event_to_json(event).dump() transcoded straight from the event's encoding
// (wfstore_internal/event_codec.h) into one string, without the typed event or
// the nlohmann tree. It walks the same field tables (fields.h) as the codec
// (value_codec.h) reads them and as event_json.cc's to_json_value names them,
// and reproduces nlohmann's serializer byte for byte: object members in
// std::string order of their names (nlohmann keeps objects in a std::map), no
// whitespace, its string escapes, integers in decimal. A struct's fields come
// in table order, so each is written to a scratch buffer and the members are
// then put in name order. JSON values are transcoded from their CBOR
// (numbers with a fraction are read and printed by nlohmann itself). Whatever
// the transcoding cannot vouch for (damage, a value no store admits, map keys
// out of order) is left to the typed path: decode, then nlohmann.

#include "wfstore_internal/event_json_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <cereal/details/helpers.hpp>
#include <nlohmann/json.hpp>

#include "wfstore/errors.h"
#include "wfstore/event.h"
#include "wfstore/limits.h"
#include "wfstore/model.h"

#include "events/catalogue/codec_primitives.h"
#include "events/catalogue/fields.h"
#include "events/catalogue/type_traits.h"
#include "events/catalogue/value_codec.h"
#include "events/model/utf8.h"
#include "wfstore_internal/cbor_head.h"
#include "wfstore_internal/event_codec.h"

namespace wfstore {
namespace {

using codec::Reader;

// Thrown by append_string for a string that is not UTF-8; event_json_text
// then lets nlohmann's dump() report it the way it does (type_error 316).
struct NotUtf8 {};

// Thrown where the transcoding cannot vouch for writing what the typed path
// writes (damage, or a valid but unusual encoding): the typed path then
// writes the event, or reports the damage, itself.
struct Fallback {};

// The length of the well-formed UTF-8 sequence starting at the lead byte
// p[0] >= 0x80 (Unicode Table 3-7, what nlohmann's decoder accepts: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 if there is
// none.
std::size_t utf8_sequence_length(const unsigned char* p,
                                 const unsigned char* end) {
  const auto avail = static_cast<std::size_t>(end - p);
  const unsigned char lead = p[0];
  const auto cont = [](unsigned char c) { return c >= 0x80 && c <= 0xBF; };
  if (lead >= 0xC2 && lead <= 0xDF) {
    return avail >= 2 && cont(p[1]) ? 2 : 0;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (avail < 3) return 0;
    const unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (avail < 4) return 0;
    const unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
    return p[1] >= lo && p[1] <= hi && cont(p[2]) && cont(p[3]) ? 4 : 0;
  }
  return 0;
}

// Per byte: 0 copied as is, 1 escaped, 2 the lead of a multi-byte sequence.
constexpr std::array<std::uint8_t, 256> kByteClass = [] {
  std::array<std::uint8_t, 256> table{};
  for (std::size_t c = 0; c < 0x20; ++c) table[c] = 1;
  table['"'] = 1;
  table['\\'] = 1;
  for (std::size_t c = 0x80; c < 0x100; ++c) table[c] = 2;
  return table;
}();

// Appends `s` as a JSON string the way nlohmann's dump() writes it with its
// defaults (ensure_ascii off): \" \\ \b \f \n \r \t, other control characters
// as \u00xx in lowercase hex, everything else (0x7f, multi-byte UTF-8) as is.
// Throws NotUtf8 for a string that is not UTF-8.
void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const end = p + s.size();
  const auto* run = p;  // the start of the bytes not yet appended
  while (p != end) {
    const std::uint8_t cls = kByteClass[*p];
    if (cls == 0) {
      ++p;
      continue;
    }
    if (cls == 2) {
      const std::size_t n = utf8_sequence_length(p, end);
      if (n == 0) throw NotUtf8{};
      p += n;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run),
               static_cast<std::size_t>(p - run));
    switch (*p) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char escape[] = {'\\', 'u',           '0',
                               '0',  kHex[*p >> 4], kHex[*p & 0xF]};
        out.append(escape, sizeof escape);
        break;
      }
    }
    run = ++p;
  }
  out.append(reinterpret_cast<const char*>(run),
             static_cast<std::size_t>(p - run));
  out.push_back('"');
}

template <typename Int>
void append_integer(std::string& out, Int v) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, result.ptr);
}

// Writes one CBOR item (a wfstore::Json value's bytes) as nlohmann's dump()
// writes the value nlohmann::json::from_cbor reads from it. Takes only what
// Json::from_cbor accepts (one well-formed item within kMaxJsonBytes and
// kMaxJsonDepth, definite lengths, no binary, tags or non-finite numbers,
// UTF-8 strings and keys) and objects whose keys are strictly increasing
// (nlohmann sorts them and keeps the last of equal keys); throws Fallback
// for anything else.
class CborText {
 public:
  CborText(std::string_view cbor, std::string& out)
      : p_(reinterpret_cast<const unsigned char*>(cbor.data())),
        end_(p_ + cbor.size()),
        out_(out) {}

  void write() {
    if (p_ == end_ || remaining() > kMaxJsonBytes) throw Fallback{};
    item(0);
    if (p_ != end_) throw Fallback{};
  }

 private:
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }

  std::uint8_t byte() {
    if (p_ == end_) throw Fallback{};
    return *p_++;
  }

  std::uint64_t argument(std::uint8_t info) {
    std::uint64_t v = 0;
    if (cbor::read_argument(info, p_, end_, v) != cbor::HeadStatus::kOk) {
      throw Fallback{};  // truncated, indefinite or reserved
    }
    return v;
  }

  std::string_view text(std::uint64_t n) {
    if (n > remaining()) throw Fallback{};
    const std::string_view t(reinterpret_cast<const char*>(p_),
                             static_cast<std::size_t>(n));
    p_ += n;
    return t;
  }

  // `depth`: the containers around this item.
  void item(std::size_t depth) {
    const unsigned char* const start = p_;
    const std::uint8_t initial = byte();
    const auto major = static_cast<std::uint8_t>(initial >> 5);
    const auto info = static_cast<std::uint8_t>(initial & 0x1f);
    switch (major) {
      case 0:
        append_integer(out_, argument(info));
        return;
      case 1: {
        const std::uint64_t n = argument(info);
        if (n > static_cast<std::uint64_t>(
                    std::numeric_limits<std::int64_t>::max())) {
          throw Fallback{};
        }
        append_integer(out_, -1 - static_cast<std::int64_t>(n));
        return;
      }
      case 3:
        append_string(out_, text(argument(info)));
        return;
      case 4:
      case 5:
        container(major == 5, argument(info), depth);
        return;
      case 7:
        break;
      default:
        throw Fallback{};  // binary (2), tags (6)
    }
    switch (info) {
      case 20:
        out_ += "false";
        return;
      case 21:
        out_ += "true";
        return;
      case 22:
        out_ += "null";
        return;
      case 25:
      case 26:
      case 27: {
        (void)argument(info);
        // nlohmann reads and prints the number itself.
        const nlohmann::json number = nlohmann::json::from_cbor(start, p_);
        if (!std::isfinite(number.get<double>())) throw Fallback{};
        out_ += number.dump();
        return;
      }
      default:
        throw Fallback{};
    }
  }

  void container(bool is_map, std::uint64_t n, std::size_t depth) {
    // Every item takes at least one byte.
    if (n > remaining() || (is_map && 2 * n > remaining()) ||
        depth >= kMaxJsonDepth) {
      throw Fallback{};
    }
    out_.push_back(is_map ? '{' : '[');
    std::string_view previous;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (i != 0) out_.push_back(',');
      if (is_map) {
        const std::uint8_t key = byte();
        if (key >> 5 != 3) throw Fallback{};
        const std::string_view name =
            text(argument(static_cast<std::uint8_t>(key & 0x1f)));
        if (i != 0 && !(previous < name)) throw Fallback{};
        previous = name;
        append_string(out_, name);
        out_.push_back(':');
      }
      item(depth + 1);
    }
    out_.push_back(is_map ? '}' : ']');
  }

  const unsigned char* p_;
  const unsigned char* const end_;
  std::string& out_;
};

// The most fields a struct's table holds (StageExecution has 27).
constexpr std::size_t kMaxFields = 40;
// The deepest struct nesting: payload, workflow, stage, task.
constexpr std::size_t kMaxStructDepth = 6;

// A default T, for walking T's field table where only the types count.
template <typename T>
const T& probe() {
  static const T kProbe{};
  return kProbe;
}

// A struct's members in the order nlohmann's object keeps them: the i-th
// member written is field index[i] of the field table, introduced by
// keys[i] ("name":). Made once per type.
struct MemberOrder {
  std::vector<std::string> keys;
  std::vector<std::size_t> index;
};

template <typename T>
const MemberOrder& member_order() {
  static const MemberOrder kOrder = [] {
    std::vector<std::string_view> names;
    auto collect = [&names](std::string_view name, const auto&) {
      names.push_back(name);
    };
    fields::visit_fields(collect, probe<T>());
    if (names.size() > kMaxFields) {
      throw std::logic_error("event_json_text: a field table over kMaxFields");
    }
    MemberOrder result;
    result.index.resize(names.size());
    std::iota(result.index.begin(), result.index.end(), std::size_t{0});
    std::stable_sort(
        result.index.begin(), result.index.end(),
        [&names](std::size_t a, std::size_t b) { return names[a] < names[b]; });
    for (std::size_t i : result.index) {
      std::string key;
      append_string(key, names[i]);
      key.push_back(':');
      result.keys.push_back(std::move(key));
    }
    return result;
  }();
  return kOrder;
}

template <typename Enum>
std::string_view enum_name(Enum v) {
  if constexpr (std::is_same_v<Enum, WorkflowStatus>) {
    return status_name(v);
  } else if constexpr (std::is_same_v<Enum, WorkflowType>) {
    return workflow_type_name(v);
  } else if constexpr (std::is_same_v<Enum, SyntheticStageOwner>) {
    return synthetic_stage_owner_name(v);
  } else if constexpr (std::is_same_v<Enum, JoinType>) {
    return join_type_name(v);
  } else {
    static_assert(std::is_same_v<Enum, SplitType>);
    return split_type_name(v);
  }
}

// Where payload P holds its workflow id (event_workflow_id): its field, and
// for a struct field the member of that; an empty field for a payload of no
// workflow. An absent optional field gives "".
struct WorkflowIdField {
  std::string_view field;
  std::string_view member;
};

template <typename T, typename... Ts>
constexpr bool kIsOneOf = (std::is_same_v<T, Ts> || ...);

template <typename P>
constexpr WorkflowIdField workflow_id_field() {
  if constexpr (std::is_same_v<P, WorkflowStored>) {
    return {"workflow", "id"};
  } else if constexpr (std::is_same_v<P, StageAdded>) {
    return {"stage", "execution_id"};
  } else if constexpr (kIsOneOf<P, WorkflowStatusUpdated, WorkflowStatusSet,
                                WorkflowPaused, WorkflowResumed,
                                WorkflowCancelRequested, WorkflowDeleted>) {
    return {"workflow_id", ""};
  } else if constexpr (kIsOneOf<P, MessageProcessed, StageUpdated, StageRemoved,
                                ClaimAcquired, ClaimTransferred, MessagePushed,
                                MessageLeased, MessageAcked, MessageRescheduled,
                                MessageLeaseExtended, MessageDeadLettered,
                                DeadLetterReplayed>) {
    return {"execution_id", ""};
  } else {
    static_assert(kIsOneOf<P, ProcessedMessagesPurged, ClaimsPurged,
                           QueueCleared, DeadLetterQueueCleared>,
                  "workflow_id_field: decide this event type's workflow");
    return {};
  }
}

// Collects the string of the field being looked for.
struct IdCapture {
  std::string_view field;
  std::string_view member;
  std::optional<std::string_view>* value = nullptr;
};

// Transcodes encoded values (value_codec.h's get() grammar) to JSON text,
// checking what get() checks (throws Fallback, NotUtf8 or CorruptionError
// where get() would throw). Reuses its scratch buffers from call to call.
class Transcoder {
 public:
  // Writes one value of type T read from `r`. `depth`: the structs around
  // it. `capture`: where a string on the workflow id's path goes.
  template <typename T>
  void value(Reader& r, std::string& out, std::size_t depth,
             const IdCapture* capture) {
    if constexpr (std::is_same_v<T, std::string>) {
      const std::string_view s = r.bytes("");
      append_string(out, s);
      if (capture != nullptr) *capture->value = s;
    } else if constexpr (std::is_same_v<T, bool>) {
      out += r.boolean("") ? "true" : "false";
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      append_integer(out, r.i64(""));
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      append_integer(out, r.u64(""));
    } else if constexpr (std::is_enum_v<T>) {
      const std::optional<T> v = codec::enum_from_int<T>(r.u8(""));
      if (!v) throw Fallback{};
      append_string(out, enum_name(*v));
    } else if constexpr (std::is_same_v<T, Json>) {
      CborText(r.bytes(""), out).write();
    } else if constexpr (IsOptional<T>::value) {
      if (r.boolean("")) {
        value<typename T::value_type>(r, out, depth, capture);
      } else {
        out += "null";
      }
    } else if constexpr (IsVector<T>::value) {
      const std::size_t n = r.count("", codec::kMinItemBytes);
      out.push_back('[');
      for (std::size_t i = 0; i < n; ++i) {
        if (i != 0) out.push_back(',');
        value<typename T::value_type>(r, out, depth, nullptr);
      }
      out.push_back(']');
    } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
      const std::size_t n = r.count("", codec::kMinItemBytes);
      out.push_back('[');
      std::string_view previous;
      for (std::size_t i = 0; i < n; ++i) {
        const std::string_view item = r.bytes("");
        // Sorted and unique, as the decoder requires.
        if (i != 0 && !(previous < item)) throw Fallback{};
        previous = item;
        if (i != 0) out.push_back(',');
        append_string(out, item);
      }
      out.push_back(']');
    } else if constexpr (std::is_same_v<T,
                                        std::map<std::string, std::string>>) {
      const std::size_t n = r.count("", 2 * codec::kMinItemBytes);
      out.push_back('{');
      std::string_view previous;
      for (std::size_t i = 0; i < n; ++i) {
        const std::string_view key = r.bytes("");
        if (i != 0 && !(previous < key)) throw Fallback{};
        previous = key;
        if (i != 0) out.push_back(',');
        append_string(out, key);
        out.push_back(':');
        append_string(out, r.bytes(""));
      }
      out.push_back('}');
    } else {
      static_assert(fields::HasFieldTable<T>);
      fields_of<T>(r, out, depth, capture);
    }
  }

  // Writes a struct T read from `r`: its fields into the scratch buffer of
  // `depth` in table order, then as members in name order into `out`.
  template <typename T>
  void fields_of(Reader& r, std::string& out, std::size_t depth,
                 const IdCapture* capture) {
    if (depth >= kMaxStructDepth) {
      throw std::logic_error("event_json_text: structs nested too deep");
    }
    const MemberOrder& order = member_order<T>();
    std::string& fields = scratch_[depth];
    fields.clear();
    std::array<std::size_t, kMaxFields + 1> ends{};
    std::size_t count = 0;
    auto each = [&](std::string_view name, const auto& member) {
      using U = std::remove_cv_t<std::remove_reference_t<decltype(member)>>;
      const IdCapture* inner = nullptr;
      IdCapture nested;
      if (capture != nullptr && name == capture->field) {
        if (capture->member.empty()) {
          inner = capture;
        } else {
          nested = {capture->member, {}, capture->value};
          inner = &nested;
        }
      }
      value<U>(r, fields, depth + 1, inner);
      ends[++count] = fields.size();
    };
    fields::visit_fields(each, probe<T>());
    out.push_back('{');
    for (std::size_t i = 0; i < count; ++i) {
      if (i != 0) out.push_back(',');
      out += order.keys[i];
      const std::size_t f = order.index[i];
      out.append(fields, ends[f], ends[f + 1] - ends[f]);
    }
    out.push_back('}');
  }

  // Writes payload P read from `r`, which holds exactly the payload, and
  // returns the workflow id it holds (event_workflow_id's).
  template <typename P>
  std::string_view payload(Reader& r, std::string& out) {
    constexpr WorkflowIdField kWhere = workflow_id_field<P>();
    std::optional<std::string_view> id;
    const IdCapture capture{kWhere.field, kWhere.member, &id};
    fields_of<P>(r, out, 0, kWhere.field.empty() ? nullptr : &capture);
    r.expect_end();
    return id.value_or(std::string_view());
  }

  // A buffer for the caller's text, kept as the scratch buffers are.
  std::string& text() { return text_; }

 private:
  std::array<std::string, kMaxStructDepth> scratch_;
  std::string text_;
};

// The transcoder of the calling thread (its scratch buffers reused).
Transcoder& transcoder() {
  thread_local Transcoder t;
  return t;
}

// The envelope's members in std::string order of their names, around the
// payload's.
void append_head(std::string& out, std::string_view audit,
                 std::uint64_t commit_id, std::uint64_t lsn) {
  out += "{\"audit\":";
  out += audit;
  out += ",\"commit_id\":";
  append_integer(out, commit_id);
  out += ",\"lsn\":";
  append_integer(out, lsn);
  out += ",\"payload\":";
}

void append_tail(std::string& out, std::uint16_t schema_version,
                 std::int64_t timestamp_ms, EventType type,
                 std::string_view workflow_id) {
  out += ",\"schema_version\":";
  append_integer(out, schema_version);
  out += ",\"timestamp\":";
  append_integer(out, timestamp_ms);
  out += ",\"type\":";
  append_string(out, event_type_name(type));
  out += ",\"workflow_id\":";
  append_string(out, workflow_id);
  out.push_back('}');
}

// A built-in event type's current schema version and its payload writer.
struct PayloadWriter {
  std::uint16_t version = 0;
  std::string_view (*write)(Transcoder&, Reader&, std::string&) = nullptr;
};

template <typename P>
std::string_view write_payload(Transcoder& t, Reader& r, std::string& out) {
  return t.payload<P>(r, out);
}

template <std::size_t... I>
PayloadWriter find_writer(EventType type, std::index_sequence<I...>) {
  PayloadWriter found;
  (void)((std::variant_alternative_t<I, EventPayload>::kType == type
              ? (found = {std::variant_alternative_t<I, EventPayload>::kVersion,
                          &write_payload<
                              std::variant_alternative_t<I, EventPayload>>},
                 true)
              : false) ||
         ...);
  return found;
}

PayloadWriter find_writer(EventType type) {
  return find_writer(
      type, std::make_index_sequence<std::variant_size_v<EventPayload>>());
}

// type, version, workflow_id length, payload length, endian tag (as
// commit_body.cc counts an event's least bytes).
constexpr std::size_t kMinEventBytes = 2 + 2 + 1 + 1 + 1;

// append_commit_json_texts without the typed path: throws Fallback, NotUtf8,
// CorruptionError or cereal::Exception for what it does not take.
void transcode_commit(std::uint64_t first_lsn, std::int64_t timestamp_ms,
                      std::size_t event_count, std::string_view body,
                      std::uint64_t from_lsn, std::uint64_t to_lsn,
                      std::vector<EventJsonText>& out) {
  if (body.empty() ||
      static_cast<std::uint8_t>(body[0]) != kCommitBodyFormatVersion) {
    throw Fallback{};
  }
  Transcoder& t = transcoder();
  Reader r(body.substr(1), "commit body", 1);
  std::string audit;
  t.fields_of<AuditMetadata>(r, audit, 0, nullptr);
  const std::size_t count = r.count("", kMinEventBytes);
  if (count != event_count || count == 0 || count > kMaxCommitEvents) {
    throw Fallback{};
  }
  std::optional<Reader> payload_reader;
  for (std::size_t i = 0; i < count; ++i) {
    const auto type = static_cast<EventType>(r.u16(""));
    const std::uint16_t version = r.u16("");
    const std::string_view workflow_id = r.bytes("");
    const std::string_view payload = r.bytes("");
    const PayloadWriter writer = find_writer(type);
    // Older versions are upcast and test-only types decoded by the typed
    // path.
    if (writer.write == nullptr || version != writer.version ||
        !utf8::is_valid(workflow_id)) {
      throw Fallback{};
    }
    const std::uint64_t lsn = first_lsn + i;
    if (lsn < from_lsn || lsn > to_lsn) continue;
    EventJsonText& e = out.emplace_back();
    e.lsn = lsn;
    e.type = type;
    e.schema_version = version;
    e.workflow_id = workflow_id;
    // Written in a reused buffer, then copied to a string of its size.
    std::string& text = t.text();
    text.clear();
    append_head(text, audit, first_lsn, lsn);
    if (payload_reader) {
      payload_reader->restart(payload);
    } else {
      payload_reader.emplace(payload, "payload");
    }
    if (writer.write(t, *payload_reader, text) != workflow_id) {
      throw Fallback{};
    }
    append_tail(text, version, timestamp_ms, type, workflow_id);
    e.json = text;
  }
  r.expect_end();
}

}  // namespace

std::string event_json_text(const Event& event) {
  try {
    Transcoder& t = transcoder();
    std::string audit_bytes;
    {
      codec::Writer w(audit_bytes);
      codec::put(w, event.audit);
    }
    Reader audit_reader(audit_bytes, "audit");
    std::string audit;
    t.fields_of<AuditMetadata>(audit_reader, audit, 0, nullptr);
    const std::string payload = encode_payload(event.payload);
    std::string out;
    out.reserve(payload.size() + payload.size() / 2 + audit.size() + 256);
    append_head(out, audit, event.commit_id, event.lsn);
    Reader payload_reader(payload, "payload");
    std::visit(
        [&](const auto& p) {
          using P = std::decay_t<decltype(p)>;
          (void)t.payload<P>(payload_reader, out);
        },
        event.payload);
    append_tail(out, event.schema_version(), event.timestamp_ms, event.type(),
                event.workflow_id);
    return out;
  } catch (const NotUtf8&) {
  } catch (const Fallback&) {
  } catch (const CorruptionError&) {
  }
  // A value no store admits (a string that is not UTF-8, a non-finite
  // number in a JSON value): dump() writes it, or throws its own error
  // (type_error 316 for such a string).
  return event_to_json(event).dump();
}

std::size_t append_commit_json_texts(
    std::uint64_t first_lsn, std::int64_t timestamp_ms, std::size_t event_count,
    std::string_view body, std::uint64_t from_lsn, std::uint64_t to_lsn,
    std::vector<EventJsonText>& out) {
  const std::size_t before = out.size();
  try {
    transcode_commit(first_lsn, timestamp_ms, event_count, body, from_lsn,
                     to_lsn, out);
    return 0;
  } catch (const NotUtf8&) {
  } catch (const Fallback&) {
  } catch (const CorruptionError&) {
  } catch (const cereal::Exception&) {
  }
  out.resize(before);
  // The typed path: decoding reports damage, upcasts older versions and
  // decodes test-only types.
  DecodedCommit commit =
      decode_commit_body(first_lsn, timestamp_ms, event_count, body);
  std::size_t written = 0;
  for (Event& event : commit.events) {
    if (event.lsn < from_lsn || event.lsn > to_lsn) continue;
    EventJsonText& e = out.emplace_back();
    e.lsn = event.lsn;
    e.type = event.type();
    e.schema_version = event.schema_version();
    e.json = event_json_text(event);
    e.workflow_id = std::move(event.workflow_id);
    ++written;
  }
  return written;
}

}  // namespace wfstore
