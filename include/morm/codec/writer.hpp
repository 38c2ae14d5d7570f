// The one BSON writer of the codec: an output cursor over the spare capacity of a growable
// byte buffer, and the element writer handed to bson_traits<T>::write.
//
// Every encoding (encode_raw into a frame buffer, encode_into a bson_t, the identity key of
// an id, a query operand) goes through raw_writer, so they produce the same bytes by
// construction. The buffer is duck-typed with the interface of morm::bson::byte_buffer:
// data(), size(), capacity(), reserve(n) (keeps the first size() bytes),
// set_size_unchecked(n). The writer writes past size() into the reserved capacity and the
// caller publishes the final size at the end, so growth is rare.
#pragma once

#include <morm/codec/detail/common.hpp>
#include <morm/detail/text.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace morm::codec {

/// Largest document MongoDB accepts (maxBsonObjectSize).
inline constexpr std::size_t max_document_size = 16 * 1024 * 1024;

namespace detail {

/// Output cursor over the spare capacity of a buffer. `pos` is an absolute offset in the
/// buffer; bytes in [out.size(), pos) are written but not yet published.
template <class Buffer>
struct raw_writer {
    Buffer& out;
    std::uint8_t* base;
    std::size_t pos;
    std::size_t cap;

    /// Makes room for `n` more bytes at `pos`.
    [[gnu::always_inline]] void ensure(std::size_t n) {
        if (n > cap - pos) [[unlikely]]
            grow(n);
    }
    [[gnu::noinline]] void grow(std::size_t n) {
        out.set_size_unchecked(pos);  // reserve() preserves size() bytes: make ours count
        out.reserve(std::max(pos + n, cap * 2));
        base = out.data();
        cap = out.capacity();
    }

    [[gnu::always_inline]] void u8(std::uint8_t b) noexcept { base[pos++] = b; }
    [[gnu::always_inline]] void bytes(const void* p, std::size_t n) noexcept {
        std::memcpy(base + pos, p, n);
        pos += n;
    }
    [[gnu::always_inline]] void i32(std::int32_t v) noexcept {
        const std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        bytes(&u, 4);
    }
    [[gnu::always_inline]] void i64(std::int64_t v) noexcept {
        const std::uint64_t u = BSON_UINT64_TO_LE(static_cast<std::uint64_t>(v));
        bytes(&u, 8);
    }
    [[gnu::always_inline]] void f64(double d) noexcept {
        std::uint64_t u;
        std::memcpy(&u, &d, 8);
        u = BSON_UINT64_TO_LE(u);
        bytes(&u, 8);
    }
    [[gnu::always_inline]] void i32_at(std::size_t at, std::int32_t v) noexcept {
        const std::uint32_t u = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(v));
        std::memcpy(base + at, &u, 4);
    }
    /// Type byte and key. The caller has ensured 1 + k.wsize() + payload bytes.
    template <class K>
    [[gnu::always_inline]] void header(std::uint8_t type, const K& k) noexcept {
        base[pos] = type;
        k.write(base + pos + 1);
        pos += 2 + k.size();
    }
    /// Starts an embedded document/array: header + length placeholder; returns its offset.
    template <class K>
    std::size_t open(std::uint8_t type, const K& k) {
        ensure(1 + k.wsize() + 4);
        header(type, k);
        const std::size_t at = pos;
        pos += 4;
        return at;
    }
    void close(std::size_t at) {
        ensure(1);
        u8(0);
        i32_at(at, static_cast<std::int32_t>(pos - at));
    }
};

// ---- keys ------------------------------------------------------------------------------
// size(): key length without NUL; wsize(): bytes write() touches (NUL included).

