/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/*
 * A fake libgpiod 1.6 for the tests: the same API (the real <gpiod.h> checks
 * every signature), built as libgpiod.so.2 so that the real vb-gpio.so, run
 * with LD_LIBRARY_PATH pointing here, calls it instead of the kernel's GPIO
 * character devices, which the test machines do not have.
 *
 * It plays the kernel: chips and lines held in memory, read from
 * $VB_FAKE_GPIOD_DIR/chips.ini; edge events written into a real pipe, whose
 * read end is the line's event fd, so that the plugin's main-loop source runs
 * as on a Pi. The test drives it through a Unix socket,
 * $VB_FAKE_GPIOD_DIR/control.sock ("set CHIP OFFSET LEVEL", "get CHIP
 * OFFSET"), and reads what the outputs did from $VB_FAKE_GPIOD_DIR/gpio.log,
 * one line per change with its CLOCK_MONOTONIC time, which outlives the
 * daemon:
 *
 *   TIME_US CHIP OFFSET output|set|release|input|events LEVEL
 *
 * LEVEL is always the physical level, after active-low, as a relay or a
 * multimeter sees it.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

typedef struct {
	gchar *name;
	gint phys;
	gboolean requested;
	gboolean output;
	gboolean active_low;
	gint edges; /* a GPIOD_LINE_REQUEST_EVENT_* or 0 */
	gint evfd[2];
	gchar *consumer;
} FakeLine;

typedef struct {
	gchar *name;
	gchar *label;
	guint n_lines;
	FakeLine *lines;
} FakeChip;

struct gpiod_chip {
	FakeChip *k;
	struct gpiod_line *handles;
};

struct gpiod_line {
	struct gpiod_chip *chip;
	guint offset;
};

static GMutex fake_lock;
static GPtrArray *fake_chips;
static gboolean fake_loaded;
static FILE *fake_log;

static FakeLine *
fake_line(struct gpiod_line *line)
{
	return &line->chip->k->lines[line->offset];
}

static void
fake_log_line(FakeChip *chip, guint offset, const gchar *what, gint phys)
{
	if (fake_log == NULL)
		return;
	fprintf(fake_log, "%" G_GINT64_FORMAT " %s %u %s %d\n", g_get_monotonic_time(), chip->name,
		offset, what, phys);
	fflush(fake_log);
}

static FakeChip *
fake_find_chip(const gchar *name)
{
	for (guint i = 0; fake_chips != NULL && i < fake_chips->len; i++) {
		FakeChip *chip = g_ptr_array_index(fake_chips, i);
		if (g_strcmp0(chip->name, name) == 0)
			return chip;
	}
	return NULL;
}

/* the kernel's side of an input that changed level: an edge event on its fd */
static void
fake_set_input(FakeChip *chip, guint offset, gint phys)
{
	FakeLine *line = &chip->lines[offset];
	gint old = line->phys ^ line->active_low;
	gint now = phys ^ line->active_low;
	struct gpiod_line_event ev = {0};

	line->phys = phys;
	if (!line->requested || line->edges == 0 || old == now)
		return;
	if (line->edges == GPIOD_LINE_REQUEST_EVENT_RISING_EDGE && now == 0)
		return;
	if (line->edges == GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE && now == 1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ev.ts);
	ev.event_type = now ? GPIOD_LINE_EVENT_RISING_EDGE : GPIOD_LINE_EVENT_FALLING_EDGE;
	if (write(line->evfd[1], &ev, sizeof(ev)) != sizeof(ev))
		g_printerr("fake-gpiod: cannot queue an event: %s\n", g_strerror(errno));
}

static gchar *
fake_command(const gchar *cmd)
{
	g_auto(GStrv) words = g_strsplit(g_strstrip((gchar *)cmd), " ", -1);
	guint n = g_strv_length(words);
	FakeChip *chip = n >= 3 ? fake_find_chip(words[1]) : NULL;
	guint64 offset = 0;

	if (chip == NULL)
		return g_strdup("error no such chip");
	if (!g_ascii_string_to_unsigned(words[2], 10, 0, chip->n_lines - 1, &offset, NULL))
		return g_strdup("error no such line");
	if (g_strcmp0(words[0], "set") == 0 && n == 4) {
		if (chip->lines[offset].output)
			return g_strdup("error the line is an output");
		fake_set_input(chip, (guint)offset, g_strcmp0(words[3], "0") == 0 ? 0 : 1);
		return g_strdup("ok");
	}
	if (g_strcmp0(words[0], "get") == 0 && n == 3)
		return g_strdup_printf("ok %d", chip->lines[offset].phys);
	return g_strdup("error unknown command");
}

