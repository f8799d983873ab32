/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * turning what a shopper typed on the keypad into E.164.
 *
 * what this checks: only digits and the usual separators (spaces, dots,
 * dashes, parentheses, slashes) were typed, a '+' comes first if at all, the
 * whole number has 8 to 15 digits (E.164), and for the countries of the table
 * below the national significant number has a length that the country uses.
 * A trunk prefix typed after the country code ("+33 (0)6…") is dropped where
 * national numbers never start with it.
 *
 * what this does NOT check:
 * - that the number is allocated, in service, or reachable by SMS;
 * - whether it is a mobile or a fixed line (a fixed line cannot get the code);
 * - the ranges inside a national plan (area codes, mobile prefixes), except
 *   that a NANP area code does not start with 0 or 1;
 * - country-specific short codes, service and emergency numbers, which are
 *   refused only because they are too short;
 * - national lengths for a country code missing from the table: any country
 *   code given with '+' or '00' is accepted when the total length fits E.164.
 *
 * error messages never repeat the number: they may be logged or shown on the
 * display while someone else stands at the door.
 */

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "vb-error.h"
#include "vb-phone-private.h"

/* ITU-T E.164: at most 15 digits; the lower bound of 8 leaves out short
 * codes, which cannot be the shopper's own phone */
#define VB_PHONE_E164_MIN 8
#define VB_PHONE_E164_MAX 15
/* "00" or "011", a country code, a stray trunk prefix and 15 digits fit */
#define VB_PHONE_INPUT_DIGITS_MAX 20

typedef struct {
	const gchar *country; /* ISO 3166-1 alpha-2 */
	const gchar *cc;      /* country calling code */
	const gchar *trunk;   /* national trunk prefix, or NULL when there is none */
	guint nsn_min;	      /* national significant number length; 0: not checked */
	guint nsn_max;
	gboolean nanp; /* North American Numbering Plan: 10 digits, area code [2-9] */
} VbPhonePlan;

/* the lengths are those the national regulators publish, kept lenient where a
 * plan has many lengths (DE, AT, IT): refusing a real number is worse than
 * accepting a wrong one, which the optional SMS code catches anyway */
static const VbPhonePlan vb_phone_plans[] = {
    {"FR", "33", "0", 9, 9, FALSE},
    {"BE", "32", "0", 8, 9, FALSE},
    {"CH", "41", "0", 9, 9, FALSE},
    {"DE", "49", "0", 6, 13, FALSE},
    {"ES", "34", NULL, 9, 9, FALSE},
    {"IT", "39", NULL, 6, 11, FALSE}, /* fixed lines keep their leading 0 */
    {"NL", "31", "0", 9, 9, FALSE},
    {"LU", "352", NULL, 5, 11, FALSE},
    {"PT", "351", NULL, 9, 9, FALSE},
    {"AT", "43", "0", 4, 13, FALSE},
    {"IE", "353", "0", 7, 9, FALSE},
    {"GB", "44", "0", 9, 10, FALSE},
    {"US", "1", "1", 10, 10, TRUE},
    {"CA", "1", "1", 10, 10, TRUE},
    /* known calling code and trunk prefix, length checked against E.164 only */
    {"DK", "45", NULL, 0, 0, FALSE},
    {"SE", "46", "0", 0, 0, FALSE},
    {"NO", "47", NULL, 0, 0, FALSE},
    {"PL", "48", NULL, 0, 0, FALSE},
    {"FI", "358", "0", 0, 0, FALSE},
    {"GR", "30", NULL, 0, 0, FALSE},
    {"CZ", "420", NULL, 0, 0, FALSE},
    {"SK", "421", "0", 0, 0, FALSE},
    {"SI", "386", "0", 0, 0, FALSE},
    {"HR", "385", "0", 0, 0, FALSE},
    {"RO", "40", "0", 0, 0, FALSE},
    {"BG", "359", "0", 0, 0, FALSE},
    {"EE", "372", NULL, 0, 0, FALSE},
    {"LV", "371", NULL, 0, 0, FALSE},
    {"MT", "356", NULL, 0, 0, FALSE},
    {"CY", "357", NULL, 0, 0, FALSE},
    {"MC", "377", NULL, 0, 0, FALSE},
    {"IS", "354", NULL, 0, 0, FALSE},
    {"AU", "61", "0", 0, 0, FALSE},
    {"NZ", "64", "0", 0, 0, FALSE},
    {"JP", "81", "0", 0, 0, FALSE},
    {"MA", "212", "0", 0, 0, FALSE},
};

