// Loading the targets of morm::ref members without N+1 queries: the machinery behind
// query<T>::load(), load_children() and join() (query.hpp) and session::children().
// Included by <morm/orm/session.hpp>.
//
// Forward (load): after each result batch, the ids that the refs of the batch point at and
// that the session does not hold yet go out in ONE `{_id: {$in: [...]}}` find per
// referenced model; every ref's target is then the session's tracked object (one per _id).
// Objects already in the session are not fetched again (their local state wins).
// Nested paths load one level per round trip.
// A ref whose target does not exist (dangling id) stays unloaded, no error: get() is
// nullptr. So does a ref to an object the session has staged for deletion.
//
// The functions take the session as a template parameter: session.hpp includes this header
// (for session::children()).
#pragma once

#include <morm/bson/document.hpp>
#include <morm/client/cursor.hpp>
#include <morm/client/options.hpp>
#include <morm/codec/model.hpp>
#include <morm/orm/model_ops.hpp>
#include <morm/orm/ref.hpp>

#include <boost/asio/awaitable.hpp>

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace morm::detail {

/// What a member holding references looks like: ref<U>, std::vector<ref<U>>,
/// std::optional<ref<U>>. `each` calls f(ref&) for every reference it holds.
template <class V>
struct ref_member {
    static constexpr bool value = false;
    using target = void;
};
template <class U, class Id>
struct ref_member<ref<U, Id>> {
    static constexpr bool value = true;
    static constexpr bool many = false;
    using target = U;
    using ref_type = ref<U, Id>;
    template <class F>
    static void each(ref_type& r, F&& f) { f(r); }
};
template <class U, class Id>
struct ref_member<std::vector<ref<U, Id>>> {
    static constexpr bool value = true;
    static constexpr bool many = true;
    using target = U;
    using ref_type = ref<U, Id>;
    template <class F>
    static void each(std::vector<ref_type>& v, F&& f) {
        for (auto& r : v) f(r);
    }
};
template <class U, class Id>
struct ref_member<std::optional<ref<U, Id>>> {
    static constexpr bool value = true;
    static constexpr bool many = false;
    using target = U;
    using ref_type = ref<U, Id>;
    template <class F>
    static void each(std::optional<ref_type>& o, F&& f) {
        if (o) f(*o);
    }
};

/// `&C::m` where m is a ref<U>, a vector of them or an optional one.
template <class M>
struct ref_pointer {
    static constexpr bool value = false;
    using owner = void;
    using target = void;
};
template <class C, class V>
struct ref_pointer<V C::*> {
    static constexpr bool value = ref_member<V>::value && codec::model<C>;
    using owner = C;
    using target = typename ref_member<V>::target;
};

/// `m1, m2, ...` is a path of ref members starting at T: m1 a member of T, m2 a member of
/// m1's target model, and so on.
template <class T, class... M>
struct ref_path : std::true_type {};
template <class T, class M, class... R>
struct ref_path<T, M, R...>
    : std::bool_constant<ref_pointer<M>::value && std::is_same_v<typename ref_pointer<M>::owner, T> &&
                         ref_path<typename ref_pointer<M>::target, R...>::value> {};

}  // namespace morm::detail

namespace morm {
/// `&T::m, &U::n, ...`: members holding references (ref<U>, std::vector<ref<U>>,
/// std::optional<ref<U>>), the first one of T, each next one of the previous one's target.
template <class T, class... M>
concept ref_path_of = sizeof...(M) >= 1 && detail::ref_path<T, M...>::value;  // morm: not a path of morm::ref members starting at the query's model
/// `&C::m` where C's member m refers to T (ref<T>, std::vector<ref<T>>, std::optional<ref<T>>).
template <class M, class T>
concept ref_to = detail::ref_pointer<M>::value && std::is_same_v<typename detail::ref_pointer<M>::target, T>;  // morm: not a member of a model holding morm::ref to the query's model
}  // namespace morm

