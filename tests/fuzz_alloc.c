// SPDX-License-Identifier: MIT
/*
 * fuzz_alloc.c - libFuzzer harness: the input is decoded into a stream of
 * operations (alloc, alloc_nowait, free, write a pattern through pcpu_ptr,
 * verify, balance) run against a reference model of what every live
 * object holds in every unit.  A divergence or a broken invariant aborts
 * (a crash for the fuzzer); sanitizer reports do too.
 *
 *   make fuzz FUZZ_SECONDS=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcpu.h>

#include "percpu-internal.h"

#define SLOTS 64
#define UNITS 4

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char
		fill[UNITS]; /* byte every unit holds (0 if never written) */
};

static struct slot slots[SLOTS];

static void die(const char *what, int i)
{
	fprintf(stderr, "fuzz: %s (slot %d)\n", what, i);
	abort();
}

static void verify(int i)
{
	struct slot *s = &slots[i];

	static unsigned char ref[65536];

	for (unsigned int u = 0; u < UNITS; u++) {
		memset(ref, s->fill[u], s->size);
		if (memcmp(pcpu_ptr(s->p, u), ref, s->size))
			die("object content diverged from the model", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pcpu_config cfg;

	(void)argc;
	(void)argv;
	pcpu_config_init(&cfg);
	cfg.nr_units = UNITS;
	cfg.unit_size = 16384;
	cfg.balance = 0;
	cfg.strict = 0;
	return pcpu_init(&cfg);
}

enum { ALLOC, NOWAIT, FREE, WRITE, VERIFY, BALANCE };

/* An op byte's meaning: balancing (system calls, a check of every chunk)
 * is the slow one, so one code in sixteen. */
static const unsigned char op_of[16] = {
	ALLOC, ALLOC, ALLOC, ALLOC, NOWAIT, NOWAIT, FREE,   FREE,
	FREE,  FREE,  WRITE, WRITE, WRITE,  VERIFY, VERIFY, BALANCE};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	for (size_t pos = 0; pos + 3 <= len; pos += 3) {
		int op = op_of[data[pos] % 16], i = data[pos + 1] % SLOTS;
		uint8_t arg = data[pos + 2];
		struct slot *s = &slots[i];

		switch (op) {
		case ALLOC:
		case NOWAIT:
			if (s->p)
				break;
			/* mostly small objects, one in eight up to a unit */
			s->size = 1 + (size_t)arg * (arg % 8 == 0 ? 61 : 3);
			if (s->size > pcpu_unit_size())
				s->size = pcpu_unit_size();
			errno = 0;
			s->p = op == NOWAIT
				       ? pcpu_alloc_nowait(
						 s->size,
						 (size_t)1 << (arg % 13))
				       : pcpu_alloc(s->size,
						    (size_t)1 << (arg % 13));
			if (!s->p) {
				if (errno != (op == NOWAIT ? EAGAIN : ENOMEM))
					die("allocation failed with a wrong "
					    "errno",
					    i);
				break;
			}
			if ((uintptr_t)s->p &
			    (((uintptr_t)1 << (arg % 13)) - 1))
				die("misaligned allocation", i);
			memset(s->fill, 0, sizeof(s->fill));
			verify(i); /* zero in every unit */
			break;
		case FREE:
			if (s->p) {
				verify(i);
				pcpu_free(s->p);
				s->p = NULL;
			}
			break;
		case WRITE: /* a pattern through pcpu_ptr */
			if (s->p) {
				unsigned int u = arg % UNITS;

				s->fill[u] = (unsigned char)(arg | 1);
				memset(pcpu_ptr(s->p, u), s->fill[u], s->size);
			}
			break;
		case VERIFY:
			if (s->p)
				verify(i);
			break;
		case BALANCE:
			pcpu_balance();
			break;
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (slots[i].p) {
			verify(i);
			pcpu_free(slots[i].p);
			slots[i].p = NULL;
		}
	}
	/* the allocator carries on into the next input, as in a program */
	pcpu_verify_all();
	return 0;
}
