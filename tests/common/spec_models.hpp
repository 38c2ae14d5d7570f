// Typed models for the MongoDB ODM- and driver-benchmark documents, odm/ and driver/ of the
// official data sets ($MORM_DATA_DIR) and of the generated ones (data/gen_data.cpp fills these
// models). Each model decodes its file and re-encodes it to the identical BSON bytes
// (tests/unit/codec_spec_data_tests.cpp), so benchmarks can use them as-is.
//
// Integer members are int32 where the data's integers fit in 32 bits, because the JSON parser
// stores them as int32 and an int64 member would change the bytes. None of the files has an
// _id: models carry an ObjectId `_id` with omit_empty (an all-zero id counts as empty), so it
// is written only once assigned.
#pragma once

#include <morm/bson.hpp>
#include <morm/codec/model.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace morm::spec_models {

using morm::codec::field_flags;

// ---- ODM benchmark: odm/small_doc.json (flat, 7 strings + 6 int32) ----
struct odm_small_doc {
    bson::object_id id;
    std::string field1;
    std::string field2;
    std::string field3;
    std::string field4;
    std::string field5;
    std::string field6;
    std::string field7;
    std::int32_t field8 = 0;
    std::int32_t field9 = 0;
    std::int32_t field10 = 0;
    std::int32_t field11 = 0;
    std::int32_t field12 = 0;
    std::int32_t field13 = 0;
};
MORM_MODEL(odm_small_doc, "odm_small_doc", (id, "_id", field_flags::omit_empty), field1, field2, field3, field4, field5, field6, field7, field8, field9, field10, field11, field12, field13);
MORM_STRICT(odm_small_doc);

