// A write run inside one multi-document transaction (transactions.md): start with a probe
// read, pipeline the writes with one txnNumber and autocommit:false, then commit; abort and
// roll the outcomes back on any failure.
#include <morm/client/client.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/write_run.hpp>

#include <fmt/format.h>

namespace morm {

namespace {

bool supports_transactions(const wire::server_description& sd) {
    if (sd.logical_session_timeout_minutes < 0) return false;
    if (sd.is_mongos) return sd.max_wire_version >= 8;
    return !sd.set_name.empty() && sd.max_wire_version >= 7;
}

/// The session and number of one transaction, and the fields every command of it carries.
struct txn_context {
    detail::client_state& st;
    std::shared_ptr<detail::server_session> session;
    std::int64_t txn = 0;

    void append(bson_t* b, bool start) const {
        session->append_lsid(b);
        if (start) bson_append_bool(b, "startTransaction", 16, true);
        bson_append_bool(b, "autocommit", 10, false);
        st.clock.append_to(b);
    }
};

/// The transaction's first command: a delete of a fresh ObjectId in the first group's
/// collection, which matches nothing. A write, so that a server without transactions
/// refuses it the way it would refuse the real writes, before any of them is sent.
asio::awaitable<void> start(net::connection& c, const txn_context& t, const write_group& g, error_code& ec,
                            diagnostics& diag) {
    auto build = [&](bson_t* b) {
        bson_append_utf8(b, "delete", 6, g.collection.data(), static_cast<int>(g.collection.size()));
        bson_t arr, stmt, q;
        bson_append_array_begin(b, "deletes", 7, &arr);
        bson_append_document_begin(&arr, "0", 1, &stmt);
        bson_append_document_begin(&stmt, "q", 1, &q);
        bson_oid_t none;
        bson_oid_init(&none, nullptr);
        bson_append_oid(&q, "_id", 3, &none);
        bson_append_document_end(&stmt, &q);
        bson_append_int32(&stmt, "limit", 5, 1);
        bson_append_document_end(&arr, &stmt);
        bson_append_array_end(b, &arr);
        bson_append_int64(b, "txnNumber", 9, t.txn);
        t.append(b, true);
    };
    auto observe = [&](const bson_t* r) { t.st.clock.observe(r); };
    co_await c.async_command(g.db, build, observe, t.st.op_timeout, ec, diag);
}

/// commitTransaction or abortTransaction. A retried commit asks for w:majority (the spec's
/// rule, so that a commit that may have happened once is made durable).
asio::awaitable<void> finish(net::connection& c, const txn_context& t, bool commit, bool retry, error_code& ec,
                             diagnostics& diag) {
    auto build = [&](bson_t* b) {
        bson_append_int32(b, commit ? "commitTransaction" : "abortTransaction", -1, 1);
        bson_append_int64(b, "txnNumber", 9, t.txn);
        t.append(b, false);
        if (retry) write_concern::majority().append_to(b);
        else t.st.default_wc.append_to(b);
    };
    auto observe = [&](const bson_t* r) { t.st.clock.observe(r); };
    co_await c.async_command("admin", build, observe, t.st.op_timeout, ec, diag);
}

bool network_error(const error_code& ec) {
    return ec == errc::network || ec == errc::connection_closed || ec == errc::timeout;
}

/// The first item that failed, as the reason of the whole transaction's failure.
std::optional<diagnostics> first_failure(std::span<write_group> groups) {
    for (auto& g : groups)
        for (auto& o : g.outcomes)
            if (o.st != item_outcome::state::ok) {
                diagnostics d;
                d.message = o.message.empty() ? "a write of the transaction was not applied" : o.message;
                d.server_code = o.code;
                d.code_name = o.code_name;
                return d;
            }
    return std::nullopt;
}

/// Nothing of an aborted transaction was written: accepted items go back to pending.
void roll_back(std::span<write_group> groups, const std::string& why) {
    for (auto& g : groups)
        for (auto& o : g.outcomes)
            if (o.st == item_outcome::state::ok || o.st == item_outcome::state::unacknowledged) {
                o = item_outcome{};
                o.message = fmt::format("rolled back with its transaction: {}", why);
            }
}

/// A commit whose result is unknown: every item may or may not be written.
void commit_unknown(std::span<write_group> groups, const std::string& why) {
    for (auto& g : groups)
        for (auto& o : g.outcomes)
            if (o.st == item_outcome::state::ok) {
                o.st = item_outcome::state::unacknowledged;
                o.error = errc::outcome_unknown;
                o.message = fmt::format("the transaction's commit has an unknown outcome: {}", why);
            }
}

/// Refuses a deployment without transactions, before anything is sent.
bool refuse_unsupported(const net::connection& c, error_code& ec, diagnostics& diag) {
    const auto& sd = c.server();
    if (supports_transactions(sd)) return false;
    ec = make_error_code(errc::not_supported);
    diag.clear();
    diag.message = fmt::format(
        "transactions need a replica set member (maxWireVersion >= 7) or a mongos (>= 8) with sessions; {} is {} "
        "(nothing was written)",
        c.remote().to_string(),
        sd.is_mongos ? "a mongos too old" : sd.set_name.empty() ? "a standalone server" : "a member without sessions");
    return true;
}

enum class txn_step { done, again };

/// One attempt: start, write, commit (or abort). `again` when a TransientTransactionError
/// says the whole transaction may be run again.
asio::awaitable<txn_step> attempt(detail::client_state& st, net::connection& c, std::span<write_group> groups,
                                  error_code& ec, diagnostics& diag, pipeline_stats* stats) {
    txn_context t{st, st.sessions->acquire(c.server().logical_session_timeout_minutes), 0};
    t.txn = t.session->next_txn_number();
    co_await start(c, t, groups.front(), ec, diag);
    if (ec) {
        if (diag.has_label("TransientTransactionError")) co_return txn_step::again;
        if (ec == errc::server_error) {
            diag.message = fmt::format("the server refused to start a transaction (nothing was written): {}", diag.message);
            ec = make_error_code(errc::not_supported);
        }
        co_return txn_step::done;
    }
    wire::algo::write_session ws;
    ws.fields = [&t](bson_t* b) { t.append(b, false); };
    ws.txn_counter = &t.txn;
    ws.one_txn_number = true;
    wire::algo::write_run_algo algo(groups, c.out_buffer(), c.request_id_counter(),
                                    wire::algo::write_limits::from(c.server()), stats, &ws);
    co_await net::async_run(c, algo, st.op_timeout, ec, diag);
    if (ec || first_failure(groups)) {
        const diagnostics why = ec ? diag : *first_failure(groups);
        const bool transient = why.has_label("TransientTransactionError") || network_error(ec);
        error_code aec;
        diagnostics adiag;
        if (c.is_open()) co_await finish(c, t, false, false, aec, adiag);
        roll_back(groups, why.message);
        if (transient) co_return txn_step::again;
        if (!ec) {
            ec = make_error_code(errc::write_error);
            diag = why;
        }
        co_return txn_step::done;
    }
    co_await finish(c, t, true, false, ec, diag);
    if (ec && (diag.has_label("UnknownTransactionCommitResult") || network_error(ec)) && c.is_open())
        co_await finish(c, t, true, true, ec, diag);
    if (ec && diag.has_label("TransientTransactionError")) {
        roll_back(groups, diag.message);
        co_return txn_step::again;
    }
    if (ec) commit_unknown(groups, diag.message);
    co_return txn_step::done;
}

}  // namespace

boost::asio::awaitable<void> run_transaction(detail::client_state& st, std::span<write_group> groups,
                                             error_code& ec, diagnostics& diag, pipeline_stats* stats) {
    for (auto& g : groups) g.outcomes.assign(g.count, item_outcome{});
    if (groups.empty()) co_return;
    const read_preference primary;
    for (int n = 0; n < 3; ++n) {
        ec.clear();
        diag.clear();
        auto conn = co_await st.checkout(true, primary, ec, diag);
        if (ec || refuse_unsupported(*conn, ec, diag)) co_return;
        if (co_await attempt(st, *conn, groups, ec, diag, stats) == txn_step::done) co_return;
    }
    if (!ec) {
        ec = make_error_code(errc::server_error);
        diag.message = "the transaction kept failing with TransientTransactionError; nothing was written";
    }
}

}  // namespace morm
