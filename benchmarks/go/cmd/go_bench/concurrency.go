package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type concArgs struct {
	uri                  string
	count, threads, reps int
	smoke                bool
}

// smallDoc is the ODM suite's small document (odm/small_doc.json's shape: 7 strings of 8
// characters, 6 int32), so the concurrency run needs no data directory.
var smallDoc = bson.D{
	{Key: "field1", Value: "ZxaONqPu"}, {Key: "field2", Value: "b1c9y1LZ"}, {Key: "field3", Value: "UtrK5yC1"},
	{Key: "field4", Value: "1l4kEJAs"}, {Key: "field5", Value: "BgS0gc8f"}, {Key: "field6", Value: "J6xShQFM"},
	{Key: "field7", Value: "Ykdz7nlG"}, {Key: "field8", Value: int32(44668265)}, {Key: "field9", Value: int32(7712796)},
	{Key: "field10", Value: int32(85034460)}, {Key: "field11", Value: int32(45600819)},
	{Key: "field12", Value: int32(96733257)}, {Key: "field13", Value: int32(66335273)},
}

// percentileSorted is perf_common.hpp's: nearest rank on a sorted slice.
func percentileSorted(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	idx := int(p/100.0*float64(len(v)-1) + 0.5)
	return v[min(idx, len(v)-1)]
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// oneRep starts c goroutines at once; each finds a seeded document by _id, then inserts a
// small one. Latencies (ms) land in per-goroutine slots, so no lock is on the path.
func oneRep(ctx context.Context, coll *mongo.Collection, ids []any, c int) (wall float64, fLat, iLat []float64, failures, notFound int64) {
	fLat, iLat = make([]float64, c), make([]float64, c)
	ok := make([]bool, c)
	var wg sync.WaitGroup
	wg.Add(c)
	t0 := time.Now()
	for i := 0; i < c; i++ {
		go func(i int) {
			defer wg.Done()
			s := time.Now()
			var got bson.D
			err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: ids[i%len(ids)]}}).Decode(&got)
			m := time.Now()
			if errors.Is(err, mongo.ErrNoDocuments) {
				atomic.AddInt64(&notFound, 1)
				return
			}
			if err == nil {
				_, err = coll.InsertOne(ctx, smallDoc)
			}
			if err != nil {
				if atomic.AddInt64(&failures, 1) == 1 {
					logf("go_bench concurrency: first failure: %v", err)
				}
				return
			}
			fLat[i] = float64(m.Sub(s).Nanoseconds()) / 1e6
			iLat[i] = float64(time.Since(m).Nanoseconds()) / 1e6
			ok[i] = true
		}(i)
	}
	wg.Wait()
	wall = time.Since(t0).Seconds()
	f, in := fLat[:0], iLat[:0]
	for i := 0; i < c; i++ {
		if ok[i] {
			f, in = append(f, fLat[i]), append(in, iLat[i])
		}
	}
	return wall, f, in, failures, notFound
}

func runConcurrency(a concArgs) {
	runtime.GOMAXPROCS(a.threads)
	c := a.count
	if c == 0 {
		c = 10000
		if a.smoke {
			c = 200
		}
	}
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(a.uri))
	if err != nil {
		fatalf("connect: %v", err)
	}
	defer client.Disconnect(ctx)
	db := client.Database("bench_conc_go")
	if err := db.Drop(ctx); err != nil {
		fatalf("drop: %v", err)
	}
	coll := db.Collection("odm_small_doc")
	seed := make([]any, min(c, 1000))
	ids := make([]any, len(seed))
	for i := range seed {
		ids[i] = bson.NewObjectID()
		seed[i] = append(bson.D{{Key: "_id", Value: ids[i]}}, smallDoc...)
	}
	if _, err := coll.InsertMany(ctx, seed); err != nil {
		fatalf("seed: %v", err)
	}

	var rates, findMs, insertMs []float64
	for rep := 0; rep < a.reps; rep++ {
		wall, f, in, failures, notFound := oneRep(ctx, coll, ids, c)
		if failures > 0 || notFound > 0 {
			fatalf("concurrency: %d goroutines failed, %d finds missed", failures, notFound)
		}
		rates = append(rates, float64(len(f)+len(in))/wall)
		findMs, insertMs = append(findMs, f...), append(insertMs, in...)
		sf, si := append([]float64(nil), f...), append([]float64(nil), in...)
		sort.Float64s(sf)
		sort.Float64s(si)
		logf("  threads %d rep %d: %d goroutines in %.2f s, %.0f ops/s, find p50 %.2f ms, insert p50 %.2f ms",
			a.threads, rep, c, wall, rates[len(rates)-1], percentileSorted(sf, 50), percentileSorted(si, 50))
	}
	if err := db.Drop(ctx); err != nil {
		fatalf("drop: %v", err)
	}

	note := fmt.Sprintf("%d concurrent goroutines (FindOne by _id + InsertOne each), one client, GOMAXPROCS=%d, "+
		"URI as given", c, a.threads)
	if a.smoke {
		note += "; SMOKE counts"
	}
	sfx := fmt.Sprintf("_t%d", a.threads)
	sortedRates := append([]float64(nil), rates...)
	sort.Float64s(sortedRates)
	emit(result{Suite: "concurrency", Task: "find_insert" + sfx, Impl: "go", Unit: "ops/s", Median: median(rates),
		Min: sortedRates[0], Max: sortedRates[len(sortedRates)-1], N: len(rates), Note: note})
	for _, l := range []struct {
		task string
		v    []float64
	}{{"find_by_id_latency", findMs}, {"insert_latency", insertMs}} {
		sort.Float64s(l.v)
		p50, p99, p999 := percentileSorted(l.v, 50), percentileSorted(l.v, 99), percentileSorted(l.v, 99.9)
		emit(result{Suite: "concurrency", Task: l.task + sfx, Impl: "go", Unit: "ms", Median: p50,
			Min: l.v[0], Max: l.v[len(l.v)-1], N: len(l.v), Note: note, P50: &p50, P99: &p99, P999: &p999})
	}
}
