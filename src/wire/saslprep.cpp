#include <morm/wire/saslprep.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace morm::wire {

namespace {

struct code_range {
    char32_t lo, hi;
};
struct decomp_entry {
    char32_t cp;
    std::uint16_t offset;
    std::uint8_t length;
};
struct ccc_entry {
    char32_t lo, hi;
    std::uint8_t ccc;
};
struct compose_entry {
    char32_t first, second, composed;
};

#include "saslprep_tables.inc"

template <std::size_t N>
bool in_table(const code_range (&t)[N], char32_t c) noexcept {
    auto it = std::upper_bound(std::begin(t), std::end(t), c,
                               [](char32_t v, const code_range& r) { return v < r.lo; });
    return it != std::begin(t) && c <= std::prev(it)->hi;
}

std::uint8_t combining_class(char32_t c) noexcept {
    if (c < 0x300) return 0;
    auto it = std::upper_bound(std::begin(table_ccc), std::end(table_ccc), c,
                               [](char32_t v, const ccc_entry& r) { return v < r.lo; });
    if (it == std::begin(table_ccc)) return 0;
    --it;
    return c <= it->hi ? it->ccc : 0;
}

// Hangul syllable arithmetic (Unicode section 3.12).
constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
constexpr char32_t l_count = 19, v_count = 21, t_count = 28, n_count = v_count * t_count,
                   s_count = l_count * n_count;

// Appends the NFKD decomposition of `c`, keeping combining marks in canonical order.
void decompose_append(char32_t c, std::u32string& out) {
    auto push = [&out](char32_t ch) {
        std::uint8_t cc = combining_class(ch);
        out.push_back(ch);
        if (cc == 0) return;
        // Stable insertion: a mark moves before preceding marks of higher class only.
        std::size_t i = out.size() - 1;
        while (i > 0) {
            std::uint8_t prev = combining_class(out[i - 1]);
            if (prev == 0 || prev <= cc) break;
            std::swap(out[i - 1], out[i]);
            --i;
        }
    };
    if (c >= s_base && c < s_base + s_count) {
        char32_t s = c - s_base;
        push(l_base + s / n_count);
        push(v_base + (s % n_count) / t_count);
        if (s % t_count) push(t_base + s % t_count);
        return;
    }
    auto it = std::lower_bound(std::begin(table_decomp), std::end(table_decomp), c,
                               [](const decomp_entry& e, char32_t v) { return e.cp < v; });
    if (it != std::end(table_decomp) && it->cp == c) {
        for (std::size_t i = 0; i < it->length; ++i) push(table_decomp_data[it->offset + i]);
    } else {
        push(c);
    }
}

// The primary composite of `a` + `b`, or 0 if there is none.
char32_t compose_pair(char32_t a, char32_t b) noexcept {
    if (a >= l_base && a < l_base + l_count && b >= v_base && b < v_base + v_count)
        return s_base + ((a - l_base) * v_count + (b - v_base)) * t_count;
    if (a >= s_base && a < s_base + s_count && (a - s_base) % t_count == 0 && b > t_base &&
        b < t_base + t_count)
        return a + (b - t_base);
    auto it = std::lower_bound(std::begin(table_compose), std::end(table_compose), a,
                               [b](const compose_entry& e, char32_t v) {
                                   return e.first < v || (e.first == v && e.second < b);
                               });
    if (it != std::end(table_compose) && it->first == a && it->second == b) return it->composed;
    return 0;
}

// Canonical composition in place (the algorithm of UAX #15's sample code).
void compose(std::u32string& s) {
    if (s.empty()) return;
    std::size_t starter_pos = 0, out = 1;
    int last_class = combining_class(s[0]) ? 256 : 0;
    for (std::size_t i = 1; i < s.size(); ++i) {
        char32_t ch = s[i];
        int cc = combining_class(ch);
        char32_t composite = compose_pair(s[starter_pos], ch);
        if (composite && (last_class < cc || last_class == 0)) {
            s[starter_pos] = composite;
            continue;
        }
        if (cc == 0) starter_pos = out;
        last_class = cc;
        s[out++] = ch;
    }
    s.resize(out);
}

// Strict UTF-8 decoding: no overlongs, no surrogates, nothing above U+10FFFF.
bool decode_utf8(std::string_view in, std::u32string& out) {
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        auto b0 = static_cast<unsigned char>(in[i]);
        if (b0 < 0x80) {
            out.push_back(b0);
            ++i;
            continue;
        }
        int len;
        char32_t c, min;
        if ((b0 & 0xE0) == 0xC0) len = 2, c = b0 & 0x1F, min = 0x80;
        else if ((b0 & 0xF0) == 0xE0) len = 3, c = b0 & 0x0F, min = 0x800;
        else if ((b0 & 0xF8) == 0xF0) len = 4, c = b0 & 0x07, min = 0x10000;
        else return false;
        if (in.size() - i < static_cast<std::size_t>(len)) return false;
        for (int k = 1; k < len; ++k) {
            auto b = static_cast<unsigned char>(in[i + k]);
            if ((b & 0xC0) != 0x80) return false;
            c = (c << 6) | (b & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
        out.push_back(c);
        i += len;
    }
    return true;
}

void encode_utf8(const std::u32string& in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (char32_t c : in) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
}

// The input is usually a password: zero the UTF-32 scratch copies before freeing them.
struct scratch_wiper {
    std::u32string& a;
    std::u32string& b;
    ~scratch_wiper() {
        wipe(a);
        wipe(b);
    }
    static void wipe(std::u32string& s) noexcept {
        s.resize(s.capacity());  // within capacity: no allocation
        OPENSSL_cleanse(s.data(), s.size() * sizeof(char32_t));
    }
};

[[nodiscard]] error_code failed(std::string& out) {
    out.clear();
    return make_error_code(errc::auth_failed);
}

}  // namespace

[[nodiscard]] error_code saslprep(std::string_view in, std::string& out) {
    // Fast path: printable ASCII is unaffected by every step. ASCII controls are C.2.1.
    bool printable_ascii = true;
    for (char ch : in) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7F) {
            printable_ascii = false;
            break;
        }
    }
    if (printable_ascii) {
        out.assign(in);
        return {};
    }

    std::u32string decoded, norm;
    scratch_wiper wiper{decoded, norm};
    if (!decode_utf8(in, decoded)) return failed(out);

    // 1. Map (B.1 first, so U+200B, which is in both tables, disappears) and 2. NFKC.
    norm.reserve(decoded.size());
    for (char32_t c : decoded) {
        if (in_table(table_b1, c)) continue;
        if (in_table(table_c12, c)) c = U' ';
        decompose_append(c, norm);
    }
    compose(norm);

    // 3. Prohibited output and 4. bidi.
    bool has_randal = false, has_l = false;
    for (char32_t c : norm) {
        if (in_table(table_prohibited, c)) return failed(out);
        has_randal = has_randal || in_table(table_d1, c);
        has_l = has_l || in_table(table_d2, c);
    }
    if (has_randal &&
        (has_l || !in_table(table_d1, norm.front()) || !in_table(table_d1, norm.back())))
        return failed(out);

    encode_utf8(norm, out);
    return {};
}

}  // namespace morm::wire
