#include <morm/wire/algo/command_exchange.hpp>
#include <morm/wire/algo/frames.hpp>
#include <morm/wire/reply.hpp>

namespace morm::wire::algo {

next_action command_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    if (ec) return next_action::done(ec);
    switch (step_++) {
        case 0: return next_action::write(frame_);
        case 1: return next_action::read();
        default: break;
    }
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, request_id_, reply, diag_)) return next_action::done(e);
    if (auto e = check_command_reply(&reply.body, diag_)) return next_action::done(e);
    if (on_reply_ && *on_reply_) (*on_reply_)(&reply.body);
    return next_action::done();
}

next_action exchange_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    if (ec) return next_action::done(ec);
    if (step_ == 0) {
        step_ = 1;
        return ids_.empty() ? next_action::done() : next_action::write(frames_);
    }
    if (step_ == 1) {
        step_ = 2;
        return next_action::read();
    }
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, ids_[done_], reply, diag_)) return next_action::done(e);
    if (on_reply_) on_reply_(done_, reply);
    ++done_;
    return done_ < ids_.size() ? next_action::read() : next_action::done();
}

}  // namespace morm::wire::algo
