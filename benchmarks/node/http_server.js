#!/usr/bin/env node
// The HTTP peer in Node for benchmarks/suites/http_wrk.sh: the routes of
// examples/http_server.cpp on a plain `node:http` server (no framework) with mongoose 8.
//
//   node http_server.js [--port 8080] [--host 127.0.0.1] [--uri mongodb://127.0.0.1:27017/mydatabase]
//
//   POST   /users             {"name": ..., "email": ...[, "id": ...]}  -> 201 | 400 | 409
//   GET    /users/{id}                                                  -> 200 | 400 | 404
//   GET    /users?name=...&limit=N                                      -> 200 (JSON array)
//   PATCH  /users/{id}        {"name"?: ..., "email"?: ...}             -> 200 | 400 | 404
//   DELETE /users/{id}                                                  -> 204 | 400 | 404
//
// Same status codes and JSON shapes as the C++ server: users in collection `users` with a
// string `_id`, errors as {"error": "..."}. `--port 0` picks a free port; the actual one is
// printed on stdout as `listening on PORT` once the database is connected and the server
// listens. SIGINT/SIGTERM close the server and the connection pool.
//
// Written the way mongoose's documentation recommends: a schema and a model, lean() queries
// for reads that only serialise, a loaded document + save() for PATCH (mongoose sends $set
// of the changed paths), deleteOne for DELETE.
'use strict';
const http = require('node:http');
const mongoose = require('mongoose');

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;
const MAX_BODY_BYTES = 1 << 20;
const IDLE_TIMEOUT_MS = 60000;

const userSchema = new mongoose.Schema(
  { _id: String, name: { type: String, index: true }, email: String },  // index: GET /users?name=
  { collection: 'users', versionKey: false });
const User = mongoose.model('User', userSchema);

// ------------------------------------------------------------------ JSON out

const userJson = (u) => JSON.stringify({ id: u._id, name: u.name, email: u.email });

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function send(res, status, body, headers = {}) {
  const h = { Server: 'morm-bench-node', ...headers };
  if (body) {
    h['Content-Type'] = 'application/json';
    h['Content-Length'] = Buffer.byteLength(body);
  }
  res.writeHead(status, h);
  res.end(body || undefined);
}

const sendError = (res, status, message, headers) => send(res, status, JSON.stringify({ error: message }), headers);

// ------------------------------------------------------------------ JSON in

// Text that may reach the database: well-formed (no lone surrogate, so valid UTF-8) and
// without NUL, as the C++ server requires.
const validText = (s) => s.isWellFormed() && !s.includes('\0');

/** The string fields id/name/email of a JSON object body; throws HttpError(400). */
function parseUserFields(body) {
  const first = body.search(/[^ \t\r\n]/);
  if (first < 0 || body[first] !== '{') throw new HttpError(400, 'the body must be a JSON object');
  let doc;
  try {
    doc = JSON.parse(body);
  } catch (e) {
    throw new HttpError(400, `malformed JSON: ${e.message}`);
  }
  const out = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key !== 'id' && key !== 'name' && key !== 'email')
      throw new HttpError(400, `unknown field '${key}' (expected id, name, email)`);
    if (typeof value !== 'string') throw new HttpError(400, `field '${key}' must be a string`);
    if (!validText(value)) throw new HttpError(400, `field '${key}' must not contain NUL`);
    out[key] = value;
  }
  if (out.id === '') throw new HttpError(400, "field 'id' must not be empty (omit it to get a generated one)");
  return out;
}

/** A query-string parameter: {present, valid, value}; the last occurrence wins. */
function findParam(qs, key) {
  const r = { present: false, valid: true, value: '' };
  for (const pair of qs ? qs.split('&') : []) {
    const eq = pair.indexOf('=');
    if ((eq < 0 ? pair : pair.slice(0, eq)) !== key) continue;
    r.present = true;
    try {
      r.value = decodeURIComponent((eq < 0 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' '));
      r.valid = true;
    } catch {
      r.valid = false;
    }
  }
  return r;
}

// ------------------------------------------------------------------ routes

async function createUser(req, res, body) {
  const f = parseUserFields(body);
  if (f.name === undefined || f.email === undefined) throw new HttpError(400, "'name' and 'email' are required");
  const id = f.id ?? new mongoose.Types.ObjectId().toHexString();  // as the C++ session generates one
  try {
    await User.create({ _id: id, name: f.name, email: f.email });
  } catch (e) {
    if (e.code === 11000) throw new HttpError(409, `a user with id '${id}' already exists`);
    throw e;
  }
  send(res, 201, userJson({ _id: id, name: f.name, email: f.email }), { Location: `/users/${id}` });
}

async function getUser(req, res, id) {
  const user = await User.findById(id).lean();
  if (!user) throw new HttpError(404, `no user with id '${id}'`);
  send(res, 200, userJson(user));
}

