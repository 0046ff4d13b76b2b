// A loyalty scheme in C, built by clang for wasm32-wasi from the same WIT as every plugin: the
// proof that nothing in tongka:plugin is Rust's. `points_per_yuan` points for each whole yuan
// spent on lines that earn points, doubled on the member's birthday.
//
//   tongka-plugin bindings --world loyalty-scheme --out-dir gen
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 -Igen -o scheme.core.wasm \
//       scheme.c gen/loyalty_scheme.c gen/loyalty_scheme_component_type.o
//   tongka-plugin componentize scheme.core.wasm -o scheme.component.wasm
//   tongka-plugin pack scheme.component.wasm --manifest manifest.json -o c-scheme.wasm
//   tongka-plugin test c-scheme.wasm fixtures

#include <stdlib.h>
#include <string.h>

#include "loyalty_scheme.h"

typedef exports_tongka_plugin_scheme_list_effect_t effects_t;
typedef exports_tongka_plugin_scheme_hook_error_t hook_error_t;

// A whole number after `"name":` in the configuration (the box checked it against the schema).
static bool config_integer(const char *name, int64_t *value) {
  loyalty_scheme_string_t config;
  tongka_plugin_config_get(&config);
  char *text = malloc(config.len + 1);
  memcpy(text, config.ptr, config.len);
  text[config.len] = 0;
  loyalty_scheme_string_free(&config);
  char key[64];
  size_t name_len = strlen(name);
  bool found = false;
  if (name_len + 3 <= sizeof key) {
    key[0] = '"';
    memcpy(key + 1, name, name_len);
    key[name_len + 1] = '"';
    key[name_len + 2] = 0;
    char *at = strstr(text, key);
    if (at) {
      at += name_len + 2;
      while (*at == ' ' || *at == ':') at++;
      char *end;
      long long parsed = strtoll(at, &end, 10);
      found = end != at;
      *value = parsed;
    }
  }
  free(text);
  return found;
}

static void fail(hook_error_t *err, uint8_t kind, const char *why) {
  err->tag = kind;
  loyalty_scheme_string_dup(&err->val.misconfigured, why);
}

static bool no_effects(effects_t *ret) {
  ret->ptr = NULL;
  ret->len = 0;
  return true;
}

bool exports_tongka_plugin_scheme_quote_checkout(exports_tongka_plugin_scheme_checkout_t *checkout,
                                                 effects_t *ret, hook_error_t *err) {
  int64_t per_yuan;
  if (!config_integer("points_per_yuan", &per_yuan)) {
    exports_tongka_plugin_scheme_checkout_free(checkout);
    fail(err, TONGKA_PLUGIN_TYPES_HOOK_ERROR_MISCONFIGURED, "points_per_yuan");
    return false;
  }
  int64_t fen = 0;
  for (size_t i = 0; i < checkout->lines.len; i++) {
    tongka_plugin_types_order_line_t *line = &checkout->lines.ptr[i];
    if (line->flags & TONGKA_PLUGIN_TYPES_LINE_FLAGS_NO_POINTS) continue;
    fen += line->unit_price_fen * (int64_t)line->quantity_milli / 1000;
  }
  bool birthday = checkout->member.birthday.is_some &&
                  checkout->member.birthday.val.month == checkout->at.date.month &&
                  checkout->member.birthday.val.day == checkout->at.date.day;
  exports_tongka_plugin_scheme_checkout_free(checkout);

  ret->len = 1;
  ret->ptr = calloc(1, sizeof(tongka_plugin_types_effect_t));
  ret->ptr[0].tag = TONGKA_PLUGIN_TYPES_EFFECT_EARN_POINTS;
  ret->ptr[0].val.earn_points.to = TONGKA_PLUGIN_TYPES_PARTY_MEMBER;
  ret->ptr[0].val.earn_points.points = fen / 100 * per_yuan * (birthday ? 2 : 1);
  loyalty_scheme_string_dup(&ret->ptr[0].val.earn_points.reason, birthday ? "生日双倍积分" : "消费积分");

  loyalty_scheme_string_t message;
  loyalty_scheme_string_set(&message, "quoted by the C scheme");
  tongka_plugin_log_write(TONGKA_PLUGIN_LOG_LEVEL_DEBUG, &message);
  return true;
}

// The other hooks give nothing; each frees the input it owns.

bool exports_tongka_plugin_scheme_commit_checkout(
    exports_tongka_plugin_scheme_committed_checkout_t *checkout, effects_t *ret, hook_error_t *err) {
  (void)err;
  exports_tongka_plugin_scheme_committed_checkout_free(checkout);
  return no_effects(ret);
}

bool exports_tongka_plugin_scheme_top_up(exports_tongka_plugin_scheme_top_up_order_t *order,
                                         effects_t *ret, hook_error_t *err) {
  (void)err;
  exports_tongka_plugin_scheme_top_up_order_free(order);
  return no_effects(ret);
}

bool exports_tongka_plugin_scheme_member_joined(
    exports_tongka_plugin_scheme_member_summary_t *member,
    exports_tongka_plugin_scheme_local_time_t *at, effects_t *ret, hook_error_t *err) {
  (void)at;
  (void)err;
  exports_tongka_plugin_scheme_member_summary_free(member);
  return no_effects(ret);
}

bool exports_tongka_plugin_scheme_refund(exports_tongka_plugin_scheme_refund_order_t *order,
                                         effects_t *ret, hook_error_t *err) {
  (void)err;
  exports_tongka_plugin_scheme_refund_order_free(order);
  return no_effects(ret);
}

bool exports_tongka_plugin_scheme_daily_tick(exports_tongka_plugin_scheme_member_summary_t *member,
                                             exports_tongka_plugin_scheme_date_t *today,
                                             effects_t *ret, hook_error_t *err) {
  (void)today;
  (void)err;
  exports_tongka_plugin_scheme_member_summary_free(member);
  return no_effects(ret);
}
