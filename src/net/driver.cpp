#include <morm/net/driver.hpp>
#include <morm/wire/algo/frames.hpp>
#include <morm/wire/reply.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

namespace morm::net {

using namespace boost::asio::experimental::awaitable_operators;

struct driver_access {
    static auto write(connection& c, std::span<const std::uint8_t> b) { return c.raw_write(b); }
    static auto read_some(connection& c, std::span<std::uint8_t> b) { return c.raw_read_some(b); }
    static wire::algo::frame_reader& reader(connection& c) noexcept { return c.in_; }
    static void touch(connection& c) noexcept { c.last_used_ = std::chrono::steady_clock::now(); }
    static void count_write(connection& c) noexcept { ++c.writes_; }
};

namespace {

using wire::algo::next_action;

/// The threads that run algorithms' CPU-bound work (SCRAM's PBKDF2), shared by every client:
/// an I/O thread never computes for long, so other coroutines and the deadlines keep running.
asio::thread_pool& offload_pool() {
    static asio::thread_pool pool(2);
    return pool;
}

/// How an offloaded job tells its connection's executor that it finished: the job expires
/// the timer (in the past, so a wait that starts later completes at once too).
struct offload_signal {
    explicit offload_signal(const asio::any_io_executor& ex) : timer(ex) {
        timer.expires_after(std::chrono::hours(24 * 365));
    }
    asio::steady_timer timer;
    bool done = false;
};

/// Why an I/O step failed, in morm's words; the code stays asio's for a cancellation.
[[nodiscard]] error_code io_error(diagnostics& diag, const error_code& ec, std::string_view what, const connection& c) {
    diag.clear();
    const auto ep = c.remote().to_string();
    if (ec == errc::timeout) {
        diag.message = fmt::format("{} {} timed out after {} ms", what, ep,
                                   c.params() ? c.params()->socket_timeout.count() : 0);
        return ec;
    }
    if (ec == asio::error::operation_aborted) {
        diag.message = fmt::format("{} {}: cancelled", what, ep);
        return ec;
    }
    if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
        diag.message = fmt::format("{} {}: connection closed by the server ({})", what, ep, ec.message());
        return make_error_code(errc::connection_closed);
    }
    if (ec.category() == morm_category()) {
        diag.message = fmt::format("{} {}: {}", what, ep, ec.message());
        return ec;
    }
    diag.message = fmt::format("{} {}: {}", what, ep, ec.message());
    return make_error_code(errc::network);
}

/// Command monitoring of one run: the frames written and not yet answered, in order.
class monitor {
public:
    explicit monitor(const connection& c) : c_(c), on_(c.params() && c.params()->listener) {}
    bool on() const noexcept { return on_; }

    void started(std::span<const std::uint8_t> frame, std::int32_t request_id) {
        bson_t cmd;
        std::string_view name, db;
        (void)wire::algo::command_from_frame(frame, &cmd, name, db);
        flights_.push_back({request_id, std::string(name), std::string(db), std::chrono::steady_clock::now()});
        const std::string server = c_.remote().to_string();
        command_event ev{command_event::started, request_id, flights_.back().name, flights_.back().db, &cmd,
                         {}, nullptr, server, c_.id()};
        c_.notify(ev);
        bson_destroy(&cmd);
    }

    void replied(std::span<const std::uint8_t> frame) {
        if (next_ >= flights_.size()) return;
        const flight& f = flights_[next_++];
        wire::op_msg_view reply;
        diagnostics d;
        error_code e = wire::parse_op_msg(frame, reply, d);
        if (!e) e = wire::check_command_reply(&reply.body, d);
        const std::string server = c_.remote().to_string();
        command_event ev{e ? command_event::failed : command_event::succeeded, f.request_id, f.name, f.db,
                         reply.has_body ? &reply.body : nullptr, std::chrono::steady_clock::now() - f.t0,
                         e ? &d : nullptr, server, c_.id()};
        c_.notify(ev);
    }

    /// Drops the frames already answered: a run of many round trips (getMore after getMore)
    /// keeps constant memory.
    void forget_answered() {
        flights_.erase(flights_.begin(), flights_.begin() + static_cast<std::ptrdiff_t>(next_));
        next_ = 0;
    }

    /// `failed` for every frame still unanswered when the run ends.
    void abandon(const diagnostics& why) {
        const std::string server = c_.remote().to_string();
        for (; next_ < flights_.size(); ++next_) {
            const flight& f = flights_[next_];
            command_event ev{command_event::failed, f.request_id, f.name, f.db, nullptr,
                             std::chrono::steady_clock::now() - f.t0, &why, server, c_.id()};
            c_.notify(ev);
        }
    }

private:
    struct flight {
        std::int32_t request_id;
        std::string name, db;
        std::chrono::steady_clock::time_point t0;
    };
    const connection& c_;
    bool on_;
    std::vector<flight> flights_;
    std::size_t next_ = 0;
};

class runner {
public:
    runner(connection& c, wire::algo::algorithm_ref algo, std::chrono::milliseconds deadline)
        : c_(c), algo_(algo), rd_(driver_access::reader(c)), mon_(c) {
        if (deadline.count() > 0) {
            deadline_ = deadline;
            timer_.emplace(c.get_executor());
            timer_->expires_after(deadline);
        }
    }

