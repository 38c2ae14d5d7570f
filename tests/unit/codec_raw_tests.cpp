// codec::encode_raw writes the same bytes as codec::encode_into, fails the same way, and
// leaves the buffer as it found it on error.
#include "../../benchmarks/bson_models.hpp"
#include "common/codec_test_models.hpp"
#include "common/data_dirs.hpp"
#include "common/spec_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/encode_raw.hpp>
#include <morm/codec/model.hpp>
#include <morm/wire/frame_buffer.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
namespace codec = morm::codec;
namespace bs = morm::bson;
namespace sm = morm::spec_models;
using codec::field_flags;

namespace crt {

// Types codec_tests does not cover on the encode side.
struct Ints {
    std::uint8_t u8 = 0;
    std::int16_t i16 = 0;
    std::uint16_t u16 = 0;
    std::uint32_t u32 = 0;
    std::uint64_t u64 = 0;
    float f = 0;
    std::unordered_map<std::string, std::vector<std::optional<bool>>> um;
    std::vector<std::int32_t> many;  // > 1000 elements: index keys past the table
    bs::binary old_bin;              // subtype 2 nests a second length
    std::vector<bs::value> values;
};
MORM_STRUCT(Ints, u8, i16, u16, u32, u64, f, um, many, old_bin, values);

}  // namespace crt

using namespace ct;  // the models of codec_tests.cpp
using namespace crt;

