#include <morm/detail/text.hpp>
#include <morm/wire/algo/batch_splitter.hpp>
#include <morm/wire/commands/write_commands.hpp>
#include <morm/wire/op_msg.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace morm::wire::algo {

namespace {

struct splitter {
    frame_buffer& buf;
    const write_limits& lim;
    write_group& g;
    std::size_t max_doc;
    std::size_t max_batch;

    /// An item that is not sent: its encoder failed (`e`), or it is over the size limit.
    void reject(std::size_t i, const error_code& e, diagnostics& d, std::size_t len) {
        auto& o = g.outcomes[i];
        o.st = item_outcome::state::failed;
        if (e) {
            // The caller's reason when it is one of ours (e.g. invalid_argument), else encode_error.
            o.error = e.category() == morm_category() && e != errc::ok ? errc(e.value()) : errc::encode_error;
            o.message = std::move(d.message);
        } else {
            o.error = errc::document_too_large;
            o.message = fmt::format("document of {} bytes exceeds maxBsonObjectSize {}; it was not sent", len,
                                    lim.max_bson_object_size);
        }
    }

    /// Fills one frame's sequence from item `next` on; returns the first item left out.
    std::size_t fill_raw(op_msg_writer& w, write_frame& f, std::size_t next) {
        while (next < g.count && f.items.size() < max_batch) {
            const std::size_t start = buf.size();
            diagnostics d;
            error_code e = g.encode_raw(next, buf, d);
            const std::size_t len = buf.size() - start;
            if (e || len > max_doc) {
                buf.resize(start);
                reject(next++, e, d, len);
                continue;
            }
            if (w.size() > lim.max_message_size && !f.items.empty()) {
                buf.resize(start);  // goes first into the next frame
                break;
            }
            f.items.push_back(static_cast<std::uint32_t>(next++));
        }
        return next;
    }

    /// Encodes exactly `items` (a retry): false if one of them no longer encodes.
    bool fill_exact(op_msg_writer& w, const std::vector<std::uint32_t>& items) {
        for (auto i : items) {
            diagnostics d;
            error_code e;
            if (g.encode_raw) {
                e = g.encode_raw(i, buf, d);
            } else {
                bson_t* doc = w.begin_document();
                e = g.encode(i, doc, d);
                if (e) w.rollback_document();
                else w.end_document();
            }
            if (e) {
                reject(i, e, d, 0);
                return false;
            }
        }
        return true;
    }

    std::size_t fill_bson(op_msg_writer& w, write_frame& f, std::size_t next) {
        while (next < g.count && f.items.size() < max_batch) {
            bson_t* doc = w.begin_document();
            diagnostics d;
            error_code e = g.encode(next, doc, d);
            if (e || doc->len > max_doc) {
                const std::size_t len = doc->len;
                w.rollback_document();
                reject(next++, e, d, len);
                continue;
            }
            if (w.size() > lim.max_message_size && !f.items.empty()) {
                w.rollback_document();  // goes first into the next frame
                break;
            }
            w.end_document();
            f.items.push_back(static_cast<std::uint32_t>(next++));
        }
        return next;
    }
};

}  // namespace

std::size_t split_write_group(frame_buffer& out, std::int32_t& request_id, const write_limits& limits,
                              write_group& g, std::size_t gi, std::size_t next, std::size_t max_frames,
                              std::vector<write_frame>& frames, const write_session* session) {
    if (!morm::detail::valid_text(g.collection) || !morm::detail::valid_text(g.db)) {
        // A name cut short at a NUL by the server would write to another namespace.
        splitter s{out, limits, g, 0, 0};
        for (; next < g.count; ++next) {
            diagnostics d;
            d.message = fmt::format("the {} name is not valid UTF-8 or contains NUL; it was not sent",
                                    morm::detail::valid_text(g.db) ? "collection" : "database");
            s.reject(next, make_error_code(errc::invalid_argument), d, 0);
        }
        return next;
    }
    const std::size_t max_doc = limits.max_bson_object_size + (g.kind == write_kind::insert ? 0 : 16 * 1024);
    const std::size_t max_batch = g.max_batch > 0 ? std::min(g.max_batch, limits.max_write_batch_size)
                                                  : limits.max_write_batch_size;
    splitter s{out, limits, g, max_doc, max_batch};
    commands::write_command cmd{g.kind, g.collection, g.db, g.ordered, g.bypass_document_validation, g.wc};
    if (session) cmd.session_fields = &session->fields;
    std::size_t made = 0;
    while (next < g.count && (max_frames == 0 || made < max_frames)) {
        write_frame f{gi, ++request_id, {}};
        if (session && session->txn_counter)
            f.txn_number = session->one_txn_number ? *session->txn_counter : ++*session->txn_counter;
        cmd.txn_number = f.txn_number;
        op_msg_writer w(out, f.request_id);
        cmd.serialize(w.begin_body());
        w.end_body();
        w.begin_sequence(commands::write_sequence_name(g.kind), static_cast<bool>(g.encode_raw));
        next = g.encode_raw ? s.fill_raw(w, f, next) : s.fill_bson(w, f, next);
        w.end_sequence();
        if (f.items.empty()) {
            w.abandon();
            continue;
        }
        w.finish();
        frames.push_back(std::move(f));
        ++made;
    }
    return next;
}

bool reencode_write_frame(frame_buffer& out, std::int32_t& request_id, const write_limits& limits, write_group& g,
                          write_frame& f, const write_session* session) {
    splitter s{out, limits, g, 0, 0};
    commands::write_command cmd{g.kind, g.collection, g.db, g.ordered, g.bypass_document_validation, g.wc};
    if (session) cmd.session_fields = &session->fields;
    cmd.txn_number = f.txn_number;
    f.request_id = ++request_id;
    op_msg_writer w(out, f.request_id);
    cmd.serialize(w.begin_body());
    w.end_body();
    w.begin_sequence(commands::write_sequence_name(g.kind), static_cast<bool>(g.encode_raw));
    const bool ok = s.fill_exact(w, f.items);
    w.end_sequence();
    if (!ok) {
        w.abandon();
        return false;
    }
    w.finish();
    return true;
}

}  // namespace morm::wire::algo
