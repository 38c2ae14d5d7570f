// An async cursor over find/aggregate/list results. Batches are fetched with getMore as
// they are consumed; a cursor dropped before the end sends killCursors (in the
// background, on its executor) so the server frees it.
//
// Every fetching operation has three forms (see detail/initiate.hpp):
//  - `co_await c.next()`: throws morm::error;
//  - `co_await c.next(ec, diag)`: a coroutine that reports through ec/diag and throws nothing;
//  - `c.next(token)`: any Asio completion token, completing with `void(error_code, R)`.
// Executor: the token forms run on the executor the cursor was created on (the client's);
// the handler runs on its own associated executor, that one by default.
// Lifetimes: the cursor is a stateful object, not a handle: it must outlive every operation
// started on it, and only one may be in flight at a time.
// Cancellation: terminal cancellation through the token's slot aborts the pool wait or the
// getMore exchange; the operation completes with operation_aborted, the connection is
// closed (never returned mid-reply), and the cursor keeps its id, so a later next() asks
// the server again.
// Empty batches: a live cursor may answer getMore with an empty batch; next() and
// next_batch() then ask again, in a loop (constant memory, no recursion), all within one
// exchange bounded by the client's operation timeout (timeoutMS) as a whole, each read by
// socketTimeoutMS, and cancellable as above. morm's cursors are never tailable, so a
// server that keeps answering empty batches is not making progress: after
// wire::algo::get_more_algo::default_max_empty_batches (1000) in a row the call fails with
// errc::protocol; the cursor keeps its id (killCursors still reaches the server).
// Hostile replies: a batch entry that is not a document, a cursor id that is not an
// integer, or a getMore reply for another namespace is errc::protocol, never skipped or
// read as "exhausted".
#pragma once

#include <morm/bson/document.hpp>
#include <morm/client/client.hpp>
#include <morm/detail/initiate.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace morm {

class cursor {
public:
    cursor() = default;
    /// Takes the first reply of find/aggregate: `first_batch` is its (copied) batch array.
    /// `ex` runs the background killCursors when the cursor is dropped early.
    cursor(asio::any_io_executor ex, std::shared_ptr<detail::client_state> st, std::string db,
           std::string collection, std::int64_t id, bson::document first_batch, std::int32_t batch_size,
           std::int64_t limit = 0);
    /// Binds the cursor to the server that opened it and to its session: getMore and
    /// killCursors must go there, with the same lsid.
    void pin(std::shared_ptr<net::pool> server, std::shared_ptr<detail::server_session> session) {
        server_ = std::move(server);
        session_ = std::move(session);
    }
    cursor(cursor&&) noexcept;
    cursor& operator=(cursor&&) noexcept;
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    ~cursor();

    /// The next document, or nullopt at the end. The view stays valid until the next call
    /// to next()/next_batch(), which may replace the batch it points into.
    asio::awaitable<std::optional<bson::document_view>> next();
    asio::awaitable<std::optional<bson::document_view>> next(error_code& ec, diagnostics& diag);
    /// Completion: `void(error_code, std::optional<bson::document_view>)`.
    template <token_for<std::optional<bson::document_view>> Token>
    auto next(Token&& token) {
        return detail::initiate<std::optional<bson::document_view>>(
            executor(), std::forward<Token>(token), [this](error_code& ec, diagnostics& diag) { return next(ec, diag); });
    }

    /// Replaces the current batch with the next one from the server; false at the end.
    /// Use with batch() to process results a batch at a time with bounded memory.
    asio::awaitable<bool> next_batch();
    asio::awaitable<bool> next_batch(error_code& ec, diagnostics& diag);
    /// Completion: `void(error_code, bool)`.
    template <token_for<bool> Token>
    auto next_batch(Token&& token) {
        return detail::initiate<bool>(executor(), std::forward<Token>(token),
                                      [this](error_code& ec, diagnostics& diag) { return next_batch(ec, diag); });
    }

    /// The current batch as a BSON array document (keys "0", "1", ...).
    bson::document_view batch() const noexcept { return batch_.view(); }
    /// Number of documents in the current batch.
    std::size_t batch_count() const noexcept { return batch_count_; }

    /// Drains the cursor into owning documents.
    asio::awaitable<std::vector<bson::document>> to_vector();
    asio::awaitable<std::vector<bson::document>> to_vector(error_code& ec, diagnostics& diag);
    /// Completion: `void(error_code, std::vector<bson::document>)`.
    template <token_for<std::vector<bson::document>> Token>
    auto to_vector(Token&& token) {
        return detail::initiate<std::vector<bson::document>>(
            executor(), std::forward<Token>(token), [this](error_code& ec, diagnostics& diag) { return to_vector(ec, diag); });
    }

    /// The server cursor id; 0 once exhausted or closed.
    std::int64_t id() const noexcept { return id_; }
    bool exhausted() const noexcept { return id_ == 0 && !iter_valid_; }
    /// Kills the server cursor now (idempotent; best effort: never fails).
    asio::awaitable<void> close();
    /// Completion: `void(error_code)` (always success).
    template <token_for<void> Token>
    auto close(Token&& token) {
        return detail::initiate<void>(executor(), std::forward<Token>(token),
                                      [this](error_code&, diagnostics&) { return close(); });
    }

    /// The executor the token forms run on.
    const asio::any_io_executor& executor() const noexcept { return ex_; }

private:
    void reset_iter();
    void kill_in_background() noexcept;

    asio::any_io_executor ex_;
    std::shared_ptr<detail::client_state> st_;
    std::shared_ptr<net::pool> server_;
    std::shared_ptr<detail::server_session> session_;
    std::string db_, coll_;
    std::int64_t id_ = 0;
    bson::document batch_;
    std::size_t batch_count_ = 0;
    bson_iter_t iter_{};
    bool iter_valid_ = false;
    std::size_t pos_ = 0;  // documents consumed from the current batch
    bool first_ = true;
    std::int32_t batch_size_ = 0;
    std::int64_t limit_ = 0;
    std::int64_t returned_ = 0;
};

}  // namespace morm