// ---- ODM benchmark: odm/large_doc.json (flat, 125 strings + 125 int32 + one binary) ----
struct odm_large_doc {
    bson::object_id id;
    std::string field1;
    std::string field2;
    std::string field3;
    std::string field4;
    std::string field5;
    std::string field6;
    std::string field7;
    std::string field8;
    std::string field9;
    std::string field10;
    std::string field11;
    std::string field12;
    std::string field13;
    std::string field14;
    std::string field15;
    std::string field16;
    std::string field17;
    std::string field18;
    std::string field19;
    std::string field20;
    std::string field21;
    std::string field22;
    std::string field23;
    std::string field24;
    std::string field25;
    std::string field26;
    std::string field27;
    std::string field28;
    std::string field29;
    std::string field30;
    std::string field31;
    std::string field32;
    std::string field33;
    std::string field34;
    std::string field35;
    std::string field36;
    std::string field37;
    std::string field38;
    std::string field39;
    std::string field40;
    std::string field41;
    std::string field42;
    std::string field43;
    std::string field44;
    std::string field45;
    std::string field46;
    std::string field47;
    std::string field48;
    std::string field49;
    std::string field50;
    std::string field51;
    std::string field52;
    std::string field53;
    std::string field54;
    std::string field55;
    std::string field56;
    std::string field57;
    std::string field58;
    std::string field59;
    std::string field60;
    std::string field61;
    std::string field62;
    std::string field63;
    std::string field64;
    std::string field65;
    std::string field66;
    std::string field67;
    std::string field68;
    std::string field69;
    std::string field70;
    std::string field71;
    std::string field72;
    std::string field73;
    std::string field74;
    std::string field75;
    std::string field76;
    std::string field77;
    std::string field78;
    std::string field79;
    std::string field80;
    std::string field81;
    std::string field82;
    std::string field83;
    std::string field84;
    std::string field85;
    std::string field86;
    std::string field87;
    std::string field88;
    std::string field89;
    std::string field90;
    std::string field91;
    std::string field92;
    std::string field93;
    std::string field94;
    std::string field95;
    std::string field96;
    std::string field97;
    std::string field98;
    std::string field99;
    std::string field100;
    std::string field101;
    std::string field102;
    std::string field103;
    std::string field104;
    std::string field105;
    std::string field106;
    std::string field107;
    std::string field108;
    std::string field109;
    std::string field110;
    std::string field111;
    std::string field112;
    std::string field113;
    std::string field114;
    std::string field115;
    std::string field116;
    std::string field117;
    std::string field118;
    std::string field119;
    std::string field120;
    std::string field121;
    std::string field122;
    std::string field123;
    std::string field124;
    std::string field125;
    std::int32_t field126 = 0;
    std::int32_t field127 = 0;
    std::int32_t field128 = 0;
    std::int32_t field129 = 0;
    std::int32_t field130 = 0;
    std::int32_t field131 = 0;
    std::int32_t field132 = 0;
    std::int32_t field133 = 0;
    std::int32_t field134 = 0;
    std::int32_t field135 = 0;
    std::int32_t field136 = 0;
    std::int32_t field137 = 0;
    std::int32_t field138 = 0;
    std::int32_t field139 = 0;
    std::int32_t field140 = 0;
    std::int32_t field141 = 0;
    std::int32_t field142 = 0;
    std::int32_t field143 = 0;
    std::int32_t field144 = 0;
    std::int32_t field145 = 0;
    std::int32_t field146 = 0;
    std::int32_t field147 = 0;
    std::int32_t field148 = 0;
    std::int32_t field149 = 0;
    std::int32_t field150 = 0;
    std::int32_t field151 = 0;
    std::int32_t field152 = 0;
    std::int32_t field153 = 0;
    std::int32_t field154 = 0;
    std::int32_t field155 = 0;
    std::int32_t field156 = 0;
    std::int32_t field157 = 0;
    std::int32_t field158 = 0;
    std::int32_t field159 = 0;
    std::int32_t field160 = 0;
    std::int32_t field161 = 0;
    std::int32_t field162 = 0;
    std::int32_t field163 = 0;
    std::int32_t field164 = 0;
    std::int32_t field165 = 0;
    std::int32_t field166 = 0;
    std::int32_t field167 = 0;
    std::int32_t field168 = 0;
    std::int32_t field169 = 0;
    std::int32_t field170 = 0;
    std::int32_t field171 = 0;
    std::int32_t field172 = 0;
    std::int32_t field173 = 0;
    std::int32_t field174 = 0;
    std::int32_t field175 = 0;
    std::int32_t field176 = 0;
    std::int32_t field177 = 0;
    std::int32_t field178 = 0;
    std::int32_t field179 = 0;
    std::int32_t field180 = 0;
    std::int32_t field181 = 0;
    std::int32_t field182 = 0;
    std::int32_t field183 = 0;
    std::int32_t field184 = 0;
    std::int32_t field185 = 0;
    std::int32_t field186 = 0;
    std::int32_t field187 = 0;
    std::int32_t field188 = 0;
    std::int32_t field189 = 0;
    std::int32_t field190 = 0;
    std::int32_t field191 = 0;
    std::int32_t field192 = 0;
    std::int32_t field193 = 0;
    std::int32_t field194 = 0;
    std::int32_t field195 = 0;
    std::int32_t field196 = 0;
    std::int32_t field197 = 0;
    std::int32_t field198 = 0;
    std::int32_t field199 = 0;
    std::int32_t field200 = 0;
    std::int32_t field201 = 0;
    std::int32_t field202 = 0;
    std::int32_t field203 = 0;
    std::int32_t field204 = 0;
    std::int32_t field205 = 0;
    std::int32_t field206 = 0;
    std::int32_t field207 = 0;
    std::int32_t field208 = 0;
    std::int32_t field209 = 0;
    std::int32_t field210 = 0;
    std::int32_t field211 = 0;
    std::int32_t field212 = 0;
    std::int32_t field213 = 0;
    std::int32_t field214 = 0;
    std::int32_t field215 = 0;
    std::int32_t field216 = 0;
    std::int32_t field217 = 0;
    std::int32_t field218 = 0;
    std::int32_t field219 = 0;
    std::int32_t field220 = 0;
    std::int32_t field221 = 0;
    std::int32_t field222 = 0;
    std::int32_t field223 = 0;
    std::int32_t field224 = 0;
    std::int32_t field225 = 0;
    std::int32_t field226 = 0;
    std::int32_t field227 = 0;
    std::int32_t field228 = 0;
    std::int32_t field229 = 0;
    std::int32_t field230 = 0;
    std::int32_t field231 = 0;
    std::int32_t field232 = 0;
    std::int32_t field233 = 0;
    std::int32_t field234 = 0;
    std::int32_t field235 = 0;
    std::int32_t field236 = 0;
    std::int32_t field237 = 0;
    std::int32_t field238 = 0;
    std::int32_t field239 = 0;
    std::int32_t field240 = 0;
    std::int32_t field241 = 0;
    std::int32_t field242 = 0;
    std::int32_t field243 = 0;
    std::int32_t field244 = 0;
    std::int32_t field245 = 0;
    std::int32_t field246 = 0;
    std::int32_t field247 = 0;
    std::int32_t field248 = 0;
    std::int32_t field249 = 0;
    std::int32_t field250 = 0;
    bson::binary image_field;
};
MORM_MODEL(odm_large_doc, "odm_large_doc", (id, "_id", field_flags::omit_empty),
           field1, field2, field3, field4, field5, field6, field7, field8, field9, field10, field11, field12, field13, field14, field15, field16, field17, field18, field19, field20, field21, field22, field23, field24, field25, field26, field27, field28, field29, field30, field31, field32, field33, field34, field35, field36, field37, field38, field39, field40, field41, field42, field43, field44, field45, field46, field47, field48, field49, field50, field51, field52, field53, field54, field55, field56, field57, field58, field59, field60, field61, field62, field63, field64, field65, field66, field67, field68, field69, field70, field71, field72, field73, field74, field75, field76, field77, field78, field79, field80, field81, field82, field83, field84, field85, field86, field87, field88, field89, field90, field91, field92, field93, field94, field95, field96, field97, field98, field99, field100, field101, field102, field103, field104, field105, field106, field107, field108, field109, field110, field111, field112, field113, field114, field115, field116, field117, field118, field119, field120, field121, field122, field123, field124, field125, field126, field127, field128, field129, field130, field131, field132, field133, field134, field135, field136, field137, field138, field139, field140, field141, field142, field143, field144, field145, field146, field147, field148, field149, field150, field151, field152, field153, field154, field155, field156, field157, field158, field159, field160, field161, field162, field163, field164, field165, field166, field167, field168, field169, field170, field171, field172, field173, field174, field175, field176, field177, field178, field179, field180, field181, field182, field183, field184, field185, field186, field187, field188, field189, field190, field191, field192, field193, field194, field195, field196, field197, field198, field199, field200, field201, field202, field203, field204, field205, field206, field207, field208, field209, field210, field211, field212, field213, field214, field215, field216, field217, field218, field219, field220, field221, field222, field223, field224, field225, field226, field227, field228, field229, field230, field231, field232, field233, field234, field235, field236, field237, field238, field239, field240, field241, field242, field243, field244, field245, field246, field247, field248, field249, field250, image_field);
