/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The submission field table and the validation of a /submit body.
 * Everything that can be checked without the database is checked here,
 * so a refused submission never takes a sequence value; only timestamps
 * and intervals are left to PostgreSQL's own parser (see submit_store).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strbuf.h"
#include "submit_fields.h"

enum field_kind {
	FK_TEXT,	/* A string (or a number, kept as written). */
	FK_INT,		/* An integer, or a string of '-' and digits. */
	FK_BOOL,	/* 1 or true is true, anything else false. */
	FK_VPATH,	/* 1/"relative", 2/"absolute" as bit(2). */
	FK_ENDIAN,	/* 1/"little", 2/"big" as bit(2). */
	FK_BITNESS,	/* The catalogue's codes as bit(6). */
	FK_TIMESTAMP,	/* Text PostgreSQL reads as a timestamp. */
	FK_DURATION,	/* Interval text, or a number of seconds. */
	FK_INT_ARRAY,	/* A list of integers, as int4[]. */
	FK_FLOAT_ARRAY, /* A list of numbers, as float8[]. */
	FK_FLAG		/* Present and not null or false. */
};

#define PH_I (1u << SUBMIT_PHASE_INSTALL)
#define PH_B (1u << SUBMIT_PHASE_BUILD)
#define PH_R (1u << SUBMIT_PHASE_RUN)
#define PH_ALL (PH_I | PH_B | PH_R)

struct field_def {
	const char *name;
	enum field_kind kind;
	const char *table; /* Where the value is stored, for limits. */
	const char *column;
	unsigned phases;    /* Phases that read the field. */
	unsigned required;  /* Phases that need it. */
	int max_chars;	    /* Bound at start-up; -1 for none. */
	long long min, max; /* Bound at start-up for integers. */
};

