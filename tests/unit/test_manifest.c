/* manifest: ids, the self-hash, parsing and its refusals. */
#include <string.h>

#include "manifest.h"
#include "tsupport.h"

START_TEST(test_ids)
{
	char a[MANIFEST_ID_MAX], b[MANIFEST_ID_MAX];

	manifest_new_id(1795746900, 0, a); /* 2026-11-27T02:35:00Z */
	ck_assert_int_eq((int)strlen(a), 21);
	ck_assert_int_eq(strncmp(a, "20261127T023500Z-", 17), 0);
	ck_assert(manifest_id_valid(a));
	manifest_new_id(1795746901, 0, b);
	ck_assert_int_lt(strcmp(a, b), 0); /* ids sort by time */
	/* and within one second by the millisecond, whatever the random digit */
	for (int i = 0; i < 50; i++) {
		manifest_new_id(1795746900, 998, b);
		ck_assert(manifest_id_valid(b));
		manifest_new_id(1795746900, 997, a);
		ck_assert_int_lt(strcmp(a, b), 0);
		manifest_new_id(1795746900, 1, a);
		manifest_new_id(1795746900, 2, b);
		ck_assert_int_lt(strcmp(a, b), 0);
	}
	ck_assert(!manifest_id_valid("20261127T023500Z-XYZW"));
	ck_assert(!manifest_id_valid("20261127T023500Z-a1b"));
	ck_assert(!manifest_id_valid("../../etc/passwd"));
	ck_assert(!manifest_id_valid(NULL));
	ck_assert_int_eq((long)time_utc_parse("2026-11-27T02:35:00Z"), 1795746900L);
	ck_assert_int_eq((long)time_utc_parse("yesterday"), -1L);
}
END_TEST

static json_t *sample(void)
{
	json_t *labels = json_pack("{s:s}", "release", "v1");
	json_t *m = manifest_new("20261127T023500Z-a1b2", "shop", 1795746900, labels);
	json_t *item = json_pack("{s:s, s:s, s:o, s:[{s:s, s:s, s:i}]}", "type", "db", "name", "app",
				 "object", manifest_object("shop/backups/20261127T023500Z-a1b2/db-app.dump.zst",
							   1234, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
							   5678),
				 "tables", "schema", "public", "name", "t", "rows", 42);

	json_array_append_new(json_object_get(m, "items"), item);
	json_array_append_new(json_object_get(m, "items"),
			      json_pack("{s:s, s:s, s:o}", "type", "volume", "name", "uploads", "object",
					manifest_object("shop/backups/x/volume-uploads.tar.zst", 100,
							"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
							300)));
	json_decref(labels);
	return m;
}

START_TEST(test_seal_and_parse)
{
	struct strbuf text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = sample(), *back = NULL;

	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "size")), 1334);
	ck_assert_int_eq(manifest_parse(text.buf, text.len, "m.json", &back, &e), 0);
	ck_assert_str_eq(json_string_value(json_object_get(back, "id")), "20261127T023500Z-a1b2");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "labels"),
							   "release")), "v1");
	ck_assert_ptr_nonnull(manifest_find_item(back, "volume", "uploads"));
	ck_assert_ptr_null(manifest_find_item(back, "db", "uploads"));
	ck_assert(json_equal(m, back));
	json_decref(back);
	json_decref(m);
	strbuf_release(&text);
}
END_TEST

/* The typed views read what the JSON holds, and say "absent" (NULL, -1)
 * for what an unsealed manifest does not hold yet. */