MORM_STRICT(odm_large_doc);

// ---- ODM benchmark: odm/large_doc_nested.json (embedded documents and an array of them) ----
struct odm_embedded_str_doc {
    std::string field1;
    std::string field2;
    std::string field3;
    std::string field4;
    std::string field5;
    std::string field6;
    std::string field7;
    std::string field8;
    std::string field9;
    std::string field10;
    std::string field11;
    std::string field12;
    std::string field13;
    std::string field14;
    std::string field15;
};
MORM_STRUCT(odm_embedded_str_doc, field1, field2, field3, field4, field5, field6, field7, field8, field9, field10, field11, field12, field13, field14, field15);
MORM_STRICT(odm_embedded_str_doc);
struct odm_embedded_int_doc {
    std::int32_t field1 = 0;
    std::int32_t field2 = 0;
    std::int32_t field3 = 0;
    std::int32_t field4 = 0;
    std::int32_t field5 = 0;
    std::int32_t field6 = 0;
    std::int32_t field7 = 0;
    std::int32_t field8 = 0;
    std::int32_t field9 = 0;
    std::int32_t field10 = 0;
    std::int32_t field11 = 0;
    std::int32_t field12 = 0;
    std::int32_t field13 = 0;
    std::int32_t field14 = 0;
    std::int32_t field15 = 0;
};
MORM_STRUCT(odm_embedded_int_doc, field1, field2, field3, field4, field5, field6, field7, field8, field9, field10, field11, field12, field13, field14, field15);
MORM_STRICT(odm_embedded_int_doc);
struct odm_nested_doc {
    bson::object_id id;
    odm_embedded_str_doc embedded_str_doc_1;
    odm_embedded_str_doc embedded_str_doc_2;
    odm_embedded_str_doc embedded_str_doc_3;
    odm_embedded_str_doc embedded_str_doc_4;
    odm_embedded_str_doc embedded_str_doc_5;
    std::vector<odm_embedded_str_doc> embedded_str_doc_array;
    odm_embedded_int_doc embedded_int_doc_8;
    odm_embedded_int_doc embedded_int_doc_9;
    odm_embedded_int_doc embedded_int_doc_10;
    odm_embedded_int_doc embedded_int_doc_11;
    odm_embedded_int_doc embedded_int_doc_12;
    odm_embedded_int_doc embedded_int_doc_13;
    odm_embedded_int_doc embedded_int_doc_14;
};
MORM_MODEL(odm_nested_doc, "odm_nested_doc", (id, "_id", field_flags::omit_empty),
           embedded_str_doc_1, embedded_str_doc_2, embedded_str_doc_3, embedded_str_doc_4, embedded_str_doc_5, embedded_str_doc_array, embedded_int_doc_8, embedded_int_doc_9, embedded_int_doc_10, embedded_int_doc_11, embedded_int_doc_12, embedded_int_doc_13, embedded_int_doc_14);