/* Indexed by enum submit_field. */
static struct field_def fields[SF__COUNT] = {
	[SF_PLATFORM_NAME] = { "platform_name", FK_TEXT, "compute_cluster",
	    "platform_name", PH_I, PH_I, 0, 0, 0 },
	[SF_PLATFORM_HARDWARE] = { "platform_hardware", FK_TEXT,
	    "compute_cluster", "platform_hardware", PH_I, PH_I, 0, 0, 0 },
	[SF_PLATFORM_TYPE] = { "platform_type", FK_TEXT, "compute_cluster",
	    "platform_type", PH_I, PH_I, 0, 0, 0 },
	[SF_OS_NAME] = { "os_name", FK_TEXT, "compute_cluster", "os_name", PH_I,
	    PH_I, 0, 0, 0 },
	[SF_OS_VERSION] = { "os_version", FK_TEXT, "compute_cluster",
	    "os_version", PH_I, PH_I, 0, 0, 0 },
	[SF_COMPILER_NAME] = { "compiler_name", FK_TEXT, "compiler",
	    "compiler_name", PH_I | PH_B, PH_I | PH_B, 0, 0, 0 },
	[SF_COMPILER_VERSION] = { "compiler_version", FK_TEXT, "compiler",
	    "compiler_version", PH_I | PH_B, PH_I | PH_B, 0, 0, 0 },
	[SF_MPI_NAME] = { "mpi_name", FK_TEXT, "mpi_get", "mpi_name", PH_I,
	    PH_I, 0, 0, 0 },
	[SF_MPI_VERSION] = { "mpi_version", FK_TEXT, "mpi_get", "mpi_version",
	    PH_I, PH_I, 0, 0, 0 },
	[SF_VPATH_MODE] = { "vpath_mode", FK_VPATH, NULL, NULL, PH_I, 0, 0, 0,
	    0 },
	[SF_BITNESS] = { "bitness", FK_BITNESS, NULL, NULL, PH_I, 0, 0, 0, 0 },
	[SF_ENDIAN] = { "endian", FK_ENDIAN, NULL, NULL, PH_I, 0, 0, 0, 0 },
	[SF_CONFIGURE_ARGUMENTS] = { "configure_arguments", FK_TEXT,
	    "mpi_install_configure_args", "configure_arguments", PH_I, 0, 0, 0,
	    0 },
	[SF_DESCRIPTION] = { "description", FK_TEXT, "description",
	    "description", PH_ALL, 0, 0, 0, 0 },
	[SF_ENVIRONMENT] = { "environment", FK_TEXT, "environment",
	    "environment", PH_ALL, 0, 0, 0, 0 },
	[SF_RESULT_MESSAGE] = { "result_message", FK_TEXT, "result_message",
	    "result_message", PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_START_TIMESTAMP] = { "start_timestamp", FK_TIMESTAMP, NULL, NULL,
	    PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_DURATION] = { "duration", FK_DURATION, NULL, NULL, PH_ALL, 0, 0, 0,
	    0 },
	[SF_TEST_RESULT] = { "test_result", FK_INT, "mpi_install",
	    "test_result", PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_TRIAL] = { "trial", FK_BOOL, NULL, NULL, PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_EXIT_VALUE] = { "exit_value", FK_INT, "mpi_install", "exit_value",
	    PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_EXIT_SIGNAL] = { "exit_signal", FK_INT, "mpi_install",
	    "exit_signal", PH_ALL, 0, 0, 0, 0 },
	[SF_CLIENT_SERIAL] = { "client_serial", FK_INT, "mpi_install",
	    "client_serial", PH_ALL, PH_ALL, 0, 0, 0 },
	[SF_MERGE_STDOUT_STDERR] = { "merge_stdout_stderr", FK_BOOL, NULL, NULL,
	    PH_ALL, 0, 0, 0, 0 },
	[SF_RESULT_STDOUT] = { "result_stdout", FK_TEXT, "mpi_install",
	    "result_stdout", PH_ALL, 0, 0, 0, 0 },
	[SF_RESULT_STDERR] = { "result_stderr", FK_TEXT, "mpi_install",
	    "result_stderr", PH_ALL, 0, 0, 0, 0 },
	[SF_MPI_INSTALL_ID] = { "mpi_install_id", FK_INT, "test_build",
	    "mpi_install_id", PH_B, 0, 0, 0, 0 },
	[SF_SUITE_NAME] = { "suite_name", FK_TEXT, "test_suites", "suite_name",
	    PH_B, PH_B, 0, 0, 0 },
	[SF_TEST_BUILD_ID] = { "test_build_id", FK_INT, "test_run",
	    "test_build_id", PH_R, 0, 0, 0, 0 },
	[SF_TEST_NAME] = { "test_name", FK_TEXT, "test_names", "test_name",
	    PH_R, PH_R, 0, 0, 0 },
	[SF_NP] = { "np", FK_INT, "test_run", "np", PH_R, PH_R, 0, 0, 0 },
	[SF_COMMAND] = { "command", FK_TEXT, "test_run", "full_command", PH_R,
	    PH_R, 0, 0, 0 },
	[SF_LAUNCHER] = { "launcher", FK_TEXT, "test_run_command", "launcher",
	    PH_R, 0, 0, 0, 0 },
	[SF_RESOURCE_MANAGER] = { "resource_manager", FK_TEXT,
	    "test_run_command", "resource_mgr", PH_R, 0, 0, 0, 0 },
	[SF_PARAMETERS] = { "parameters", FK_TEXT, "test_run_command",
	    "parameters", PH_R, 0, 0, 0, 0 },
	[SF_NETWORK] = { "network", FK_TEXT, "test_run_command", "network",
	    PH_R, 0, 0, 0, 0 },
	[SF_LATENCY_BANDWIDTH] = { "latency_bandwidth", FK_FLAG, NULL, NULL,
	    PH_R, 0, 0, 0, 0 },
	[SF_MESSAGE_SIZE] = { "message_size", FK_INT_ARRAY, NULL, NULL, PH_R, 0,
	    0, INT32_MIN, INT32_MAX },
	[SF_LATENCY_MIN] = { "latency_min", FK_FLOAT_ARRAY, NULL, NULL, PH_R, 0,
	    0, 0, 0 },
	[SF_LATENCY_AVG] = { "latency_avg", FK_FLOAT_ARRAY, NULL, NULL, PH_R, 0,
	    0, 0, 0 },
	[SF_LATENCY_MAX] = { "latency_max", FK_FLOAT_ARRAY, NULL, NULL, PH_R, 0,
	    0, 0, 0 },
	[SF_BANDWIDTH_MIN] = { "bandwidth_min", FK_FLOAT_ARRAY, NULL, NULL,
	    PH_R, 0, 0, 0, 0 },
	[SF_BANDWIDTH_AVG] = { "bandwidth_avg", FK_FLOAT_ARRAY, NULL, NULL,
	    PH_R, 0, 0, 0, 0 },
	[SF_BANDWIDTH_MAX] = { "bandwidth_max", FK_FLOAT_ARRAY, NULL, NULL,
	    PH_R, 0, 0, 0, 0 },
};