namespace morm::detail {

/// Every document of `c`, batch by batch (the replies' views are valid during `f`).
template <class F>
asio::awaitable<void> for_each_doc_of(cursor& c, error_code& ec, diagnostics& diag, F&& f) {
    while (co_await c.next_batch(ec, diag)) {
        bson_iter_t it;
        if (!c.batch().init_iter(it)) continue;
        while (bson_iter_next(&it)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&it, &len, &data);
            f(bson::document_view(data, len));
            if (ec) co_return;
        }
    }
}

/// `{<path>: {$in: [<ids whose identity keys are keys>]}}`.
[[nodiscard]] inline bool in_filter(bson::document& f, std::string_view path, const std::vector<std::string>& keys) {
    bson_t in, arr;
    if (!bson_append_document_begin(f.get(), path.data(), static_cast<int>(path.size()), &in)) return false;
    if (!bson_append_array_begin(&in, "$in", 3, &arr)) return false;
    std::size_t i = 0;
    for (auto& k : keys) {
        char buf[16];
        const char* key;
        const auto n = bson_uint32_to_string(static_cast<std::uint32_t>(i++), &key, buf, sizeof buf);
        if (!append_id_from_key(&arr, std::string_view(key, n), k)) return false;
    }
    return bson_append_array_end(&in, &arr) && bson_append_document_end(f.get(), &in);
}

/// Runs `filter` on U's collection in one reply (batch size = the number of ids asked
/// for), tracking every document; `f(key, object)` for each tracked object.
template <class U, class Session, class F>
asio::awaitable<void> find_tracked(Session& s, const bson::document& filter, std::size_t expected, error_code& ec,
                                   diagnostics& diag, F f) {
    const auto& ops = ops_for<U>();
    find_options o;
    // One reply: a getMore per 101 documents would defeat the point. One more than can
    // match, so that the server sees the end and closes the cursor (with exactly `expected`
    // it may keep it open and cost an empty getMore). Not singleBatch: a reply is capped at
    // 16 MiB, the rest must still come.
    o.batch_size = static_cast<std::int32_t>(std::min<std::size_t>(expected + 1, INT32_MAX));
    auto coll = s.get_engine().database().collection(ops.collection);
    auto c = co_await coll.find(filter, o, ec, diag);
    if (ec) co_return;
    co_await for_each_doc_of(c, ec, diag, [&](bson::document_view d) {
        auto p = s.track_loaded(ops, d, ec, diag);
        if (ec || !p) return;
        bson_iter_t it;
        if (d.init_iter(it) && bson_iter_find(&it, "_id")) f(element_key(it), std::static_pointer_cast<U>(std::move(p)));
    });
}

