/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Query requests to SQL.  Checks run in the order a caller's mistakes are
 * best reported: phase, columns, search, options.  Search values are
 * converted and checked here where C can judge them (integers, booleans,
 * bit strings); timestamps and intervals are judged by PostgreSQL's own
 * parser in a statement of their own, so an error names the key.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "query_spec.h"

const char *const query_summary_counters[QUERY_SUMMARY_COUNTERS] = {
	"test_result_failed", "test_result_passed", "test_result_skipped",
	"test_result_timed_out", "test_result_unknown"
};

/* The search comparisons and their SQL operators. */
static const struct {
	const char *name;
	const char *op;
} query_ops[] = { { "eq", "=" }, { "ne", "<>" }, { "lt", "<" }, { "lte", "<=" },
	{ "gt", ">" }, { "gte", ">=" }, { "like", "LIKE" } };

static const char *query_options[] = { "limit", "offset", "count_only",
	"order_by" };

/* Append a parameter; returns its $ number.  The array doubles. */
static int
query_param_add(struct query_spec *q, char *value, const char *key)
{
	struct query_param *p;

	if (q->nparams == q->params_cap) {
		q->params_cap = q->params_cap ? q->params_cap * 2 : 8;
		q->params = xrealloc(
		    q->params, q->params_cap * sizeof *q->params);
	}
	p = &q->params[q->nparams];
	memset(p, 0, sizeof *p);
	p->value = value;
	p->key = key;
	return ++q->nparams;
}

/* Ask PostgreSQL to judge a timestamp or interval value before the query. */
static void
query_param_check(struct query_spec *q, const struct query_field *f, bool list)
{
	struct query_param *p = &q->params[q->nparams - 1];

	if (f->type != QT_TIMESTAMP && f->type != QT_INTERVAL)
		return;
	p->check_sql = xasprintf(
	    "SELECT $1::%s%s", query_type_cast(f), list ? "[]" : "");
	p->check = f->type == QT_TIMESTAMP ? "a timestamp" : "an interval";
}

static bool
query_fail(char **cause, char *msg)
{
	*cause = msg;
	return false;
}

/* "-?[0-9]+" within int64, as a JSON integer or a string. */
static bool
query_integer_text(const struct json_value *v, const char **text)
{
	const char *s;
	char *end;

	if (v->type == JSON_NUMBER && json_number_is_integer(v))
		s = v->u.number.text;
	else if (v->type == JSON_STRING)
		s = v->u.string.ptr;
	else
		return false;
	if (s[s[0] == '-'] < '0' || s[s[0] == '-'] > '9')
		return false;
	errno = 0;
	(void)strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*text = s;
	return true;
}

/* A JSON number of seconds as PostgreSQL's interval input reads it. */
static char *
query_seconds_text(const struct json_value *v)
{
	const char *s = v->u.number.text;

	if (strpbrk(s, "eE") == NULL)
		return xasprintf("%s seconds", s);

	/* Its parser takes no exponent: spell the number out. */
	return xasprintf("%.6f seconds", strtod(s, NULL));
}

static bool
query_bits_ok(const struct json_value *v, int width)
{
	return v->type == JSON_STRING && v->u.string.len == (size_t)width &&
	    strspn(v->u.string.ptr, "01") == (size_t)width;
}

/* The text of one scalar search value of field f, or NULL. */
static char *
query_scalar_text(const struct query_field *f, const struct json_value *v)
{
	const char *s;

	switch (f->type) {
	case QT_INT:
		return query_integer_text(v, &s) ? xstrdup(s) : NULL;
	case QT_BOOL:
		if (v->type == JSON_BOOL)
			return xstrdup(v->u.boolean ? "t" : "f");
		if (v->type == JSON_NUMBER &&
		    (strcmp(v->u.number.text, "0") == 0 ||
			strcmp(v->u.number.text, "1") == 0))
			return xstrdup(v->u.number.text[0] == '1' ? "t" : "f");
		return NULL;
	case QT_BITS:
		return query_bits_ok(v, f->width) ? xstrdup(v->u.string.ptr) :
						    NULL;
	case QT_INTERVAL:
		if (v->type == JSON_NUMBER)
			return query_seconds_text(v);
		/* FALLTHROUGH */
	default:
		return v->type == JSON_STRING ? xstrdup(v->u.string.ptr) : NULL;
	}
}

