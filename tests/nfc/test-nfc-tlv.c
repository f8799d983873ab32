/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "vb-error.h"
#include "vb-tlv.h"

static GByteArray *
hex(const gchar *text)
{
	GByteArray *out = g_byte_array_new();
	for (gsize i = 0; text[i] != '\0' && text[i + 1] != '\0'; i += 2) {
		guint8 b = (guint8)(g_ascii_xdigit_value(text[i]) << 4 |
				    g_ascii_xdigit_value(text[i + 1]));
		g_byte_array_append(out, &b, 1);
	}
	return out;
}

/* a select answer, nested three deep, found depth first */
static void
test_tlv_find_nested(void)
{
	g_autoptr(GByteArray) buf = hex("6F1A840E325041592E5359532E4444463031A508BF0C05610387"
					"0101");
	g_autoptr(GError) error = NULL;
	VbTlv tlv = {0};

	g_assert_true(vb_tlv_validate(buf->data, buf->len, &error));
	g_assert_no_error(error);
	g_assert_true(vb_tlv_find(buf->data, buf->len, 0x87, &tlv, &error));
	g_assert_cmphex(tlv.tag, ==, 0x87);
	g_assert_cmpuint(tlv.len, ==, 1);
	g_assert_cmphex(tlv.value[0], ==, 0x01);
	g_assert_true(vb_tlv_find(buf->data, buf->len, 0xbf0c, &tlv, &error));
	g_assert_true(tlv.constructed);
	g_assert_cmpuint(tlv.len, ==, 5);
	g_assert_true(vb_tlv_find(buf->data, buf->len, 0x5f2d, &tlv, &error));
	g_assert_cmphex(tlv.tag, ==, 0);
	g_assert_null(tlv.value);
}

/* the long length forms, and the padding EMV allows between elements */
static void
test_tlv_long_lengths(void)
{
	g_autoptr(GString) text = g_string_new("0000"
					       "7081");
	g_autoptr(GByteArray) buf = NULL;
	g_autoptr(GError) error = NULL;
	VbTlv tlv = {0};
	gsize offset = 0;

	g_string_append_printf(text, "%02X", 0x84);
	g_string_append(text, "5F2482007F");
	for (guint i = 0; i < 0x7f; i++)
		g_string_append(text, "11");
	g_string_append(text, "FF");
	buf = hex(text->str);
	g_assert_true(vb_tlv_next(buf->data, buf->len, &offset, &tlv, &error));
	g_assert_no_error(error);
	g_assert_cmphex(tlv.tag, ==, 0x70);
	g_assert_cmpuint(tlv.len, ==, 0x84);
	g_assert_true(vb_tlv_find(buf->data, buf->len, 0x5f24, &tlv, &error));
	g_assert_cmpuint(tlv.len, ==, 0x7f);
	/* only padding is left */
	g_assert_true(vb_tlv_next(buf->data, buf->len, &offset, &tlv, &error));
	g_assert_cmphex(tlv.tag, ==, 0);
	g_assert_cmpuint(offset, ==, buf->len);
}

static void
assert_refused(const gchar *text, const gchar *message)
{
	g_autoptr(GByteArray) buf = hex(text);
	g_autoptr(GError) error = NULL;
	VbTlv tlv = {.tag = 1};

	g_assert_false(vb_tlv_validate(buf->data, buf->len, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_nonnull(strstr(error->message, message));
	g_clear_error(&error);
	g_assert_false(vb_tlv_find(buf->data, buf->len, 0x5a, &tlv, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_cmphex(tlv.tag, ==, 0);
	g_assert_null(tlv.value);
}

/* every way an answer can lie about its size is refused, and says where */
static void
test_tlv_malformed(void)
{
	/* a value shorter than its length */
	assert_refused("6F10840E3250", "tag 6F says 16 bytes, 4 left");
	/* a length that would wrap */
	assert_refused("5A84FFFFFFF84111", "length of 4 bytes");
	/* the indefinite form */
	assert_refused("708000", "length of 0 bytes");
	/* a length cut short, a tag cut short, no length at all */
	assert_refused("5A82FF", "length cut");
	assert_refused("9F", "tag cut");
	assert_refused("5A", "no length");
	/* a tag of five bytes */
	assert_refused("9F8181818101", "tag longer than 4 bytes");
	/* a constructed element whose inside is broken */
	assert_refused("700457055A00", "says 5 bytes");
}

/* nesting is bounded, so a card cannot make the parser recurse without end */
static void
test_tlv_depth(void)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(GByteArray) buf = NULL;
	g_autoptr(GError) error = NULL;
	guint depth = VB_TLV_MAX_DEPTH + 2;

	for (guint i = 0; i < depth; i++)
		g_string_append_printf(text, "70%02X", 2 * (depth - i - 1) + 3);
	g_string_append(text, "5A0100");
	buf = hex(text->str);
	g_assert_false(vb_tlv_validate(buf->data, buf->len, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
	g_assert_nonnull(strstr(error->message, "nested deeper"));
}

/* a PDOL is tags and lengths without values */
static void
test_tlv_dol(void)
{
	g_autoptr(GByteArray) buf = hex("9F66049F02065F2A029A03");
	g_autoptr(GByteArray) cut = hex("9F6604"
					"9F");
	g_autoptr(GError) error = NULL;
	const guint32 tags[] = {0x9f66, 0x9f02, 0x5f2a, 0x9a};
	const gsize lens[] = {4, 6, 2, 3};
	gsize offset = 0;
	guint32 tag;
	gsize len;

	for (guint i = 0; i < G_N_ELEMENTS(tags); i++) {
		g_assert_true(vb_dol_next(buf->data, buf->len, &offset, &tag, &len, &error));
		g_assert_cmphex(tag, ==, tags[i]);
		g_assert_cmpuint(len, ==, lens[i]);
	}
	g_assert_true(vb_dol_next(buf->data, buf->len, &offset, &tag, &len, &error));
	g_assert_cmphex(tag, ==, 0);

	offset = 0;
	g_assert_true(vb_dol_next(cut->data, cut->len, &offset, &tag, &len, &error));
	g_assert_false(vb_dol_next(cut->data, cut->len, &offset, &tag, &len, &error));
	g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_DATA);
}

/* an empty answer has nothing in it, and that is not an error */
static void
test_tlv_empty(void)
{
	g_autoptr(GError) error = NULL;
	VbTlv tlv = {0};
	gsize offset = 0;

	g_assert_true(vb_tlv_validate(NULL, 0, &error));
	g_assert_true(vb_tlv_next(NULL, 0, &offset, &tlv, &error));
	g_assert_cmphex(tlv.tag, ==, 0);
	g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/nfc/tlv/find-nested", test_tlv_find_nested);
	g_test_add_func("/nfc/tlv/long-lengths", test_tlv_long_lengths);
	g_test_add_func("/nfc/tlv/malformed", test_tlv_malformed);
	g_test_add_func("/nfc/tlv/depth", test_tlv_depth);
	g_test_add_func("/nfc/tlv/dol", test_tlv_dol);
	g_test_add_func("/nfc/tlv/empty", test_tlv_empty);
	return g_test_run();
}