/// Forward loading of one path `m, rest...` over `objs` (objects of T): one $in find for
/// the targets of `m` the session lacks, then the next level over the distinct targets.
template <class Session, class T, class V, class... Rest>
asio::awaitable<void> load_refs(Session& s, error_code& ec, diagnostics& diag, std::vector<std::shared_ptr<T>> objs,
                                V T::*m, Rest... rest) {
    using traits = ref_member<V>;
    using U = typename traits::target;
    using R = typename traits::ref_type;
    const auto& ops = ops_for<U>();
    std::vector<std::shared_ptr<U>> targets;  // distinct, for the next level
    std::unordered_set<const U*> seen;
    auto found = [&](R& r, const std::shared_ptr<U>& p) {
        r.set_target(p);
        if (seen.insert(p.get()).second) targets.push_back(p);
    };
    std::unordered_map<std::string, std::vector<R*>> missing;
    std::vector<std::string> keys;  // of `missing`, in first-seen order
    for (auto& obj : objs) {
        traits::each(obj.get()->*m, [&](R& r) {
            if (ec) return;
            if (r.loaded()) {
                if (seen.insert(r.get()).second) targets.push_back(r.target());
                return;
            }
            std::string key;
            if ((ec = value_key(r.id(), key, &diag))) {
                ec = invalid_id(ops.collection, &diag, ec);
                return;
            }
            bool known = false;
            auto p = s.tracked(ops, key, known);
            if (known) {
                if (p) found(r, std::static_pointer_cast<U>(std::move(p)));
                return;  // known and null: staged for deletion, stays unloaded
            }
            auto& refs = missing[key];
            if (refs.empty()) keys.push_back(key);
            refs.push_back(&r);
        });
    }
    if (ec) co_return;
    if (!keys.empty()) {
        bson::document filter;
        if (!in_filter(filter, "_id", keys)) {
            ec = make_error_code(errc::encode_error);
            diag.message = fmt::format("load(): the $in filter on '{}' could not be built", ops.collection);
            co_return;
        }
        co_await find_tracked<U>(s, filter, keys.size(), ec, diag, [&](const std::string& key, const std::shared_ptr<U>& p) {
            if (auto i = missing.find(key); i != missing.end())
                for (R* r : i->second) found(*r, p);
        });
        if (ec) co_return;
    }
    if constexpr (sizeof...(Rest) > 0) {
        if (!targets.empty()) co_await load_refs(s, ec, diag, std::move(targets), rest...);
    }
}

/// Reverse loading: the C objects whose member `m` refers to one of `parents` (one query),
/// tracked; their refs to the parents are set.
template <class Session, class P, class C, class V>
asio::awaitable<void> load_children(Session& s, error_code& ec, diagnostics& diag,
                                    std::vector<std::shared_ptr<P>> parents, V C::*m) {
    using traits = ref_member<V>;
    using R = typename traits::ref_type;
    if (parents.empty()) co_return;
    const auto& pops = ops_for<P>();
    std::unordered_map<std::string, std::shared_ptr<P>> by_key;
    std::vector<std::string> keys;
    for (auto& p : parents) {
        std::string key;
        if ((ec = pops.id_key(p.get(), key, &diag))) co_return;
        if (by_key.emplace(key, p).second) keys.push_back(std::move(key));
    }
    const auto path = codec::field_name(m);
    bson::document filter;
    if (!in_filter(filter, path, keys)) {
        ec = make_error_code(errc::encode_error);
        diag.message = fmt::format("load_children(): the $in filter on '{}.{}' could not be built",
                                   codec::model_traits<C>::collection, path);
        co_return;
    }
    // Children per parent are unknown: let the server choose the batches (a few getMores
    // at most for large results).
    const auto& cops = ops_for<C>();
    const find_options o;
    auto coll = s.get_engine().database().collection(cops.collection);
    auto c = co_await coll.find(filter, o, ec, diag);
    if (ec) co_return;
    co_await for_each_doc_of(c, ec, diag, [&](bson::document_view d) {
        auto p = s.track_loaded(cops, d, ec, diag);
        if (ec || !p) return;
        auto* child = static_cast<C*>(p.get());
        traits::each(child->*m, [&](R& r) {
            if (r.loaded()) return;
            std::string key;
            if (value_key(r.id(), key, nullptr)) return;
            if (auto i = by_key.find(key); i != by_key.end()) r.set_target(i->second);
        });
    });
}

/// One join of query<T>::join(): `{$lookup: {from, localField: path, foreignField: _id,
/// as}}`, then `{$unwind: {path: "$<as>", preserveNullAndEmptyArrays: true}}` unless the
/// member is a vector of refs; `attach` tracks the joined documents found under `as` and
/// sets the refs of the object.
template <class Session, class T>
struct join_spec {
    std::string path;
    std::string_view from;
    std::string as;
    bool many = false;
    std::function<void(Session&, T&, bson::document_view, const std::string&, error_code&, diagnostics&)> attach;
};