/* The submit row's text fields, which come from metadata only. */
enum meta_field {
	MF_HOSTNAME,
	MF_LOCAL_USERNAME,
	MF_HTTP_USERNAME,
	MF_MTT_CLIENT_VERSION,
	MF__COUNT
};

static struct field_def meta_fields[MF__COUNT] = {
	[MF_HOSTNAME] = { "hostname", FK_TEXT, "submit", "hostname", 0, 0, 0, 0,
	    0 },
	[MF_LOCAL_USERNAME] = { "local_username", FK_TEXT, "submit",
	    "local_username", 0, 0, 0, 0, 0 },
	[MF_HTTP_USERNAME] = { "http_username", FK_TEXT, "submit",
	    "http_username", 0, 0, 0, 0, 0 },
	[MF_MTT_CLIENT_VERSION] = { "mtt_client_version", FK_TEXT, "submit",
	    "mtt_client_version", 0, 0, 0, 0, 0 },
};

/* Keys the metadata must hold (hostname may be absent: peer is used). */
static const char *const required_metadata[] = { "client_serial",
	"local_username", "mtt_client_version", "phase", "platform_name",
	"trial", NULL };

static const struct {
	const char *prefix;
	enum submit_phase phase;
	const char *table;
	const char *id_key;
} phases[] = {
	{ "mpi_install", SUBMIT_PHASE_INSTALL, "mpi_install",
	    "mpi_install_id" },
	{ "test_build", SUBMIT_PHASE_BUILD, "test_build", "test_build_id" },
	{ "test_run", SUBMIT_PHASE_RUN, "test_run", "test_run_id" },
};

/* Read one field's limits from the catalogue. */
static int
field_bind(struct field_def *f, const struct db_catalog *cat, char **cause)
{
	const char *type;
	int max_chars;

	f->max_chars = -1;
	if (f->table == NULL)
		return 0;
	if (db_catalog_column(cat, f->table, f->column, &type, &max_chars)) {
		*cause = xasprintf("column %s.%s is missing from the database",
		    f->table, f->column);
		return -1;
	}
	f->max_chars = max_chars;
	if (strcmp(type, "smallint") == 0) {
		f->min = INT16_MIN;
		f->max = INT16_MAX;
	} else if (strcmp(type, "integer") == 0) {
		f->min = INT32_MIN;
		f->max = INT32_MAX;
	} else if (strcmp(type, "bigint") == 0) {
		f->min = INT64_MIN;
		f->max = INT64_MAX;
	}
	return 0;
}

int
submit_fields_bind(const struct db_catalog *cat, char **cause)
{
	int i;

	for (i = 0; i < SF__COUNT; i++) {
		if (field_bind(&fields[i], cat, cause) != 0)
			return -1;
	}
	for (i = 0; i < MF__COUNT; i++) {
		if (field_bind(&meta_fields[i], cat, cause) != 0)
			return -1;
	}
	return 0;
}

const char *
submit_field_name(enum submit_field f)
{
	return fields[f].name;
}

bool
submit_field_required(enum submit_field f, enum submit_phase phase)
{
	return (fields[f].required & (1u << phase)) != 0;
}

const char *
submit_phase_table(enum submit_phase phase)
{
	return phases[phase].table;
}

const char *
submit_phase_id_key(enum submit_phase phase)
{
	return phases[phase].id_key;
}

