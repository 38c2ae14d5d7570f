// Orders: customers of companies, orders with lines, payments of several kinds. Shows
// references loaded without N+1 queries (and the naive way, for contrast), a polymorphic
// payment model, lifecycle hooks (one rejects an object) and typed aggregation reports.
//   MORM_URI=mongodb://127.0.0.1:27017/mydatabase ./build/examples/orders
// It owns the collections ex_companies, ex_customers, ex_orders and ex_payments of that
// database: they are dropped and filled again on each run.
#include <morm/morm.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <numeric>

namespace asio = boost::asio;
using morm::field;

namespace shop {

struct Company {
    std::string id;
    std::string name;
};
MORM_MODEL(Company, "ex_companies", (id, "_id"), name);

struct Customer {
    std::string id;
    std::string name;
    morm::ref<Company> company;  // stored as the company's _id
};
MORM_MODEL(Customer, "ex_customers", (id, "_id"), name, company);

struct OrderLine {
    std::string sku;
    std::int32_t qty = 0;
    double price = 0;
};
MORM_STRUCT(OrderLine, sku, qty, price);

struct Order {
    std::string id;
    morm::ref<Customer> customer;
    std::string status = "open";
    double total = 0;
    std::vector<OrderLine> lines;
    std::int64_t revision = 0;

    double lines_total() const {
        return std::accumulate(lines.begin(), lines.end(), 0.0,
                               [](double t, const OrderLine& l) { return t + l.qty * l.price; });
    }
    // Hooks: found at compile time, run by commit() before anything is encoded.
    morm::hook_result before_insert() {
        if (lines.empty()) return morm::reject("an order needs at least one line");
        total = lines_total();
        return {};
    }
    void before_update() {
        total = lines_total();  // the total can never drift from the lines
        ++revision;
    }
};
MORM_MODEL(Order, "ex_orders", (id, "_id"), customer, status, total, lines, revision);

// Payments: one collection, three kinds, told apart by the "kind" field.
struct Payment {
    std::string id;
    morm::ref<Order> order;
    double amount = 0;
    virtual ~Payment() = default;
};
struct CardPayment : Payment {
    std::string last4;
};
struct BankTransfer : Payment {
    std::string iban;
};
MORM_MODEL(Payment, "ex_payments", (id, "_id"), order, amount);
MORM_MODEL(CardPayment, "ex_payments", (id, "_id"), order, amount, last4);
MORM_MODEL(BankTransfer, "ex_payments", (id, "_id"), order, amount, iban);
MORM_POLYMORPHIC(Payment, "kind", (Payment, "payment"), (CardPayment, "card"), (BankTransfer, "bank"));

// Report rows: plain structs, checked against the pipeline's stages at compile time.
struct CustomerTotal {
    std::string id;  // the group key: the customer's _id
    double total = 0;
};
MORM_STRUCT(CustomerTotal, (id, "_id"), total);

struct OrderWithLine {  // an order after $unwind of its lines: one line each
    std::string id;
    OrderLine lines;
};
MORM_STRUCT(OrderWithLine, (id, "_id"), lines);

struct SkuTotal {
    std::string id;  // the sku
    std::int64_t qty = 0;
};
MORM_STRUCT(SkuTotal, (id, "_id"), qty);

}  // namespace shop

using namespace shop;

