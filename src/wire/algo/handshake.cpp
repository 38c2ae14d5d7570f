#include <morm/wire/algo/frames.hpp>
#include <morm/wire/algo/handshake.hpp>
#include <morm/wire/commands/hello.hpp>
#include <morm/wire/commands/sasl.hpp>

#include <fmt/format.h>

namespace morm::wire::algo {

template <class Command>
next_action handshake_algo::send(step s, const Command& cmd) {
    step_ = s;
    out_.clear();
    sent_id_ = ++rid_;
    encode_command(out_, sent_id_, cmd);
    awaiting_write_ = true;
    return next_action::write({out_.data(), out_.size()});
}

next_action handshake_algo::resume(error_code ec, std::span<const std::uint8_t> frame) {
    if (ec) return next_action::done(ec);
    if (step_ == step::start) {
        commands::hello cmd{p_.hello};
        if (p_.auth && p_.auth->mechanism.empty()) cmd.params.sasl_user = p_.auth->source + "." + p_.auth->username;
        return send(step::hello, cmd);
    }
    if (step_ == step::deriving) {
        // The PBKDF2 job ran (or the driver gave up on it: then `ec` ended the run above).
        return send_client_final();
    }
    if (awaiting_write_) {
        awaiting_write_ = false;
        return next_action::read();
    }
    return on_reply(frame);
}

next_action handshake_algo::on_reply(std::span<const std::uint8_t> frame) {
    op_msg_view reply;
    if (auto e = parse_reply_frame(frame, sent_id_, reply, diag_)) return next_action::done(e);
    if (step_ == step::hello) return on_hello(&reply.body);
    return on_sasl(&reply.body);
}

next_action handshake_algo::on_hello(const bson_t* body) {
    if (auto e = commands::hello::parse_reply(body, server_, diag_)) return next_action::done(e);
    if (!p_.auth) return next_action::done();
    return start_auth();
}

next_action handshake_algo::start_auth() {
    const auth_params& cr = *p_.auth;
    if (cr.mechanism == "SCRAM-SHA-1") {
        mech_ = scram_mechanism::sha1;
    } else if (cr.mechanism.empty()) {
        // Negotiate: SHA-256 when the server lists it for this user (or lists nothing).
        const auto& m = server_.sasl_supported_mechs;
        bool has256 = m.empty();
        for (const auto& x : m) has256 = has256 || x == "SCRAM-SHA-256";
        if (!has256) mech_ = scram_mechanism::sha1;
    } else if (cr.mechanism != "SCRAM-SHA-256") {
        diag_.clear();
        diag_.message = fmt::format("authMechanism {} is not supported by morm (SCRAM-SHA-1/256 are)", cr.mechanism);
        return next_action::done(make_error_code(errc::not_supported));
    }
    scram_.emplace(mech_, cr.username, cr.password, p_.client_nonce);
    client_msg_ = scram_->client_first();
    return send(step::sasl_start, commands::sasl_start{mech_, client_msg_, cr.source});
}

next_action handshake_algo::on_sasl(const bson_t* body) {
    commands::sasl_reply r;
    diagnostics d;
    if (auto e = commands::parse_sasl_reply(body, r, d)) {
        if (e == errc::server_error || e == errc::auth_failed) return auth_failed(d.message);
        diag_ = std::move(d);
        return next_action::done(e);
    }
    if (step_ == step::sasl_start) {
        conversation_id_ = r.conversation_id;
        if (auto e = scram_->begin_server_first(r.payload, job_, d)) return auth_failed(d.message);
        if (!job_) return send_client_final();  // the key cache had the keys
        step_ = step::deriving;
        // The job owns its inputs and outputs: if the run is abandoned (timeout), it finishes
        // on its thread and is freed there.
        return next_action::offload([job = job_] { job->run(); });
    }
    if (r.conversation_id != conversation_id_)
        return auth_failed(fmt::format("the server changed the conversationId from {} to {} mid-conversation",
                                       conversation_id_, r.conversation_id));
    if (rounds_ == 1) {
        if (auto e = scram_->handle_server_final(r.payload, d)) return auth_failed(d.message);
    } else if (!r.payload.empty()) {
        return auth_failed("the server sent a payload after its final SCRAM message");
    }
    if (r.done) return next_action::done();
    // The server wants one more (empty) exchange; three rounds is more than SCRAM needs.
    if (rounds_ >= 3) return auth_failed("server did not finish the SASL conversation (done never set)");
    client_msg_.clear();
    ++rounds_;
    return send(step::sasl_continue, commands::sasl_continue{conversation_id_, client_msg_, p_.auth->source});
}

next_action handshake_algo::send_client_final() {
    diagnostics d;
    auto e = scram_->finish_server_first(client_msg_, d);
    job_.reset();
    if (e) return auth_failed(d.message);
    ++rounds_;
    return send(step::sasl_continue, commands::sasl_continue{conversation_id_, client_msg_, p_.auth->source});
}

next_action handshake_algo::auth_failed(std::string_view why) {
    const auth_params& cr = *p_.auth;
    diag_.clear();
    diag_.message = fmt::format("authentication of user '{}' on '{}' with {} failed: {}", cr.username, cr.source,
                                scram_mechanism_name(mech_), why);
    return next_action::done(make_error_code(errc::auth_failed));
}

}  // namespace morm::wire::algo
