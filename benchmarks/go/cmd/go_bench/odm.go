package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	spec        = 10000
	updateBytes = 13 // the ODM spec scores an update by the ~13 B it changes
	// FerretDB 1.24 never answers an update command of 100 or more statements: every
	// implementation sends updates in batches of 50.
	updateChunk = 50
	findNote    = "finds capped at 50: FerretDB scans"
	odmImpl     = "go"
)

type odmArgs struct {
	uri, data string
	scale     float64
	smoke     bool
}

type odmRunner struct {
	args odmArgs
	ctx  context.Context
}

func (r *odmRunner) count(specN, smokeN int) int {
	if r.args.smoke {
		return min(specN, smokeN)
	}
	return max(1, int(float64(specN)*r.args.scale))
}

func (r *odmRunner) report(task string, mb float64, secs float64, n int, extra string) {
	note := ""
	if !r.args.smoke && n != spec {
		note = fmt.Sprintf("scaled: %d ops (spec %d)", n, spec)
	}
	if extra != "" {
		if note != "" {
			note += "; " + extra
		} else {
			note = extra
		}
	}
	rate := 0.0
	if secs > 0 {
		rate = mb / secs
	}
	emit(result{Suite: "odm", Task: task, Impl: odmImpl, Unit: "MB/s", Median: rate, Min: rate, Max: rate, N: 1, Note: note})
	logf("  %-8s %-34s %-12s %10.2f MB/s", "odm", task, odmImpl, rate)
}

// load reads one data file (extended JSON) into an ordered document.
func load(dir, rel string) bson.D {
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		fatalf("%v", err)
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON(b, false, &d); err != nil {
		fatalf("%s: %v", rel, err)
	}
	return d
}

func bsonSize(d bson.D) int {
	b, err := bson.Marshal(d)
	if err != nil {
		fatalf("marshal: %v", err)
	}
	return len(b)
}

func key8(i int) string { return fmt.Sprintf("k%07d", i) }

// deepCopy copies the documents and arrays of v (leaves are immutable values).
func deepCopy(v any) any {
	switch t := v.(type) {
	case bson.D:
		out := make(bson.D, len(t))
		for i, e := range t {
			out[i] = bson.E{Key: e.Key, Value: deepCopy(e.Value)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

// setPath sets the string at a dotted path whose steps are documents or array indexes.
func setPath(d bson.D, value string, keys ...any) {
	var cur any = d
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case bson.D:
			for j := range c {
				if c[j].Key == k.(string) {
					if last {
						c[j].Value = value
						return
					}
					cur = c[j].Value
					break
				}
			}
		case bson.A:
			if last {
				c[k.(int)] = value
				return
			}
			cur = c[k.(int)]
		}
	}
}

// nestedDocs are n deep copies of tmpl with the two indexed fields set to key8(i), and an
// _id slot in front that the timed create fills (pymongo's docs are built untimed too).
func nestedDocs(tmpl bson.D, n int) []bson.D {
	docs := make([]bson.D, n)
	for i := range docs {
		d := append(bson.D{{Key: "_id", Value: nil}}, deepCopy(tmpl).(bson.D)...)
		setPath(d, key8(i), "embedded_str_doc_1", "field1")
		setPath(d, key8(i), "embedded_str_doc_array", 0, "field1")
		docs[i] = d
	}
	return docs
}

// createUpdate times InsertMany of n documents, then (after loading them back untimed)
// BulkWrite of one UpdateOne {$set: {path: "UPDATEDx"}} per document, 50 per call.
func (r *odmRunner) createUpdate(coll *mongo.Collection, tmpl bson.D, n int, task, path, extra string, prepared []bson.D) ([]any, int) {
	size := bsonSize(tmpl)
	var docs []any
	t0 := time.Now()
	if prepared == nil {
		docs = make([]any, n)
		for i := range docs {
			docs[i] = append(bson.D{{Key: "_id", Value: bson.NewObjectID()}}, tmpl...)
		}
	} else {
		docs = make([]any, len(prepared))
		for i, d := range prepared {
			d[0].Value = bson.NewObjectID()
			docs[i] = d
		}
	}
	if _, err := coll.InsertMany(r.ctx, docs); err != nil {
		fatalf("%s: InsertMany: %v", task, err)
	}
	r.report(task+": create", float64(size*n)/1e6, time.Since(t0).Seconds(), n, extra)

	cur, err := coll.Find(r.ctx, bson.D{})
	if err != nil {
		fatalf("%s: find: %v", task, err)
	}
	var loaded []bson.D
	if err := cur.All(r.ctx, &loaded); err != nil {
		fatalf("%s: find: %v", task, err)
	}
	ids := make([]any, len(loaded))
	for i, d := range loaded {
		ids[i] = d[0].Value
		if d[0].Key != "_id" {
			ids[i] = mustLookup(d, "_id")
		}
	}
	t0 = time.Now()
	ops := make([]mongo.WriteModel, len(ids))
	for i, id := range ids {
		ops[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: path, Value: "UPDATEDx"}}}})
	}
	var modified int64
	for k := 0; k < len(ops); k += updateChunk {
		res, err := coll.BulkWrite(r.ctx, ops[k:min(k+updateChunk, len(ops))])
		if err != nil {
			fatalf("%s: BulkWrite: %v", task, err)
		}
		modified += res.ModifiedCount
	}
	if modified != int64(len(ids)) {
		fatalf("%s: modified %d of %d", task, modified, len(ids))
	}
	updTask := task + ": update"
	if task == "nested" {
		updTask = "nested: update nested field"
	}
	r.report(updTask, float64(updateBytes*len(ids))/1e6, time.Since(t0).Seconds(), n, extra)
	return ids, size
}

