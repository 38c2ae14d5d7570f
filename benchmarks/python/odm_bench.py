#!/usr/bin/env python3
"""ODM suite, Python peers: pymongo with plain dicts (its best: insert_many, bulk_write of
UpdateOne {$set}, find_one) and MongoEngine (Document classes: objects.insert for creates,
save() per object for updates -- it sends $set of the changed field -- objects.get/first for
finds). Same tasks, counts and data as odm_bench.cpp; prints the same JSON lines.

  odm_bench.py --uri URI --impl pymongo|mongoengine [--smoke] [--scale F] --data DIR
  odm_bench.py --uri URI --import FILE.ldjson      (JSON-lines import with pymongo insert_many)
"""
import argparse
import json
import os
import sys
import time

import bson
from bson import json_util, ObjectId
from pymongo import MongoClient, UpdateOne

SPEC = 10000
UPDATE_BYTES = 13  # the ODM spec scores an update by the ~13 B it changes
# FerretDB 1.24 never answers an update command of 100 or more statements: every
# implementation sends updates in batches of 50.
UPDATE_CHUNK = 50
FIND_NOTE = "finds capped at 50: FerretDB scans"


class Runner:
    def __init__(self, args, impl):
        self.args, self.impl = args, impl

    def count(self, spec, smoke):
        if self.args.smoke:
            return min(spec, smoke)
        return max(1, int(spec * self.args.scale))

    def report(self, task, mb, secs, n, extra="", suite="odm"):
        note = ""
        if not self.args.smoke and n != SPEC and suite == "odm":
            note = f"scaled: {n} ops (spec {SPEC})"
        if extra:
            note = f"{note}; {extra}" if note else extra
        rate = mb / secs if secs > 0 else 0.0
        print(json.dumps({"suite": suite, "task": task, "impl": self.impl, "unit": "MB/s", "median": rate,
                          "min": rate, "max": rate, "n": 1, "note": note}), flush=True)
        print(f"  {suite:8} {task:34} {self.impl:12} {rate:10.2f} MB/s", file=sys.stderr)


def load(data, rel):
    with open(os.path.join(data, rel)) as f:
        return json_util.loads(f.read())


def key8(i):
    return "k%07d" % i


def nested_docs(tmpl, n):
    import copy
    docs = []
    for i in range(n):
        d = copy.deepcopy(tmpl)
        d["embedded_str_doc_1"]["field1"] = key8(i)
        d["embedded_str_doc_array"][0]["field1"] = key8(i)
        docs.append(d)
    return docs


