// morm_gen_data: writes the project's own test and benchmark data into a directory.
//   morm_gen_data OUT_DIR [--seed N]
//
// The files have the names, shapes and sizes of the MongoDB benchmark data sets (odm/, driver/,
// bson/, ldjson/), filled with pseudo-random values from a fixed seed. The official files carry
// a non-commercial licence, so they stay outside the repository: tests and benchmarks read them
// only from $MORM_DATA_DIR, and these files stand in for them otherwise.
//
// Every document is built as its typed model (tests/common/spec_models.hpp,
// benchmarks/bson_models.hpp) and encoded, so the models decode the files by construction.
// Each file is parsed back and compared byte for byte before it is written; the marker
// generated.txt, written last, tells programs which data set they read.
#include "bson_models.hpp"
#include "common/spec_models.hpp"

#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace sm = morm::spec_models;
namespace bm = bench_models;
namespace bs = morm::bson;
namespace codec = morm::codec;

constexpr std::uint64_t default_seed = 16;  // any fixed value: the files must not change between builds

/// splitmix64: the same stream on every platform (the std distributions are not specified
/// exactly, so they could differ between standard libraries).
class rng {
public:
    explicit rng(std::uint64_t seed) : s_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// Uniform in [lo, hi] (the modulo bias is irrelevant for test data).
    std::int64_t between(std::int64_t lo, std::int64_t hi) {
        return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
    }
    bool coin() { return next() & 1; }
    std::string word(std::size_t n, std::string_view chars = alnum) {
        std::string s(n, ' ');
        for (auto& c : s) c = chars[next() % chars.size()];
        return s;
    }
    template <class T, std::size_t N>
    const T& pick(const std::array<T, N>& a) {
        return a[next() % N];
    }

    static constexpr std::string_view alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

private:
    std::uint64_t s_;
};

/// One rng per file, so that changing one data set leaves the others as they are.
rng rng_for(std::uint64_t seed, std::string_view file) {
    std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
    for (char c : file) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return rng(seed ^ h);
}

/// The ranges of one official data set: string lengths, integer ranges, array lengths.
struct shape {
    std::size_t str_min = 8, str_max = 8;
    std::int64_t int_min = 0, int_max = 999;  // int32 members
    // int64 members stay outside the int32 range: relaxed JSON writes them as plain numbers,
    // which the parser reads back as int32 when they fit.
    std::int64_t long_min = std::int64_t{1} << 32, long_max = std::int64_t{1} << 62;
    std::size_t vec_min = 2, vec_max = 2;
    std::size_t bin_len = 80;
};

bs::value value_from_json(const std::string& json) {
    auto d = bs::document::from_json("{\"v\": " + json + "}");
    return bs::value::from_iter(*d.view().begin());
}

/// The BSON types that only a `bson::value` member of bson/full_bson.json holds (and
/// decimal128, which the official file lacks), in turn.
bs::value exotic_value(rng& r, std::size_t kind) {
    switch (kind % 8) {
        case 0: return value_from_json(R"({"$maxKey": 1})");
        case 1: return value_from_json(R"({"$minKey": 1})");
        case 2: return value_from_json(fmt::format(R"({{"$code": "{}"}})", r.word(80)));
        case 3:
            return value_from_json(fmt::format(R"({{"$code": "{}", "$scope": {{"{}": {{"$numberInt": "{}"}}}}}})",
                                               r.word(80), r.word(8), r.between(-99, 99)));
        case 4: return value_from_json(fmt::format(R"({{"$date": {{"$numberLong": "{}"}}}})", r.between(7000, 18000) * 86400000));
        case 5: return value_from_json(fmt::format(R"({{"$timestamp": {{"t": {}, "i": 1}}}})", r.between(1, 1500000000)));
        case 6: return value_from_json(fmt::format(R"({{"$regularExpression": {{"pattern": "{}", "options": ""}}}})", r.word(8)));
        default: return value_from_json(fmt::format(R"({{"$numberDecimal": "{}.{}"}})", r.between(0, 99999), r.between(0, 99)));
    }
}