MORM_STRICT(odm_nested_doc);

// ---- driver benchmark: driver/small_doc.json (random keys, renamed members) ----
struct driver_small_doc {
    bson::object_id id;
    std::string k_oggaoR4O;
    std::string k_Vxri7mmI;
    std::string k_IQ8K4ZMG;
    std::string k_WzI8s1W0;
    std::string k_E5Aj2zB3;
    std::string k_3MXe8Wi7;
    std::string k_PHPSSV51;
    std::int32_t k_CxSCo4jD = 0;
    std::int32_t k_5C8GSDC5 = 0;
    std::int32_t k_fC63DsLR = 0;
    std::int32_t k_l6e0U4bR = 0;
    std::int32_t k_TLRpkltp = 0;
    std::int32_t k_Ph9CZN5L = 0;
};
MORM_MODEL(driver_small_doc, "driver_small_doc", (id, "_id", field_flags::omit_empty),
           (k_oggaoR4O, "oggaoR4O"), (k_Vxri7mmI, "Vxri7mmI"), (k_IQ8K4ZMG, "IQ8K4ZMG"), (k_WzI8s1W0, "WzI8s1W0"), (k_E5Aj2zB3, "E5Aj2zB3"), (k_3MXe8Wi7, "3MXe8Wi7"), (k_PHPSSV51, "PHPSSV51"), (k_CxSCo4jD, "CxSCo4jD"), (k_5C8GSDC5, "5C8GSDC5"), (k_fC63DsLR, "fC63DsLR"), (k_l6e0U4bR, "l6e0U4bR"), (k_TLRpkltp, "TLRpkltp"), (k_Ph9CZN5L, "Ph9CZN5L"));
