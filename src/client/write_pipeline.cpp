#include <morm/client/write_pipeline.hpp>
#include <morm/detail/text.hpp>
#include <morm/net/connection.hpp>
#include <morm/wire/reply.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstring>

namespace morm {

namespace {

struct frame_plan {
    std::size_t group;
    std::int32_t request_id;
    std::vector<std::uint32_t> items;  // item index of each document in the frame, in order
    std::chrono::steady_clock::time_point started{};
};

std::string_view command_name(write_kind k) {
    switch (k) {
        case write_kind::insert: return "insert";
        case write_kind::update: return "update";
        case write_kind::remove: return "delete";
    }
    return "insert";
}
std::string_view sequence_name(write_kind k) {
    switch (k) {
        case write_kind::insert: return "documents";
        case write_kind::update: return "updates";
        case write_kind::remove: return "deletes";
    }
    return "documents";
}

void begin_frame_body(wire::op_msg_writer& w, const write_group& g) {
    bson_t* body = w.begin_body();
    auto name = command_name(g.kind);
    bson_append_utf8(body, name.data(), static_cast<int>(name.size()), g.collection.data(),
                     static_cast<int>(g.collection.size()));
    bson_append_bool(body, "ordered", 7, g.ordered);
    if (g.bypass_document_validation) bson_append_bool(body, "bypassDocumentValidation", -1, true);
    if (g.wc) g.wc->append_to(body);
    bson_append_utf8(body, "$db", 3, g.db.data(), static_cast<int>(g.db.size()));
    w.end_body();
    w.begin_sequence(sequence_name(g.kind), static_cast<bool>(g.encode_raw));
}

/// Encodes items [next, count) of group `gi` into frames appended to `buf` (at most
/// `max_frames` frames; 0 = unlimited). Returns the index of the first item not encoded.
std::size_t encode_group(net::connection& conn, write_group& g, std::size_t gi, std::size_t next,
                         std::size_t max_frames, std::vector<frame_plan>& frames) {
    const auto& sd = conn.server();
    const std::size_t max_doc = static_cast<std::size_t>(sd.max_bson_object_size) +
                                (g.kind == write_kind::insert ? 0 : 16 * 1024);
    const std::size_t max_msg = static_cast<std::size_t>(sd.max_message_size_bytes);
    const std::size_t max_batch = g.max_batch > 0 ? std::min<std::size_t>(g.max_batch, sd.max_write_batch_size)
                                                  : static_cast<std::size_t>(sd.max_write_batch_size);
    auto& buf = conn.out_buffer();
    std::size_t made = 0;
    // An item that is not sent: its encoder failed (`e`), or it is over the size limit.
    auto reject = [&](std::size_t i, const error_code& e, diagnostics& d, std::size_t len) {
        auto& o = g.outcomes[i];
        o.st = item_outcome::state::failed;
        if (e) {
            // The caller's reason when it is one of ours (e.g. invalid_argument), else encode_error.
            o.error = e.category() == morm_category() && e != errc::ok ? errc(e.value()) : errc::encode_error;
            o.message = std::move(d.message);
        } else {
            o.error = errc::document_too_large;
            o.message = fmt::format("document of {} bytes exceeds maxBsonObjectSize {}; it was not sent", len,
                                    sd.max_bson_object_size);
        }
    };
    if (!detail::valid_text(g.collection) || !detail::valid_text(g.db)) {
        // A name cut short at a NUL by the server would write to another namespace.
        for (; next < g.count; ++next) {
            diagnostics d;
            d.message = fmt::format("the {} name is not valid UTF-8 or contains NUL; it was not sent",
                                    detail::valid_text(g.db) ? "collection" : "database");
            reject(next, make_error_code(errc::invalid_argument), d, 0);
        }
        return next;
    }
    while (next < g.count && (max_frames == 0 || made < max_frames)) {
        frame_plan fp{gi, conn.next_request_id(), {}, {}};
        wire::op_msg_writer w(buf, fp.request_id);
        begin_frame_body(w, g);
        while (g.encode_raw && next < g.count && fp.items.size() < max_batch) {
            // Raw path: the document goes straight into the frame buffer.
            const std::size_t start = buf.size();
            diagnostics d;
            error_code e = g.encode_raw(next, buf, d);
            const std::size_t len = buf.size() - start;
            if (e || len > max_doc) {
                buf.resize(start);
                reject(next, e, d, len);
                ++next;
                continue;
            }
            if (w.size() > max_msg && !fp.items.empty()) {
                buf.resize(start);  // goes first into the next frame
                break;
            }
            fp.items.push_back(static_cast<std::uint32_t>(next));
            ++next;
        }
        while (!g.encode_raw && next < g.count && fp.items.size() < max_batch) {
            bson_t* doc = w.begin_document();
            diagnostics d;
            error_code e = g.encode(next, doc, d);
            if (e || doc->len > max_doc) {
                const std::size_t len = doc->len;
                w.rollback_document();
                reject(next, e, d, len);
                ++next;
                continue;
            }
            if (w.size() > max_msg && !fp.items.empty()) {
                w.rollback_document();  // goes first into the next frame
                break;
            }
            w.end_document();
            fp.items.push_back(static_cast<std::uint32_t>(next));
            ++next;
        }
        w.end_sequence();
        if (fp.items.empty()) {
            w.abandon();
            continue;
        }
        w.finish();
        frames.push_back(std::move(fp));
        ++made;
    }
    return next;
}

void apply_reply(write_group& g, const frame_plan& fp, const bson_t* body) {
    wire::write_reply r;
    diagnostics d;
    if (auto e = wire::parse_write_reply(body, r, d)) {
        // The whole command failed: every item of the frame is rejected with that reason.
        for (auto idx : fp.items) {
            auto& o = g.outcomes[idx];
            o.st = item_outcome::state::failed;
            o.error = e == errc::server_error ? errc::server_error : errc::protocol;
            o.code = d.server_code;
            o.code_name = d.code_name;
            o.message = d.message;
        }
        return;
    }
    g.n += r.n;
    g.n_modified += r.n_modified;
    for (auto idx : fp.items) g.outcomes[idx].st = item_outcome::state::ok;
    if (fp.items.size() == 1) g.outcomes[fp.items.front()].n = r.n;
    std::size_t first_error = fp.items.size();
    for (auto& we : r.write_errors) {
        if (we.index < 0 || static_cast<std::size_t>(we.index) >= fp.items.size()) continue;
        auto& o = g.outcomes[fp.items[static_cast<std::size_t>(we.index)]];
        o.st = item_outcome::state::failed;
        o.error = errc::write_error;
        o.code = we.code;
        o.code_name = std::move(we.code_name);
        o.message = std::move(we.message);
        first_error = std::min(first_error, static_cast<std::size_t>(we.index));
    }
    if (g.ordered && first_error < fp.items.size()) {
        // An ordered command stops at its first error: the rest of the frame was not applied.
        for (std::size_t k = first_error + 1; k < fp.items.size(); ++k) {
            auto& o = g.outcomes[fp.items[k]];
            if (o.st == item_outcome::state::ok) o.st = item_outcome::state::pending;
        }
    }
    for (auto& u : r.upserted) {
        if (u.index < 0 || static_cast<std::size_t>(u.index) >= fp.items.size()) continue;
        write_group::upsert_info ui{fp.items[static_cast<std::size_t>(u.index)], {}};
        bson_value_copy(&u.id, &ui.id);
        g.upserted.push_back(ui);
    }
    if (r.write_concern_error) g.write_concern_error = std::move(r.write_concern_error);
}

boost::asio::awaitable<void> exchange_frames(net::connection& conn, std::span<write_group> groups,
                                             std::vector<frame_plan>& frames, std::chrono::milliseconds deadline,
                                             error_code& ec, diagnostics& diag, pipeline_stats* stats) {
    std::vector<std::int32_t> ids;
    ids.reserve(frames.size());
    for (auto& f : frames) ids.push_back(f.request_id);
    const bool listening = conn.params() && conn.params()->listener;
    const std::string server = conn.remote().to_string();
    if (listening) {
        // `started` events carry the whole command, as the command-monitoring spec wants:
        // the body plus each kind-1 sequence as an array field (documents/updates/deletes).
        // Only built when someone listens, so the hot path pays nothing.
        const std::uint8_t* p = conn.out_buffer().data();
        bson_t cmd;
        for (auto& f : frames) {
            std::int32_t len;
            std::memcpy(&len, p, 4);
            std::uint32_t flag_bits;
            std::memcpy(&flag_bits, p + wire::header_size, 4);
            std::int32_t body_len;
            std::memcpy(&body_len, p + wire::header_size + 5, 4);
            bson_t body;
            bson_init_static(&body, p + wire::header_size + 5, static_cast<std::size_t>(body_len));
            bson_copy_to(&body, &cmd);
            const std::size_t end =
                static_cast<std::size_t>(len) - ((flag_bits & wire::flags::checksum_present) ? 4 : 0);
            std::size_t off = wire::header_size + 5 + static_cast<std::size_t>(body_len);
            while (off + 5 <= end && p[off] == 1) {
                std::int32_t sec_len;
                std::memcpy(&sec_len, p + off + 1, 4);
                const std::size_t sec_end = off + 1 + static_cast<std::size_t>(sec_len);
                const char* ident = reinterpret_cast<const char*>(p + off + 5);
                std::size_t doc_off = off + 5 + std::strlen(ident) + 1;
                bson_t arr;
                bson_append_array_begin(&cmd, ident, -1, &arr);
                std::uint32_t k = 0;
                char key_buf[16];
                while (doc_off + 5 <= sec_end) {
                    std::int32_t dlen;
                    std::memcpy(&dlen, p + doc_off, 4);
                    bson_t d;
                    bson_init_static(&d, p + doc_off, static_cast<std::size_t>(dlen));
                    const char* key;
                    bson_uint32_to_string(k++, &key, key_buf, sizeof key_buf);
                    bson_append_document(&arr, key, -1, &d);
                    doc_off += static_cast<std::size_t>(dlen);
                }
                bson_append_array_end(&cmd, &arr);
                off = sec_end;
            }
            auto& g = groups[f.group];
            f.started = std::chrono::steady_clock::now();
            net::command_event ev{net::command_event::started, f.request_id, command_name(g.kind), g.db, &cmd, {},
                                  nullptr, server, conn.id()};
            conn.notify(ev);
            bson_destroy(&cmd);
            p += len;
        }
    }
    if (stats) {
        stats->frames += frames.size();
        stats->writes += 1;
        stats->bytes += conn.out_buffer().size();
    }
    std::size_t done = 0;
    co_await conn.async_exchange(
        ids,
        [&](std::size_t i, const wire::op_msg_view& reply) {
            auto& f = frames[i];
            auto& g = groups[f.group];
            apply_reply(g, f, &reply.body);
            if (listening) {
                net::command_event ev{net::command_event::succeeded, f.request_id, command_name(g.kind), g.db,
                                      &reply.body, std::chrono::steady_clock::now() - f.started, nullptr, server,
                                      conn.id()};
                conn.notify(ev);
            }
        },
        deadline, ec, diag, &done);
    if (ec) {
        for (std::size_t i = done; i < frames.size(); ++i) {
            auto& g = groups[frames[i].group];
            for (auto idx : frames[i].items) {
                auto& o = g.outcomes[idx];
                o.st = item_outcome::state::unacknowledged;
                o.error = errc::outcome_unknown;
                o.message = diag.message;
            }
            if (listening) {
                net::command_event ev{net::command_event::failed, frames[i].request_id,
                                      command_name(g.kind), g.db, nullptr,
                                      std::chrono::steady_clock::now() - frames[i].started, &diag, server, conn.id()};
                conn.notify(ev);
            }
        }
    }
}

}  // namespace

boost::asio::awaitable<void> run_write_pipeline(net::connection& conn, std::span<write_group> groups,
                                                std::chrono::milliseconds deadline, error_code& ec,
                                                diagnostics& diag, pipeline_stats* stats) {
    ec.clear();
    for (auto& g : groups) {
        g.outcomes.assign(g.count, item_outcome{});
        g.n = g.n_modified = 0;
        g.clear_upserted();
        g.write_concern_error.reset();
    }
    std::vector<frame_plan> frames;
    std::size_t gi = 0;
    while (gi < groups.size()) {
        frames.clear();
        conn.out_buffer().clear();
        if (groups[gi].ordered) {
            auto& g = groups[gi];
            std::size_t next = 0;
            bool failed = false;
            while (next < g.count && !failed) {
                frames.clear();
                next = encode_group(conn, g, gi, next, 1, frames);
                if (frames.empty()) break;
                co_await exchange_frames(conn, groups, frames, deadline, ec, diag, stats);
                if (ec) co_return;
                for (auto idx : frames.front().items)
                    if (g.outcomes[idx].st == item_outcome::state::failed) failed = true;
                // Items that failed before sending (too large) also stop an ordered run.
                for (std::size_t k = 0; k < next && !failed; ++k)
                    if (g.outcomes[k].st == item_outcome::state::failed) failed = true;
            }
            if (failed) co_return;  // ordered: nothing after the first failure runs
            ++gi;
            continue;
        }
        // A run of unordered groups: every frame goes out before any reply is read.
        std::size_t gj = gi;
        while (gj < groups.size() && !groups[gj].ordered) {
            encode_group(conn, groups[gj], gj, 0, 0, frames);
            ++gj;
        }
        if (!frames.empty()) {
            co_await exchange_frames(conn, groups, frames, deadline, ec, diag, stats);
            if (ec) co_return;
        }
        conn.out_buffer().clear();
        gi = gj;
    }
}

}  // namespace morm
