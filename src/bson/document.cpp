#include <morm/bson/document.hpp>
#include <morm/error.hpp>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

namespace morm::bson {

namespace {

struct json_deleter {
    void operator()(char* p) const noexcept { bson_free(p); }
};

// Howard Hinnant's days_from_civil, in int64: chrono::year stops at 32767, BSON dates do not.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYYY-MM-DDTHH:MM:SS[.mmm]Z" with a year of 5 digits or more, as milliseconds.
std::optional<std::int64_t> parse_long_iso(std::string_view t) {
    const auto dash = t.find('-');
    if (dash == std::string_view::npos || dash < 5 || t.size() < dash + 16 || t.back() != 'Z') return std::nullopt;
    auto num = [&](std::size_t at, std::size_t n, std::int64_t& out) {
        auto r = std::from_chars(t.data() + at, t.data() + at + n, out);
        return r.ec == std::errc() && r.ptr == t.data() + at + n;
    };
    std::int64_t y, mo, d, h, mi, sec, ms = 0;
    if (!num(0, dash, y) || !num(dash + 1, 2, mo) || !num(dash + 4, 2, d) || !num(dash + 7, 2, h) ||
        !num(dash + 10, 2, mi) || !num(dash + 13, 2, sec))
        return std::nullopt;
    const std::size_t rest = dash + 15;
    if (t.size() == rest + 5 && t[rest] == '.' && !num(rest + 1, 3, ms)) return std::nullopt;
    if (t.size() != rest + 1 && t.size() != rest + 5) return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
    const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    return ((days * 24 + h) * 60 + mi) * 60'000 + sec * 1000 + ms;
}

// libbson 1.23 prints relaxed dates after year 9999 as ISO strings with 5+ digit years,
// which its own parser refuses; Extended JSON's relaxed form uses ISO only for years
// 1970..9999. Rewrite those as {"$numberLong": ...} so output always reads back. The
// pattern `"$date" : "` cannot occur inside a JSON string (its quotes would be escaped).
void fix_relaxed_dates(std::string& json) {
    static constexpr std::string_view key = "\"$date\" : \"";
    for (std::size_t at = json.find(key); at != std::string::npos; at = json.find(key, at + 1)) {
        const std::size_t open = at + key.size();
        const std::size_t close = json.find('"', open);
        if (close == std::string::npos) return;
        const auto ms = parse_long_iso(std::string_view(json).substr(open, close - open));
        if (!ms) continue;
        json.replace(open - 1, close - open + 2, "{ \"$numberLong\" : \"" + std::to_string(*ms) + "\" }");
    }
}

// --- Code elements laid out by hand --------------------------------------------------------

// Little-endian int32, the layout of every BSON length. Sizes past INT32_MAX are caught by
// finish_element, whose document is then at least as large.
void put_i32(std::string& b, std::size_t n) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
}

// A BSON string: int32 length counting the trailing NUL, the bytes (NULs included), the NUL.
void put_string(std::string& b, std::string_view s) {
    put_i32(b, s.size() + 1);
    b.append(s);
    b.push_back('\0');
}

// Starts a one-element document: length placeholder, type byte, key. The key is a C string
// in BSON, so one with a NUL cannot be written.
std::optional<std::string> start_element(bson_type_t type, std::string_view key) {
    if (key.find('\0') != std::string_view::npos) return std::nullopt;
    std::string doc(4, '\0');
    doc.push_back(static_cast<char>(type));
    doc.append(key);
    doc.push_back('\0');
    return doc;
}

// Closes the one-element document and appends its element to dst. bson_concat copies the
// bytes as they are, which is the only libbson way to append an element it cannot lay out.
bool finish_element(bson_t* dst, std::string& doc) {
    doc.push_back('\0');
    if (doc.size() > INT32_MAX) return false;
    std::string len;
    put_i32(len, doc.size());
    doc.replace(0, 4, len);
    bson_t one;
    return bson_init_static(&one, reinterpret_cast<const std::uint8_t*>(doc.data()), doc.size()) &&
           bson_concat(dst, &one);
}

// --- from_json: NULs in $code -------------------------------------------------------------
//
// libbson 1.23's JSON reader appends a "$code" value with bson_append_code(_with_scope), which
// take C strings, so the code ends at its first NUL. from_json therefore swaps each \u0000 in a
// "$code" string for the escape of a private-use code point the input does not mention (also
// six characters, so libbson's error positions still point into the caller's text), lets
// libbson parse, then turns that code point back into NUL.

constexpr char32_t pua_first = 0xE000, pua_last = 0xF8FF;

std::optional<char32_t> hex4(std::string_view s) {
    unsigned v = 0;
    if (s.size() != 4) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + 4, v, 16);
    if (ec != std::errc() || end != s.data() + 4) return std::nullopt;
    return static_cast<char32_t>(v);
}

