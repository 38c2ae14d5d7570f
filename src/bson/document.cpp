#include <morm/bson/document.hpp>
#include <morm/error.hpp>

#include <cstring>
#include <memory>

namespace morm::bson {

namespace {

struct json_deleter {
    void operator()(char* p) const noexcept { bson_free(p); }
};

// libbson 1.23's bson_validate(BSON_VALIDATE_UTF8) lets invalid UTF-8 through, so check
// keys and string values ourselves after its structural check.
bool utf8_ok(bson_iter_t& it, int depth) noexcept {
    if (depth > 100) return false;
    while (bson_iter_next(&it)) {
        if (!bson_utf8_validate(bson_iter_key(&it), bson_iter_key_len(&it), false)) return false;
        switch (bson_iter_type(&it)) {
        case BSON_TYPE_UTF8:
        case BSON_TYPE_SYMBOL:
        case BSON_TYPE_CODE: {
            std::uint32_t len = 0;
            const char* s = bson_iter_type(&it) == BSON_TYPE_UTF8     ? bson_iter_utf8(&it, &len)
                            : bson_iter_type(&it) == BSON_TYPE_SYMBOL ? bson_iter_symbol(&it, &len)
                                                                      : bson_iter_code(&it, &len);
            if (!bson_utf8_validate(s, len, true)) return false;
            break;
        }
        case BSON_TYPE_DOCUMENT:
        case BSON_TYPE_ARRAY: {
            bson_iter_t child;
            if (!bson_iter_recurse(&it, &child) || !utf8_ok(child, depth + 1)) return false;
            break;
        }
        default:
            break;
        }
    }
    return it.err_off == 0;
}

}  // namespace

bool document_view::valid() const noexcept {
    bson_t b;
    if (!data_ || !bson_init_static(&b, data_, size_)) return false;
    std::size_t offset = 0;
    if (!bson_validate(&b, BSON_VALIDATE_NONE, &offset)) return false;
    bson_iter_t it;
    return bson_iter_init(&it, &b) && utf8_ok(it, 0);
}

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
    return std::string(s, len);
}

bool operator==(const document_view& a, const document_view& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
}

document document::from_json(std::string_view json) {
    bson_t b;
    bson_error_t err;
    if (!bson_init_from_json(&b, json.data(), static_cast<ssize_t>(json.size()), &err))
        throw morm::error(errc::invalid_argument, std::string("invalid extended JSON: ") + err.message);
    return adopt(b);
}

document document::from_bytes(const std::uint8_t* data, std::size_t size) {
    if (!document_view(data, size).valid()) throw morm::error(errc::protocol, "invalid BSON document");
    bson_t b;
    bson_init_static(&b, data, size);
    document d;
    bson_destroy(&d.doc_);
    bson_copy_to(&b, &d.doc_);
    return d;
}

}  // namespace morm::bson
