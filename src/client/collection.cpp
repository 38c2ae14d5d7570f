#include <morm/bson/object_id.hpp>
#include <morm/client/collection.hpp>
#include <morm/client/write_pipeline.hpp>
#include <morm/detail/text.hpp>
#include <morm/wire/commands/aggregate.hpp>
#include <morm/wire/commands/collections.hpp>
#include <morm/wire/commands/count.hpp>
#include <morm/wire/commands/databases.hpp>
#include <morm/wire/commands/distinct.hpp>
#include <morm/wire/commands/find.hpp>
#include <morm/wire/commands/find_and_modify.hpp>
#include <morm/wire/commands/indexes.hpp>
#include <morm/wire/commands/run_command.hpp>
#include <morm/wire/reply.hpp>

#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>

// Every operation has a no-throw body (`<op>_impl`, reporting through ec/diag); the public
// forms in collection.hpp run it under a completion token (detail::initiate) or throw
// (detail::run_throwing). Commands are the values of wire/commands: serialized before any
// I/O, so a refused option sends nothing.

namespace morm {

namespace cmds = wire::commands;

namespace {

bool has_id(const bson::document& d) {
    bson_iter_t it;
    return bson_iter_init_find(&it, d.get(), "_id");
}

/// Appends an insert's document to the frame byte for byte; a generated _id goes first.
void append_insert_raw(wire::frame_buffer& out, const bson::document& doc, const std::optional<bson::object_id>& oid) {
    if (!oid) {
        out.append(doc.data(), doc.size());
        return;
    }
    static constexpr std::uint8_t id_element[] = {0x07, '_', 'i', 'd', 0};
    out.reserve(out.size() + doc.size() + sizeof id_element + 12);
    out.append_int32_le(static_cast<std::int32_t>(doc.size() + sizeof id_element + 12));
    out.append(id_element, sizeof id_element);
    out.append(oid->bytes().data(), 12);
    out.append(doc.data() + 4, doc.size() - 4);  // elements and the trailing NUL
}

/// The _id an insert was stored with.
bson::value inserted_id_of(const bson::document& doc, const std::optional<bson::object_id>& oid) {
    if (oid) {
        bson_value_t v;
        v.value_type = BSON_TYPE_OID;
        v.value.v_oid = oid->to_bson();
        return bson::value(v);
    }
    bson_iter_t it;
    bson_iter_init_find(&it, doc.get(), "_id");
    return bson::value::from_iter(it);
}

/// Does the update document hold operators ($set...) rather than a replacement?
bool is_operator_update(const bson::document& d) {
    bson_iter_t it;
    if (!bson_iter_init(&it, d.get()) || !bson_iter_next(&it)) return false;
    return bson_iter_key(&it)[0] == '$';
}

/// Builds the bulk_write_result of a pipeline run; `index_of[g][i]` maps group items to
/// the caller's indexes.
bulk_write_result summarize(std::span<write_group> groups, const std::vector<std::vector<std::size_t>>& index_of) {
    bulk_write_result r;
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        auto& g = groups[gi];
        // An empty mapping means the group's items are the caller's input, in order.
        auto input_index = [&](std::size_t i) { return index_of[gi].empty() ? i : index_of[gi][i]; };
        switch (g.kind) {
            case write_kind::insert: r.inserted_count += g.n; break;
            case write_kind::update:
                r.matched_count += g.n - static_cast<std::int64_t>(g.upserted.size());
                r.modified_count += g.n_modified;
                r.upserted_count += static_cast<std::int64_t>(g.upserted.size());
                break;
            case write_kind::remove: r.deleted_count += g.n; break;
        }
        for (auto& u : g.upserted) r.upserted_ids.emplace(input_index(u.index), bson::value(u.id));
        for (std::size_t i = 0; i < g.outcomes.size(); ++i) {
            auto& o = g.outcomes[i];
            const std::size_t idx = input_index(i);
            if (o.st == item_outcome::state::failed || o.st == item_outcome::state::unacknowledged)
                r.errors.push_back({idx, o.st == item_outcome::state::unacknowledged ? errc::outcome_unknown : o.error,
                                    o.code, o.code_name, o.message});
            else if (o.st == item_outcome::state::pending)
                r.not_executed.push_back(idx);
        }
        if (g.write_concern_error) r.write_concern_error = g.write_concern_error;
    }
    std::sort(r.errors.begin(), r.errors.end(), [](auto& a, auto& b) { return a.index < b.index; });
    std::sort(r.not_executed.begin(), r.not_executed.end());
    return r;
}

/// The code and diagnostics of a bulk run that did not fully succeed: the fatal error of
/// the run when there is one, else the first write error, else the write concern error.
void bulk_failure(const bulk_write_result& r, const error_code& fatal, const diagnostics& fatal_diag, error_code& ec,
                  diagnostics& d) {
    d.clear();
    ec = fatal;
    if (fatal) {
        d = fatal_diag;
        return;
    }
    // A write refused before sending (a bad name) is the caller's error, not the server's.
    const bool refused = !r.errors.empty() && r.errors.front().kind == errc::invalid_argument;
    ec = make_error_code(r.errors.empty() ? errc::write_concern_error
                         : refused        ? errc::invalid_argument
                                          : errc::write_error);
    if (!r.errors.empty()) {
        const auto& e = r.errors.front();
        d.server_code = e.code;
        d.code_name = e.code_name;
        d.message = fmt::format("{} of the writes failed; first at index {}: {}", r.errors.size(), e.index, e.message);
    } else if (r.write_concern_error) {
        d = *r.write_concern_error;
    }
}

const write_concern* effective_wc(const std::optional<write_concern>& op, const detail::client_state& st) {
    if (op) return &*op;
    return st.default_wc.empty() ? nullptr : &st.default_wc;
}


/// The options an update or delete statement carries next to q/u, as the public API
/// spells them (update_options, delete_options and the write models share the names).
struct statement_options {
    const bson::document& collation;
    const bson::document& hint;
    const std::string& hint_name;
    const std::vector<bson::document>* array_filters;  ///< null: the write takes none
};

template <class T>
statement_options options_of(const T& x) {
    if constexpr (requires { x.array_filters; }) return {x.collation, x.hint, x.hint_name, &x.array_filters};
    else return {x.collation, x.hint, x.hint_name, nullptr};
}

/// Why the statement options cannot be sent as set; empty when they can.
std::string statement_problem(const statement_options& o, bool replacement, bool pipeline) {
    if (!o.hint.empty() && !o.hint_name.empty()) return "hint and hint_name are both set; set one of them";
    if (!detail::valid_text(o.hint_name)) return "hint_name is not valid UTF-8, or contains NUL";
    if (o.array_filters && !o.array_filters->empty()) {
        // The server refuses both; refusing here names the option and sends nothing.
        if (replacement) return "array_filters does not apply to a replacement";
        if (pipeline) return "array_filters cannot be used with a pipeline update";
    }
    return {};
}

[[nodiscard]] error_code check_statement(std::string_view op, const statement_options& o, bool replacement,
                                         bool pipeline, diagnostics& d) {
    if (auto why = statement_problem(o, replacement, pipeline); !why.empty())
        return wire::commands::refuse(d, op, why);
    return {};
}

/// Appends collation, hint and arrayFilters when set; false when an append failed.
[[nodiscard]] bool append_statement_options(bson_t* dst, const statement_options& o) {
    bool ok = true;
    if (!o.collation.empty()) ok = bson_append_document(dst, "collation", 9, o.collation.get());
    if (ok && !o.hint.empty())
        ok = bson_append_document(dst, "hint", 4, o.hint.get());
    else if (ok && !o.hint_name.empty())
        ok = bson_append_utf8(dst, "hint", 4, o.hint_name.data(), static_cast<int>(o.hint_name.size()));
    if (ok && o.array_filters && !o.array_filters->empty())
        ok = cmds::append_doc_array(dst, "arrayFilters", *o.array_filters);
    return ok;
}

/// One `updates` statement: {q, u (document or pipeline), upsert?, multi?, collation?,
/// hint?, arrayFilters?}; a failed append fails the statement (a `q` left out would
/// match every document).
[[nodiscard]] error_code build_update_statement(bson_t* dst, const bson::document& q, const bson::document& u,
                                                const std::vector<bson::document>* pipeline, bool upsert, bool multi,
                                                const statement_options& so, diagnostics& d) {
    bool ok = bson_append_document(dst, "q", 1, q.get());
    if (ok) ok = pipeline ? cmds::append_doc_array(dst, "u", *pipeline) : bson_append_document(dst, "u", 1, u.get());
    if (ok && upsert) ok = bson_append_bool(dst, "upsert", 6, true);
    if (ok && multi) ok = bson_append_bool(dst, "multi", 5, true);
    if (ok) ok = append_statement_options(dst, so);
    return ok ? error_code{} : statement_not_built(d);
}

/// One `deletes` statement: {q, limit, collation?, hint?}.
[[nodiscard]] error_code build_delete_statement(bson_t* dst, const bson::document& q, bool many,
                                                const statement_options& so, diagnostics& d) {
    const bool ok = bson_append_document(dst, "q", 1, q.get()) && bson_append_int32(dst, "limit", 5, many ? 0 : 1) &&
                    append_statement_options(dst, so);
    return ok ? error_code{} : statement_not_built(d);
}

[[nodiscard]] error_code encode_insert(const insert_one_model& ins, const std::optional<bson::object_id>& oid,
                                       bson_t* dst, diagnostics& d) {
    bool ok = true;
    if (oid) {
        bson_oid_t o = oid->to_bson();
        ok = bson_append_oid(dst, "_id", 3, &o);
    }
    if (ok) ok = bson_concat(dst, ins.document.get());
    if (ok) return {};
    d.message = "document cannot be appended";
    return make_error_code(errc::encode_error);
}

/// An update or replacement statement; the update document is checked against the kind.
template <class M>
[[nodiscard]] error_code encode_update(const M& m, bson_t* dst, diagnostics& d) {
    constexpr bool replacement = std::is_same_v<M, replace_one_model>;
    const std::vector<bson::document>* pipeline = nullptr;
    if constexpr (!replacement) {
        // With a pipeline the (empty) update document is not used, so not checked.
        if (!m.pipeline.empty()) pipeline = &m.pipeline;
    }
    const bson::document* u;
    if constexpr (replacement) u = &m.replacement;
    else u = &m.update;
    if (!pipeline && !replacement && !is_operator_update(*u)) {
        d.message = "update document must contain only $-operators (use replace_one for a replacement)";
        return make_error_code(errc::invalid_argument);
    }
    if (replacement && is_operator_update(*u)) {
        d.message = "replacement document must not contain $-operators";
        return make_error_code(errc::invalid_argument);
    }
    return build_update_statement(dst, m.filter, *u, pipeline, m.upsert, std::is_same_v<M, update_many_model>,
                                  options_of(m), d);
}

/// One item of a bulk_write group, as its command's sequence element.
[[nodiscard]] error_code encode_statement(const write_model& m, const std::optional<bson::object_id>& oid,
                                          bson_t* dst, diagnostics& d) {
    return std::visit(
        [&](const auto& x) -> error_code {
            using M = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<M, insert_one_model>) return encode_insert(x, oid, dst, d);
            else if constexpr (std::is_same_v<M, delete_one_model> || std::is_same_v<M, delete_many_model>)
                return build_delete_statement(dst, x.filter, std::is_same_v<M, delete_many_model>, options_of(x), d);
            else return encode_update(x, dst, d);
        },
        m);
}

