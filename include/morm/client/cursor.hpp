// An async cursor over find/aggregate/list results. Batches are fetched with getMore as
// they are consumed; a cursor dropped before the end sends killCursors (in the
// background, on its executor) so the server frees it.
#pragma once

#include <morm/bson/document.hpp>
#include <morm/client/client.hpp>

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
    cursor(cursor&&) noexcept;
    cursor& operator=(cursor&&) noexcept;
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    ~cursor();

    /// The next document, or nullopt at the end. The view stays valid until the next call
    /// to next()/next_batch(), which may replace the batch it points into.
    asio::awaitable<std::optional<bson::document_view>> next();

    /// Replaces the current batch with the next one from the server; false at the end.
    /// Use with batch() to process results a batch at a time with bounded memory.
    asio::awaitable<bool> next_batch();

    /// The current batch as a BSON array document (keys "0", "1", ...).
    bson::document_view batch() const noexcept { return batch_.view(); }
    /// Number of documents in the current batch.
    std::size_t batch_count() const noexcept { return batch_count_; }

    /// Drains the cursor into owning documents.
    asio::awaitable<std::vector<bson::document>> to_vector();

    /// The server cursor id; 0 once exhausted or closed.
    std::int64_t id() const noexcept { return id_; }
    bool exhausted() const noexcept { return id_ == 0 && !iter_valid_; }
    /// Kills the server cursor now (idempotent).
    asio::awaitable<void> close();

private:
    void reset_iter();
    void kill_in_background() noexcept;

    asio::any_io_executor ex_;
    std::shared_ptr<detail::client_state> st_;
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
