/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vb-metrics-private.h"

/**
 * VbMetrics:
 *
 * Counters and gauges that the core and plugins update, rendered in the
 * Prometheus text exposition format for `GET /metrics`.
 *
 * Every update takes a lock, so plugin worker threads may count too.
 *
 * Since: 0.1
 */

typedef struct {
	gchar *name;
	gchar *help;
	VbMetricKind kind;
	GHashTable *values; /* labels (gchar*) -> gdouble* */
} VbMetricFamily;

struct _VbMetrics {
	GObject parent_instance;
	GMutex mutex;
	GHashTable *families; /* name -> VbMetricFamily */
};

G_DEFINE_TYPE(VbMetrics, vb_metrics, G_TYPE_OBJECT)

static void
vb_metric_family_free(VbMetricFamily *family)
{
	g_free(family->name);
	g_free(family->help);
	g_hash_table_unref(family->values);
	g_free(family);
}

/* a metric name as Prometheus's data model has it, less the colons that it
 * keeps for recording rules and the leading __ that it keeps for itself */
static gboolean
vb_metrics_name_is_valid(const gchar *name)
{
	if (name == NULL || name[0] == '\0' || g_ascii_isdigit(name[0]) ||
	    g_str_has_prefix(name, "__"))
		return FALSE;
	for (const gchar *p = name; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '_')
			return FALSE;
	}
	return TRUE;
}

/* a label name follows the same rule; Prometheus allows no colon there at all */
static gboolean
vb_metrics_label_name_is_valid(const gchar *name)
{
	return vb_metrics_name_is_valid(name);
}

/* TRUE if @labels is empty or name="value" pairs joined by commas, as the text
 * format wants them: valid names, each once, and values in UTF-8 with only
 * backslash, double quote and newline escaped, and escaped so. Anything else
 * would break the whole scrape, not just one line of it */
static gboolean
vb_metrics_labels_are_valid(const gchar *labels)
{
	g_autoptr(GPtrArray) names = NULL;
	const gchar *p = labels;

	if (labels == NULL || labels[0] == '\0')
		return TRUE;
	if (!g_utf8_validate(labels, -1, NULL))
		return FALSE;
	names = g_ptr_array_new_with_free_func(g_free);
	for (;;) {
		const gchar *start = p;
		g_autofree gchar *name = NULL;

		while (g_ascii_isalnum(*p) || *p == '_')
			p++;
		name = g_strndup(start, p - start);
		if (!vb_metrics_label_name_is_valid(name) ||
		    g_ptr_array_find_with_equal_func(names, name, g_str_equal, NULL))
			return FALSE;
		g_ptr_array_add(names, g_steal_pointer(&name));
		if (*p++ != '=' || *p++ != '"')
			return FALSE;
		for (; *p != '"'; p++) {
			if (*p == '\0' || *p == '\n')
				return FALSE;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return FALSE;
			}
		}
		p++;
		if (*p == '\0')
			return TRUE;
		if (*p++ != ',')
			return FALSE;
	}
}

static const gchar *
vb_metric_kind_to_string(VbMetricKind kind)
{
	if (kind == VB_METRIC_GAUGE)
		return "gauge";
	return "counter";
}

/* called with the lock held */
static VbMetricFamily *
vb_metrics_declare_locked(VbMetrics *self, const gchar *name, VbMetricKind kind, const gchar *help)
{
	VbMetricFamily *family = g_hash_table_lookup(self->families, name);

	if (family != NULL) {
		if (family->kind != kind) {
			g_warning("metric %s was declared as a %s and is now declared as a %s; "
				  "keeping the first",
				  name, vb_metric_kind_to_string(family->kind),
				  vb_metric_kind_to_string(kind));
			return family;
		}
		g_free(family->help);
		family->help = g_strdup(help != NULL ? help : "");
		return family;
	}
	family = g_new0(VbMetricFamily, 1);
	family->name = g_strdup(name);
	family->help = g_strdup(help != NULL ? help : "");
	family->kind = kind;
	family->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_insert(self->families, family->name, family);
	return family;
}

/* called with the lock held; an undeclared name is a bug in the caller, so say
 * so once and then count it anyway rather than lose the value */