static const VbPhonePlan *
vb_phone_plan_for_country(const gchar *country)
{
	if (country == NULL)
		return NULL;
	for (guint i = 0; i < G_N_ELEMENTS(vb_phone_plans); i++) {
		if (g_ascii_strcasecmp(vb_phone_plans[i].country, country) == 0)
			return &vb_phone_plans[i];
	}
	return NULL;
}

/* country codes are prefix-free, so the first match is the only one; the
 * first row of a shared code (US for +1) carries the rules of all */
static const VbPhonePlan *
vb_phone_plan_for_digits(const gchar *digits)
{
	for (guint i = 0; i < G_N_ELEMENTS(vb_phone_plans); i++) {
		if (g_str_has_prefix(digits, vb_phone_plans[i].cc))
			return &vb_phone_plans[i];
	}
	return NULL;
}

/* keeps the digits of @input in @digits; a leading '+' sets @plus */
static gboolean
vb_phone_collect_digits(const gchar *input, gchar *digits, gboolean *plus, GError **error)
{
	gsize n = 0;
	gboolean started = FALSE;

	*plus = FALSE;
	for (const gchar *p = input; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p)) {
			if (n == VB_PHONE_INPUT_DIGITS_MAX) {
				g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
						    _("the number has too many digits: a phone "
						      "number has at most 15, check it and type "
						      "it again"));
				return FALSE;
			}
			digits[n++] = *p;
			started = TRUE;
		} else if (*p == '+') {
			if (started) {
				g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
						    _("a '+' can only start the number: type "
						      "it again with the '+' first"));
				return FALSE;
			}
			*plus = TRUE;
			started = TRUE;
		} else if (g_ascii_isspace(*p) || strchr(".-()/", *p) != NULL) {
			/* how numbers are printed: "06.12…", "(212) 555-…", "030/…" */
			continue;
		} else if (g_ascii_isalpha(*p)) {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    _("a phone number has no letters: type it again "
					      "with digits only"));
			return FALSE;
		} else {
			g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
					    _("the number has a character that is not a digit: "
					      "type it again with digits only"));
			return FALSE;
		}
	}
	digits[n] = '\0';
	if (n == 0) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("no phone number was typed: type it with its area code"));
		return FALSE;
	}
	return TRUE;
}

/* @label names the plan in messages: "FR" or "+33", never the number */
static gboolean
vb_phone_check_nsn(const VbPhonePlan *plan, const gchar *label, const gchar *nsn, GError **error)
{
	gsize len = strlen(nsn);

	if (plan->nsn_min != 0 && len < plan->nsn_min) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the number has too few digits for %s: type it with its area code"),
			    label);
		return FALSE;
	}
	if (plan->nsn_max != 0 && len > plan->nsn_max) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("the number has too many digits for %s: check it and type it "
			      "again"),
			    label);
		return FALSE;
	}
	if (plan->nanp && (nsn[0] == '0' || nsn[0] == '1')) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("an area code for %s does not start with 0 or 1: check the number "
			      "and type it again"),
			    label);
		return FALSE;
	}
	return TRUE;
}

