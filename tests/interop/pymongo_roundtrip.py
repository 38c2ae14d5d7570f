#!/usr/bin/env python3
"""pymongo side of morm's interop tests.

  pymongo_roundtrip.py read  URI DB COLL EXPECTED_JSON_FILE
      Reads every document of DB.COLL (sorted by _id) and compares it, byte for byte
      as BSON, with the canonical Extended JSON array in EXPECTED_JSON_FILE.
  pymongo_roundtrip.py write URI DB COLL OUT_JSON_FILE
      Inserts documents built natively with pymongo (every BSON type) and writes their
      canonical Extended JSON array to OUT_JSON_FILE for the C++ side to compare.

Exit status: 0 = match / written, 1 = mismatch (details on stderr), 2 = usage,
3 = pymongo is not installed (run scripts/deps.sh).
"""
import sys

try:
    import bson
    import pymongo
    from bson import json_util
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument
except ImportError as e:  # pragma: no cover
    print(f"pymongo_roundtrip.py: pymongo is missing ({e}); install it with scripts/deps.sh", file=sys.stderr)
    sys.exit(3)

import datetime
import json
import uuid

CANONICAL = json_util.CANONICAL_JSON_OPTIONS


def canonical(raw_bytes):
    return json_util.dumps(bson.decode(raw_bytes, codec_options=CodecOptions(document_class=dict, tz_aware=True)),
                           json_options=CANONICAL)


def read(uri, db, coll, expected_file):
    with open(expected_file, encoding="utf-8") as f:
        expected_docs = json.load(f)
    # Re-encode the expected canonical JSON into BSON: canonical JSON is typed, so the
    # bytes are exactly what the writer meant (int32 vs int64, binary subtype, ...).
    expected = [bson.encode(json_util.loads(json.dumps(d), json_options=CANONICAL)) for d in expected_docs]
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    c = client[db].get_collection(coll, codec_options=CodecOptions(document_class=RawBSONDocument))
    got = [d.raw for d in c.find({}, sort=[("_id", 1)])]
    ok = True
    if len(got) != len(expected):
        print(f"read: {len(got)} documents, expected {len(expected)}", file=sys.stderr)
        ok = False
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            ok = False
            print(f"read: document {i} differs\n  got:      {canonical(g)}\n  expected: {canonical(e)}", file=sys.stderr)
    return 0 if ok else 1


def native_documents():
    """Documents built with pymongo's own types; _id first so field order is stable."""
    when = datetime.datetime(2024, 2, 29, 13, 45, 12, 345000, tzinfo=datetime.timezone.utc)
    return [
        {"_id": 1, "kind": "scalars", "i32": 42, "i64": bson.int64.Int64(1 << 40), "neg": -7, "dbl": 3.25,
         "t": True, "f": False, "nil": None, "s": "héllo wörld ✓"},
        {"_id": 2, "kind": "ids and time", "oid": bson.ObjectId("65e08a1c2f4b5a6d7e8f9a0b"), "when": when,
         "epoch": datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc),
         "before_epoch": datetime.datetime(1969, 7, 20, 20, 17, 40, tzinfo=datetime.timezone.utc),
         "ts": bson.timestamp.Timestamp(1700000000, 7)},
        {"_id": 3, "kind": "decimal", "d": bson.decimal128.Decimal128("1234567890.123456789"),
         "small": bson.decimal128.Decimal128("-0.001"), "big": bson.decimal128.Decimal128("1E+6000")},
        {"_id": 4, "kind": "binary", "bin": bson.binary.Binary(b"\x00\x01\x02\xff"),
         "uuid": bson.binary.Binary(uuid.UUID("12345678-1234-5678-1234-567812345678").bytes, 4),
         "user": bson.binary.Binary(b"custom", 0x80), "empty": bson.binary.Binary(b"")},
        {"_id": 5, "kind": "nested", "doc": {"a": {"b": {"c": [1, {"d": "deep"}]}}, "empty": {}},
         "arr": [1, "two", 3.5, None, {"six": 6}], "empty_arr": []},
        {"_id": 6, "kind": "regex", "re": bson.regex.Regex("^ab+c$", "i")},
        {"_id": 7, "kind": "nested arrays", "arr": [[4, [5]], []]},
        {"_id": 8, "kind": "min/max keys", "min": bson.min_key.MinKey(), "max": bson.max_key.MaxKey()},
        {"_id": 9, "kind": "code", "code": bson.code.Code("function() { return 1; }")},
    ]


def write(uri, db, coll, out_file):
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    c = client[db][coll]
    written = []
    for d in native_documents():
        try:
            c.insert_one(d)
            written.append(d)
        except pymongo.errors.PyMongoError as e:
            # The server may not support a type (FerretDB); the C++ side is told which.
            print(f"write: server rejected document {d['_id']} ({d['kind']}): {e}", file=sys.stderr)
    with open(out_file, "w", encoding="utf-8") as f:
        f.write("[" + ",\n".join(json_util.dumps(d, json_options=CANONICAL) for d in written) + "]\n")
    return 0


def main(argv):
    if len(argv) != 6 or argv[1] not in ("read", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    return (read if argv[1] == "read" else write)(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
