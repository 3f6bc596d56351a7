/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every libFuzzer target shares: its entry points, and how a broken
 * invariant stops the run.  Define FUZZ_TARGET (the target's name, for
 * the message) before including it.
 */
#ifndef MTTD_FUZZ_COMMON_H
#define MTTD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run on a broken promise: libFuzzer keeps the input. */
static inline void
fuzz_require(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "%s: broken invariant: %s\n", FUZZ_TARGET, what);
	abort();
}

#endif /* MTTD_FUZZ_COMMON_H */