namespace {

constexpr int n_companies = 10, n_customers = 100, n_orders = 1000;
// More than the orders: the first reply holds them all and closes the cursor (a batch that
// is exactly full leaves it open, and the next getMore is one more round trip).
constexpr int one_batch = 2 * n_orders;

asio::awaitable<void> seed(const morm::engine& engine) {
    co_await engine.drop_all();
    morm::session s{engine};
    for (int i = 0; i < n_companies; ++i) s.add(Company{fmt::format("co{}", i), fmt::format("Company {}", i)});
    for (int i = 0; i < n_customers; ++i)
        s.add(Customer{fmt::format("c{:03}", i), fmt::format("Customer {}", i), fmt::format("co{}", i % n_companies)});
    for (int i = 0; i < n_orders; ++i) {
        Order o;
        o.id = fmt::format("o{:04}", i);
        o.customer = fmt::format("c{:03}", i % n_customers);
        o.status = i % 3 == 0 ? "open" : "paid";
        o.lines = {{fmt::format("sku-{}", i % 7), 1 + i % 4, 2.5 + i % 10}, {"sku-gift", 1, 1.0}};
        s.add(std::move(o));
    }
    s.add(Order{"o-empty", std::string("c000"), "open", 0, {}, 0});  // before_insert rejects it
    auto r = co_await s.commit(asio::as_tuple(asio::use_awaitable));
    auto& [ec, result] = r;
    fmt::print("seeded: {} inserted in {} round trips; not written: {}\n", result.inserted, result.round_trips,
               result.failures.size());
    for (auto& f : result.failures) fmt::print("  {} {}: {} ({})\n", f.collection, f.id, f.message, ec.message());
}

/// Counts the commands the engine sends (command monitoring).
struct command_counter {
    std::shared_ptr<std::atomic<int>> n = std::make_shared<std::atomic<int>>(0);
    int take() { return n->exchange(0); }
};

asio::awaitable<void> references(const morm::engine& engine, command_counter& cmds) {
    {  // The naive way: load the orders, then resolve each customer when it is needed.
        morm::session s{engine};
        cmds.take();
        auto orders = co_await s.query<Order>().batch_size(one_batch).all();
        for (auto& o : orders) co_await s.resolve(o->customer);
        fmt::print("N+1: {} orders and their customers, one by one: {} round trips\n", orders.size(), cmds.take());
    }
    {  // Eager: one $in query for every customer the batch refers to.
        morm::session s{engine};
        cmds.take();
        auto orders = co_await s.query<Order>().load(&Order::customer).batch_size(one_batch).all();
        fmt::print("load(&Order::customer): {} orders and their customers: {} round trips\n", orders.size(),
                   cmds.take());
        auto deep = co_await s.query<Order>()
                        .filter(field(&Order::status) == "open")
                        .load(&Order::customer, &Customer::company)
                        .batch_size(one_batch)
                        .all();
        fmt::print("load(&Order::customer, &Customer::company): {} open orders, customers already held, "
                   "companies: {} round trips; first: {} of {}\n",
                   deep.size(), cmds.take(), deep.front()->customer->name, deep.front()->customer->company->name);
    }
    {  // The reverse side: customers with their orders, one query for the orders.
        morm::session s{engine};
        cmds.take();
        auto customers = co_await s.query<Customer>()
                             .filter(field(&Customer::company) == std::string("co3"))
                             .load_children(&Order::customer)
                             .all();
        std::size_t orders = 0;
        for (auto& c : customers) orders += s.children(&Order::customer, *c).size();
        fmt::print("load_children(&Order::customer): {} customers of co3 with {} orders: {} round trips\n",
                   customers.size(), orders, cmds.take());
    }
}

asio::awaitable<void> payments_and_hooks(const morm::engine& engine) {
    morm::session s{engine};
    auto order = co_await s.get<Order>("o0001");
    auto card = std::make_shared<CardPayment>();
    card->order = order;
    card->amount = order->total;
    card->last4 = "4242";
    auto bank = std::make_shared<BankTransfer>();
    bank->order = std::string("o0002");
    bank->amount = 10;
    bank->iban = "DE89370400440532013000";
    s.add(card);
    s.add(bank);
    order->lines.push_back({"sku-extra", 2, 5.0});  // before_update recomputes the total
    order->status = "paid";
    co_await s.commit();
    fmt::print("order o0001 after update: total {:.2f}, revision {}\n", order->total, order->revision);

    morm::session fresh{engine};
    for (auto& p : co_await fresh.query<Payment>().sort(&Payment::id).all()) {
        if (auto* c = dynamic_cast<CardPayment*>(p.get()))
            fmt::print("payment {}: card ****{} {:.2f}\n", c->id, c->last4, c->amount);
        else if (auto* b = dynamic_cast<BankTransfer*>(p.get()))
            fmt::print("payment {}: bank transfer from {} {:.2f}\n", b->id, b->iban, b->amount);
    }
    auto cards = co_await fresh.query<CardPayment>().count();
    fmt::print("card payments: {}\n", cards);
}

asio::awaitable<void> reports(morm::session& s) {
    auto top = co_await s.aggregate<Order>()
                   .match(field(&Order::status) == "paid")
                   .group<CustomerTotal>(field(&Order::customer), morm::sum(&CustomerTotal::total, field(&Order::total)))
                   .sort(&CustomerTotal::total, morm::order::desc)
                   .sort(&CustomerTotal::id)
                   .limit(3)
                   .all();
    fmt::print("top customers by paid orders:\n");
    for (auto& r : top) fmt::print("  {}  {:>9.2f}\n", r.id, r.total);

    auto skus = co_await s.aggregate<Order>()
                    .unwind<OrderWithLine>(&Order::lines)
                    .group<SkuTotal>(field(&OrderWithLine::lines, &OrderLine::sku),
                                     morm::sum(&SkuTotal::qty, field(&OrderWithLine::lines, &OrderLine::qty)))
                    .sort(&SkuTotal::id)
                    .all();
    fmt::print("units per sku:");
    for (auto& r : skus) fmt::print(" {}={}", r.id, r.qty);
    fmt::print("\n");

    // Keyset pages: the next 3 largest orders after the 3 largest; after() continues from
    // the last object's sort keys (ties broken by _id), so concurrent inserts never shift a page.
    auto page1 = co_await s.query<Order>().sort(&Order::total, morm::order::desc).sort(&Order::id).limit(3).all();
    auto page2 = co_await s.query<Order>().sort(&Order::total, morm::order::desc).limit(3).after(*page1.back()).all();
    fmt::print("largest orders: page 1 {} {} {}, page 2 {} {} {}\n", page1[0]->id, page1[1]->id, page1[2]->id,
               page2[0]->id, page2[1]->id, page2[2]->id);
}

asio::awaitable<void> run(std::string uri) {
    command_counter cmds;
    morm::engine_options opts;
    opts.client.command_listener = [n = cmds.n](const morm::net::command_event& e) {
        if (e.kind == morm::net::command_event::started) ++*n;
    };
    auto engine = co_await morm::create_engine(uri, std::move(opts));
    engine.register_model<Company>();
    engine.register_model<Customer>();
    engine.register_model<Order>();
    engine.register_model<Payment>();
    co_await seed(engine);
    co_await references(engine, cmds);
    co_await payments_and_hooks(engine);
    morm::session s{engine};
    co_await reports(s);
}

}  // namespace

int main() {
    const char* env = std::getenv("MORM_URI");
    std::string uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    asio::io_context ioc;
    int rc = 0;
    asio::co_spawn(ioc, run(uri), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const morm::error& err) {
            fmt::print(stderr, "orders failed: {} ({})\n", err.what(), err.code().message());
        } catch (const std::exception& err) {
            fmt::print(stderr, "orders failed: {}\n", err.what());
        }
        rc = 1;
    });
    ioc.run();
    return rc;
}
