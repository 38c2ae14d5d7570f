// http_server: examples/http_server.cpp's JSON REST service over a `users` collection,
// on net/http and the MongoDB Go driver (go.mongodb.org/mongo-driver/v2), for the HTTP
// benchmark of issue 14.
//
//	http_server [--port 8080] [--host 127.0.0.1] [--uri mongodb://127.0.0.1:27017/mydatabase]
//
//	POST   /users             {"name": ..., "email": ...[, "id": ...]}  -> 201 | 400 | 409
//	GET    /users/{id}                                                  -> 200 | 400 | 404
//	GET    /users?name=...&limit=N                                      -> 200 (JSON array)
//	PATCH  /users/{id}        {"name"?: ..., "email"?: ...}             -> 200 | 400 | 404
//	DELETE /users/{id}                                                  -> 204 | 400 | 404
//
// A user is {"id", "name", "email"}, stored with id as the string _id (generated: an
// ObjectId's hex). One mongo.Client (its connection pool) for the process, one goroutine
// per connection (net/http), a context deadline on every database call. Errors are JSON:
// {"error": "..."}. `--port 0` picks a free port; the actual one is printed on stdout as
// `listening on PORT`. SIGINT/SIGTERM stop accepting, drain, disconnect and exit 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxBodyBytes     = 1 << 20
	dbTimeout        = 10 * time.Second // per request, all database calls included
)

// User is the stored document and the JSON the API speaks.
type User struct {
	ID    string `bson:"_id" json:"id"`
	Name  string `bson:"name" json:"name"`
	Email string `bson:"email" json:"email"`
}

type server struct {
	users *mongo.Collection
}

// ------------------------------------------------------------------ responses

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// dbError answers a failed database call: the database failing us (network, timeout) is
// 503, anything else 500; both are logged.
func dbError(w http.ResponseWriter, r *http.Request, err error) {
	log.Printf("%s %s: %v", r.Method, r.URL.RequestURI(), err)
	status := http.StatusInternalServerError
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error())
}

// ------------------------------------------------------------------ request input

// validText: text that may reach the database is valid UTF-8 without NUL.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// userFields are the fields a request body may carry; absent ones stay nil.
type userFields struct{ id, name, email *string }

// parseUserFields reads a JSON object of string fields id/name/email, or says what is wrong.
func parseUserFields(w http.ResponseWriter, r *http.Request) (userFields, int, string) {
	var f userFields
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&raw); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return f, http.StatusRequestEntityTooLarge, "request body too large"
		}
		var notObject *json.UnmarshalTypeError
		if errors.As(err, &notObject) {
			return f, http.StatusBadRequest, "the body must be a JSON object"
		}
		return f, http.StatusBadRequest, "malformed JSON: " + err.Error()
	}
	if raw == nil {
		return f, http.StatusBadRequest, "the body must be a JSON object"
	}
	for k, v := range raw {
		var slot **string
		switch k {
		case "id":
			slot = &f.id
		case "name":
			slot = &f.name
		case "email":
			slot = &f.email
		default:
			return f, http.StatusBadRequest, fmt.Sprintf("unknown field '%s' (expected id, name, email)", k)
		}
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return f, http.StatusBadRequest, fmt.Sprintf("field '%s' must be a string", k)
		}
		if !validText(s) {
			return f, http.StatusBadRequest, fmt.Sprintf("field '%s' must not contain NUL", k)
		}
		*slot = &s
	}
	if f.id != nil && *f.id == "" {
		return f, http.StatusBadRequest, "field 'id' must not be empty (omit it to get a generated one)"
	}
	return f, 0, ""
}

// pathID is the {id} segment, decoded, or "" after answering 400.
func pathID(w http.ResponseWriter, r *http.Request) string {
	id := r.PathValue("id")
	if !validText(id) {
		writeError(w, http.StatusBadRequest, "the user id must be valid UTF-8 without NUL")
		return ""
	}
	return id
}