static VbMetricFamily *
vb_metrics_ensure_locked(VbMetrics *self, const gchar *name, VbMetricKind kind)
{
	VbMetricFamily *family = g_hash_table_lookup(self->families, name);

	if (family != NULL)
		return family;
	g_warning("metric %s is used without vb_metrics_declare(); declaring it as a %s", name,
		  vb_metric_kind_to_string(kind));
	return vb_metrics_declare_locked(self, name, kind, NULL);
}

static gdouble *
vb_metric_family_lookup_value(VbMetricFamily *family, const gchar *labels)
{
	gdouble *value = g_hash_table_lookup(family->values, labels != NULL ? labels : "");

	if (value == NULL) {
		value = g_new0(gdouble, 1);
		g_hash_table_insert(family->values, g_strdup(labels != NULL ? labels : ""), value);
	}
	return value;
}

/**
 * vb_metrics_new:
 *
 * Creates an empty set of metrics.
 *
 * Returns: (transfer full): a new #VbMetrics
 *
 * Since: 0.1
 */
VbMetrics *
vb_metrics_new(void)
{
	return g_object_new(VB_TYPE_METRICS, NULL);
}

/**
 * vb_metrics_declare:
 * @self: a #VbMetrics
 * @name: the metric name, such as `vestibule_visits_total`
 * @kind: a counter or a gauge
 * @help: the one-line description shown in the `# HELP` line
 *
 * Declares a metric so that it is rendered with its type and help text, even
 * before it has a value. Declaring it again updates the help text.
 *
 * Name it as Prometheus's conventions say: the `vestibule_` prefix, what is
 * measured in its base unit (`_seconds`, `_bytes`), and `_total` at the end of
 * a counter. One metric per concept: what differs between plugins or
 * instances goes in labels, such as `provider` and `instance`, not in the
 * name. A name that Prometheus would refuse (one holding a `-`, or starting
 * with a digit) or keeps for itself (one holding a `:`, which is for recording
 * rules, or starting with `__`) is refused with a critical warning, as are
 * vb_metrics_add() and vb_metrics_set() with it.
 *
 * Since: 0.1
 */
void
vb_metrics_declare(VbMetrics *self, const gchar *name, VbMetricKind kind, const gchar *help)
{
	g_autoptr(GMutexLocker) locker = NULL;

	g_return_if_fail(VB_IS_METRICS(self));
	g_return_if_fail(vb_metrics_name_is_valid(name));

	locker = g_mutex_locker_new(&self->mutex);
	vb_metrics_declare_locked(self, name, kind, help);
}

/**
 * vb_metrics_add:
 * @self: a #VbMetrics
 * @name: a declared metric name
 * @labels: (nullable): the label pairs, such as `code="200",listener="public"`, as
 *   vb_metrics_labels() builds them
 * @delta: the amount to add; must not be negative for a counter
 *
 * Adds @delta to the value of @name with @labels, starting from zero.
 *
 * Labels that the text format would not carry (an invalid name, a value with
 * an unescaped double quote or backslash) are refused with a critical
 * warning, and nothing is counted: build them with vb_metrics_labels().
 *
 * Since: 0.1
 */
void
vb_metrics_add(VbMetrics *self, const gchar *name, const gchar *labels, gdouble delta)
{
	g_autoptr(GMutexLocker) locker = NULL;
	VbMetricFamily *family;

	g_return_if_fail(VB_IS_METRICS(self));
	g_return_if_fail(vb_metrics_name_is_valid(name));
	g_return_if_fail(vb_metrics_labels_are_valid(labels));

	locker = g_mutex_locker_new(&self->mutex);
	family = vb_metrics_ensure_locked(self, name, VB_METRIC_COUNTER);
	if (family->kind == VB_METRIC_COUNTER && delta < 0) {
		g_warning("counter %s cannot go down; use a gauge", name);
		return;
	}
	*vb_metric_family_lookup_value(family, labels) += delta;
}

/**
 * vb_metrics_set:
 * @self: a #VbMetrics
 * @name: a declared metric name
 * @labels: (nullable): the label pairs, such as `door="front"`, as
 *   vb_metrics_labels() builds them
 * @value: the new value
 *
 * Sets the value of @name with @labels, typically of a gauge. Labels are
 * checked as vb_metrics_add() checks them.
 *
 * Since: 0.1
 */
