// Polymorphic models without a server (orm/polymorphic.hpp): the derived models' field
// descriptors, the discriminator written by every kind's ops, the check on decode, the
// family's lookups and the dynamic kind of an object held through its base.
#include <morm/orm/polymorphic.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>

namespace poly_unit {

struct Payment {
    std::string id;
    std::string order_id;
    double amount = 0;
    virtual ~Payment() = default;
};
struct CardPayment : Payment {
    std::string last4;
};
struct BankTransfer : Payment {
    std::string iban;
};
struct Unlisted : Payment {};
MORM_MODEL(Payment, "payments", (id, "_id"), order_id, amount);
MORM_MODEL(CardPayment, "payments", (id, "_id"), order_id, amount, last4);
MORM_MODEL(BankTransfer, "payments", (id, "_id"), order_id, amount, iban);
MORM_MODEL(Unlisted, "payments", (id, "_id"), order_id, amount);
MORM_POLYMORPHIC(Payment, "kind", (Payment, "payment"), (CardPayment, "card"), (BankTransfer, "bank"));

// A family whose base is not listed: only its kinds are stored.
struct Shape {
    std::string id;
    virtual ~Shape() = default;
};
struct Circle : Shape {
    double r = 0;
};
MORM_MODEL(Shape, "shapes", (id, "_id"));
MORM_MODEL(Circle, "shapes", (id, "_id"), r);
MORM_POLYMORPHIC(Shape, "type", (Circle, "circle"));

struct Plain {
    std::string id;
};
MORM_MODEL(Plain, "plain", (id, "_id"));

}  // namespace poly_unit

using namespace poly_unit;
using morm::bson::document;

namespace {

/// The ops' encoding of `obj` as a document.
document encoded(const morm::detail::model_ops& ops, const void* obj) {
    document d;
    morm::diagnostics diag;
    REQUIRE_FALSE(ops.encode(obj, d.get(), &diag));
    return d;
}

std::string canon(const document& d) { return d.to_json(morm::bson::json_mode::canonical); }
std::string canon_json(std::string_view json) { return canon(document::from_json(json)); }

CardPayment card() {
    CardPayment c;
    c.id = "p1";
    c.order_id = "o1";
    c.amount = 12.5;
    c.last4 = "4242";
    return c;
}

}  // namespace

TEST_CASE("polymorphic: a derived model's inherited members are members of the derived type", "[polymorphic]") {
    // &CardPayment::amount is a `double Payment::*`; the macro converts it.
    using amount_desc = std::remove_cvref_t<decltype(morm::codec::struct_traits<CardPayment>::field<2>())>;
    STATIC_REQUIRE(std::is_same_v<decltype(amount_desc::member), double CardPayment::*>);
    STATIC_REQUIRE(std::is_same_v<amount_desc::class_type, CardPayment>);
    STATIC_REQUIRE(morm::codec::model_traits<CardPayment>::id_index == 0);
    STATIC_REQUIRE(morm::detail::polymorphic_model<CardPayment>);
    STATIC_REQUIRE(morm::detail::polymorphic_model<Payment>);
    STATIC_REQUIRE_FALSE(morm::detail::polymorphic_model<Plain>);
    STATIC_REQUIRE(std::is_same_v<morm::detail::poly_base_t<BankTransfer>, Payment>);
    // A plain codec round trip of a derived object still works field by field.
    auto c = card();
    auto d = morm::codec::encode(c);
    CHECK(canon(d) == canon_json(R"({"_id": "p1", "order_id": "o1", "amount": 12.5, "last4": "4242"})"));
}

TEST_CASE("polymorphic: every kind writes its discriminator right after _id", "[polymorphic]") {
    auto c = card();
    CHECK(canon(encoded(morm::detail::ops_for<CardPayment>(), &c)) ==
          canon_json(R"({"_id": "p1", "kind": "card", "order_id": "o1", "amount": 12.5, "last4": "4242"})"));
    BankTransfer b;
    b.id = "p2";
    b.iban = "FR76";
    CHECK(canon(encoded(morm::detail::ops_for<BankTransfer>(), &b)) ==
          canon_json(R"({"_id": "p2", "kind": "bank", "order_id": "", "amount": 0.0, "iban": "FR76"})"));
    Payment p;
    p.id = "p3";
    CHECK(canon(encoded(morm::detail::ops_for<Payment>(), &p)) ==
          canon_json(R"({"_id": "p3", "kind": "payment", "order_id": "", "amount": 0.0})"));

    // The raw encoder (snapshots, insert frames) writes the same bytes after what the buffer held.
    morm::bson::byte_buffer buf;
    buf.resize(3);
    REQUIRE_FALSE(morm::detail::ops_for<CardPayment>().encode_raw(&c, buf, nullptr));
    auto raw = document::from_bytes(buf.data() + 3, buf.size() - 3);
    CHECK(canon(raw) == canon(encoded(morm::detail::ops_for<CardPayment>(), &c)));
}