func mustLookup(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	fatalf("document without %s", key)
	return nil
}

func runODM(a odmArgs) {
	r := &odmRunner{args: a, ctx: context.Background()}
	client, err := mongo.Connect(options.Client().ApplyURI(a.uri))
	if err != nil {
		fatalf("connect: %v", err)
	}
	defer client.Disconnect(r.ctx)
	db := client.Database("bench_odm_go")
	if err := db.Drop(r.ctx); err != nil {
		fatalf("drop: %v", err)
	}
	nSmall, nLarge, nNested := r.count(spec, 20), r.count(10, 2), r.count(spec, 20)
	nFinds := min(nNested, 50) // FerretDB (SQLite) scans for the nested filters

	small := load(a.data, "odm/small_doc.json")
	smallColl := db.Collection("odm_small_doc")
	ids, size := r.createUpdate(smallColl, small, nSmall, "flat small", "field1", "", nil)
	t0 := time.Now()
	for _, id := range ids {
		var got bson.D
		if err := smallColl.FindOne(r.ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got); err != nil {
			fatalf("find by id: %v", err)
		}
	}
	r.report("flat small: find by id", float64(size*len(ids))/1e6, time.Since(t0).Seconds(), nSmall, "")

	large := load(a.data, "odm/large_doc.json")
	r.createUpdate(db.Collection("odm_large_doc"), large, nLarge, "flat large", "field1", "2.4 MB documents", nil)

	nested := load(a.data, "odm/large_doc_nested.json")
	coll := db.Collection("odm_nested_doc")
	for _, path := range []string{"embedded_str_doc_1.field1", "embedded_str_doc_array.field1"} {
		if _, err := coll.Indexes().CreateOne(r.ctx, mongo.IndexModel{Keys: bson.D{{Key: path, Value: 1}}}); err != nil {
			fatalf("createIndexes: %v", err)
		}
	}
	docs := nestedDocs(nested, nNested)
	_, size = r.createUpdate(coll, nested, nNested, "nested", "embedded_str_doc_2.field1", "", docs)
	for _, t := range [][2]string{{"nested: find by nested field", "embedded_str_doc_1.field1"},
		{"nested: find by array element", "embedded_str_doc_array.field1"}} {
		t0 := time.Now()
		for i := 0; i < nFinds; i++ {
			var got bson.D
			if err := coll.FindOne(r.ctx, bson.D{{Key: t[1], Value: key8(i)}}).Decode(&got); err != nil {
				fatalf("%s: %v", t[0], err)
			}
		}
		r.report(t[0], float64(size*nFinds)/1e6, time.Since(t0).Seconds(), nFinds, findNote)
	}
	if err := db.Drop(r.ctx); err != nil {
		fatalf("drop: %v", err)
	}
}