static gpointer
fake_control_thread(gpointer data)
{
	gint server = GPOINTER_TO_INT(data);

	for (;;) {
		gint fd = accept4(server, NULL, NULL, SOCK_CLOEXEC);
		GString *line = g_string_new(NULL);
		gchar c;

		if (fd < 0) {
			g_string_free(line, TRUE);
			if (errno == EINTR)
				continue;
			return NULL;
		}
		while (read(fd, &c, 1) == 1) {
			g_autofree gchar *reply = NULL;
			g_autofree gchar *out = NULL;
			if (c != '\n') {
				g_string_append_c(line, c);
				continue;
			}
			g_mutex_lock(&fake_lock);
			reply = fake_command(line->str);
			g_mutex_unlock(&fake_lock);
			out = g_strconcat(reply, "\n", NULL);
			if (write(fd, out, strlen(out)) < 0)
				break;
			g_string_truncate(line, 0);
		}
		g_string_free(line, TRUE);
		close(fd);
	}
}

static void
fake_start_control(const gchar *dir)
{
	g_autofree gchar *path = g_build_filename(dir, "control.sock", NULL);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gint fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(addr.sun_path))
		return;
	strcpy(addr.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return;
	}
	g_thread_unref(g_thread_new("fake-gpiod", fake_control_thread, GINT_TO_POINTER(fd)));
}

/* called with the lock held */
static void
fake_load(void)
{
	const gchar *dir = g_getenv("VB_FAKE_GPIOD_DIR");
	g_autofree gchar *ini = NULL;
	g_autofree gchar *log = NULL;
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_auto(GStrv) groups = NULL;

	if (fake_loaded)
		return;
	fake_loaded = TRUE;
	fake_chips = g_ptr_array_new();
	if (dir == NULL)
		return;
	ini = g_build_filename(dir, "chips.ini", NULL);
	log = g_build_filename(dir, "gpio.log", NULL);
	fake_log = fopen(log, "ae");
	if (!g_key_file_load_from_file(kf, ini, G_KEY_FILE_NONE, NULL))
		return;
	groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		FakeChip *chip = g_new0(FakeChip, 1);
		g_auto(GStrv) names =
		    g_key_file_get_string_list(kf, groups[i], "names", NULL, NULL);
		gsize n_values = 0;
		g_autofree gint *values =
		    g_key_file_get_integer_list(kf, groups[i], "values", &n_values, NULL);

		chip->name = g_strdup(groups[i]);
		chip->label = g_key_file_get_string(kf, groups[i], "label", NULL);
		chip->n_lines = (guint)g_key_file_get_integer(kf, groups[i], "lines", NULL);
		chip->lines = g_new0(FakeLine, chip->n_lines);
		for (guint j = 0; j < chip->n_lines; j++) {
			FakeLine *line = &chip->lines[j];
			if (names != NULL && j < g_strv_length(names) && names[j][0] != '\0')
				line->name = g_strdup(names[j]);
			line->phys = j < n_values ? values[j] : 0;
			line->evfd[0] = line->evfd[1] = -1;
		}
		g_ptr_array_add(fake_chips, chip);
	}
	fake_start_control(dir);
}

static struct gpiod_chip *
fake_open(FakeChip *k)
{
	struct gpiod_chip *chip;

	if (k == NULL) {
		errno = ENOENT;
		return NULL;
	}
	chip = g_new0(struct gpiod_chip, 1);
	chip->k = k;
	chip->handles = g_new0(struct gpiod_line, k->n_lines);
	for (guint i = 0; i < k->n_lines; i++) {
		chip->handles[i].chip = chip;
		chip->handles[i].offset = i;
	}
	return chip;
}

struct gpiod_chip *
gpiod_chip_open_by_name(const char *name)
{
	struct gpiod_chip *chip;

	g_mutex_lock(&fake_lock);
	fake_load();
	chip = fake_open(fake_find_chip(name));
	g_mutex_unlock(&fake_lock);
	return chip;
}

