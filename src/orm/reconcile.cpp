// Reconciliation: plan + one outcome per work item -> a verdict per item and the
// per-object failure reports (see unit_of_work.hpp). Pure: no I/O, no identity map.
#include "unit_of_work.hpp"

#include <fmt/format.h>

namespace morm::uow {

object_outcome failure_of(const work_item& w, const item_outcome& o, errc err, std::string message) {
    object_outcome f = refusal(*w.e, operation_of(w.kind), err, std::move(message));
    f.state = o.st == item_outcome::state::ok ? item_outcome::state::failed : o.st;
    if (o.st == item_outcome::state::pending && f.message.empty()) f.message = "not sent: the commit stopped first";
    f.code = o.code;
    f.code_name = o.code_name;
    return f;
}

reconciliation reconcile(const plan& p, std::span<item_outcome> outcomes) {
    reconciliation r;
    r.verdicts.assign(p.work.size(), verdict::failed);
    for (std::size_t i = 0; i < p.work.size(); ++i) {
        const work_item& w = p.work[i];
        item_outcome& o = outcomes[i];
        if (o.st == item_outcome::state::ok && !w.versioned) {  // the common case: written
            r.verdicts[i] = verdict::written;
            continue;
        }
        bool ok = o.st == item_outcome::state::ok;
        errc err = o.error;
        std::string message = std::move(o.message);
        if (!ok && o.st == item_outcome::state::failed && w.kind == work_kind::insert && w.e->maybe_written &&
            o.code == 11000) {
            // The earlier, unacknowledged attempt may have written it: the client-side _id
            // proves it when the duplicate is on _id; unnamed indexes (FerretDB) need a lookup.
            if (message.find("_id") != std::string::npos) {
                ok = true;
            } else if (message.find("index:") == std::string::npos) {
                r.verdicts[i] = verdict::confirm;
                r.to_confirm.push_back(i);
                o.message = std::move(message);
                continue;
            }
        }
        if (ok && w.versioned && o.n == 0) {
            ok = false;
            err = errc::conflict;
            message = fmt::format("version conflict: {} with _id {} is no longer at version {} on the server",
                                  w.e->ops->collection, w.e->ops->id_json(w.e->obj.get()), w.old_version);
        }
        if (ok) {
            r.verdicts[i] = verdict::written;
            continue;
        }
        // Not sent because the run stopped (an earlier cut): its outcome is reported unknown.
        if (o.st == item_outcome::state::pending) err = errc::outcome_unknown;
        r.failures.push_back(failure_of(w, o, err, std::move(message)));
    }
    return r;
}

}  // namespace morm::uow
