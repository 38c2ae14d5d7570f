#include <morm/bson/validate.hpp>

#include <bson/bson.h>
#include <fmt/format.h>

#include <cstring>

namespace morm::bson {

namespace {

using u8 = std::uint8_t;
constexpr std::uint32_t no_key = UINT32_MAX;

std::int32_t le32(const u8* p) noexcept {
    std::uint32_t u;
    std::memcpy(&u, p, 4);
    return static_cast<std::int32_t>(BSON_UINT32_FROM_LE(u));
}

// Index of the first byte that does not start a well-formed UTF-8 sequence (Unicode
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF), or n.
std::size_t utf8_error(const u8* s, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
        // Keys and most text are ASCII: skip 8 bytes at a time while no high bit is set.
        while (n - i >= 8) {
            std::uint64_t w;
            std::memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        const u8 c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        u8 lo = 0x80, hi = 0xBF;  // allowed range of the second byte
        if (c < 0xC2) return i;   // continuation byte, or overlong 2-byte form
        if (c < 0xE0) {
            len = 2;
        } else if (c < 0xF0) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;       // overlong
            else if (c == 0xED) hi = 0x9F;  // surrogates
        } else if (c < 0xF5) {
            len = 4;
            if (c == 0xF0) lo = 0x90;       // overlong
            else if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (std::size_t k = 2; k < len; ++k)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return n;
}

// The walk. Positions are absolute offsets into the document. Each open document or array
// is a frame holding its end (one past its 0 byte) and the offset of the key that opened
// it, for error paths. Invariant while a frame is open: its last byte is 0, so an element
// whose value stays before that byte cannot run past its parent.
class validator {
public:
    validator(const u8* data, std::size_t size) noexcept : d_(data), n_(size) {}

    validation run() noexcept {
        if (!d_ || n_ < 5) return {"document is shorter than 5 bytes", 0};
        const std::int32_t len = le32(d_);
        if (len < 5) return {"document length is below 5", 0};
        if (static_cast<std::size_t>(len) > n_) return {"document length exceeds the bytes given", 0};
        if (static_cast<std::size_t>(len) < n_) return {"bytes follow the end of the document", static_cast<std::size_t>(len)};
        if (!push(0, n_, no_key)) return err_;
        std::size_t pos = 4;
        while (depth_ > 0) {
            if (d_[pos] != 0) {
                if (!element(pos)) return err_;
            } else if (pos + 1 != stack_[depth_ - 1].end) {
                fail("document ends (0 byte) before its declared length", pos);
                return err_;
            } else {
                ++pos;
                --depth_;
            }
        }
        return {};
    }

    /// Dotted path of the failing element: the keys of the open frames, then its own key.
    void path(std::string& out) const {
        out.clear();
        auto add = [&](std::uint32_t key) {
            if (!out.empty()) out.push_back('.');
            out.append(reinterpret_cast<const char*>(d_ + key));
        };
        for (std::size_t i = 1; i < depth_; ++i) add(stack_[i].key);
        if (err_key_ != no_key) add(err_key_);
    }

private:
    struct frame {
        std::uint32_t end;
        std::uint32_t key;
    };

    bool fail(const char* why, std::size_t at, std::uint32_t key = no_key) noexcept {
        err_ = {why, at};
        err_key_ = key;
        return false;
    }

    // Opens the document of `len` bytes at `start` (its length already checked to fit).
    bool push(std::size_t start, std::size_t len, std::uint32_t key) noexcept {
        static_assert(max_depth == 200, "update the message below");
        if (depth_ == max_depth) return fail("documents nested deeper than 200 levels", start, key);
        if (d_[start + len - 1] != 0) return fail("document does not end with a 0 byte", start + len - 1, key);
        stack_[depth_++] = {static_cast<std::uint32_t>(start + len), key};
        return true;
    }

    // A BSON string at v ending before `limit`; `next` receives the offset after it.
    bool string(std::size_t v, std::size_t limit, std::size_t& next, std::uint32_t k) noexcept {
        if (limit - v < 4) return fail("string length is cut off by the end of its document", v, k);
        const std::int32_t n = le32(d_ + v);
        if (n < 1) return fail("string length is zero or negative", v, k);
        if (static_cast<std::size_t>(n) > limit - v - 4) return fail("string overruns its document", v, k);
        const std::size_t s = v + 4, nul = s + static_cast<std::size_t>(n) - 1;
        if (d_[nul] != 0) return fail("string does not end with a NUL byte", nul, k);
        if (std::size_t bad = utf8_error(d_ + s, nul - s); bad != nul - s)
            return fail("string is not valid UTF-8", s + bad, k);
        next = nul + 1;
        return true;
    }

    // A C string at v ending before `limit` (regex pattern or options).
    bool cstring(std::size_t v, std::size_t limit, std::size_t& next, std::uint32_t k, const char* unterminated,
                 const char* bad_utf8) noexcept {
        const void* nul = v < limit ? std::memchr(d_ + v, 0, limit - v) : nullptr;
        if (!nul) return fail(unterminated, v, k);
        const std::size_t e = static_cast<std::size_t>(static_cast<const u8*>(nul) - d_);
        if (std::size_t bad = utf8_error(d_ + v, e - v); bad != e - v) return fail(bad_utf8, v + bad, k);
        next = e + 1;
        return true;
    }

    bool binary(std::size_t v, std::size_t limit, std::size_t& pos, std::uint32_t k) noexcept {
        if (limit - v < 5) return fail("binary header is cut off by the end of its document", v, k);
        const std::int32_t n = le32(d_ + v);
        if (n < 0) return fail("binary length is negative", v, k);
        if (static_cast<std::size_t>(n) > limit - v - 5) return fail("binary overruns its document", v, k);
        if (d_[v + 4] == BSON_SUBTYPE_BINARY_DEPRECATED) {
            if (n < 4) return fail("old binary (subtype 2) is too short for its inner length", v, k);
            if (le32(d_ + v + 5) != n - 4)
                return fail("old binary (subtype 2) inner length does not match its length", v + 5, k);
        }
        pos = v + 5 + static_cast<std::size_t>(n);
        return true;
    }

    bool embedded(std::size_t v, std::size_t limit, std::size_t& pos, std::uint32_t k) noexcept {
        if (limit - v < 4) return fail("embedded document length is cut off by the end of its document", v, k);
        const std::int32_t n = le32(d_ + v);
        if (n < 5) return fail("embedded document length is below 5", v, k);
        if (static_cast<std::size_t>(n) > limit - v) return fail("embedded document overruns its parent", v, k);
        if (!push(v, static_cast<std::size_t>(n), k)) return false;
        pos = v + 4;
        return true;
    }

    // int32 total, code string, scope document; total must be exactly their sum.
    bool code_w_scope(std::size_t v, std::size_t limit, std::size_t& pos, std::uint32_t k) noexcept {
        if (limit - v < 4) return fail("code with scope length is cut off by the end of its document", v, k);
        const std::int32_t total = le32(d_ + v);
        if (total < 14) return fail("code with scope length is below its minimum of 14", v, k);
        if (static_cast<std::size_t>(total) > limit - v) return fail("code with scope overruns its document", v, k);
        const std::size_t end = v + static_cast<std::size_t>(total);
        std::size_t scope = 0;
        if (!string(v + 4, end - 5, scope, k)) return false;  // leaves room for a scope
        if (static_cast<std::int64_t>(le32(d_ + scope)) != static_cast<std::int64_t>(end - scope))
            return fail("code with scope length does not match its code and scope", v, k);
        if (!push(scope, end - scope, k)) return false;
        pos = scope + 4;
        return true;
    }

    // The element whose type byte (not 0) is at pos; advances pos past it.
    bool element(std::size_t& pos) noexcept {
        const u8 type = d_[pos];
        const std::size_t limit = stack_[depth_ - 1].end - 1;  // the parent's 0 byte
        const std::size_t key = pos + 1;
        const void* nul = key < limit ? std::memchr(d_ + key, 0, limit - key) : nullptr;
        if (!nul) return fail("element key is not terminated inside its document", key);
        const std::size_t v = static_cast<std::size_t>(static_cast<const u8*>(nul) - d_) + 1;
        if (std::size_t bad = utf8_error(d_ + key, v - 1 - key); bad != v - 1 - key)
            return fail("element key is not valid UTF-8", key + bad);
        const auto k = static_cast<std::uint32_t>(key);
        std::size_t need = 0, next = 0;
        switch (type) {
        case BSON_TYPE_UNDEFINED: case BSON_TYPE_NULL: case BSON_TYPE_MAXKEY: case BSON_TYPE_MINKEY: need = 0; break;
        case BSON_TYPE_BOOL: need = 1; break;
        case BSON_TYPE_INT32: need = 4; break;
        case BSON_TYPE_DOUBLE: case BSON_TYPE_DATE_TIME: case BSON_TYPE_TIMESTAMP: case BSON_TYPE_INT64: need = 8; break;
        case BSON_TYPE_OID: need = 12; break;
        case BSON_TYPE_DECIMAL128: need = 16; break;
        case BSON_TYPE_UTF8: case BSON_TYPE_CODE: case BSON_TYPE_SYMBOL: return string(v, limit, pos, k);
        case BSON_TYPE_DBPOINTER:
            if (!string(v, limit, next, k)) return false;
            if (limit - next < 12) return fail("DBPointer id is cut off by the end of its document", next, k);
            pos = next + 12;
            return true;
        case BSON_TYPE_REGEX:
            return cstring(v, limit, next, k, "regex pattern is not terminated inside its document",
                           "regex pattern is not valid UTF-8") &&
                   cstring(next, limit, pos, k, "regex options are not terminated inside their document",
                           "regex options are not valid UTF-8");
        case BSON_TYPE_BINARY: return binary(v, limit, pos, k);
        case BSON_TYPE_DOCUMENT: case BSON_TYPE_ARRAY: return embedded(v, limit, pos, k);
        case BSON_TYPE_CODEWSCOPE: return code_w_scope(v, limit, pos, k);
        default: return fail("unknown element type", pos, k);
        }
        if (need > limit - v) return fail("value is cut off by the end of its document", v, k);
        if (type == BSON_TYPE_BOOL && d_[v] > 1) return fail("boolean is neither 0 nor 1", v, k);
        pos = v + need;
        return true;
    }

    const u8* d_;
    std::size_t n_;
    frame stack_[max_depth];
    std::size_t depth_ = 0;
    validation err_;
    std::uint32_t err_key_ = no_key;
};

}  // namespace

bool utf8_valid(const std::uint8_t* data, std::size_t size) noexcept { return utf8_error(data, size) == size; }

validation validate(const std::uint8_t* data, std::size_t size, std::string* path) noexcept {
    validator v(data, size);
    validation r = v.run();
    if (!r.ok() && path) try {
            v.path(*path);
        } catch (...) {  // out of memory while describing: the verdict stands
            path->clear();
        }
    return r;
}

std::string describe(const validation& v, std::string_view path) {
    if (v.ok()) return "valid";
    std::string s = fmt::format("{} at byte {}", v.reason, v.offset);
    if (!path.empty()) s += fmt::format(" (field '{}')", path);
    return s;
}

}  // namespace morm::bson
