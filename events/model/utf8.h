// UTF-8 validation shared by the model's string checks and the JSON checks.

#pragma once

#include <string_view>

namespace wfstore::utf8 {

// True if `text` is well-formed UTF-8 (no overlongs, surrogates or code points
// past U+10FFFF).
bool is_valid(std::string_view text);

}  // namespace wfstore::utf8