bool
submit_phase_parse(const char *name, enum submit_phase *out)
{
	char norm[32];
	size_t i, n;

	/* Lower-case with spaces as underscores, then match by prefix. */
	n = strlen(name);
	if (n >= sizeof norm)
		n = sizeof norm - 1;
	for (i = 0; i < n; i++)
		norm[i] = name[i] == ' ' ? '_' :
					   tolower((unsigned char)name[i]);
	norm[n] = '\0';
	for (i = 0; i < sizeof phases / sizeof phases[0]; i++) {
		size_t plen = strlen(phases[i].prefix);

		if (strncmp(norm, phases[i].prefix, plen) == 0) {
			*out = phases[i].phase;
			return true;
		}
	}
	return false;
}

/* A value that is present: not missing and not JSON null. */
static const struct json_value *
present(const struct json_value *obj, const char *key)
{
	const struct json_value *v = obj ? json_object_get(obj, key) : NULL;

	return v != NULL && v->type != JSON_NULL ? v : NULL;
}

/* A value that is a constant ("t", a bit string). */
static void
value_const(struct submit_value *sv, const char *text)
{
	sv->text = text;
	sv->len = strlen(text);
}

/* A value made by conversion, kept in the request's arena. */
static void
value_copy(struct submit_value *sv, struct arena *converted, const char *text)
{
	sv->len = strlen(text);
	sv->text = arena_strndup(converted, text, sv->len);
}

