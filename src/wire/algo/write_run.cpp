#include <morm/wire/algo/frames.hpp>
#include <morm/wire/algo/write_run.hpp>
#include <morm/wire/commands/write_commands.hpp>
#include <morm/wire/reply.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace morm::wire::algo {

next_action write_run_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    switch (step_) {
        case step::start:
            for (auto& g : groups_) {
                g.outcomes.assign(g.count, item_outcome{});
                g.n = g.n_modified = 0;
                g.clear_upserted();
                g.write_concern_error.reset();
            }
            return plan_next();
        case step::writing:
            if (ec) return fail(ec, 0);
            step_ = step::reading;
            return next_action::read();
        case step::reading:
            if (ec) return fail(ec, replies_);
            return on_reply(frame);
        case step::retrying:
            step_ = step::writing;
            return next_action::write({out_->data(), out_->size()});
        case step::planning:
        case step::finished: break;
    }
    return next_action::done(ec);
}

next_action write_run_algo::plan_next() {
    step_ = step::planning;
    while (gi_ < groups_.size()) {
        frames_.clear();
        out_->clear();
        replies_ = 0;
        auto& g = groups_[gi_];
        if (g.ordered) {
            if (next_item_ < g.count) next_item_ = split_write_group(*out_, *rid_, limits_, g, gi_, next_item_, 1, frames_, session_);
            if (frames_.empty()) {  // the group is finished (or its rest could not be encoded)
                ++gi_;
                next_item_ = 0;
                continue;
            }
        } else {
            // A run of unordered groups: every frame goes out before any reply is read.
            for (; gi_ < groups_.size() && !groups_[gi_].ordered; ++gi_)
                split_write_group(*out_, *rid_, limits_, groups_[gi_], gi_, 0, 0, frames_, session_);
            if (frames_.empty()) continue;
        }
        if (stats_) {
            stats_->frames += frames_.size();
            stats_->writes += 1;
            stats_->bytes += out_->size();
        }
        step_ = step::writing;
        return next_action::write({out_->data(), out_->size()});
    }
    step_ = step::finished;
    out_->clear();
    return next_action::done();
}

next_action write_run_algo::on_reply(std::span<const std::uint8_t> frame) {
    const write_frame& f = frames_[replies_];
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, f.request_id, reply, diag_)) return fail(e, replies_);
    // A reply of the wrong shape: what the server did with this frame (and the frames
    // after it, whose replies come from the same confused server) is unknown. Not
    // retried: a server that answers nonsense is not one to send the writes to again.
    if (auto e = apply_reply(f, &reply.body)) return fail(e, replies_, false);
    if (++replies_ < frames_.size()) return next_action::read();
    if (!retry_.empty() && !retried_) {
        // A command was refused with a retryable error (e.g. NotWritablePrimary): this server
        // is the wrong one, so stop here and let the caller retry on a newly selected one.
        step_ = step::finished;
        out_->clear();
        return next_action::done(make_error_code(errc::server_error));
    }
    if (groups_[f.group].ordered) {
        if (ordered_failed(f.group)) {
            // Ordered: nothing after the first failure runs.
            step_ = step::finished;
            out_->clear();
            return next_action::done();
        }
    }
    return plan_next();
}

bool write_run_algo::ordered_failed(std::size_t gi) const {
    const auto& g = groups_[gi];
    for (auto idx : frames_.front().items)
        if (g.outcomes[idx].st == item_outcome::state::failed) return true;
    // Items that failed before sending (too large) also stop an ordered run.
    for (std::size_t k = 0; k < next_item_; ++k)
        if (g.outcomes[k].st == item_outcome::state::failed) return true;
    return false;
}

next_action write_run_algo::fail(error_code ec, std::size_t first_unanswered, bool retry) {
    if (retry && !retried_) keep_for_retry(first_unanswered, frames_.size());
    // Frames written but unanswered: the server may or may not have applied them.
    for (std::size_t i = first_unanswered; i < frames_.size(); ++i) {
        auto& g = groups_[frames_[i].group];
        for (auto idx : frames_[i].items) {
            auto& o = g.outcomes[idx];
            o.st = item_outcome::state::unacknowledged;
            o.error = errc::outcome_unknown;
            o.message = diag_.message;
        }
    }
    step_ = step::finished;
    out_->clear();
    return next_action::done(ec);
}

