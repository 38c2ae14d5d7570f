// morm::ref<T>: a field that points at another model's object by its _id.
//
//   struct Order { std::string id; morm::ref<Customer> customer; std::vector<morm::ref<Line>> lines; };
//   MORM_MODEL(Order, "orders", (id, "_id"), customer, lines);
//
// Stored as the target's _id value, nothing else (so other drivers and ODMs read it as a plain
// id). In memory it also holds the target object once something loaded it: the eager loaders
// of query<T> (load(), join()) and session::resolve() set it; get() is nullptr until then.
// The loaded object is the session's tracked object (one per _id), so changes made through
// the reference are committed like any other.
//
// Equality and change tracking look at the id only: pointing a ref at another object (or id)
// is a change; loading its target is not.
//
// The target type must be complete where ref<T> is used with the default Id (its MORM_MODEL
// says the id type). For models that refer to each other, name the id type:
// `morm::ref<Customer, std::string>`.
#pragma once

#include <morm/codec/model.hpp>
#include <morm/codec/traits.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace morm {

template <class T, class Id = typename codec::model_traits<T>::id_type>
class ref {
public:
    using target_type = T;
    using id_type = Id;

    ref() = default;
    /// A reference to the object with this _id (not loaded).
    ref(Id id) : id_(std::move(id)) {}  // NOLINT: implicit on purpose, `order.customer = "c1"`
    /// A reference to `obj` (loaded: get() returns it). Takes the object's current _id: give
    /// the object its id first (session::add() generates empty ones).
    ref(std::shared_ptr<T> obj) : id_(codec::model_traits<T>::id(*obj)), target_(std::move(obj)) {}  // NOLINT

    const Id& id() const noexcept { return id_; }
    /// Points the reference at another id; forgets the loaded target.
    void reset(Id id) {
        id_ = std::move(id);
        target_.reset();
    }

    /// The loaded target, or nullptr if nothing loaded it yet (see query::load, session::resolve).
    T* get() const noexcept { return target_.get(); }
    const std::shared_ptr<T>& target() const noexcept { return target_; }
    bool loaded() const noexcept { return target_ != nullptr; }
    T* operator->() const noexcept { return target_.get(); }
    T& operator*() const noexcept { return *target_; }

    /// Sets the loaded target (the loaders call this; its id must be this ref's id).
    void set_target(std::shared_ptr<T> obj) noexcept { target_ = std::move(obj); }

    friend bool operator==(const ref& a, const ref& b) { return a.id_ == b.id_; }
    friend bool operator==(const ref& a, const Id& b) { return a.id_ == b; }

    /// Used by the codec on decode: a new id forgets the loaded target.
    Id& id_for_decode() noexcept {
        target_.reset();
        return id_;
    }

private:
    Id id_{};
    std::shared_ptr<T> target_;
};

namespace detail {
template <class V>
struct is_ref : std::false_type {};
template <class T, class Id>
struct is_ref<ref<T, Id>> : std::true_type {};
}  // namespace detail

/// A ref<T, Id> (of any target).
template <class V>
concept reference = detail::is_ref<std::remove_cvref_t<V>>::value;

/// Stored exactly as the id.
template <class T, class Id>
struct bson_traits<ref<T, Id>> {
    static constexpr bson_type_t type = bson_traits<Id>::type;
    static constexpr std::string_view expected = codec::expected_name<Id>();
    static constexpr std::size_t size_estimate = codec::size_estimate<Id>();
    static constexpr bool identity = false;

    template <class W>
    static bool write(W& w, const ref<T, Id>& r) {
        return w.value(r.id());
    }
    static bool read(const codec::element& e, ref<T, Id>& r) { return e.read(r.id_for_decode()); }
    static void schema(bson_t* s, bool nullable) { codec::append_schema<Id>(s, nullable); }
};

}  // namespace morm
