#!/usr/bin/env node
// ODM suite, Node peer: mongoose 8 (schemas and documents; insertMany for creates, bulkSave
// of the loaded documents for updates -- it sends $set of the changed path -- findById /
// findOne for finds, hydrated documents). Same tasks, counts and data as odm_bench.cpp.
//   node odm_bench.js --uri URI [--smoke] [--scale F] --data DIR
'use strict';
const fs = require('fs');
const path = require('path');
const mongoose = require('mongoose');
const { EJSON, calculateObjectSize } = mongoose.mongo.BSON;

const SPEC = 10000;
const UPDATE_BYTES = 13;

function parseArgs() {
  const a = { uri: process.env.MORM_BENCH_URI || process.env.MORM_TEST_URI, smoke: false, scale: 1,
              data: process.env.MORM_DATA_DIR };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; ++i) {
    if (v[i] === '--uri') a.uri = v[++i];
    else if (v[i] === '--data') a.data = v[++i];
    else if (v[i] === '--scale') a.scale = Number(v[++i]);
    else if (v[i] === '--smoke') a.smoke = true;
    else throw new Error('unknown argument ' + v[i]);
  }
  if (!a.uri) throw new Error('pass --uri');
  // benchmarks/suites/odm_suites.sh passes the official (MORM_DATA_DIR) or the generated data
  if (!a.data) throw new Error('pass --data DIR (the data generated in the build dir, or the official data) or set MORM_DATA_DIR');
  return a;
}

const args = parseArgs();
const count = (spec, smoke) => args.smoke ? Math.min(spec, smoke) : Math.max(1, Math.floor(spec * args.scale));
const now = () => Number(process.hrtime.bigint()) / 1e9;

function report(task, mb, secs, n, extra) {
  let note = !args.smoke && n !== SPEC ? `scaled: ${n} ops (spec ${SPEC})` : '';
  if (extra) note = note ? `${note}; ${extra}` : extra;
  const rate = secs > 0 ? mb / secs : 0;
  process.stdout.write(JSON.stringify({ suite: 'odm', task, impl: 'mongoose', unit: 'MB/s', median: rate,
                                        min: rate, max: rate, n: 1, note }) + '\n');
  process.stderr.write(`  odm      ${task.padEnd(34)} mongoose     ${rate.toFixed(2).padStart(10)} MB/s\n`);
}

function load(rel) {
  return EJSON.parse(fs.readFileSync(path.join(args.data, rel), 'utf8'), { relaxed: false });
}

function schemaFor(doc, sub) {
  const def = {};
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v === 'string') def[k] = String;
    else if (typeof v === 'boolean') def[k] = Boolean;
    else if (typeof v === 'number' || (v && v._bsontype === 'Int32')) def[k] = Number;
    else if (v && v._bsontype === 'Binary') def[k] = Buffer;
    else if (Array.isArray(v)) def[k] = [sub[k]];
    else if (v && typeof v === 'object') def[k] = sub[k];
  }
  return def;
}

