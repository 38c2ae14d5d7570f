// How every public asynchronous operation of morm meets Asio's universal model.
//
// An operation has a body: a callable `(error_code& ec, diagnostics& diag) ->
// asio::awaitable<T>` that reports failure through `ec`/`diag` and throws nothing. Two
// public forms sit on it:
//  - `co_await op(args...)` (no token): runs the body in the calling coroutine and throws
//    morm::error on failure: what the library always did, with no extra frame.
//  - `op(args..., token)`: `initiate<T>(ex, token, body)` runs the body as its own
//    coroutine on `ex` and completes with `void(error_code, T)` (`void(error_code)` when T
//    is void), so callbacks, `asio::use_future`, `asio::deferred`, `asio::use_awaitable`
//    and `asio::as_tuple(...)` all work. Nothing is thrown on this path: the completion
//    carries the code, and `morm::with_diagnostics(diag, token)` also receives the server's
//    message, code and codeName.
//
// Cancellation: the token's associated cancellation slot (asio::bind_cancellation_slot,
// `||` of awaitable operators, asio::cancel_after...) reaches the body's coroutine, so the
// socket read/write or pool wait it is suspended in completes with operation_aborted. The
// operation then completes with `asio::error::operation_aborted`; a connection cut
// mid-reply is closed, never returned to the pool.
#pragma once

#include <morm/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace morm {

/// Wraps a completion token so that a morm operation also fills `diag` (the server's
/// errmsg, code, codeName and error labels, or the client-side explanation) before it
/// completes. `diag` must outlive the operation. Only morm operations understand it.
///
///   morm::diagnostics diag;
///   auto [ec, r] = co_await coll.insert_one(doc, morm::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
template <class Token>
struct with_diagnostics_t {
    diagnostics* diag;
    Token token;
};

template <class Token>
[[nodiscard]] with_diagnostics_t<std::decay_t<Token>> with_diagnostics(diagnostics& diag, Token&& token) {
    return {&diag, std::forward<Token>(token)};
}

namespace detail {

template <class T>
struct is_with_diagnostics : std::false_type {};
template <class T>
struct is_with_diagnostics<with_diagnostics_t<T>> : std::true_type {};

struct void_result {};

template <class T>
using op_value_t = std::conditional_t<std::is_void_v<T>, void_result, T>;

template <class T>
struct op_signature {
    using type = void(error_code, T);
};
template <>
struct op_signature<void> {
    using type = void(error_code);
};
template <class T>
using op_signature_t = typename op_signature<T>::type;

template <class T>
struct op_outcome {
    error_code ec;
    op_value_t<T> value{};
};

/// Maps an exception that escaped a body (only std::bad_alloc should) to a code.
[[nodiscard]] inline error_code error_from(std::exception_ptr e, diagnostics* diag) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const morm::error& err) {
        if (diag) *diag = err.diag();
        return err.code();
    } catch (const boost::system::system_error& err) {
        if (diag) diag->message = err.what();
        return err.code();
    } catch (const std::bad_alloc&) {
        return make_error_code(boost::system::errc::not_enough_memory);
    } catch (...) {
    }
    return make_error_code(errc::invalid_argument);
}

template <class T, class Body>
boost::asio::awaitable<op_outcome<T>> run_body(Body body, diagnostics* out) {
    // A cancelled op must complete with its code, not throw at the next co_await.
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    op_outcome<T> r;
    diagnostics local;
    diagnostics& d = out ? *out : local;
    d.clear();
    if constexpr (std::is_void_v<T>)
        co_await body(r.ec, d);
    else
        r.value = co_await body(r.ec, d);
    co_return r;
}

template <class T, class Handler>
struct op_completion {
    Handler handler;
    diagnostics* diag;

    void operator()(std::exception_ptr e, op_outcome<T> r) {
        if (e) r.ec = error_from(e, diag);
        if constexpr (std::is_void_v<T>)
            std::move(handler)(r.ec);
        else
            std::move(handler)(r.ec, std::move(r.value));
    }
};

template <class T>
struct initiate_op {
    boost::asio::any_io_executor ex;
    diagnostics* diag;

    template <class Handler, class Body>
    void operator()(Handler handler, Body body) const {
        namespace asio = boost::asio;
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto hex = asio::get_associated_executor(handler, ex);
        asio::co_spawn(ex, run_body<T>(std::move(body), diag),
                       asio::bind_cancellation_slot(
                           slot, asio::bind_executor(hex, op_completion<T, Handler>{std::move(handler), diag})));
    }
};

/// Starts `body` under `token` on `ex` (see the top of this file).
template <class T, class Token, class Body>
auto initiate(const boost::asio::any_io_executor& ex, Token&& token, Body&& body) {
    using tok = std::decay_t<Token>;
    if constexpr (is_with_diagnostics<tok>::value) {
        return boost::asio::async_initiate<decltype(token.token), op_signature_t<T>>(
            initiate_op<T>{ex, token.diag}, token.token, std::forward<Body>(body));
    } else {
        return boost::asio::async_initiate<Token, op_signature_t<T>>(initiate_op<T>{ex, nullptr}, token,
                                                                      std::forward<Body>(body));
    }
}

/// Runs `body` in the calling coroutine; failure throws morm::error (the no-token form).
template <class T, class Body>
boost::asio::awaitable<T> run_throwing(Body body) {
    error_code ec;
    diagnostics diag;
    if constexpr (std::is_void_v<T>) {
        co_await body(ec, diag);
        if (ec) throw error(ec, std::move(diag));
    } else {
        T v = co_await body(ec, diag);
        if (ec) throw error(ec, std::move(diag));
        co_return v;
    }
}

}  // namespace detail

/// A completion token accepted by a morm operation completing with signature `Sig`: any
/// Asio token for it, or one wrapped by morm::with_diagnostics.
template <class Token, class Sig>
concept completion_token_for =
    boost::asio::completion_token_for<Token, Sig> ||
    (detail::is_with_diagnostics<std::decay_t<Token>>::value &&
     boost::asio::completion_token_for<decltype(std::declval<std::decay_t<Token>&>().token), Sig>);

/// The token concept for an operation whose result is T (void: no value).
template <class Token, class T>
concept token_for = completion_token_for<Token, detail::op_signature_t<T>>;

}  // namespace morm
