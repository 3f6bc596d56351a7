/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny runner shared by the unit tests: register one suite from a table
 * of named cases, run it verbosely, and turn failures into an exit code.
 * Also finds the data files through MTTD_SRCDIR.
 */
#ifndef MTTD_CUNIT_MAIN_H
#define MTTD_CUNIT_MAIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

struct cunit_case {
	const char *name; /* Says the behaviour it pins. */
	CU_TestFunc fn;
};

/* The source tree root: $MTTD_SRCDIR, or "." when unset. */
static inline const char *
cunit_srcdir(void)
{
	const char *dir = getenv("MTTD_SRCDIR");

	return dir != NULL && *dir != '\0' ? dir : ".";
}

/* A path under the source tree, in a static buffer. */
static inline const char *
cunit_srcpath(const char *rel)
{
	static char path[4096];

	snprintf(path, sizeof path, "%s/%s", cunit_srcdir(), rel);
	return path;
}

/*
 * Run the cases of one suite.  Returns the exit status for main: 0 when
 * every assertion held, 1 when one failed, 2 when CUnit could not run.
 */
static inline int
cunit_run(const char *suite_name, const struct cunit_case *cases, size_t ncases)
{
	CU_pSuite suite;
	unsigned failed;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if ((suite = CU_add_suite(suite_name, NULL, NULL)) == NULL)
		goto fail;
	for (i = 0; i < ncases; i++) {
		if (CU_add_test(suite, cases[i].name, cases[i].fn) == NULL)
			goto fail;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failed > 0 ? 1 : 0;

fail:
	fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
	CU_cleanup_registry();
	return 2;
}

/* Record one assertion; the message is formatted only when it failed. */
static inline void __attribute__((format(printf, 4, 5)))
cunit_check(bool ok, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	msg[0] = '\0';
	if (!ok) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	}
	CU_assertImplementation(
	    ok ? CU_TRUE : CU_FALSE, line, msg, file, "", CU_FALSE);
}

/* Assert ok, with a printf-style message for when it does not hold. */
#define CHECK(ok, ...) cunit_check((ok), __FILE__, __LINE__, __VA_ARGS__)

#define CUNIT_NCASES(table) (sizeof(table) / sizeof(table)[0])

#endif /* MTTD_CUNIT_MAIN_H */
