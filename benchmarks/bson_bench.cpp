// BSON/codec suite: the driver spec's BSON tasks (flat, deep, full: encode = build the document
// 10,000 times, decode = read it 10,000 times; MB/s of the document's BSON size) and the
// driver/ documents (small_doc, tweet, large_doc) into and out of typed models.
//
// Implementations, same bytes, interleaved per iteration:
//   morm     codec::encode_into (model -> bson_t) / codec::decode (bytes -> fresh model)
//   morm.raw codec::encode_raw (model -> bytes appended to a reused wire::frame_buffer, as on
//            the write path; no libbson): encode only
//   libbson  hand-rolled: bson_append_* over a pre-parsed value tree (what hand-written
//            appends compile to) / a hand-written bson_iter decoder into the same struct
//            (fresh `T out{}` each operation, like morm): it expects fields in declaration
//            order (key compared with memcmp, typed getter, std::string::assign) and falls back
//            to bson_iter_find when the order differs. The member list is unrolled at compile
//            time from the model's declaration, so it is what the hand-written code compiles to.
//   memcpy   copying the encoded bytes: the ceiling for both directions
// Usage: bson_bench [--smoke] [--iterations N] [--scale F] [--data DIR]
#include "bench_util.hpp"
#include "bson_models.hpp"
#include "common/spec_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/encode_raw.hpp>
#include <morm/wire/frame_buffer.hpp>

#include <cstring>
#include <memory>

namespace codec = morm::codec;
namespace sm = morm::spec_models;
using morm::bson::document;

namespace {

volatile std::size_t g_sink;  // keeps the optimiser from dropping the measured work

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

// ---- libbson by hand -----------------------------------------------------------------
struct node {
    std::string key;
    bson_type_t type;
    bson_value_t value{};  // scalars (borrowed from the source bytes)
    std::vector<node> children;
};

void parse_tree(bson_iter_t& it, std::vector<node>& out) {
    while (bson_iter_next(&it)) {
        node n;
        n.key = bson_iter_key(&it);
        n.type = bson_iter_type(&it);
        if (n.type == BSON_TYPE_DOCUMENT || n.type == BSON_TYPE_ARRAY) {
            bson_iter_t child;
            bson_iter_recurse(&it, &child);
            parse_tree(child, n.children);
        } else {
            n.value = *bson_iter_value(&it);
        }
        out.push_back(std::move(n));
    }
}

void build(bson_t* dst, const std::vector<node>& nodes) {
    for (const auto& n : nodes) {
        const int klen = static_cast<int>(n.key.size());
        if (n.type == BSON_TYPE_DOCUMENT) {
            bson_t child;
            bson_append_document_begin(dst, n.key.data(), klen, &child);
            build(&child, n.children);
            bson_append_document_end(dst, &child);
        } else if (n.type == BSON_TYPE_ARRAY) {
            bson_t child;
            bson_append_array_begin(dst, n.key.data(), klen, &child);
            build(&child, n.children);
            bson_append_array_end(dst, &child);
        } else {
            bson_append_value(dst, n.key.data(), klen, &n.value);
        }
    }
}

std::size_t walk(bson_iter_t& it) {
    std::size_t acc = 0;
    while (bson_iter_next(&it)) {
        acc += bson_iter_key_len(&it);
        switch (bson_iter_type(&it)) {
            case BSON_TYPE_DOCUMENT:
            case BSON_TYPE_ARRAY: {
                bson_iter_t child;
                bson_iter_recurse(&it, &child);
                acc += walk(child);
                break;
            }
            case BSON_TYPE_UTF8: {
                uint32_t len;
                const char* s = bson_iter_utf8(&it, &len);
                acc += len + static_cast<unsigned char>(s[0]);
                break;
            }
            case BSON_TYPE_INT32: acc += static_cast<std::size_t>(bson_iter_int32(&it)); break;
            case BSON_TYPE_INT64: acc += static_cast<std::size_t>(bson_iter_int64(&it)); break;
            case BSON_TYPE_DOUBLE: acc += static_cast<std::size_t>(bson_iter_double(&it)); break;
            case BSON_TYPE_BOOL: acc += bson_iter_bool(&it); break;
            default: acc += bson_iter_value(&it)->value_type; break;
        }
    }
    return acc;
}


// ---- hand-written libbson decoder ------------------------------------------------------
// What one writes by hand against libbson: walk the elements in the expected order, check the
// key and the type, copy with the typed getter. Not a morm code path: only the member list
// comes from the model declaration.
template <class V>
bool hand_value(bson_iter_t* it, V& v);

template <class T>
bool hand_struct(bson_iter_t* it, T& out) {
    bson_iter_t child;
    if (!bson_iter_recurse(it, &child)) return false;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        auto one = [&](const auto& d) {
            bson_iter_t probe = child;
            if (bson_iter_next(&child) && bson_iter_key_len(&child) == d.name.size() &&
                std::memcmp(bson_iter_key(&child), d.name.data(), d.name.size()) == 0)
                return hand_value(&child, out.*d.member);
            // out of order or absent: search from the start
            bson_iter_t again;
            if (!bson_iter_recurse(it, &again)) return false;
            child = probe;
            return !bson_iter_find_w_len(&again, d.name.data(), static_cast<int>(d.name.size())) || hand_value(&again, out.*d.member);  // absent: keep default
        };
        return (one(codec::struct_traits<T>::template field<I>()) && ...);
    }(std::make_index_sequence<codec::struct_traits<T>::size>{});
}