/* True for an optional '-' followed by digits only. */
static bool
is_integer_syntax(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

/* Parse an integer's text strictly; false also when it overflows. */
static bool
parse_integer(const char *s, long long *out)
{
	char *end;

	if (!is_integer_syntax(s))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static const char *
integer_text(const struct json_value *v)
{
	if (v->type == JSON_NUMBER && json_number_is_integer(v))
		return v->u.number.text;
	if (v->type == JSON_STRING)
		return v->u.string.ptr;
	return NULL;
}

static int
convert_int(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, struct arena *converted, char **cause)
{
	const char *text = integer_text(v);
	char digits[24];
	long long n;

	if (text != NULL && is_integer_syntax(text) &&
	    !parse_integer(text, &n)) {
		*cause = xasprintf("field '%s' is out of range: %s is not"
				   " between %lld and %lld",
		    f->name, text, f->min, f->max);
		return -1;
	}
	if (text == NULL || !parse_integer(text, &n)) {
		*cause = xasprintf("field '%s' must be an integer, got %s",
		    f->name,
		    v->type == JSON_STRING ? "a string that is not"
					     " one" :
					     json_type_name(v->type));
		return -1;
	}
	if (n < f->min || n > f->max) {
		*cause = xasprintf("field '%s' is out of range: %s is not"
				   " between %lld and %lld",
		    f->name, text, f->min, f->max);
		return -1;
	}
	snprintf(digits, sizeof digits, "%lld", n);
	value_copy(sv, converted, digits);
	return 0;
}

static bool
is_integer_equal(const struct json_value *v, const char *digits)
{
	return v->type == JSON_NUMBER && strcmp(v->u.number.text, digits) == 0;
}

static bool
is_string_equal(const struct json_value *v, const char *s)
{
	return v->type == JSON_STRING && strcmp(v->u.string.ptr, s) == 0;
}

/* vpath_mode and endian share one shape: two codes, two words. */
static const char *
convert_two_bits(
    const struct json_value *v, const char *word1, const char *word2)
{
	if (is_integer_equal(v, "1") || is_string_equal(v, word1))
		return "01";
	if (is_integer_equal(v, "2") || is_string_equal(v, word2))
		return "10";
	return "00";
}

static const char *
convert_bitness(const struct json_value *v)
{
	static const struct {
		const char *code;
		const char *bits;
	} codes[] = {
		{ "1", "000001" },
		{ "2", "000010" },
		{ "4", "000100" },
		{ "6", "001100" },
		{ "8", "001000" },
		{ "16", "010000" },
	};
	size_t i;

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		if (is_integer_equal(v, codes[i].code))
			return codes[i].bits;
	}
	return "000000";
}

static int
convert_text(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, char **cause)
{
	const char *text;
	size_t len;

	if (v->type == JSON_STRING) {
		text = v->u.string.ptr;
		len = v->u.string.len;
	} else if (v->type == JSON_NUMBER) {
		text = v->u.number.text;
		len = v->u.number.len;
	} else {
		*cause = xasprintf("field '%s' must be a string, got %s",
		    f->name, json_type_name(v->type));
		return -1;
	}
	if (f->max_chars > 0 &&
	    utf8_char_count(text, len) > (size_t)f->max_chars) {
		*cause = xasprintf("field '%s' is too long: at most %d"
				   " characters",
		    f->name, f->max_chars);
		return -1;
	}
	sv->text = text;
	sv->len = len;
	return 0;
}

static int
convert_timestamp(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, char **cause)
{
	if (v->type != JSON_STRING) {
		*cause = xasprintf("field '%s' must be a timestamp string,"
				   " got %s",
		    f->name, json_type_name(v->type));
		return -1;
	}
	sv->text = v->u.string.ptr;
	sv->len = v->u.string.len;
	return 0;
}

static int
convert_duration(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, struct arena *converted, char **cause)
{
	char text[48];
	double secs;

	if (v->type == JSON_STRING) {
		sv->text = v->u.string.ptr;
		sv->len = v->u.string.len;
		return 0;
	}
	if (v->type != JSON_NUMBER) {
		*cause = xasprintf("field '%s' must be an interval or a number"
				   " of seconds, got %s",
		    f->name, json_type_name(v->type));
		return -1;
	}

	/* A plain number is seconds; keep integers exactly as sent. */
	if (json_number_is_integer(v) && v->u.number.len < 20) {
		snprintf(text, sizeof text, "%s seconds", v->u.number.text);
		value_copy(sv, converted, text);
		return 0;
	}
	secs = strtod(v->u.number.text, NULL);
	if (!(secs > -1e12 && secs < 1e12)) {
		*cause = xasprintf("field '%s' is out of range: %s seconds",
		    f->name, v->u.number.text);
		return -1;
	}
	snprintf(text, sizeof text, "%.6f seconds", secs);
	value_copy(sv, converted, text);
	return 0;
}

/* One element of a performance list, checked for its list's kind. */
static int
array_item_check(const struct field_def *f, const struct json_value *item,
    size_t i, char **cause)
{
	long long n;

	if (item->type != JSON_NUMBER) {
		*cause = xasprintf("field '%s': item %zu must be a number, got"
				   " %s",
		    f->name, i, json_type_name(item->type));
		return -1;
	}
	if (f->kind == FK_FLOAT_ARRAY) {
		double d;

		/* As PostgreSQL's float8in: an overflow or an underflow to 0
		 * is out of range. */
		errno = 0;
		d = strtod(item->u.number.text, NULL);
		if (isfinite(d) && !(errno == ERANGE && d == 0.0))
			return 0;
		*cause = xasprintf("field '%s': item %zu is out of range for"
				   " double precision",
		    f->name, i);
		return -1;
	}
	if (!json_number_is_integer(item) ||
	    !parse_integer(item->u.number.text, &n) || n < f->min ||
	    n > f->max) {
		*cause = xasprintf("field '%s': item %zu must be an integer"
				   " between %lld and %lld",
		    f->name, i, f->min, f->max);
		return -1;
	}
	return 0;
}

/* A JSON list of numbers as a PostgreSQL array literal. */
static int
convert_array(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, struct arena *converted, char **cause)
{
	struct strbuf sb;
	size_t i;

	if (v->type != JSON_ARRAY) {
		*cause = xasprintf("field '%s' must be a list of numbers, got"
				   " %s",
		    f->name, json_type_name(v->type));
		return -1;
	}
	strbuf_setup(&sb);
	strbuf_adds(&sb, "{");
	for (i = 0; i < v->u.array.count; i++) {
		const struct json_value *item = v->u.array.items[i];

		if (array_item_check(f, item, i, cause) != 0) {
			strbuf_shutdown(&sb);
			return -1;
		}
		if (i > 0)
			strbuf_adds(&sb, ",");
		strbuf_add(&sb, item->u.number.text, item->u.number.len);
	}
	strbuf_adds(&sb, "}");
	sv->len = sb.len;
	sv->text = arena_strndup(converted, sb.data, sb.len);
	strbuf_shutdown(&sb);
	return 0;
}

/* Scalars only: a list or an object is never a field's value here. */
static int
check_scalar(
    const struct field_def *f, const struct json_value *v, char **cause)
{
	if (v->type != JSON_ARRAY && v->type != JSON_OBJECT)
		return 0;
	*cause = xasprintf("field '%s' must be a single value, got %s", f->name,
	    json_type_name(v->type));
	return -1;
}

static int
field_convert(const struct field_def *f, const struct json_value *v,
    struct submit_value *sv, struct arena *converted, char **cause)
{
	/* Text and lists say themselves what they expected. */
	if (f->kind != FK_TEXT && f->kind != FK_INT_ARRAY &&
	    f->kind != FK_FLOAT_ARRAY && check_scalar(f, v, cause) != 0)
		return -1;
	switch (f->kind) {
	case FK_TEXT:
		return convert_text(f, v, sv, cause);
	case FK_INT:
		return convert_int(f, v, sv, converted, cause);
	case FK_BOOL:
		value_const(sv,
		    is_integer_equal(v, "1") ||
			    (v->type == JSON_BOOL && v->u.boolean) ?
			"t" :
			"f");
		return 0;
	case FK_VPATH:
		value_const(sv, convert_two_bits(v, "relative", "absolute"));
		return 0;
	case FK_ENDIAN:
		value_const(sv, convert_two_bits(v, "little", "big"));
		return 0;
	case FK_BITNESS:
		value_const(sv, convert_bitness(v));
		return 0;
	case FK_TIMESTAMP:
		return convert_timestamp(f, v, sv, cause);
	case FK_DURATION:
		return convert_duration(f, v, sv, converted, cause);
	case FK_FLAG:
		if (!(v->type == JSON_BOOL && !v->u.boolean))
			value_const(sv, "t");
		return 0;
	default:
		return convert_array(f, v, sv, converted, cause);
	}
}

/* The fields by name, for field_by_name; sorted at first use. */
static int fields_by_name[SF__COUNT];
static bool fields_sorted;

static int
cmp_field_name(const void *a, const void *b)
{
	return strcmp(
	    fields[*(const int *)a].name, fields[*(const int *)b].name);
}

static int
cmp_name_field(const void *key, const void *elem)
{
	return strcmp(key, fields[*(const int *)elem].name);
}

/* The field named name, or -1. */
static int
field_by_name(const char *name)
{
	const int *f;
	int i;

	if (!fields_sorted) {
		for (i = 0; i < SF__COUNT; i++)
			fields_by_name[i] = i;
		qsort(fields_by_name, SF__COUNT, sizeof fields_by_name[0],
		    cmp_field_name);
		fields_sorted = true;
	}
	f = bsearch(name, fields_by_name, SF__COUNT, sizeof fields_by_name[0],
	    cmp_name_field);
	return f != NULL ? *f : -1;
}

/*
 * Each field's value in obj, as present() would find it: the last value
 * of a repeated key, NULL when missing or JSON null.  One pass over the
 * object's keys instead of a search of them per field.
 */
static void
fields_of_object(
    const struct json_value *obj, const struct json_value *out[SF__COUNT])
{
	size_t i;
	int f;

	memset(out, 0, SF__COUNT * sizeof *out);
	if (obj == NULL || obj->type != JSON_OBJECT)
		return;
	for (i = 0; i < obj->u.object.count; i++) {
		if ((f = field_by_name(obj->u.object.keys[i])) >= 0)
			out[f] = obj->u.object.values[i];
	}
	for (f = 0; f < SF__COUNT; f++) {
		if (out[f] != NULL && out[f]->type == JSON_NULL)
			out[f] = NULL;
	}
}

/* Say that the value at fault is the metadata's; returns -2. */
static int
metadata_cause(char **cause)
{
	char *why = *cause;

	*cause = xasprintf("metadata: %s", why);
	free(why);
	return -2;
}

/* Convert every field of one entry that its phase reads; meta holds the
 * metadata's fields (fields_of_object).  Returns 0, -1 for a value of
 * the entry, or -2 for a value of the metadata (*cause says so). */
static int
entry_parse(const struct json_value *const meta[SF__COUNT],
    const struct json_value *data, enum submit_phase phase,
    struct submit_entry *e, struct arena *converted, char **cause)
{
	const struct json_value *in_data[SF__COUNT];
	unsigned bit = 1u << phase;
	const struct json_value *v;
	int i;

	fields_of_object(data, in_data);
	for (i = 0; i < SF__COUNT; i++) {
		const struct field_def *f = &fields[i];

		if (!(f->phases & bit))
			continue;

		/* Metadata first, then the entry; null counts as absent. */
		if ((v = meta[i]) == NULL)
			v = in_data[i];
		if (v == NULL) {
			if (!(f->required & bit))
				continue;
			*cause = xasprintf("missing field '%s' (in neither"
					   " metadata nor data, or null)",
			    f->name);
			return -1;
		}
		if (field_convert(f, v, &e->v[i], converted, cause) != 0)
			return v == meta[i] ? metadata_cause(cause) : -1;
		if (v == meta[i])
			e->from_metadata |= UINT64_C(1) << i;
	}
	return 0;
}

static int
check_required_metadata(const struct json_value *meta, char **cause)
{
	int i;

	for (i = 0; required_metadata[i] != NULL; i++) {
		if (present(meta, required_metadata[i]) == NULL) {
			*cause = xasprintf("missing field '%s' in metadata",
			    required_metadata[i]);
			return -1;
		}
	}
	return 0;
}

/* A submit-row text: a string within its column's length. */
static int
meta_text(enum meta_field mf, const struct json_value *v, const char **out,
    char **cause)
{
	struct submit_value sv;
	const struct field_def *f = &meta_fields[mf];

	memset(&sv, 0, sizeof sv);
	if (convert_text(f, v, &sv, cause) != 0)
		return -1;
	*out = sv.text;
	return 0;
}

static int
check_text_limit(enum meta_field mf, const char *text, char **cause)
{
	const struct field_def *f = &meta_fields[mf];

	if (f->max_chars > 0 &&
	    utf8_char_count(text, strlen(text)) > (size_t)f->max_chars) {
		*cause = xasprintf("field '%s' is too long: at most %d"
				   " characters ('%s')",
		    f->name, f->max_chars, text);
		return -1;
	}
	return 0;
}

static int
parse_submit_id(const struct json_value *meta, long *out, char **cause)
{
	const struct json_value *v = present(meta, "submit_id");
	const char *text;
	long long n;

	*out = 0;
	if (v == NULL)
		return 0;
	text = integer_text(v);
	if (text == NULL || !parse_integer(text, &n) || n < 0 ||
	    n > INT32_MAX) {
		*cause = xasprintf("field 'submit_id' must be an integer"
				   " between 0 and %d",
		    INT32_MAX);
		return -1;
	}
	*out = (long)n;
	return 0;
}

static int
parse_phase(const struct json_value *meta, enum submit_phase *out, char **cause)
{
	const struct json_value *v = present(meta, "phase");

	if (v->type != JSON_STRING ||
	    !submit_phase_parse(v->u.string.ptr, out)) {
		*cause = xasprintf("unknown phase (%s) in metadata: expected"
				   " MPI Install, Test Build or Test Run",
		    v->type == JSON_STRING ? v->u.string.ptr :
					     json_type_name(v->type));
		return -1;
	}
	return 0;
}

/* The metadata: the submit row's key, the phase and submit_id. */
static int
metadata_parse(const struct json_value *meta, const char *user,
    const char *peer, struct submit_request *out, char **cause)
{
	const struct json_value *host = present(meta, "hostname");

	if (check_required_metadata(meta, cause) != 0 ||
	    parse_phase(meta, &out->phase, cause) != 0)
		return -1;
	if (host == NULL) {
		out->hostname = peer;
		out->hostname_from_peer = true;
	}
	/* The metadata's own values: their errors say whose they are. */
	if (parse_submit_id(meta, &out->submit_id, cause) != 0 ||
	    (host != NULL &&
		meta_text(MF_HOSTNAME, host, &out->hostname, cause) != 0) ||
	    meta_text(MF_LOCAL_USERNAME, present(meta, "local_username"),
		&out->local_username, cause) != 0 ||
	    meta_text(MF_MTT_CLIENT_VERSION,
		present(meta, "mtt_client_version"), &out->mtt_client_version,
		cause) != 0) {
		(void)metadata_cause(cause);
		return -1;
	}
	out->http_username = user;
	return check_text_limit(MF_HTTP_USERNAME, user, cause);
}

/* count entries with every value absent. */
static struct submit_entry *
entries_new(size_t count)
{
	struct submit_entry *entries;
	size_t i;
	int f;

	if (count > SIZE_MAX / sizeof *entries)
		abort();
	entries = xmalloc((count ? count : 1) * sizeof *entries);
	for (i = 0; i < count; i++) {
		for (f = 0; f < SF__COUNT; f++)
			entries[i].v[f] = (struct submit_value){ NULL, 0 };
		entries[i].from_metadata = 0;
	}
	return entries;
}

/*
 * An empty data list: the metadata's values of the phase's fields still
 * pass the checks an entry's pass here (types, ranges, lengths).  Those
 * only the database makes (a link's existence, a timestamp's calendar)
 * need an entry: without one they are not made.
 */
static int
metadata_values_check(const struct json_value *const meta[SF__COUNT],
    enum submit_phase phase, struct arena *converted, char **cause)
{
	struct submit_value scratch;
	int i;

	for (i = 0; i < SF__COUNT; i++) {
		if (meta[i] == NULL || !(fields[i].phases & (1u << phase)))
			continue;
		if (field_convert(
			&fields[i], meta[i], &scratch, converted, cause) != 0)
			return metadata_cause(cause);
	}
	return 0;
}

static int
entries_parse(const struct json_value *meta, const struct json_value *data,
    struct submit_request *out, char **cause)
{
	const struct json_value *in_meta[SF__COUNT];
	size_t i;
	char *why = NULL;
	int rc;

	fields_of_object(meta, in_meta);
	out->count = data->u.array.count;
	out->entries = entries_new(out->count);
	if (out->count == 0 &&
	    metadata_values_check(
		in_meta, out->phase, &out->converted, cause) != 0)
		return -1;
	for (i = 0; i < out->count; i++) {
		const struct json_value *d = data->u.array.items[i];

		if (d->type != JSON_OBJECT) {
			*cause = xasprintf("data[%zu] must be an object, got"
					   " %s",
			    i, json_type_name(d->type));
			return -1;
		}
		if ((rc = entry_parse(in_meta, d, out->phase, &out->entries[i],
			 &out->converted, &why)) != 0) {
			*cause = rc == -2 ? xstrdup(why) :
					    xasprintf("data[%zu]: %s", i, why);
			free(why);
			return -1;
		}
	}
	return 0;
}

enum submit_error
submit_request_parse(const struct json_value *body, const char *user,
    const char *peer, struct submit_request *out, char **cause)
{
	const struct json_value *meta, *data;

	memset(out, 0, sizeof *out);
	/* Most converted values are numbers of a few bytes each. */
	arena_setup(&out->converted, 4096);
	if (body->type != JSON_OBJECT) {
		*cause = xasprintf("the body must be a JSON object, got %s",
		    json_type_name(body->type));
		return SUBMIT_ERR_SHAPE;
	}
	meta = json_object_get(body, "metadata");
	data = json_object_get(body, "data");
	if (meta == NULL || meta->type != JSON_OBJECT) {
		*cause = xstrdup("the body needs a 'metadata' object");
		return SUBMIT_ERR_SHAPE;
	}
	if (data == NULL || data->type != JSON_ARRAY) {
		*cause = xstrdup("the body needs a 'data' list");
		return SUBMIT_ERR_SHAPE;
	}
	if (metadata_parse(meta, user, peer, out, cause) != 0)
		return SUBMIT_ERR_FIELD;
	if (entries_parse(meta, data, out, cause) != 0)
		return SUBMIT_ERR_FIELD;
	return SUBMIT_ERR_NONE;
}

void
submit_request_free(struct submit_request *req)
{
	arena_release(&req->converted);
	free(req->entries);
	memset(req, 0, sizeof *req);
}