/* What a search value of f must be, for messages. */
static const char *
query_type_wanted(const struct query_field *f)
{
	switch (f->type) {
	case QT_INT:
		return "an integer";
	case QT_BOOL:
		return "true or false (or 0/1)";
	case QT_BITS:
		return f->width == 2 ?
		    "a string of 2 binary digits (\"01\")" :
		    "a string of 6 binary digits (\"001000\")";
	case QT_TIMESTAMP:
		return "a timestamp string";
	case QT_INTERVAL:
		return "an interval string or a number of seconds";
	default:
		return "a string";
	}
}

static bool
query_value_error(char **cause, const char *key, const struct query_field *f,
    const struct json_value *v)
{
	return query_fail(cause,
	    xasprintf("Search value of '%s' must be %s, got %s", key,
		query_type_wanted(f), json_type_name(v->type)));
}

/*
 * Add " AND before EXPR after" to the conditions, EXPR the field's.  A
 * nullable column's NULL (trial, a description, a command's launcher,
 * as a database the reference filled may hold) is shown as its default
 * and matches as that default: "(cond(expr) OR (expr IS NULL AND
 * cond(default)))".  Its second half is constant once the values are
 * bound (mttd's queries are planned with them: db_pool keeps
 * plan_cache_mode at auto), so PostgreSQL drops it when the default does
 * not match, and the plan is the bare condition's; when it matches, the
 * search must read the rows whose column is NULL too.  NOT NULL columns
 * get the bare condition: a NULL there would take a link without its
 * foreign key, and the half would cost their searches that match the
 * default (a "", a "ne", an "lt") their index.
 */
static void
query_where_add(struct query_spec *q, const struct query_field *f,
    const char *before, const char *after)
{
	if (!f->nullable || f->fallback == NULL) {
		strbuf_addf(&q->where, " AND %s%s%s", before, f->expr, after);
		return;
	}
	strbuf_addf(&q->where, " AND (%s%s%s OR (%s IS NULL AND %s%s%s))",
	    before, f->expr, after, f->expr, before, f->fallback, after);
}

/* One comparison "expr OP $n::cast" of a scalar value. */
static bool
query_compare(struct query_spec *q, const char *key,
    const struct query_field *f, const char *op, const struct json_value *v,
    char **cause)
{
	char *text, *after;
	int n;

	if (q->nparams >= QUERY_MAX_CONDITIONS)
		return query_fail(cause,
		    xasprintf("Field 'search' has more than %d conditions (use"
			      " a list for many values of one key)",
			QUERY_MAX_CONDITIONS));
	if ((text = query_scalar_text(f, v)) == NULL)
		return query_value_error(cause, key, f, v);
	n = query_param_add(q, text, key);
	query_param_check(q, f, false);
	after = xasprintf(" %s $%d::%s", op, n, query_type_cast(f));
	query_where_add(q, f, "", after);
	free(after);
	return true;
}

/* Quote one element of an array literal: every one, so no form is special. */
static void
query_array_item(struct strbuf *sb, const char *s)
{
	strbuf_adds(sb, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_adds(sb, "\\");
		strbuf_add(sb, s, 1);
	}
	strbuf_adds(sb, "\"");
}