write_kind kind_of(const write_model& m) {
    if (std::holds_alternative<insert_one_model>(m)) return write_kind::insert;
    if (std::holds_alternative<delete_one_model>(m) || std::holds_alternative<delete_many_model>(m))
        return write_kind::remove;
    return write_kind::update;
}

/// Which models go into which command, by index: ordered keeps runs of one kind in order
/// (the writes after a failure must not run); unordered makes one group per kind.
std::vector<std::pair<write_kind, std::vector<std::size_t>>> group_models(const std::vector<write_model>& models,
                                                                          bool ordered) {
    std::vector<std::pair<write_kind, std::vector<std::size_t>>> out;
    std::size_t slot[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (std::size_t i = 0; i < models.size(); ++i) {
        const auto k = kind_of(models[i]);
        if (ordered) {
            if (out.empty() || out.back().first != k) out.emplace_back(k, std::vector<std::size_t>{});
            out.back().second.push_back(i);
            continue;
        }
        auto& s = slot[static_cast<int>(k)];
        if (s == SIZE_MAX) {
            s = out.size();
            out.emplace_back(k, std::vector<std::size_t>{});
        }
        out[s].second.push_back(i);
    }
    return out;
}

/// Refuses, before anything is sent, a model whose statement options cannot be sent.
[[nodiscard]] error_code check_models(const std::vector<write_model>& models, diagnostics& d) {
    error_code ec;
    for (std::size_t i = 0; !ec && i < models.size(); ++i) {
        std::visit(
            [&](const auto& x) {
                using M = std::decay_t<decltype(x)>;
                if constexpr (!std::is_same_v<M, insert_one_model>) {
                    bool pipeline = false;
                    if constexpr (requires { x.pipeline; }) pipeline = !x.pipeline.empty();
                    ec = check_statement(fmt::format("bulk_write: write {}", i), options_of(x),
                                         std::is_same_v<M, replace_one_model>, pipeline, d);
                }
            },
            models[i]);
    }
    return ec;
}

}  // namespace

