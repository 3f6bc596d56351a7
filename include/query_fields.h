/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The field catalogue of the query side: every display name a viewer may
 * ask for, once, with its description (what /fields answers), the table
 * and column it lives in, its type, the join that reaches it and the
 * phases it applies to.  Query SQL takes identifiers only from here.
 */
#ifndef MTTD_QUERY_FIELDS_H
#define MTTD_QUERY_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

/* How a value is checked as a search value and written as JSON. */
enum query_type {
	QT_TEXT,       /* JSON string. */
	QT_INT,	       /* JSON integer. */
	QT_BOOL,       /* JSON true/false. */
	QT_TIMESTAMP,  /* "YYYY-MM-DD HH:MM:SS[.ffffff]". */
	QT_INTERVAL,   /* "H:MM:SS", "N day(s), H:MM:SS". */
	QT_BITS,       /* String of 0 and 1 of a fixed width. */
	QT_INT_ARRAY,  /* JSON list of integers; not searchable. */
	QT_FLOAT_ARRAY /* JSON list of numbers; not searchable. */
};

/* The joins from a phase table (alias p) to the tables around it. */
enum query_join {
	QJ_NONE,	   /* The phase table itself. */
	QJ_SUBMIT,	   /* submit s */
	QJ_CLUSTER,	   /* compute_cluster cc */
	QJ_COMPILER,	   /* compiler c: the MPI install's compiler. */
	QJ_MPI_GET,	   /* mpi_get mg */
	QJ_CONFIGURE,	   /* mpi_install_configure_args ca */
	QJ_DESCRIPTION,	   /* description d */
	QJ_RESULT_MESSAGE, /* result_message rm */
	QJ_ENVIRONMENT,	   /* environment e */
	QJ_SUITE,	   /* test_suites ts */
	QJ_TEST_NAME,	   /* test_names tn */
	QJ_COMMAND,	   /* test_run_command trc */
	QJ_PERFORMANCE,	   /* performance pf, latency_bandwidth lb */
	QJ_COUNT
};

/* Phase bits. */
#define QP_INSTALL (1u << 0)
#define QP_BUILD (1u << 1)
#define QP_RUN (1u << 2)
#define QP_ALL (QP_INSTALL | QP_BUILD | QP_RUN)

struct query_field {
	const char *name;	 /* Display name, e.g. "resource_manager". */
	const char *description; /* As /fields answers it. */
	const char *table;	 /* Owning table, e.g. "test_run_command". */
	const char *expr;	 /* SQL over the join aliases. */
	const char *fallback;	 /* SQL default when the join finds none. */
	enum query_type type;
	enum query_join join;
	unsigned phases; /* QP_* it applies to. */
	int width;	 /* Digits of a QT_BITS column. */
	bool long_text;	 /* Unbounded text (output, commands). */
	/* Its column may hold NULL (the schema allows it), shown as the
	 * fallback.  Links from a phase table have foreign keys, so a NOT
	 * NULL column of a joined table never reads NULL. */
	bool nullable;
};

/* A query phase and its table. */
struct query_phase {
	const char *name;  /* "install", "test_build", "test_run". */
	const char *table; /* "mpi_install", ... */
	const char *id;	   /* Its id column, for a stable order. */
	unsigned bit;	   /* QP_* */
};

/* Every field, in the order /fields lists them; *count gets the number. */
const struct query_field *query_fields_all(size_t *count);

/* The field of a display name, or NULL. */
const struct query_field *query_field_find(const char *name);

/* True when field f exists for phase. */
bool query_field_applies(
    const struct query_field *f, const struct query_phase *phase);

/* The phase of a query phase name, or NULL. */
const struct query_phase *query_phase_find(const char *name);

/* "install, test_build, test_run", for messages. */
const char *query_phase_names(void);

/* The JOIN clause of j (never for QJ_NONE). */
const char *query_join_sql(enum query_join j);

/* The SQL cast of a search value of type t ("text", "int8", ...). */
const char *query_type_cast(const struct query_field *f);

#endif /* MTTD_QUERY_FIELDS_H */
