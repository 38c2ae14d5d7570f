// Standard base64 (RFC 4648 section 4, with '=' padding), header-only.
//
// Used by SCRAM (salt, proofs, signatures) and by extended JSON ($binary). Strict decoder:
// rejects characters outside the alphabet, bad padding and non-zero trailing bits, because
// a lenient decoder would let a malformed server message pass SCRAM validation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace morm::detail {

/// Length of the base64 encoding of `n` bytes.
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

/// Upper bound of the decoded size of `n` base64 characters.
constexpr std::size_t base64_max_decoded_size(std::size_t n) noexcept { return n / 4 * 3; }

/// Encodes `n` bytes at `in` into `out`, which must hold `base64_encoded_size(n)` chars.
/// Returns the number of chars written.
inline std::size_t base64_encode(const void* in, std::size_t n, char* out) noexcept {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    auto p = static_cast<const unsigned char*>(in);
    char* o = out;
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        std::uint32_t v = (std::uint32_t(p[i]) << 16) | (std::uint32_t(p[i + 1]) << 8) | p[i + 2];
        *o++ = alphabet[(v >> 18) & 63];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (std::size_t rest = n - i; rest != 0) {
        std::uint32_t v = std::uint32_t(p[i]) << 16;
        if (rest == 2) v |= std::uint32_t(p[i + 1]) << 8;
        *o++ = alphabet[(v >> 18) & 63];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return static_cast<std::size_t>(o - out);
}

/// Appends the base64 encoding of `n` bytes at `in` to `out`.
inline void base64_encode_append(const void* in, std::size_t n, std::string& out) {
    std::size_t old = out.size();
    out.resize(old + base64_encoded_size(n));
    base64_encode(in, n, out.data() + old);
}

/// Returns the base64 encoding of `in`.
inline std::string base64_encode(std::string_view in) {
    std::string out;
    base64_encode_append(in.data(), in.size(), out);
    return out;
}

namespace base64_impl {
// 0..63 for alphabet characters, 64 for '=', 255 for anything else.
constexpr unsigned char decode_char(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return static_cast<unsigned char>(c - 'A');
    if (c >= 'a' && c <= 'z') return static_cast<unsigned char>(c - 'a' + 26);
    if (c >= '0' && c <= '9') return static_cast<unsigned char>(c - '0' + 52);
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return 64;
    return 255;
}
}  // namespace base64_impl

/// Decodes padded base64 `in` into `out`, which must hold `base64_max_decoded_size(in.size())`
/// bytes. Returns the number of bytes written, or -1 if `in` is not valid padded base64.
inline std::ptrdiff_t base64_decode(std::string_view in, void* out) noexcept {
    using base64_impl::decode_char;
    if (in.size() % 4 != 0) return -1;
    auto o = static_cast<unsigned char*>(out);
    std::size_t written = 0;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        unsigned char a = decode_char(in[i]), b = decode_char(in[i + 1]);
        unsigned char c = decode_char(in[i + 2]), d = decode_char(in[i + 3]);
        if (a > 63 || b > 63) return -1;
        bool last = i + 4 == in.size();
        if (c == 64 || d == 64) {
            // Padding only in the final quantum, and "x=y" is never valid.
            if (!last || d != 64) return -1;
            if (c == 64) {
                if (b & 0x0f) return -1;  // non-canonical trailing bits
                o[written++] = static_cast<unsigned char>((a << 2) | (b >> 4));
                return static_cast<std::ptrdiff_t>(written);
            }
            if (c > 63 || (c & 0x03)) return -1;
            o[written++] = static_cast<unsigned char>((a << 2) | (b >> 4));
            o[written++] = static_cast<unsigned char>((b << 4) | (c >> 2));
            return static_cast<std::ptrdiff_t>(written);
        }
        if (c > 63 || d > 63) return -1;
        o[written++] = static_cast<unsigned char>((a << 2) | (b >> 4));
        o[written++] = static_cast<unsigned char>((b << 4) | (c >> 2));
        o[written++] = static_cast<unsigned char>((c << 6) | d);
    }
    return static_cast<std::ptrdiff_t>(written);
}

/// Decodes padded base64 `in` into `out` (replacing its contents). Returns false if invalid.
inline bool base64_decode(std::string_view in, std::string& out) {
    out.resize(base64_max_decoded_size(in.size()));
    std::ptrdiff_t n = base64_decode(in, out.data());
    if (n < 0) {
        out.clear();
        return false;
    }
    out.resize(static_cast<std::size_t>(n));
    return true;
}

}  // namespace morm::detail
