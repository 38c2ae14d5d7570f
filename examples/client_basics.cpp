// The client layer on its own (no ORM): connect, insert, find with a filter, update,
// aggregate, clean up.
//
//   MORM_URI=mongodb://127.0.0.1:27017/mydatabase ./client_basics
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <vector>

namespace asio = boost::asio;
using morm::bson::document;

asio::awaitable<void> run(std::string uri) {
    morm::client_options copts;
    auto cl = co_await morm::client::connect(uri, copts);
    // The database named in the URI ("mydatabase"); any name works with cl.database("x").
    auto db = cl.uri().database ? cl.default_database() : cl.database("mydatabase");
    auto people = db["client_basics_people"];

    // Insert: morm assigns an ObjectId _id when a document has none.
    std::vector<document> docs{
        document::from_json(R"({"name": "Ada", "city": "London", "age": 36})"),
        document::from_json(R"({"name": "Grace", "city": "New York", "age": 45})"),
        document::from_json(R"({"name": "Linus", "city": "Helsinki", "age": 28})"),
        document::from_json(R"({"name": "Alan", "city": "London", "age": 41})"),
    };
    morm::insert_options iopts;
    auto inserted = co_await people.insert_many(docs, iopts);
    fmt::print("inserted {} people, first _id {}\n", inserted.inserted_count, inserted.inserted_ids.at(0));

    // Find with a filter, a sort and a projection. Arguments are named variables: g++ 12
    // mishandles temporaries built inside a co_await expression.
    auto londoners = document::from_json(R"({"city": "London"})");
    morm::find_options fopts;
    fopts.sort = document::from_json(R"({"age": -1})");
    fopts.projection = document::from_json(R"({"_id": 0, "name": 1, "age": 1})");
    auto cursor = co_await people.find(londoners, fopts);
    while (auto person = co_await cursor.next()) fmt::print("in London: {}\n", *person);

    // Update: everyone in London gets a year older.
    auto birthday = document::from_json(R"({"$inc": {"age": 1}})");
    morm::update_options uopts;
    auto updated = co_await people.update_many(londoners, birthday, uopts);
    fmt::print("updated {} of {} matched\n", updated.modified_count, updated.matched_count);

    // Aggregate: total age per city (FerretDB, the test server, lacks $avg).
    std::vector<document> pipeline{
        document::from_json(R"({"$group": {"_id": "$city", "total_age": {"$sum": "$age"}}})"),
        document::from_json(R"({"$sort": {"_id": 1}})"),
    };
    morm::aggregate_options aopts;
    auto per_city = co_await people.aggregate(pipeline, aopts);
    auto rows = co_await per_city.to_vector();
    for (auto& row : rows) fmt::print("per city: {}\n", row);

    // Clean up.
    co_await people.drop();
    cl.close();
}

int main() {
    const char* env = std::getenv("MORM_URI");
    std::string uri = env && *env ? env : "mongodb://127.0.0.1:27017/mydatabase";
    asio::io_context ioc;
    int status = 0;
    asio::co_spawn(ioc, run(uri), [&](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const morm::error& err) {
            fmt::print(stderr, "error: {} (code {}, {})\n", err.what(), err.server_code(), err.code_name());
        } catch (const std::exception& err) {
            fmt::print(stderr, "error: {}\n", err.what());
        }
        status = 1;
    });
    ioc.run();
    return status;
}
