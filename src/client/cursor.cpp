#include <morm/client/cursor.hpp>
#include <morm/net/driver.hpp>
#include <morm/wire/algo/cursor_iteration.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

namespace morm {

namespace {
/// killCursors on a pooled connection. Best effort: the server also reaps idle cursors.
asio::awaitable<void> kill_cursor(detail::client_state& st, std::shared_ptr<net::pool> server,
                                  std::shared_ptr<detail::server_session> session, std::string_view db,
                                  std::string_view coll, std::int64_t id) {
    error_code ec;
    diagnostics diag;
    net::pooled_connection conn;  // no co_await inside ?: (g++ 12 destroys such temporaries twice)
    if (server) conn = co_await st.checkout(server, ec, diag);
    else conn = co_await st.checkout(true, st.default_rp, ec, diag);
    if (ec) co_return;
    wire::algo::kill_cursors_algo algo(conn->out_buffer(), conn->request_id_counter(), db, coll, id,
                                       session ? &session->id : nullptr);
    co_await net::async_run(*conn, algo, st.op_timeout, ec, diag);
}
}  // namespace

cursor::cursor(asio::any_io_executor ex, std::shared_ptr<detail::client_state> st, std::string db,
               std::string collection, std::int64_t id, bson::document first_batch, std::int32_t batch_size,
               std::int64_t limit)
    : ex_(std::move(ex)), st_(std::move(st)), db_(std::move(db)), coll_(std::move(collection)), id_(id), batch_(std::move(first_batch)),
      batch_size_(batch_size), limit_(limit) {
    reset_iter();
}

cursor::cursor(cursor&& o) noexcept
    : ex_(std::move(o.ex_)), st_(std::move(o.st_)), server_(std::move(o.server_)), session_(std::move(o.session_)),
      db_(std::move(o.db_)), coll_(std::move(o.coll_)),
      id_(std::exchange(o.id_, 0)), batch_(std::move(o.batch_)), first_(o.first_), batch_size_(o.batch_size_),
      limit_(o.limit_), returned_(o.returned_) {
    // The iterator points into the batch buffer, which moved (inline storage changes
    // address): re-create it at the same position.
    const std::size_t consumed = o.pos_;
    const bool valid = o.iter_valid_;
    reset_iter();
    for (std::size_t k = 0; k < consumed && iter_valid_; ++k) bson_iter_next(&iter_);
    pos_ = consumed;
    iter_valid_ = iter_valid_ && valid;
    o.iter_valid_ = false;
}

cursor& cursor::operator=(cursor&& o) noexcept {
    if (this != &o) {
        this->~cursor();
        new (this) cursor(std::move(o));
    }
    return *this;
}

cursor::~cursor() { kill_in_background(); }

void cursor::reset_iter() {
    batch_count_ = 0;
    pos_ = 0;
    iter_valid_ = bson_iter_init(&iter_, batch_.get());
    if (iter_valid_) {
        bson_iter_t probe = iter_;
        while (bson_iter_next(&probe)) ++batch_count_;
    }
}

void cursor::kill_in_background() noexcept {
    if (id_ == 0 || !st_ || !st_->topo) return;
    auto st = st_;
    auto server = server_;
    auto session = session_;
    auto db = db_;
    auto coll = coll_;
    std::int64_t id = std::exchange(id_, 0);
    try {
        // Best effort, detached: the server also reaps idle cursors after 10 minutes.
        if (!ex_) return;
        asio::co_spawn(
            ex_,
            [st, server, session, db, coll, id]() -> asio::awaitable<void> {
                co_await kill_cursor(*st, server, session, db, coll, id);
            },
            asio::detached);
    } catch (...) {
    }
}

asio::awaitable<bool> cursor::next_batch() {
    return detail::run_throwing<bool>([this](error_code& ec, diagnostics& diag) { return next_batch(ec, diag); });
}

asio::awaitable<bool> cursor::next_batch(error_code& ec, diagnostics& diag) {
    if (first_) {
        first_ = false;
        if (batch_count_ > 0) co_return true;
    }
    if (id_ == 0 || !st_) {
        batch_.clear();
        reset_iter();
        iter_valid_ = false;
        co_return false;
    }
    std::int32_t n = batch_size_;
    if (limit_ > 0) {
        auto left = limit_ - returned_;
        if (n == 0 || left < n) n = static_cast<std::int32_t>(left);
    }
    {
        net::pooled_connection conn;  // no co_await inside ?: (g++ 12 destroys such temporaries twice)
        if (server_) conn = co_await st_->checkout(server_, ec, diag);
        else conn = co_await st_->checkout(true, st_->default_rp, ec, diag);
        if (!ec) {
            wire::algo::get_more_algo algo(conn->out_buffer(), conn->request_id_counter(), db_, coll_, id_, n,
                                           session_ ? &session_->id : nullptr);
            co_await net::async_run(*conn, algo, st_->op_timeout, ec, diag);
            if (!ec || ec == errc::server_error) id_ = algo.cursor_id();  // CursorNotFound: the cursor is gone
            // The batch lives in the connection's receive buffer: copy it before returning it.
            if (!ec) batch_.assign(bson::document_view(algo.batch().data(), algo.batch().size()));
        }
    }
    if (ec) co_return false;
    reset_iter();
    if (limit_ > 0 && returned_ >= limit_) {
        co_await close();
        co_return false;
    }
    co_return batch_count_ > 0;
}

asio::awaitable<std::optional<bson::document_view>> cursor::next() {
    return detail::run_throwing<std::optional<bson::document_view>>(
        [this](error_code& ec, diagnostics& diag) { return next(ec, diag); });
}

asio::awaitable<std::optional<bson::document_view>> cursor::next(error_code& ec, diagnostics& diag) {
    for (;;) {
        if (first_) {
            first_ = false;
        }
        if (limit_ > 0 && returned_ >= limit_) {
            if (id_ != 0) co_await close();
            co_return std::nullopt;
        }
        if (iter_valid_ && bson_iter_next(&iter_)) {
            ++pos_;
            if (!BSON_ITER_HOLDS_DOCUMENT(&iter_)) {
                // Batches are checked when they arrive (wire::check_batch); one built some
                // other way still never loses an entry silently.
                diag.clear();
                diag.message = fmt::format("cursor batch entry {} is not a document", pos_ - 1);
                ec = make_error_code(errc::protocol);
                co_return std::nullopt;
            }
            std::uint32_t len;
            const std::uint8_t* data;
            bson_iter_document(&iter_, &len, &data);
            ++returned_;
            co_return bson::document_view(data, len);
        }
        iter_valid_ = false;
        if (id_ == 0) co_return std::nullopt;
        if (!co_await next_batch(ec, diag)) co_return std::nullopt;
    }
}

asio::awaitable<std::vector<bson::document>> cursor::to_vector() {
    return detail::run_throwing<std::vector<bson::document>>(
        [this](error_code& ec, diagnostics& diag) { return to_vector(ec, diag); });
}

asio::awaitable<std::vector<bson::document>> cursor::to_vector(error_code& ec, diagnostics& diag) {
    std::vector<bson::document> out;
    while (auto d = co_await next(ec, diag)) {
        bson::document doc;
        doc.assign(*d);
        out.push_back(std::move(doc));
    }
    co_return out;
}

asio::awaitable<void> cursor::close() {
    if (id_ == 0 || !st_) co_return;
    std::int64_t id = std::exchange(id_, 0);
    co_await kill_cursor(*st_, server_, session_, db_, coll_, id);
}

}  // namespace morm