// Plain JS values (Int32 -> number, Binary -> Buffer) as a mongoose user would have them.
function plain(v) {
  if (Array.isArray(v)) return v.map(plain);
  if (v && v._bsontype === 'Int32') return v.value;
  if (v && v._bsontype === 'Binary') return Buffer.from(v.buffer);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const key8 = (i) => 'k' + String(i).padStart(7, '0');

async function createUpdate(Model, docs, size, task, mutate, extra) {
  const n = docs.length;
  let t0 = now();
  await Model.insertMany(docs);
  report(`${task}: create`, size * n / 1e6, now() - t0, n, extra);
  const loaded = await Model.find({});
  t0 = now();
  for (const d of loaded) mutate(d);
  // FerretDB 1.24 never answers an update command of >= 100 statements: batches of 50, as every peer.
  let modified = 0;
  for (let k = 0; k < loaded.length; k += 50) modified += (await Model.bulkSave(loaded.slice(k, k + 50))).modifiedCount;
  if (modified !== loaded.length) throw new Error(`${task}: modified ${modified} of ${loaded.length}`);
  report(task === 'nested' ? 'nested: update nested field' : `${task}: update`, UPDATE_BYTES * n / 1e6, now() - t0, n, extra);
  return loaded.map((d) => d._id);
}

async function main() {
  const conn = await mongoose.connect(args.uri, { dbName: 'bench_odm_mongoose', autoIndex: false, autoCreate: false });
  await conn.connection.db.dropDatabase();
  const nSmall = count(SPEC, 20), nLarge = count(10, 2), nNested = count(SPEC, 20);

  const smallSrc = load('odm/small_doc.json');
  const Small = mongoose.model('SmallDoc', new mongoose.Schema(schemaFor(smallSrc, {})), 'odm_small_doc');
  const small = plain(smallSrc);
  const smallSize = calculateObjectSize(smallSrc);
  const ids = await createUpdate(Small, Array.from({ length: nSmall }, () => ({ ...small })), smallSize, 'flat small',
                                 (d) => { d.field1 = 'UPDATEDx'; });
  let t0 = now();
  for (const id of ids) if (!(await Small.findById(id))) throw new Error('find by id: missing');
  report('flat small: find by id', smallSize * ids.length / 1e6, now() - t0, nSmall);

  const largeSrc = load('odm/large_doc.json');
  const Large = mongoose.model('LargeDoc', new mongoose.Schema(schemaFor(largeSrc, {})), 'odm_large_doc');
  const large = plain(largeSrc);
  await createUpdate(Large, Array.from({ length: nLarge }, () => ({ ...large })), calculateObjectSize(largeSrc),
                     'flat large', (d) => { d.field1 = 'UPDATEDx'; }, '2.4 MB documents');

  const nestedSrc = load('odm/large_doc_nested.json');
  const EmbStr = new mongoose.Schema(schemaFor(nestedSrc.embedded_str_doc_1, {}), { _id: false });
  const EmbInt = new mongoose.Schema(schemaFor(nestedSrc.embedded_int_doc_8, {}), { _id: false });
  const sub = {};
  for (const k of Object.keys(nestedSrc)) sub[k] = k.startsWith('embedded_int') ? EmbInt : EmbStr;
  const Nested = mongoose.model('NestedDoc', new mongoose.Schema(schemaFor(nestedSrc, sub)), 'odm_nested_doc');
  await Nested.createCollection();
  await Nested.collection.createIndex({ 'embedded_str_doc_1.field1': 1 });
  await Nested.collection.createIndex({ 'embedded_str_doc_array.field1': 1 });
  const nested = plain(nestedSrc);
  const nestedSize = calculateObjectSize(nestedSrc);
  const docs = Array.from({ length: nNested }, (_, i) => {
    const d = structuredClone(nested);
    d.embedded_str_doc_1.field1 = key8(i);
    d.embedded_str_doc_array[0].field1 = key8(i);
    return d;
  });
  await createUpdate(Nested, docs, nestedSize, 'nested', (d) => { d.embedded_str_doc_2.field1 = 'UPDATEDx'; });
  for (const [task, p] of [['nested: find by nested field', 'embedded_str_doc_1.field1'],
                           ['nested: find by array element', 'embedded_str_doc_array.field1']]) {
    t0 = now();
    // FerretDB (SQLite) scans for these filters: capped at 50 finds, as every peer.
    const nFinds = Math.min(nNested, 50);
    for (let i = 0; i < nFinds; ++i) if (!(await Nested.findOne({ [p]: key8(i) }))) throw new Error(task + ': missing');
    report(task, nestedSize * nFinds / 1e6, now() - t0, nFinds, 'finds capped at 50: FerretDB scans');
  }
  await conn.connection.db.dropDatabase();
  await mongoose.disconnect();
}

main().catch((e) => { process.stderr.write(`odm_bench.js: ${e.stack || e}\n`); process.exit(1); });