/* A list of values: any of them, as "expr = ANY($n::cast[])". */
static bool
query_any_of(struct query_spec *q, const char *key, const struct query_field *f,
    const struct json_value *list, char **cause)
{
	struct strbuf sb;
	char *text, *after;
	size_t i;
	int n;

	if (q->nparams >= QUERY_MAX_CONDITIONS)
		return query_fail(cause,
		    xasprintf("Field 'search' has more than %d conditions",
			QUERY_MAX_CONDITIONS));
	strbuf_setup(&sb);
	strbuf_adds(&sb, "{");
	for (i = 0; i < list->u.array.count; i++) {
		text = query_scalar_text(f, list->u.array.items[i]);
		if (text == NULL) {
			strbuf_shutdown(&sb);
			return query_value_error(
			    cause, key, f, list->u.array.items[i]);
		}
		if (i > 0)
			strbuf_adds(&sb, ",");
		query_array_item(&sb, text);
		free(text);
	}
	strbuf_adds(&sb, "}");
	n = query_param_add(q, strbuf_take(&sb), key);
	query_param_check(q, f, true);
	/*
	 * An integer column is cast to the list's type: PostgreSQL looks a
	 * long list up in a hash table only when both sides hash alike, and
	 * a smallint or integer against bigint[] is compared with every
	 * element, row after row (50,000 values over 2 million rows: minutes
	 * instead of a third of a second).  These columns have no index a
	 * cast would forgo.
	 */
	if (f->type == QT_INT) {
		after = xasprintf(")::int8 = ANY($%d::int8[])", n);
		query_where_add(q, f, "(", after);
	} else {
		after = xasprintf(" = ANY($%d::%s[])", n, query_type_cast(f));
		query_where_add(q, f, "", after);
	}
	free(after);
	return true;
}

/* False for a LIKE pattern that ends inside an escape. */
static bool
query_like_ok(const struct json_value *v)
{
	size_t i, n = 0;

	if (v->type != JSON_STRING)
		return true; /* query_compare names the wrong type. */
	for (i = v->u.string.len; i > 0 && v->u.string.ptr[i - 1] == '\\'; i--)
		n++;
	return n % 2 == 0;
}

/* An object of comparisons, each one ANDed. */
static bool
query_comparisons(struct query_spec *q, const char *key,
    const struct query_field *f, const struct json_value *obj, char **cause)
{
	size_t i, k;
	const char *name;

	if (obj->u.object.count == 0)
		return query_fail(cause,
		    xasprintf("Search key '%s' has an empty comparison object"
			      " (use eq, ne, lt, lte, gt, gte, like)",
			key));
	for (i = 0; i < obj->u.object.count; i++) {
		name = obj->u.object.keys[i];
		for (k = 0; k < sizeof query_ops / sizeof query_ops[0]; k++) {
			if (strcmp(query_ops[k].name, name) == 0)
				break;
		}
		if (k == sizeof query_ops / sizeof query_ops[0])
			return query_fail(cause,
			    xasprintf(
				"Comparison '%s' of search key '%s' is not"
				" valid (use eq, ne, lt, lte, gt, gte,"
				" like)",
				name, key));
		if (strcmp(name, "like") == 0 && f->type != QT_TEXT)
			return query_fail(cause,
			    xasprintf("Comparison 'like' of search key '%s'"
				      " needs a text field",
				key));
		if (strcmp(name, "like") == 0 &&
		    !query_like_ok(obj->u.object.values[i]))
			return query_fail(cause,
			    xasprintf(
				"Comparison 'like' of search key '%s': the"
				" pattern ends with an escape character"
				" (a backslash is written twice)",
				key));
		if (!query_compare(q, key, f, query_ops[k].op,
			obj->u.object.values[i], cause))
			return false;
	}
	return true;
}

/* The field a search key names for q, or NULL with *cause set. */
static const struct query_field *
query_search_field(struct query_spec *q, const char *key, char **cause)
{
	const struct query_field *f;

	/* The info endpoint for suites searches the suites table only. */
	if (q->kind == QK_TESTSUITE) {
		if (strcmp(key, "test_suite_name") == 0)
			key = "suite_name";
		if (strcmp(key, "suite_name") != 0 &&
		    strcmp(key, "test_suite_description") != 0) {
			*cause = xasprintf("Search key '%s' in 'search' is not"
					   " valid here (use suite_name or"
					   " test_suite_description)",
			    key);
			return NULL;
		}
		return query_field_find(key);
	}
	if ((f = query_field_find(key)) == NULL)
		*cause = xasprintf(
		    "Search key '%s' in 'search' is not a valid key", key);
	else if (!query_field_applies(f, q->phase))
		*cause = xasprintf("Search key '%s' in 'search' does not apply"
				   " to phase '%s'",
		    key, q->phase->name);
	else if (f->type == QT_INT_ARRAY || f->type == QT_FLOAT_ARRAY)
		*cause = xasprintf("Search key '%s' in 'search' is a list field"
				   " and cannot be searched",
		    key);
	else
		return f;
	return NULL;
}