namespace {

/// Serializes `c`, runs it on a pooled connection and parses the reply with `parse`
/// (`(document_view, diagnostics&) -> error_code`). The body is built before anything is
/// sent: a refused option or a name with a NUL never reaches the server.
template <class Command, class Parse>
asio::awaitable<void> run(detail::client_state& st, std::string_view db, const Command& c, Parse parse,
                          const detail::command_route& route, error_code& ec, diagnostics& diag) {
    bson::document body;
    if ((ec = c.serialize(body.get(), diag))) co_return;
    error_code pec;
    diagnostics pdiag;
    co_await st.command(
        db,
        // Cannot fail: the body already fits in a document of its own.
        [&](bson_t* b) { (void)bson_concat(b, body.get()); },
        [&](const bson_t* r) { pec = parse(bson::document_view(r), pdiag); }, route, ec, diag);
    if (!ec && pec) {
        ec = pec;
        diag = std::move(pdiag);
    }
}

template <class Command, class Parse>
asio::awaitable<void> run(detail::client_state& st, std::string_view db, const Command& c, Parse parse,
                          error_code& ec, diagnostics& diag) {
    const detail::command_route to_primary;
    co_await run(st, db, c, std::move(parse), to_primary, ec, diag);
}

/// Runs a command that answers with a cursor and wraps its first batch; `cursor_coll` is
/// the collection getMore and killCursors name. A read (`rp`, may be null for the client's
/// default) goes to a server chosen by read preference and is retried once; a write
/// (aggregate with $out/$merge) goes to the primary. The cursor keeps the server and the
/// session: its getMore and killCursors go there.
template <class Command>
asio::awaitable<cursor> open_cursor(const std::shared_ptr<detail::client_state>& st, const std::string& db,
                                    const std::string& cursor_coll, const Command& c, std::int32_t batch_size,
                                    std::int64_t limit, const read_preference* rp, bool is_read, error_code& ec,
                                    diagnostics& diag) {
    cmds::cursor_batch cb;
    std::shared_ptr<net::pool> server;
    std::shared_ptr<detail::server_session> session;
    detail::command_route route;
    route.write = !is_read;
    route.rp = rp;
    route.retryable_read = is_read;
    route.used_pool = &server;
    route.used_session = &session;
    co_await run(
        *st, db, c, [&](bson::document_view r, diagnostics& d) { return Command::parse(r, cb, d); }, route, ec, diag);
    if (ec) co_return cursor{};
    // Every entry of the first batch is a document, or the reply is refused: an entry of
    // another type would otherwise vanish from the results without a word.
    if ((ec = wire::check_batch(cb.batch.data(), static_cast<std::uint32_t>(cb.batch.size()), "cursor.firstBatch",
                                diag)))
        co_return cursor{};
    auto ex = co_await asio::this_coro::executor;
    cursor out(ex, st, db, cursor_coll, cb.id, std::move(cb.batch), batch_size, limit);
    out.pin(std::move(server), std::move(session));
    co_return out;
}

/// A retryable read with the client's default read preference.
detail::command_route read_route() {
    detail::command_route r;
    r.write = false;
    r.retryable_read = true;
    return r;
}

/// True when the pipeline writes ($out / $merge as its last stage): it must go to a primary.
bool pipeline_writes(const std::vector<bson::document>& pipeline) {
    if (pipeline.empty()) return false;
    bson_iter_t it;
    if (!bson_iter_init(&it, pipeline.back().get()) || !bson_iter_next(&it)) return false;
    std::string_view k = bson_iter_key(&it);
    return k == "$out" || k == "$merge";
}

/// Appends every document of a cursor batch to `out`; errc::protocol when an entry is
/// not a document (never skipped silently).
[[nodiscard]] error_code append_batch(bson::document_view batch, std::vector<bson::document>& out,
                                      diagnostics& diag) {
    if (auto e = wire::check_batch(batch.data(), static_cast<std::uint32_t>(batch.size()), "cursor batch", diag))
        return e;
    bson_iter_t it;
    if (!batch.init_iter(it)) return {};
    while (bson_iter_next(&it)) {
        std::uint32_t len = 0;
        const std::uint8_t* data = nullptr;
        bson_iter_document(&it, &len, &data);
        out.emplace_back().assign(bson::document_view(data, len));
    }
    return {};
}

/// Appends the batches after the first of a cursor the server left open (listIndexes,
/// listCollections: results the API returns whole), with getMore until the id is 0.
asio::awaitable<void> drain(detail::client_state& st, const std::string& db, std::string_view coll,
                            std::int64_t id, std::vector<bson::document>& out, error_code& ec, diagnostics& diag) {
    while (id != 0 && !ec) {
        // TODO(issue 10): wire/commands/get_more.hpp once it lands; the reply is parsed by
        // wire::parse_cursor_reply (nextBatch), the same parser getMore uses.
        bson::document gm;
        bson_append_int64(gm.get(), "getMore", 7, id);
        bson_append_utf8(gm.get(), "collection", 10, coll.data(), static_cast<int>(coll.size()));
        co_await run(
            st, db, cmds::run_command{db, gm},
            [&](bson::document_view r, diagnostics& d) -> error_code {
                bson_t body;
                bson_init_static(&body, r.data(), r.size());
                wire::cursor_reply cr;
                if (auto e = wire::parse_cursor_reply(&body, cr, d)) return e;
                id = cr.id;
                return append_batch(bson::document_view(cr.batch_data, cr.batch_len), out, d);
            },
            ec, diag);
    }
}

/// The outcome of a single write (update_one, delete_many, ...) from its bulk run: its
/// write error as a plain error with the server's code and codeName. A malformed reply
/// stays errc::protocol (what went wrong), its message saying the outcome is unknown.
void single_write_failure(const bulk_write_result& r, error_code& ec, diagnostics& d) {
    if (!ec || r.errors.empty()) return;
    if (ec == errc::protocol) {
        d.message += " (the write's outcome is unknown: it may or may not have been applied)";
        return;
    }
    const auto& we = r.errors.front();
    d.clear();
    d.server_code = we.code;
    d.code_name = we.code_name;
    d.message = we.message;
    ec = make_error_code(we.kind);
}

update_result to_update_result(const bulk_write_result& r) {
    update_result out;
    out.matched_count = r.matched_count;
    out.modified_count = r.modified_count;
    if (!r.upserted_ids.empty()) out.upserted_id = r.upserted_ids.begin()->second;
    return out;
}

/// A model of kind M on `filter`, with the statement options of `o` (update_options /
/// delete_options); the caller sets the rest.
template <class M, class O>
M model_with(const bson::document& filter, const O& o) {
    M m;
    m.filter = filter;
    m.collation = o.collation;
    m.hint = o.hint;
    m.hint_name = o.hint_name;
    if constexpr (requires { m.array_filters; }) m.array_filters = o.array_filters;
    if constexpr (requires { m.upsert; }) m.upsert = o.upsert;
    return m;
}

template <class M>
M update_model(const bson::document& filter, const bson::document* update,
               const std::vector<bson::document>* pipeline, const update_options& o) {
    M m = model_with<M>(filter, o);
    if (update) m.update = *update;
    if (pipeline) m.pipeline = *pipeline;
    return m;
}

[[noreturn]] void throw_write_failure(const error_code& ec, diagnostics d, bulk_write_result r) {
    // Per-index outcomes only exist once something was attempted; a refusal before
    // sending is a plain error.
    if (r.ok()) throw error(ec, std::move(d));
    throw bulk_write_exception(ec, std::move(d), std::move(r));
}

}  // namespace

