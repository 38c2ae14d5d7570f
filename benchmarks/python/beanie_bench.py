#!/usr/bin/env python3
"""ODM suite, Beanie peer (async Python ODM; Beanie 2 runs on PyMongo's async API,
pymongo.AsyncMongoClient). Written the way Beanie's documentation recommends: Document
classes (pydantic models) mirroring the data shapes, embedded pydantic models for the nested
document, indexes declared in Settings (init_beanie creates them), Document.insert_many for
creates, save_changes() per object for updates (use_state_management: it sends $set of the
changed paths only), Document.get(id) for find by id, find_one with a nested-field
expression for the nested finds. Same tasks, names, counts, scaling and data as the
MongoEngine part of odm_bench.py; prints the same JSON lines with impl "beanie".

  beanie_bench.py --uri URI --data DIR [--smoke] [--scale F]

init_beanie sends buildInfo, listCollections, listIndexes and createIndexes before the
first timed task (never inside one).
"""
import argparse
import asyncio
import copy
import json
import os
import sys
import time
from typing import List

import bson
from bson import json_util
from pydantic import BaseModel
from pymongo import AsyncMongoClient

from beanie import Document, init_beanie

# The suite's shared pieces (counts, JSON lines, data) live with the other Python peers.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from odm_bench import FIND_NOTE, SPEC, UPDATE_BYTES, Runner, key8, load, nested_docs  # noqa: E402

DB_NAME = "bench_odm_beanie"


# ---------------------------------------------------------------- models
# The data files have hundreds of fields (large_doc: 251), so the classes are built from the
# data's shape rather than typed out: the same classes one would write by hand, each field
# annotated with its Python type (str, int, bytes, an embedded model, a list of them).

def annotations_for(doc, embedded=None):
    out = {}
    for k, v in doc.items():
        if isinstance(v, bool):
            out[k] = bool
        elif isinstance(v, str):
            out[k] = str
        elif isinstance(v, int):
            out[k] = int
        elif isinstance(v, (bytes, bson.Binary)):
            out[k] = bytes
        elif isinstance(v, dict):
            out[k] = embedded[k]
        elif isinstance(v, list):
            out[k] = List[embedded[k]]
    return out


def document_class(name, collection, annotations, indexes=()):
    class Settings:
        use_state_management = True  # save_changes() sends $set of the changed paths only

    Settings.name = collection
    Settings.indexes = list(indexes)
    # pydantic takes a nested class for configuration (not a field) by its qualified name,
    # as if it were written inside the class body
    Settings.__qualname__ = f"{name}.Settings"
    return type(name, (Document,), {"__annotations__": annotations, "Settings": Settings,
                                    "__module__": __name__, "__qualname__": name})


def embedded_class(name, annotations):
    return type(name, (BaseModel,), {"__annotations__": annotations, "__module__": __name__})


# ---------------------------------------------------------------- suite
async def run(args):
    r = Runner(args, "beanie")
    client = AsyncMongoClient(args.uri)
    await client.drop_database(DB_NAME)
    n_small, n_large, n_nested = r.count(SPEC, 20), r.count(10, 2), r.count(SPEC, 20)
    n_finds = min(n_nested, 50)  # FerretDB (SQLite) scans for the nested filters

    small = load(args.data, "odm/small_doc.json")
    Small = document_class("SmallDoc", "odm_small_doc", annotations_for(small))
    large = load(args.data, "odm/large_doc.json")
    large["image_field"] = bytes(large["image_field"])
    Large = document_class("LargeDoc", "odm_large_doc", annotations_for(large))
    nested = load(args.data, "odm/large_doc_nested.json")
    EmbStr = embedded_class("EmbStr", annotations_for(nested["embedded_str_doc_1"]))
    EmbInt = embedded_class("EmbInt", annotations_for(nested["embedded_int_doc_8"]))
    emb = {k: (EmbInt if k.startswith("embedded_int") else EmbStr) for k in nested}
    Nested = document_class("NestedDoc", "odm_nested_doc", annotations_for(nested, emb),
                            indexes=["embedded_str_doc_1.field1", "embedded_str_doc_array.field1"])
    await init_beanie(database=client[DB_NAME], document_models=[Small, Large, Nested])

    async def create_update(cls, make, n, task, mutate, tmpl, extra=""):
        size = len(bson.encode(tmpl))
        t0 = time.perf_counter()
        objs = [make(i) for i in range(n)]
        await cls.insert_many(objs)
        r.report(f"{task}: create", size * n / 1e6, time.perf_counter() - t0, n, extra)
        loaded = await cls.find_all().to_list()
        assert len(loaded) == n, len(loaded)
        t0 = time.perf_counter()
        for o in loaded:
            mutate(o)
            await o.save_changes()
        r.report(f"{task}: update" if task != "nested" else "nested: update nested field",
                 UPDATE_BYTES * len(loaded) / 1e6, time.perf_counter() - t0, n, extra)
        return [o.id for o in loaded], size

    def set_field1(o):
        o.field1 = "UPDATEDx"

    ids, size = await create_update(Small, lambda i: Small(**small), n_small, "flat small", set_field1, small)
    t0 = time.perf_counter()
    for i in ids:
        assert await Small.get(i) is not None
    r.report("flat small: find by id", size * len(ids) / 1e6, time.perf_counter() - t0, n_small)

    await create_update(Large, lambda i: Large(**large), n_large, "flat large", set_field1, large,
                        "2.4 MB documents")

    docs = nested_docs(nested, n_nested)

    def set_nested(o):
        o.embedded_str_doc_2.field1 = "UPDATEDx"

    _, size = await create_update(Nested, lambda i: Nested(**docs[i]), n_nested, "nested", set_nested, nested)
    t0 = time.perf_counter()
    for i in range(n_finds):
        assert await Nested.find_one(Nested.embedded_str_doc_1.field1 == key8(i)) is not None
    r.report("nested: find by nested field", size * n_finds / 1e6, time.perf_counter() - t0, n_finds, FIND_NOTE)
    t0 = time.perf_counter()
    for i in range(n_finds):
        assert await Nested.find_one(Nested.embedded_str_doc_array.field1 == key8(i)) is not None
    r.report("nested: find by array element", size * n_finds / 1e6, time.perf_counter() - t0, n_finds, FIND_NOTE)
    await client.drop_database(DB_NAME)
    await client.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", default=os.environ.get("MORM_BENCH_URI") or os.environ.get("MORM_TEST_URI"))
    # benchmarks/suites/odm_suites.sh passes the official (MORM_DATA_DIR) or the generated data
    p.add_argument("--data", default=os.environ.get("MORM_DATA_DIR"))
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    if not args.uri:
        p.error("pass --uri")
    if not args.data:
        p.error("pass --data DIR (the data generated in the build dir, or the official data) or set MORM_DATA_DIR")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