namespace {

/// A minimal duck-typed buffer whose reserve() is exact (no doubling), so encode_raw's own
/// growth policy is what runs. Bytes past size() are poisoned on growth.
class vec_buffer {
public:
    std::uint8_t* data() noexcept { return v_.data(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return v_.size(); }
    void reserve(std::size_t n) {
        ++reserves;
        if (n > v_.size()) {
            v_.resize(n, 0xCD);
            std::fill(v_.begin() + static_cast<std::ptrdiff_t>(size_), v_.end(), 0xCD);
        }
    }
    void resize(std::size_t n) {
        reserve(n);
        size_ = n;
    }
    void append(const void* p, std::size_t n) {
        reserve(size_ + n);
        std::memcpy(v_.data() + size_, p, n);
        size_ += n;
    }
    void push_back(std::uint8_t b) { append(&b, 1); }
    void write_int32_le_at(std::size_t pos, std::int32_t x) noexcept { std::memcpy(v_.data() + pos, &x, 4); }
    void set_size_unchecked(std::size_t n) noexcept { size_ = n; }
    std::string bytes() const { return std::string(reinterpret_cast<const char*>(v_.data()), size_); }

    int reserves = 0;

private:
    std::vector<std::uint8_t> v_;
    std::size_t size_ = 0;
};

std::string bytes_of(const bs::document& d) { return std::string(reinterpret_cast<const char*>(d.data()), d.size()); }
std::string bytes_of(const morm::wire::frame_buffer& b, std::size_t from = 0) {
    return std::string(reinterpret_cast<const char*>(b.data()) + from, b.size() - from);
}

/// encode_into's bytes (into an empty bson_t), checking it succeeds.
template <class T>
std::string reference(const T& obj) {
    bs::document doc;
    REQUIRE_FALSE(codec::encode_into(doc.get(), obj));
    return bytes_of(doc);
}

/// Both encoders, both buffers: same bytes.
template <class T>
std::string check_same(const T& obj) {
    const std::string ref = reference(obj);
    morm::wire::frame_buffer fb;
    REQUIRE_FALSE(codec::encode_raw(fb, obj));
    CHECK(bytes_of(fb) == ref);
    vec_buffer vb;
    REQUIRE_FALSE(codec::encode_raw(vb, obj));
    CHECK(vb.bytes() == ref);
    return ref;
}

/// Both encoders fail with the same code and message; the raw buffer keeps its old content.
template <class T>
void check_same_error(const T& obj, morm::errc code, const std::string& message = {}) {
    morm::diagnostics d1, d2;
    bs::document doc;
    CHECK(codec::encode_into(doc.get(), obj, &d1) == code);
    if (!message.empty()) CHECK(d1.message == message);

    morm::wire::frame_buffer fb;
    fb.append("prefix", 6);
    CHECK(codec::encode_raw(fb, obj, &d2) == code);
    CHECK(d2.message == d1.message);
    CHECK(bytes_of(fb) == "prefix");

    vec_buffer vb;
    morm::diagnostics d3;
    CHECK(codec::encode_raw(vb, obj, &d3) == code);
    CHECK(d3.message == d1.message);
    CHECK(vb.size() == 0);
    // and the buffer still works afterwards
    Leaf ok{3};
    REQUIRE_FALSE(codec::encode_raw(fb, ok));
    CHECK(bytes_of(fb, 6) == reference(ok));
}

Everything make_everything() {
    Everything e;
    e.id = bs::object_id::generate();
    e.s = "héllo";
    e.b = true;
    e.i32 = -5;
    e.i64 = 1LL << 40;
    e.d = 2.5;
    e.color = Color::blue;
    e.level = Level::high;
    e.opt_set = 9;
    e.nums = {1, 2, 3};
    e.nested_vec = {{"a"}, {}, {"b", "c"}};
    e.counts = {{"x", 1}, {"y", 2}};
    e.places = {{"home", {"h", "c", "123"}}};
    e.addresses = {{"s1", "c1", std::nullopt}, {"s2", "c2", "z2"}};
    e.when = std::chrono::system_clock::time_point(1700000000123ms);
    e.bin = {BSON_SUBTYPE_UUID, {1, 2, 3, 4}};
    e.dec = bs::decimal128::from_string("123.456");
    e.raw = bs::document::from_json(R"({"free": [1, "two"]})");
    e.any = bs::value("str");
    e.any_doc = bs::value(bs::document::from_json(R"({"k": 1})"));
    e.top.mid.leaf.n = 1;
    e.top.mid.leaves = {{2}, {3}};
    e.top.maybe = Mid{{4}, {{5}}};
    return e;
}

bs::document load(const std::string& dir, const std::string& rel) {
    std::ifstream in(dir + "/" + rel, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream ss;
    ss << in.rdbuf();
    return bs::document::from_json(ss.str());
}

/// Decodes a benchmark document into its model; both encoders give its bytes.
template <class T>
void check_data(const std::string& dir, const std::string& rel) {
    INFO(dir << "/" << rel);
    bs::document src = load(dir, rel);
    T obj{};
    morm::diagnostics diag;
    auto ec = codec::decode(src.view(), obj, &diag);
    INFO(diag.message);
    REQUIRE_FALSE(ec);
    const std::string ref = check_same(obj);
    CHECK(ref.size() > 5);
    // with an id assigned as well (omit_empty no longer skips it)
    if constexpr (requires { obj.id = bs::object_id::generate(); }) {
        obj.id = bs::object_id::generate();
        check_same(obj);
    }
}

void check_benchmark_documents(const std::string& dir) {
    check_data<sm::odm_small_doc>(dir, "odm/small_doc.json");
    check_data<sm::odm_large_doc>(dir, "odm/large_doc.json");
    check_data<sm::odm_nested_doc>(dir, "odm/large_doc_nested.json");
    check_data<sm::driver_small_doc>(dir, "driver/small_doc.json");
    check_data<sm::driver_large_doc>(dir, "driver/large_doc.json");
    check_data<sm::tweet>(dir, "driver/tweet.json");
    check_data<bench_models::flat_bson>(dir, "bson/flat_bson.json");
    check_data<bench_models::deep_bson>(dir, "bson/deep_bson.json");
    check_data<bench_models::full_bson>(dir, "bson/full_bson.json");
}

}  // namespace

TEST_CASE("codec raw: same bytes as encode_into for the codec test models", "[codec-raw]") {
    User u{"1", "John", "john@example.com", {"Main St", "Springfield", std::nullopt}, {"a", "b"}, 7};
    check_same(u);
    check_same(User{});
    check_same(make_everything());
    check_same(Everything{});  // defaults: zero ObjectId, nulls, empty containers, null values
    check_same(Top{{{1}, {{2}, {3}, {4}}}, Mid{{5}, {}}});
    check_same(Wide{-7, -(1LL << 50), -0.0});
    check_same(Address{"", "", ""});

    Flags f;
    f.id = "i";
    f.must = 1;
    CHECK(check_same(f) == reference(f));
    f.empty_str = "x";
    f.empty_vec = {1};
    f.none = 2;
    check_same(f);

    auto src = bs::document::from_json(R"({"x": 1, "name": "n", "y": {"z": [1]}})");
    auto ex = codec::decode<Extra>(src.view());
    check_same(ex);
    check_same(Extra{"only", {}});

    MapHolder m;
    m.m = {{"fine", "x"}, {"", "empty key"}, {"ünï", "cöde"}};
    check_same(m);

    Everything e = make_everything();
    e.color = Color::green;
    e.level = static_cast<Level>(-3);
    e.when = std::chrono::system_clock::time_point(-1500us);
    e.any = bs::value(std::int64_t{-9});
    e.any_doc = bs::value();
    check_same(e);
}

TEST_CASE("codec raw: every integer width, old binary, long arrays, unordered maps, values", "[codec-raw]") {
    Ints x;
    x.u8 = 255;
    x.i16 = -32768;
    x.u16 = 65535;
    x.u32 = 4000000000u;
    x.u64 = static_cast<std::uint64_t>(INT64_MAX);
    x.f = 1.25f;
    x.um = {{"a", {true, std::nullopt, false}}, {"b", {}}};
    for (int i = 0; i < 12345; ++i) x.many.push_back(i * 7);
    x.old_bin = {BSON_SUBTYPE_BINARY_DEPRECATED, {9, 8, 7}};
    x.values = {bs::value(1), bs::value("s"), bs::value(2.5), bs::value(true), bs::value(),
                bs::value(bs::document::from_json(R"({"a": [1, {"b": null}]})"))};
    const std::string ref = check_same(x);
    // spot-check the index keys past the table: "1000" and "12344"
    CHECK(ref.find(std::string("\x10" "1000\0", 6)) != std::string::npos);
    CHECK(ref.find(std::string("\x10" "12344\0", 7)) != std::string::npos);

    x.old_bin.data.clear();
    x.values.clear();
    check_same(x);
}

TEST_CASE("codec raw: the generated benchmark documents", "[codec-raw]") {
    check_benchmark_documents(morm_data::generated_dir());
}

TEST_CASE("codec raw: the official benchmark documents", "[codec-raw][official_data]") {
    if (auto dir = morm_data::official_dir_or_skip()) check_benchmark_documents(*dir);
}

TEST_CASE("codec raw: same errors as encode_into, buffer restored", "[codec-raw]") {
    check_same_error(Address{"ok", "\xff\xfe", std::nullopt}, morm::errc::encode_error,
                     "city: invalid UTF-8 in string");
    check_same_error(Address{"ok", "fine", std::string("a\0b", 3)}, morm::errc::encode_error, "zip: invalid UTF-8 in string");

    MapHolder m;
    m.m = {{"$where", "x"}};
    check_same_error(m, morm::errc::encode_error, "m.$where: key '$where' starts with '$'");
    m.m = {{"a.b", "x"}};
    check_same_error(m, morm::errc::encode_error, "m.a.b: key 'a.b' contains '.'");
    m.m = {{std::string("a\0b", 3), "x"}};
    check_same_error(m, morm::errc::encode_error, std::string("m.a\0b: invalid UTF-8 in key", 27));
    m.m = {{"\xc3", "x"}};
    check_same_error(m, morm::errc::encode_error, "m.\xc3: invalid UTF-8 in key");
    m.m = {{"k", "ok"}, {"l", "\xe2\x82"}};
    check_same_error(m, morm::errc::encode_error, "m.l: invalid UTF-8 in string");

    Everything e = make_everything();
    e.color = static_cast<Color>(42);
    check_same_error(e, morm::errc::encode_error, "color: enum value 42 has no declared string");

    // deep paths: through vectors, maps and nested structs, after lots of output
    e = make_everything();
    e.addresses.push_back({"s3", "c3", "\x80"});
    check_same_error(e, morm::errc::encode_error, "addresses.2.zip: invalid UTF-8 in string");
    e = make_everything();
    e.places["zz"] = {"\xc0\xaf", "c", std::nullopt};  // overlong encoding
    check_same_error(e, morm::errc::encode_error, "places.zz.street: invalid UTF-8 in string");
    e = make_everything();
    e.nested_vec[2][1] = "\xff";
    check_same_error(e, morm::errc::encode_error, "nested_vec.2.1: invalid UTF-8 in string");
    e = make_everything();
    e.places["a.b"] = {};
    check_same_error(e, morm::errc::encode_error, "places.a.b: key 'a.b' contains '.'");

    Ints x;
    x.u64 = static_cast<std::uint64_t>(INT64_MAX) + 1;
    check_same_error(x, morm::errc::encode_error, "u64: unsigned value 9223372036854775808 exceeds int64");
    x.u64 = 0;
    x.um = {{"$x", {}}};
    check_same_error(x, morm::errc::encode_error, "um.$x: key '$x' starts with '$'");
}

TEST_CASE("codec raw: documents over 16 MiB are rejected", "[codec-raw]") {
    Big b{std::string(codec::max_document_size, 'x')};
    check_same_error(b, morm::errc::document_too_large);
    morm::diagnostics diag;
    morm::wire::frame_buffer fb;
    CHECK(codec::encode_raw(fb, b, &diag) == morm::errc::document_too_large);
    CHECK(diag.message == "document of 16777229 bytes exceeds the 16777216 byte limit");
    CHECK(fb.size() == 0);

    Big ok{std::string(codec::max_document_size - 100, 'x')};
    REQUIRE_FALSE(codec::encode_raw(fb, ok));
    CHECK(fb.size() == codec::max_document_size - 100 + 13);
    CHECK(bytes_of(fb) == reference(ok));
}

TEST_CASE("codec raw: appends after existing content, documents back to back", "[codec-raw]") {
    User u{"1", "John", "john@example.com", {"Main St", "Springfield", "z"}, {"a", "b", "c"}, 7};
    Everything e = make_everything();
    const std::string ru = reference(u), re = reference(e);

    morm::wire::frame_buffer fb;
    const std::string head = "OP_MSG header bytes";
    fb.append(head.data(), head.size());
    REQUIRE_FALSE(codec::encode_raw(fb, u));
    REQUIRE_FALSE(codec::encode_raw(fb, e));
    REQUIRE_FALSE(codec::encode_raw(fb, u));
    CHECK(bytes_of(fb) == head + ru + re + ru);

    // each document is a valid BSON document on its own
    std::size_t off = head.size();
    for (const std::string* r : {&ru, &re, &ru}) {
        bs::document_view v(fb.data() + off, r->size());
        CHECK(v.valid());
        off += r->size();
    }

    // an exact-reserve buffer that starts tiny: the writer grows mid-document many times
    vec_buffer vb;
    vb.append("ab", 2);
    Ints x;
    for (int i = 0; i < 5000; ++i) x.many.push_back(i);
    REQUIRE_FALSE(codec::encode_raw(vb, u));
    REQUIRE_FALSE(codec::encode_raw(vb, x));
    REQUIRE_FALSE(codec::encode_raw(vb, e));
    CHECK(vb.bytes() == "ab" + ru + reference(x) + re);
    CHECK(vb.reserves < 40);  // doubling, not one reserve per element
}

TEST_CASE("codec raw: one reserve for a document that fits the estimate", "[codec-raw]") {
    vec_buffer vb;
    sm::driver_small_doc d;
    d.k_oggaoR4O = "short";
    REQUIRE_FALSE(codec::encode_raw(vb, d));
    CHECK(vb.reserves == 1);
    CHECK(vb.bytes() == reference(d));
}
