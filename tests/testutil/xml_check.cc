// The strict XML parser of xml_check.h.

#include "tests/testutil/xml_check.h"

#include <cstdint>
#include <stdexcept>
#include <string>

#include "events/model/utf8.h"

namespace wfstore::testutil {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view doc) : doc_(doc) {}

  XmlElement document() {
    skip_space();
    if (starts("<?xml")) skip_past("?>");
    skip_misc();
    if (!starts("<")) fail("expected the root element");
    XmlElement root = element();
    skip_misc();
    if (pos_ != doc_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("XML error at offset " + std::to_string(pos_) +
                             ": " + what);
  }
  bool starts(std::string_view s) const {
    return doc_.substr(pos_, s.size()) == s;
  }
  void skip_space() {
    while (pos_ < doc_.size() && (doc_[pos_] == ' ' || doc_[pos_] == '\n' ||
                                  doc_[pos_] == '\t' || doc_[pos_] == '\r')) {
      ++pos_;
    }
  }
  void skip_past(std::string_view end) {
    const std::size_t at = doc_.find(end, pos_);
    if (at == std::string_view::npos) fail("unterminated construct");
    pos_ = at + end.size();
  }
  void skip_misc() {
    while (true) {
      skip_space();
      if (starts("<!--")) {
        skip_past("-->");
      } else {
        return;
      }
    }
  }
  static bool name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == ':';
  }
  static bool name_char(char c) {
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
  }
  std::string name() {
    if (pos_ >= doc_.size() || !name_start(doc_[pos_])) fail("expected a name");
    const std::size_t from = pos_;
    while (pos_ < doc_.size() && name_char(doc_[pos_])) ++pos_;
    return std::string(doc_.substr(from, pos_ - from));
  }
  // Character data up to `stop`, entities resolved.
  std::string chars(char stop, bool attribute) {
    std::string out;
    while (true) {
      if (pos_ >= doc_.size()) fail("unexpected end of document");
      const char c = doc_[pos_];
      if (c == stop) return out;
      if (c == '<') {
        if (attribute) fail("'<' in an attribute value");
        return out;
      }
      if (c == '&') {
        const std::size_t semi = doc_.find(';', pos_);
        if (semi == std::string_view::npos || semi - pos_ > 10) {
          fail("bad entity reference");
        }
        const std::string_view ref = doc_.substr(pos_ + 1, semi - pos_ - 1);
        if (ref == "amp") {
          out += '&';
        } else if (ref == "lt") {
          out += '<';
        } else if (ref == "gt") {
          out += '>';
        } else if (ref == "quot") {
          out += '"';
        } else if (ref == "apos") {
          out += '\'';
        } else if (ref.size() > 1 && ref[0] == '#') {
          const bool hex = ref[1] == 'x';
          const std::uint32_t cp = static_cast<std::uint32_t>(std::stoul(
              std::string(ref.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10));
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else {
            out += '?';  // enough for tests: the reference is well-formed
          }
        } else {
          fail("unknown entity &" + std::string(ref) + ";");
        }
        pos_ = semi + 1;
        continue;
      }
      if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' &&
          c != '\r') {
        fail("control character");
      }
      out += c;
      ++pos_;
    }
  }
  XmlElement element() {
    ++pos_;  // '<'
    XmlElement e;
    e.name = name();
    while (true) {
      const std::size_t before = pos_;
      skip_space();
      if (starts("/>")) {
        pos_ += 2;
        return e;
      }
      if (starts(">")) {
        ++pos_;
        break;
      }
      if (pos_ == before) fail("expected whitespace before an attribute");
      std::string key = name();
      skip_space();
      if (!starts("=")) fail("expected '=' after attribute " + key);
      ++pos_;
      skip_space();
      if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
        fail("unquoted value of attribute " + key);
      }
      const char quote = doc_[pos_++];
      std::string value = chars(quote, true);
      ++pos_;
      if (!e.attributes.emplace(key, std::move(value)).second) {
        fail("duplicate attribute " + key);
      }
    }
    while (true) {
      e.text += chars('<', false);
      if (starts("</")) {
        pos_ += 2;
        if (name() != e.name) fail("mismatched end tag of <" + e.name + ">");
        skip_space();
        if (!starts(">")) fail("expected '>'");
        ++pos_;
        return e;
      }
      if (starts("<!--")) {
        skip_past("-->");
        continue;
      }
      if (starts("<![CDATA[") || starts("<!") || starts("<?")) {
        fail("unexpected markup");
      }
      e.children.push_back(element());
    }
  }

  std::string_view doc_;
  std::size_t pos_ = 0;
};

void collect(const XmlElement& e, std::string_view name,
             std::string_view attribute, std::vector<const XmlElement*>& out) {
  if (e.name == name &&
      (attribute.empty() || e.attributes.count(std::string(attribute)) != 0)) {
    out.push_back(&e);
  }
  for (const XmlElement& child : e.children) {
    collect(child, name, attribute, out);
  }
}

}  // namespace

std::vector<const XmlElement*> XmlElement::find_all(
    std::string_view element_name, std::string_view attribute) const {
  std::vector<const XmlElement*> out;
  collect(*this, element_name, attribute, out);
  return out;
}

std::string XmlElement::all_text() const {
  std::string out = text;
  for (const XmlElement& child : children) out += child.all_text();
  return out;
}

XmlElement parse_xml(std::string_view document) {
  // XML is UTF-8 (no BOM or encoding declaration says otherwise), without
  // the noncharacters U+FFFE and U+FFFF (XML 1.0's Char production).
  if (!utf8::is_valid(document)) {
    throw std::runtime_error("XML error: the document is not valid UTF-8");
  }
  for (const std::string_view bad : {"\xEF\xBF\xBE", "\xEF\xBF\xBF"}) {
    if (document.find(bad) != std::string_view::npos) {
      throw std::runtime_error("XML error: U+FFFE or U+FFFF in the document");
    }
  }
  return Parser(document).document();
}

}  // namespace wfstore::testutil