template <class V>
bool hand_value(bson_iter_t* it, V& v) {
    if constexpr (std::is_same_v<V, std::string>) {
        if (!BSON_ITER_HOLDS_UTF8(it)) return false;
        std::uint32_t len;
        const char* s = bson_iter_utf8(it, &len);
        v.assign(s, len);
    } else if constexpr (std::is_same_v<V, bool>) {
        if (!BSON_ITER_HOLDS_BOOL(it)) return false;
        v = bson_iter_bool(it);
    } else if constexpr (std::is_same_v<V, std::int32_t>) {
        if (!BSON_ITER_HOLDS_INT32(it)) return false;
        v = bson_iter_int32(it);
    } else if constexpr (std::is_same_v<V, std::int64_t>) {
        if (BSON_ITER_HOLDS_INT64(it)) v = bson_iter_int64(it);
        else if (BSON_ITER_HOLDS_INT32(it)) v = bson_iter_int32(it);
        else return false;
    } else if constexpr (std::is_same_v<V, double>) {
        if (BSON_ITER_HOLDS_DOUBLE(it)) v = bson_iter_double(it);
        else if (BSON_ITER_HOLDS_INT32(it)) v = bson_iter_int32(it);
        else return false;
    } else if constexpr (std::is_same_v<V, morm::bson::object_id>) {
        if (!BSON_ITER_HOLDS_OID(it)) return false;
        v = morm::bson::object_id(*bson_iter_oid(it));
    } else if constexpr (std::is_same_v<V, document>) {
        if (!BSON_ITER_HOLDS_DOCUMENT(it)) return false;
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_document(it, &len, &data);
        v.assign(morm::bson::document_view(data, len));
    } else if constexpr (morm::codec::detail::is_optional<V>::value) {
        if (BSON_ITER_HOLDS_NULL(it)) {
            v.reset();
            return true;
        }
        if (!v) v.emplace();
        return hand_value(it, *v);
    } else if constexpr (is_vector<V>::value) {
        if (!BSON_ITER_HOLDS_ARRAY(it)) return false;
        bson_iter_t child;
        if (!bson_iter_recurse(it, &child)) return false;
        v.clear();
        while (bson_iter_next(&child))
            if (!hand_value(&child, v.emplace_back())) return false;
    } else if constexpr (codec::structure<V>) {
        if (!BSON_ITER_HOLDS_DOCUMENT(it)) return false;
        return hand_struct(it, v);
    } else {
        static_assert(sizeof(V) == 0, "hand decoder: add this type");
    }
    return true;
}