// ---------------------------------------------------------------------------- writes

asio::awaitable<bulk_write_result> collection::insert_many_impl(const std::vector<bson::document>& docs,
                                                                const insert_options& opts, error_code& ec,
                                                                diagnostics& diag) const {
    // One insert group straight over the caller's documents (no write models, no copies).
    if (docs.empty()) {
        ec = cmds::refuse(diag, "insert_many", "no document to insert");
        co_return bulk_write_result{};
    }
    std::vector<std::optional<bson::object_id>> generated(docs.size());
    for (std::size_t i = 0; i < docs.size(); ++i)
        if (!has_id(docs[i])) generated[i] = bson::object_id::generate();
    std::vector<write_group> groups(1);
    auto& g = groups.front();
    g.db = db_;
    g.collection = name_;
    g.kind = write_kind::insert;
    g.ordered = opts.ordered;
    g.bypass_document_validation = opts.bypass_document_validation;
    g.wc = effective_wc(opts.wc, *st_);
    g.count = docs.size();
    g.encode_raw = [&docs, &generated](std::size_t i, wire::frame_buffer& out, diagnostics&) -> error_code {
        append_insert_raw(out, docs[i], generated[i]);
        return {};
    };
    error_code run_ec;
    diagnostics run_diag;
    co_await run_retryable_writes(*st_, groups, run_ec, run_diag);
    const std::vector<std::vector<std::size_t>> identity(1);
    auto r = summarize(groups, identity);
    for (std::size_t i = 0; i < g.count; ++i)
        if (g.outcomes[i].st == item_outcome::state::ok) r.inserted_ids.emplace(i, inserted_id_of(docs[i], generated[i]));
    if (run_ec || !r.ok()) bulk_failure(r, run_ec, run_diag, ec, diag);
    co_return r;
}

asio::awaitable<insert_one_result> collection::insert_one_impl(const bson::document& doc, const insert_options& opts,
                                                               error_code& ec, diagnostics& diag) const {
    const std::vector<bson::document> one{doc};
    auto r = co_await insert_many_impl(one, opts, ec, diag);
    insert_one_result out;
    if (auto it = r.inserted_ids.find(0); !ec && it != r.inserted_ids.end()) out.inserted_id = it->second;
    co_return out;
}