TEST_CASE("polymorphic: decoding checks the discriminator", "[polymorphic]") {
    const auto& card_ops = morm::detail::ops_for<CardPayment>();
    const auto& base_ops = morm::detail::ops_for<Payment>();
    CardPayment out;
    morm::diagnostics diag;

    auto ok = document::from_json(R"({"_id": "p1", "kind": "card", "order_id": "o", "amount": 1.5, "last4": "1111"})");
    REQUIRE_FALSE(card_ops.decode(ok.data(), ok.size(), &out, &diag));
    CHECK(out.last4 == "1111");
    CHECK(out.amount == 1.5);

    auto bank = document::from_json(R"({"_id": "p9", "kind": "bank", "order_id": "o", "amount": 1.5, "iban": "x"})");
    auto ec = card_ops.decode(bank.data(), bank.size(), &out, &diag);
    CHECK(ec == morm::errc::decode_error);
    CHECK_THAT(diag.message, Catch::Contains("'bank'") && Catch::Contains("\"p9\"") && Catch::Contains("'card'"));

    // No discriminator: a kind refuses it, the base takes it (written before it was polymorphic).
    auto legacy = document::from_json(R"({"_id": "p5", "order_id": "o", "amount": 2.0})");
    diag.clear();
    CHECK(card_ops.decode(legacy.data(), legacy.size(), &out, &diag) == morm::errc::decode_error);
    CHECK_THAT(diag.message, Catch::Contains("(none)"));
    Payment base;
    CHECK_FALSE(base_ops.decode(legacy.data(), legacy.size(), &base, nullptr));
    CHECK(base.amount == 2.0);
}

TEST_CASE("polymorphic: the family's lookups and an object's dynamic kind", "[polymorphic]") {
    const auto& base = morm::detail::ops_for<Payment>();
    const auto& card_ops = morm::detail::ops_for<CardPayment>();
    const auto& bank_ops = morm::detail::ops_for<BankTransfer>();
    CHECK(base.family == &base);
    CHECK(card_ops.family == &base);
    CHECK(bank_ops.family == &base);
    CHECK(morm::detail::ops_for<Plain>().family == nullptr);
    CHECK(card_ops.discriminator == "kind");
    CHECK(card_ops.kind == "card");
    CHECK(base.kind_of_value("bank") == &bank_ops);
    CHECK(base.kind_of_value("payment") == &base);
    CHECK(base.kind_of_value("nope") == nullptr);
    CHECK(base.kind_of_type(typeid(CardPayment)) == &card_ops);

    std::shared_ptr<Payment> p = std::make_shared<CardPayment>(card());
    CHECK(&morm::detail::dynamic_ops(*p) == &card_ops);
    void* most_derived = morm::detail::erased_ptr(p.get());
    CHECK(most_derived == static_cast<void*>(static_cast<CardPayment*>(p.get())));
    CHECK(card_ops.to_root(most_derived) == static_cast<void*>(p.get()));
    std::string key;
    REQUIRE_FALSE(card_ops.id_key(most_derived, key, nullptr));
    CHECK(card_ops.id_json(most_derived) == "\"p1\"");

    std::shared_ptr<Payment> stray = std::make_shared<Unlisted>();
    CHECK_THROWS_AS(morm::detail::dynamic_ops(*stray), morm::error);
}

TEST_CASE("polymorphic: a base left out of its family's list is not stored", "[polymorphic]") {
    const auto& shape = morm::detail::ops_for<Shape>();
    CHECK(shape.family == &shape);
    CHECK(shape.kind.empty());
    CHECK(shape.kind_of_value("circle") == &morm::detail::ops_for<Circle>());
    Shape s;
    s.id = "s1";
    document d;
    morm::diagnostics diag;
    CHECK(shape.encode(&s, d.get(), &diag) == morm::errc::encode_error);
    CHECK_THAT(diag.message, Catch::Contains("not a listed kind"));
    Circle c;
    c.id = "c1";
    c.r = 2;
    CHECK(canon(encoded(morm::detail::ops_for<Circle>(), &c)) == canon_json(R"({"_id": "c1", "type": "circle", "r": 2.0})"));
    // Its documents are never read as the base, with or without a discriminator.
    auto legacy = document::from_json(R"({"_id": "s9"})");
    CHECK(shape.decode(legacy.data(), legacy.size(), &s, nullptr) == morm::errc::decode_error);
}
