// Any morm operation under Asio's universal completion-token model.
//
// morm's operations are coroutines (`asio::awaitable<T>`) that throw morm::error. The
// adapter below runs one on an executor and completes with `void(error_code, T)`, so every
// completion token works: callbacks, `asio::use_future`, `asio::deferred`,
// `asio::as_tuple(asio::use_awaitable)` for code that does not want exceptions:
//
//   auto [ec, doc] = co_await morm::async(ex, coll.find_one(filter), diag,
//                                         asio::as_tuple(asio::use_awaitable));
//   morm::async(ex, session.commit(), [](morm::error_code ec, morm::commit_result r) { ... });
//
// Lifetimes, as with any Asio operation: the awaitable starts running after async()
// returns, so the object the operation was called on (collection, session...) and every
// argument it takes by reference must outlive it. Name them; do not pass temporaries or
// rely on defaulted `= {}` arguments when the token does not await at once.
//
// `diag` (optional) receives the server's message, code and codeName; it must outlive the
// operation. Errors that are not morm::error (e.g. std::bad_alloc) complete with
// errc::invalid_argument and the exception's what() in diag. T must be default-constructible
// (it is passed default-constructed on error), as co_spawn requires.
#pragma once

#include <morm/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>

#include <exception>
#include <type_traits>
#include <utility>

namespace morm {

namespace detail {
[[nodiscard]] inline error_code error_from(std::exception_ptr e, diagnostics* diag) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const morm::error& err) {
        if (diag) *diag = err.diag();
        return err.code();
    } catch (const boost::system::system_error& err) {
        if (diag) diag->message = err.what();
        return err.code();
    } catch (const std::exception& err) {
        if (diag) diag->message = err.what();
    } catch (...) {
        if (diag) diag->message = "unknown exception";
    }
    return make_error_code(errc::invalid_argument);
}

struct void_result {};
template <class T>
using result_t = std::conditional_t<std::is_void_v<T>, void_result, T>;
}  // namespace detail

/// Runs `op` on `ex`; completes with `void(error_code, T)` (`void(error_code)` for
/// awaitable<void>). Cancellation: the operation runs to completion on its own; close the
/// client (or let deadlines fire) to stop it early.
template <class T, class CompletionToken>
auto async(boost::asio::any_io_executor ex, boost::asio::awaitable<T> op, diagnostics* diag, CompletionToken&& token) {
    namespace asio = boost::asio;
    if constexpr (std::is_void_v<T>) {
        return asio::async_initiate<CompletionToken, void(error_code)>(
            [ex, diag](auto handler, asio::awaitable<void> o) mutable {
                asio::co_spawn(ex, std::move(o), [h = std::move(handler), diag](std::exception_ptr e) mutable {
                    std::move(h)(detail::error_from(e, diag));
                });
            },
            token, std::move(op));
    } else {
        return asio::async_initiate<CompletionToken, void(error_code, T)>(
            [ex, diag](auto handler, asio::awaitable<T> o) mutable {
                asio::co_spawn(ex, std::move(o), [h = std::move(handler), diag](std::exception_ptr e, T v) mutable {
                    std::move(h)(detail::error_from(e, diag), std::move(v));
                });
            },
            token, std::move(op));
    }
}

template <class T, class CompletionToken>
auto async(boost::asio::any_io_executor ex, boost::asio::awaitable<T> op, diagnostics& diag, CompletionToken&& token) {
    return morm::async(std::move(ex), std::move(op), &diag, std::forward<CompletionToken>(token));
}

template <class T, class CompletionToken>
auto async(boost::asio::any_io_executor ex, boost::asio::awaitable<T> op, CompletionToken&& token) {
    return morm::async(std::move(ex), std::move(op), static_cast<diagnostics*>(nullptr),
                       std::forward<CompletionToken>(token));
}

}  // namespace morm
