// Lifecycle hooks of a model: member functions the session calls, detected at compile time.
//
//   struct Order {
//       std::string id;
//       double total = 0;
//       std::chrono::system_clock::time_point updated_at{};
//       morm::hook_result before_insert() {                 // may reject
//           if (total <= 0) return morm::reject("total must be positive");
//           return {};
//       }
//       void before_update() { updated_at = std::chrono::system_clock::now(); }  // never rejects
//   };
//
// The hooks, all optional, each either `void f()` or `morm::hook_result f()`:
//  - before_insert(): at commit, for an object staged with add().
//  - before_update(): at commit, for a tracked object that has changes (an unchanged
//    object is not written and its hook does not run), and for every merge(): a merge of
//    an id the session does not hold is an upsert that may update a stored document, so
//    it is treated as an update (the object's state is the truth either way).
//  - before_delete(): at commit, for an object staged with remove() (a pending insert
//    that is removed was never written: it is dropped without the hook).
//  - after_load(): once an object is decoded from the server by get(), refresh() and the
//    queries of query.hpp (all/first/one/one_or_none and stream()). Not for an object the
//    session already holds (a query returns that one as is), nor for partial() or
//    aggregate() results. The change-tracking snapshot is taken before the hook, so a
//    change it makes (e.g. migrating an old value) is written at the next commit.
//
// The before-hooks run while the commit plans its writes, before anything is encoded or
// sent: a change a hook makes to its object (e.g. setting updated_at) is written in the
// same commit. A before-hook that rejects its object (or throws: the exception's what()
// is the reason) keeps it out of the commit: it stays pending, reported in
// commit_result::failures with errc::rejected_by_hook and the reason in its message;
// every other object is written (commit() then throws commit_error as for any object not
// written; commit(ec, diag) sets ec and returns the result). Fix it and commit again: the
// hook runs again. An after_load() that rejects (or throws) fails the load with
// errc::rejected_by_hook; the object is not tracked (refresh(): it keeps the reloaded
// state).
//
// A before-hook must not change the object's _id (the object is then refused with
// errc::invalid_argument). Models without hooks pay nothing: the session checks one null
// function pointer per object.
#pragma once

#include <morm/error.hpp>

#include <fmt/format.h>

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace morm {

/// What a hook returns: `return {};` accepts the object, `return morm::reject("why");`
/// rejects it.
class [[nodiscard]] hook_result {
public:
    hook_result() = default;
    bool ok() const noexcept { return !rejected_; }
    explicit operator bool() const noexcept { return ok(); }
    /// Why the object was rejected (empty when ok()).
    const std::string& reason() const noexcept { return reason_; }

private:
    friend hook_result reject(std::string reason);
    bool rejected_ = false;
    std::string reason_;
};

/// A hook_result that rejects the object for `reason`.
inline hook_result reject(std::string reason) {
    hook_result r;
    r.rejected_ = true;
    r.reason_ = std::move(reason);
    return r;
}

namespace detail {

/// Type-erased hook: null when the model does not declare it.
using hook_fn = hook_result (*)(void* obj);

/// Calls a hook's result `f()`: void is ok; an exception is a rejection with its message.
template <class F>
hook_result call_hook(F f) noexcept {
    try {
        using R = decltype(f());
        if constexpr (std::is_void_v<R>) {
            f();
            return {};
        } else {
            static_assert(std::is_convertible_v<R, hook_result>,
                          "morm: a lifecycle hook returns void or morm::hook_result");
            return f();
        }
    } catch (const std::exception& e) {
        return reject(e.what());
    } catch (...) {
        return reject("the hook threw an exception");
    }
}

// One per hook: HOOK is the member function's name.
#define MORM_DETAIL_HOOK(HOOK)                                                                    \
    template <class T>                                                                            \
    hook_fn HOOK##_hook() {                                                                       \
        if constexpr (requires(T& t) { t.HOOK(); })                                               \
            return [](void* p) -> hook_result {                                                   \
                return call_hook([p] { return static_cast<T*>(p)->HOOK(); });                     \
            };                                                                                    \
        else                                                                                      \
            return nullptr;                                                                       \
    }
MORM_DETAIL_HOOK(before_insert)
MORM_DETAIL_HOOK(before_update)
MORM_DETAIL_HOOK(before_delete)
MORM_DETAIL_HOOK(after_load)
#undef MORM_DETAIL_HOOK

/// Runs an after_load hook (if any) on `obj`; a rejection is errc::rejected_by_hook with
/// the reason, naming the collection and the object's _id (`id_json`).
template <class IdJson>
[[nodiscard]] error_code run_after_load(hook_fn hook, void* obj, std::string_view collection, IdJson id_json,
                                        diagnostics& diag) {
    if (!hook) return {};
    auto r = hook(obj);
    if (r.ok()) return {};
    diag.message = fmt::format("after_load() rejected {} with _id {}: {}", collection, id_json(), r.reason());
    return make_error_code(errc::rejected_by_hook);
}

}  // namespace detail
}  // namespace morm
