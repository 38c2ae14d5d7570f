// An in-process OP_MSG "sink" server for client-overhead benchmarks (never for tests of
// behaviour: those use a real server).
//
// It runs on its OWN thread with its own io_context, so the client under test keeps a
// thread to itself and its CPU time can be measured with CLOCK_THREAD_CPUTIME_ID without
// the sink's work. Frames are parsed with morm's wire layer (parse_header/parse_op_msg);
// every write is acknowledged at once with {n: <items in the frame>, ok: 1}; hello,
// isMaster (also legacy OP_QUERY, which libmongoc uses for its first handshake), ping,
// buildInfo, endSessions etc. get sensible replies; find/getMore return canned batches of
// one template document with distinct ObjectIds, `find_total` documents per cursor.
// All replies produced by one read are sent in one write, so pipelined requests cost
// the sink one syscall per read.
#pragma once

#include <morm/wire/frame_buffer.hpp>
#include <morm/wire/op_msg.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <bson/bson.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace morm_bench {

class sink_server {
public:
    /// `find_doc_json`: the template document find/getMore return (an _id is prepended).
    explicit sink_server(const std::string& find_doc_json = R"({"x": 1})") : acceptor_(ioc_) {
        bson_error_t err;
        if (!bson_init_from_json(&template_, find_doc_json.c_str(), -1, &err))
            throw std::runtime_error(std::string("sink: bad template document: ") + err.message);
        namespace ip = boost::asio::ip;
        ip::tcp::endpoint ep(ip::make_address("127.0.0.1"), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~sink_server() {
        ioc_.stop();
        thread_.join();
        bson_destroy(&template_);
    }
    sink_server(const sink_server&) = delete;
    sink_server& operator=(const sink_server&) = delete;

    unsigned short port() const noexcept { return port_; }
    std::string uri(std::string_view db = "bench", std::string_view options = "") const {
        std::string u = "mongodb://127.0.0.1:" + std::to_string(port_) + "/" + std::string(db);
        if (!options.empty()) u += "?" + std::string(options);
        return u;
    }
    /// Documents per cursor returned by find/getMore.
    void set_find_total(long long n) noexcept { find_total_ = n; }

    /// Items (documents, update and delete statements) received in write commands.
    std::uint64_t items_received() const noexcept { return items_.load(); }
    std::uint64_t frames_received() const noexcept { return frames_.load(); }
    void reset_counters() noexcept {
        items_ = 0;
        frames_ = 0;
    }

private:
    using tcp = boost::asio::ip::tcp;

    boost::asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, sock] = co_await acceptor_.async_accept(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) co_return;
            sock.set_option(tcp::no_delay(true));
            boost::asio::co_spawn(ioc_, serve(std::move(sock)), boost::asio::detached);
        }
    }

    boost::asio::awaitable<void> serve(tcp::socket s) {
        using boost::asio::as_tuple;
        using boost::asio::use_awaitable;
        std::vector<std::uint8_t> in(1 << 20);
        std::size_t have = 0;
        morm::wire::frame_buffer out(1 << 16);
        for (;;) {
            if (have == in.size()) in.resize(in.size() * 2);
            auto [ec, n] = co_await s.async_read_some(boost::asio::buffer(in.data() + have, in.size() - have),
                                                      as_tuple(use_awaitable));
            if (ec) co_return;
            have += n;
            std::size_t pos = 0;
            while (have - pos >= 16) {
                std::int32_t len;
                std::memcpy(&len, in.data() + pos, 4);
                if (len < 16 || len > 64 * 1024 * 1024) co_return;
                auto ulen = static_cast<std::size_t>(len);
                if (have - pos < ulen) {
                    if (ulen > in.size()) {
                        // Make room for the whole frame (moved to the front below).
                        std::memmove(in.data(), in.data() + pos, have - pos);
                        have -= pos;
                        pos = 0;
                        in.resize(ulen);
                    }
                    break;
                }
                if (!handle(in.data() + pos, ulen, out)) co_return;
                pos += ulen;
            }
            if (pos) {
                std::memmove(in.data(), in.data() + pos, have - pos);
                have -= pos;
            }
            if (!out.empty()) {
                auto [wec, wn] = co_await boost::asio::async_write(s, boost::asio::buffer(out.data(), out.size()),
                                                                   as_tuple(use_awaitable));
                (void)wn;
                if (wec) co_return;
                out.clear();
            }
        }
    }

    static std::int32_t rd32(const std::uint8_t* p) {
        std::int32_t v;
        std::memcpy(&v, p, 4);
        return v;
    }

    void append_hello(bson_t* b) const {
        BSON_APPEND_BOOL(b, "helloOk", true);
        BSON_APPEND_BOOL(b, "isWritablePrimary", true);
        BSON_APPEND_BOOL(b, "ismaster", true);
        BSON_APPEND_INT32(b, "maxBsonObjectSize", 16 * 1024 * 1024);
        BSON_APPEND_INT32(b, "maxMessageSizeBytes", 48'000'000);
        BSON_APPEND_INT32(b, "maxWriteBatchSize", 100'000);
        BSON_APPEND_DATE_TIME(b, "localTime", 0);
        BSON_APPEND_INT32(b, "connectionId", 1);
        BSON_APPEND_INT32(b, "minWireVersion", 0);
        BSON_APPEND_INT32(b, "maxWireVersion", 17);
        BSON_APPEND_BOOL(b, "readOnly", false);
        BSON_APPEND_DOUBLE(b, "ok", 1.0);
    }

    /// Handles one complete frame; appends the reply to `out`. False = close.
    bool handle(const std::uint8_t* f, std::size_t len, morm::wire::frame_buffer& out) {
        std::int32_t request_id = rd32(f + 4);
        std::int32_t op = rd32(f + 12);
        frames_.fetch_add(1, std::memory_order_relaxed);
        if (op == 2004) return handle_op_query(f, len, request_id, out);
        if (op != morm::wire::op_msg_opcode) return false;

        morm::wire::op_msg_view msg;
        morm::diagnostics diag;
        if (morm::wire::parse_op_msg({f, len}, msg, diag) || !msg.has_body) return false;
        if (msg.more_to_come()) return true;  // fire-and-forget: no reply expected

        // Items in kind-1 sections (morm and libmongoc send write documents this way).
        std::size_t items = 0;
        std::size_t end = len - ((msg.flag_bits & morm::wire::flags::checksum_present) ? 4 : 0);
        for (std::size_t p = 20; p < end;) {
            std::uint8_t kind = f[p];
            auto size = static_cast<std::size_t>(rd32(f + p + 1));
            if (kind == 1) {
                std::size_t q = p + 5;
                while (q < p + 1 + size && f[q]) ++q;  // identifier
                ++q;
                while (q + 4 <= p + 1 + size) {
                    q += static_cast<std::size_t>(rd32(f + q));
                    ++items;
                }
                p += 1 + size;
            } else {
                p += 1 + size;
            }
        }

        bson_iter_t it;
        if (!bson_iter_init(&it, &msg.body) || !bson_iter_next(&it)) return false;
        std::string_view cmd = bson_iter_key(&it);
        // Items in the body's arrays (drivers may also send them inline).
        if (items == 0 && (cmd == "insert" || cmd == "update" || cmd == "delete")) {
            const char* arr = cmd == "insert" ? "documents" : cmd == "update" ? "updates" : "deletes";
            bson_iter_t a, c;
            if (bson_iter_init_find(&a, &msg.body, arr) && BSON_ITER_HOLDS_ARRAY(&a) && bson_iter_recurse(&a, &c))
                while (bson_iter_next(&c)) ++items;
        }

        morm::wire::op_msg_writer w(out, ++reply_id_);
        out.write_int32_le_at(w.start() + 8, request_id);  // responseTo
        bson_t* b = w.begin_body();
        if (cmd == "insert" || cmd == "delete") {
            items_.fetch_add(items, std::memory_order_relaxed);
            BSON_APPEND_INT32(b, "n", static_cast<std::int32_t>(items));
            BSON_APPEND_DOUBLE(b, "ok", 1.0);
        } else if (cmd == "update") {
            items_.fetch_add(items, std::memory_order_relaxed);
            BSON_APPEND_INT32(b, "n", static_cast<std::int32_t>(items));
            BSON_APPEND_INT32(b, "nModified", static_cast<std::int32_t>(items));
            BSON_APPEND_DOUBLE(b, "ok", 1.0);
        } else if (cmd == "hello" || cmd == "isMaster" || cmd == "ismaster") {
            append_hello(b);
        } else if (cmd == "find") {
            find_reply(msg.body, b);
        } else if (cmd == "getMore") {
            get_more_reply(msg.body, b);
        } else if (cmd == "buildInfo" || cmd == "buildinfo") {
            BSON_APPEND_UTF8(b, "version", "7.0.0");
            bson_t arr;
            BSON_APPEND_ARRAY_BEGIN(b, "versionArray", &arr);
            BSON_APPEND_INT32(&arr, "0", 7);
            BSON_APPEND_INT32(&arr, "1", 0);
            BSON_APPEND_INT32(&arr, "2", 0);
            BSON_APPEND_INT32(&arr, "3", 0);
            bson_append_array_end(b, &arr);
            BSON_APPEND_INT32(b, "maxBsonObjectSize", 16 * 1024 * 1024);
            BSON_APPEND_DOUBLE(b, "ok", 1.0);
        } else if (cmd == "listCollections" || cmd == "listIndexes") {
            bson_t c, fb;
            BSON_APPEND_DOCUMENT_BEGIN(b, "cursor", &c);
            BSON_APPEND_INT64(&c, "id", 0);
            BSON_APPEND_UTF8(&c, "ns", "bench.$cmd");
            BSON_APPEND_ARRAY_BEGIN(&c, "firstBatch", &fb);
            bson_append_array_end(&c, &fb);
            bson_append_document_end(b, &c);
            BSON_APPEND_DOUBLE(b, "ok", 1.0);
        } else {
            // ping, endSessions, killCursors, create, drop, createIndexes, ...
            BSON_APPEND_DOUBLE(b, "ok", 1.0);
        }
        w.end_body();
        w.finish();
        return true;
    }

    bool handle_op_query(const std::uint8_t* f, std::size_t len, std::int32_t request_id,
                         morm::wire::frame_buffer& out) {
        // flags(4) fullCollectionName(cstring) skip(4) return(4) query(doc): answer hello.
        (void)f;
        (void)len;
        bson_t reply;
        bson_init(&reply);
        append_hello(&reply);
        std::size_t start = out.size();
        out.append_int32_le(0);
        out.append_int32_le(++reply_id_);
        out.append_int32_le(request_id);
        out.append_int32_le(morm::wire::op_reply_opcode);
        out.append_int32_le(0);  // responseFlags
        std::int64_t cursor = 0;
        out.append(&cursor, 8);
        out.append_int32_le(0);  // startingFrom
        out.append_int32_le(1);  // numberReturned
        out.append(bson_get_data(&reply), reply.len);
        out.write_int32_le_at(start, static_cast<std::int32_t>(out.size() - start));
        bson_destroy(&reply);
        return true;
    }

    static std::int64_t get_int(const bson_t& body, const char* key, std::int64_t dflt) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, &body, key) && BSON_ITER_HOLDS_NUMBER(&it)) return bson_iter_as_int64(&it);
        return dflt;
    }

    void append_batch(bson_t* cursor_doc, const char* field, std::int64_t count) {
        bson_t arr;
        bson_append_array_begin(cursor_doc, field, -1, &arr);
        char keybuf[16];
        for (std::int64_t i = 0; i < count; ++i) {
            const char* key;
            std::size_t klen = bson_uint32_to_string(static_cast<std::uint32_t>(i), &key, keybuf, sizeof keybuf);
            bson_t d;
            bson_append_document_begin(&arr, key, static_cast<int>(klen), &d);
            bson_oid_t oid;
            std::memset(oid.bytes, 0, 12);
            std::uint64_t c = ++oid_counter_;
            std::memcpy(oid.bytes + 4, &c, 8);
            BSON_APPEND_OID(&d, "_id", &oid);
            bson_concat(&d, &template_);
            bson_append_document_end(&arr, &d);
        }
        bson_append_array_end(cursor_doc, &arr);
    }

    // The cursor's namespace, as a server names it: "<$db>.<collection>" (clients check that
    // a getMore reply is for their cursor).
    static std::string cursor_ns(const bson_t& body, const char* coll_key) {
        bson_iter_t it;
        std::string db = "bench", coll = "coll";
        if (bson_iter_init_find(&it, &body, "$db") && BSON_ITER_HOLDS_UTF8(&it)) db = bson_iter_utf8(&it, nullptr);
        if (bson_iter_init_find(&it, &body, coll_key) && BSON_ITER_HOLDS_UTF8(&it)) coll = bson_iter_utf8(&it, nullptr);
        return db + "." + coll;
    }

    void cursor_reply(bson_t* b, const char* field, std::int64_t id, std::int64_t count, const std::string& ns) {
        bson_t c;
        BSON_APPEND_DOCUMENT_BEGIN(b, "cursor", &c);
        append_batch(&c, field, count);
        BSON_APPEND_INT64(&c, "id", id);
        BSON_APPEND_UTF8(&c, "ns", ns.c_str());
        bson_append_document_end(b, &c);
        BSON_APPEND_DOUBLE(b, "ok", 1.0);
    }

    // Batches are capped at 1,000 documents (about what a server sends for small
    // documents in its first 16 MiB batches would be far larger; the cap keeps the sink's
    // own buffers small so it does not blur memory measurements).
    static constexpr std::int64_t max_batch = 1000;

    void find_reply(const bson_t& body, bson_t* b) {
        std::int64_t total = find_total_;
        std::int64_t limit = get_int(body, "limit", 0);
        if (limit > 0 && limit < total) total = limit;
        std::int64_t batch = get_int(body, "batchSize", 101);
        bson_iter_t it;
        bool single = bson_iter_init_find(&it, &body, "singleBatch") && bson_iter_as_bool(&it);
        if (batch <= 0) batch = 101;
        batch = std::min({batch, max_batch, total});
        std::int64_t left = single ? 0 : total - batch;
        std::int64_t id = 0;
        if (left > 0) {
            id = ++cursor_counter_;
            cursors_[id] = left;
        }
        cursor_reply(b, "firstBatch", id, batch, cursor_ns(body, "find"));
    }

    void get_more_reply(const bson_t& body, bson_t* b) {
        std::int64_t id = get_int(body, "getMore", 0);
        auto found = cursors_.find(id);
        std::int64_t left = found == cursors_.end() ? 0 : found->second;
        std::int64_t batch = get_int(body, "batchSize", max_batch);
        if (batch <= 0) batch = max_batch;
        batch = std::min({batch, max_batch, left});
        left -= batch;
        if (left > 0) found->second = left;
        else if (found != cursors_.end()) cursors_.erase(found), id = 0;
        else id = 0;
        cursor_reply(b, "nextBatch", id, batch, cursor_ns(body, "collection"));
    }

    boost::asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    unsigned short port_ = 0;
    bson_t template_;
    std::int32_t reply_id_ = 0;
    std::uint64_t oid_counter_ = 0;
    std::int64_t cursor_counter_ = 0;
    std::unordered_map<std::int64_t, std::int64_t> cursors_;  // id -> documents left
    std::atomic<long long> find_total_{1000};
    std::atomic<std::uint64_t> items_{0};
    std::atomic<std::uint64_t> frames_{0};
};

}  // namespace morm_bench