template <class T>
bool hand_decode(const document& src, T& out) {
    // hand_struct recurses from a document element; start from a wrapper iterator over the root.
    bson_iter_t root;
    if (!bson_iter_init_from_data(&root, src.data(), src.size())) return false;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
        bson_iter_t cur = root;
        auto one = [&](const auto& d) {
            bson_iter_t probe = cur;
            if (bson_iter_next(&cur) && bson_iter_key_len(&cur) == d.name.size() &&
                std::memcmp(bson_iter_key(&cur), d.name.data(), d.name.size()) == 0)
                return hand_value(&cur, out.*d.member);
            cur = probe;
            bson_iter_t again = root;
            return !bson_iter_find_w_len(&again, d.name.data(), static_cast<int>(d.name.size())) || hand_value(&again, out.*d.member);  // absent: keep default
        };
        return (one(codec::struct_traits<T>::template field<I>()) && ...);
    }(std::make_index_sequence<codec::struct_traits<T>::size>{});
}

template <class T>
constexpr bool hand_decodable() {
    return !std::is_same_v<T, bench_models::full_bson> && !std::is_same_v<T, sm::driver_large_doc>;
}

// ---- one document's tasks --------------------------------------------------------------
struct doc_tasks {
    std::string name;  ///< task prefix, e.g. "flat" or "driver tweet"
    int ops = 0;
    std::string note;
    document src;
    std::vector<node> tree;
    std::vector<bench::series> series;  // morm/libbson/memcpy x encode/decode
    std::function<std::size_t()> morm_encode, morm_decode, morm_raw_encode;
    std::function<std::size_t()> hand_decode;  ///< empty: the bson_iter walk (full, large_doc)
};

template <class T>
std::unique_ptr<doc_tasks> make_tasks(const bench::args& a, std::string name, const std::string& file, int spec_ops,
                                      int ops) {
    auto t = std::make_unique<doc_tasks>();
    t->name = std::move(name);
    t->src = document::from_json(bench::read_file(a.data + "/" + file));
    t->ops = ops;
    if (!a.smoke && t->ops != spec_ops)
        t->note = "scaled: " + std::to_string(t->ops) + " operations an iteration (spec: " + std::to_string(spec_ops) + ")";
    bson_iter_t it;
    bson_iter_init_from_data(&it, t->src.data(), t->src.size());
    parse_tree(it, t->tree);

    auto obj = std::make_shared<T>();
    morm::diagnostics diag;
    if (auto ec = codec::decode(t->src.view(), *obj, &diag))
        throw std::runtime_error(file + ": model does not decode: " + diag.message);
    document again = codec::encode(*obj);
    if (!(again == t->src)) {
        std::string n = "morm model re-encodes to " + std::to_string(again.size()) + " B, source is " +
                        std::to_string(t->src.size()) + " B";
        t->note += t->note.empty() ? n : "; " + n;
    }
    {
        morm::wire::frame_buffer raw;
        if (codec::encode_raw(raw, *obj, &diag)) throw std::runtime_error(file + ": encode_raw: " + diag.message);
        if (raw.size() != again.size() || std::memcmp(raw.data(), again.data(), raw.size()) != 0)
            throw std::runtime_error(file + ": encode_raw and encode_into disagree");
    }
    const document* src = &t->src;
    t->morm_encode = [obj, ops] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            bson_t b;
            bson_init(&b);
            if (codec::encode_into(&b, *obj)) throw std::runtime_error("encode failed");
            acc += b.len;
            bson_destroy(&b);
        }
        return acc;
    };
    t->morm_raw_encode = [obj, ops, buf = std::make_shared<morm::wire::frame_buffer>()] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            buf->clear();
            if (codec::encode_raw(*buf, *obj)) throw std::runtime_error("encode_raw failed");
            acc += buf->size();
        }
        return acc;
    };
    t->morm_decode = [src, ops] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            T out{};
            if (codec::decode(src->data(), src->size(), out)) throw std::runtime_error("decode failed");
            acc += reinterpret_cast<std::uintptr_t>(&out) & 1;
        }
        return acc;
    };
    if constexpr (hand_decodable<T>()) {
        T check{};
        if (!hand_decode(t->src, check)) throw std::runtime_error(file + ": hand decoder fails");
        document a = codec::encode(check);
        if (!(a == again)) throw std::runtime_error(file + ": hand decoder and morm disagree");
        t->hand_decode = [src, ops] {
            std::size_t acc = 0;
            for (int i = 0; i < ops; ++i) {
                T out{};
                if (!hand_decode(*src, out)) throw std::runtime_error("hand decode failed");
                acc += reinterpret_cast<std::uintptr_t>(&out) & 1;
            }
            return acc;
        };
    } else {
        std::string n = "libbson decode is a bson_iter walk that materialises nothing (lower bound)";
        t->note += t->note.empty() ? n : "; " + n;
    }
    const double mb = static_cast<double>(t->src.size()) * ops / 1e6;
    for (const char* op : {"encode", "decode"})
        for (const char* impl : {"morm", "libbson", "memcpy"}) {
            bench::series s;
            s.suite = "bson";
            s.task = t->name + " " + op;
            s.impl = impl;
            s.unit = "MB/s";
            s.amount = mb;
            s.note = t->note;
            t->series.push_back(std::move(s));
        }
    bench::series raw;  // series[6]
    raw.suite = "bson";
    raw.task = t->name + " encode";
    raw.impl = "morm.raw";
    raw.unit = "MB/s";
    raw.amount = mb;
    raw.note = t->note;
    t->series.push_back(std::move(raw));
    return t;
}