// A private-use code point not in the input, raw (3-byte UTF-8) or as \uXXXX. Over-counting
// (e.g. an escaped backslash before "uE000") only narrows the choice, so no JSON parsing here.
std::optional<char32_t> unused_private_use(std::string_view json) {
    std::vector<bool> used(pua_last - pua_first + 1);
    auto mark = [&](char32_t cp) {
        if (cp >= pua_first && cp <= pua_last) used[cp - pua_first] = true;
    };
    for (std::size_t i = 0; i + 2 < json.size(); ++i) {
        auto c = static_cast<unsigned char>(json[i]);
        if (c == 0xEE || c == 0xEF)
            mark(((c & 0x0Fu) << 12) | ((json[i + 1] & 0x3Fu) << 6) | (json[i + 2] & 0x3Fu));
        else if (c == '\\' && json[i + 1] == 'u')
            if (auto cp = hex4(json.substr(i + 2, 4))) mark(*cp);
    }
    for (char32_t cp = pua_first; cp <= pua_last; ++cp)
        if (!used[cp - pua_first]) return cp;
    return std::nullopt;
}

std::string utf8_of(char32_t cp) {  // cp is in the BMP private-use area: three bytes
    return {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<char>(0x80 | (cp & 0x3F))};
}

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Index of the quote closing the string that opens at `open` (json.size() if unterminated).
std::size_t string_end(std::string_view json, std::size_t open) {
    std::size_t i = open + 1;
    while (i < json.size() && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
    return std::min(i, json.size());
}

bool is_key(std::string_view json, std::size_t close) {
    std::size_t i = close + 1;
    while (i < json.size() && json_space(json[i])) ++i;
    return i < json.size() && json[i] == ':';
}

// Copies a string body to out with each \u0000 escape replaced; true if there was one.
// Other escapes are copied whole, so "\\u0000" (a backslash, then text) is left alone.
bool replace_nul_escapes(std::string_view body, std::string_view replacement, std::string& out) {
    bool any = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body.substr(i, 6) == "\\u0000") {
            out += replacement;
            i += 5;
            any = true;
        } else {
            out.push_back(body[i]);
            if (body[i] == '\\' && i + 1 < body.size()) out.push_back(body[++i]);
        }
    }
    return any;
}

// The input with \u0000 inside "$code" string values replaced, or nullopt if there is none.
// Only strings and the ':' after keys matter; anything else between "$code": and a string
// means the string is not the code (e.g. "$code": ["..."]).
std::optional<std::string> mask_code_nuls(std::string_view json, std::string_view replacement) {
    std::string out;
    out.reserve(json.size());
    bool masked = false, code_next = false;
    for (std::size_t i = 0; i < json.size(); ++i) {
        if (json[i] != '"') {
            if (json[i] != ':' && !json_space(json[i])) code_next = false;
            out.push_back(json[i]);
            continue;
        }
        std::size_t close = string_end(json, i);
        std::string_view body = json.substr(i + 1, close - i - 1);
        bool key = is_key(json, close);
        out.push_back('"');
        if (!key && code_next) masked |= replace_nul_escapes(body, replacement, out);
        else out.append(body);
        if (close < json.size()) out.push_back('"');
        code_next = key && body == "$code";
        i = close;
    }
    if (!masked) return std::nullopt;
    return out;
}

std::string unmask_string(std::string_view s, std::string_view mark) {
    std::string out(s);
    for (std::size_t at = 0; (at = out.find(mark, at)) != std::string::npos; ++at)
        out.replace(at, mark.size(), 1, '\0');
    return out;
}

bool unmask(bson_iter_t& it, bson_t* dst, std::string_view mark);

// Copies the sub-document or array at `it` into dst with `mark` turned back into NUL.
bool unmask_child(const bson_iter_t& it, std::string_view key, bson_t* dst, std::string_view mark) {
    bson_iter_t sub;
    bson_t child;
    bool array = bson_iter_type(&it) == BSON_TYPE_ARRAY;
    if (!bson_iter_recurse(&it, &sub)) return false;
    int klen = static_cast<int>(key.size());
    if (!(array ? bson_append_array_begin(dst, key.data(), klen, &child)
                : bson_append_document_begin(dst, key.data(), klen, &child)))
        return false;
    bool ok = unmask(sub, &child, mark);
    return (array ? bson_append_array_end(dst, &child) : bson_append_document_end(dst, &child)) && ok;
}

bool unmask_code_w_scope(const bson_iter_t& it, std::string_view key, bson_t* dst, std::string_view mark) {
    std::uint32_t len = 0, scope_len = 0;
    const std::uint8_t* scope_data = nullptr;
    const char* code = bson_iter_codewscope(&it, &len, &scope_len, &scope_data);
    bson_iter_t sub;
    bson_t scope = BSON_INITIALIZER;
    bool ok = bson_iter_init_from_data(&sub, scope_data, scope_len) && unmask(sub, &scope, mark) &&
              append_code_w_scope(dst, key, unmask_string({code, len}, mark), document_view(&scope));
    bson_destroy(&scope);
    return ok;
}