# ---------------------------------------------------------------- pymongo
def run_pymongo(args):
    r = Runner(args, "pymongo")
    client = MongoClient(args.uri)
    db = client["bench_odm_pymongo"]
    client.drop_database(db.name)
    n_small, n_large, n_nested = r.count(SPEC, 20), r.count(10, 2), r.count(SPEC, 20)
    n_finds = min(n_nested, 50)  # FerretDB (SQLite) scans for the nested filters

    def create_update(coll, tmpl, n, task, path, extra="", docs=None):
        size = len(bson.encode(tmpl))
        if docs is None:
            t0 = time.perf_counter()
            docs = [dict(tmpl, _id=ObjectId()) for _ in range(n)]
        else:
            t0 = time.perf_counter()
            for d in docs:
                d["_id"] = ObjectId()
        coll.insert_many(docs)
        r.report(f"{task}: create", size * n / 1e6, time.perf_counter() - t0, n, extra)
        loaded = list(coll.find({}))
        t0 = time.perf_counter()
        ops = [UpdateOne({"_id": d["_id"]}, {"$set": {path: "UPDATEDx"}}) for d in loaded]
        modified = 0
        for k in range(0, len(ops), UPDATE_CHUNK):
            modified += coll.bulk_write(ops[k:k + UPDATE_CHUNK]).modified_count
        assert modified == len(loaded), modified
        r.report(f"{task}: update" if task != "nested" else "nested: update nested field",
                 UPDATE_BYTES * len(loaded) / 1e6, time.perf_counter() - t0, n, extra)
        return [d["_id"] for d in loaded], size

    small = load(args.data, "odm/small_doc.json")
    ids, size = create_update(db.odm_small_doc, small, n_small, "flat small", "field1")
    t0 = time.perf_counter()
    for i in ids:
        assert db.odm_small_doc.find_one({"_id": i}) is not None
    r.report("flat small: find by id", size * len(ids) / 1e6, time.perf_counter() - t0, n_small)

    large = load(args.data, "odm/large_doc.json")
    create_update(db.odm_large_doc, large, n_large, "flat large", "field1", "2.4 MB documents")

    nested = load(args.data, "odm/large_doc_nested.json")
    coll = db.odm_nested_doc
    coll.create_index("embedded_str_doc_1.field1")
    coll.create_index("embedded_str_doc_array.field1")
    docs = nested_docs(nested, n_nested)
    _, size = create_update(coll, nested, n_nested, "nested", "embedded_str_doc_2.field1", docs=docs)
    for task, path in (("nested: find by nested field", "embedded_str_doc_1.field1"),
                       ("nested: find by array element", "embedded_str_doc_array.field1")):
        t0 = time.perf_counter()
        for i in range(n_finds):
            assert coll.find_one({path: key8(i)}) is not None
        r.report(task, size * n_finds / 1e6, time.perf_counter() - t0, n_finds, FIND_NOTE)
    client.drop_database(db.name)