template <class Session, class T, class V>
join_spec<Session, T> make_join(V T::*m, std::size_t index) {
    using traits = ref_member<V>;
    using U = typename traits::target;
    using R = typename traits::ref_type;
    join_spec<Session, T> j;
    j.path = std::string(codec::field_name(m));
    j.from = codec::model_traits<U>::collection;
    j.as = fmt::format("__morm_join{}", index);
    j.many = traits::many;
    j.attach = [m](Session& s, T& obj, bson::document_view d, const std::string& as, error_code& ec,
                   diagnostics& diag) {
        const auto& ops = ops_for<U>();
        std::unordered_map<std::string, std::shared_ptr<U>> by_key;
        auto take = [&](bson::document_view sub) {
            auto p = s.track_loaded(ops, sub, ec, diag);
            if (ec || !p) return;
            bson_iter_t id;
            if (sub.init_iter(id) && bson_iter_find(&id, "_id"))
                by_key.emplace(element_key(id), std::static_pointer_cast<U>(std::move(p)));
        };
        bson_iter_t it;
        if (!d.init_iter(it) || !bson_iter_find(&it, as.c_str())) return;  // no match (preserved null)
        std::uint32_t len;
        const std::uint8_t* data;
        if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
            bson_iter_document(&it, &len, &data);
            take(bson::document_view(data, len));
        } else if (BSON_ITER_HOLDS_ARRAY(&it)) {
            bson_iter_t a;
            bson_iter_recurse(&it, &a);
            while (!ec && bson_iter_next(&a))
                if (BSON_ITER_HOLDS_DOCUMENT(&a)) {
                    bson_iter_document(&a, &len, &data);
                    take(bson::document_view(data, len));
                }
        }
        if (ec) return;
        traits::each(obj.*m, [&](R& r) {
            std::string key;
            if (value_key(r.id(), key, nullptr)) return;
            if (auto i = by_key.find(key); i != by_key.end()) r.set_target(i->second);
        });
    };
    return j;
}

/// The aggregation pipeline of query<T>::join(): $match, $sort, $skip, $limit from the
/// query, then a $lookup (+ $unwind for single refs) per join.
template <class Session, class T>
std::vector<bson::document> join_pipeline(const bson::document& filter, const find_options& o,
                                          const std::vector<join_spec<Session, T>>& joins) {
    std::vector<bson::document> p;
    auto stage = [&p](std::string_view name, const bson::document& body) {
        auto& d = p.emplace_back();
        must(bson_append_document(d.get(), name.data(), static_cast<int>(name.size()), body.get()), name);
    };
    stage("$match", filter);
    if (!o.sort.empty()) stage("$sort", o.sort);
    if (o.skip > 0) {
        auto& d = p.emplace_back();
        must(bson_append_int64(d.get(), "$skip", 5, o.skip), "$skip");
    }
    if (o.limit > 0) {
        auto& d = p.emplace_back();
        must(bson_append_int64(d.get(), "$limit", 6, o.limit), "$limit");
    }
    for (auto& j : joins) {
        bson::document l;
        must(bson_append_utf8(l.get(), "from", 4, j.from.data(), static_cast<int>(j.from.size())), "from");
        must(bson_append_utf8(l.get(), "localField", 10, j.path.data(), static_cast<int>(j.path.size())), j.path);
        must(bson_append_utf8(l.get(), "foreignField", 12, "_id", 3), "foreignField");
        must(bson_append_utf8(l.get(), "as", 2, j.as.data(), static_cast<int>(j.as.size())), j.as);
        stage("$lookup", l);
        if (j.many) continue;
        bson::document u;
        const std::string path = "$" + j.as;
        must(bson_append_utf8(u.get(), "path", 4, path.data(), static_cast<int>(path.size())), path);
        must(bson_append_bool(u.get(), "preserveNullAndEmptyArrays", 26, true), path);
        stage("$unwind", u);
    }
    return p;
}

}  // namespace morm::detail