static gchar *
vb_phone_build(const gchar *cc, const gchar *nsn, GError **error)
{
	gsize len = strlen(cc) + strlen(nsn);

	if (len < VB_PHONE_E164_MIN) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the number has too few digits: type it with its country "
				      "code or its area code"));
		return NULL;
	}
	if (len > VB_PHONE_E164_MAX) {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the number has too many digits: a phone number has at "
				      "most 15, check it and type it again"));
		return NULL;
	}
	return g_strconcat("+", cc, nsn, NULL);
}

/* @digits follow "+", "00" or "011": a country code, then the national number */
static gchar *
vb_phone_normalize_international(const gchar *digits, GError **error)
{
	const VbPhonePlan *plan;
	const gchar *nsn;
	g_autofree gchar *label = NULL;

	if (digits[0] == '\0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("the number has no digits after its international "
				      "prefix: type the country code and the number"));
		return NULL;
	}
	if (digits[0] == '0') {
		g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_DATA,
				    _("no country code starts with 0: check the number and type "
				      "it again"));
		return NULL;
	}
	plan = vb_phone_plan_for_digits(digits);
	if (plan == NULL) {
		/* E.164 allows any country code; only the total length can be checked */
		return vb_phone_build("", digits, error);
	}

	nsn = digits + strlen(plan->cc);
	/* "+33 (0)6…": where national numbers never start with the trunk prefix,
	 * one typed after the country code is a common slip, not a different number */
	if (g_strcmp0(plan->trunk, "0") == 0 && nsn[0] == '0')
		nsn++;
	label = g_strconcat("+", plan->cc, NULL);
	/* a second one is no slip, and keeping it would give a number that is not
	 * E.164 and that normalizes again to another one */
	if (g_strcmp0(plan->trunk, "0") == 0 && nsn[0] == '0') {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("a number after %s does not start with 00: check it and type it "
			      "again"),
			    label);
		return NULL;
	}
	if (!vb_phone_check_nsn(plan, label, nsn, error))
		return NULL;
	return vb_phone_build(plan->cc, nsn, error);
}

static gchar *
vb_phone_normalize_national(const gchar *digits, const VbPhonePlan *plan, GError **error)
{
	const gchar *nsn = digits;
	gsize len = strlen(digits);

	if (plan->nanp) {
		/* "1 212 555 0123": the leading 1 is NANP's trunk prefix */
		if (len == plan->nsn_max + 1 && digits[0] == '1')
			nsn++;
	} else if (plan->trunk != NULL && g_str_has_prefix(digits, plan->trunk)) {
		nsn += strlen(plan->trunk);
	}
	/* without the trunk prefix the number is taken as it is, and its length
	 * decides */
	if (!vb_phone_check_nsn(plan, plan->country, nsn, error))
		return NULL;
	return vb_phone_build(plan->cc, nsn, error);
}

gchar *
vb_phone_normalize(const gchar *input, const gchar *country, GError **error)
{
	gchar digits[VB_PHONE_INPUT_DIGITS_MAX + 1];
	gboolean plus = FALSE;
	const VbPhonePlan *plan;

	g_return_val_if_fail(input != NULL, NULL);
	g_return_val_if_fail(error == NULL || *error == NULL, NULL);

	if (!vb_phone_collect_digits(input, digits, &plus, error))
		return NULL;
	plan = vb_phone_plan_for_country(country);
	if (plus)
		return vb_phone_normalize_international(digits, error);
	if (g_str_has_prefix(digits, "00"))
		return vb_phone_normalize_international(digits + 2, error);
	if (plan != NULL && plan->nanp && g_str_has_prefix(digits, "011"))
		return vb_phone_normalize_international(digits + 3, error);
	if (plan == NULL) {
		g_set_error(error, VB_ERROR, VB_ERROR_INVALID_DATA,
			    _("national numbers of country %s are not known here: type the "
			      "number with '+' and its country code"),
			    country != NULL ? country : "(none)");
		return NULL;
	}
	return vb_phone_normalize_national(digits, plan, error);
}