# ---------------------------------------------------------------- mongoengine
def run_mongoengine(args):
    import mongoengine as me

    r = Runner(args, "mongoengine")
    me.connect(db="bench_odm_mongoengine", host=args.uri, alias="default")
    from mongoengine.connection import get_db
    get_db().client.drop_database("bench_odm_mongoengine")
    n_small, n_large, n_nested = r.count(SPEC, 20), r.count(10, 2), r.count(SPEC, 20)
    n_finds = min(n_nested, 50)  # FerretDB (SQLite) scans for the nested filters
    meta = lambda coll: {"collection": coll, "auto_create_index": False}

    def fields_for(doc, embedded=None):
        out = {}
        for k, v in doc.items():
            if isinstance(v, str):
                out[k] = me.StringField()
            elif isinstance(v, bool):
                out[k] = me.BooleanField()
            elif isinstance(v, int):
                out[k] = me.IntField()
            elif isinstance(v, bytes) or type(v).__name__ == "Binary":
                out[k] = me.BinaryField()
            elif isinstance(v, dict):
                out[k] = me.EmbeddedDocumentField(embedded[k])
            elif isinstance(v, list):
                out[k] = me.ListField(me.EmbeddedDocumentField(embedded[k]))
        return out

    small = load(args.data, "odm/small_doc.json")
    Small = type("SmallDoc", (me.Document,), dict(fields_for(small), meta=meta("odm_small_doc")))
    large = load(args.data, "odm/large_doc.json")
    large["image_field"] = bytes(large["image_field"])
    Large = type("LargeDoc", (me.Document,), dict(fields_for(large), meta=meta("odm_large_doc")))
    nested = load(args.data, "odm/large_doc_nested.json")
    EmbStr = type("EmbStr", (me.EmbeddedDocument,), fields_for(nested["embedded_str_doc_1"]))
    EmbInt = type("EmbInt", (me.EmbeddedDocument,), fields_for(nested["embedded_int_doc_8"]))
    emb = {k: (EmbInt if k.startswith("embedded_int") else EmbStr) for k in nested}
    Nested = type("NestedDoc", (me.Document,), dict(fields_for(nested, emb), meta=meta("odm_nested_doc")))

    def build_nested(d):
        kw = {}
        for k, v in d.items():
            if isinstance(v, list):
                kw[k] = [EmbStr(**x) for x in v]
            else:
                kw[k] = emb[k](**v)
        return Nested(**kw)

    def create_update(cls, make, n, task, mutate, tmpl, extra=""):
        size = len(bson.encode(tmpl))
        t0 = time.perf_counter()
        objs = [make(i) for i in range(n)]
        cls.objects.insert(objs, load_bulk=False)
        r.report(f"{task}: create", size * n / 1e6, time.perf_counter() - t0, n, extra)
        loaded = list(cls.objects)
        t0 = time.perf_counter()
        for o in loaded:
            mutate(o)
            o.save()
        r.report(f"{task}: update" if task != "nested" else "nested: update nested field",
                 UPDATE_BYTES * len(loaded) / 1e6, time.perf_counter() - t0, n, extra)
        return [o.id for o in loaded], size

    ids, size = create_update(Small, lambda i: Small(**small), n_small, "flat small",
                              lambda o: setattr(o, "field1", "UPDATEDx"), small)
    t0 = time.perf_counter()
    for i in ids:
        Small.objects.get(id=i)
    r.report("flat small: find by id", size * len(ids) / 1e6, time.perf_counter() - t0, n_small)

    create_update(Large, lambda i: Large(**large), n_large, "flat large",
                  lambda o: setattr(o, "field1", "UPDATEDx"), large, "2.4 MB documents")

    coll = Nested._get_collection()
    coll.create_index("embedded_str_doc_1.field1")
    coll.create_index("embedded_str_doc_array.field1")
    docs = nested_docs(nested, n_nested)
    _, size = create_update(Nested, lambda i: build_nested(docs[i]), n_nested, "nested",
                            lambda o: setattr(o.embedded_str_doc_2, "field1", "UPDATEDx"), nested)
    t0 = time.perf_counter()
    for i in range(n_finds):
        assert Nested.objects(embedded_str_doc_1__field1=key8(i)).first() is not None
    r.report("nested: find by nested field", size * n_finds / 1e6, time.perf_counter() - t0, n_finds, FIND_NOTE)
    t0 = time.perf_counter()
    for i in range(n_finds):
        assert Nested.objects(embedded_str_doc_array__field1=key8(i)).first() is not None
    r.report("nested: find by array element", size * n_finds / 1e6, time.perf_counter() - t0, n_finds, FIND_NOTE)
    get_db().client.drop_database("bench_odm_mongoengine")
    me.disconnect()


# ---------------------------------------------------------------- ldjson import
def run_import(args):
    r = Runner(args, "pymongo")
    client = MongoClient(args.uri)
    coll = client["bench_import_pymongo"]["tweets"]
    coll.drop()
    t0 = time.perf_counter()
    nbytes = 0
    docs = []
    with open(args.import_file, "rb") as f:
        for line in f:
            nbytes += len(line)
            if line.strip():
                docs.append(json_util.loads(line))
    coll.insert_many(docs, ordered=False)
    secs = time.perf_counter() - t0
    assert coll.count_documents({}) == len(docs)
    r.report("ldjson tweets", nbytes / 1e6, secs, 1, suite="import")
    coll.drop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", default=os.environ.get("MORM_BENCH_URI") or os.environ.get("MORM_TEST_URI"))
    # benchmarks/suites/odm_suites.sh passes the official (MORM_DATA_DIR) or the generated data
    p.add_argument("--data", default=os.environ.get("MORM_DATA_DIR"))
    p.add_argument("--impl", choices=["pymongo", "mongoengine"], default="pymongo")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--import", dest="import_file")
    args = p.parse_args()
    if not args.uri:
        p.error("pass --uri")
    if not args.import_file and not args.data:
        p.error("pass --data DIR (the data generated in the build dir, or the official data) or set MORM_DATA_DIR")
    if args.import_file:
        run_import(args)
    elif args.impl == "pymongo":
        run_pymongo(args)
    else:
        run_mongoengine(args)


if __name__ == "__main__":
    main()