// Copies the elements from `it` on into dst, turning `mark` back into NUL in code, code with
// scope and strings (a "$code" with foreign siblings stays a string under the key "$code").
bool unmask(bson_iter_t& it, bson_t* dst, std::string_view mark) {
    while (bson_iter_next(&it)) {
        std::string_view key(bson_iter_key(&it), bson_iter_key_len(&it));
        std::uint32_t len = 0;
        bool ok;
        switch (bson_iter_type(&it)) {
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: ok = unmask_child(it, key, dst, mark); break;
        case BSON_TYPE_CODEWSCOPE: ok = unmask_code_w_scope(it, key, dst, mark); break;
        case BSON_TYPE_CODE: {
            const char* s = bson_iter_code(&it, &len);
            ok = append_code(dst, key, unmask_string({s, len}, mark));
            break;
        }
        case BSON_TYPE_UTF8: {
            std::string s = unmask_string({bson_iter_utf8(&it, &len), len}, mark);
            ok = bson_append_utf8(dst, key.data(), static_cast<int>(key.size()), s.data(), static_cast<int>(s.size()));
            break;
        }
        default: ok = bson_append_iter(dst, key.data(), static_cast<int>(key.size()), &it); break;
        }
        if (!ok) return false;
    }
    return true;
}

document parse_json(std::string_view json) {
    bson_t b;
    bson_error_t err;
    if (!bson_init_from_json(&b, json.data(), static_cast<ssize_t>(json.size()), &err))
        throw morm::error(errc::invalid_argument, std::string("invalid extended JSON: ") + err.message);
    return document::adopt(b);
}

}  // namespace

document_view::iterator document_view::begin() const noexcept {
    iterator it;
    if (init_iter(it.it_) && bson_iter_next(&it.it_)) it.end_ = false;
    return it;
}

std::optional<bson_iter_t> document_view::find(std::string_view dotted_path) const {
    bson_iter_t it, found;
    if (!init_iter(it)) return std::nullopt;
    // libbson wants a NUL-terminated key; paths are short, so keep them on the stack.
    char small[128];
    std::string big;
    const char* key;
    if (dotted_path.size() < sizeof small) {
        std::memcpy(small, dotted_path.data(), dotted_path.size());
        small[dotted_path.size()] = '\0';
        key = small;
    } else {
        big.assign(dotted_path);
        key = big.c_str();
    }
    if (dotted_path.find('.') == std::string_view::npos) {
        if (bson_iter_find_w_len(&it, key, static_cast<int>(dotted_path.size()))) return it;
        return std::nullopt;
    }
    if (bson_iter_find_descendant(&it, key, &found)) return found;
    return std::nullopt;
}

std::string document_view::to_json(json_mode mode) const {
    bson_t b;
    if (!data_ || !bson_init_static(&b, data_, size_)) return {};
    std::size_t len = 0;
    char* s = mode == json_mode::relaxed ? bson_as_relaxed_extended_json(&b, &len)
                                         : bson_as_canonical_extended_json(&b, &len);
    if (!s) return {};
    std::unique_ptr<char, json_deleter> guard(s);
    std::string out(s, len);
    if (mode == json_mode::relaxed) fix_relaxed_dates(out);
    return out;
}

bool operator==(const document_view& a, const document_view& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
}

document document::from_json(std::string_view json) {
    // Fast path: without a NUL escape there is nothing libbson can cut.
    if (json.find("\\u0000") == std::string_view::npos) return parse_json(json);
    auto cp = unused_private_use(json);
    auto masked = mask_code_nuls(json, cp ? fmt::format("\\u{:04X}", static_cast<std::uint32_t>(*cp)) : "");
    if (!masked) return parse_json(json);
    if (!cp) throw morm::error(errc::invalid_argument, "extended JSON: no free code point to carry NULs in $code");
    document parsed = parse_json(*masked), out;
    bson_iter_t it;
    if (!parsed.view().init_iter(it) || !unmask(it, out.get(), utf8_of(*cp)))
        throw morm::error(errc::invalid_argument, "extended JSON: document too large");
    return out;
}

bool append_code(bson_t* dst, std::string_view key, std::string_view code) noexcept try {
    auto doc = start_element(BSON_TYPE_CODE, key);
    if (!doc) return false;
    put_string(*doc, code);
    return finish_element(dst, *doc);
} catch (const std::bad_alloc&) {
    return false;
}

bool append_code_w_scope(bson_t* dst, std::string_view key, std::string_view code, document_view scope) noexcept try {
    auto doc = start_element(BSON_TYPE_CODEWSCOPE, key);
    if (!doc || !scope.data() || scope.size() < 5) return false;
    put_i32(*doc, 4 + 4 + code.size() + 1 + scope.size());  // total, string, scope
    put_string(*doc, code);
    doc->append(reinterpret_cast<const char*>(scope.data()), scope.size());
    return finish_element(dst, *doc);
} catch (const std::bad_alloc&) {
    return false;
}

document document::from_bytes(const std::uint8_t* data, std::size_t size) {
    std::string path;
    if (validation v = validate(data, size, &path); !v.ok())
        throw morm::error(errc::protocol, "invalid BSON document: " + describe(v, path));
    bson_t b;
    bson_init_static(&b, data, size);
    document d;
    bson_destroy(&d.doc_);
    bson_copy_to(&b, &d.doc_);
    return d;
}

}  // namespace morm::bson
