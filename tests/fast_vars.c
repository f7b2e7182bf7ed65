// SPDX-License-Identifier: MIT
/*
 * fast_vars.c - the inline code's variables are read where the code runs,
 * never earlier: built with -O2, a loop whose first pcpu_alloc() starts
 * the allocator and whose body then uses pcpu_ptr(), a this-CPU add and a
 * counter.  Were the unit stride declared const for programs, the
 * compiler would load it once before the loop (as 0) and the first write
 * through pcpu_ptr() would land in the guard region.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pcpu/counter.h>
#include <pcpu/read.h>

#define N 4

int main(void)
{
	struct pcpu_counter c;
	long *p[N];
	long total = 0;
	int i;

	for (i = 0; i < N; i++) {
		p[i] = pcpu_alloc_type(long);
		if (!p[i])
			return 1;
		*pcpu_ptr(p[i], 0) = i;
		pcpu_add(p[i], 10);
	}
	if (pcpu_counter_init(&c, 0))
		return 1;
	for (i = 0; i < N; i++) {
		total += pcpu_sum(p[i]);
		pcpu_counter_add(&c, pcpu_counter_batch);
		pcpu_free(p[i]);
	}
	printf("sum %ld, counter %lld (batch %d)\n", total,
	       (long long)pcpu_counter_sum(&c), (int)pcpu_counter_batch);
	if (total != N * 10 + N * (N - 1) / 2 ||
	    pcpu_counter_sum(&c) != (long long)N * pcpu_counter_batch)
		return 1;
	pcpu_counter_destroy(&c);
	return 0;
}
