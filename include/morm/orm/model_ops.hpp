// Type-erased operations on a model, so that the session's unit of work (non-template
// code in src/orm) can encode, decode and identify objects of any declared model.
// Also: index declarations on models (MORM_INDEXES) and the JSON schema derived from a
// model for optional server-side validation.
#pragma once

#include <morm/bson/byte_buffer.hpp>
#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/client/options.hpp>
#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/encode_raw.hpp>
#include <morm/codec/model.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/hooks.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace morm {

// ------------------------------------------------------------------------ indexes

/// One key of an index: a stored path and a direction (1 / -1) or a type ("text", "2dsphere").
struct index_key {
    std::string path;
    std::int32_t direction = 1;
    std::string type;  ///< non-empty for special indexes
};

template <class T, class V>
index_key asc(V T::*m) { return {std::string(codec::field_name(m)), 1, {}}; }
template <class T, class V>
index_key desc(V T::*m) { return {std::string(codec::field_name(m)), -1, {}}; }
template <class R, class V>
index_key asc(const field_ref<R, V>& f) { return {f.path(), 1, {}}; }
template <class R, class V>
index_key desc(const field_ref<R, V>& f) { return {f.path(), -1, {}}; }

/// Builder for model index declarations: `morm::index(&User::email).unique()`.
class index_builder {
public:
    explicit index_builder(std::vector<index_key> keys) : keys_(std::move(keys)) {}
    index_builder& unique() { opts_.unique = true; return *this; }
    index_builder& sparse() { opts_.sparse = true; return *this; }
    /// TTL index: documents expire `after` the time stored in the (date) field.
    index_builder& ttl(std::chrono::seconds after) { opts_.expire_after = after; return *this; }
    index_builder& name(std::string n) { opts_.name = std::move(n); return *this; }
    index_builder& partial(const filter& f) { opts_.partial_filter = f.document(); return *this; }

    index_model model() const {
        index_model m;
        for (auto& k : keys_) {
            if (!k.type.empty())
                bson_append_utf8(m.keys.get(), k.path.data(), static_cast<int>(k.path.size()), k.type.data(),
                                 static_cast<int>(k.type.size()));
            else
                bson_append_int32(m.keys.get(), k.path.data(), static_cast<int>(k.path.size()), k.direction);
        }
        m.options = opts_;
        return m;
    }

private:
    std::vector<index_key> keys_;
    index_options opts_;
};

namespace detail {
inline index_key to_index_key(index_key k) { return k; }
template <class T, class V>
index_key to_index_key(V T::*m) { return asc(m); }
template <class R, class V>
index_key to_index_key(const field_ref<R, V>& f) { return asc(f); }
}  // namespace detail

/// An index on one or more keys: members (ascending), `desc(&T::m)`, or `field(...)` paths.
template <class... K>
index_builder index(const K&... keys) {
    return index_builder(std::vector<index_key>{detail::to_index_key(keys)...});
}

namespace detail {
template <class... B>
std::vector<index_model> index_models(const B&... b) {
    return {b.model()...};
}
}  // namespace detail

/// Declares the indexes of a model (created by engine::create_all):
///   MORM_INDEXES(User, morm::index(&User::email).unique(), morm::index(&User::name, morm::desc(&User::age)));
#define MORM_INDEXES(T, ...)                                                                       \
    [[maybe_unused]] inline ::std::vector<::morm::index_model> morm_indexes(                      \
        ::morm::codec::detail::type_tag<T>) {                                                      \
        return ::morm::detail::index_models(__VA_ARGS__);                                          \
    }                                                                                              \
    static_assert(true, "")

namespace detail {
template <class T>
concept has_indexes = requires { morm_indexes(codec::detail::type_tag<T>{}); };

}  // namespace detail

/// `{"$jsonSchema": {...}}` validator derived from the model's declared fields and types.
template <codec::model T>
bson::document json_schema_validator() {
    bson::document d;
    bson_t js;
    bson_append_document_begin(d.get(), "$jsonSchema", -1, &js);
    bson_append_utf8(&js, "bsonType", -1, "object", -1);
    bson_traits<T>::append_properties(&js);
    bson_append_document_end(d.get(), &js);
    return d;
}