void
vb_metrics_set(VbMetrics *self, const gchar *name, const gchar *labels, gdouble value)
{
	g_autoptr(GMutexLocker) locker = NULL;
	VbMetricFamily *family;

	g_return_if_fail(VB_IS_METRICS(self));
	g_return_if_fail(vb_metrics_name_is_valid(name));
	g_return_if_fail(vb_metrics_labels_are_valid(labels));

	locker = g_mutex_locker_new(&self->mutex);
	family = vb_metrics_ensure_locked(self, name, VB_METRIC_GAUGE);
	*vb_metric_family_lookup_value(family, labels) = value;
}

/**
 * vb_metrics_get:
 * @self: a #VbMetrics
 * @name: a metric name
 * @labels: (nullable): the label pairs
 *
 * Gets the current value of @name with @labels.
 *
 * Returns: the value, or 0 if it was never set
 *
 * Since: 0.1
 */
gdouble
vb_metrics_get(VbMetrics *self, const gchar *name, const gchar *labels)
{
	g_autoptr(GMutexLocker) locker = NULL;
	VbMetricFamily *family;
	gdouble *value;

	g_return_val_if_fail(VB_IS_METRICS(self), 0);
	g_return_val_if_fail(name != NULL, 0);

	locker = g_mutex_locker_new(&self->mutex);
	family = g_hash_table_lookup(self->families, name);
	if (family == NULL)
		return 0;
	value = g_hash_table_lookup(family->values, labels != NULL ? labels : "");
	return value != NULL ? *value : 0;
}

/* a label name Prometheus accepts, made from @name: each other character
 * becomes an underscore, a leading digit gets one before it, and a leading
 * double underscore (Prometheus's own) loses one */
static gchar *
vb_metrics_label_name_repair(const gchar *name)
{
	GString *out = g_string_new(NULL);

	if (name[0] == '\0' || g_ascii_isdigit(name[0]))
		g_string_append_c(out, '_');
	for (const gchar *p = name; *p != '\0'; p++)
		g_string_append_c(out, g_ascii_isalnum(*p) ? *p : '_');
	while (g_str_has_prefix(out->str, "__"))
		g_string_erase(out, 0, 1);
	return g_string_free(out, FALSE);
}

/* a label value as the text format escapes it, in UTF-8 whatever it held */
static void
vb_metrics_append_label_value(GString *out, const gchar *value)
{
	g_autofree gchar *valid = g_utf8_make_valid(value != NULL ? value : "", -1);

	for (const gchar *p = valid; *p != '\0'; p++) {
		if (*p == '\\')
			g_string_append(out, "\\\\");
		else if (*p == '"')
			g_string_append(out, "\\\"");
		else if (*p == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *p);
	}
}

/**
 * vb_metrics_labels:
 * @first_name: (nullable): the name of the first label, such as `instance`
 * @...: its value (%NULL for an empty one), then more names and values, ending
 *   with %NULL
 *
 * Builds the labels argument of vb_metrics_add(), vb_metrics_set() and
 * vb_metrics_get() from pairs of names and values, escaped as the Prometheus
 * text format wants: a backslash, a double quote and a newline in a value
 * become `\\`, `\"` and `\n`, and bytes that are not UTF-8 become U+FFFD.
 * Use it whenever a value comes from outside the code: an instance name, a
 * kind, an event name, a path.
 *
 * |[<!-- language="C" -->
 * g_autofree gchar *labels =
 *     vb_metrics_labels("provider", "twilio", "instance", name, NULL);
 * vb_metrics_add(metrics, "vestibule_sms_provider_requests_total", labels, 1);
 * ]|
 *
 * A name that is not a valid label name is repaired, with a warning: `my-hook`
 * becomes `my_hook`. A name given twice is kept once, with the first value.
 * The labels come out in the order given, and vb_metrics_get() must be given
 * them in the same order.
 *
 * Returns: (transfer full): the labels, such as
 *   `provider="twilio",instance="main"`; the empty string for none
 *
 * Since: 0.3
 */