// ------------------------------------------------------------------ routes

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	f, status, msg := parseUserFields(w, r)
	if status != 0 {
		writeError(w, status, msg)
		return
	}
	if f.name == nil || f.email == nil {
		writeError(w, http.StatusBadRequest, "'name' and 'email' are required")
		return
	}
	u := User{Name: *f.name, Email: *f.email}
	if f.id != nil {
		u.ID = *f.id
	} else {
		u.ID = bson.NewObjectID().Hex()
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	if _, err := s.users.InsertOne(ctx, u); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			writeError(w, http.StatusConflict, fmt.Sprintf("a user with id '%s' already exists", u.ID))
			return
		}
		dbError(w, r, err)
		return
	}
	w.Header().Set("Location", "/users/"+u.ID)
	writeJSON(w, http.StatusCreated, u)
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id := pathID(w, r)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	var u User
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no user with id '%s'", id))
		return
	}
	if err != nil {
		dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed percent-escape in the query string")
		return
	}
	filter := bson.D{}
	if name, ok := q["name"]; ok {
		if !validText(name) {
			writeError(w, http.StatusBadRequest, "'name' must be valid UTF-8 without NUL")
			return
		}
		filter = bson.D{{Key: "name", Value: name}}
	}
	limit := int64(defaultListLimit)
	if v, ok := q["limit"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("'limit' must be an integer from 1 to %d", maxListLimit))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(limit)
	cur, err := s.users.Find(ctx, filter, opts)
	if err != nil {
		dbError(w, r, err)
		return
	}
	users := []User{}
	if err := cur.All(ctx, &users); err != nil {
		dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, users)
}

// parseQuery is url.ParseQuery with the last occurrence of a key winning, as the C++ example.
func parseQuery(raw string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

func (s *server) patchUser(w http.ResponseWriter, r *http.Request) {
	id := pathID(w, r)
	if id == "" {
		return
	}
	f, status, msg := parseUserFields(w, r)
	if status != 0 {
		writeError(w, status, msg)
		return
	}
	if f.id != nil && *f.id != id {
		writeError(w, http.StatusBadRequest, "'id' cannot be changed")
		return
	}
	set := bson.D{}
	if f.name != nil {
		set = append(set, bson.E{Key: "name", Value: *f.name})
	}
	if f.email != nil {
		set = append(set, bson.E{Key: "email", Value: *f.email})
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}}
	var res *mongo.SingleResult
	if len(set) == 0 {
		res = s.users.FindOne(ctx, filter) // nothing to change: answer the user as stored
	} else {
		opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
		res = s.users.FindOneAndUpdate(ctx, filter, bson.D{{Key: "$set", Value: set}}, opts)
	}
	var u User
	err := res.Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no user with id '%s'", id))
		return
	}
	if err != nil {
		dbError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := pathID(w, r)
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dbTimeout)
	defer cancel()
	res, err := s.users.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		dbError(w, r, err)
		return
	}
	if res.DeletedCount == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no user with id '%s'", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed here", r.Method))
	}
}

func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range []string{"/users", "/users/{$}"} {
		mux.HandleFunc("POST "+p, s.createUser)
		mux.HandleFunc("GET "+p, s.listUsers)
		mux.HandleFunc(p, methodNotAllowed("GET, POST"))
	}
	mux.HandleFunc("GET /users/{id}", s.getUser)
	mux.HandleFunc("PATCH /users/{id}", s.patchUser)
	mux.HandleFunc("DELETE /users/{id}", s.deleteUser)
	mux.HandleFunc("/users/{id}", methodNotAllowed("GET, PATCH, DELETE"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s", r.URL.Path))
	})
	return mux
}

// ------------------------------------------------------------------ main

func main() {
	log.SetFlags(0)
	log.SetPrefix("http_server: ")
	defURI := os.Getenv("MORM_URI")
	if defURI == "" {
		defURI = "mongodb://127.0.0.1:27017/mydatabase"
	}
	port := flag.Int("port", 8080, "port (0: a free one, printed as 'listening on PORT')")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	uri := flag.String("uri", defURI, "MongoDB URI (its database, or 'test')")
	flag.Parse()

	client, err := mongo.Connect(options.Client().ApplyURI(*uri))
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	cs, err := connstring.ParseAndValidate(*uri)
	if err != nil {
		log.Fatalf("uri: %v", err)
	}
	dbName := cs.Database // the URI's database, as the C++ example; "test" without one
	if dbName == "" {
		dbName = "test"
	}
	users := client.Database(dbName).Collection("users")
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	// GET /users?name=... filters on name.
	_, err = users.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "name", Value: 1}}})
	cancel()
	if err != nil {
		log.Fatalf("createIndexes: %v", err)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := &http.Server{
		Handler:           (&server{users: users}).routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	fmt.Printf("listening on %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()

	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		log.Print("stopping")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
	<-done
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client.Disconnect(ctx)
}