START_TEST(test_typed_views)
{
	struct strbuf text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = sample(), *back = NULL;
	struct manifest_head h;
	struct manifest_item it;
	size_t i, n = 0;

	manifest_head_get(m, &h);
	ck_assert_str_eq(h.id, "20261127T023500Z-a1b2");
	ck_assert_ptr_null(h.finished);
	ck_assert_int_eq(h.size, -1);
	ck_assert_int_eq(h.nitems, 2);
	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	ck_assert_int_eq(manifest_parse(text.buf, text.len, "m.json", &back, &e), 0);
	manifest_head_get(back, &h);
	ck_assert_str_eq(h.project, "shop");
	ck_assert_ptr_nonnull(h.finished);
	ck_assert_int_eq(h.size, 1334);
	ck_assert_str_eq(json_string_value(json_object_get(h.labels, "release")), "v1");
	manifest_foreach_item(back, i, it) {
		ck_assert_ptr_eq(it.json, json_array_get(json_object_get(back, "items"), i));
		if (i == 0) {
			ck_assert_str_eq(it.type, "db");
			ck_assert_str_eq(it.name, "app");
			ck_assert_str_eq(it.obj.key, "shop/backups/20261127T023500Z-a1b2/db-app.dump.zst");
			ck_assert_int_eq(it.obj.size, 1234);
			ck_assert_int_eq(it.obj.raw_size, 5678);
		} else {
			ck_assert_str_eq(it.type, "volume");
			ck_assert_int_eq(it.obj.size, 100);
		}
		n++;
	}
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(manifest_item_get(back, 2, &it), -1);
	/* an item being built has no object yet */
	json_array_append_new(json_object_get(back, "items"),
			      json_pack("{s:s, s:s}", "type", "db", "name", "later"));
	ck_assert_int_eq(manifest_item_get(back, 2, &it), 0);
	ck_assert_ptr_null(it.obj.key);
	ck_assert_int_eq(it.obj.raw_size, -1);
	json_decref(back);
	json_decref(m);
	strbuf_release(&text);
}
END_TEST

/* Every strict prefix of a sealed manifest is torn (what a killed write
 * leaves on a server that stores the body as it arrives); the whole text,
 * and damage in the middle, are not. */
START_TEST(test_torn)
{
	struct strbuf text = STRBUF_INIT, bad = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = sample();

	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	ck_assert(!manifest_torn(text.buf, text.len));
	for (size_t n = 0; n < text.len; n++)
		ck_assert_msg(manifest_torn(text.buf, n), "a prefix of %zu bytes", n);
	strbuf_add(&bad, text.buf, text.len);
	bad.buf[text.len / 2] = '@';
	ck_assert(!manifest_torn(bad.buf, bad.len));
	json_decref(m);
	strbuf_release(&text);
	strbuf_release(&bad);
}
END_TEST

START_TEST(test_tampering_is_refused)
{
	struct strbuf text = STRBUF_INIT, bad = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = sample(), *back = NULL;
	char *p;

	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	/* a changed row count */
	strbuf_addstr(&bad, text.buf);
	p = strstr(bad.buf, "\"rows\": 42");
	ck_assert_ptr_nonnull(p);
	p[9] = '3';
	ck_assert_int_eq(manifest_parse(bad.buf, bad.len, "m.json", &back, &e), BL_EVERIFY);
	ck_assert_ptr_nonnull(strstr(e.msg, "m.json: checksum mismatch"));
	ck_assert_ptr_null(back);
	/* cut short */
	ck_assert_int_eq(manifest_parse(text.buf, text.len / 2, "m.json", &back, &e), BL_EVERIFY);
	ck_assert_ptr_nonnull(strstr(e.msg, "invalid JSON"));
	/* bit flips the self-hash cannot see: whitespace turned into other
	 * whitespace, and a lost final newline, still parse to the same values */
	for (const char *from = text.buf; (p = strchr(from, ' ')); from = p + 1) {
		strbuf_reset(&bad);
		strbuf_addstr(&bad, text.buf);
		bad.buf[p - text.buf] = '\t';
		ck_assert_int_eq(manifest_parse(bad.buf, bad.len, "m.json", &back, &e), BL_EVERIFY);
		ck_assert_ptr_nonnull(strstr(e.msg, "m.json: not in the form ballast writes"));
	}
	ck_assert_int_eq(manifest_parse(text.buf, text.len - 1, "m.json", &back, &e), BL_EVERIFY);
	ck_assert_ptr_null(back);
	/* no checksum at all */
	json_object_del(m, "checksum");
	{
		char *s = json_dumps(m, 0);

		ck_assert_int_eq(manifest_parse(s, strlen(s), "m.json", &back, &e), BL_EVERIFY);
		ck_assert_ptr_nonnull(strstr(e.msg, "checksum: missing"));
		free(s);
	}
	json_decref(m);
	strbuf_release(&text);
	strbuf_release(&bad);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("manifest");

	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_seal_and_parse);
	tcase_add_test(tc, test_typed_views);
	tcase_add_test(tc, test_tampering_is_refused);
	tcase_add_test(tc, test_torn);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