gchar *
vb_metrics_labels(const gchar *first_name, ...)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	va_list args;

	va_start(args, first_name);
	for (const gchar *name = first_name; name != NULL; name = va_arg(args, const gchar *)) {
		const gchar *value = va_arg(args, const gchar *);
		g_autofree gchar *fixed = NULL;

		if (vb_metrics_label_name_is_valid(name)) {
			fixed = g_strdup(name);
		} else {
			fixed = vb_metrics_label_name_repair(name);
			g_warning("'%s' is not a valid Prometheus label name; using '%s'", name,
				  fixed);
		}
		if (g_ptr_array_find_with_equal_func(names, fixed, g_str_equal, NULL)) {
			g_warning("label %s is given twice; keeping the first value", fixed);
			continue;
		}
		if (out->len > 0)
			g_string_append_c(out, ',');
		g_string_append_printf(out, "%s=\"", fixed);
		vb_metrics_append_label_value(out, value);
		g_string_append_c(out, '"');
		g_ptr_array_add(names, g_steal_pointer(&fixed));
	}
	va_end(args);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* the exposition format escapes only backslash and newline in help text */
static void
vb_metrics_append_help(GString *out, const gchar *help)
{
	for (const gchar *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			g_string_append(out, "\\\\");
		else if (*p == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *p);
	}
}

static void
vb_metrics_append_value(GString *out, gdouble value)
{
	gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(value)) {
		g_string_append(out, "NaN");
	} else if (isinf(value)) {
		g_string_append(out, value > 0 ? "+Inf" : "-Inf");
	} else if (value == floor(value) && fabs(value) < 9007199254740992.0) {
		/* whole numbers without an exponent, as people read counters */
		g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)value);
	} else {
		/* the fewest digits that read back as the same value: 0.03, not
		 * 0.029999999999999999 */
		for (gint digits = 1; digits <= 17; digits++) {
			gchar format[8];

			g_snprintf(format, sizeof(format), "%%.%dg", digits);
			g_ascii_formatd(buf, sizeof(buf), format, value);
			if (g_ascii_strtod(buf, NULL) == value)
				break;
		}
		g_string_append(out, buf);
	}
}

static gint
vb_metrics_strcmp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/**
 * vb_metrics_render:
 * @self: a #VbMetrics
 *
 * Renders every metric in the Prometheus text exposition format (version
 * 0.0.4), sorted by name and then by labels so that the output is stable.
 *
 * Returns: (transfer full): the text
 *
 * Since: 0.1
 */
gchar *
vb_metrics_render(VbMetrics *self)
{
	g_autoptr(GMutexLocker) locker = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	GHashTableIter iter;
	gpointer key;

	g_return_val_if_fail(VB_IS_METRICS(self), NULL);

	locker = g_mutex_locker_new(&self->mutex);
	g_hash_table_iter_init(&iter, self->families);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(names, key);
	g_ptr_array_sort(names, vb_metrics_strcmp);

	for (guint i = 0; i < names->len; i++) {
		VbMetricFamily *family = g_hash_table_lookup(self->families, names->pdata[i]);
		g_autoptr(GPtrArray) labels = g_ptr_array_new();

		if (family->help[0] != '\0') {
			g_string_append_printf(out, "# HELP %s ", family->name);
			vb_metrics_append_help(out, family->help);
			g_string_append_c(out, '\n');
		}
		g_string_append_printf(out, "# TYPE %s %s\n", family->name,
				       vb_metric_kind_to_string(family->kind));

		g_hash_table_iter_init(&iter, family->values);
		while (g_hash_table_iter_next(&iter, &key, NULL))
			g_ptr_array_add(labels, key);
		g_ptr_array_sort(labels, vb_metrics_strcmp);
		for (guint j = 0; j < labels->len; j++) {
			const gchar *label = labels->pdata[j];
			gdouble *value = g_hash_table_lookup(family->values, label);

			g_string_append(out, family->name);
			if (label[0] != '\0')
				g_string_append_printf(out, "{%s}", label);
			g_string_append_c(out, ' ');
			vb_metrics_append_value(out, *value);
			g_string_append_c(out, '\n');
		}
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
vb_metrics_finalize(GObject *object)
{
	VbMetrics *self = VB_METRICS(object);

	g_hash_table_unref(self->families);
	g_mutex_clear(&self->mutex);
	G_OBJECT_CLASS(vb_metrics_parent_class)->finalize(object);
}

static void
vb_metrics_init(VbMetrics *self)
{
	g_mutex_init(&self->mutex);
	self->families = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					       (GDestroyNotify)vb_metric_family_free);
}

static void
vb_metrics_class_init(VbMetricsClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);

	object_class->finalize = vb_metrics_finalize;
}

/* the fields of /proc/self/stat after the command's closing parenthesis:
 * the command itself may hold spaces and parentheses */