void run_iteration(doc_tasks& t) {
    const int ops = t.ops;
    std::vector<std::uint8_t> buf(t.src.size());
    // encode
    t.series[0].add_seconds(bench::time_s([&] { g_sink = t.morm_encode(); }));
    t.series[6].add_seconds(bench::time_s([&] { g_sink = t.morm_raw_encode(); }));
    t.series[1].add_seconds(bench::time_s([&] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            bson_t b;
            bson_init(&b);
            build(&b, t.tree);
            acc += b.len;
            bson_destroy(&b);
        }
        g_sink = acc;
    }));
    t.series[2].add_seconds(bench::time_s([&] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            std::memcpy(buf.data(), t.src.data(), t.src.size());
            asm volatile("" ::"r"(buf.data()) : "memory");
            acc += buf[i % buf.size()];
        }
        g_sink = acc;
    }));
    // decode
    t.series[3].add_seconds(bench::time_s([&] { g_sink = t.morm_decode(); }));
    t.series[4].add_seconds(bench::time_s([&] {
        if (t.hand_decode) {
            g_sink = t.hand_decode();
            return;
        }
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            bson_iter_t it;
            bson_iter_init_from_data(&it, t.src.data(), t.src.size());
            acc += walk(it);
        }
        g_sink = acc;
    }));
    t.series[5].add_seconds(bench::time_s([&] {
        std::size_t acc = 0;
        for (int i = 0; i < ops; ++i) {
            std::memcpy(buf.data(), t.src.data(), t.src.size());
            asm volatile("" ::"r"(buf.data()) : "memory");
            acc += buf[i % buf.size()];
        }
        g_sink = acc;
    }));
}

}  // namespace

int main(int argc, char** argv) try {
    auto a = bench::args::parse(argc, argv);
    std::vector<std::unique_ptr<doc_tasks>> tasks;
    const int n = a.count(10000);
    tasks.push_back(make_tasks<bench_models::flat_bson>(a, "flat", "bson/flat_bson.json", 10000, n));
    tasks.push_back(make_tasks<bench_models::deep_bson>(a, "deep", "bson/deep_bson.json", 10000, n));
    tasks.push_back(make_tasks<bench_models::full_bson>(a, "full", "bson/full_bson.json", 10000, n));
    tasks.push_back(make_tasks<sm::driver_small_doc>(a, "driver small_doc", "driver/small_doc.json", 10000, n));
    tasks.push_back(make_tasks<sm::tweet>(a, "driver tweet", "driver/tweet.json", 10000, n));
    // 2.7 MB a document: 10,000 would take minutes per implementation on this machine.
    tasks.push_back(make_tasks<sm::driver_large_doc>(a, "driver large_doc", "driver/large_doc.json", 10000,
                                                     a.count(50, 2)));
    std::fprintf(stderr, "bson_bench: %d iteration(s), %s data in %s\n", a.iterations, a.data_set(), a.data.c_str());
    for (int i = 0; i < a.iterations; ++i)
        for (auto& t : tasks) run_iteration(*t);
    for (auto& t : tasks)
        for (auto& s : t->series) s.print();
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bson_bench: %s\n", e.what());
    return 1;
}