/// The stored name of field I of T, with its NUL, as a compile-time constant.
template <class T, std::size_t I>
struct field_key {
    static constexpr std::string_view name = struct_traits<T>::template field<I>().name;
    static constexpr std::array<char, name.size() + 1> z = [] {
        std::array<char, name.size() + 1> a{};
        for (std::size_t i = 0; i < name.size(); ++i) a[i] = name[i];
        return a;
    }();
    static constexpr std::size_t size() noexcept { return name.size(); }
    static constexpr std::size_t wsize() noexcept { return name.size() + 1; }
    void write(std::uint8_t* p) const noexcept { std::memcpy(p, z.data(), z.size()); }
    std::string_view view() const noexcept { return name; }
};

/// A key known only at run time (map keys, query operands, identity keys).
struct dyn_key {
    const char* s;
    std::size_t n;
    std::size_t size() const noexcept { return n; }
    std::size_t wsize() const noexcept { return n + 1; }
    void write(std::uint8_t* p) const noexcept {
        if (n) std::memcpy(p, s, n);
        p[n] = 0;
    }
    std::string_view view() const noexcept { return {s, n}; }
};

/// "0".."999" NUL-padded to 4 bytes, so an index key is one 4-byte store.
inline constexpr auto index_key_table = [] {
    std::array<std::array<char, 4>, 1000> t{};
    for (unsigned i = 0; i < 1000; ++i) {
        char* p = t[i].data();
        if (i >= 100) *p++ = static_cast<char>('0' + i / 100);
        if (i >= 10) *p++ = static_cast<char>('0' + i / 10 % 10);
        *p = static_cast<char>('0' + i % 10);
    }
    return t;
}();

/// Array index key ("0", "1", ...).
struct index_key {
    char buf[12];
    std::size_t n;
    explicit index_key(std::uint32_t i) noexcept {
        if (i < 1000) [[likely]] {
            std::memcpy(buf, index_key_table[i].data(), 4);
            n = i >= 100 ? 3 : i >= 10 ? 2 : 1;
        } else {
            n = static_cast<std::size_t>(std::to_chars(buf, buf + 11, i).ptr - buf);
            buf[n] = 0;
        }
    }
    std::size_t size() const noexcept { return n; }
    std::size_t wsize() const noexcept { return n < 4 ? 4 : n + 1; }
    void write(std::uint8_t* p) const noexcept {
        if (n < 4) [[likely]] std::memcpy(p, buf, 4);
        else std::memcpy(p, buf, n + 1);
    }
    std::string_view view() const noexcept { return {buf, n}; }
};

inline bool valid_utf8(const char* s, std::size_t n) noexcept { return morm::detail::valid_text(s, n); }

/// A byte_buffer-like sink over a std::string (identity keys are strings).
struct string_sink {
    std::string& s;
    std::size_t n = 0;
    std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(s.data()); }
    std::size_t size() const noexcept { return n; }
    std::size_t capacity() const noexcept { return s.size(); }
    void reserve(std::size_t c) {
        if (c > s.size()) s.resize(c);
    }
    void set_size_unchecked(std::size_t m) noexcept { n = m; }
};

}  // namespace detail

/// \brief Writes exactly one BSON element (its type byte, the key chosen by the caller, and
/// the payload): the writer handed to `bson_traits<T>::write`.
///
/// Each call below writes the whole element and returns true; call one of them once.
/// `fail(reason)` records an encode error (the codec prefixes the field path) and returns
/// false, which write() then returns. `value(u)` writes `u` through its own bson_traits,
/// under the same key (a strong id type delegates to its underlying value this way).
template <class Buffer, class Key>
class value_writer {
public:
    value_writer(detail::raw_writer<Buffer>& w, const Key& k, detail::error_context& ctx) noexcept
        : w_(w), k_(k), ctx_(ctx) {}