static gchar **
vb_metrics_read_stat(void)
{
	g_autofree gchar *text = NULL;
	gchar *rest;

	if (!g_file_get_contents("/proc/self/stat", &text, NULL, NULL))
		return NULL;
	rest = strrchr(text, ')');
	if (rest == NULL)
		return NULL;
	return g_strsplit(g_strstrip(rest + 1), " ", -1);
}

/* when the system started, in seconds since the epoch, or 0; read once, as
 * it does not change */
static gdouble
vb_metrics_boot_time(void)
{
	static gsize boot_time_once = 0;
	static gdouble boot_time = 0;

	if (g_once_init_enter(&boot_time_once)) {
		g_autofree gchar *text = NULL;
		const gchar *line = NULL;

		if (g_file_get_contents("/proc/stat", &text, NULL, NULL))
			line = strstr(text, "\nbtime ");
		if (line != NULL)
			boot_time = g_ascii_strtod(line + strlen("\nbtime "), NULL);
		g_once_init_leave(&boot_time_once, 1);
	}
	return boot_time;
}

/* the descriptors open, not counting the one that lists them, or -1 */
static gint
vb_metrics_open_fds(void)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
	gint count = 0;

	if (dir == NULL)
		return -1;
	while (g_dir_read_name(dir) != NULL)
		count++;
	return count - 1;
}

/* the process collector's metrics, as Prometheus's client libraries name
 * and describe them */
static const struct {
	const gchar *name;
	VbMetricKind kind;
	const gchar *help;
} vb_metrics_process[] = {
    {"process_resident_memory_bytes", VB_METRIC_GAUGE, "Resident memory size in bytes"},
    {"process_virtual_memory_bytes", VB_METRIC_GAUGE, "Virtual memory size in bytes"},
    {"process_cpu_seconds_total", VB_METRIC_COUNTER,
     "Total user and system CPU time spent in seconds"},
    {"process_start_time_seconds", VB_METRIC_GAUGE,
     "Start time of the process since unix epoch in seconds"},
    {"process_open_fds", VB_METRIC_GAUGE, "Number of open file descriptors"},
    {"process_max_fds", VB_METRIC_GAUGE, "Maximum number of open file descriptors"},
};

/* sets the process collector's metrics, under the names Prometheus's own
 * client libraries give them, so that the usual alerts and dashboards work;
 * a figure that /proc does not give is left out */
void
vb_metrics_sample_process(VbMetrics *self)
{
	/* fields of /proc/self/stat counted from its third, the state */
	enum {
		STAT_UTIME = 11,
		STAT_STIME = 12,
		STAT_STARTTIME = 19,
		STAT_VSIZE = 20,
		STAT_RSS = 21
	};
	g_auto(GStrv) stat = NULL;
	gdouble ticks = (gdouble)sysconf(_SC_CLK_TCK);
	gint fds;
	struct rlimit limit;

	g_return_if_fail(VB_IS_METRICS(self));

	stat = vb_metrics_read_stat();
	fds = vb_metrics_open_fds();

	for (guint i = 0; i < G_N_ELEMENTS(vb_metrics_process); i++)
		vb_metrics_declare(self, vb_metrics_process[i].name, vb_metrics_process[i].kind,
				   vb_metrics_process[i].help);

	if (stat != NULL && g_strv_length(stat) > STAT_RSS && ticks > 0) {
		gdouble boot = vb_metrics_boot_time();

		vb_metrics_set(self, "process_resident_memory_bytes", NULL,
			       g_ascii_strtod(stat[STAT_RSS], NULL) *
				   (gdouble)sysconf(_SC_PAGESIZE));
		vb_metrics_set(self, "process_virtual_memory_bytes", NULL,
			       g_ascii_strtod(stat[STAT_VSIZE], NULL));
		vb_metrics_set(self, "process_cpu_seconds_total", NULL,
			       (g_ascii_strtod(stat[STAT_UTIME], NULL) +
				g_ascii_strtod(stat[STAT_STIME], NULL)) /
				   ticks);
		if (boot > 0)
			vb_metrics_set(self, "process_start_time_seconds", NULL,
				       boot + g_ascii_strtod(stat[STAT_STARTTIME], NULL) / ticks);
	}
	if (fds >= 0)
		vb_metrics_set(self, "process_open_fds", NULL, fds);
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
		vb_metrics_set(self, "process_max_fds", NULL, (gdouble)limit.rlim_cur);
}
