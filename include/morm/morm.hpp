// Everything of morm in one include: the ORM (engine, session, typed queries), the
// client API, the codec, the BSON types and morm::with_diagnostics (completion tokens).
#pragma once

#include <morm/bson/document.hpp>
#include <morm/bson/object_id.hpp>
#include <morm/bson/types.hpp>
#include <morm/client/client.hpp>
#include <morm/client/collection.hpp>
#include <morm/codec/decode.hpp>
#include <morm/codec/encode.hpp>
#include <morm/codec/model.hpp>
#include <morm/detail/initiate.hpp>
#include <morm/error.hpp>
#include <morm/orm/engine.hpp>
#include <morm/orm/expr.hpp>
#include <morm/orm/polymorphic.hpp>
#include <morm/orm/ref.hpp>
#include <morm/orm/session.hpp>
#include <morm/uri.hpp>