asio::awaitable<bulk_write_result> collection::bulk_write_impl(const std::vector<write_model>& models,
                                                               const bulk_write_options& opts, error_code& ec,
                                                               diagnostics& diag) const {
    if (models.empty()) ec = cmds::refuse(diag, "bulk_write", "no write to run");
    else ec = check_models(models, diag);
    if (ec) co_return bulk_write_result{};
    const write_concern* wc = effective_wc(opts.wc, *st_);
    // Insert ids are generated client-side so that retries cannot duplicate documents.
    std::vector<std::optional<bson::object_id>> generated(models.size());
    for (std::size_t i = 0; i < models.size(); ++i)
        if (auto* ins = std::get_if<insert_one_model>(&models[i]); ins && !has_id(ins->document))
            generated[i] = bson::object_id::generate();

    std::vector<write_group> groups;
    std::vector<std::vector<std::size_t>> index_of;
    for (auto& [kind, idx] : group_models(models, opts.ordered)) {
        write_group& g = groups.emplace_back();
        g.db = db_;
        g.collection = name_;
        g.kind = kind;
        g.ordered = opts.ordered;
        g.bypass_document_validation = opts.bypass_document_validation;
        g.wc = wc;
        index_of.push_back(std::move(idx));
    }
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        auto& g = groups[gi];
        const auto& idx = index_of[gi];
        g.count = idx.size();
        if (g.kind == write_kind::insert) {
            // Inserts are copied byte for byte into the frame; a generated _id goes first.
            g.encode_raw = [&models, &generated, &idx](std::size_t i, wire::frame_buffer& out,
                                                       diagnostics&) -> error_code {
                append_insert_raw(out, std::get<insert_one_model>(models[idx[i]]).document, generated[idx[i]]);
                return {};
            };
        }
        g.encode = [&models, &generated, &idx](std::size_t i, bson_t* dst, diagnostics& d) -> error_code {
            return encode_statement(models[idx[i]], generated[idx[i]], dst, d);
        };
    }
    error_code run_ec;
    diagnostics run_diag;
    co_await run_retryable_writes(*st_, groups, run_ec, run_diag);
    auto r = summarize(groups, index_of);
    for (std::size_t gi = 0; gi < groups.size(); ++gi) {
        if (groups[gi].kind != write_kind::insert) continue;
        for (std::size_t i = 0; i < groups[gi].count; ++i) {
            if (groups[gi].outcomes[i].st != item_outcome::state::ok) continue;
            const std::size_t idx = index_of[gi][i];
            r.inserted_ids.emplace(idx, inserted_id_of(std::get<insert_one_model>(models[idx]).document, generated[idx]));
        }
    }
    if (run_ec || !r.ok()) bulk_failure(r, run_ec, run_diag, ec, diag);
    co_return r;
}

asio::awaitable<bulk_write_result> collection::single_write(const std::vector<write_model>& models,
                                                             const std::optional<write_concern>& wc, error_code& ec,
                                                             diagnostics& diag) const {
    bulk_write_options bo;
    bo.wc = wc;
    auto r = co_await bulk_write_impl(models, bo, ec, diag);
    single_write_failure(r, ec, diag);
    co_return r;
}

asio::awaitable<update_result> collection::update_impl(const bson::document& filter, const bson::document* update,
                                                       const std::vector<bson::document>* pipeline, bool multi,
                                                       const update_options& opts, error_code& ec,
                                                       diagnostics& diag) const {
    ec = check_statement(multi ? "update_many" : "update_one", options_of(opts), false,
                         pipeline && !pipeline->empty(), diag);
    if (ec) co_return update_result{};
    std::vector<write_model> models;
    if (multi) models.emplace_back(update_model<update_many_model>(filter, update, pipeline, opts));
    else models.emplace_back(update_model<update_one_model>(filter, update, pipeline, opts));
    co_return to_update_result(co_await single_write(models, opts.wc, ec, diag));
}

asio::awaitable<update_result> collection::update_one_impl(const bson::document& filter, const bson::document& update,
                                                           const update_options& opts, error_code& ec,
                                                           diagnostics& diag) const {
    return update_impl(filter, &update, nullptr, false, opts, ec, diag);
}

asio::awaitable<update_result> collection::update_one_pipeline_impl(const bson::document& filter,
                                                                    const std::vector<bson::document>& pipeline,
                                                                    const update_options& opts, error_code& ec,
                                                                    diagnostics& diag) const {
    return update_impl(filter, nullptr, &pipeline, false, opts, ec, diag);
}

asio::awaitable<update_result> collection::update_many_impl(const bson::document& filter, const bson::document& update,
                                                            const update_options& opts, error_code& ec,
                                                            diagnostics& diag) const {
    return update_impl(filter, &update, nullptr, true, opts, ec, diag);
}

asio::awaitable<update_result> collection::replace_one_impl(const bson::document& filter,
                                                            const bson::document& replacement,
                                                            const update_options& opts, error_code& ec,
                                                            diagnostics& diag) const {
    if ((ec = check_statement("replace_one", options_of(opts), true, false, diag))) co_return update_result{};
    std::vector<write_model> models;
    auto m = model_with<replace_one_model>(filter, opts);
    m.replacement = replacement;
    models.emplace_back(std::move(m));
    co_return to_update_result(co_await single_write(models, opts.wc, ec, diag));
}

asio::awaitable<delete_result> collection::delete_impl(const bson::document& filter, const delete_options& opts,
                                                       bool many, error_code& ec, diagnostics& diag) const {
    if ((ec = check_statement(many ? "delete_many" : "delete_one", options_of(opts), false, false, diag)))
        co_return delete_result{};
    std::vector<write_model> models;
    if (many) models.emplace_back(model_with<delete_many_model>(filter, opts));
    else models.emplace_back(model_with<delete_one_model>(filter, opts));
    auto r = co_await single_write(models, opts.wc, ec, diag);
    co_return delete_result{r.deleted_count};
}

asio::awaitable<delete_result> collection::delete_one_impl(const bson::document& filter, const delete_options& opts,
                                                           error_code& ec, diagnostics& diag) const {
    return delete_impl(filter, opts, false, ec, diag);
}

