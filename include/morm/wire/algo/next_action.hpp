// The shape every multi-step operation takes (Boost.MySQL's sansio algorithms): an object
// holding the operation's state whose `resume(io_result, frame)` returns what to do next.
//
//   write: send `bytes` (owned by the algorithm or the buffer it was given; valid until
//          the next resume). The driver then calls resume(write_result, {}).
//   read:  read one complete reply frame; the driver calls resume(read_result, frame).
//          `frame` stays valid until the next write action.
//   done:  finished, with `ec` (and the algorithm's diagnostics) as the result.
//   offload: run `work` (CPU-bound, e.g. SCRAM's PBKDF2) off the I/O thread; the driver then
//          calls resume({}, {}) on the connection's executor, or resume(error) if the
//          run's deadline or a cancellation came first (`work` then still finishes on its
//          thread: it must own everything it touches, and its result is dropped).
//
// On an I/O failure the driver puts its explanation into the algorithm's diagnostics
// before resuming with the error, so the algorithm can copy it into per-item outcomes.
// No socket, no Asio: an algorithm is tested by feeding it scripted bytes.
#pragma once

#include <morm/error.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>

namespace morm::wire::algo {

struct next_action {
    enum class kind : std::uint8_t { write, read, done, offload };
    kind type = kind::done;
    std::span<const std::uint8_t> bytes{};  ///< write only
    error_code ec{};                        ///< done only
    std::function<void()> work{};           ///< offload only

    static next_action write(std::span<const std::uint8_t> b) noexcept { return {kind::write, b, {}, {}}; }
    static next_action read() noexcept { return {kind::read, {}, {}, {}}; }
    static next_action done(error_code e = {}) noexcept { return {kind::done, {}, e, {}}; }
    static next_action offload(std::function<void()> w) { return {kind::offload, {}, {}, std::move(w)}; }
    bool is_done() const noexcept { return type == kind::done; }
};

/// A non-owning handle to any algorithm (anything with `resume` and `diag()`), so that one
/// non-template driver runs them all.
class algorithm_ref {
public:
    template <class Algo>
        requires(!std::is_same_v<std::remove_cv_t<Algo>, algorithm_ref>)  // copies stay copies
    algorithm_ref(Algo& a) noexcept  // NOLINT: implicit on purpose, like a span
        : obj_(&a),
          resume_([](void* o, error_code ec, std::span<const std::uint8_t> f) {
              return static_cast<Algo*>(o)->resume(ec, f);
          }),
          diag_([](void* o) -> diagnostics& { return static_cast<Algo*>(o)->diag(); }) {}

    next_action resume(error_code ec, std::span<const std::uint8_t> frame = {}) { return resume_(obj_, ec, frame); }
    diagnostics& diag() const { return diag_(obj_); }

private:
    void* obj_;
    next_action (*resume_)(void*, error_code, std::span<const std::uint8_t>);
    diagnostics& (*diag_)(void*);
};

}  // namespace morm::wire::algo