/// Gives every member of a structure a pseudo-random value within `sh`. Optionals stay null and
/// sub-documents empty, as in the official files.
struct filler {
    rng& r;
    shape sh;
    std::size_t kind = 0;  ///< next exotic type for a bson::value member

    void operator()(std::string& s) { s = r.word(static_cast<std::size_t>(r.between(sh.str_min, sh.str_max))); }
    void operator()(std::int32_t& i) { i = static_cast<std::int32_t>(r.between(sh.int_min, sh.int_max)); }
    void operator()(std::int64_t& i) { i = r.between(sh.long_min, sh.long_max); }
    void operator()(double& d) { d = static_cast<double>(r.between(sh.long_min, sh.long_max)); }
    void operator()(bool& b) { b = r.coin(); }
    void operator()(bs::object_id& id) {
        std::array<std::uint8_t, bs::object_id::size> b{};
        for (auto& x : b) x = static_cast<std::uint8_t>(r.next());
        id = bs::object_id(b);
    }
    void operator()(bs::binary& b) {
        b.subtype = BSON_SUBTYPE_BINARY;
        b.data.resize(sh.bin_len);
        for (auto& x : b.data) x = static_cast<std::uint8_t>(r.next());
    }
    void operator()(bs::document&) {}
    void operator()(bs::value& v) { v = exotic_value(r, kind++); }
    template <class T>
    void operator()(std::optional<T>& o) { o.reset(); }
    template <class T>
    void operator()(std::vector<T>& v) {
        v.resize(static_cast<std::size_t>(r.between(static_cast<std::int64_t>(sh.vec_min), static_cast<std::int64_t>(sh.vec_max))));
        for (auto& x : v) (*this)(x);
    }
    template <codec::structure T>
    void operator()(T& obj) {
        codec::for_each_field<T>([&](const auto& d) { (*this)(obj.*(d.member)); });
    }
};

/// A model filled by `filler`. A model's own _id stays unset: the official files have none
/// (the models write it only once assigned).
template <class T>
T make(rng& r, const shape& sh) {
    T obj{};
    filler{r, sh}(obj);
    if constexpr (codec::model<T>) codec::model_traits<T>::id(obj) = {};
    return obj;
}

// ---- driver/tweet.json and ldjson/tweets-5000.ldjson: tweets of 2010, as in the originals ----