static bool
query_search_key(struct query_spec *q, const char *key,
    const struct json_value *v, char **cause)
{
	const struct query_field *f = query_search_field(q, key, cause);

	if (f == NULL)
		return false;
	q->filter_joins[f->join] = true;
	switch (v->type) {
	case JSON_ARRAY:
		return query_any_of(q, key, f, v, cause);
	case JSON_OBJECT:
		return query_comparisons(q, key, f, v, cause);
	case JSON_NULL:
		return query_value_error(cause, key, f, v);
	default:
		return query_compare(q, key, f, "=", v, cause);
	}
}

static bool
query_parse_search(
    struct query_spec *q, const struct json_value *body, char **cause)
{
	const struct json_value *search = json_object_get(body, "search");
	size_t i;

	if (search == NULL && q->kind == QK_TESTSUITE)
		return query_fail(cause,
		    xstrdup("No field 'search' in the request: /info/testsuite"
			    " needs search key 'suite_name' (or"
			    " 'test_suite_name')"));
	if (search == NULL)
		return query_fail(cause,
		    xstrdup("No field 'search' in the request (send \"search\":"
			    " {} to match every row)"));
	if (search->type != JSON_OBJECT)
		return query_fail(cause,
		    xasprintf("Field 'search' must be an object, got %s",
			json_type_name(search->type)));
	for (i = 0; i < search->u.object.count; i++) {
		if (!query_search_key(q, search->u.object.keys[i],
			search->u.object.values[i], cause))
			return false;
	}
	return true;
}

static bool
query_parse_phase(
    struct query_spec *q, const struct json_value *body, char **cause)
{
	const struct json_value *v = json_object_get(body, "phase");

	if (v == NULL || v->type == JSON_NULL)
		return query_fail(cause,
		    xasprintf("No field 'phase' in the request (phases: %s)",
			query_phase_names()));
	if (v->type != JSON_STRING)
		return query_fail(cause,
		    xasprintf("Field 'phase' must be a string (phases: %s)",
			query_phase_names()));
	q->phase = query_phase_find(v->u.string.ptr);
	if (q->phase == NULL)
		return query_fail(cause,
		    xasprintf("Phase '%s' is not a valid phase (phases: %s)",
			v->u.string.ptr, query_phase_names()));
	return true;
}

/* A column asked twice is one key of each row. */
static bool
query_spec_has_column(const struct query_spec *q, const struct query_field *f)
{
	size_t i;

	for (i = 0; i < q->ncolumns; i++) {
		if (q->columns[i] == f)
			return true;
	}
	return false;
}

/* Columns that exist but not for the phase are left out, as ever. */
static bool
query_parse_columns(
    struct query_spec *q, const struct json_value *body, char **cause)
{
	const struct json_value *cols = json_object_get(body, "columns");
	const struct query_field *f;
	size_t i;

	if (cols == NULL)
		return query_fail(
		    cause, xstrdup("No field 'columns' in the request"));
	if (cols->type != JSON_ARRAY)
		return query_fail(cause,
		    xasprintf("Field 'columns' must be a list of field names,"
			      " got %s",
			json_type_name(cols->type)));
	q->columns = xcalloc(cols->u.array.count + 1, sizeof *q->columns);
	for (i = 0; i < cols->u.array.count; i++) {
		const struct json_value *c = cols->u.array.items[i];

		if (c->type != JSON_STRING)
			return query_fail(cause,
			    xasprintf("Field 'columns' must be a list of field"
				      " names, item %zu is %s",
				i, json_type_name(c->type)));
		if ((f = query_field_find(c->u.string.ptr)) == NULL)
			return query_fail(cause,
			    xasprintf("Column '%s' in 'columns' is not a valid"
				      " column",
				c->u.string.ptr));
		if (query_field_applies(f, q->phase) &&
		    !query_spec_has_column(q, f)) {
			q->columns[q->ncolumns++] = f;
			q->select_joins[f->join] = true;
		}
	}
	return true;
}