struct gpiod_chip *
gpiod_chip_open(const char *path)
{
	g_autofree gchar *base = g_path_get_basename(path);

	if (!g_str_has_prefix(path, "/dev/")) {
		errno = ENOENT;
		return NULL;
	}
	return gpiod_chip_open_by_name(base);
}

struct gpiod_chip *
gpiod_chip_open_by_number(unsigned int num)
{
	g_autofree gchar *name = g_strdup_printf("gpiochip%u", num);
	return gpiod_chip_open_by_name(name);
}

struct gpiod_chip *
gpiod_chip_open_by_label(const char *label)
{
	struct gpiod_chip *chip = NULL;

	g_mutex_lock(&fake_lock);
	fake_load();
	for (guint i = 0; i < fake_chips->len && chip == NULL; i++) {
		FakeChip *k = g_ptr_array_index(fake_chips, i);
		if (g_strcmp0(k->label, label) == 0)
			chip = fake_open(k);
	}
	g_mutex_unlock(&fake_lock);
	if (chip == NULL)
		errno = ENOENT;
	return chip;
}

struct gpiod_chip *
gpiod_chip_open_lookup(const char *descr)
{
	struct gpiod_chip *chip = gpiod_chip_open_by_name(descr);

	if (chip == NULL)
		chip = gpiod_chip_open_by_label(descr);
	if (chip == NULL)
		chip = gpiod_chip_open(descr);
	return chip;
}

static void
fake_release(struct gpiod_line *handle)
{
	FakeLine *line = fake_line(handle);

	if (!line->requested)
		return;
	if (line->output)
		fake_log_line(handle->chip->k, handle->offset, "release", line->phys);
	if (line->evfd[0] >= 0) {
		close(line->evfd[0]);
		close(line->evfd[1]);
		line->evfd[0] = line->evfd[1] = -1;
	}
	line->requested = FALSE;
	line->output = FALSE;
	line->edges = 0;
	line->active_low = FALSE;
	g_clear_pointer(&line->consumer, g_free);
}

void
gpiod_chip_close(struct gpiod_chip *chip)
{
	g_mutex_lock(&fake_lock);
	for (guint i = 0; i < chip->k->n_lines; i++)
		fake_release(&chip->handles[i]);
	g_mutex_unlock(&fake_lock);
	g_free(chip->handles);
	g_free(chip);
}

const char *
gpiod_chip_name(struct gpiod_chip *chip)
{
	return chip->k->name;
}

const char *
gpiod_chip_label(struct gpiod_chip *chip)
{
	return chip->k->label != NULL ? chip->k->label : "";
}

unsigned int
gpiod_chip_num_lines(struct gpiod_chip *chip)
{
	return chip->k->n_lines;
}

struct gpiod_line *
gpiod_chip_get_line(struct gpiod_chip *chip, unsigned int offset)
{
	if (offset >= chip->k->n_lines) {
		errno = EINVAL;
		return NULL;
	}
	return &chip->handles[offset];
}

struct gpiod_line *
gpiod_chip_find_line(struct gpiod_chip *chip, const char *name)
{
	for (guint i = 0; i < chip->k->n_lines; i++) {
		if (g_strcmp0(chip->k->lines[i].name, name) == 0)
			return &chip->handles[i];
	}
	errno = ENOENT;
	return NULL;
}

unsigned int
gpiod_line_offset(struct gpiod_line *line)
{
	return line->offset;
}

const char *
gpiod_line_name(struct gpiod_line *line)
{
	return fake_line(line)->name;
}

const char *
gpiod_line_consumer(struct gpiod_line *line)
{
	return fake_line(line)->consumer;
}

struct gpiod_chip *
gpiod_line_get_chip(struct gpiod_line *line)
{
	return line->chip;
}

bool
gpiod_line_is_requested(struct gpiod_line *line)
{
	return fake_line(line)->requested;
}

bool
gpiod_line_is_free(struct gpiod_line *line)
{
	return !fake_line(line)->requested;
}