std::string created_at(rng& r) {
    static constexpr std::array<const char*, 7> days{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    return fmt::format("{} {} {:02} {:02}:{:02}:{:02} +0000 {}", r.pick(days), r.pick(months), r.between(1, 28),
                       r.between(0, 23), r.between(0, 59), r.between(0, 59), r.between(2007, 2010));
}

std::string sentence(rng& r, std::size_t min_len) {
    std::string s = r.word(static_cast<std::size_t>(r.between(2, 9)), "abcdefghijklmnopqrstuvwxyz");
    while (s.size() < min_len) s += ' ' + r.word(static_cast<std::size_t>(r.between(2, 9)), "abcdefghijklmnopqrstuvwxyz");
    return s;
}

std::string color(rng& r) { return r.word(6, "0123456789abcdef"); }

void make_user(rng& r, sm::tweet_user& u) {
    static constexpr std::array<std::pair<const char*, std::int32_t>, 4> zones{
        {{"Mountain Time (US & Canada)", -25200}, {"Eastern Time (US & Canada)", -18000}, {"London", 0}, {"Tokyo", 32400}}};
    const auto& zone = r.pick(zones);
    u.time_zone = zone.first;
    u.utc_offset = zone.second;
    u.screen_name = r.word(8);
    u.name = sentence(r, 10);
    u.location = sentence(r, 20);
    u.description = sentence(r, 80);
    u.created_at = created_at(r);
    u.url = fmt::format("http://{}.com/", r.word(10, "abcdefghijklmnopqrstuvwxyz"));
    u.lang = "en";
    u.id = static_cast<std::int32_t>(r.between(10000000, 200000000));
    u.profile_image_url = fmt::format("http://a1.twimg.com/profile_images/{}/{}_normal.png", r.between(1000000000, 2000000000), r.word(40));
    u.profile_background_image_url = fmt::format("http://a3.twimg.com/profile_background_images/{}/{}.png",
                                                 r.between(100000000, 200000000), r.word(12));
    for (auto* c : {&u.profile_sidebar_fill_color, &u.profile_sidebar_border_color, &u.profile_background_color,
                    &u.profile_text_color, &u.profile_link_color})
        *c = color(r);
}

sm::tweet make_tweet(rng& r) {
    static constexpr std::array<const char*, 3> sources{
        "web", "<a href=\"http://twitter.com/\" rel=\"nofollow\">Twitter for iPhone</a>", "TweetDeck"};
    shape sh{.str_min = 6, .str_max = 24, .int_min = 0, .int_max = 5000, .long_min = 10000000000, .long_max = 30000000000,
             .vec_min = 0, .vec_max = 0};
    auto t = make<sm::tweet>(r, sh);
    make_user(r, t.user);
    sm::tweet_user_mention m = make<sm::tweet_user_mention>(r, sh);
    m.screen_name = r.word(8);
    m.name = sentence(r, 12);
    m.id = static_cast<std::int32_t>(r.between(10000000, 200000000));
    m.indices = {0, static_cast<std::int32_t>(m.screen_name.size() + 1)};
    t.text = "@" + m.screen_name + " " + sentence(r, 30);
    t.in_reply_to_screen_name = m.screen_name;
    t.in_reply_to_user_id = m.id;
    t.entities.user_mentions = {m};
    t.created_at = created_at(r);
    t.source = r.pick(sources);
    return t;
}

/// Appends the elements of `src` to `dst`, up to and including `last`, without those in `drop`.
void copy_cut(const bson_t* src, bson_t* dst, std::initializer_list<std::string_view> drop, std::string_view last) {
    bson_iter_t it;
    bson_iter_init(&it, src);
    while (bson_iter_next(&it)) {
        std::string_view key = bson_iter_key(&it);
        if (std::find(drop.begin(), drop.end(), key) == drop.end()) bson_append_iter(dst, nullptr, 0, &it);
        if (key == last) break;
    }
}

/// A line of ldjson/tweets-5000.ldjson. The official lines are cut-down tweets of about 1.1 kB:
/// no favorited, in_reply_to_user_id or id, and the user only up to "lang".
bs::document ldjson_tweet(rng& r) {
    const bs::document full = codec::encode(make_tweet(r));
    bson_iter_t it;
    std::uint32_t len = 0;
    const std::uint8_t* data = nullptr;
    if (!bson_iter_init_find(&it, full.get(), "user")) throw std::logic_error("tweet without user");
    bson_iter_document(&it, &len, &data);
    bson_t user_full;
    bson_init_static(&user_full, data, len);
    bs::document line, user;
    copy_cut(&user_full, user.get(), {}, "lang");
    copy_cut(full.get(), line.get(), {"user", "favorited", "in_reply_to_user_id", "id"}, {});
    bson_append_document(line.get(), "user", 4, user.get());
    return line;
}

// ---- the other data sets ----

/// driver/large_doc.json: 94,355 random 12-character keys; 12-character strings and int64s.
sm::driver_large_doc make_driver_large(rng& r) {
    sm::driver_large_doc d;
    std::unordered_set<std::string> keys;
    while (keys.size() < 94355) {
        std::string k = r.word(12);
        if (!keys.insert(k).second) continue;  // keys must be unique
        if (r.coin()) {
            std::string v = r.word(12);
            bson_append_utf8(d.fields.get(), k.c_str(), static_cast<int>(k.size()), v.c_str(), static_cast<int>(v.size()));
        } else {
            bson_append_int64(d.fields.get(), k.c_str(), static_cast<int>(k.size()), r.between(std::int64_t{1} << 32, std::int64_t{1} << 62));
        }
    }
    return d;
}

/// odm/large_doc.json: 125 strings, 125 small ints and a 2.4 MB image (a PNG signature, then noise).
sm::odm_large_doc make_odm_large(rng& r) {
    auto d = make<sm::odm_large_doc>(r, {.str_min = 26, .str_max = 34, .bin_len = 2413241});
    static constexpr std::array<std::uint8_t, 8> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::copy(png.begin(), png.end(), d.image_field.data.begin());
    return d;
}

// ---- writing ----

void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

/// The JSON of `doc`, after checking that it parses back to the same bytes (relaxed JSON
/// could turn a type into another; the tests rely on exact round trips).
std::string checked_json(const bs::document& doc, bs::json_mode mode, const std::string& what) {
    std::string json = doc.to_json(mode);
    if (!(bs::document::from_json(json) == doc)) throw std::runtime_error(what + ": the JSON does not parse back to the same BSON");
    return json;
}

/// The JSON of a model, checked as above, and that its document decodes into the model.
template <class T>
std::string checked_json(const T& obj, bs::json_mode mode, const std::string& what) {
    bs::document doc = codec::encode(obj);
    T again{};
    morm::diagnostics diag;
    if (auto ec = codec::decode(doc.view(), again, &diag)) throw std::runtime_error(what + ": " + diag.message);
    return checked_json(doc, mode, what);
}

/// Writes the file `rel` of `dir`: the document that `make` builds from the file's own rng.
template <class Make>
void generate(const fs::path& dir, std::uint64_t seed, const std::string& rel, bs::json_mode mode, Make make) {
    rng r = rng_for(seed, rel);
    write_file(dir / rel, checked_json(make(r), mode, rel));
}

void write_tweets(const fs::path& dir, std::uint64_t seed) {
    const std::string rel = "ldjson/tweets-5000.ldjson";
    rng r = rng_for(seed, rel);
    std::string text;
    for (int i = 0; i < 5000; ++i) text += checked_json(ldjson_tweet(r), bs::json_mode::relaxed, rel) + "\n";
    write_file(dir / rel, text);
}

void write_all(const fs::path& dir, std::uint64_t seed) {
    // The odm/ and driver/ originals are plain JSON (relaxed), the bson/ ones canonical.
    constexpr auto relaxed = bs::json_mode::relaxed, canonical = bs::json_mode::canonical;
    const shape small{.int_min = 1000000, .int_max = 99999999};
    const shape nested{.str_min = 26, .str_max = 34};
    const shape bson_shape{.str_min = 80, .str_max = 80, .int_min = -100, .int_max = 100, .vec_min = 4, .vec_max = 10};
    generate(dir, seed, "odm/small_doc.json", relaxed, [&](rng& r) { return make<sm::odm_small_doc>(r, small); });
    generate(dir, seed, "odm/large_doc.json", relaxed, make_odm_large);
    generate(dir, seed, "odm/large_doc_nested.json", relaxed, [&](rng& r) { return make<sm::odm_nested_doc>(r, nested); });
    generate(dir, seed, "driver/small_doc.json", relaxed, [&](rng& r) { return make<sm::driver_small_doc>(r, small); });
    generate(dir, seed, "driver/large_doc.json", relaxed, make_driver_large);
    generate(dir, seed, "driver/tweet.json", relaxed, make_tweet);
    generate(dir, seed, "bson/flat_bson.json", canonical, [&](rng& r) { return make<bm::flat_bson>(r, bson_shape); });
    generate(dir, seed, "bson/deep_bson.json", canonical, [&](rng& r) { return make<bm::deep_bson>(r, {}); });
    generate(dir, seed, "bson/full_bson.json", canonical, [&](rng& r) { return make<bm::full_bson>(r, bson_shape); });
    write_tweets(dir, seed);
    write_file(dir / "generated.txt",
               fmt::format("Generated by morm_gen_data (data/gen_data.cpp), seed {}: stand-ins with the shapes and sizes\n"
                           "of the MongoDB benchmark data sets. Set MORM_DATA_DIR to use the official files.\n",
                           seed));
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    std::uint64_t seed = default_seed;
    if (args.size() == 3 && args[1] == "--seed") seed = std::stoull(std::string(args[2]));
    else if (args.size() != 1) {
        std::fprintf(stderr, "usage: morm_gen_data OUT_DIR [--seed N]\n");
        return 2;
    }
    const fs::path dir(args[0]);
    try {
        fs::remove(dir / "generated.txt");  // written last: while it is absent, the data is incomplete
        write_all(dir, seed);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "morm_gen_data: %s\n", e.what());
        return 1;
    }
}
