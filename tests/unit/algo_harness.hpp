// A scripted harness for the sans-io algorithms (wire/algo/), after Boost.MySQL's
// algo_test: a script of expected writes (checked as parsed commands or as exact bytes)
// and canned reads (reply frames), run against an algorithm with no socket; then
// check_network_errors / check_cancellation re-run the script once per step, injecting a
// connection reset or operation_aborted at that step, and check the algorithm finishes
// with that error and leaves a consistent state (checked by the caller's `verify`).
#pragma once

#include <morm/bson/document.hpp>
#include <morm/error.hpp>
#include <morm/wire/algo/frames.hpp>
#include <morm/wire/algo/next_action.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/error.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace algo_test {

using bytes = std::vector<std::uint8_t>;
using morm::diagnostics;
using morm::error_code;
using morm::wire::algo::next_action;

/// One request frame of a write, parsed back into the command it carries.
struct sent_command {
    std::int32_t request_id = 0;
    std::string name, db;
    morm::bson::document doc;  ///< body plus kind-1 sequences as arrays

    std::int64_t int_at(std::string_view path) const {
        auto it = doc.find(path);
        REQUIRE(it);
        return bson_iter_as_int64(&*it);
    }
    std::string str_at(std::string_view path) const {
        auto it = doc.find(path);
        REQUIRE(it);
        REQUIRE(BSON_ITER_HOLDS_UTF8(&*it));
        return bson_iter_utf8(&*it, nullptr);
    }
    bool has(std::string_view path) const { return doc.find(path).has_value(); }
    std::size_t array_size(std::string_view key) const {
        auto it = doc.find(key);
        REQUIRE(it);
        bson_iter_t child;
        REQUIRE(bson_iter_recurse(&*it, &child));
        std::size_t n = 0;
        while (bson_iter_next(&child)) ++n;
        return n;
    }
    std::string binary_at(std::string_view path) const {
        auto it = doc.find(path);
        REQUIRE(it);
        REQUIRE(BSON_ITER_HOLDS_BINARY(&*it));
        bson_subtype_t st;
        std::uint32_t len;
        const std::uint8_t* data;
        bson_iter_binary(&*it, &st, &len, &data);
        return std::string(reinterpret_cast<const char*>(data), len);
    }
};

/// Every frame of one write, in order.
inline std::vector<sent_command> parse_write(std::span<const std::uint8_t> data) {
    std::vector<sent_command> out;
    std::size_t total = 0;
    morm::wire::algo::for_each_frame(data, [&](const morm::wire::algo::frame_info& fi) {
        bson_t cmd;
        std::string_view name, db;
        const bool ok = morm::wire::algo::command_from_frame(fi.bytes, &cmd, name, db);
        sent_command sc;
        sc.request_id = fi.request_id;
        sc.name = std::string(name);
        sc.db = std::string(db);
        sc.doc.assign(morm::bson::document_view(bson_get_data(&cmd), cmd.len));
        bson_destroy(&cmd);
        CHECK(ok);
        total += fi.bytes.size();
        out.push_back(std::move(sc));
    });
    CHECK(total == data.size());  // nothing but whole frames
    return out;
}

/// A reply frame answering `response_to` with the body `json` (relaxed extended JSON).
inline bytes reply_frame(std::int32_t response_to, std::string_view json, std::uint32_t flag_bits = 0,
                         std::int32_t request_id = 9000) {
    morm::wire::frame_buffer buf;
    {
        morm::wire::op_msg_writer w(buf, request_id, flag_bits);
        bson_t* body = w.begin_body();
        auto doc = morm::bson::document::from_json(json);
        bson_concat(body, doc.get());
        w.end_body();
        w.finish();
    }
    bytes b(buf.data(), buf.data() + buf.size());
    // op_msg_writer writes responseTo 0: patch it (bytes 8..11, little-endian).
    auto u = static_cast<std::uint32_t>(response_to);
    for (int i = 0; i < 4; ++i) b[8 + i] = static_cast<std::uint8_t>(u >> (8 * i));
    return b;
}