asio::awaitable<delete_result> collection::delete_many_impl(const bson::document& filter, const delete_options& opts,
                                                            error_code& ec, diagnostics& diag) const {
    return delete_impl(filter, opts, true, ec, diag);
}

// Writes that report per-index outcomes throw bulk_write_exception (with the result) in
// their throwing form; run_throwing only knows morm::error.
asio::awaitable<insert_one_result> collection::insert_one(const bson::document& doc, const insert_options& opts) const {
    const collection self = *this;  // the handle may be a temporary of the caller's expression
    const insert_options o = opts;
    const std::vector<bson::document> one{doc};
    error_code ec;
    diagnostics diag;
    auto r = co_await self.insert_many_impl(one, o, ec, diag);
    if (ec) throw_write_failure(ec, std::move(diag), std::move(r));
    // find, not at(): no std::out_of_range may leave the API, whatever the reply said.
    insert_one_result out;
    if (auto it = r.inserted_ids.find(0); it != r.inserted_ids.end()) out.inserted_id = it->second;
    co_return out;
}

asio::awaitable<bulk_write_result> collection::insert_many(const std::vector<bson::document>& docs,
                                                           const insert_options& opts) const {
    const collection self = *this;
    const insert_options o = opts;
    error_code ec;
    diagnostics diag;
    auto r = co_await self.insert_many_impl(docs, o, ec, diag);
    if (ec) throw_write_failure(ec, std::move(diag), std::move(r));
    co_return r;
}

asio::awaitable<bulk_write_result> collection::bulk_write(const std::vector<write_model>& models,
                                                          const bulk_write_options& opts) const {
    const collection self = *this;
    const bulk_write_options o = opts;
    error_code ec;
    diagnostics diag;
    auto r = co_await self.bulk_write_impl(models, o, ec, diag);
    if (ec) throw_write_failure(ec, std::move(diag), std::move(r));
    co_return r;
}

asio::awaitable<update_result> collection::update_one(const bson::document& filter, const bson::document& update,
                                                      const update_options& opts) const {
    return detail::run_throwing<update_result>(
        detail::op_body<&collection::update_one_impl>(*this, std::cref(filter), std::cref(update), opts));
}
asio::awaitable<update_result> collection::update_one(const bson::document& filter,
                                                      const std::vector<bson::document>& pipeline,
                                                      const update_options& opts) const {
    return detail::run_throwing<update_result>(
        detail::op_body<&collection::update_one_pipeline_impl>(*this, std::cref(filter), std::cref(pipeline), opts));
}
asio::awaitable<update_result> collection::update_many(const bson::document& filter, const bson::document& update,
                                                       const update_options& opts) const {
    return detail::run_throwing<update_result>(
        detail::op_body<&collection::update_many_impl>(*this, std::cref(filter), std::cref(update), opts));
}
asio::awaitable<update_result> collection::replace_one(const bson::document& filter, const bson::document& replacement,
                                                       const update_options& opts) const {
    return detail::run_throwing<update_result>(
        detail::op_body<&collection::replace_one_impl>(*this, std::cref(filter), std::cref(replacement), opts));
}
asio::awaitable<delete_result> collection::delete_one(const bson::document& filter, const delete_options& opts) const {
    return detail::run_throwing<delete_result>(detail::op_body<&collection::delete_one_impl>(*this, std::cref(filter), opts));
}
asio::awaitable<delete_result> collection::delete_many(const bson::document& filter, const delete_options& opts) const {
    return detail::run_throwing<delete_result>(detail::op_body<&collection::delete_many_impl>(*this, std::cref(filter), opts));
}

// ----------------------------------------------------------------------------- reads

asio::awaitable<cursor> collection::find_impl(const bson::document& filter, const find_options& opts, error_code& ec,
                                              diagnostics& diag) const {
    const cmds::find c{db_, name_, filter, opts, &st_->default_rp};
    const read_preference* rp = opts.read_pref ? &*opts.read_pref : nullptr;
    co_return co_await open_cursor(st_, db_, name_, c, opts.batch_size, opts.limit, rp, true, ec, diag);
}

asio::awaitable<std::optional<bson::document>> collection::find_one_impl(const bson::document& filter,
                                                                         const find_options& opts, error_code& ec,
                                                                         diagnostics& diag) const {
    find_options o = opts;
    o.limit = 1;
    o.single_batch = true;
    auto c = co_await find_impl(filter, o, ec, diag);
    std::optional<bson::document> out;
    if (ec) co_return out;
    // limit 1 + singleBatch: the server closed the cursor; its one document is in the batch.
    std::vector<bson::document> docs;
    if ((ec = append_batch(c.batch(), docs, diag))) co_return out;
    if (!docs.empty()) out = std::move(docs.front());
    co_return out;
}

asio::awaitable<cursor> collection::aggregate_impl(const std::vector<bson::document>& pipeline,
                                                   const aggregate_options& opts, error_code& ec,
                                                   diagnostics& diag) const {
    const cmds::aggregate c{db_, name_, pipeline, opts};
    const bool read = !pipeline_writes(pipeline);
    co_return co_await open_cursor(st_, db_, name_, c, opts.batch_size, 0, nullptr, read, ec, diag);
}

asio::awaitable<std::int64_t> collection::count_documents_impl(const bson::document& filter,
                                                               const count_options& opts, error_code& ec,
                                                               diagnostics& diag) const {
    std::int64_t n = 0;
    auto read = read_route();
    read.rp = opts.read_pref ? &*opts.read_pref : nullptr;
    co_await run(
        *st_, db_, cmds::count_documents{db_, name_, filter, opts},
        [&](bson::document_view r, diagnostics& d) { return cmds::count_documents::parse(r, n, d); }, read, ec, diag);
    co_return ec ? 0 : n;
}

