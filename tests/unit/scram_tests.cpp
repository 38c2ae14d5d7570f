#include <morm/detail/base64.hpp>
#include <morm/wire/saslprep.hpp>
#include <morm/wire/scram.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

using namespace morm;
using namespace morm::wire;

namespace {

std::string b64(const unsigned char* p, std::size_t n) {
    std::string s;
    morm::detail::base64_encode_append(p, n, s);
    return s;
}

// Runs the raw SCRAM math on an RFC-style conversation (no MongoDB password transform).
void check_raw_vector(scram_mechanism m, std::string_view password, std::string_view salt_b64,
                      std::uint32_t iterations, std::string_view auth_message,
                      std::string_view expected_proof, std::string_view expected_signature) {
    std::string salt;
    REQUIRE(morm::detail::base64_decode(salt_b64, salt));
    wire::detail::scram_keys keys;
    REQUIRE(wire::detail::scram_derive_keys(m, password, salt, iterations, keys));
    unsigned char proof[32], sig[32];
    REQUIRE(wire::detail::scram_sign(m, keys, auth_message, proof, sig));
    CHECK(b64(proof, keys.size) == expected_proof);
    CHECK(b64(sig, keys.size) == expected_signature);
}

std::string prep(std::string_view in) {
    std::string out = "garbage";
    error_code ec = saslprep(in, out);
    REQUIRE_FALSE(ec);
    return out;
}

bool prep_fails(std::string_view in) {
    std::string out;
    error_code ec = saslprep(in, out);
    return ec == errc::auth_failed && out.empty();
}

}  // namespace

TEST_CASE("base64 round trip and strictness", "[scram][base64]") {
    using morm::detail::base64_decode;
    using morm::detail::base64_encode;
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    std::string out;
    CHECK(base64_decode("Zm9vYg==", out));
    CHECK(out == "foob");
    CHECK(base64_decode("Zm9vYmE=", out));
    CHECK(out == "fooba");
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    CHECK(base64_decode(base64_encode(all), out));
    CHECK(out == all);
    CHECK_FALSE(base64_decode("Zm9", out));       // not a multiple of 4
    CHECK_FALSE(base64_decode("Zm9v!A==", out));  // bad character
    CHECK_FALSE(base64_decode("Zg==Zm9v", out));  // padding in the middle
    CHECK_FALSE(base64_decode("Z===", out));      // too much padding
    CHECK_FALSE(base64_decode("Zh==", out));      // non-zero trailing bits
    CHECK_FALSE(base64_decode("Zm=v", out));      // 'x=y'
}