async function listUsers(req, res, qs) {
  const name = findParam(qs, 'name');
  const limitParam = findParam(qs, 'limit');
  if (!name.valid || !limitParam.valid) throw new HttpError(400, 'malformed percent-escape in the query string');
  if (!validText(name.value)) throw new HttpError(400, "'name' must be valid UTF-8 without NUL");
  let limit = DEFAULT_LIST_LIMIT;
  if (limitParam.present) {
    limit = /^-?[0-9]+$/.test(limitParam.value) ? Number(limitParam.value) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT))
      throw new HttpError(400, `'limit' must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const filter = name.present ? { name: name.value } : {};
  const users = await User.find(filter).sort({ _id: 1 }).limit(limit).lean();
  send(res, 200, `[${users.map(userJson).join(',')}]`);
}

async function patchUser(req, res, id, body) {
  const f = parseUserFields(body);
  if (f.id !== undefined && f.id !== id) throw new HttpError(400, "'id' cannot be changed");
  const user = await User.findById(id);
  if (!user) throw new HttpError(404, `no user with id '${id}'`);
  if (f.name !== undefined) user.name = f.name;
  if (f.email !== undefined) user.email = f.email;
  await user.save();  // change tracking: $set of the modified paths, or nothing
  send(res, 200, userJson(user));
}

async function deleteUser(req, res, id) {
  const r = await User.deleteOne({ _id: id });
  if (r.deletedCount === 0) throw new HttpError(404, `no user with id '${id}'`);
  send(res, 204, '');
}

function methodNotAllowed(req, res, allow) {
  sendError(res, 405, `method ${req.method} not allowed here`, { Allow: allow });
}

async function route(req, res, body) {
  const target = req.url;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const qs = q < 0 ? '' : target.slice(q + 1);

  if (path === '/users' || path === '/users/') {
    if (req.method === 'POST') return createUser(req, res, body);
    if (req.method === 'GET') return listUsers(req, res, qs);
    return methodNotAllowed(req, res, 'GET, POST');
  }
  const prefix = '/users/';
  if (path.startsWith(prefix) && !path.includes('/', prefix.length)) {
    let id;
    try {
      id = decodeURIComponent(path.slice(prefix.length));
    } catch {
      // decodeURIComponent also refuses escapes that are not valid UTF-8 (/users/%ff)
      throw new HttpError(400, 'malformed percent-escape in the path');
    }
    if (!validText(id)) throw new HttpError(400, 'the user id must be valid UTF-8 without NUL');
    if (req.method === 'GET') return getUser(req, res, id);
    if (req.method === 'PATCH') return patchUser(req, res, id, body);
    if (req.method === 'DELETE') return deleteUser(req, res, id);
    return methodNotAllowed(req, res, 'GET, PATCH, DELETE');
  }
  throw new HttpError(404, `no route for ${path}`);
}

const unavailable = (e) => ['MongoNetworkError', 'MongoNetworkTimeoutError', 'MongoServerSelectionError',
                            'MongoPoolClearedError', 'MongoTopologyClosedError'].includes(e.name);

async function handle(req, res, body) {
  try {
    await route(req, res, body);
  } catch (e) {
    if (e instanceof HttpError) return sendError(res, e.status, e.message);
    // the database failing us is not the caller's fault
    console.error(`${req.method} ${req.url}: ${e.name}: ${e.message}`);
    sendError(res, unavailable(e) ? 503 : 500, e.message);
  }
}

function onRequest(req, res) {
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      tooLarge = true;  // say so once and close, as the C++ server does
      sendError(res, 413, 'body limit exceeded', { Connection: 'close' });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!tooLarge) handle(req, res, chunks.length ? Buffer.concat(chunks).toString('utf8') : '');
  });
}

// ------------------------------------------------------------------ main

function parseArgs() {
  const a = { port: 8080, host: '127.0.0.1', uri: process.env.MORM_URI || 'mongodb://127.0.0.1:27017/mydatabase' };
  const v = process.argv.slice(2);
  const usage = (why) => {
    console.error(`${why}\nusage: node http_server.js [--port N] [--host ADDR] [--uri URI]`);
    process.exit(2);
  };
  for (let i = 0; i < v.length; ++i) {
    const value = () => (i + 1 < v.length ? v[++i] : usage(`${v[i]} needs a value`));
    if (v[i] === '--port') {
      a.port = Number(value());
      if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) usage(`bad --port '${v[i]}'`);
    } else if (v[i] === '--host') a.host = value();
    else if (v[i] === '--uri') a.uri = value();
    else usage(`unknown argument '${v[i]}'`);
  }
  return a;
}

async function main() {
  const opts = parseArgs();
  await mongoose.connect(opts.uri);
  await User.init();  // builds the schema's indexes before the first request
  const server = http.createServer(onRequest);
  server.keepAliveTimeout = IDLE_TIMEOUT_MS;
  server.on('connection', (socket) => socket.setNoDelay(true));
  server.listen(opts.port, opts.host, () => {
    process.stdout.write(`listening on ${server.address().port}\n`);
  });
  const stop = () => {
    console.error('stopping');
    server.close();
    server.closeIdleConnections();
    mongoose.disconnect().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(`http_server failed: ${e.message}`);
  process.exit(1);
});