class script {
public:
    using write_check = std::function<void(const std::vector<sent_command>&)>;

    /// A write whose frames are parsed and handed to `check`.
    script& expect_write(write_check check) {
        steps_.push_back({step::write, {}, std::move(check)});
        return *this;
    }
    /// A write that must be exactly `fixture`.
    script& expect_write_bytes(bytes fixture) {
        steps_.push_back({step::write, std::move(fixture), {}});
        return *this;
    }
    /// A read answered with `frame`.
    script& read(bytes frame) {
        steps_.push_back({step::read, std::move(frame), {}});
        return *this;
    }
    std::size_t size() const noexcept { return steps_.size(); }

    struct result {
        error_code ec;
        diagnostics diag;
        std::size_t steps = 0;  ///< steps consumed
    };

    /// Runs `algo` against the script; with `inject`, the step at index `inject->first`
    /// fails with `inject->second` instead (the I/O is not performed).
    template <class Algo>
    result run(Algo& algo, std::optional<std::pair<std::size_t, error_code>> inject = {}) const {
        next_action act = algo.resume({}, {});
        std::size_t i = 0;
        for (;; ++i) {
            // CPU work handed to the driver (SCRAM's PBKDF2) is no I/O step: run it inline.
            while (act.type == next_action::kind::offload) {
                act.work();
                act = algo.resume({}, {});
            }
            if (act.is_done()) {
                if (!inject) CHECK(i == steps_.size());  // the script was followed to its end
                return {act.ec, algo.diag(), i};
            }
            INFO("step " << i);
            REQUIRE(i < steps_.size());
            const auto& s = steps_[i];
            REQUIRE(act.type == (s.type == step::write ? next_action::kind::write : next_action::kind::read));
            if (inject && inject->first == i) {
                algo.diag().message = "injected I/O failure";
                act = algo.resume(inject->second, {});
                REQUIRE(act.is_done());  // an I/O failure always ends the operation
                return {act.ec, algo.diag(), i + 1};
            }
            if (s.type == step::write) {
                if (s.check) s.check(parse_write(act.bytes));
                else CHECK(bytes(act.bytes.begin(), act.bytes.end()) == s.data);
                act = algo.resume({}, {});
            } else {
                act = algo.resume({}, s.data);
            }
        }
    }

private:
    struct step {
        enum kind_t { write, read } type;
        bytes data;
        write_check check;
    };
    std::vector<step> steps_;
};

/// For every step of `s`: builds a fresh fixture with `make()` (it owns the algorithm as
/// `fx->algo` and whatever it points to), runs the script injecting `injected` at that
/// step, checks the algorithm finishes with exactly that error, then calls
/// `verify(*fx, step)` to check the state it left.
template <class Make, class Verify>
void check_injected(Make make, const script& s, error_code injected, Verify verify) {
    for (std::size_t step = 0; step < s.size(); ++step) {
        INFO("error injected at step " << step << ": " << injected.message());
        auto fx = make();
        auto r = s.run(fx->algo, std::make_pair(step, injected));
        CHECK(r.ec == injected);
        CHECK(r.steps == step + 1);
        verify(*fx, step);
    }
}

template <class Make, class Verify>
void check_network_errors(Make make, const script& s, Verify verify) {
    check_injected(make, s, error_code(boost::asio::error::connection_reset), verify);
}

template <class Make, class Verify>
void check_cancellation(Make make, const script& s, Verify verify) {
    check_injected(make, s, error_code(boost::asio::error::operation_aborted), verify);
}

/// Both, for fixtures whose state needs no particular check after a failure.
template <class Make>
void check_io_failures(Make make, const script& s) {
    auto none = [](auto&, std::size_t) {};
    check_network_errors(make, s, none);
    check_cancellation(make, s, none);
}

}  // namespace algo_test