    [[gnu::always_inline]] bool null() { return fixed(BSON_TYPE_NULL, 0); }
    [[gnu::always_inline]] bool boolean(bool b) { return fixed(BSON_TYPE_BOOL, 1) && (w_.u8(b ? 1 : 0), true); }
    [[gnu::always_inline]] bool int32(std::int32_t v) { return fixed(BSON_TYPE_INT32, 4) && (w_.i32(v), true); }
    [[gnu::always_inline]] bool int64(std::int64_t v) { return fixed(BSON_TYPE_INT64, 8) && (w_.i64(v), true); }
    [[gnu::always_inline]] bool double_(double v) { return fixed(BSON_TYPE_DOUBLE, 8) && (w_.f64(v), true); }
    /// UTC milliseconds since the Unix epoch.
    [[gnu::always_inline]] bool date(std::int64_t ms) { return fixed(BSON_TYPE_DATE_TIME, 8) && (w_.i64(ms), true); }
    bool object_id(const std::uint8_t (&b)[12]) { return object_id(&b[0]); }
    [[gnu::always_inline]] bool object_id(const std::uint8_t* b12) { return fixed(BSON_TYPE_OID, 12) && (w_.bytes(b12, 12), true); }
    [[gnu::always_inline]] bool decimal128(const bson_decimal128_t& d) {
        return fixed(BSON_TYPE_DECIMAL128, 16) && (w_.i64(static_cast<std::int64_t>(d.low)),
                                                    w_.i64(static_cast<std::int64_t>(d.high)), true);
    }
    /// A UTF-8 string; invalid UTF-8 or a NUL is an encode error.
    [[gnu::always_inline]] bool utf8(std::string_view s) {
        if (!detail::valid_utf8(s.data(), s.size())) return fail("invalid UTF-8 in string");
        return utf8_unchecked(s.data(), s.size());
    }
    /// A string element without validation (libbson's bson_append_value does not check).
    [[gnu::always_inline]] bool utf8_unchecked(const char* s, std::size_t n) {
        w_.ensure(1 + k_.wsize() + 4 + n + 1);
        w_.header(BSON_TYPE_UTF8, k_);
        w_.i32(static_cast<std::int32_t>(n + 1));
        if (n) w_.bytes(s, n);
        w_.u8(0);
        return true;
    }
    /// Binary data with its subtype (BSON_SUBTYPE_UUID = 4 for UUIDs).
    bool binary(std::uint8_t subtype, const void* data, std::size_t n) {
        // The deprecated "old binary" subtype nests a second length, as libbson writes it.
        const bool old = subtype == BSON_SUBTYPE_BINARY_DEPRECATED;
        w_.ensure(1 + k_.wsize() + 4 + 1 + 4 + n);
        w_.header(BSON_TYPE_BINARY, k_);
        w_.i32(static_cast<std::int32_t>(old ? n + 4 : n));
        w_.u8(subtype);
        if (old) w_.i32(static_cast<std::int32_t>(n));
        if (n) w_.bytes(data, n);
        return true;
    }
    /// A complete element of `type` whose payload is `n` bytes already encoded.
    bool raw(bson_type_t type, const void* payload, std::size_t n) {
        w_.ensure(1 + k_.wsize() + n);
        w_.header(static_cast<std::uint8_t>(type), k_);
        if (n) w_.bytes(payload, n);
        return true;
    }
    /// Writes `u` through bson_traits<U>, under this writer's key.
    template <class U>
    bool value(const U& u);

    /// Records an encode error ("<field path>: <reason>") and returns false.
    bool fail(std::string reason) { return ctx_.fail(errc::encode_error, std::move(reason)); }

    // For container and document traits: the underlying writer, key and error context.
    detail::raw_writer<Buffer>& raw_writer() noexcept { return w_; }
    const Key& key() const noexcept { return k_; }
    detail::error_context& context() noexcept { return ctx_; }

private:
    [[gnu::always_inline]] bool fixed(bson_type_t t, std::size_t payload) {
        w_.ensure(1 + k_.wsize() + payload);
        w_.header(static_cast<std::uint8_t>(t), k_);
        return true;
    }

    detail::raw_writer<Buffer>& w_;
    const Key& k_;
    detail::error_context& ctx_;
};

}  // namespace morm::codec
