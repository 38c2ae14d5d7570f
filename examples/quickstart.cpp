// The quickstart: declare a model once, add an object, commit, query it back.
//   MORM_URI=mongodb://127.0.0.1:27017/mydatabase ./build/examples/quickstart
#include <morm/morm.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <fmt/format.h>

namespace asio = boost::asio;

struct User {
    std::string id;  // primary key, stored as _id
    std::string name;
    std::string email;
};
MORM_MODEL(User, "users", (id, "_id"), name, email);

asio::awaitable<void> run(std::string uri) {
    auto engine = co_await morm::create_engine(uri);
    morm::session session{engine};

    // merge = insert, or update if a user with this _id exists: running twice is fine.
    session.merge(User{"1", "John", "john@example.com"});
    co_await session.commit();  // one pipelined flush

    auto john = co_await session.get<User>("1");  // identity map hit: no round trip
    fmt::print("stored: {} <{}> (_id {})\n", john->name, john->email, john->id);

    auto johns = co_await session.query<User>()
                     .filter(morm::field(&User::name) == "John")
                     .sort(&User::email)
                     .limit(10)
                     .all();
    fmt::print("users named John: {}\n", johns.size());
    for (auto& u : johns) fmt::print("  {} {} {}\n", u->id, u->name, u->email);
}

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
            fmt::print(stderr, "quickstart failed: {} ({})\n", err.what(), err.code().message());
        } catch (const std::exception& err) {
            fmt::print(stderr, "quickstart failed: {}\n", err.what());
        }
        rc = 1;
    });
    ioc.run();
    return rc;
}