namespace detail {

/// Everything the session needs to know about a model, erased.
///
/// The id functions fail with errc::invalid_argument (diagnostics name the model and the
/// field) when the id cannot be encoded, e.g. a string id that is not valid UTF-8 or holds
/// a NUL: an operation by id must never go out with a filter that lacks its `_id`.
struct model_ops {
    std::string_view collection;
    const std::type_info* type;
    error_code (*encode_fn)(const void* obj, bson_t* dst, diagnostics* diag);
    error_code (*encode_raw_fn)(const void* obj, bson::byte_buffer& out, diagnostics* diag);
    error_code (*decode_fn)(const std::uint8_t* data, std::size_t len, void* obj, diagnostics* diag);
    error_code (*append_id_fn)(const void* obj, bson_t* dst, std::string_view key, diagnostics* diag);
    error_code (*id_key_fn)(const void* obj, std::string& out, diagnostics* diag);
    /// Generates an id if the object has an empty one (zero ObjectId / empty string).
    void (*ensure_id)(void* obj);
    /// The id as relaxed extended JSON, for error reports; never fails (an id that cannot
    /// be encoded is shown escaped, marked as invalid).
    std::string (*id_json)(const void* obj);
    std::shared_ptr<void> (*make)();
    std::string_view version_field;  ///< empty if the model has no version field
    std::int64_t* (*version)(void* obj);
    std::vector<index_model> (*indexes)();
    bson::document (*schema)();
    /// (former name, current name) of the top-level fields declared with an alias.
    std::vector<std::pair<std::string_view, std::string_view>> renames;

    // ---- polymorphic models (orm/polymorphic.hpp); left empty for every other model ----
    /// The ops of the family's base model: the family's kinds share one collection and one
    /// identity map (the session keys its table by this pointer). Null if not polymorphic.
    const model_ops* family = nullptr;
    std::string_view discriminator;  ///< the field naming the kind, e.g. "kind"
    std::string_view kind;           ///< this kind's stored value (empty for an unlisted base)
    /// An object of this kind (as its own type) -> its base subobject.
    void* (*to_root)(void* obj) = nullptr;
    /// The family's kind whose C++ type is `t` / whose stored value is `value`, or null.
    const model_ops* (*kind_of_type)(const std::type_info& t) = nullptr;
    const model_ops* (*kind_of_value)(std::string_view value) = nullptr;

    // The fallible operations, as [[nodiscard]] calls (a function pointer cannot carry it).
    [[nodiscard]] error_code encode(const void* obj, bson_t* dst, diagnostics* diag) const {
        return encode_fn(obj, dst, diag);
    }
    /// Appends the object as a complete document straight to a frame buffer (hot path).
    [[nodiscard]] error_code encode_raw(const void* obj, bson::byte_buffer& out, diagnostics* diag) const {
        return encode_raw_fn(obj, out, diag);
    }
    [[nodiscard]] error_code decode(const std::uint8_t* data, std::size_t len, void* obj, diagnostics* diag) const {
        return decode_fn(data, len, obj, diag);
    }
    /// Appends the object's id under `key`.
    [[nodiscard]] error_code append_id(const void* obj, bson_t* dst, std::string_view key, diagnostics* diag) const {
        return append_id_fn(obj, dst, key, diag);
    }
    /// Identity-map key: the BSON encoding of the id value (type byte + bytes).
    [[nodiscard]] error_code id_key(const void* obj, std::string& out, diagnostics* diag) const {
        return id_key_fn(obj, out, diag);
    }