int
gpiod_line_request(struct gpiod_line *handle,
		   const struct gpiod_line_request_config *config,
		   int default_val)
{
	FakeLine *line;
	gint ret = 0;

	g_mutex_lock(&fake_lock);
	line = fake_line(handle);
	if (line->requested) {
		errno = EBUSY;
		ret = -1;
	} else {
		line->requested = TRUE;
		line->consumer = g_strdup(config->consumer);
		line->active_low = (config->flags & GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) != 0;
		switch (config->request_type) {
		case GPIOD_LINE_REQUEST_DIRECTION_OUTPUT:
			line->output = TRUE;
			line->phys = (default_val ? 1 : 0) ^ line->active_low;
			fake_log_line(handle->chip->k, handle->offset, "output", line->phys);
			break;
		case GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE:
		case GPIOD_LINE_REQUEST_EVENT_RISING_EDGE:
		case GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES:
			line->edges = config->request_type;
			if (pipe2(line->evfd, O_CLOEXEC | O_NONBLOCK) < 0) {
				ret = -1;
				line->requested = FALSE;
				break;
			}
			fake_log_line(handle->chip->k, handle->offset, "events", line->phys);
			break;
		default:
			fake_log_line(handle->chip->k, handle->offset, "input", line->phys);
			break;
		}
	}
	g_mutex_unlock(&fake_lock);
	return ret;
}

int
gpiod_line_request_output_flags(struct gpiod_line *line,
				const char *consumer,
				int flags,
				int default_val)
{
	struct gpiod_line_request_config config = {consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
						   flags};
	return gpiod_line_request(line, &config, default_val);
}

int
gpiod_line_request_output(struct gpiod_line *line, const char *consumer, int default_val)
{
	return gpiod_line_request_output_flags(line, consumer, 0, default_val);
}

int
gpiod_line_request_input_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	struct gpiod_line_request_config config = {consumer, GPIOD_LINE_REQUEST_DIRECTION_INPUT,
						   flags};
	return gpiod_line_request(line, &config, 0);
}

int
gpiod_line_request_input(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_input_flags(line, consumer, 0);
}

int
gpiod_line_request_both_edges_events_flags(struct gpiod_line *line, const char *consumer, int flags)
{
	struct gpiod_line_request_config config = {consumer, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES,
						   flags};
	return gpiod_line_request(line, &config, 0);
}

int
gpiod_line_request_both_edges_events(struct gpiod_line *line, const char *consumer)
{
	return gpiod_line_request_both_edges_events_flags(line, consumer, 0);
}

void
gpiod_line_release(struct gpiod_line *line)
{
	g_mutex_lock(&fake_lock);
	fake_release(line);
	g_mutex_unlock(&fake_lock);
}

int
gpiod_line_get_value(struct gpiod_line *handle)
{
	FakeLine *line;
	gint ret;

	g_mutex_lock(&fake_lock);
	line = fake_line(handle);
	if (!line->requested) {
		errno = EPERM;
		ret = -1;
	} else {
		ret = line->phys ^ line->active_low;
	}
	g_mutex_unlock(&fake_lock);
	return ret;
}

int
gpiod_line_set_value(struct gpiod_line *handle, int value)
{
	FakeLine *line;
	gint ret = 0;

	g_mutex_lock(&fake_lock);
	line = fake_line(handle);
	if (!line->requested || !line->output) {
		errno = EPERM;
		ret = -1;
	} else {
		gint phys = (value ? 1 : 0) ^ line->active_low;
		/* the kernel does not tell a level set twice; the log only shows changes */
		if (phys != line->phys)
			fake_log_line(handle->chip->k, handle->offset, "set", phys);
		line->phys = phys;
	}
	g_mutex_unlock(&fake_lock);
	return ret;
}

int
gpiod_line_event_get_fd(struct gpiod_line *handle)
{
	FakeLine *line = fake_line(handle);

	if (!line->requested || line->edges == 0) {
		errno = EPERM;
		return -1;
	}
	return line->evfd[0];
}

int
gpiod_line_event_read_fd_multiple(int fd, struct gpiod_line_event *events, unsigned int num_events)
{
	ssize_t n = read(fd, events, sizeof(*events) * num_events);

	if (n < 0)
		return -1;
	if (n % (ssize_t)sizeof(*events) != 0) {
		errno = EIO;
		return -1;
	}
	return (int)(n / (ssize_t)sizeof(*events));
}

int
gpiod_line_event_read_fd(int fd, struct gpiod_line_event *event)
{
	gint n = gpiod_line_event_read_fd_multiple(fd, event, 1);

	if (n == 0) {
		errno = EIO;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

int
gpiod_line_event_read(struct gpiod_line *line, struct gpiod_line_event *event)
{
	return gpiod_line_event_read_fd(gpiod_line_event_get_fd(line), event);
}

const char *
gpiod_version_string(void)
{
	return "1.6.3-vestibule-fake";
}