    asio::awaitable<void> run(error_code& ec, diagnostics& diag);

private:
    asio::awaitable<void> write_step(std::span<const std::uint8_t> bytes);
    asio::awaitable<void> read_step(std::span<const std::uint8_t>& frame);
    asio::awaitable<void> offload_step(std::function<void()> work);
    void take_frame(std::span<const std::uint8_t>& frame);
    asio::awaitable<void> exchange(std::span<const std::uint8_t> bytes, std::size_t replies);
    asio::awaitable<error_code> read_frame();
    asio::awaitable<std::tuple<error_code, std::size_t>> read_some(std::span<std::uint8_t> into);
    void record(const error_code& e, std::string_view what) {
        if (failure_) return;  // the first failure is the cause; later ones follow from close()
        failure_ = io_error(failure_diag_, e, what, c_);
        c_.close();
    }

    connection& c_;
    wire::algo::algorithm_ref algo_;
    wire::algo::frame_reader& rd_;
    monitor mon_;
    std::optional<asio::steady_timer> timer_;
    std::chrono::milliseconds deadline_{0};
    std::vector<wire::algo::frame_ref> queue_;  // replies read, not yet handed over
    std::size_t delivered_ = 0;
    std::size_t expected_ = 0;  // replies the frames written so far call for
    error_code failure_;        // the run's I/O failure, handed over once the queue is empty
    diagnostics failure_diag_;
};

asio::awaitable<void> runner::run(error_code& ec, diagnostics& diag) {
    error_code io;
    std::span<const std::uint8_t> frame;
    for (;;) {
        next_action act = algo_.resume(io, frame);
        io.clear();
        frame = {};
        // After a failure (a cancellation included) nothing is awaited any more: a cancelled
        // coroutine throws at its next co_await, and the algorithm must still see the error.
        if (act.type == next_action::kind::write) {
            if (!failure_) co_await write_step(act.bytes);
        } else if (act.type == next_action::kind::read) {
            if (delivered_ < queue_.size() || failure_) take_frame(frame);
            else co_await read_step(frame);
        } else if (act.type == next_action::kind::offload) {
            if (!failure_) co_await offload_step(std::move(act.work));
        } else {
            ec = act.ec;
            diag = algo_.diag();
            break;
        }
        // A failure is the algorithm's to see once the replies that came before it are.
        if (frame.empty() && failure_ && (act.type == next_action::kind::read || delivered_ == queue_.size())) {
            io = failure_;
            algo_.diag() = failure_diag_;
        }
    }
    // Replies still due, or a reply that made no sense: the stream position is unknown.
    if (expected_ > delivered_ || ec == errc::protocol) c_.close();
    // Bytes beyond every reply asked for (a second reply to one request, a frame sent
    // unasked): kept, they would be read as the answer to the connection's next request.
    // The run itself got the replies it asked for, so its result stands.
    else if (c_.has_unsolicited_input()) c_.close();
    if (mon_.on()) mon_.abandon(diag);
    driver_access::touch(c_);
}

asio::awaitable<void> runner::write_step(std::span<const std::uint8_t> bytes) {
    // Every reply handed over so far has been consumed by the algorithm.
    if (delivered_ == queue_.size()) {
        queue_.clear();
        delivered_ = expected_ = 0;
        rd_.discard_taken();
        if (mon_.on()) mon_.forget_answered();
    }
    if (!c_.is_open()) {
        failure_diag_.clear();
        failure_diag_.message = fmt::format("connection to {} is closed", c_.remote().to_string());
        failure_ = make_error_code(errc::connection_closed);
        co_return;
    }
    std::size_t replies = wire::algo::for_each_frame(bytes, [&](const wire::algo::frame_info& fi) {
        if (mon_.on()) mon_.started(fi.bytes, fi.request_id);
    });
    expected_ += replies;
    if (!timer_) {
        co_await exchange(bytes, replies);
        co_return;
    }
    auto r = co_await (exchange(bytes, replies) || timer_->async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) {
        auto [te] = std::get<1>(r);
        if (te) {
            record(asio::error::operation_aborted, "operation on");
        } else {
            // Our deadline, not the caller: the exchange saw its own I/O aborted.
            failure_diag_.clear();
            failure_diag_.message = fmt::format("operation on {} timed out after {} ms ({} of {} replies received)",
                                                c_.remote().to_string(), deadline_.count(), queue_.size(), expected_);
            failure_ = make_error_code(errc::timeout);
            c_.close();
        }
    }
}

asio::awaitable<void> runner::exchange(std::span<const std::uint8_t> bytes, std::size_t replies) {
    auto writer = [&]() -> asio::awaitable<void> {
        driver_access::count_write(c_);
        auto [e, n] = co_await driver_access::write(c_, bytes);
        if (e) record(e, "write to");  // closing wakes the reader
    };
    auto reader = [&](std::size_t n) -> asio::awaitable<void> {
        for (std::size_t i = 0; i < n; ++i) {
            if (auto e = co_await read_frame()) {
                record(e, i == 0 && queue_.empty() ? "read from" : "read from (mid-reply)");
                break;
            }
        }
    };
    if (replies == 0) co_await writer();
    else co_await (writer() && reader(replies));
}

asio::awaitable<void> runner::read_step(std::span<const std::uint8_t>& frame) {
    if (delivered_ == queue_.size() && !failure_) {
        // Nothing buffered: read one more frame (an algorithm that reads without writing).
        ++expected_;
        if (!timer_) {
            if (auto e = co_await read_frame()) record(e, "read from");
        } else {
            auto r = co_await (read_frame() || timer_->async_wait(asio::as_tuple(asio::use_awaitable)));
            if (r.index() == 0) {
                if (auto e = std::get<0>(r)) record(e, "read from");
            } else {
                auto [te] = std::get<1>(r);
                record(te ? error_code(asio::error::operation_aborted) : make_error_code(errc::timeout), "read from");
            }
        }
    }
    take_frame(frame);
}

asio::awaitable<void> runner::offload_step(std::function<void()> work) {
    auto sig = std::make_shared<offload_signal>(c_.get_executor());
    // The completion goes back through a work-tracking executor: the io_context's run() does
    // not return while a job it is owed is still computing. If the run is abandoned first
    // (deadline, cancellation), the job still finishes on its thread; `work` owns its data.
    auto back = asio::prefer(c_.get_executor(), asio::execution::outstanding_work.tracked);
    asio::post(offload_pool(), [work = std::move(work), sig, back]() mutable {
        work();
        asio::post(back, [sig] {
            sig->done = true;
            sig->timer.expires_at(asio::steady_timer::time_point{});
        });
    });
    bool deadline_hit = false;
    if (!timer_) {
        co_await sig->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    } else {
        auto r = co_await (sig->timer.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                           timer_->async_wait(asio::as_tuple(asio::use_awaitable)));
        deadline_hit = r.index() == 1 && !std::get<0>(std::get<1>(r));
    }
    if (sig->done) co_return;
    if (deadline_hit) {
        failure_diag_.clear();
        failure_diag_.message = fmt::format("handshake with {} timed out after {} ms while deriving the SCRAM keys "
                                            "(PBKDF2)", c_.remote().to_string(), deadline_.count());
        failure_ = make_error_code(errc::timeout);
        c_.close();
    } else {
        record(asio::error::operation_aborted, "key derivation for");
    }
}

void runner::take_frame(std::span<const std::uint8_t>& frame) {
    if (delivered_ >= queue_.size()) return;
    frame = rd_.frame(queue_[delivered_++]);
    if (mon_.on()) mon_.replied(frame);
}

asio::awaitable<error_code> runner::read_frame() {
    const auto& sd = c_.server();
    const std::int32_t max_size = sd.max_message_size_bytes > 0 ? sd.max_message_size_bytes
                                                                : wire::default_max_message_size;
    for (;;) {
        bool ready = false;
        wire::algo::frame_ref ref;
        diagnostics d;
        if (auto e = rd_.next_frame(max_size, ready, ref, d)) {
            // A header that makes no sense: the stream cannot be resynchronised.
            if (!failure_) {
                failure_ = e;
                failure_diag_ = std::move(d);
                c_.close();
            }
            co_return e;
        }
        if (ready) {
            queue_.push_back(ref);
            co_return error_code{};
        }
        auto [e, n] = co_await read_some(rd_.prepare());
        rd_.commit(n);
        if (e) co_return e;
    }
}

asio::awaitable<std::tuple<error_code, std::size_t>> runner::read_some(std::span<std::uint8_t> into) {
    const auto* p = c_.params();
    if (!p || p->socket_timeout.count() <= 0) co_return co_await driver_access::read_some(c_, into);
    asio::steady_timer t(c_.get_executor());
    t.expires_after(p->socket_timeout);
    auto v = co_await (driver_access::read_some(c_, into) || t.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (v.index() == 0) co_return std::get<0>(v);
    auto [te] = std::get<1>(v);
    co_return std::tuple<error_code, std::size_t>{
        te ? error_code(asio::error::operation_aborted) : make_error_code(errc::timeout), 0};
}

}  // namespace

asio::awaitable<void> async_run(connection& conn, wire::algo::algorithm_ref algo, std::chrono::milliseconds deadline,
                                error_code& ec, diagnostics& diag) {
    runner r(conn, algo, deadline);
    co_await r.run(ec, diag);
    if (ec && conn.params() && conn.params()->error_observer) conn.params()->error_observer(conn, ec, diag);
}

}  // namespace morm::net
