#include <morm/wire/algo/cursor_iteration.hpp>
#include <morm/wire/algo/frames.hpp>
#include <morm/wire/commands/get_more.hpp>
#include <morm/wire/commands/kill_cursors.hpp>

#include <fmt/format.h>

namespace morm::wire::algo {

next_action get_more_algo::send() {
    out_.clear();
    sent_id_ = ++rid_;
    encode_command(out_, sent_id_, commands::get_more{id_, coll_, db_, batch_size_, lsid_});
    awaiting_write_ = true;
    ++round_trips_;
    return next_action::write({out_.data(), out_.size()});
}

next_action get_more_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    if (ec) return next_action::done(ec);
    if (sent_id_ == 0) {
        if (id_ == 0) return next_action::done();  // nothing left on the server
        return send();
    }
    if (awaiting_write_) {
        awaiting_write_ = false;
        return next_action::read();
    }
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, sent_id_, reply, diag_)) return next_action::done(e);
    cursor_reply cr;
    if (auto e = commands::parse_get_more_reply(&reply.body, cr, diag_)) {
        if (e == errc::server_error) id_ = 0;
        return next_action::done(e);
    }
    if (!cr.ns.empty() && !ns_matches(cr.ns)) {
        diag_.clear();
        diag_.message = fmt::format("getMore reply names namespace '{}', the cursor is on '{}.{}'", cr.ns, db_, coll_);
        return next_action::done(make_error_code(errc::protocol));
    }
    id_ = cr.id;
    batch_data_ = cr.batch_data;
    batch_len_ = cr.batch_len;
    count_ = 0;
    bson_t arr;
    bson_iter_t it;
    if (bson_init_static(&arr, batch_data_, batch_len_) && bson_iter_init(&it, &arr))
        while (bson_iter_next(&it)) ++count_;
    if (count_ > 0 || id_ == 0) return next_action::done();
    if (++empty_ >= max_empty_) {
        diag_.clear();
        diag_.message = fmt::format(
            "getMore: {} consecutive empty batches from live cursor {} on {}.{} (a non-tailable cursor; "
            "the server is not making progress)",
            empty_, id_, db_, coll_);
        return next_action::done(make_error_code(errc::protocol));
    }
    return send();  // an empty batch of a live cursor: ask again
}

bool get_more_algo::ns_matches(std::string_view ns) const noexcept {
    return ns.size() == db_.size() + 1 + coll_.size() && ns.substr(0, db_.size()) == db_ && ns[db_.size()] == '.' &&
           ns.substr(db_.size() + 1) == coll_;
}

next_action kill_cursors_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    if (ec) return next_action::done(ec);
    switch (step_++) {
        case 0: {
            out_.clear();
            sent_id_ = ++rid_;
            const std::int64_t ids[1] = {id_};
            encode_command(out_, sent_id_, commands::kill_cursors{coll_, db_, ids, lsid_});
            return next_action::write({out_.data(), out_.size()});
        }
        case 1: return next_action::read();
        default: break;
    }
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, sent_id_, reply, diag_)) return next_action::done(e);
    commands::kill_cursors_result r;
    if (auto e = commands::parse_kill_cursors_reply(&reply.body, r, diag_)) return next_action::done(e);
    killed_ = r.killed;
    return next_action::done();
}

}  // namespace morm::wire::algo