[[nodiscard]] error_code write_run_algo::apply_reply(const write_frame& f, const bson_t* body) {
    auto& g = groups_[f.group];
    write_reply r;
    diagnostics d;
    auto e = commands::parse_write_command_reply(body, r, d);
    if (!e) e = check_reply_indexes(f, r, d);
    if (e == errc::protocol) {
        diag_ = std::move(d);
        return e;
    }
    if (e && !retried_ && retryable_reply(d)) {
        // Not applied, and safe to send again elsewhere with the same txnNumber.
        for (auto idx : f.items) {
            auto& o = g.outcomes[idx];
            o.st = item_outcome::state::unacknowledged;
            o.error = errc::outcome_unknown;
            o.code = d.server_code;
            o.code_name = d.code_name;
            o.message = d.message;
        }
        retry_code_ = d.server_code;
        diag_ = d;
        retry_.push_back(f);
        return {};
    } else if (e) {
        // The whole command failed: every item of the frame is rejected with that reason.
        for (auto idx : f.items) {
            auto& o = g.outcomes[idx];
            o.st = item_outcome::state::failed;
            o.error = errc::server_error;
            o.code = d.server_code;
            o.code_name = d.code_name;
            o.message = d.message;
        }
        return {};
    }
    g.n += r.n;
    g.n_modified += r.n_modified;
    for (auto idx : f.items) g.outcomes[idx].st = item_outcome::state::ok;
    if (f.items.size() == 1) g.outcomes[f.items.front()].n = r.n;
    std::size_t first_error = f.items.size();
    for (auto& we : r.write_errors) {
        auto& o = g.outcomes[f.items[static_cast<std::size_t>(we.index)]];
        o.st = item_outcome::state::failed;
        o.error = errc::write_error;
        o.code = we.code;
        o.code_name = std::move(we.code_name);
        o.message = std::move(we.message);
        first_error = std::min(first_error, static_cast<std::size_t>(we.index));
    }
    if (g.ordered && first_error < f.items.size()) {
        // An ordered command stops at its first error: the rest of the frame was not applied.
        for (std::size_t k = first_error + 1; k < f.items.size(); ++k) {
            auto& o = g.outcomes[f.items[k]];
            if (o.st == item_outcome::state::ok) o.st = item_outcome::state::pending;
        }
    }
    for (auto& u : r.upserted) {
        write_group::upsert_info ui{f.items[static_cast<std::size_t>(u.index)], {}};
        bson_value_copy(&u.id, &ui.id);
        g.upserted.push_back(ui);
    }
    if (r.write_concern_error) g.write_concern_error = std::move(r.write_concern_error);
    return {};
}

[[nodiscard]] error_code write_run_algo::check_reply_indexes(const write_frame& f, const write_reply& r, diagnostics& d) const {
    // parse_write_reply checked types, signs and duplicates; only this frame knows its size.
    const std::size_t size = f.items.size();
    auto outside = [&](std::string_view what, std::int32_t index) {
        d.clear();
        d.message = fmt::format("write reply: {} index {} is outside the command's {} statements", what, index, size);
        return make_error_code(errc::protocol);
    };
    for (const auto& we : r.write_errors)
        if (static_cast<std::size_t>(we.index) >= size) return outside("writeErrors", we.index);
    for (const auto& u : r.upserted)
        if (static_cast<std::size_t>(u.index) >= size) return outside("upserted", u.index);
    if (groups_[f.group].kind == write_kind::insert && r.n > static_cast<std::int64_t>(size)) {
        d.clear();
        d.message = fmt::format("write reply: n = {} documents inserted of the {} sent", r.n, size);
        return make_error_code(errc::protocol);
    }
    return {};
}

}  // namespace morm::wire::algo


namespace morm::wire::algo {

bool write_run_algo::retryable_reply(const diagnostics& d) const {
    if (!session_ || !session_->txn_counter || session_->one_txn_number) return false;
    if (d.has_label("RetryableWriteError")) return true;
    // Servers before 4.4 send no label: the retryable-writes spec's list of codes.
    switch (d.server_code) {
        case 6: case 7: case 89: case 91: case 189: case 262: case 9001: case 10107: case 11600: case 11602:
        case 13435: case 13436: case 63: case 150: case 134: return true;
        default: return false;
    }
}

void write_run_algo::keep_for_retry(std::size_t first, std::size_t last) {
    if (!session_ || !session_->txn_counter || session_->one_txn_number) return;
    for (std::size_t i = first; i < last && i < frames_.size(); ++i) retry_.push_back(frames_[i]);
}

void write_run_algo::retry_on(frame_buffer& out, std::int32_t& request_id, const write_limits& limits) {
    out_ = &out;
    rid_ = &request_id;
    limits_ = limits;
    retried_ = true;
    out_->clear();
    frames_.clear();
    replies_ = 0;
    for (auto& f : retry_) {
        if (!reencode_write_frame(*out_, *rid_, limits_, groups_[f.group], f, session_)) continue;
        retried_items_ += f.items.size();
        ++retried_frames_;
        frames_.push_back(f);
    }
    retry_.clear();
    if (frames_.empty()) {
        plan_next();
        if (step_ == step::writing) step_ = step::retrying;
        return;
    }
    if (stats_) {
        stats_->frames += frames_.size();
        stats_->writes += 1;
        stats_->bytes += out_->size();
    }
    step_ = step::retrying;
}

}  // namespace morm::wire::algo