/* An option value that must be an integer of at least 0. */
static bool
query_option_count(struct query_spec *q, const char *name,
    const struct json_value *v, int *param, char **cause)
{
	const char *text;

	if (*param >= 0)
		return query_fail(cause,
		    xasprintf("Option '%s' in 'options' is given twice", name));
	if (!query_integer_text(v, &text) || v->type != JSON_NUMBER ||
	    text[0] == '-')
		return query_fail(cause,
		    xasprintf(
			"Option '%s' in 'options' must be an integer >= 0",
			name));
	*param = query_param_add(q, xstrdup(text), NULL) - 1;
	return true;
}

static bool
query_option_count_only(
    struct query_spec *q, const struct json_value *v, char **cause)
{
	if (v->type == JSON_BOOL)
		q->count_only = v->u.boolean;
	else if (v->type == JSON_NUMBER && strcmp(v->u.number.text, "0") == 0)
		q->count_only = false;
	else if (v->type == JSON_NUMBER && strcmp(v->u.number.text, "1") == 0)
		q->count_only = true;
	else
		return query_fail(cause,
		    xstrdup("Option 'count_only' in 'options' must be 0 or 1"));
	return true;
}

/* The position of a summary output column named name, or 0. */
static size_t
query_summary_position(const struct query_spec *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->ncolumns; i++) {
		if (strcmp(q->columns[i]->name, name) == 0)
			return i + 1;
	}
	for (i = 0; i < QUERY_SUMMARY_COUNTERS; i++) {
		if (strcmp(query_summary_counters[i], name) == 0)
			return q->ncolumns + i + 1;
	}
	return 0;
}

/* One order_by entry: a field of the phase, "-" first for descending. */
static bool
query_order_item(struct query_spec *q, const struct json_value *v, char **cause)
{
	const char *name, *dir = "";
	const struct query_field *f;
	size_t pos;

	if (v->type != JSON_STRING)
		return query_fail(cause,
		    xstrdup("Option 'order_by' in 'options' must be a list of"
			    " field names"));
	name = v->u.string.ptr;
	if (name[0] == '-') {
		name++;
		dir = " DESC";
	}
	strbuf_adds(&q->order, q->order.len == 0 ? " ORDER BY " : ", ");
	if (q->kind == QK_SUMMARY) {
		if ((pos = query_summary_position(q, name)) == 0)
			return query_fail(cause,
			    xasprintf("Option 'order_by': '%s' is not a column"
				      " or counter of this summary",
				name));
		strbuf_addf(&q->order, "%zu%s", pos, dir);
		return true;
	}
	f = query_field_find(name);
	if (f == NULL || !query_field_applies(f, q->phase))
		return query_fail(cause,
		    xasprintf("Option 'order_by': '%s' is not a field of phase"
			      " '%s'",
			name, q->phase->name));
	q->filter_joins[f->join] = true;
	/* As the rows show it: a NULL sorts as its default. */
	if (f->nullable && f->fallback != NULL)
		strbuf_addf(
		    &q->order, "COALESCE(%s, %s)%s", f->expr, f->fallback, dir);
	else
		strbuf_addf(&q->order, "%s%s", f->expr, dir);
	return true;
}

static bool
query_option_order_by(
    struct query_spec *q, const struct json_value *v, char **cause)
{
	size_t i;

	if (v->type != JSON_ARRAY)
		return query_order_item(q, v, cause);
	for (i = 0; i < v->u.array.count; i++) {
		if (!query_order_item(q, v->u.array.items[i], cause))
			return false;
	}
	return true;
}

static bool
query_option(struct query_spec *q, const char *name, const struct json_value *v,
    char **cause)
{
	if (strcmp(name, "limit") == 0)
		return query_option_count(q, name, v, &q->limit_param, cause);
	if (strcmp(name, "offset") == 0)
		return query_option_count(q, name, v, &q->offset_param, cause);
	if (strcmp(name, "count_only") == 0)
		return query_option_count_only(q, v, cause);
	return query_option_order_by(q, v, cause);
}

static bool
query_parse_options(
    struct query_spec *q, const struct json_value *body, char **cause)
{
	const struct json_value *opts = json_object_get(body, "options");
	size_t i, k;

