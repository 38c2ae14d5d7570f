// Compile-fail cases of MORM_POLYMORPHIC (orm/polymorphic.hpp), compiled like cases.cpp
// with -fsyntax-only -DCASE=N. CASE 0 must compile; the others must be rejected with the
// `morm: ...` reason their comment names.
#include <morm/orm/polymorphic.hpp>

#include <string>

namespace pc {

struct Payment {
    std::string id;
    double amount = 0;
    virtual ~Payment() = default;
};
MORM_MODEL(Payment, "payments", (id, "_id"), amount);

struct CardPayment : Payment {
    std::string last4;
};
MORM_MODEL(CardPayment, "payments", (id, "_id"), amount, last4);

#if CASE == 0  // a family whose kinds derive from the base, in its collection
MORM_POLYMORPHIC(Payment, "kind", (Payment, "payment"), (CardPayment, "card"));
#elif CASE == 1  // a kind that does not derive from the base
struct Refund {
    std::string id;
    double amount = 0;
};
MORM_MODEL(Refund, "payments", (id, "_id"), amount);
MORM_POLYMORPHIC(Payment, "kind", (CardPayment, "card"), (Refund, "refund"));
#elif CASE == 2  // a kind stored in another collection
struct Voucher : Payment {
    std::string code;
};
MORM_MODEL(Voucher, "vouchers", (id, "_id"), amount, code);
MORM_POLYMORPHIC(Payment, "kind", (CardPayment, "card"), (Voucher, "voucher"));
#endif

}  // namespace pc

int main() {}