    // ---- lifecycle hooks (orm/hooks.hpp): null when the model does not declare one, so a
    // model without hooks costs one pointer test per object.
    hook_fn before_insert = nullptr;
    hook_fn before_update = nullptr;
    hook_fn before_delete = nullptr;
    hook_fn after_load = nullptr;
};

/// Turns a codec failure on an id into errc::invalid_argument naming the model's field.
[[nodiscard]] inline error_code invalid_id(std::string_view collection, diagnostics* diag, const error_code& ec) {
    if (diag) {
        auto why = std::move(diag->message);
        diag->clear();
        diag->message = fmt::format("invalid _id for '{}': {} ({})", collection, why, ec.message());
    }
    return make_error_code(errc::invalid_argument);
}

/// Identity-map key of an id value: the BSON element bytes after the (empty) key, i.e.
/// type byte, NUL, value, written by the codec's one writer; it equals what
/// session::track_loaded (which keys loaded documents from their stored _id element)
/// produces. Fails like codec::encode_value (encode_error naming `_id`) when the value
/// cannot be encoded.
template <class V>
[[nodiscard]] error_code value_key(const V& v, std::string& k, diagnostics* diag) {
    static_assert(codec::identity_type<V>(),
                  "morm: this type cannot be a model's _id (arrays and optionals cannot); see bson_traits::identity");
    k.resize(2 + codec::size_estimate<V>());
    codec::detail::string_sink sink{k};
    codec::detail::raw_writer<codec::detail::string_sink> w{sink, sink.data(), 0, sink.capacity()};
    codec::detail::error_context ctx(diag);
    if (!codec::detail::write_value(w, codec::detail::dyn_key{"", 0}, v, ctx)) {
        ctx.push("_id");
        k.clear();
        return ctx.finish();
    }
    k.resize(w.pos);
    return {};
}

/// value_key() for a model's id: errc::invalid_argument (see invalid_id) on failure.
template <codec::model T>
[[nodiscard]] error_code id_key_of(const typename codec::model_traits<T>::id_type& id, std::string& out,
                                   diagnostics* diag) {
    if (auto ec = value_key(id, out, diag)) return invalid_id(codec::model_traits<T>::collection, diag, ec);
    return {};
}

/// Appends the element `key: <id>` whose identity key is `idkey` (see value_key): the id
/// exactly as the session knows it, even if the object's id member was changed since.
[[nodiscard]] inline bool append_id_from_key(bson_t* dst, std::string_view key, std::string_view idkey) {
    if (idkey.size() < 2) return false;
    // A one-element document {"": value} built around the key bytes, read back by an
    // iterator. It runs once per update/delete statement of a commit: common ids fit the
    // stack buffer, so no allocation.
    const std::size_t size = 4 + idkey.size() + 1;
    std::uint8_t small[64];
    std::string large;
    std::uint8_t* doc = small;
    if (size > sizeof small) {
        large.resize(size);
        doc = reinterpret_cast<std::uint8_t*>(large.data());
    }
    const auto len = BSON_UINT32_TO_LE(static_cast<std::uint32_t>(size));
    std::memcpy(doc, &len, 4);
    std::memcpy(doc + 4, idkey.data(), idkey.size());
    doc[size - 1] = 0;
    bson_iter_t it;
    if (!bson_iter_init_from_data(&it, doc, size) || !bson_iter_next(&it)) return false;
    return bson_append_iter(dst, key.data(), static_cast<int>(key.size()), &it);
}

/// Identity-map key of a stored element (e.g. a loaded document's _id): the same bytes as
/// value_key() of the value, read straight from the element.
inline std::string element_key(const bson_iter_t& it) {
    std::string k;
    const std::size_t n = it.next_off - it.d1;
    k.reserve(2 + n);
    k.push_back(static_cast<char>(bson_iter_type(&it)));
    k.push_back('\0');
    k.append(reinterpret_cast<const char*>(it.raw + it.d1), n);
    return k;
}

/// An id as relaxed extended JSON for messages: `"alice"`, `{"$oid": "..."}`. An id that
/// cannot be encoded is shown with its bytes escaped and marked, e.g. `<invalid: "a\x00">`.
template <class V>
std::string id_json_of(const V& id) {
    bson_t tmp;
    bson_init(&tmp);
    std::string out;
    if (!codec::encode_value(&tmp, "_id", id)) {
        char* s = bson_as_relaxed_extended_json(&tmp, nullptr);
        out = s ? s : "";
        bson_free(s);
        // {"_id" : X} -> X
        auto colon = out.find(':');
        if (colon != std::string::npos && out.size() > colon + 3) out = out.substr(colon + 2, out.size() - colon - 4);
    }
    bson_destroy(&tmp);
    if (!out.empty()) return out;
    if constexpr (std::is_convertible_v<const V&, std::string_view>) {
        std::string_view v = id;
        out = "<invalid: \"";
        for (unsigned char c : v) {
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += static_cast<char>(c);
            else out += fmt::format("\\x{:02x}", c);
        }
        return out + "\">";
    } else {
        return "<invalid id>";
    }
}

/// A model named in a MORM_POLYMORPHIC family (orm/polymorphic.hpp).
template <class T>
concept polymorphic_model = requires { morm_polymorphic_base(codec::detail::type_tag<T>{}); };
/// Fills the polymorphic part of T's ops (defined in orm/polymorphic.hpp).
template <codec::model T>
void bind_polymorphic(model_ops& o, const model_ops* self);

template <codec::model T>
const model_ops& ops_for() {
    using traits = codec::model_traits<T>;
    using id_t = typename traits::id_type;
    static const model_ops ops = [] {
        model_ops o{};
        o.collection = traits::collection;
        o.type = &typeid(T);
        o.encode_fn = [](const void* p, bson_t* dst, diagnostics* d) {
            return codec::encode_into(dst, *static_cast<const T*>(p), d);
        };
        o.encode_raw_fn = [](const void* p, bson::byte_buffer& out, diagnostics* d) {
            return codec::encode_raw(out, *static_cast<const T*>(p), d);
        };
        o.decode_fn = [](const std::uint8_t* data, std::size_t len, void* p, diagnostics* d) {
            return codec::decode(data, len, *static_cast<T*>(p), d);
        };
        o.append_id_fn = [](const void* p, bson_t* dst, std::string_view key, diagnostics* d) -> error_code {
            if (auto ec = codec::encode_value(dst, key, traits::id(*static_cast<const T*>(p)), d))
                return invalid_id(traits::collection, d, ec);
            return {};
        };
        o.id_key_fn = [](const void* p, std::string& out, diagnostics* d) {
            return id_key_of<T>(traits::id(*static_cast<const T*>(p)), out, d);
        };
        o.ensure_id = [](void* p) {
            auto& id = traits::id(*static_cast<T*>(p));
            if constexpr (std::is_same_v<id_t, bson::object_id>) {
                if (id.is_zero()) id = bson::object_id::generate();
            } else if constexpr (std::is_same_v<id_t, std::string>) {
                if (id.empty()) id = bson::object_id::generate().to_hex();
            }
        };
        o.id_json = [](const void* p) { return id_json_of(traits::id(*static_cast<const T*>(p))); };
        o.make = []() -> std::shared_ptr<void> { return std::make_shared<T>(); };
        if constexpr (traits::has_version) {
            o.version_field = codec::struct_traits<T>::template field<traits::version_index>().name;
            o.version = [](void* p) -> std::int64_t* {
                auto& v = static_cast<T*>(p)->*(codec::struct_traits<T>::template field<traits::version_index>().member);
                static_assert(std::is_same_v<std::remove_cvref_t<decltype(v)>, std::int64_t>,
                              "a version field must be std::int64_t");
                return &v;
            };
        } else {
            o.version = [](void*) -> std::int64_t* { return nullptr; };
        }
        o.indexes = []() -> std::vector<index_model> {
            if constexpr (has_indexes<T>) return morm_indexes(codec::detail::type_tag<T>{});
            else return {};
        };
        o.schema = []() { return json_schema_validator<T>(); };
        codec::for_each_field<T>([&](const auto& d) {
            if (!d.former.empty()) o.renames.emplace_back(d.former, d.name);
        });
        o.before_insert = before_insert_hook<T>();
        o.before_update = before_update_hook<T>();
        o.before_delete = before_delete_hook<T>();
        o.after_load = after_load_hook<T>();
        if constexpr (polymorphic_model<T>) bind_polymorphic<T>(o, &ops);
        return o;
    }();
    return ops;
}

/// The ops of the object's dynamic type: for a polymorphic model held through its base,
/// the declared kind it is (errc::invalid_argument if its type is not one); else ops_for<T>().
template <codec::model T>
const model_ops& dynamic_ops(const T& obj) {
    const auto& o = ops_for<T>();
    if constexpr (polymorphic_model<T>) {
        if (typeid(obj) != typeid(T)) {
            if (const auto* k = o.kind_of_type(typeid(obj))) return *k;
            throw error(errc::invalid_argument,
                        fmt::format("an object of type {} is not a declared kind (MORM_POLYMORPHIC) of '{}'",
                                    typeid(obj).name(), o.collection));
        }
    }
    return o;
}
/// The pointer the ops of dynamic_ops(*p) take: the most-derived object for a polymorphic model.
template <codec::model T>
void* erased_ptr(T* p) noexcept {
    if constexpr (polymorphic_model<T>) return dynamic_cast<void*>(p);
    else return p;
}
template <codec::model T>
const void* erased_ptr(const T* p) noexcept {
    if constexpr (polymorphic_model<T>) return dynamic_cast<const void*>(p);
    else return p;
}

/// ops_for<T>() writing to `collection` instead of T's declared one (see session::add_to).
/// Interned, one per (T, name) for the life of the process: sessions and the engine's
/// model registry keep pointers to it.
template <codec::model T>
const model_ops& ops_for_collection(std::string_view collection) {
    if (collection == codec::model_traits<T>::collection) return ops_for<T>();
    static std::mutex mtx;
    static std::map<std::string, model_ops, std::less<>> bound;  // nodes never move
    std::lock_guard lk(mtx);
    auto it = bound.find(collection);
    if (it == bound.end()) {
        it = bound.emplace(std::string(collection), ops_for<T>()).first;
        it->second.collection = it->first;
    }
    return it->second;
}

}  // namespace detail
}  // namespace morm