MORM_STRICT(driver_small_doc);

// ---- driver benchmark: driver/large_doc.json (94,355 random keys: kept as extra fields) ----
struct driver_large_doc {
    bson::object_id id;
    bson::document fields;  ///< every element other than _id, in document order
};
MORM_MODEL(driver_large_doc, "driver_large_doc", (id, "_id", field_flags::omit_empty),
           (fields, "", field_flags::extra_fields));

// ---- driver benchmark: driver/tweet.json ----
struct tweet_user_mention {
    std::vector<std::int32_t> indices;
    std::string screen_name;
    std::string name;
    std::int32_t id = 0;
};
MORM_STRUCT(tweet_user_mention, indices, screen_name, name, id);
MORM_STRICT(tweet_user_mention);

struct tweet_entities {
    std::vector<tweet_user_mention> user_mentions;
    std::vector<bson::document> urls;
    std::vector<bson::document> hashtags;
};
MORM_STRUCT(tweet_entities, user_mentions, urls, hashtags);
MORM_STRICT(tweet_entities);

struct tweet_user {
    std::int32_t friends_count = 0;
    std::string profile_sidebar_fill_color;
    std::string location;
    bool verified = false;
    std::optional<bool> follow_request_sent;
    std::int32_t favourites_count = 0;
    std::string profile_sidebar_border_color;
    std::string profile_image_url;
    bool geo_enabled = false;
    std::string created_at;
    std::string description;
    std::string time_zone;
    std::string url;
    std::string screen_name;
    std::optional<bool> notifications;
    std::string profile_background_color;
    std::int32_t listed_count = 0;
    std::string lang;
    std::string profile_background_image_url;
    std::int32_t statuses_count = 0;
    std::optional<bool> following;
    std::string profile_text_color;
    bool protected_ = false;  // "protected" is a C++ keyword
    bool show_all_inline_media = false;
    bool profile_background_tile = false;
    std::string name;
    bool contributors_enabled = false;
    std::string profile_link_color;
    std::int32_t followers_count = 0;
    std::int32_t id = 0;
    bool profile_use_background_image = false;
    std::int32_t utc_offset = 0;
};
MORM_STRUCT(tweet_user, friends_count, profile_sidebar_fill_color, location, verified, follow_request_sent, favourites_count, profile_sidebar_border_color, profile_image_url, geo_enabled, created_at, description, time_zone, url, screen_name, notifications, profile_background_color, listed_count, lang, profile_background_image_url, statuses_count, following, profile_text_color, (protected_, "protected"), show_all_inline_media, profile_background_tile, name, contributors_enabled, profile_link_color, followers_count, id, profile_use_background_image, utc_offset);
MORM_STRICT(tweet_user);

struct tweet {
    bson::object_id oid;
    std::string text;
    std::int64_t in_reply_to_status_id = 0;
    std::optional<std::int32_t> retweet_count;
    std::optional<std::vector<std::int64_t>> contributors;
    std::string created_at;
    std::optional<bson::document> geo;
    std::string source;
    std::optional<bson::document> coordinates;
    std::string in_reply_to_screen_name;
    bool truncated = false;
    tweet_entities entities;
    bool retweeted = false;
    std::optional<bson::document> place;
    tweet_user user;
    bool favorited = false;
    std::int32_t in_reply_to_user_id = 0;
    std::int64_t id = 0;
};
MORM_MODEL(tweet, "tweets", (oid, "_id", field_flags::omit_empty),
           text, in_reply_to_status_id, retweet_count, contributors, created_at, geo, source, coordinates, in_reply_to_screen_name, truncated, entities, retweeted, place, user, favorited, in_reply_to_user_id, id);
MORM_STRICT(tweet);

}  // namespace morm::spec_models
