// Owning BSON document and non-owning view over libbson.
//
// `document` owns a `bson_t` (small documents live inline, larger ones on the heap, exactly
// as libbson decides); `document_view` is a pointer + length into bytes owned elsewhere,
// e.g. a reply buffer, and is what decoding reads from.
#pragma once

#include <morm/bson/validate.hpp>

#include <bson/bson.h>
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace morm::bson {

/// Flavour of MongoDB Extended JSON v2 produced by `to_json`.
enum class json_mode {
    relaxed,   ///< numbers as JSON numbers, dates as ISO-8601 where possible
    canonical  ///< every type explicit ({"$numberInt": "1"}), lossless
};

/// Non-owning view of a BSON document: `size` bytes at `data`, which must outlive the view.
///
/// A default view is empty and invalid. Functions other than `valid()` assume the bytes are
/// structurally valid BSON; check `valid()` first for untrusted input.
class document_view {
public:
    /// Forward iteration over the top-level elements; `*it` is a positioned `bson_iter_t`.
    class iterator {
    public:
        using value_type = bson_iter_t;
        using difference_type = std::ptrdiff_t;
        iterator() noexcept = default;
        const bson_iter_t& operator*() const noexcept { return it_; }
        const bson_iter_t* operator->() const noexcept { return &it_; }
        iterator& operator++() noexcept {
            if (!bson_iter_next(&it_)) end_ = true;
            return *this;
        }
        void operator++(int) noexcept { ++*this; }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            // Only "is at end" comparisons are meaningful for an input range.
            return a.end_ == b.end_ && (a.end_ || a.it_.off == b.it_.off);
        }

    private:
        friend class document_view;
        bson_iter_t it_{};
        bool end_ = true;
    };

    constexpr document_view() noexcept = default;
    constexpr document_view(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
    /// Views the bytes of a libbson document (which must outlive the view).
    document_view(const bson_t* b) noexcept : data_(bson_get_data(b)), size_(b->len) {}

    const std::uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

    /// True if the bytes are exactly one BSON document that passes every decode rule of the
    /// BSON specification and nests at most `max_depth` levels (see `bson::validate`, which
    /// also says why and where). Iterative: safe on any input.
    bool valid() const noexcept { return bson::validate(data_, size_).ok(); }

    /// True if the document has no elements (also true for an invalid view).
    bool empty() const noexcept { return size_ <= 5; }

    /// Initializes `it` on this document; false if the header is malformed.
    bool init_iter(bson_iter_t& it) const noexcept {
        return data_ && bson_iter_init_from_data(&it, data_, size_);
    }

    iterator begin() const noexcept;
    iterator end() const noexcept { return {}; }

    /// Finds an element by dotted path ("a.b.0.c"); nullopt if absent.
    std::optional<bson_iter_t> find(std::string_view dotted_path) const;

    /// Extended JSON of the document (empty string if the bytes are not valid BSON).
    std::string to_json(json_mode mode = json_mode::relaxed) const;

    /// Byte-wise equality.
    friend bool operator==(const document_view& a, const document_view& b) noexcept;

private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

/// An owning BSON document. Default-constructed = empty document `{}`.
/// Copyable (deep copy) and cheaply movable; a moved-from document is empty.
class document {
public:
    document() noexcept { bson_init(&doc_); }
    ~document() { bson_destroy(&doc_); }
    document(const document& other) { bson_copy_to(&other.doc_, &doc_); }
    document(document&& other) noexcept { steal_from(other.doc_); }
    document& operator=(const document& other) {
        if (this != &other) {
            bson_destroy(&doc_);
            bson_copy_to(&other.doc_, &doc_);
        }
        return *this;
    }
    document& operator=(document&& other) noexcept {
        if (this != &other) {
            bson_destroy(&doc_);
            steal_from(other.doc_);
        }
        return *this;
    }

    /// Takes ownership of the contents of `src` (which is left empty and re-initialized);
    /// `src` must be a top-level document initialized in place (bson_init / bson_init_from_json,
    /// not bson_new) and not a child being built.
    static document adopt(bson_t& src) noexcept {
        document d;
        bson_destroy(&d.doc_);
        d.steal_from(src);
        return d;
    }

    /// Parses (relaxed or canonical) Extended JSON. Throws `morm::error` (invalid_argument)
    /// with libbson's message on bad input. A `\u0000` in a `$code` string stays a NUL byte.
    static document from_json(std::string_view json);

    /// Copies and validates BSON bytes. Throws `morm::error` (protocol) if they are not a
    /// valid document (see `document_view::valid`); the message says what is wrong and where.
    static document from_bytes(const std::uint8_t* data, std::size_t size);
    static document from_bytes(document_view v) { return from_bytes(v.data(), v.size()); }

    bson_t* get() noexcept { return &doc_; }
    const bson_t* get() const noexcept { return &doc_; }
    const std::uint8_t* data() const noexcept { return bson_get_data(&doc_); }
    std::size_t size() const noexcept { return doc_.len; }
    bool empty() const noexcept { return doc_.len <= 5; }
    document_view view() const noexcept { return {data(), size()}; }
    operator document_view() const noexcept { return view(); }

    /// Replaces the contents with a copy of `v` (not validated: for bytes already trusted,
    /// e.g. a sub-document of a parsed reply). An unparseable header leaves the document empty.
    void assign(document_view v) noexcept {
        bson_t src;
        bson_destroy(&doc_);
        if (v.data() && bson_init_static(&src, v.data(), v.size())) bson_copy_to(&src, &doc_);
        else bson_init(&doc_);
    }

    /// Removes all elements.
    void clear() noexcept {
        bson_reinit(&doc_);
    }

    std::optional<bson_iter_t> find(std::string_view dotted_path) const { return view().find(dotted_path); }
    std::string to_json(json_mode mode = json_mode::relaxed) const { return view().to_json(mode); }

    friend bool operator==(const document& a, const document& b) noexcept { return a.view() == b.view(); }

private:
    void steal_from(bson_t& src) noexcept {
        // bson_steal re-points the heap buffer bookkeeping at the new struct, which a plain
        // memcpy would not; src is then re-initialized so it stays destroyable.
        if (!bson_steal(&doc_, &src)) {
            bson_copy_to(&src, &doc_);
            bson_destroy(&src);
        }
        bson_init(&src);
    }

    bson_t doc_;
};

/// `validate` on a view.
inline validation validate(document_view v, std::string* path = nullptr) noexcept {
    return validate(v.data(), v.size(), path);
}

/// Appends JavaScript code (BSON 0x0D) under `key`, keeping every byte of `code`: libbson's
/// bson_append_code takes a C string and so stops at the first NUL. False if `dst` would
/// overflow or `key` contains a NUL.
bool append_code(bson_t* dst, std::string_view key, std::string_view code) noexcept;

/// Appends code with scope (BSON 0x0F) under `key`, keeping every byte of `code` (unlike
/// bson_append_code_with_scope). `scope` must be a valid document. False as for `append_code`.
bool append_code_w_scope(bson_t* dst, std::string_view key, std::string_view code, document_view scope) noexcept;

}  // namespace morm::bson

/// Prints relaxed Extended JSON.
template <>
struct fmt::formatter<morm::bson::document_view> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const morm::bson::document_view& d, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(d.to_json(), ctx);
    }
};

template <>
struct fmt::formatter<morm::bson::document> : fmt::formatter<morm::bson::document_view> {
    template <class Ctx>
    auto format(const morm::bson::document& d, Ctx& ctx) const {
        return fmt::formatter<morm::bson::document_view>::format(d.view(), ctx);
    }
};