asio::awaitable<std::int64_t> collection::estimated_document_count_impl(error_code& ec, diagnostics& diag) const {
    std::int64_t n = 0;
    const auto read = read_route();
    co_await run(
        *st_, db_, cmds::count{db_, name_},
        [&](bson::document_view r, diagnostics& d) { return cmds::count::parse(r, n, d); }, read, ec, diag);
    co_return ec ? 0 : n;
}

asio::awaitable<std::vector<bson::value>> collection::distinct_impl(std::string_view key, const bson::document& filter,
                                                                    error_code& ec, diagnostics& diag) const {
    std::vector<bson::value> out;
    const auto read = read_route();
    co_await run(
        *st_, db_, cmds::distinct{db_, name_, key, filter},
        [&](bson::document_view r, diagnostics& d) { return cmds::distinct::parse(r, out, d); }, read, ec, diag);
    if (ec) out.clear();
    co_return out;
}

asio::awaitable<std::optional<bson::document>> collection::find_and_modify_impl(
    const bson::document& filter, const bson::document* update, int kind, const find_one_and_modify_options& opts,
    error_code& ec, diagnostics& diag) const {
    std::optional<bson::document> out;
    const cmds::find_and_modify c{db_,    name_, static_cast<cmds::find_and_modify::kind>(kind),
                                  filter, update, opts,
                                  effective_wc(opts.wc, *st_)};
    co_await run(
        *st_, db_, c, [&](bson::document_view r, diagnostics& d) { return cmds::find_and_modify::parse(r, out, d); },
        ec, diag);
    if (ec) out.reset();
    co_return out;
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_update_impl(
    const bson::document& filter, const bson::document& update, const find_one_and_modify_options& opts,
    error_code& ec, diagnostics& diag) const {
    return find_and_modify_impl(filter, &update, static_cast<int>(cmds::find_and_modify::kind::update), opts, ec,
                                diag);
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_replace_impl(
    const bson::document& filter, const bson::document& replacement, const find_one_and_modify_options& opts,
    error_code& ec, diagnostics& diag) const {
    return find_and_modify_impl(filter, &replacement, static_cast<int>(cmds::find_and_modify::kind::replace), opts,
                                ec, diag);
}

asio::awaitable<std::optional<bson::document>> collection::find_one_and_delete_impl(
    const bson::document& filter, const find_one_and_modify_options& opts, error_code& ec, diagnostics& diag) const {
    return find_and_modify_impl(filter, nullptr, static_cast<int>(cmds::find_and_modify::kind::remove), opts, ec,
                                diag);
}

asio::awaitable<cursor> collection::find(const bson::document& filter, const find_options& opts) const {
    return detail::run_throwing<cursor>(detail::op_body<&collection::find_impl>(*this, std::cref(filter), opts));
}
asio::awaitable<std::optional<bson::document>> collection::find_one(const bson::document& filter,
                                                                    find_options opts) const {
    return detail::run_throwing<std::optional<bson::document>>(
        detail::op_body<&collection::find_one_impl>(*this, std::cref(filter), std::move(opts)));
}
asio::awaitable<cursor> collection::aggregate(const std::vector<bson::document>& pipeline,
                                              const aggregate_options& opts) const {
    return detail::run_throwing<cursor>(detail::op_body<&collection::aggregate_impl>(*this, std::cref(pipeline), opts));
}
asio::awaitable<std::int64_t> collection::count_documents(const bson::document& filter,
                                                          const count_options& opts) const {
    return detail::run_throwing<std::int64_t>(detail::op_body<&collection::count_documents_impl>(*this, std::cref(filter), opts));
}
asio::awaitable<std::int64_t> collection::estimated_document_count() const {
    return detail::run_throwing<std::int64_t>(detail::op_body<&collection::estimated_document_count_impl>(*this));
}
asio::awaitable<std::vector<bson::value>> collection::distinct(std::string_view key, const bson::document& filter) const {
    return detail::run_throwing<std::vector<bson::value>>(
        detail::op_body<&collection::distinct_impl>(*this, std::string(key), std::cref(filter)));
}
asio::awaitable<std::optional<bson::document>> collection::find_one_and_update(
    const bson::document& filter, const bson::document& update, const find_one_and_modify_options& opts) const {
    return detail::run_throwing<std::optional<bson::document>>(
        detail::op_body<&collection::find_one_and_update_impl>(*this, std::cref(filter), std::cref(update), opts));
}
asio::awaitable<std::optional<bson::document>> collection::find_one_and_replace(
    const bson::document& filter, const bson::document& replacement, const find_one_and_modify_options& opts) const {
    return detail::run_throwing<std::optional<bson::document>>(
        detail::op_body<&collection::find_one_and_replace_impl>(*this, std::cref(filter), std::cref(replacement), opts));
}
asio::awaitable<std::optional<bson::document>> collection::find_one_and_delete(
    const bson::document& filter, const find_one_and_modify_options& opts) const {
    return detail::run_throwing<std::optional<bson::document>>(
        detail::op_body<&collection::find_one_and_delete_impl>(*this, std::cref(filter), opts));
}

// --------------------------------------------------------------------------- indexes

std::string index_name_for(const bson::document& keys) { return cmds::index_name_for(keys); }

asio::awaitable<std::vector<std::string>> collection::create_indexes_impl(const std::vector<index_model>& models,
                                                                          error_code& ec, diagnostics& diag) const {
    const cmds::create_indexes c{db_, name_, models};
    co_await run(
        *st_, db_, c, [](bson::document_view r, diagnostics& d) { return cmds::create_indexes::parse(r, d); }, ec,
        diag);
    co_return ec ? std::vector<std::string>{} : c.names();
}

asio::awaitable<std::string> collection::create_index_impl(const bson::document& keys, const index_options& opts,
                                                           error_code& ec, diagnostics& diag) const {
    const std::vector<index_model> m{index_model{keys, opts}};
    auto names = co_await create_indexes_impl(m, ec, diag);
    co_return names.empty() ? std::string() : std::move(names.front());
}

asio::awaitable<std::vector<bson::document>> collection::list_indexes_impl(error_code& ec, diagnostics& diag) const {
    cmds::cursor_batch cb;
    co_await run(
        *st_, db_, cmds::list_indexes{db_, name_},
        [&](bson::document_view r, diagnostics& d) { return cmds::list_indexes::parse(r, cb, d); }, ec, diag);
    std::vector<bson::document> out;
    if (!ec) ec = append_batch(cb.batch, out, diag);
    if (!ec) co_await drain(*st_, db_, name_, cb.id, out, ec, diag);
    if (ec) out.clear();
    co_return out;
}

asio::awaitable<void> collection::drop_index_impl(std::string_view name, error_code& ec, diagnostics& diag) const {
    co_await run(
        *st_, db_, cmds::drop_indexes{db_, name_, name},
        [](bson::document_view r, diagnostics& d) { return cmds::drop_indexes::parse(r, d); }, ec, diag);
}

asio::awaitable<void> collection::drop_indexes_impl(error_code& ec, diagnostics& diag) const {
    return drop_index_impl("*", ec, diag);
}

asio::awaitable<void> collection::drop_impl(error_code& ec, diagnostics& diag) const {
    co_await run(
        *st_, db_, cmds::drop_collection{db_, name_},
        [](bson::document_view r, diagnostics& d) { return cmds::drop_collection::parse(r, d); }, ec, diag);
    // The connection reports ok:0 itself, before the reply reaches parse().
    if (cmds::drop_collection::namespace_not_found(ec, diag)) {
        ec = {};
        diag.clear();
    }
}

asio::awaitable<std::string> collection::create_index(const bson::document& keys, const index_options& opts) const {
    return detail::run_throwing<std::string>(detail::op_body<&collection::create_index_impl>(*this, std::cref(keys), opts));
}
asio::awaitable<std::vector<std::string>> collection::create_indexes(const std::vector<index_model>& models) const {
    return detail::run_throwing<std::vector<std::string>>(detail::op_body<&collection::create_indexes_impl>(*this, std::cref(models)));
}
asio::awaitable<std::vector<bson::document>> collection::list_indexes() const {
    return detail::run_throwing<std::vector<bson::document>>(detail::op_body<&collection::list_indexes_impl>(*this));
}
asio::awaitable<void> collection::drop_index(std::string_view name) const {
    return detail::run_throwing<void>(detail::op_body<&collection::drop_index_impl>(*this, std::string(name)));
}
asio::awaitable<void> collection::drop_indexes() const {
    return detail::run_throwing<void>(detail::op_body<&collection::drop_indexes_impl>(*this));
}
asio::awaitable<void> collection::drop() const { return detail::run_throwing<void>(detail::op_body<&collection::drop_impl>(*this)); }

// -------------------------------------------------------------------------- database

asio::awaitable<bson::document> database::run_command_impl(const bson::document& cmd, error_code& ec,
                                                           diagnostics& diag) const {
    bson::document out;
    co_await run(
        *st_, name_, cmds::run_command{name_, cmd},
        [&](bson::document_view r, diagnostics& d) { return cmds::run_command::parse(r, out, d); }, ec, diag);
    co_return out;
}

asio::awaitable<std::vector<std::string>> database::list_collection_names_impl(const bson::document& filter,
                                                                               error_code& ec,
                                                                               diagnostics& diag) const {
    cmds::cursor_batch cb;
    co_await run(
        *st_, name_, cmds::list_collections{name_, filter},
        [&](bson::document_view r, diagnostics& d) { return cmds::list_collections::parse(r, cb, d); }, ec, diag);
    std::vector<std::string> names;
    std::vector<bson::document> more;
    if (!ec) ec = cmds::list_collections::names(cb.batch, names, diag);
    if (!ec) co_await drain(*st_, name_, "$cmd.listCollections", cb.id, more, ec, diag);
    for (std::size_t i = 0; !ec && i < more.size(); ++i) {
        auto it = more[i].find("name");
        if (it && BSON_ITER_HOLDS_UTF8(&*it)) names.emplace_back(bson_iter_utf8(&*it, nullptr));
        else ec = cmds::malformed(diag, "listCollections", "a collection's 'name' is missing or not a string");
    }
    if (ec) names.clear();
    co_return names;
}

asio::awaitable<morm::collection> database::create_collection_impl(std::string_view name,
                                                                   const create_collection_options& opts,
                                                                   error_code& ec, diagnostics& diag) const {
    co_await run(
        *st_, name_, cmds::create_collection{name_, name, opts},
        [](bson::document_view r, diagnostics& d) { return cmds::create_collection::parse(r, d); }, ec, diag);
    co_return ec ? morm::collection{} : collection(name);
}

asio::awaitable<void> database::drop_impl(error_code& ec, diagnostics& diag) const {
    co_await run(
        *st_, name_, cmds::drop_database{name_},
        [](bson::document_view r, diagnostics& d) { return cmds::drop_database::parse(r, d); }, ec, diag);
}

asio::awaitable<bson::document> database::run_command(const bson::document& cmd) const {
    return detail::run_throwing<bson::document>(detail::op_body<&database::run_command_impl>(*this, std::cref(cmd)));
}
asio::awaitable<std::vector<std::string>> database::list_collection_names(const bson::document& filter) const {
    return detail::run_throwing<std::vector<std::string>>(detail::op_body<&database::list_collection_names_impl>(*this, std::cref(filter)));
}
asio::awaitable<morm::collection> database::create_collection(std::string_view name,
                                                              const create_collection_options& opts) const {
    return detail::run_throwing<morm::collection>(detail::op_body<&database::create_collection_impl>(*this, std::string(name), opts));
}
asio::awaitable<void> database::drop() const { return detail::run_throwing<void>(detail::op_body<&database::drop_impl>(*this)); }

}  // namespace morm
