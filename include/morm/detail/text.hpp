// Checks for text that goes into BSON strings and names: valid UTF-8 without NUL. A NUL
// inside a name or a string id would be cut short by any C-string reader on the way.
#pragma once

#include <bson/bson.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace morm::detail {

/// True if `s` is ASCII without NUL (8 bytes a step), which is valid UTF-8; false means "not
/// sure": run the full validator. bson_utf8_validate decodes byte by byte.
inline bool ascii_no_nul(const char* s, std::size_t n) noexcept {
    constexpr std::uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s + i, 8);
        if (((w | ((w - lo) & ~w)) & hi) != 0) return false;  // a byte >= 0x80, or a zero byte
    }
    for (; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == 0 || c >= 0x80) return false;
    }
    return true;
}

/// Valid UTF-8 without NUL.
inline bool valid_text(const char* s, std::size_t n) noexcept {
    return ascii_no_nul(s, n) || bson_utf8_validate(s, n, false);
}
inline bool valid_text(std::string_view s) noexcept { return valid_text(s.data(), s.size()); }

}  // namespace morm::detail