TEST_CASE("SCRAM raw math matches RFC 5802 (SHA-1) and RFC 7677 (SHA-256)", "[scram]") {
    check_raw_vector(scram_mechanism::sha1, "pencil", "QSXCR+Q6sek8bf92", 4096,
                     "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
                     "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
                     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
                     "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    check_raw_vector(scram_mechanism::sha256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096,
                     "n=user,r=rOprNGfwEbeRWgbNEkqO,"
                     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                     "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                     "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("MongoDB SCRAM-SHA-1 password transform", "[scram]") {
    // hex(md5("user:mongo:pencil"))
    CHECK(wire::detail::mongo_sha1_password("user", "pencil") == "1c33006ec1ffd90f9cadcbcc0e118200");
}

TEST_CASE("SCRAM-SHA-1 conversation, MongoDB Authentication spec example", "[scram]") {
    scram_client sc{scram_mechanism::sha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL"};
    CHECK(sc.mechanism_name() == "SCRAM-SHA-1");
    CHECK(sc.client_first() == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    std::string final_msg;
    diagnostics diag;
    auto ec = sc.handle_server_first(
        "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
        final_msg, diag);
    REQUIRE_FALSE(ec);
    // The spec's value; the brief's "v0X8v3Bz..." is the RFC 5802 proof without the MD5 transform.
    CHECK(final_msg ==
          "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=");
    CHECK_FALSE(sc.complete());
    ec = sc.handle_server_final("v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=", diag);
    CHECK_FALSE(ec);
    CHECK(sc.complete());
}

namespace {
constexpr std::string_view sha256_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view sha256_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view sha256_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
}  // namespace

TEST_CASE("SCRAM-SHA-256 conversation, MongoDB Authentication spec example", "[scram]") {
    scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
    CHECK(sc.mechanism_name() == "SCRAM-SHA-256");
    CHECK(sc.client_first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    std::string final_msg;
    diagnostics diag;
    REQUIRE_FALSE(sc.handle_server_first(sha256_server_first, final_msg, diag));
    CHECK(final_msg == sha256_client_final);
    CHECK(final_msg.find("pencil") == std::string::npos);
    CHECK_FALSE(sc.handle_server_final(sha256_server_final, diag));
    CHECK(sc.complete());
}

TEST_CASE("SCRAM-SHA-256 SASLpreps the password", "[scram]") {
    // "pen\u00ADcil" (soft hyphen) and "\u2168" style compatibility forms prep to the same key.
    scram_client sc{scram_mechanism::sha256, "user", "pen\xC2\xAD" "cil", "rOprNGfwEbeRWgbNEkqO"};
    sc.client_first();
    std::string final_msg;
    diagnostics diag;
    REQUIRE_FALSE(sc.handle_server_first(sha256_server_first, final_msg, diag));
    CHECK(final_msg == sha256_client_final);

    scram_client bad{scram_mechanism::sha256, "user", "pen\x07" "cil", "rOprNGfwEbeRWgbNEkqO"};
    bad.client_first();
    auto ec = bad.handle_server_first(sha256_server_first, final_msg, diag);
    CHECK(ec == errc::auth_failed);
    CHECK(diag.message.find("SASLprep") != std::string::npos);
    CHECK(diag.message.find("pen") == std::string::npos);
}

TEST_CASE("SCRAM client-first escapes the username and generates a nonce", "[scram]") {
    scram_client sc{scram_mechanism::sha256, "a=b,c", "pw"};
    CHECK(sc.client_nonce().size() == 32);  // 24 random bytes, base64
    CHECK(sc.client_first() == "n,,n=a=3Db=2Cc,r=" + sc.client_nonce());
    scram_client other{scram_mechanism::sha256, "u", "pw"};
    CHECK(other.client_nonce() != sc.client_nonce());
}

TEST_CASE("SCRAM rejects malformed server-first messages", "[scram]") {
    auto run = [](std::string_view server_first) {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.client_first();
        std::string final_msg = "untouched";
        diagnostics diag;
        auto ec = sc.handle_server_first(server_first, final_msg, diag);
        CHECK(final_msg == "untouched");
        CHECK(diag.message.find("user") != std::string::npos);
        CHECK(diag.message.find("pencil") == std::string::npos);
        return std::pair{ec, diag.message};
    };
    auto [ec1, m1] = run("r=XXXXNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    CHECK(ec1 == errc::auth_failed);
    CHECK(m1.find("nonce") != std::string::npos);
    auto [ec2, m2] = run("r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");  // no server part
    CHECK(ec2 == errc::auth_failed);
    auto [ec3, m3] = run("r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095");
    CHECK(ec3 == errc::auth_failed);
    CHECK(m3.find("iteration") != std::string::npos);
    auto [ec4, m4] = run("r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7so!EsUEjb6gQ=,i=4096");
    CHECK(ec4 == errc::auth_failed);
    CHECK(m4.find("salt") != std::string::npos);
    auto [ec5, m5] = run("r=rOprNGfwEbeRWgbNEkqOabc,s=,i=4096");
    CHECK(ec5 == errc::auth_failed);
    auto [ec6, m6] = run("r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=40x6");
    CHECK(ec6 == errc::auth_failed);
    auto [ec7, m7] = run("s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOabc,i=4096");
    CHECK(ec7 == errc::auth_failed);
    CHECK(m7.find("malformed") != std::string::npos);
    auto [ec8, m8] = run("m=ext,r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    CHECK(ec8 == errc::auth_failed);
    auto [ec9, m9] = run("");
    CHECK(ec9 == errc::auth_failed);
    auto [ec10, m10] = run("r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999");
    CHECK(ec10 == errc::auth_failed);
}

TEST_CASE("SCRAM server-final errors and signature mismatch", "[scram]") {
    auto start = [] {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.client_first();
        std::string final_msg;
        diagnostics diag;
        REQUIRE_FALSE(sc.handle_server_first(sha256_server_first, final_msg, diag));
        return sc;
    };
    diagnostics diag;
    {
        auto sc = start();
        CHECK(sc.handle_server_final("e=invalid-proof", diag) == errc::auth_failed);
        CHECK(diag.message.find("invalid-proof") != std::string::npos);
        CHECK_FALSE(sc.complete());
    }
    {
        auto sc = start();
        CHECK(sc.handle_server_final("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", diag) ==
              errc::auth_failed);
        CHECK(diag.message.find("server signature mismatch") != std::string::npos);
        CHECK_FALSE(sc.complete());
    }
    {
        auto sc = start();
        CHECK(sc.handle_server_final("v=6rriTRBi23WpRR", diag) == errc::auth_failed);
        auto sc2 = start();
        CHECK(sc2.handle_server_final("x=1", diag) == errc::auth_failed);
    }
}

TEST_CASE("SCRAM calls out of order are rejected", "[scram]") {
    scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
    std::string final_msg;
    diagnostics diag;
    CHECK(sc.handle_server_first(sha256_server_first, final_msg, diag) == errc::invalid_argument);
    scram_client sc2{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
    sc2.client_first();
    CHECK(sc2.handle_server_final(sha256_server_final, diag) == errc::invalid_argument);
}

TEST_CASE("SCRAM key cache skips derivation and misses on a different salt", "[scram]") {
    scram_key_cache cache;
    auto run = [&](std::string_view password, std::string_view server_first) {
        scram_client sc{scram_mechanism::sha256, "user", std::string(password), "rOprNGfwEbeRWgbNEkqO"};
        sc.set_key_cache(&cache);
        sc.client_first();
        std::string final_msg;
        diagnostics diag;
        REQUIRE_FALSE(sc.handle_server_first(server_first, final_msg, diag));
        return final_msg;
    };
    CHECK_FALSE(cache.has_value());
    CHECK(run("pencil", sha256_server_first) == sha256_client_final);
    CHECK(cache.has_value());
    CHECK(run("pencil", sha256_server_first) == sha256_client_final);  // hit, same result
    // A different password with the same salt must not reuse the cached keys.
    CHECK(run("pencil2", sha256_server_first) != sha256_client_final);
    CHECK(run("pencil", sha256_server_first) == sha256_client_final);
    // A different salt misses and refills.
    std::string other = run("pencil", "r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92,i=4096");
    CHECK(other.find("p=") != std::string::npos);
    cache.clear();
    CHECK_FALSE(cache.has_value());
}

TEST_CASE("SASLprep RFC 4013 section 3 examples", "[scram][saslprep]") {
    CHECK(prep("I\xC2\xAD" "X") == "IX");        // SOFT HYPHEN mapped to nothing
    CHECK(prep("user") == "user");               // no transformation
    CHECK(prep("USER") == "USER");               // case preserved
    CHECK(prep("\xC2\xAA") == "a");              // U+00AA -> a (NFKC)
    CHECK(prep("\xE2\x85\xA8") == "IX");         // U+2168 ROMAN NUMERAL NINE -> IX
    CHECK(prep_fails("\x07"));                   // prohibited (C.2.1)
    CHECK(prep_fails("\xD8\xA7" "1"));           // U+0627 U+0031: bidi violation
}

TEST_CASE("SASLprep mapping, normalization and prohibition", "[scram][saslprep]") {
    CHECK(prep("") == "");
    CHECK(prep("a\xC2\xA0" "b") == "a b");              // U+00A0 NBSP -> space (C.1.2)
    CHECK(prep("a\xE3\x80\x80" "b") == "a b");          // U+3000 ideographic space -> space
    CHECK(prep("a\xE2\x80\x8B" "b") == "ab");           // U+200B: B.1 wins over C.1.2
    CHECK(prep("\xEF\xAC\x81") == "fi");                // U+FB01 LATIN SMALL LIGATURE FI
    CHECK(prep("\xEF\xBC\xA1\xEF\xBD\x82") == "Ab");    // fullwidth A, b
    CHECK(prep("\xC2\xBD") == "1\xE2\x81\x84" "2");     // U+00BD -> 1 U+2044 2
    CHECK(prep("e\xCC\x81") == "\xC3\xA9");             // e + U+0301 composes to U+00E9
    CHECK(prep("\xE2\x84\xAB") == "\xC3\x85");          // U+212B ANGSTROM SIGN -> U+00C5
    // Canonical reordering: U+0323 (ccc 220) sorts before U+0307 (ccc 230): -> U+1E0D U+0307
    CHECK(prep("d\xCC\x87\xCC\xA3") == "\xE1\xB8\x8D\xCC\x87");
    CHECK(prep("\xE1\x84\x80\xE1\x85\xA1") == "\xEA\xB0\x80");  // Hangul L+V -> U+AC00
    CHECK(prep("\xEA\xB0\x81") == "\xEA\xB0\x81");               // U+AC01 stays composed
    CHECK(prep("\xC3\xA9t\xC3\xA9") == "\xC3\xA9t\xC3\xA9");     // already NFKC
    CHECK(prep_fails("a\x7F"));                          // DEL, C.2.1
    CHECK(prep_fails("a\xC2\x85"));                      // U+0085, C.2.2
    CHECK(prep_fails("\xEE\x80\x80"));                   // U+E000 private use, C.3
    CHECK(prep_fails("\xEF\xBF\xBE"));                   // U+FFFE non-character, C.4
    CHECK(prep_fails("\xEF\xBF\xBD"));                   // U+FFFD, C.6
    CHECK(prep_fails("a\xE2\x80\x8E"));                  // U+200E LRM, C.8
    CHECK(prep_fails("\xF3\xA0\x80\x81"));               // U+E0001 language tag, C.9
    CHECK(prep_fails("\xC8\xB7"));                       // U+0237, unassigned in Unicode 3.2 (A.1)
    CHECK(prep_fails("\xC3"));                           // truncated UTF-8
    CHECK(prep_fails("\xC0\xAF"));                       // overlong
    CHECK(prep_fails("\xED\xA0\x80"));                   // encoded surrogate
}

TEST_CASE("SASLprep bidi rules", "[scram][saslprep]") {
    CHECK(prep("\xD8\xA7\xD8\xA8") == "\xD8\xA7\xD8\xA8");    // all RandALCat
    CHECK(prep("\xD8\xA7" "1\xD8\xA8") == "\xD8\xA7" "1\xD8\xA8");  // RandAL, neutral, RandAL
    CHECK(prep_fails("1\xD8\xA7"));                            // does not start with RandALCat
    CHECK(prep_fails("\xD8\xA7" "a\xD8\xA8"));                 // mixes LCat
}

TEST_CASE("SCRAM client survives a move mid-conversation", "[scram]") {
    scram_client a{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
    a.client_first();
    scram_client b = std::move(a);
    std::string final_msg;
    diagnostics diag;
    REQUIRE_FALSE(b.handle_server_first(sha256_server_first, final_msg, diag));
    CHECK(final_msg == sha256_client_final);
    scram_client c{scram_mechanism::sha1, "x", "y"};
    c = std::move(b);
    CHECK_FALSE(c.handle_server_final(sha256_server_final, diag));
    CHECK(c.complete());
}

TEST_CASE("SCRAM iteration count bounds: 4096 to 1,000,000, refused at once outside", "[scram]") {
    auto run = [](std::string_view iterations) {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.client_first();
        std::string server_first = "r=rOprNGfwEbeRWgbNEkqOabc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=";
        server_first += iterations;
        std::shared_ptr<scram_derivation> job;
        diagnostics diag;
        auto t0 = std::chrono::steady_clock::now();
        auto ec = sc.begin_server_first(server_first, job, diag);
        // Validation alone: no PBKDF2 runs in begin_server_first, whatever the count.
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50));
        CHECK((ec ? job == nullptr : job != nullptr));
        return std::pair{ec, diag.message};
    };
    for (auto big : {"2147483647", "4294967295", "1000001", "99999999999999999999"}) {
        INFO(big);
        auto [ec, msg] = run(big);
        CHECK(ec == errc::auth_failed);
        CHECK(msg.find("above the maximum of 1000000") != std::string::npos);
    }
    CHECK_FALSE(run("1000000").first);
    CHECK_FALSE(run("4096").first);
    CHECK(run("4095").first == errc::auth_failed);
    CHECK(run("0").first == errc::auth_failed);
    CHECK(run("-5").first == errc::auth_failed);
    CHECK(run("").first == errc::auth_failed);
}

TEST_CASE("SCRAM server-first: extensions after i= ignored, anything else refused", "[scram]") {
    auto run = [](std::string_view server_first) {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.client_first();
        std::string final_msg;
        diagnostics diag;
        return std::pair{sc.handle_server_first(server_first, final_msg, diag), diag.message};
    };
    const std::string base = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    CHECK_FALSE(run(base + ",x=future").first);
    CHECK_FALSE(run(base + ",x=").first);
    for (auto bad : {",r=again", ",s=c2FsdA==", ",i=4096", ",m=ext", ",garbage", ",", ",=x", ",1=x"}) {
        INFO(bad);
        auto [ec, msg] = run(base + bad);
        CHECK(ec == errc::auth_failed);
        CHECK(msg.find("after i=") != std::string::npos);
    }
    // A salt that decodes to nothing is refused like an empty one.
    auto [ec, msg] = run("r=rOprNGfwEbeRWgbNEkqOabc,s====,i=4096");
    CHECK(ec == errc::auth_failed);
}

TEST_CASE("SCRAM split derivation: begin, run the job elsewhere, finish gives the spec's client-final", "[scram]") {
    scram_key_cache cache;
    for (int round = 0; round < 2; ++round) {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.set_key_cache(&cache);
        sc.client_first();
        std::shared_ptr<scram_derivation> job;
        diagnostics diag;
        REQUIRE_FALSE(sc.begin_server_first(sha256_server_first, job, diag));
        CHECK((job != nullptr) == (round == 0));  // the second round hits the cache
        if (job) {
            std::thread t([job] { job->run(); });
            t.join();
            CHECK(job->ok());
        }
        std::string final_msg;
        REQUIRE_FALSE(sc.finish_server_first(final_msg, diag));
        CHECK(final_msg == sha256_client_final);
        CHECK_FALSE(sc.handle_server_final(sha256_server_final, diag));
        CHECK(sc.complete());
    }
    // An abandoned job outlives its conversation and still runs safely.
    std::shared_ptr<scram_derivation> orphan;
    {
        scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
        sc.client_first();
        diagnostics diag;
        REQUIRE_FALSE(sc.begin_server_first(sha256_server_first, orphan, diag));
    }
    REQUIRE(orphan);
    orphan->run();
    CHECK(orphan->ok());
    // finish before begin is out of order.
    scram_client sc{scram_mechanism::sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO"};
    sc.client_first();
    std::string final_msg;
    diagnostics diag;
    CHECK(sc.finish_server_first(final_msg, diag) == errc::invalid_argument);
}