	if (opts == NULL)
		return true;
	if (opts->type != JSON_OBJECT)
		return query_fail(cause,
		    xasprintf("Field 'options' must be an object, got %s",
			json_type_name(opts->type)));
	for (i = 0; i < opts->u.object.count; i++) {
		const char *name = opts->u.object.keys[i];

		for (k = 0; k < sizeof query_options / sizeof *query_options;
		     k++) {
			if (strcmp(query_options[k], name) == 0)
				break;
		}
		if (k == sizeof query_options / sizeof *query_options)
			return query_fail(cause,
			    xasprintf("Option '%s' in 'options' is not a valid"
				      " option (valid: limit, offset,"
				      " count_only, order_by)",
				name));
		if (!query_option(q, name, opts->u.object.values[i], cause))
			return false;
	}
	return true;
}

/* /info/runtime needs the key that names what is being budgeted. */
static bool
query_runtime_key(
    struct query_spec *q, const struct json_value *body, char **cause)
{
	const struct json_value *search = json_object_get(body, "search");
	const char *a = "test_name", *b = NULL;

	if (q->phase->bit == QP_INSTALL) {
		a = "mpi_name";
		b = "mpi_version";
	} else if (q->phase->bit == QP_BUILD)
		a = "suite_name";
	if (json_object_get(search, a) != NULL ||
	    (b != NULL && json_object_get(search, b) != NULL))
		return true;
	return query_fail(cause,
	    xasprintf("/info/runtime for phase '%s' needs search key '%s'%s%s",
		q->phase->name, a, b ? " or " : "", b ? b : ""));
}

static bool
query_testsuite_key(const struct json_value *body, char **cause)
{
	const struct json_value *search = json_object_get(body, "search");

	if (json_object_get(search, "suite_name") != NULL ||
	    json_object_get(search, "test_suite_name") != NULL)
		return true;
	return query_fail(cause,
	    xstrdup("/info/testsuite needs search key 'suite_name' (or"
		    " 'test_suite_name')"));
}

/*
 * The info endpoints take only their own fields: an "options" or
 * "columns" sent out of /detail's habit would be ignored, and the
 * answer taken for a limited or shaped one.
 */
static bool
query_info_fields_only(
    const struct json_value *body, enum query_kind kind, char **cause)
{
	const char *endpoint = kind == QK_TESTSUITE ? "/info/testsuite" :
						      "/info/runtime";
	const char *fields = kind == QK_TESTSUITE ? "search" : "phase, search";
	size_t i;

	for (i = 0; i < body->u.object.count; i++) {
		const char *key = body->u.object.keys[i];

		if (strcmp(key, "search") != 0 &&
		    (kind == QK_TESTSUITE || strcmp(key, "phase") != 0))
			return query_fail(cause,
			    xasprintf("Field '%s' is not taken by %s (its"
				      " fields: %s)",
				key, endpoint, fields));
	}
	return true;
}

bool
query_spec_parse(struct query_spec *q, enum query_kind kind,
    const struct json_value *body, char **cause)
{
	memset(q, 0, sizeof *q);
	q->kind = kind;
	q->limit_param = q->offset_param = -1;
	strbuf_setup(&q->where);
	strbuf_setup(&q->order);

	if ((kind == QK_TESTSUITE || kind == QK_RUNTIME) &&
	    !query_info_fields_only(body, kind, cause))
		return false;
	if (kind == QK_TESTSUITE)
		return query_parse_search(q, body, cause) &&
		    query_testsuite_key(body, cause);
	if (!query_parse_phase(q, body, cause))
		return false;
	if (kind == QK_RUNTIME)
		return query_parse_search(q, body, cause) &&
		    query_runtime_key(q, body, cause);
	return query_parse_columns(q, body, cause) &&
	    query_parse_search(q, body, cause) &&
	    query_parse_options(q, body, cause);
}

void
query_spec_free(struct query_spec *q)
{
	int i;

	for (i = 0; i < q->nparams; i++) {
		free(q->params[i].value);
		free(q->params[i].check_sql);
	}
	free(q->params);
	free(q->columns);
	strbuf_shutdown(&q->where);
	strbuf_shutdown(&q->order);
}
